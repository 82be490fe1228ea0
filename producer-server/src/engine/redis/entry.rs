//! The entries of a Redis stream, read from raw replies: no I/O here.
//!
//! Replies are read by hand rather than through the `redis` crate's typed stream replies: one
//! entry a publisher got wrong (a field name that is not UTF-8, say) must be skipped with a
//! warning, not make the whole reply unreadable and stall the node on it forever.

use crate::message::Published;
use async_tungstenite::tungstenite::Utf8Bytes;
use common::frame::{now_micros, MAX_SEQ};
use redis::Value;
use std::fmt;
use std::sync::Arc;

/// One entry of the stream, as the engine sees it.
#[derive(Debug)]
pub enum Entry {
    /// An entry `0-N` with a text `data` field: message N.
    Message(Arc<Published>),
    /// An entry `0-N` without a text `data` field: N is skipped, and consumers see it missing.
    NoText {
        /// Its sequence number.
        seq: u64,
    },
    /// An entry whose id is not `0-N`: something other than `XADD KEY 0-* ...` wrote it, and it
    /// is never renumbered.
    ForeignId {
        /// Its id, as Redis gave it (escape it before showing it).
        id: String,
    },
}

/// A reply that is not shaped like a stream reply at all: the key is not a stream, or this is not
/// a Redis we understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnexpectedReply(pub &'static str);

impl fmt::Display for UnexpectedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected reply from Redis: {}", self.0)
    }
}

impl std::error::Error for UnexpectedReply {}

/// The sequence number of the id `0-N`, if it is one (N from 1 to [`MAX_SEQ`]).
pub fn seq_of_id(id: &str) -> Option<u64> {
    let number = id.strip_prefix("0-")?;
    // `u64::from_str` takes a leading `+`, which no Redis id has.
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: u64 = number.parse().ok()?;
    (1..=MAX_SEQ).contains(&seq).then_some(seq)
}

/// The entries of an `XRANGE` reply (an array of entries).
pub fn range_entries(reply: Value) -> Result<Vec<Entry>, UnexpectedReply> {
    match reply {
        Value::Array(entries) => entries.into_iter().map(entry).collect(),
        _ => Err(UnexpectedReply("XRANGE did not answer an array")),
    }
}

/// The entries of an `XREAD` reply for one stream: nothing when it timed out.
pub fn read_entries(reply: Value) -> Result<Vec<Entry>, UnexpectedReply> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams,
        // RESP3 answers a map of stream name to entries.
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(name, entries)| Value::Array(vec![name, entries]))
            .collect(),
        _ => return Err(UnexpectedReply("XREAD did not answer an array")),
    };
    let mut all = Vec::new();
    for stream in streams {
        let Value::Array(mut name_and_entries) = stream else {
            return Err(UnexpectedReply(
                "XREAD answered a stream that is not a pair",
            ));
        };
        let entries = name_and_entries
            .pop()
            .ok_or(UnexpectedReply("XREAD answered an empty stream pair"))?;
        all.extend(range_entries(entries)?);
    }
    Ok(all)
}

/// The id recorded as `last-generated-id` in an `XINFO STREAM` reply.
pub fn last_generated_id(reply: Value) -> Result<String, UnexpectedReply> {
    let pairs: Vec<(Value, Value)> = match reply {
        Value::Map(pairs) => pairs,
        Value::Array(flat) => {
            let mut flat = flat.into_iter();
            let mut pairs = Vec::new();
            while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                pairs.push((name, value));
            }
            pairs
        }
        _ => return Err(UnexpectedReply("XINFO STREAM did not answer fields")),
    };
    pairs
        .into_iter()
        .find(|(name, _)| text(name).as_deref() == Some("last-generated-id"))
        .and_then(|(_, value)| text(&value))
        .ok_or(UnexpectedReply("XINFO STREAM gave no last-generated-id"))
}

