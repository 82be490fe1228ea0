//! The entries of a Redis stream, read from raw replies: no I/O here.
//!
//! Replies are read by hand rather than through the `redis` crate's typed stream replies: one
//! entry a publisher got wrong (a field name that is not UTF-8, say) must be skipped with a
//! warning, not make the whole reply unreadable and stall the node on it forever.

use crate::message::{Published, MAX_DATA_LEN};
use async_tungstenite::tungstenite::Utf8Bytes;
use common::decimal::number_in;
use common::frame::{now_micros, MAX_SEQ};
use redis::Value;
use std::fmt;
use std::sync::Arc;

/// The latest `time` an entry may carry, in microseconds since the Unix epoch (in the year 2255):
/// as for sequence numbers, a browser reads every number up to it exactly.
pub const MAX_TIME: u64 = MAX_SEQ;

/// One entry of the stream, as the engine sees it.
#[derive(Debug)]
pub enum Entry {
    /// An entry `0-N` with a text `data` field: message N.
    Message {
        /// The message.
        message: Arc<Published>,
        /// Whether the entry's `time` field was ignored, not a time from 0 to [`MAX_TIME`]:
        /// the message is stamped as it is read, and the publisher is worth a warning.
        bad_time: bool,
    },
    /// An entry `0-N` that cannot be served: N is skipped, and consumers see it missing.
    Skipped {
        /// Its sequence number.
        seq: u64,
        /// Why it cannot be served.
        why: Unservable,
    },
    /// An entry whose id is not `0-N`: something other than `XADD KEY 0-* ...` wrote it, and it
    /// is never renumbered.
    ForeignId {
        /// Its id, as Redis gave it (escape it before showing it).
        id: String,
    },
}

/// Why an entry `0-N` is no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unservable {
    /// It has no `data` field, or one that is not UTF-8.
    NoText,
    /// Its `data` is over [`MAX_DATA_LEN`] bytes: its frame might not fit what a connection's
    /// writer takes, and would end every connection it is sent to.
    TooLong {
        /// The data's length in bytes.
        len: usize,
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
    number_in(id.strip_prefix("0-")?.as_bytes(), 1..=MAX_SEQ)
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
    let mut data = Err(Unservable::NoText);
    let mut time = None;
    for (name, value) in fields {
        match bytes(&name) {
            Some(b"data") => data = text_data(&value),
            Some(b"time") => time = Some(bytes(&value).and_then(|t| number_in(t, 0..=MAX_TIME))),
            _ => {}
        }
    }
    Ok(match data {
        Ok(data) => Entry::Message {
            // Without a time of its own, the entry is stamped as this node reads it.
            message: Published::new(seq, time.flatten().unwrap_or_else(now_micros), data),
            bad_time: time.is_some_and(|time| time.is_none()),
        },
        Err(why) => Entry::Skipped { seq, why },
    })
}

/// The value of a `data` field as a message's data, if it can be one.
fn text_data(value: &Value) -> Result<Utf8Bytes, Unservable> {
    let data = bytes(value).ok_or(Unservable::NoText)?;
    if data.len() > MAX_DATA_LEN {
        return Err(Unservable::TooLong { len: data.len() });
    }
    std::str::from_utf8(data)
        .map(Utf8Bytes::from)
        .map_err(|_| Unservable::NoText)
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
        let [Entry::Message {
            message,
            bad_time: false,
        }] = &range_entries(reply).unwrap()[..]
        else {
            panic!("one message expected");
        };
        assert_eq!(message.seq(), 7);
        assert_eq!(
            message.text(Format::JsonV1).as_str(),
            r#"{"seq":7,"time":42,"data":"hello"}"#
        );
    }

    /// The time of the one message `fields` make, and whether its own was ignored.
    fn time_of(fields: &[(&[u8], &[u8])]) -> (u64, bool) {
        let reply = Value::Array(vec![raw_entry("0-1", fields)]);
        let [Entry::Message { message, bad_time }] = &range_entries(reply).unwrap()[..] else {
            panic!("one message expected");
        };
        let json = message.text(Format::JsonV1);
        let common::ServerFrame::Message(envelope) = common::ServerFrame::decode(&json).unwrap()
        else {
            panic!("a message expected");
        };
        (envelope.time, *bad_time)
    }

    #[test]
    fn an_entry_without_a_time_from_0_to_2_53_is_stamped_when_read() {
        let before = now_micros();
        let (time, bad_time) = time_of(&[(b"data", b"x")]);
        assert!(time >= before && !bad_time, "no time field is no fault");
        for wrong in [
            &b"soon"[..],
            b"",
            b"-1",
            b"+5",
            b"9007199254740992",
            b"18446744073709551615",
            b"99999999999999999999999",
            b"\xff",
        ] {
            let (time, bad_time) = time_of(&[(b"data", b"x"), (b"time", wrong)]);
            assert!(time >= before && bad_time, "{wrong:?}");
        }
        for (right, expected) in [(&b"0"[..], 0), (b"9007199254740991", MAX_TIME)] {
            assert_eq!(
                time_of(&[(b"data", b"x"), (b"time", right)]),
                (expected, false)
            );
        }
    }

    #[test]
    fn data_over_the_limit_is_skipped_and_up_to_it_served_in_either_format() {
        let longest = vec![1u8; MAX_DATA_LEN];
        let over = vec![b'H'; MAX_DATA_LEN + 1];
        let reply = Value::Array(vec![
            raw_entry("0-1", &[(b"data", &longest)]),
            raw_entry("0-2", &[(b"data", &over), (b"time", b"42")]),
            // Too long is said before not UTF-8: the length alone decides.
            raw_entry("0-3", &[(b"data", &vec![0xff; 20 << 20])]),
        ]);
        let entries = range_entries(reply).unwrap();
        let Entry::Message { message, .. } = &entries[0] else {
            panic!(
                "data of the longest length is a message, not {:?}",
                entries[0]
            );
        };
        assert_eq!(message.text(Format::Plain).len(), MAX_DATA_LEN);
        assert!(message.text(Format::JsonV1).len() <= common::frame::MAX_FRAME_LEN);
        assert!(matches!(
            entries[1],
            Entry::Skipped {
                seq: 2,
                why: Unservable::TooLong { len }
            } if len == MAX_DATA_LEN + 1
        ));
        assert!(matches!(
            entries[2],
            Entry::Skipped {
                seq: 3,
                why: Unservable::TooLong { len }
            } if len == 20 << 20
        ));
    }

    #[test]
    fn entries_without_text_data_and_foreign_ids_are_told_apart() {
        let reply = Value::Array(vec![
            raw_entry("0-2", &[(b"payload", b"x")]),
            raw_entry("0-3", &[(b"data", b"\xff\xfe")]),
            raw_entry("1700000000000-0", &[(b"data", b"x")]),
        ]);
        let entries = range_entries(reply).unwrap();
        for (entry, seq) in entries[..2].iter().zip([2, 3]) {
            assert!(
                matches!(entry, Entry::Skipped { seq: s, why: Unservable::NoText } if *s == seq),
                "{entry:?}"
            );
        }
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
