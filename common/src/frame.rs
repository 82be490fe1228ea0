//! The content of a `prodcon.v1` text frame.
//!
//! A message is `{"seq":42,"time":1700000000000000,"data":"42"}`. When a consumer asks for messages
//! that the server no longer holds, the server tells it with `{"lost":{"first":1,"last":41}}` before
//! sending what remains, so that nothing is ever lost without the consumer being told.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

/// The largest text frame [`ServerFrame::decode`] accepts, in bytes. It bounds the memory a
/// malicious or broken server can make a client spend on one frame.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// The largest sequence number: JavaScript numbers hold every integer up to it exactly, so a
/// browser never confuses two messages, and `seq + 1` never overflows.
pub const MAX_SEQ: u64 = (1 << 53) - 1;

/// One message of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Position in the stream: starts at 1 and grows by one, with no gaps and no repeats.
    pub seq: u64,
    /// When the producer made the message, in microseconds since the Unix epoch; consumers
    /// subtract it from their own clock to measure delivery latency.
    pub time: u64,
    /// The payload: the counter's sequence number, or one line of the server's input.
    pub data: String,
}

impl Envelope {
    /// Stamps `data` with `seq` and the current time.
    pub fn now(seq: u64, data: String) -> Self {
        Envelope {
            seq,
            time: now_micros(),
            data,
        }
    }

    /// The `prodcon.v1` text of this message.
    pub fn encode(&self) -> String {
        encode_message(self.seq, self.time, &self.data)
    }
}

/// The `prodcon.v1` text of message `seq`, made at `time`, holding `data`: what
/// [`Envelope::encode`] gives, for a producer that keeps its data elsewhere than in an `Envelope`.
pub fn encode_message(seq: u64, time: u64, data: &str) -> String {
    // Serializing integers and a string into a String cannot fail.
    serde_json::to_string(&MessageRef { seq, time, data }).expect("an envelope always serializes")
}

/// Appends to `buffer` what [`encode_message`] gives: several frames can then share one buffer.
pub fn encode_message_into(buffer: &mut Vec<u8>, seq: u64, time: u64, data: &str) {
    serde_json::to_writer(buffer, &MessageRef { seq, time, data })
        .expect("an envelope always serializes")
}

/// A message's envelope, for a producer that keeps its data elsewhere than in an `Envelope`.
#[derive(Serialize)]
struct MessageRef<'a> {
    /// The sequence number.
    seq: u64,
    /// When it was produced, in microseconds since the Unix epoch.
    time: u64,
    /// The data.
    data: &'a str,
}

/// A range of sequence numbers, both ends included, that the server can no longer deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostRange {
    /// The first sequence number that is gone.
    pub first: u64,
    /// The last sequence number that is gone.
    pub last: u64,
}

impl LostRange {
    /// The `prodcon.v1` text of this notice.
    pub fn encode(&self) -> String {
        serde_json::to_string(&LostNotice { lost: *self }).expect("a lost range always serializes")
    }

    /// How many messages the range covers: at least one, its first.
    pub fn count(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// Written for people: `202352-644081`, or `5` for a range of one.
impl std::fmt::Display for LostRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

#[derive(Serialize)]
struct LostNotice {
    lost: LostRange,
}

/// Anything a `prodcon.v1` server sends in a text frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    /// A message of the stream.
    Message(Envelope),
    /// Messages the server cannot deliver any more; the stream goes on after them.
    Lost(LostRange),
}

/// A server frame read in place, as [`ServerFrame::decode_ref`] gives it: a message's data is
/// borrowed from the frame's text unless it holds escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameRef<'a> {
    /// A message of the stream.
    Message {
        /// Its sequence number, as in [`Envelope::seq`].
        seq: u64,
        /// When it was made, as in [`Envelope::time`].
        time: u64,
        /// Its payload, as in [`Envelope::data`].
        data: Cow<'a, str>,
    },
    /// Messages the server cannot deliver any more; the stream goes on after them.
    Lost(LostRange),
}

/// Why a text frame is not a valid [`ServerFrame`]. Each variant means the peer is broken or is
/// not a prodcon server: report it and drop the connection, there is nothing to retry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame is longer than [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// Length of the frame received.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// The frame is not JSON of the expected shape (also when it is truncated).
    #[error("frame is not a prodcon.v1 message: {0}")]
    Malformed(String),
    /// The JSON is well formed but breaks a rule of the protocol.
    #[error("frame breaks the prodcon.v1 protocol: {0}")]
    Invalid(&'static str),
}

/// A message frame, its data borrowed from the text when it holds no escapes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageFrame<'a> {
    seq: u64,
    time: u64,
    #[serde(borrow)]
    data: Cow<'a, str>,
}

/// Every field a server frame may carry; which ones are present tells the kind of frame.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrame {
    seq: Option<u64>,
    time: Option<u64>,
    data: Option<String>,
    lost: Option<LostRange>,
}

impl ServerFrame {
    /// Reads one `prodcon.v1` text frame.
    pub fn decode(text: &str) -> Result<ServerFrame, DecodeError> {
        Ok(match ServerFrame::decode_ref(text)? {
            FrameRef::Message { seq, time, data } => ServerFrame::Message(Envelope {
                seq,
                time,
                data: data.into_owned(),
            }),
            FrameRef::Lost(range) => ServerFrame::Lost(range),
        })
    }

