//! A connection's bounded queue, what it carries, and the verdict that ends it.
//!
//! The producer (the hub, or a connection's own counter) pushes into the queue; the session's
//! writer drains it. When the producer lets go it says why, once: the verdict, carried beside the
//! queue because a full queue has no room for it. The session sends what the queue still holds,
//! then closes the connection with the verdict's code.
//!
//! A broadcast subscriber's live frames come through its mailbox instead
//! ([`crate::mailbox`]), which its session lends its sending half to while it waits. A
//! connection's own counter queues into a [`queue`] taken one item at a time: its producer
//! rarely contends.

use crate::engine::Backlog;
use crate::mailbox::{FrameSink, MailboxReceiver, Woken};
use crate::message::Published;
use async_tungstenite::tungstenite::Utf8Bytes;
use common::{close, LostRange};
use futures::channel::oneshot;
use futures::future;
use futures::future::{FutureExt, Shared};
use futures::stream::StreamExt;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// One item of a connection's queue.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// The next message of the stream (replayed from history, or a connection's own counter's).
    Message(Arc<Published>),
    /// The next live message of a broadcast, as the text of its frame in the connection's
    /// format: what a mailbox carries. A session then touches nothing of the message but the
    /// buffer its text shares; when each session took and let go of the message itself, its
    /// count of owners, shared with the hub's thread and the ring, went from thread to thread
    /// with every message (1d 10-25% slower in interleaved quick runs).
    Frame(Utf8Bytes),
    /// Messages the consumer asked for that are gone.
    Lost(LostRange),
}

/// Why a queue ended: the close code and reason its connection is closed with, once it has
/// sent everything the queue still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    /// A close code from [`common::close`].
    pub code: u16,
    /// Why, for the peer and the logs.
    pub reason: &'static str,
}

/// How a connection closes when its producer went away without a word: the server is stopping.
pub const GOING_AWAY: End = End {
    code: close::GOING_AWAY,
    reason: "stream stopped",
};

/// The producing end of a queue of `T`.
pub struct QueueSender<T> {
    /// The queue.
    items: flume::Sender<T>,
    /// Where the verdict goes.
    verdict: oneshot::Sender<End>,
}

/// The consuming end of a queue of `T`.
pub struct QueueReceiver<T> {
    /// The queue.
    items: flume::Receiver<T>,
    /// The verdict, once given; shared so that a session can watch for it while it writes.
    verdict: Verdict,
}

/// A subscriber's presence, as the hub counts it: the hub holds the other end, which resolves
/// (cancelled) once this is dropped.
pub type Attendance = oneshot::Sender<std::convert::Infallible>;

/// The producer's word on how the connection ends; resolves with `Err` if it let go silently.
pub type Verdict = Shared<oneshot::Receiver<End>>;

/// A queue holding at most `capacity` items besides the one its receiver is sending.
pub fn queue<T>(capacity: NonZeroUsize) -> (QueueSender<T>, QueueReceiver<T>) {
    // flume keeps a queue's items in a buffer that grows as they come: a connection that never
    // had a burst costs nothing for the places it is allowed.
    let (items_in, items_out) = flume::bounded(capacity.get());
    let (verdict_in, verdict_out) = oneshot::channel();
    (
        QueueSender {
            items: items_in,
            verdict: verdict_in,
        },
        QueueReceiver {
            items: items_out,
            verdict: verdict_out.shared(),
        },
    )
}

/// Why an item could not be queued now.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused<T> {
    /// The queue is full: the connection is not keeping up. The item comes back.
    Full(T),
    /// The connection is gone.
    Gone,
}

impl<T> QueueSender<T> {
    /// Queues `item`, waiting while the queue is full. `Err` when the connection is gone.
    pub async fn send(&self, item: T) -> Result<(), Refused<T>> {
        self.items.send_async(item).await.map_err(|_| Refused::Gone)
    }

    /// Queues `item` if there is room now.
    pub fn try_send(&self, item: T) -> Result<(), Refused<T>> {
        self.items.try_send(item).map_err(|error| match error {
            flume::TrySendError::Full(item) => Refused::Full(item),
            flume::TrySendError::Disconnected(_) => Refused::Gone,
        })
    }

    /// How many more items the queue takes now.
    pub fn room(&self) -> usize {
        // A bounded queue always has a capacity.
        self.items
            .capacity()
            .unwrap_or(usize::MAX)
            .saturating_sub(self.items.len())
    }

