//! The hub: the one task that owns a broadcast stream's subscribers and decides its pace.
//!
//! It takes the next messages from the engine (as many as are ready, up to a burst) only once every
//! subscriber has taken all of the previous ones, as `tee` does, so everyone gets everything at
//! the pace of the slowest. A subscriber whose queue stays full for the slow timeout is let go
//! with 4000 after what it holds; all subscribers stalled on one burst share one wait. Nothing
//! here polls: room in a queue, a departure, a join, the end of the stream and the deadlines are
//! each an event that wakes the hub.

use super::{Join, StreamConfig};
use crate::connection_log::Event as LogEvent;
use crate::engine::Engine;
use crate::mailbox::{mailbox, MailboxSender};
use crate::message::Published;
use crate::queue::{End, Outbox, Outgoing, Refused};
use crate::runtime;
use crate::shutdown::ShutdownSignal;
use async_tungstenite::tungstenite::Utf8Bytes;
use common::{close, count, Format};
use futures::channel::{mpsc, oneshot};
use futures::future::{self as future, BoxFuture, Fuse, FusedFuture, FutureExt};
use futures::stream::{self, FuturesUnordered, StreamExt};
use futures::{pin_mut, select_biased};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a connection closes once it has the whole of a stream that ended.
const END_OF_STREAM: End = End {
    code: close::NORMAL,
    reason: "end of the stream",
};

/// How a connection closes once it has sent what its queue held when it was let go.
const TOO_SLOW: End = End {
    code: close::SLOW_CONSUMER,
    reason: "too slow: reconnect with ?from= to resume",
};

/// How long consumers get to receive the rest of a stream that ended before the server stops
/// waiting for them.
const END_OF_STREAM_LIMIT: Duration = Duration::from_secs(10);

/// How long a stream that ended waits, once nobody is connected, for consumers let go as slow to
/// come back for the rest: longer than consumer-client's longest pause between attempts.
const RESUME_GRACE: Duration = Duration::from_secs(6);

/// Queue pushes a burst may cost, all subscribers together, before the hub lets the writers run:
/// a burst is as many messages as the engine has ready, up to this divided among the subscribers
/// (or [`MIN_BURST`]), and never more than the fullest queue has room for (so a burst stalls only
/// on a queue that is really full, and the slow timeout keeps its meaning). One fast consumer
/// then gets up to its queue's worth (the half a [`mailbox`] queues) per wake-up instead of a
/// few dozen messages (2.3x the throughput, half the CPU per message), while a crowd gets a few
/// dozen at a time and the hub still answers joins promptly.
const PUSHES_PER_BURST: usize = 4096;

/// Messages a burst may hold whatever the number of subscribers (room allowing): fewer would make
/// a crowd of consumers of a fast source wake once per message (at `--interval 0`, 1,000
/// consumers took half as many deliveries per second with bursts of 4).
const MIN_BURST: usize = 32;

/// One subscriber, as the hub sees it.
struct Subscriber {
    /// Who it is, for the logs.
    peer: SocketAddr,
    /// Its mailbox: its queue, and its socket's sending half while its session lends it.
    mailbox: MailboxSender,
    /// The first sequence number it wants: it skips live messages before it.
    from: u64,
    /// How its connection frames messages.
    format: Format,
    /// While the hub waits for room in its queue: the first sequence number it has not taken.
    stalled_at: Option<u64>,
}

/// A timer that may be unset.
type Deadline = Fuse<BoxFuture<'static, ()>>;

/// A timer going off after `duration`.
fn deadline(duration: Duration) -> Deadline {
    runtime::sleep(duration).boxed().fuse()
}

/// The hub's state.
struct Hub<E> {
    /// Numbers and keeps the messages.
    engine: E,
    /// How consumers are treated.
    config: StreamConfig,
    /// Everyone the live messages go to, by a number of the hub's own.
    subscribers: HashMap<u64, Subscriber>,
    /// The number the next subscriber gets.
    next_id: u64,
    /// One per connection holding an outbox of this stream, subscribed or served its end:
    /// each resolves with its number once that outbox is dropped.
    attendance: FuturesUnordered<BoxFuture<'static, u64>>,
    /// One per stalled subscriber: resolves with its number, and whether the message got in,
    /// once there is room in its queue (or it is gone).
    stalls: FuturesUnordered<BoxFuture<'static, (u64, bool)>>,
    /// When the stalled subscribers are let go.
    stall_deadline: Deadline,
    /// Whether the stream has ended.
    over: bool,
    /// Whether some consumer was let go as slow, and so may come back for the rest.
    dropped_slow: bool,
    /// When a consumer last left.
    last_departure: Instant,
    /// Once the stream ended: goes off when nobody came back within [`RESUME_GRACE`].
    grace: Deadline,
    /// Once the stream ended: goes off after [`END_OF_STREAM_LIMIT`], when the server waits no
    /// longer for anyone.
    limit: Deadline,
    /// Told once the stream ended and its consumers have all of it; `None` once told.
    finished: Option<oneshot::Sender<()>>,
    /// Shared with every handle: where a newcomer starts (see `StreamHandle`).
    live_edge: Arc<AtomicU64>,
}

