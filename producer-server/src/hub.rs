//! Broadcast mode: one producer for every connection.
//!
//! The hub is a task that alone owns the history and the list of subscribers, so neither needs a
//! lock and every change to them happens in one place, in order. It pushes each message into
//! every subscriber's bounded queue without waiting: a subscriber whose queue is full is not
//! keeping up, and is let go with close code 4000 (slow consumer) once its connection has sent
//! what its queue holds. It can reconnect with `?from=` and resume from history, so the others
//! never wait for it and it loses nothing without being told.

use crate::metrics::Metrics;
use crate::outgoing::{queue, End, Outgoing, Published, Queue, QueueSender, Refused};
use crate::runtime;
use crate::shutdown::ShutdownSignal;
use crate::source::Source;
use async_tungstenite::tungstenite::Utf8Bytes;
use common::{close, LostRange};
use futures::channel::{mpsc, oneshot};
use futures::future::join_all;
use futures::{future, pin_mut, select, FutureExt, StreamExt};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How a connection closes once it has the whole of a stream that ended.
const END_OF_STREAM: End = End {
    code: close::NORMAL,
    reason: "end of the stream",
};

/// How a connection closes once it has sent what its queue held when it fell behind.
const TOO_SLOW: End = End {
    code: close::SLOW_CONSUMER,
    reason: "too slow: reconnect with ?from= to resume",
};

/// How long a hub paced by its consumers waits for room in full queues: a consumer that takes
/// longer is not just slower than the others but stalled, and holds them back no longer.
const SLOW_GRACE: Duration = Duration::from_millis(250);

/// Messages produced in a row before the hub lets the writers run, when the source never waits.
const BURST: usize = 32;

/// What a new subscriber gets.
pub struct Subscription {
    /// What it asked for that is already past: a lost-range notice and the history it wanted.
    pub backlog: Vec<Outgoing>,
    /// The live messages that follow, with no gap and no repeat.
    pub queue: Queue,
}

/// A way to reach the hub, one per connection.
#[derive(Clone)]
pub struct HubHandle {
    /// Subscription requests.
    requests: mpsc::Sender<Request>,
    /// Set once a subscriber has been let go as slow: it may come back for the rest.
    dropped_slow: Arc<AtomicBool>,
}

/// A request to join the stream.
struct Request {
    /// Who asks, for the logs.
    peer: SocketAddr,
    /// The first sequence number wanted; `None` for the live edge.
    from: Option<u64>,
    /// Where the subscription goes.
    reply: oneshot::Sender<Subscription>,
}

impl HubHandle {
    /// Joins the stream from `from` on (the live edge when `None`). `None` when the hub is gone.
    pub async fn subscribe(&self, peer: SocketAddr, from: Option<u64>) -> Option<Subscription> {
        let (reply, subscription) = oneshot::channel();
        let request = Request { peer, from, reply };
        futures::SinkExt::send(&mut self.requests.clone(), request)
            .await
            .ok()?;
        subscription.await.ok()
    }

    /// Whether a subscriber has been let go as slow, and so may reconnect for the rest.
    pub fn has_dropped_slow(&self) -> bool {
        self.dropped_slow.load(Ordering::Relaxed)
    }
}

/// The hub's settings.
pub struct HubConfig {
    /// Messages each subscriber's queue holds.
    pub queue: NonZeroUsize,
    /// Messages kept for subscribers that ask for earlier ones.
    pub history: usize,
    /// What sets the pace at which the hub takes from its source.
    pub pace: Pace,
    /// Where messages produced, slow closes, lost ranges and the history's size are counted.
    pub metrics: Metrics,
}

/// What sets the pace at which the hub takes messages from its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// The source's own (the counter's `--interval`): the hub never waits for anyone, and a
    /// consumer whose queue is full is let go as slow.
    Source,
    /// The fastest consumer's (standard input, which is as fast as a file or as slow as a log).
    /// A message is taken once some consumer has room for it: a lone consumer is never too slow
    /// for a big input, while consumers slower than the fastest are let go as usual. Reading
    /// starts with the first consumer, so a short input reaches someone.
    FastestConsumer,
    /// Every consumer's (the counter at `--interval 0`, which has no pace of its own): the hub
    /// produces only while someone listens, as fast as they take messages, and waits up to
    /// [`SLOW_GRACE`] for room in full queues before calling those consumers slow.
    AllConsumers,
}

