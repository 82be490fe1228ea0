//! Broadcast mode: one producer for every connection.
//!
//! The hub is a task that alone owns the history and the list of subscribers, so neither needs a
//! lock and every change to them happens in one place, in order. It pushes each message into
//! every subscriber's bounded queue without ever waiting: a subscriber whose queue is full is not
//! keeping up, and is let go with close code 4000 (slow consumer) once its connection has sent
//! what its queue holds. It can reconnect with `?from=` and resume from history, so the others
//! never wait for it and it loses nothing without being told.

use crate::outgoing::{queue, End, Outgoing, Published, Queue, QueueSender, Refused};
use crate::runtime;
use crate::shutdown::ShutdownSignal;
use crate::source::Source;
use async_tungstenite::tungstenite::Utf8Bytes;
use common::{close, LostRange};
use futures::channel::{mpsc, oneshot};
use futures::{future, pin_mut, select, FutureExt, StreamExt};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

/// How a connection closes once it has the whole of a stream that ended.
const END_OF_STREAM: End = End {
    code: close::NORMAL,
    reason: "end of the stream",
};

/// How long a hub paced by its consumers waits for room in a full queue: a consumer that takes
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
    /// Joins the stream from `from` on (the live edge when `None`). `None` when the stream is over.
    pub async fn subscribe(&self, peer: SocketAddr, from: Option<u64>) -> Option<Subscription> {
        let (reply, subscription) = oneshot::channel();
        let request = Request { peer, from, reply };
        futures::SinkExt::send(&mut self.requests.clone(), request)
            .await
            .ok()?;
        subscription.await.ok()
    }
}

/// The hub's settings.
pub struct HubConfig {
    /// Messages each subscriber's queue holds.
    pub queue: NonZeroUsize,
    /// Messages kept for subscribers that ask for earlier ones.
    pub history: usize,
    /// Whether the source has no pace of its own (the counter at `--interval 0`). Then the hub
    /// produces only while someone listens, and as fast as they take messages: it waits up to
    /// [`SLOW_GRACE`] for room in a full queue before calling that consumer slow.
    pub paced_by_consumers: bool,
}

impl HubConfig {
    /// Queues `message` for `subscriber`; `false` when it is to be let go (gone, or too slow).
    async fn queued(&self, subscriber: &mut Subscriber, message: &Arc<Published>) -> bool {
        let item = || Outgoing::Message(Arc::clone(message));
        let refused = match subscriber.queue.try_send(item()) {
            Ok(()) => return true,
            Err(Refused::Full) if self.paced_by_consumers => {
                match runtime::timeout(SLOW_GRACE, subscriber.queue.send(item())).await {
                    Some(Ok(())) => return true,
                    Some(Err(gone)) => gone,
                    None => Refused::Full,
                }
            }
            Err(refused) => refused,
        };
        if refused == Refused::Full {
            subscriber.queue.close_with(End {
                code: close::SLOW_CONSUMER,
                reason: "too slow: reconnect with ?from= to resume",
            });
            log::info!(
                "{}: too slow, its queue of {} messages is full at seq {}: closing it with 4000 after what it holds",
                subscriber.peer,
                self.queue,
                message.seq()
            );
        }
        false
    }
}

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
    /// Whether the source has ended: newcomers get history, then the close.
    over: bool,
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
    let hub = Hub {
        history: VecDeque::with_capacity(config.history.min(4096)),
        config,
        next_seq: 1,
        subscribers: Vec::new(),
        over: false,
    };
    runtime::spawn(hub.run(source, incoming, shutdown, ended));
    (HubHandle { requests }, stream_over)
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
            let listening = !self.subscribers.is_empty() || !self.config.paced_by_consumers;
            let produced = async {
                if listening && !source.is_done() {
                    source.next().await
                } else {
                    future::pending().await
                }
            };
            select! {
                request = requests.next() => match request {
                    Some(request) => self.subscribe(request),
                    None => return,
                },
                data = produced.fuse() => match data {
                    Some(data) => {
                        self.publish(data).await;
                        burst += 1;
                        if burst == BURST {
                            burst = 0;
                            runtime::yield_now().await;
                        }
                    }
                    None => {
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

    /// Numbers `data`, keeps it in history, and queues it for every subscriber that wants it.
    async fn publish(&mut self, data: Utf8Bytes) {
        let message = Published::now(self.next_seq, data);
        self.next_seq += 1;
        if self.config.history > 0 {
            if self.history.len() == self.config.history {
                self.history.pop_front();
            }
            self.history.push_back(Arc::clone(&message));
        }
        let mut index = 0;
        while index < self.subscribers.len() {
            let subscriber = &mut self.subscribers[index];
            let keep =
                message.seq() < subscriber.from || self.config.queued(subscriber, &message).await;
            if keep {
                index += 1;
            } else {
                // Subscribers are in no particular order.
                self.subscribers.swap_remove(index);
            }
        }
    }

    /// Registers a subscriber, with what it asked for from history.
    fn subscribe(&mut self, request: Request) {
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
