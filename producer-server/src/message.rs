//! One message of a stream, kept once however many connections send it.

use crate::shared_texts::SharedTexts;
use async_tungstenite::tungstenite::{Bytes, Utf8Bytes};
#[cfg(test)]
use common::frame::now_micros;
use common::{encode_message, encode_message_into, Format};
use std::sync::{Arc, OnceLock};

/// The most bytes a message's data holds, whatever its source: standard input cuts longer lines
/// into several messages, and the Redis engine skips longer entries. Its `prodcon.v1` frame,
/// every byte a control character escaped to six, still fits what a consumer accepts and what a
/// connection's writer takes (both `common::frame::MAX_FRAME_LEN`): a frame over that ends the
/// connection of everyone it is sent to.
pub const MAX_DATA_LEN: usize = 1024 * 1024;

/// The envelope's own bytes around the data, `{"seq":,"time":,"data":""}`, with two numbers of
/// as many digits as any `u64` has.
const ENVELOPE_LEN: usize = 26 + 2 * 20;

const _: () = assert!(6 * MAX_DATA_LEN + ENVELOPE_LEN <= common::frame::MAX_FRAME_LEN);

/// The scratch buffer's size kept between frames, at most.
const KEPT_SCRATCH: usize = 64 * 1024;

thread_local! {
    /// Where a frame taken out of its message is written before it is copied to its own buffer.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One message of a stream, kept once for every subscriber that receives it.
///
/// Its text in each format is made at most once however many connections send it: live
/// subscribers get their format's frame from the hub, and the frames share one
/// reference-counted buffer.
#[derive(Debug)]
pub struct Published {
    /// Position in the stream.
    seq: u64,
    /// When it was produced, in microseconds since the Unix epoch.
    time: u64,
    /// The data, which is also the whole plain-format frame.
    data: Utf8Bytes,
    /// The `prodcon.v1` frame, made on first use: a stream nobody reads as JSON never pays for it.
    json: OnceLock<Utf8Bytes>,
}

impl Published {
    /// Stamps `data` as message `seq`, produced now.
    #[cfg(test)]
    pub fn now(seq: u64, data: Utf8Bytes) -> Arc<Self> {
        Self::new(seq, now_micros(), data)
    }

    /// Message `seq`, produced at `time` (microseconds since the Unix epoch).
    pub fn new(seq: u64, time: u64, data: Utf8Bytes) -> Arc<Self> {
        Arc::new(Published {
            seq,
            time,
            data,
            json: OnceLock::new(),
        })
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When it was produced, in microseconds since the Unix epoch.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// The data.
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The text frame for a connection that speaks `format`.
    pub fn text(&self, format: Format) -> Utf8Bytes {
        match format {
            Format::Plain => self.data.clone(),
            Format::JsonV1 => self.json().clone(),
        }
    }

    /// The text frame for a connection that speaks `format`, taken out of the message when
    /// nobody else holds it (a connection's own counter): a frame shared with nobody is not
    /// cloned (see [`crate::shared_texts`] for what a clone costs).
    pub fn into_text(self: Arc<Self>, format: Format) -> Utf8Bytes {
        let message = match Arc::try_unwrap(self) {
            Ok(message) => message,
            Err(shared) => return shared.text(format),
        };
        match (format, message.json.into_inner()) {
            (Format::Plain, _) => message.data,
            (Format::JsonV1, Some(json)) => json,
            (Format::JsonV1, None) => SCRATCH.with_borrow_mut(|scratch| {
                scratch.clear();
                encode_message_into(scratch, message.seq, message.time, &message.data);
                // Copied into a buffer exactly as long as the frame: one with room to spare
                // would count its owners from the start, an allocation more.
                let frame = Bytes::copy_from_slice(scratch);
                // A frame of a long line must not keep its memory for the thread's life.
                if scratch.capacity() > KEPT_SCRATCH {
                    *scratch = Vec::new();
                }
                Utf8Bytes::try_from(frame).expect("JSON is UTF-8")
            }),
        }
    }

    /// Makes the `prodcon.v1` frames of `burst` not made yet, now, into one buffer they share
    /// (see [`crate::shared_texts`]). The hub does this, so that the frames are made on the
    /// thread that usually frees them (see `Hub::publish`).
    pub fn prepare_json(burst: &[Arc<Published>]) {
        let missing: Vec<&Arc<Published>> = burst
            .iter()
            .filter(|message| message.json.get().is_none())
            .collect();
        // The envelope's own characters and two numbers of up to 16 digits, then the data.
        let bytes = missing.iter().map(|message| 64 + message.data.len()).sum();
        let mut frames = SharedTexts::with_capacity(missing.len(), bytes);
        for message in &missing {
            frames.push(|buffer| {
                encode_message_into(buffer, message.seq, message.time, &message.data);
            });
        }
        for (message, frame) in missing.into_iter().zip(frames.into_texts()) {
            // A replay may have made it meanwhile: then that one stays.
            let _ = message.json.set(frame);
        }
    }

    /// The `prodcon.v1` frame, made on first use.
    fn json(&self) -> &Utf8Bytes {
        self.json
            .get_or_init(|| encode_message(self.seq, self.time, &self.data).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_made_together_are_each_the_frame_made_alone() {
        let burst: Vec<Arc<Published>> = [(7, "a"), (8, "qu\"ote\n"), (9, "")]
            .into_iter()
            .map(|(seq, data)| Published::new(seq, 1_700_000_000_000_000 + seq, data.into()))
            .collect();
        // One made already (by a replay, say) is kept as it is.
        let made = burst[1].text(Format::JsonV1);
        Published::prepare_json(&burst);
        for message in &burst {
            assert_eq!(
                message.text(Format::JsonV1).as_str(),
                encode_message(message.seq(), message.time(), message.data())
            );
            assert_eq!(message.text(Format::Plain).as_str(), message.data());
        }
        assert!(std::ptr::eq(
            made.as_str(),
            burst[1].text(Format::JsonV1).as_str()
        ));
    }

    #[test]
    fn the_longest_data_escaped_at_its_worst_fits_one_frame() {
        let data = "\u{1}".repeat(MAX_DATA_LEN);
        let message = Published::new(common::frame::MAX_SEQ, u64::MAX, data.into());
        let json = message.text(Format::JsonV1);
        assert!(json.len() > 6 * MAX_DATA_LEN, "each byte is escaped to six");
        assert!(
            json.len() <= common::frame::MAX_FRAME_LEN,
            "{} bytes",
            json.len()
        );
        assert!(common::ServerFrame::decode(&json).is_ok());
    }

    #[test]
    fn a_frame_taken_out_is_the_frame_shared_or_not() {
        for format in [Format::Plain, Format::JsonV1] {
            let alone = Published::new(3, 1_700_000_000_000_003, "x\"y".into());
            let shared = Published::new(3, 1_700_000_000_000_003, "x\"y".into());
            let expected = shared.text(format);
            let other_owner = Arc::clone(&shared);
            assert_eq!(alone.into_text(format), expected);
            assert_eq!(shared.into_text(format), expected);
            assert_eq!(other_owner.text(format), expected);
        }
    }
}
