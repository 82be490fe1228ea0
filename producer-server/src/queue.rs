//! A connection's bounded queue, what it carries, and the verdict that ends it.
//!
//! The producer (the hub, or a connection's own counter) pushes into the queue; the session's
//! writer drains it. When the producer lets go it says why, once: the verdict, carried beside the
//! queue because a full queue has no room for it. The session sends what the queue still holds,
//! then closes the connection with the verdict's code.
//!
//! A hub's queue ([`bulk_queue`]) is taken from in bulk: the receiver takes whatever it holds
//! in one go. The hub runs on another thread than the session, and a lock of the queue for each
//! item, contended by both, was a quarter of the broadcast server's time at `--interval 0`
//! (1d went from 3 to 5 M msg/s). What the receiver took counts against the capacity: the queue
//! proper holds half of it, what was taken ahead (the item being sent included) the other half.
//! While the producer waits for room, the receiver lets it in at every item it takes, as a
//! queue taken one item at a time does, so that a consumer that is slow but steady paces the
//! stream rather than being let go. A connection's own counter queues into a [`queue`] taken
//! one item at a time: its producer rarely contends, and halving its queue made it slower.

use crate::engine::Backlog;
use crate::message::Published;
use async_tungstenite::tungstenite::Utf8Bytes;
use common::{close, LostRange};
use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};
use futures::stream::StreamExt;
use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One item of a connection's queue.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// The next message of the stream (replayed from history, or a connection's own counter's).
    Message(Arc<Published>),
    /// The next live message of a broadcast, as the text of its frame in the connection's
    /// format: what a hub's queue carries. A session then touches nothing of the message but the
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
    /// The queue: with what its receiver took ahead, it holds at most as many items as the
    /// connection is allowed.
    items: flume::Sender<T>,
    /// A bulk queue's: set while [`QueueSender::send_all`] waits for room.
    producer_waits: Option<Arc<AtomicBool>>,
    /// Where the verdict goes.
    verdict: oneshot::Sender<End>,
}

/// The consuming end of a queue of `T`.
pub struct QueueReceiver<T> {
    /// The queue.
    items: flume::Receiver<T>,
    /// Items taken from the queue in one go and not yet handed out.
    taken: VecDeque<T>,
    /// A bulk queue's (of more than one place): whether its producer waits for room. flume lets
    /// a waiting sender in when an item is received, not when the queue is drained: without
    /// this, the producer would wait until everything taken ahead was sent.
    producer_waits: Option<Arc<AtomicBool>>,
    /// The verdict, once given; shared so that a session can watch for it while it writes.
    verdict: Verdict,
}

/// A subscriber's presence, as the hub counts it: the hub holds the other end, which resolves
/// (cancelled) once this is dropped.
pub type Attendance = oneshot::Sender<std::convert::Infallible>;

/// The producer's word on how the connection ends; resolves with `Err` if it let go silently.
pub type Verdict = Shared<oneshot::Receiver<End>>;

/// A queue holding at most `capacity` items besides the one its receiver is sending, taken one
/// at a time.
pub fn queue<T>(capacity: NonZeroUsize) -> (QueueSender<T>, QueueReceiver<T>) {
    new_queue(capacity.get(), false)
}

/// A queue holding at most `capacity` items besides the one its receiver is sending, what it
/// took ahead included, taken in bulk when it has more than one place.
pub fn bulk_queue<T>(capacity: NonZeroUsize) -> (QueueSender<T>, QueueReceiver<T>) {
    // The receiver takes at most what the queue proper holds: each gets half (an odd capacity
    // leaves one place unused rather than hold one too many; one place has no half to spare).
    match capacity.get() / 2 {
        0 => new_queue(1, false),
        half => new_queue(half, true),
    }
}