/// What the next burst may be.
struct Readiness {
    /// Messages it may hold.
    most: usize,
    /// Whether some subscriber speaks `prodcon.v1`: then the hub makes those frames.
    json: bool,
}

/// What woke the hub.
enum Event {
    /// Someone wants to join.
    Join(Join),
    /// Every handle is gone: the server is done with the stream.
    NoMoreJoins,
    /// A subscriber's outbox was dropped.
    Left(u64),
    /// The engine's next message, or its end.
    Message(Option<Arc<Published>>),
    /// A stalled subscriber has room now (`true`), or is gone.
    Room(u64, bool),
    /// The stalled subscribers took too long.
    StallTimedOut,
    /// Nobody came back for the rest of the stream that ended.
    GraceOver,
    /// Consumers have had all the time they get to receive the rest of the stream that ended.
    LimitReached,
}

/// Runs the hub until `shutdown`, or until every handle is gone.
pub(super) async fn run<E: Engine>(
    engine: E,
    config: StreamConfig,
    mut joins: mpsc::UnboundedReceiver<Join>,
    live_edge: Arc<AtomicU64>,
    finished: oneshot::Sender<()>,
    shutdown: ShutdownSignal,
) {
    let mut hub = Hub {
        engine,
        config,
        subscribers: HashMap::new(),
        next_id: 0,
        attendance: FuturesUnordered::new(),
        stalls: FuturesUnordered::new(),
        stall_deadline: Fuse::terminated(),
        over: false,
        dropped_slow: false,
        last_departure: Instant::now(),
        grace: Fuse::terminated(),
        limit: Fuse::terminated(),
        finished: Some(finished),
        live_edge,
    };
    let stop = shutdown.wait().fuse();
    pin_mut!(stop);
    loop {
        let listeners = hub.attendance.len();
        // Tee: the next burst only once every subscriber has taken the last one.
        let may_take = !hub.over && hub.stalls.is_empty();
        let engine = &mut hub.engine;
        let next = async move {
            if may_take {
                engine.next(listeners).await
            } else {
                future::pending().await
            }
        };
        // In this order: joins and departures before the next message. Under load the next
        // message is always ready (a burst to ten thousand queues, then a yield behind as many
        // writers, takes about an interval), and a fair pick among ready branches answered a
        // join once per burst: at 10,000 consumers the last joins waited seconds, and their
        // consumers got the messages meanwhile from history, seconds late.
        let event = select_biased! {
            () = stop => return,
            join = joins.next() => join.map_or(Event::NoMoreJoins, Event::Join),
            left = hub.attendance.select_next_some() => Event::Left(left),
            (id, sent) = hub.stalls.select_next_some() => Event::Room(id, sent),
            () = &mut hub.stall_deadline => Event::StallTimedOut,
            () = &mut hub.grace => Event::GraceOver,
            () = &mut hub.limit => Event::LimitReached,
            message = next.fuse() => Event::Message(message),
        };
        match event {
            Event::Join(join) => hub.join(join),
            Event::NoMoreJoins => return,
            Event::Left(id) => hub.left(id),
            Event::Message(Some(message)) => {
                // What the engine has ready goes out as one burst, delivered to each subscriber
                // in a row: written at once into a socket whose session lent it, or queued, so
                // that a session woken by the first finds the others in its queue and writes
                // them all at once, instead of waking once a message.
                let Readiness { most, json } = hub.readiness();
                let mut burst = vec![message];
                // The end, if it is there, comes back as an event of its own once every
                // subscriber has taken this burst: ending now would cut off a stalled one.
                hub.engine
                    .take_ready(hub.attendance.len(), most, &mut burst);
                hub.publish(&burst, json);
                // A source that is always ready must not keep the writers it feeds from running.
                runtime::yield_now().await;
            }
            Event::Message(None) => hub.end_of_stream(),
            Event::Room(id, sent) => hub.room(id, sent),
            Event::StallTimedOut => hub.let_stalled_go(),
            Event::GraceOver => {}
            Event::LimitReached => {
                log::info!("consumers had {END_OF_STREAM_LIMIT:?} to receive the end of the stream: no longer waiting for them");
                hub.finish();
            }
        }
        hub.check_finished();
    }
}