/// What the hub does next with its source.
enum Reading {
    /// Take the next message.
    Now,
    /// Look again in a moment: every consumer's queue is full.
    Soon,
    /// Not until a consumer comes (or never: the source is over).
    NotYet,
}

/// How often to look for room when every consumer's queue is full and the pace is the fastest
/// consumer's: short against a queue's worth of messages, long against a busy loop.
const ROOM_CHECK: Duration = Duration::from_millis(1);

/// One subscriber, as the hub sees it.
struct Subscriber {
    /// Who it is, for the logs.
    peer: SocketAddr,
    /// Its queue.
    queue: QueueSender,
    /// The first sequence number it wants: it skips live messages before it.
    from: u64,
}

/// The hub's state.
struct Hub {
    /// Settings.
    config: HubConfig,
    /// The last `config.history` messages, oldest first.
    history: VecDeque<Arc<Published>>,
    /// The sequence number the next message gets.
    next_seq: u64,
    /// Everyone listening.
    subscribers: Vec<Subscriber>,
    /// Whether anyone has subscribed yet.
    started: bool,
    /// Whether the source has ended: newcomers get history, then the close.
    over: bool,
    /// Shared with every handle: see [`HubHandle::has_dropped_slow`].
    dropped_slow: Arc<AtomicBool>,
}

/// Starts a hub over `source`. When the source ends, every subscriber gets what its queue holds
/// and Close 1000, and the returned receiver resolves; the hub goes on serving history to
/// consumers that reconnect, until `shutdown`.
pub fn start(
    source: Source,
    config: HubConfig,
    shutdown: ShutdownSignal,
) -> (HubHandle, oneshot::Receiver<()>) {
    let (requests, incoming) = mpsc::channel(64);
    let (ended, stream_over) = oneshot::channel();
    let dropped_slow = Arc::new(AtomicBool::new(false));
    let hub = Hub {
        history: VecDeque::with_capacity(config.history.min(4096)),
        config,
        next_seq: 1,
        subscribers: Vec::new(),
        started: false,
        over: false,
        dropped_slow: Arc::clone(&dropped_slow),
    };
    runtime::spawn(hub.run(source, incoming, shutdown, ended));
    let handle = HubHandle {
        requests,
        dropped_slow,
    };
    (handle, stream_over)
}

impl Hub {
    async fn run(
        mut self,
        source: Source,
        mut requests: mpsc::Receiver<Request>,
        shutdown: ShutdownSignal,
        ended: oneshot::Sender<()>,
    ) {
        let stop = shutdown.wait().fuse();
        pin_mut!(stop);
        let mut source = source.fuse();
        let mut ended = Some(ended);
        let mut burst = 0;
        loop {
            let reading = if source.is_done() {
                Reading::NotYet
            } else {
                self.reading()
            };
            let produced = async {
                match reading {
                    Reading::Now => Some(source.next().await),
                    Reading::Soon => {
                        runtime::sleep(ROOM_CHECK).await;
                        None
                    }
                    Reading::NotYet => future::pending().await,
                }
            };
            select! {
                request = requests.next() => match request {
                    Some(request) => self.subscribe(request),
                    None => return,
                },
                data = produced.fuse() => match data {
                    None => {}
                    Some(Some(data)) => {
                        self.publish(data).await;
                        burst += 1;
                        if burst == BURST {
                            burst = 0;
                            runtime::yield_now().await;
                        }
                    }
                    Some(None) => {
                        self.end_of_stream();
                        if let Some(ended) = ended.take() {
                            let _ = ended.send(());
                        }
                    }
                },
                () = stop => return,
            }
        }
    }

    /// Whether to take the next message from the source now, given the pace.
    fn reading(&self) -> Reading {
        let someone = !self.subscribers.is_empty();
        match self.config.pace {
            Pace::Source => Reading::Now,
            Pace::AllConsumers if someone => Reading::Now,
            Pace::AllConsumers => Reading::NotYet,
            Pace::FastestConsumer if !self.started => Reading::NotYet,
            // Nobody to wait for: messages go to history for those who come back.
            Pace::FastestConsumer if !someone => Reading::Now,
            Pace::FastestConsumer => {
                // A gone subscriber counts as room: the next message is what prunes it.
                let room = |s: &Subscriber| s.queue.has_room() || s.queue.is_closed();
                if self.subscribers.iter().any(room) {
                    Reading::Now
                } else {
                    Reading::Soon
                }
            }
        }
    }