/// A queue of `bound` items, whose receiver takes them in bulk when `bulk`.
fn new_queue<T>(bound: usize, bulk: bool) -> (QueueSender<T>, QueueReceiver<T>) {
    // flume keeps a queue's items in a buffer that grows as they come, and so does `taken`: a
    // connection that never had a burst costs nothing for the places it is allowed.
    let (items_in, items_out) = flume::bounded(bound);
    let producer_waits = bulk.then(|| Arc::new(AtomicBool::new(false)));
    let (verdict_in, verdict_out) = oneshot::channel();
    (
        QueueSender {
            items: items_in,
            producer_waits: producer_waits.clone(),
            verdict: verdict_in,
        },
        QueueReceiver {
            items: items_out,
            taken: VecDeque::new(),
            producer_waits,
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

    /// Queues `items` in order, waiting for room as the receiver takes what the queue holds;
    /// resolves to whether they all went in (not: the connection is gone). Apart from the
    /// sender, so that its producer can wait on many queues at once.
    pub fn send_all(&self, items: Vec<T>) -> impl Future<Output = bool> + Send + 'static
    where
        T: Send + 'static,
    {
        let queue = self.items.clone();
        let waiting = self.producer_waits.clone().map(ProducerWaits::new);
        async move {
            // Let go when done or dropped (the producer gave up on the connection).
            let _waiting = waiting;
            for item in items {
                if queue.send_async(item).await.is_err() {
                    return false;
                }
            }
            true
        }
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
        // What was taken ahead comes first, through `try_recv`, which lets a waiting producer
        // in; with nothing taken ahead, receiving from the queue does, and `try_recv` would
        // only take its lock once more.
        if !self.taken.is_empty() {
            return self.try_recv();
        }
        self.items.recv_async().await.ok()
    }

    /// The next item if one is ready now. A bulk queue's receiver with nothing taken ahead
    /// takes everything the queue holds, under one lock.
    fn try_recv(&mut self) -> Option<T> {
        let Some(producer_waits) = &self.producer_waits else {
            return self.items.try_recv().ok();
        };
        if self.taken.is_empty() {
            self.taken.extend(self.items.drain());
        }
        if producer_waits.load(Ordering::Acquire) {
            // Lets the waiting producer in: a lock per item, while the consumer is the one
            // holding the stream back.
            self.taken.extend(self.items.try_recv().ok());
        }
        self.taken.pop_front()
    }
}

/// Says that a bulk queue's producer waits for room, for as long as it is held.
struct ProducerWaits(Arc<AtomicBool>);

impl ProducerWaits {
    fn new(flag: Arc<AtomicBool>) -> Self {
        flag.store(true, Ordering::Release);
        ProducerWaits(flag)
    }
}

impl Drop for ProducerWaits {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Where a connection's live items come from.
enum Live {
    /// A broadcast hub's queue.
    Stream {
        /// The queue: each live message's frame, in the connection's format.
        queue: QueueReceiver<Utf8Bytes>,
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

/// What a connection sends: first its backlog (the history it asked for), then its live queue.
pub struct Outbox {
    /// Items to send before the queue's; `None` once it is spent.
    backlog: Option<Backlog>,
    /// The live items.
    live: Live,
}

impl Outbox {
    /// `backlog`, then whatever the hub's `queue` brings; `attendance` is let go with it.
    pub fn stream(
        backlog: Backlog,
        queue: QueueReceiver<Utf8Bytes>,
        attendance: Attendance,
    ) -> Self {
        Outbox {
            backlog: Some(backlog),
            live: Live::Stream {
                queue,
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
            Live::Stream { queue, .. } => queue.recv().await.map(Outgoing::Frame),
            Live::Counter { ticks, next } => {
                let time = ticks.recv().await?;
                Some(counted(next, time))
            }
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
            Live::Stream { queue, .. } => queue.try_recv().map(Outgoing::Frame),
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
            Live::Stream { queue, .. } => queue.verdict.clone(),
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

    /// Fills `sender` until it refuses; how many it took.
    fn fill(sender: &QueueSender<u64>, next: &mut u64) -> u64 {
        let mut queued = 0;
        while sender.try_send(*next).is_ok() {
            *next += 1;
            queued += 1;
        }
        queued
    }

    #[test]
    fn a_bulk_queue_holds_no_more_than_its_capacity_with_what_was_taken_ahead() {
        for capacity in 1..=9 {
            let (sender, mut receiver) = bulk_queue::<u64>(nz(capacity));
            let mut next = 1;
            let first = fill(&sender, &mut next);
            let sending = receiver.try_recv();
            let held = first + fill(&sender, &mut next) - 1;
            // Besides the one being sent: one place has it all; otherwise each half, the item
            // being sent counting in the half taken ahead (an odd capacity leaves one place).
            let expected = if capacity == 1 {
                1
            } else {
                capacity / 2 * 2 - 1
            };
            assert_eq!(held, expected as u64, "capacity {capacity}");
            let got: Vec<u64> = sending
                .into_iter()
                .chain(std::iter::from_fn(|| receiver.try_recv()))
                .collect();
            assert_eq!(got, (1..next).collect::<Vec<_>>(), "capacity {capacity}");
        }
    }

    #[test]
    fn a_producer_waiting_on_a_bulk_queue_gets_in_at_each_item_taken() {
        let (sender, mut receiver) = bulk_queue::<u64>(nz(4));
        let mut next = 1;
        assert_eq!(fill(&sender, &mut next), 2, "half of four");
        let mut waiting = Box::pin(sender.send_all(vec![3, 4, 5, 6]));
        assert!((&mut waiting).now_or_never().is_none(), "the queue is full");
        // Taking one item lets one more in, though two were taken ahead and one is left.
        assert_eq!(receiver.try_recv(), Some(1));
        assert!(
            (&mut waiting).now_or_never().is_none(),
            "room for 4 and 5, not 6"
        );
        assert_eq!(receiver.try_recv(), Some(2));
        assert_eq!((&mut waiting).now_or_never(), Some(true));
        // Never more than the capacity besides the item being sent: 3, 4 taken, 5, 6 queued.
        assert_eq!(sender.room(), 0);
        let rest: Vec<u64> = std::iter::from_fn(|| receiver.try_recv()).collect();
        assert_eq!(rest, [3, 4, 5, 6]);
        assert!(!receiver
            .producer_waits
            .as_ref()
            .unwrap()
            .load(Ordering::Acquire));
    }

    #[test]
    fn a_bulk_queue_keeps_the_order_while_it_is_taken_from_and_pushed_to() {
        let (sender, receiver) = bulk_queue::<Utf8Bytes>(nz(8));
        let mut outbox = Outbox::stream(stream::empty().boxed(), receiver, oneshot::channel().0);
        let mut got = Vec::new();
        let mut next = 1;
        while next <= 100 {
            while next <= 100 {
                if sender.try_send(next.to_string().into()).is_err() {
                    break;
                }
                next += 1;
            }
            // Take a few: some come from what was taken ahead, some from the queue.
            got.extend((0..3).map_while(|_| seq(outbox.try_next())));
        }
        drop(sender);
        while let Some(seq) = seq(block_on(outbox.next())) {
            got.push(seq);
        }
        assert_eq!(got, (1..=100).collect::<Vec<_>>());
    }

    #[test]
    fn a_gone_connection_refuses() {
        let (sender, receiver) = queue::<u64>(nz(2));
        drop(receiver);
        assert_eq!(sender.try_send(1), Err(Refused::Gone));
    }

    #[test]
    fn backlog_first_then_live_then_the_verdict() {
        let (sender, receiver) = queue(nz(4));
        let backlog = stream::iter([Outgoing::Message(Published::now(1, "1".into()))]).boxed();
        let mut outbox = Outbox::stream(backlog, receiver, oneshot::channel().0);
        sender.try_send(Utf8Bytes::from_static("2")).unwrap();
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
        let (sender, receiver) = queue::<Utf8Bytes>(nz(1));
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