impl<E: Engine> Hub<E> {
    /// Gives a newcomer its outbox: what it asked for from history, then the live messages.
    fn join(&mut self, join: Join) {
        let Join {
            peer,
            from,
            asked,
            format,
            reply,
        } = join;
        let live_edge = self.engine.next_seq();
        if from > live_edge {
            self.config.log.write(
                peer.ip(),
                LogEvent::Ahead,
                format_args!("{peer}: asked from {from}, ahead of the stream (next is {live_edge}): it waits for it"),
            );
        }
        let backlog = if from < live_edge {
            let metrics = self.config.metrics.clone();
            let log = self.config.log.clone();
            self.engine
                .replay(from, live_edge)
                // Only a consumer that asked is told of what history no longer holds: one that
                // came for the live edge is owed just what was published while it waited.
                .filter(move |item| future::ready(asked || !matches!(item, Outgoing::Lost(_))))
                .inspect(move |item| {
                    if let Outgoing::Lost(lost) = item {
                        metrics.lost_range();
                        log.write(
                            peer.ip(),
                            LogEvent::BeyondHistory,
                            format_args!(
                                "{peer}: asked from {from}, but {lost} are no longer in history"
                            ),
                        );
                    }
                })
                .boxed()
        } else {
            stream::empty().boxed()
        };
        let (sender, receiver) = mailbox(self.config.queue);
        let (attendance, departure) = oneshot::channel();
        let id = self.next_id;
        self.next_id += 1;
        if reply
            .send(Outbox::stream(backlog, receiver, attendance))
            .is_err()
        {
            return;
        }
        self.attendance.push(departure.map(move |_| id).boxed());
        if self.over {
            // Back after the end (let go as slow, say): it still gets what history holds.
            sender.end(END_OF_STREAM);
            return;
        }
        let subscriber = Subscriber {
            peer,
            mailbox: sender,
            from: from.max(live_edge),
            format,
            stalled_at: None,
        };
        self.subscribers.insert(id, subscriber);
    }

    /// How many messages the next burst may hold, and whether a subscriber speaks `prodcon.v1`.
    fn readiness(&self) -> Readiness {
        let mut most = (PUSHES_PER_BURST / self.subscribers.len().max(1)).max(MIN_BURST);
        let mut json = false;
        for subscriber in self.subscribers.values() {
            json |= subscriber.format == Format::JsonV1;
            most = most.min(subscriber.mailbox.room().max(1));
        }
        Readiness { most, json }
    }

    /// Forgets a subscriber whose connection is over.
    fn left(&mut self, id: u64) {
        self.last_departure = Instant::now();
        // Its stall, if any, resolves on its own: its queue is closed.
        self.subscribers.remove(&id);
    }

    /// Delivers `burst` to every subscriber that wants it, in order (written into the sending half
    /// a waiting session lent, else queued); a full queue stalls the hub until it has room for
    /// the rest.
    fn publish(&mut self, burst: &[Arc<Published>], json: bool) {
        // Each frame is made here, once, before any session sees the message: the sessions'
        // threads only send it, and it is made and usually freed (when history lets the message
        // go) on this one.
        if json {
            Published::prepare_json(burst);
        }
        self.config.metrics.produced_many(burst.len());
        self.config.metrics.history_size(self.engine.history_len());
        self.live_edge
            .store(self.engine.next_seq(), Ordering::Release);
        let mut gone = Vec::new();
        let mut full = Vec::new();
        let metrics = &self.config.metrics;
        for (&id, subscriber) in &mut self.subscribers {
            let from = subscriber.from;
            let format = subscriber.format;
            let mut wanted = burst.iter().filter(move |message| message.seq() >= from);
            match subscriber.mailbox.deliver(&mut wanted, format, metrics) {
                Ok(()) => {}
                Err(Refused::Gone) => gone.push(id),
                Err(Refused::Full(message)) if self.config.slow_timeout.is_zero() => {
                    full.push((id, message.seq()));
                }
                Err(Refused::Full(message)) => {
                    subscriber.stalled_at = Some(message.seq());
                    let rest: Vec<Utf8Bytes> = std::iter::once(message)
                        .chain(wanted)
                        .map(|message| message.text(format))
                        .collect();
                    let sent = subscriber.mailbox.send_all(rest);
                    self.stalls.push(sent.map(move |sent| (id, sent)).boxed());
                }
            }
        }
        for id in gone {
            self.subscribers.remove(&id);
        }
        for (id, at) in full {
            self.let_go_as_slow(id, at);
        }
        if !self.stalls.is_empty() && self.stall_deadline.is_terminated() {
            self.stall_deadline = deadline(self.config.slow_timeout);
        }
    }