    /// Lets go of the queue, saying how the connection closes once it has sent what it holds.
    pub fn end(self, end: End) {
        // The connection may be gone already: then nobody needs to know.
        let _ = self.verdict.send(end);
    }
}

impl<T> QueueReceiver<T> {
    /// The next item, waiting for one; `None` once the queue is empty and its producer let go.
    async fn recv(&mut self) -> Option<T> {
        self.items.recv_async().await.ok()
    }

    /// The next item if one is ready now.
    fn try_recv(&mut self) -> Option<T> {
        self.items.try_recv().ok()
    }
}

/// Where a connection's live items come from.
enum Live {
    /// A broadcast hub's mailbox.
    Stream {
        /// Each live message's frame, in the connection's format.
        mailbox: MailboxReceiver,
        /// Held for as long as the connection may still send from the stream: dropped with the
        /// outbox, it tells the hub that this subscriber left.
        _attendance: Attendance,
    },
    /// A connection's own counter (per-connection mode): its queue holds only each number's time
    /// stamp, 8 bytes, since the numbers follow each other from `next`; a stalled reader then
    /// costs little whatever `--queue` it is allowed.
    Counter {
        /// The time stamps.
        ticks: QueueReceiver<u64>,
        /// The number the next time stamp is for.
        next: u64,
    },
}

/// What a wait for the next item came to.
pub enum Lending {
    /// The next item, or `None` once everything is sent and the producer let go.
    Item(Option<Outgoing>),
    /// The hub handed the sending half back with nothing queued: what it wrote is to be flushed.
    HandedBack,
}

/// What a connection sends: first its backlog (the history it asked for), then its live queue.
pub struct Outbox {
    /// Items to send before the queue's; `None` once it is spent.
    backlog: Option<Backlog>,
    /// The live items.
    live: Live,
}

impl Outbox {
    /// `backlog`, then whatever the hub's `mailbox` brings; `attendance` is let go with it.
    pub fn stream(backlog: Backlog, mailbox: MailboxReceiver, attendance: Attendance) -> Self {
        Outbox {
            backlog: Some(backlog),
            live: Live::Stream {
                mailbox,
                _attendance: attendance,
            },
        }
    }

    /// The numbers from `first`, as the counter's `ticks` come.
    pub fn counter(first: u64, ticks: QueueReceiver<u64>) -> Self {
        Outbox {
            backlog: None,
            live: Live::Counter { ticks, next: first },
        }
    }

    /// The next item, waiting for one; `None` once everything is sent and the producer let go.
    pub async fn next(&mut self) -> Option<Outgoing> {
        if let Some(backlog) = &mut self.backlog {
            match backlog.next().await {
                Some(item) => return Some(item),
                None => self.backlog = None,
            }
        }
        match &mut self.live {
            Live::Stream { mailbox, .. } => mailbox.recv().await.map(Outgoing::Frame),
            Live::Counter { ticks, next } => {
                let time = ticks.recv().await?;
                Some(counted(next, time))
            }
        }
    }

    /// The next item, waiting for one as [`Outbox::next`] does; a broadcast's session lends its
    /// sending half (`sink`) to the hub meanwhile when it has nothing to send (see
    /// [`crate::mailbox`]). Resolves with the half back in `sink`.
    pub async fn next_lending(&mut self, sink: &mut Option<FrameSink>) -> Lending {
        match &mut self.live {
            Live::Stream { mailbox, .. } if self.backlog.is_none() => {
                let woken = future::poll_fn(|cx| mailbox.poll_lending(cx, sink)).await;
                match woken {
                    Woken::Frame(frame) => Lending::Item(frame.map(Outgoing::Frame)),
                    Woken::HandedBack => Lending::HandedBack,
                }
            }
            _ => Lending::Item(self.next().await),
        }
    }

    /// Takes the sending half back into `sink` if it is lent to the hub.
    pub fn reclaim(&mut self, sink: &mut Option<FrameSink>) {
        if let Live::Stream { mailbox, .. } = &mut self.live {
            mailbox.reclaim(sink);
        }
    }

    /// Messages the hub wrote itself into the sending half it was lent.
    pub fn sent_by_hub(&self) -> u64 {
        match &self.live {
            Live::Stream { mailbox, .. } => mailbox.written_by_hub(),
            Live::Counter { .. } => 0,
        }
    }

