//! One message of a stream, as every connection that sends it shares it.

use async_tungstenite::tungstenite::Utf8Bytes;
use common::frame::now_micros;
use common::{encode_message, Format};
use std::sync::{Arc, OnceLock};

/// One message of a stream, shared by every subscriber that receives it.
///
/// Its text in each format is made at most once however many connections send it: the frames
/// share one reference-counted buffer.
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

    /// Makes the `prodcon.v1` frame now, if it is not made yet: the hub does, so that the frame is
    /// made on the thread that usually frees it (see `Hub::publish`).
    pub fn prepare_json(&self) {
        self.json();
    }

    /// The `prodcon.v1` frame, made on first use.
    fn json(&self) -> &Utf8Bytes {
        self.json
            .get_or_init(|| encode_message(self.seq, self.time, &self.data).into())
    }
}