    /// A stalled subscriber took the rest of the burst (`sent`), or is gone.
    fn room(&mut self, id: u64, sent: bool) {
        match self.subscribers.get_mut(&id) {
            Some(subscriber) if sent => subscriber.stalled_at = None,
            _ => {
                self.subscribers.remove(&id);
            }
        }
        if self.stalls.is_empty() {
            self.stall_deadline = Fuse::terminated();
        }
    }

    /// Lets every subscriber still stalled go as slow: the others go on.
    fn let_stalled_go(&mut self) {
        // Dropping the waits lets go of the queues they held open.
        self.stalls = FuturesUnordered::new();
        let stalled: Vec<(u64, u64)> = self
            .subscribers
            .iter()
            .filter_map(|(&id, subscriber)| Some((id, subscriber.stalled_at?)))
            .collect();
        for (id, at) in stalled {
            self.let_go_as_slow(id, at);
        }
    }

    /// Closes a subscriber as slow once it has sent what it holds.
    fn let_go_as_slow(&mut self, id: u64, at: u64) {
        let Some(subscriber) = self.subscribers.remove(&id) else {
            return;
        };
        self.dropped_slow = true;
        let waited = self.config.slow_timeout;
        let peer = subscriber.peer;
        let queue = count(self.config.queue.get(), "message");
        self.config.log.write(
            peer.ip(),
            LogEvent::Slow,
            format_args!("{peer}: too slow: its queue of {queue} stayed full for {waited:?} at seq {at}: closing it with 4000 after what it holds"),
        );
        subscriber.mailbox.end(TOO_SLOW);
        self.config.metrics.closed_slow();
    }

    /// The stream is over: every subscriber sends what it holds, then closes with 1000.
    fn end_of_stream(&mut self) {
        let messages = count(self.engine.next_seq() - 1, "message");
        let subscribers = count(self.subscribers.len(), "subscriber");
        log::info!(
            "end of the stream after {messages}: closing {subscribers} with 1000 once they have it all"
        );
        self.over = true;
        self.stalls = FuturesUnordered::new();
        self.stall_deadline = Fuse::terminated();
        self.limit = deadline(END_OF_STREAM_LIMIT);
        for (_, subscriber) in self.subscribers.drain() {
            subscriber.mailbox.end(END_OF_STREAM);
        }
    }

    /// Once the stream ended: says it is finished when nobody is connected any more and those
    /// let go as slow have had their chance to come back; arms the grace period meanwhile.
    fn check_finished(&mut self) {
        if !self.over || self.finished.is_none() {
            return;
        }
        if !self.attendance.is_empty() {
            self.grace = Fuse::terminated();
            return;
        }
        let waited = self.last_departure.elapsed();
        if !self.dropped_slow || waited >= RESUME_GRACE {
            self.finish();
        } else if self.grace.is_terminated() {
            self.grace = deadline(RESUME_GRACE - waited);
        }
    }

