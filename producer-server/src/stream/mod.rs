//! Broadcast mode: one stream for every connection, and everything about its life.
//!
//! A consumer joins (from the live edge, or from `?from=N` with a replay first), receives at the
//! pace of the slowest consumer, leaves, or is let go as too slow; the stream may end (standard
//! input closed), and then the server exits once every consumer has all of it. All of this is
//! decided by one task, the hub (`hub.rs`), over an [`crate::engine::Engine`] that numbers and
//! keeps the messages. The rest of the server holds a [`StreamHandle`] to join, and waits on
//! [`Finished`] to know when the stream is done with. Which engine serves it, the in-memory one or
//! a Redis stream shared with other nodes, is chosen by [`open`], before the server listens.

mod engines;
mod hub;

pub use engines::{open, OpenedEngine};

use crate::config::Config;
use crate::connection_log::ConnectionLog;
use crate::engine::redis::Publishing;
use crate::engine::Engine;
use crate::mailbox::mailbox;
use crate::metrics::Metrics;
use crate::queue::Outbox;
use crate::runtime;
use crate::shutdown::ShutdownSignal;
use common::Format;
use futures::channel::{mpsc, oneshot};
use futures::stream::{self, StreamExt};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How a stream treats its consumers.
#[derive(Clone)]
pub struct StreamConfig {
    /// Messages each consumer's queue holds.
    pub queue: NonZeroUsize,
    /// How long a consumer's queue may stay full, holding everyone back, before that consumer is
    /// let go with 4000; zero lets a full consumer go at once.
    pub slow_timeout: Duration,
    /// Where messages, history, slow consumers and lost ranges are counted.
    pub metrics: Metrics,
    /// Where what happens to a consumer is logged: a peer chooses `?from=` and how fast it
    /// reads, so these lines share the budget of its connection lines.
    pub log: ConnectionLog,
}

/// A way to join the stream; one per connection.
#[derive(Clone)]
pub struct StreamHandle {
    /// Join requests, to the hub. Unbounded in type only: each connection has at most one join
    /// in flight, so it holds at most as many as there are connections. A small bound made the
    /// hub take joins a few dozen at a time, each batch behind every other ready task: under a
    /// burst of 10,000 connections, the last waited seconds.
    joins: mpsc::UnboundedSender<Join>,
    /// The sequence number the next message will have, as the hub last published it. A
    /// newcomer starts there, as of the moment it asks, however long the hub takes to answer:
    /// under a burst of connections that can be a while, and it must not miss what came meanwhile.
    live_edge: Arc<AtomicU64>,
}

/// A request to join the stream.
struct Join {
    /// Who asks, for the logs.
    peer: SocketAddr,
    /// The first sequence number wanted.
    from: u64,
    /// Whether the consumer asked for `from` (with `?from=`), rather than the live edge: only
    /// then is it told of messages history no longer holds.
    asked: bool,
    /// How the consumer's connection frames messages: the hub makes each frame once, on its
    /// own thread (see `Hub::publish`).
    format: Format,
    /// Where the consumer's outbox goes.
    reply: oneshot::Sender<Outbox>,
}

/// Resolves once the stream has ended and every consumer that could want the rest has it.
pub type Finished = oneshot::Receiver<()>;

/// Starts the hub over `engine`. It runs until `shutdown`.
pub fn start(
    engine: impl Engine,
    config: StreamConfig,
    shutdown: ShutdownSignal,
) -> (StreamHandle, Finished) {
    let (joins, requests) = mpsc::unbounded();
    let (finished, done) = oneshot::channel();
    let live_edge = Arc::new(AtomicU64::new(engine.next_seq()));
    let edge = Arc::clone(&live_edge);
    runtime::spawn(hub::run(engine, config, requests, edge, finished, shutdown));
    (StreamHandle { joins, live_edge }, done)
}

impl StreamHandle {
    /// Joins the stream from `from` on (the live edge when `None`), framed in `format`. When the hub is gone (the
    /// server is stopping), the outbox is empty and closes the connection with 1001 like any
    /// other stream that stopped.
    pub async fn subscribe(&self, peer: SocketAddr, from: Option<u64>, format: Format) -> Outbox {
        let (reply, outbox) = oneshot::channel();
        let join = Join {
            peer,
            from: from.unwrap_or_else(|| self.live_edge.load(Ordering::Acquire)),
            asked: from.is_some(),
            format,
            reply,
        };
        if self.joins.unbounded_send(join).is_ok() {
            if let Ok(outbox) = outbox.await {
                return outbox;
            }
        }
        let (_silent, nothing) = mailbox(NonZeroUsize::MIN);
        Outbox::stream(stream::empty().boxed(), nothing, oneshot::channel().0)
    }
}

/// Serves `opened`: starts this node's publishing into it, if any (its handle is returned, for
/// the shutdown), then the hub over it.
pub fn start_from(
    opened: OpenedEngine,
    config: &Config,
    metrics: &Metrics,
    log: &ConnectionLog,
    shutdown: ShutdownSignal,
) -> (StreamHandle, Finished, Option<Publishing>) {
    let stream_config = StreamConfig {
        queue: config.queue,
        slow_timeout: config.slow_timeout,
        metrics: metrics.clone(),
        log: log.clone(),
    };
    match opened {
        OpenedEngine::Memory(engine) => {
            let (handle, finished) = start(engine, stream_config, shutdown);
            (handle, finished, None)
        }
        OpenedEngine::Redis { engine, publish } => {
            let publishing = publish.map(|(source, input)| engine.publish(source, input));
            let (handle, finished) = start(engine, stream_config, shutdown);
            (handle, finished, publishing)
        }
    }
}