    /// Reads one `prodcon.v1` text frame without copying a message's data when it can: what a
    /// consumer that only prints the data wants.
    pub fn decode_ref(text: &str) -> Result<FrameRef<'_>, DecodeError> {
        if text.len() > MAX_FRAME_LEN {
            return Err(DecodeError::TooLarge {
                len: text.len(),
                max: MAX_FRAME_LEN,
            });
        }
        // Messages come by the million: the one shape the server writes is read first without
        // a parser, then the shape of every message with serde, with no optional fields.
        let message = crate::canonical::read(text)
            .map(|(seq, time, data)| (seq, time, Cow::Borrowed(data)))
            .or_else(|| {
                serde_json::from_str(text)
                    .ok()
                    .map(|MessageFrame { seq, time, data }| (seq, time, data))
            });
        if let Some((seq, time, data)) = message {
            check_seq(seq)?;
            return Ok(FrameRef::Message { seq, time, data });
        }
        let raw: RawFrame =
            serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        match raw {
            RawFrame {
                seq: Some(seq),
                time: Some(time),
                data: Some(data),
                lost: None,
            } => {
                check_seq(seq)?;
                Ok(FrameRef::Message {
                    seq,
                    time,
                    data: Cow::Owned(data),
                })
            }
            RawFrame {
                seq: None,
                time: None,
                data: None,
                lost: Some(lost),
            } => {
                if lost.first == 0 || lost.first > lost.last || lost.last > MAX_SEQ {
                    return Err(DecodeError::Invalid(
                        "a lost range needs 1 <= first <= last <= 2^53 - 1",
                    ));
                }
                Ok(FrameRef::Lost(lost))
            }
            _ => Err(DecodeError::Invalid(
                "a frame holds either seq, time and data, or lost alone",
            )),
        }
    }
}

/// Refuses a sequence number outside 1 to [`MAX_SEQ`].
fn check_seq(seq: u64) -> Result<(), DecodeError> {
    if seq == 0 || seq > MAX_SEQ {
        return Err(DecodeError::Invalid("seq must be from 1 to 2^53 - 1"));
    }
    Ok(())
}

/// Microseconds since the Unix epoch, by the system clock.
pub fn now_micros() -> u64 {
    // A clock set before 1970 is a broken machine; 0 keeps the stream going rather than panicking.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn message_encodes_as_in_the_contract() {
        let env = Envelope {
            seq: 42,
            time: 1_700_000_000_000_000,
            data: "42".into(),
        };
        assert_eq!(
            env.encode(),
            r#"{"seq":42,"time":1700000000000000,"data":"42"}"#
        );
        assert_eq!(
            ServerFrame::decode(&env.encode()),
            Ok(ServerFrame::Message(env))
        );
    }

    #[test]
    fn lost_notice_round_trips() {
        let lost = LostRange { first: 3, last: 9 };
        assert_eq!(lost.encode(), r#"{"lost":{"first":3,"last":9}}"#);
        assert_eq!(
            ServerFrame::decode(&lost.encode()),
            Ok(ServerFrame::Lost(lost))
        );
        assert_eq!(lost.count(), 7);
        assert_eq!(lost.to_string(), "3-9");
        assert_eq!(LostRange { first: 5, last: 5 }.to_string(), "5");
    }

    #[test]
    fn data_with_quotes_and_unicode_survives() {
        let env = Envelope::now(1, "say \"héllo\"\t\\ 🚀".into());
        assert_eq!(
            ServerFrame::decode(&env.encode()),
            Ok(ServerFrame::Message(env))
        );
    }

    #[test]
    fn malformed_and_truncated_frames_are_typed_errors() {
        for bad in [
            "",
            "42",
            "{",
            r#"{"seq":1,"time":2,"data":"x""#,
            r#"{"seq":"1","time":2,"data":"x"}"#,
            r#"{"seq":-1,"time":2,"data":"x"}"#,
            "[1,2,3]",
        ] {
            assert!(
                matches!(ServerFrame::decode(bad), Err(DecodeError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn frames_breaking_protocol_rules_are_invalid() {
        for bad in [
            r#"{"seq":0,"time":2,"data":"x"}"#,
            r#"{"seq":9007199254740992,"time":2,"data":"x"}"#,
            r#"{"lost":{"first":1,"last":18446744073709551615}}"#,
            r#"{"seq":1,"data":"x"}"#,
            r#"{"seq":1,"time":2,"data":"x","lost":{"first":1,"last":1}}"#,
            r#"{"lost":{"first":5,"last":4}}"#,
            r#"{"lost":{"first":0,"last":4}}"#,
            "{}",
        ] {
            assert!(
                matches!(ServerFrame::decode(bad), Err(DecodeError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(matches!(
            ServerFrame::decode(r#"{"seq":1,"time":2,"data":"x","extra":true}"#),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn oversized_frame_is_refused_before_parsing() {
        let big = "x".repeat(MAX_FRAME_LEN + 1);
        assert_eq!(
            ServerFrame::decode(&big),
            Err(DecodeError::TooLarge {
                len: MAX_FRAME_LEN + 1,
                max: MAX_FRAME_LEN
            })
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_text_never_panics(text in ".*") {
            let _ = ServerFrame::decode(&text);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = ServerFrame::decode(&text);
        }

        #[test]
        fn every_envelope_round_trips(seq in 1u64..=MAX_SEQ, time in any::<u64>(), data in ".*") {
            let env = Envelope { seq, time, data };
            prop_assert_eq!(ServerFrame::decode(&env.encode()), Ok(ServerFrame::Message(env)));
        }

        #[test]
        fn every_lost_range_round_trips(first in 1u64..MAX_SEQ / 2, len in 0u64..MAX_SEQ / 2) {
            let lost = LostRange { first, last: first + len };
            prop_assert_eq!(ServerFrame::decode(&lost.encode()), Ok(ServerFrame::Lost(lost)));
        }
    }
}