    /// Numbers `data`, keeps it in history, and queues it for every subscriber that wants it.
    async fn publish(&mut self, data: Utf8Bytes) {
        let message = Published::now(self.next_seq, data);
        self.next_seq += 1;
        self.config.metrics.produced();
        if self.config.history > 0 {
            if self.history.len() == self.config.history {
                self.history.pop_front();
            }
            self.history.push_back(Arc::clone(&message));
            self.config.metrics.history_size(self.history.len());
        }
        let item = || Outgoing::Message(Arc::clone(&message));
        // Whether each subscriber is still to be served, and whose queue is full.
        let mut keep = vec![true; self.subscribers.len()];
        let mut full = vec![false; self.subscribers.len()];
        for (index, subscriber) in self.subscribers.iter_mut().enumerate() {
            if message.seq() < subscriber.from {
                continue;
            }
            match subscriber.queue.try_send(item()) {
                Ok(()) => {}
                Err(Refused::Gone) => keep[index] = false,
                Err(Refused::Full) => full[index] = true,
            }
        }
        if self.config.pace == Pace::AllConsumers && full.contains(&true) {
            // All full queues get the same grace, together: stalled consumers cost it once.
            let waits = self
                .subscribers
                .iter_mut()
                .enumerate()
                .filter(|(index, _)| full[*index])
                .map(|(index, subscriber)| async move {
                    let sent = runtime::timeout(SLOW_GRACE, subscriber.queue.send(item())).await;
                    (index, sent)
                });
            for (index, sent) in join_all(waits).await {
                match sent {
                    Some(Ok(())) => full[index] = false,
                    Some(Err(_)) => (full[index], keep[index]) = (false, false),
                    None => {}
                }
            }
        }
        for (index, subscriber) in self.subscribers.iter().enumerate() {
            if full[index] {
                keep[index] = false;
                self.dropped_slow.store(true, Ordering::Relaxed);
                subscriber.queue.close_with(TOO_SLOW);
                self.config.metrics.closed_slow();
                log::info!(
                    "{}: too slow, its queue of {} messages is full at seq {}: closing it with 4000 after what it holds",
                    subscriber.peer,
                    self.config.queue,
                    message.seq()
                );
            }
        }
        let mut verdicts = keep.into_iter();
        self.subscribers
            .retain(|_| verdicts.next().expect("one verdict per subscriber"));
    }

    /// Registers a subscriber, with what it asked for from history.
    fn subscribe(&mut self, request: Request) {
        // Connections that ended since the last message are let go here: with a quiet source,
        // the next message could be hours away.
        self.subscribers
            .retain(|subscriber| !subscriber.queue.is_closed());
        self.started = true;
        let Request { peer, from, reply } = request;
        let (sender, queue) = queue(self.config.queue);
        let from = from.unwrap_or(self.next_seq);
        let mut backlog = Vec::new();
        let oldest = self.history.front().map_or(self.next_seq, |m| m.seq());
        if from < oldest {
            let lost = LostRange {
                first: from,
                last: oldest - 1,
            };
            log::info!("{peer}: asked from {from}, but {lost} are no longer in history");
            backlog.push(Outgoing::Lost(lost));
            self.config.metrics.lost_range();
        }
        if from > self.next_seq {
            log::info!(
                "{peer}: asked from {from}, ahead of the stream (next is {}): it waits for it",
                self.next_seq
            );
        }
        let skip = from.saturating_sub(oldest) as usize;
        backlog.extend(
            self.history
                .iter()
                .skip(skip)
                .map(|m| Outgoing::Message(Arc::clone(m))),
        );
        if self.over {
            // A consumer that was dropped (as slow, say) and came back after the end still gets
            // what history holds, then the normal close.
            sender.close_with(END_OF_STREAM);
            let _ = reply.send(Subscription { backlog, queue });
            return;
        }
        if reply.send(Subscription { backlog, queue }).is_ok() {
            self.subscribers.push(Subscriber {
                peer,
                queue: sender,
                from: from.max(self.next_seq),
            });
        }
    }

    /// The source is over: every subscriber sends what it holds, then closes with 1000.
    fn end_of_stream(&mut self) {
        log::info!(
            "end of the stream after {} messages: closing {} subscribers with 1000 once they have it all",
            self.next_seq - 1,
            self.subscribers.len()
        );
        self.over = true;
        for subscriber in self.subscribers.drain(..) {
            subscriber.queue.close_with(END_OF_STREAM);
        }
    }
}
