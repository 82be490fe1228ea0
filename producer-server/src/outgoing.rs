//! What travels through a connection's bounded queue, from a source to the session's writer,
//! and the queue itself.

use async_tungstenite::tungstenite::Utf8Bytes;
use common::frame::now_micros;
use common::{close, encode_message, Format, LostRange};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
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

    /// `data` as message `seq`, produced at `time` (microseconds since the Unix epoch): an engine
    /// that keeps messages outside the process gives each its own time stamp back.
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

    /// The text frame for a connection that speaks `format`.
    pub fn text(&self, format: Format) -> Utf8Bytes {
        match format {
            Format::Plain => self.data.clone(),
            Format::JsonV1 => self
                .json
                .get_or_init(|| encode_message(self.seq, self.time, &self.data).into())
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

/// The producing end of a connection's bounded queue.
pub struct QueueSender {
    /// The queue.
    items: mpsc::Sender<Outgoing>,
    /// What both ends share.
    shared: Arc<Shared>,
    /// Items the queue holds at most.
    capacity: usize,
}

/// The consuming end of a connection's bounded queue.
pub struct Queue {
    /// The queue.
    items: mpsc::Receiver<Outgoing>,
    /// What both ends share.
    shared: Arc<Shared>,
}

/// What the two ends of a queue share besides the items.
#[derive(Default)]
struct Shared {
    /// Set once, just before the queue is let go, so the connection knows how to close.
    end: OnceLock<End>,
    /// Items queued and not yet taken: the channel does not tell, and the hub asks.
    held: AtomicUsize,
}

/// A queue holding at most `capacity` items.
pub fn queue(capacity: NonZeroUsize) -> (QueueSender, Queue) {
    // A futures channel holds `buffer` items plus one per sender. Its sender parks past
    // `buffer`, and a parked sender's `try_send` was seen to fail on an empty queue: so the
    // channel gets one more place than the queue, and `try_send` keeps the limit itself.
    let (items_in, items_out) = mpsc::channel(capacity.get());
    let shared = Arc::new(Shared::default());
    let sender = QueueSender {
        items: items_in,
        shared: Arc::clone(&shared),
        capacity: capacity.get(),
    };
    (
        sender,
        Queue {
            items: items_out,
            shared,
        },
    )
}

/// Why an item could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full: the connection is not keeping up.
    Full,
    /// The connection is gone.
    Gone,
}

impl QueueSender {
    /// Queues `item`, waiting while the queue is full (the channel's own limit, one more than
    /// the queue's). `Err` when the connection is gone.
    pub async fn send(&mut self, item: Outgoing) -> Result<(), Refused> {
        // Counted before it can be taken, so that the count never goes below zero.
        self.shared.held.fetch_add(1, Ordering::AcqRel);
        let sent = self.items.send(item).await;
        if sent.is_err() {
            self.shared.held.fetch_sub(1, Ordering::AcqRel);
        }
        sent.map_err(|_| Refused::Gone)
    }

    /// Queues `item` if there is room now.
    pub fn try_send(&mut self, item: Outgoing) -> Result<(), Refused> {
        if !self.has_room() {
            return Err(if self.is_closed() {
                Refused::Gone
            } else {
                Refused::Full
            });
        }
        self.shared.held.fetch_add(1, Ordering::AcqRel);
        self.items.try_send(item).map_err(|error| {
            self.shared.held.fetch_sub(1, Ordering::AcqRel);
            if error.is_full() {
                Refused::Full
            } else {
                Refused::Gone
            }
        })
    }

    /// Whether the queue has room for another item now.
    pub fn has_room(&self) -> bool {
        self.shared.held.load(Ordering::Acquire) < self.capacity
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.items.is_closed()
    }

    /// Says how the connection closes once this sender is dropped and it has sent what the
    /// queue holds. The first word is the one that counts.
    pub fn close_with(&self, end: End) {
        let _ = self.shared.end.set(end);
    }
}

impl Queue {
    /// The next item, waiting for one; `None` once the producer let go and all is sent.
    pub async fn next(&mut self) -> Option<Outgoing> {
        let item = self.items.next().await;
        self.taken(item)
    }

    /// The next item if one is ready now.
    pub fn try_next(&mut self) -> Option<Outgoing> {
        let item = self.items.try_recv().ok();
        self.taken(item)
    }

    /// Counts `item` as no longer held.
    fn taken(&self, item: Option<Outgoing>) -> Option<Outgoing> {
        if item.is_some() {
            self.shared.held.fetch_sub(1, Ordering::AcqRel);
        }
        item
    }

    /// How to close once the queue is over. A producer that let go without saying why has
    /// stopped streaming, which is the server going away.
    pub fn end(&self) -> End {
        self.shared.end.get().copied().unwrap_or(End {
            code: close::GOING_AWAY,
            reason: "stream stopped",
        })
    }
}

/// What a connection sends: first its backlog (the history it asked for), then its live queue.
pub struct Outbox {
    /// Items to send before the queue's.
    backlog: VecDeque<Outgoing>,
    /// The live items.
    queue: Queue,
}

impl Outbox {
    /// `backlog`, then whatever `queue` brings.
    pub fn new(backlog: Vec<Outgoing>, queue: Queue) -> Self {
        Outbox {
            backlog: backlog.into(),
            queue,
        }
    }

    /// The next item, waiting for one; `None` once everything is sent and the producer let go.
    pub async fn next(&mut self) -> Option<Outgoing> {
        match self.backlog.pop_front() {
            Some(item) => Some(item),
            None => self.queue.next().await,
        }
    }

    /// The next item if one is ready now.
    pub fn try_next(&mut self) -> Option<Outgoing> {
        self.backlog.pop_front().or_else(|| self.queue.try_next())
    }

    /// How to close once everything is sent.
    pub fn end(&self) -> End {
        self.queue.end()
    }
}
