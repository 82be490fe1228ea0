//! Reading the sequence number and time stamp of a frame quickly.
//!
//! The bench's consumers must be cheaper than the server they measure. A `prodcon.v1` message
//! from producer-server starts with `{"seq":N,"time":T,`; that prefix is read by hand, and any
//! other shape goes through the full decoder in `common`, so nothing is accepted unchecked.

use common::{Format, ServerFrame};

/// What a text frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A message, with its sequence number and, for `prodcon.v1`, its time stamp (microseconds
    /// since the Unix epoch).
    Message {
        /// The sequence number (for plain frames, the data, which the counter makes the same).
        seq: u64,
        /// When it was produced, if the format says.
        time: Option<u64>,
    },
    /// A notice that messages `first..=last` are gone.
    Lost {
        /// The first lost sequence number.
        first: u64,
        /// The last lost sequence number.
        last: u64,
    },
}

/// Reads a text frame received in `format`; `None` when it is not a counter's frame.
pub fn read(format: Format, text: &str) -> Option<Frame> {
    match format {
        // A line-oriented server (websocat) may keep the line's newline.
        Format::Plain => text
            .strip_suffix('\n')
            .unwrap_or(text)
            .parse()
            .ok()
            .map(|seq| Frame::Message { seq, time: None }),
        Format::JsonV1 => fast_json(text).or_else(|| slow_json(text)),
    }
}

/// The hand-written path for `{"seq":N,"time":T,...`.
fn fast_json(text: &str) -> Option<Frame> {
    let rest = text.strip_prefix(r#"{"seq":"#)?;
    let (seq, rest) = number(rest)?;
    let rest = rest.strip_prefix(r#","time":"#)?;
    let (time, rest) = number(rest)?;
    // The data must still be there and the frame closed: a truncated frame takes the slow path.
    if !rest.starts_with(',') || !rest.ends_with('}') || seq == 0 {
        return None;
    }
    Some(Frame::Message {
        seq,
        time: Some(time),
    })
}

/// A decimal number at the start of `text`, and what follows it.
fn number(text: &str) -> Option<(u64, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let value = text[..digits].parse().ok()?;
    Some((value, &text[digits..]))
}

/// The full decoder, for any frame the fast path does not know.
fn slow_json(text: &str) -> Option<Frame> {
    match ServerFrame::decode(text).ok()? {
        ServerFrame::Message(envelope) => Some(Frame::Message {
            seq: envelope.seq,
            time: Some(envelope.time),
        }),
        ServerFrame::Lost(range) => Some(Frame::Lost {
            first: range.first,
            last: range.last,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::{Envelope, LostRange};

    #[test]
    fn fast_and_slow_paths_agree() {
        let env = Envelope::now(42, "42".into());
        let text = env.encode();
        let expected = Frame::Message {
            seq: 42,
            time: Some(env.time),
        };
        assert_eq!(fast_json(&text), Some(expected));
        assert_eq!(slow_json(&text), Some(expected));
        let reordered = format!(r#"{{"time":{},"data":"42","seq":42}}"#, env.time);
        assert_eq!(read(Format::JsonV1, &reordered), Some(expected));
    }

    #[test]
    fn lost_notices_and_plain_frames() {
        assert_eq!(
            read(Format::Plain, "8\n"),
            Some(Frame::Message { seq: 8, time: None })
        );
        let lost = LostRange { first: 2, last: 5 }.encode();
        assert_eq!(
            read(Format::JsonV1, &lost),
            Some(Frame::Lost { first: 2, last: 5 })
        );
        assert_eq!(
            read(Format::Plain, "17"),
            Some(Frame::Message {
                seq: 17,
                time: None
            })
        );
    }

    #[test]
    fn broken_frames_are_refused() {
        for bad in [
            r#"{"seq":1,"time":2"#,
            r#"{"seq":,"time":2,"data":"x"}"#,
            r#"{"seq":0,"time":2,"data":"0"}"#,
            "x",
        ] {
            assert_eq!(read(Format::JsonV1, bad), None, "{bad}");
        }
        assert_eq!(read(Format::Plain, "1a"), None);
        assert_eq!(read(Format::Plain, "\n"), None);
        assert_eq!(read(Format::Plain, "1\n\n"), None);
    }
}