/// One entry: `[id, [field, value, ...]]`.
fn entry(value: Value) -> Result<Entry, UnexpectedReply> {
    let Value::Array(parts) = value else {
        return Err(UnexpectedReply("an entry is not an array"));
    };
    let mut parts = parts.into_iter();
    let id = parts
        .next()
        .as_ref()
        .and_then(text)
        .ok_or(UnexpectedReply("an entry has no id"))?;
    let Some(seq) = seq_of_id(&id) else {
        return Ok(Entry::ForeignId { id });
    };
    let fields: Vec<(Value, Value)> = match parts.next() {
        Some(Value::Array(flat)) => {
            let mut flat = flat.into_iter();
            let mut pairs = Vec::new();
            while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                pairs.push((name, value));
            }
            pairs
        }
        Some(Value::Map(pairs)) => pairs,
        // An entry deleted under a consumer group's pending list reads as nil fields.
        _ => Vec::new(),
    };
    let mut data = None;
    let mut time = None;
    for (name, value) in fields {
        match bytes(&name) {
            Some(b"data") => {
                data = bytes(&value)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .map(Utf8Bytes::from)
            }
            Some(b"time") => {
                time = bytes(&value)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|t| t.parse::<u64>().ok())
            }
            _ => {}
        }
    }
    Ok(match data {
        // Without a time of its own, the entry is stamped as this node reads it.
        Some(data) => Entry::Message(Published::new(seq, time.unwrap_or_else(now_micros), data)),
        None => Entry::NoText { seq },
    })
}

/// The bytes of a string reply.
fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

/// The text of a string reply that is UTF-8.
fn text(value: &Value) -> Option<String> {
    bytes(value).and_then(|b| String::from_utf8(b.to_vec()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::Format;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    fn raw_entry(id: &str, fields: &[(&[u8], &[u8])]) -> Value {
        let flat = fields
            .iter()
            .flat_map(|(name, value)| {
                [
                    Value::BulkString(name.to_vec()),
                    Value::BulkString(value.to_vec()),
                ]
            })
            .collect();
        Value::Array(vec![bulk(id), Value::Array(flat)])
    }

    #[test]
    fn only_zero_dash_n_is_a_sequence_number() {
        assert_eq!(seq_of_id("0-1"), Some(1));
        assert_eq!(seq_of_id("0-9007199254740991"), Some(MAX_SEQ));
        for foreign in [
            "0-0",
            "1-1",
            "1700000000000-0",
            "0-+5",
            "0-",
            "0-9007199254740992",
            "x",
        ] {
            assert_eq!(seq_of_id(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn an_entry_with_data_and_time_is_a_message() {
        let reply = Value::Array(vec![raw_entry(
            "0-7",
            &[(b"data", b"hello"), (b"time", b"42")],
        )]);
        let [Entry::Message(message)] = &range_entries(reply).unwrap()[..] else {
            panic!("one message expected");
        };
        assert_eq!(message.seq(), 7);
        assert_eq!(
            message.text(Format::JsonV1).as_str(),
            r#"{"seq":7,"time":42,"data":"hello"}"#
        );
    }

    #[test]
    fn an_entry_without_time_is_stamped_when_read() {
        let before = now_micros();
        let reply = Value::Array(vec![raw_entry(
            "0-1",
            &[(b"data", b"x"), (b"time", b"soon")],
        )]);
        let [Entry::Message(message)] = &range_entries(reply).unwrap()[..] else {
            panic!("one message expected");
        };
        let json = message.text(Format::JsonV1);
        let common::ServerFrame::Message(envelope) = common::ServerFrame::decode(&json).unwrap()
        else {
            panic!("a message expected");
        };
        assert!(envelope.time >= before);
    }

    #[test]
    fn entries_without_text_data_and_foreign_ids_are_told_apart() {
        let reply = Value::Array(vec![
            raw_entry("0-2", &[(b"payload", b"x")]),
            raw_entry("0-3", &[(b"data", b"\xff\xfe")]),
            raw_entry("1700000000000-0", &[(b"data", b"x")]),
        ]);
        let entries = range_entries(reply).unwrap();
        assert!(matches!(entries[0], Entry::NoText { seq: 2 }));
        assert!(matches!(entries[1], Entry::NoText { seq: 3 }));
        assert!(matches!(&entries[2], Entry::ForeignId { id } if id == "1700000000000-0"));
    }

    #[test]
    fn xread_timing_out_is_no_entry() {
        assert!(read_entries(Value::Nil).unwrap().is_empty());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("prodcon"),
            Value::Array(vec![raw_entry("0-1", &[(b"data", b"a")])]),
        ])]);
        assert_eq!(read_entries(reply).unwrap().len(), 1);
        assert!(read_entries(Value::Int(3)).is_err());
    }

    #[test]
    fn last_generated_id_is_found_among_the_fields() {
        let reply = Value::Array(vec![
            bulk("length"),
            Value::Int(2),
            bulk("last-generated-id"),
            bulk("0-12"),
        ]);
        assert_eq!(last_generated_id(reply).unwrap(), "0-12");
    }
}
