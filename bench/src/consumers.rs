//! The bench's own consumers: one reading a single stream as fast as it can, and the many
//! subscribers of a fan-out, each keeping a tally of what it received.

use crate::scan::{self, Frame};
use crate::ws_client::Ws;
use async_tungstenite::tungstenite::Message;
use common::frame::now_micros;
use common::Format;
use futures::future::FusedFuture;
use futures::{select_biased, FutureExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};

/// Reads `n` messages from `ws`, checking that they are exactly 1, 2, 3, ... `n`.
pub async fn read_in_order(ws: &mut Ws, format: Format, n: u64) -> Result<(), String> {
    let mut expected = 1;
    while expected <= n {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => match scan::read(format, &text) {
                Some(Frame::Message { seq, .. }) if seq == expected => expected += 1,
                _ => return Err(format!("expected message {expected}, got {text:?}")),
            },
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed after {} messages: {frame:?}", expected - 1))
            }
            Some(Ok(Message::Binary(_))) => return Err("got a binary frame".into()),
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                return Err(format!("failed after {} messages: {error}", expected - 1))
            }
            None => return Err(format!("dropped after {} messages", expected - 1)),
        }
    }
    Ok(())
}

/// Which clock places a message in the measurement window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The envelope's `time`: when the server produced it (the latency workload, so that every
    /// consumer counts the same messages).
    Produced,
    /// When the consumer received it (the rate workload).
    Received,
}

/// The measurement window, shared by every subscriber of a crowd: set once all are connected.
#[derive(Debug, Default)]
pub struct Window {
    /// Start, in microseconds since the Unix epoch; 0 until set.
    start: AtomicU64,
    /// End (excluded), in microseconds since the Unix epoch.
    end: AtomicU64,
}

impl Window {
    /// Opens the window from `start` to `end`, microseconds since the Unix epoch.
    pub fn set(&self, start: u64, end: u64) {
        self.end.store(end, Ordering::SeqCst);
        self.start.store(start, Ordering::SeqCst);
    }
}

/// What one subscriber received.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Messages placed in the window.
    pub in_window: u64,
    /// The first sequence number in the window.
    pub first_in_window: Option<u64>,
    /// The last sequence number in the window.
    pub last_in_window: Option<u64>,
    /// Messages received from the window's start to the end of this subscriber, by its clock of
    /// receipt: what the server delivered while its CPU time was measured.
    pub received_since_start: u64,
    /// Sequence numbers skipped (gaps, or announced lost), at any time.
    pub missing: u64,
    /// Messages that came out of order or twice.
    pub disorder: u64,
    /// Receipt time minus envelope time of each message in the window, in microseconds.
    pub latencies: Vec<u64>,
    /// The close code, if the server closed the connection.
    pub closed: Option<u16>,
    /// Why the connection failed, if it did.
    pub error: Option<String>,
    /// Whether a message past the window arrived: this subscriber has seen all it will count.
    pub finished: bool,
    /// The last sequence number received.
    last_seq: Option<u64>,
}

impl Tally {
    /// Accounts for message `seq`, checking that it follows the previous one.
    fn follow(&mut self, seq: u64) {
        match self.last_seq {
            Some(last) if seq == last + 1 => {}
            Some(last) if seq > last => self.missing += seq - last - 1,
            Some(_) => self.disorder += 1,
            None => {}
        }
        self.last_seq = Some(self.last_seq.map_or(seq, |last| last.max(seq)));
    }
}

/// Reads `ws` into `tally` until a message past the window arrives, the connection ends, or
/// `stop` fires (the crowd's deadline).
pub async fn subscribe(
    mut ws: Ws,
    window: &Window,
    clock: Clock,
    tally: &mut Tally,
    mut stop: impl FusedFuture<Output = ()> + Unpin,
) {
    loop {
        let next = select_biased! {
            next = ws.next().fuse() => next,
            () = stop => return,
        };
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                tally.closed = Some(frame.map_or(1005, |f| u16::from(f.code)));
                return;
            }
            Some(Ok(Message::Binary(_))) => {
                tally.error = Some("got a binary frame".into());
                return;
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => {
                tally.error = Some(error.to_string());
                return;
            }
            None => {
                tally.error = Some("dropped without a close frame".into());
                return;
            }
        };
        let received = now_micros();
        let start = window.start.load(Ordering::SeqCst);
        if start != 0 && received >= start {
            tally.received_since_start += 1;
        }
        let (seq, time) = match scan::read(Format::JsonV1, &text) {
            Some(Frame::Message { seq, time }) => (seq, time.unwrap_or(received)),
            Some(Frame::Lost { first, last }) => {
                tally.missing += last - first + 1;
                tally.last_seq = Some(tally.last_seq.map_or(last, |seq| seq.max(last)));
                continue;
            }
            None => {
                tally.error = Some(format!("not a prodcon.v1 message: {text:?}"));
                return;
            }
        };
        tally.follow(seq);
        let placed = match clock {
            Clock::Produced => time,
            Clock::Received => received,
        };
        if start == 0 || placed < start {
            continue;
        }
        if placed >= window.end.load(Ordering::SeqCst) {
            tally.finished = true;
            return;
        }
        tally.in_window += 1;
        tally.first_in_window.get_or_insert(seq);
        tally.last_in_window = Some(seq);
        if clock == Clock::Produced {
            tally.latencies.push(received.saturating_sub(time));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_and_repeats_are_counted() {
        let mut tally = Tally::default();
        for seq in [5, 6, 9, 9, 10, 4] {
            tally.follow(seq);
        }
        assert_eq!((tally.missing, tally.disorder), (2, 2));
        assert_eq!(tally.last_seq, Some(10));
    }
}
