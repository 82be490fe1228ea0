//! What travels through a connection's bounded queue, from a source to the session's writer.

use async_tungstenite::tungstenite::Utf8Bytes;
use common::{Envelope, Format, LostRange};
use std::sync::{Arc, OnceLock};

/// One message of a stream, shared by every subscriber that receives it.
///
/// Its text in each format is made at most once however many connections send it: the frames
/// share one reference-counted buffer.
#[derive(Debug)]
pub struct Published {
    /// Sequence number, time stamp and data.
    pub envelope: Envelope,
    /// The plain-format frame: the data alone.
    plain: Utf8Bytes,
    /// The `prodcon.v1` frame, made on first use: a stream nobody reads as JSON never pays for it.
    json: OnceLock<Utf8Bytes>,
}

impl Published {
    /// Stamps `data` as message `seq`, produced now.
    pub fn now(seq: u64, data: String) -> Arc<Self> {
        let plain = Utf8Bytes::from(data.as_str());
        Arc::new(Published {
            envelope: Envelope::now(seq, data),
            plain,
            json: OnceLock::new(),
        })
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.envelope.seq
    }

    /// The text frame for a connection that speaks `format`.
    pub fn text(&self, format: Format) -> Utf8Bytes {
        match format {
            Format::Plain => self.plain.clone(),
            Format::JsonV1 => self
                .json
                .get_or_init(|| Utf8Bytes::from(self.envelope.encode()))
                .clone(),
        }
    }
}

/// One item of a connection's queue.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// The next message of the stream.
    Message(Arc<Published>),
    /// Messages the consumer asked for that are gone.
    Lost(LostRange),
    /// The stream is over: close the connection with this code and reason.
    End {
        /// A close code from [`common::close`].
        code: u16,
        /// Why, for the peer and the logs.
        reason: &'static str,
    },
}