    /// Tells the server the stream is done with.
    fn finish(&mut self) {
        if let Some(finished) = self.finished.take() {
            let _ = finished.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection_log::ConnectionLog;
    use crate::engine::memory::{MemoryEngine, Unattended};
    use crate::metrics::Metrics;
    use crate::shutdown::{shutdown_pair, ShutdownTrigger};
    use async_tungstenite::tungstenite::Utf8Bytes;
    use std::num::NonZeroUsize;

    /// Spawns a hub of a source always ready, as the next message is under load, without
    /// history, so that a join answered after a message was published never gets it; with
    /// `queue` places per consumer, taking the joins sent on `requests`. Returns what stops it.
    fn spawn_hub_of_a_ready_source(
        requests: mpsc::UnboundedReceiver<Join>,
        queue: usize,
        slow_timeout: Duration,
    ) -> ShutdownTrigger {
        let source = stream::iter(1u64..)
            .map(|n| vec![Utf8Bytes::from(n.to_string())])
            .boxed();
        let engine = MemoryEngine::new(source, Unattended::Runs, 0);
        let config = StreamConfig {
            queue: NonZeroUsize::new(queue).unwrap(),
            slow_timeout,
            metrics: Metrics::new(),
            log: ConnectionLog::new(),
        };
        let (trigger, signal) = shutdown_pair();
        let (finished, _) = oneshot::channel();
        let live_edge = Arc::new(AtomicU64::new(1));
        runtime::spawn(run(engine, config, requests, live_edge, finished, signal));
        trigger
    }

    /// The sequence number of a live message to a plain consumer of the source above: its text.
    fn first_seq(item: &Outgoing) -> u64 {
        match item {
            Outgoing::Frame(text) => text.parse().expect("a number"),
            other => panic!("a live frame, not {other:?}"),
        }
    }

    /// Joins a plain consumer from `port` at the first message; its outbox, once answered.
    fn join(joins: &mpsc::UnboundedSender<Join>, port: u16) -> oneshot::Receiver<Outbox> {
        join_as(joins, port, Format::Plain)
    }

    /// Joins a consumer of `format` from `port` at the first message; its outbox, once answered.
    fn join_as(
        joins: &mpsc::UnboundedSender<Join>,
        port: u16,
        format: Format,
    ) -> oneshot::Receiver<Outbox> {
        let (reply, outbox) = oneshot::channel();
        let join = Join {
            peer: ([127, 0, 0, 1], port).into(),
            from: 1,
            asked: false,
            format,
            reply,
        };
        joins.unbounded_send(join).unwrap();
        outbox
    }

    #[test]
    fn each_consumer_gets_the_frames_of_its_own_format() {
        let (joins, requests) = mpsc::unbounded();
        let plain = join_as(&joins, 1000, Format::Plain);
        let json = join_as(&joins, 1001, Format::JsonV1);
        let stop = spawn_hub_of_a_ready_source(requests, 16, Duration::from_secs(60));
        let frames = async {
            let mut plain = plain.await.expect("answered");
            let mut json = json.await.expect("answered");
            for seq in 1..=20u64 {
                let Some(Outgoing::Frame(text)) = plain.next().await else {
                    panic!("a live frame");
                };
                assert_eq!(text.as_str(), seq.to_string());
                let Some(Outgoing::Frame(text)) = json.next().await else {
                    panic!("a live frame");
                };
                match common::ServerFrame::decode(&text) {
                    Ok(common::ServerFrame::Message(envelope)) => {
                        assert_eq!((envelope.seq, envelope.data), (seq, seq.to_string()));
                    }
                    other => panic!("a prodcon.v1 message, not {other:?}"),
                }
            }
        };
        runtime::block_on(runtime::timeout(Duration::from_secs(10), frames))
            .expect("20 frames each within 10 s");
        stop.pull();
    }

    #[test]
    fn a_consumer_slow_but_steady_paces_the_stream_and_is_not_let_go() {
        // A consumer that takes a message every 10 ms, far slower than the source, but never
        // stops for anything near the slow timeout. Its queue's half (64) takes 640 ms to send:
        // the hub must get room at each message it takes, not once it sent them all.
        let (joins, requests) = mpsc::unbounded();
        let outbox = join(&joins, 1000);
        let stop = spawn_hub_of_a_ready_source(requests, 128, Duration::from_millis(500));
        runtime::block_on(async {
            let mut outbox = outbox.await.expect("the join is answered");
            for expected in 1..=200 {
                let item = outbox.next().await.expect("still subscribed");
                assert_eq!(first_seq(&item), expected);
                runtime::sleep(Duration::from_millis(10)).await;
            }
            assert!(
                outbox.verdict().now_or_never().is_none(),
                "not let go: {:?}",
                outbox.end()
            );
        });
        stop.pull();
    }

    #[test]
    fn every_waiting_join_is_answered_before_the_next_message() {
        let (joins, requests) = mpsc::unbounded();
        // All waiting before the hub starts.
        let replies: Vec<_> = (1000..1064).map(|port| join(&joins, port)).collect();
        let stop = spawn_hub_of_a_ready_source(requests, 4096, Duration::from_secs(60));
        runtime::block_on(async {
            for (n, outbox) in replies.into_iter().enumerate() {
                let mut outbox = outbox.await.expect("every join is answered");
                let first = outbox.next().await.expect("a message");
                assert_eq!(
                    first_seq(&first),
                    1,
                    "join {n} was answered after a message"
                );
            }
        });
        stop.pull();
    }
}