    /// The next item if one is ready now.
    pub fn try_next(&mut self) -> Option<Outgoing> {
        if let Some(backlog) = &mut self.backlog {
            match backlog.next().now_or_never() {
                Some(Some(item)) => return Some(item),
                Some(None) => self.backlog = None,
                // A backlog paged from elsewhere is on its way: not ready now.
                None => return None,
            }
        }
        match &mut self.live {
            Live::Stream { mailbox, .. } => mailbox.try_recv().map(Outgoing::Frame),
            Live::Counter { ticks, next } => {
                let time = ticks.try_recv()?;
                Some(counted(next, time))
            }
        }
    }

    /// The producer's verdict, to watch while writing (a connection found too slow has little
    /// time left to send what it holds).
    pub fn verdict(&self) -> Verdict {
        match &self.live {
            Live::Stream { mailbox, .. } => mailbox.verdict.clone(),
            Live::Counter { ticks, .. } => ticks.verdict.clone(),
        }
    }

    /// How to close once everything is sent. A producer that let go without saying why has
    /// stopped streaming, which is the server going away.
    pub fn end(&self) -> End {
        self.verdict()
            .now_or_never()
            .and_then(Result::ok)
            .unwrap_or(GOING_AWAY)
    }
}

/// Message `next` of a connection's own counter, stamped `time`; moves `next` on.
fn counted(next: &mut u64, time: u64) -> Outgoing {
    let seq = *next;
    *next += 1;
    let text = Utf8Bytes::from(itoa::Buffer::new().format(seq));
    Outgoing::Message(Published::new(seq, time, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::mailbox;
    use crate::metrics::Metrics;
    use common::Format;
    use futures::executor::block_on;
    use futures::stream;

    fn nz(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    fn seq(item: Option<Outgoing>) -> Option<u64> {
        match item? {
            Outgoing::Message(m) => Some(m.seq()),
            Outgoing::Frame(text) => text.parse().ok(),
            Outgoing::Lost(range) => Some(range.first),
        }
    }

    #[test]
    fn holds_exactly_its_capacity() {
        let (sender, _receiver) = queue::<u64>(nz(2));
        assert!(sender.try_send(1).is_ok());
        assert!(sender.try_send(2).is_ok());
        assert_eq!(sender.try_send(3), Err(Refused::Full(3)));
    }

    #[test]
    fn room_is_what_is_left_of_the_capacity() {
        let (sender, _receiver) = queue::<u64>(nz(3));
        assert_eq!(sender.room(), 3);
        sender.try_send(1).unwrap();
        assert_eq!(sender.room(), 2);
    }

    #[test]
    fn a_gone_connection_refuses() {
        let (sender, receiver) = queue::<u64>(nz(2));
        drop(receiver);
        assert_eq!(sender.try_send(1), Err(Refused::Gone));
    }

    #[test]
    fn backlog_first_then_live_then_the_verdict() {
        let (sender, receiver) = mailbox(nz(4));
        let backlog = stream::iter([Outgoing::Message(Published::now(1, "1".into()))]).boxed();
        let mut outbox = Outbox::stream(backlog, receiver, oneshot::channel().0);
        let live = [Published::now(2, "2".into())];
        let metrics = Metrics::default();
        let delivered = sender.deliver(&mut live.iter(), Format::Plain, &metrics);
        assert!(delivered.is_ok());
        sender.end(End {
            code: close::SLOW_CONSUMER,
            reason: "slow",
        });
        assert_eq!(seq(outbox.try_next()), Some(1));
        assert_eq!(seq(block_on(outbox.next())), Some(2));
        assert_eq!(seq(block_on(outbox.next())), None);
        assert_eq!(outbox.end().code, close::SLOW_CONSUMER);
    }

    #[test]
    fn a_silent_producer_means_going_away() {
        let (sender, receiver) = mailbox(nz(1));
        let outbox = Outbox::stream(stream::empty().boxed(), receiver, oneshot::channel().0);
        drop(sender);
        assert_eq!(outbox.end(), GOING_AWAY);
    }

    #[test]
    fn a_counter_numbers_its_ticks() {
        let (sender, receiver) = queue(nz(4));
        let mut outbox = Outbox::counter(41, receiver);
        sender.try_send(7).unwrap();
        sender.try_send(8).unwrap();
        assert_eq!(seq(outbox.try_next()), Some(41));
        assert_eq!(seq(outbox.try_next()), Some(42));
        assert_eq!(seq(outbox.try_next()), None);
    }
}
