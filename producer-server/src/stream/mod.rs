//! Broadcast mode: one stream for every connection, and everything about its life.
//!
//! A consumer joins (from the live edge, or from `?from=N` with a replay first), receives at the
//! pace of the slowest consumer, leaves, or is let go as too slow; the stream may end (standard
//! input closed), and then the server exits once every consumer has all of it. All of this is
//! decided by one task, the hub (`hub.rs`), over an [`crate::engine::Engine`] that numbers and
//! keeps the messages. The rest of the server holds a [`StreamHandle`] to join, and waits on
//! [`Finished`] to know when the stream is done with.

mod hub;

use crate::config::{Config, SourceKind};
use crate::engine::memory::{MemoryEngine, Unattended};
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::queue::{queue, Outbox, Outgoing};
use crate::runtime;
use crate::shutdown::ShutdownSignal;
use crate::source::{counter, stdin, Source};
use futures::channel::{mpsc, oneshot};
use futures::stream::{self, StreamExt};
use futures::SinkExt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
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
}

/// A way to join the stream; one per connection.
#[derive(Clone)]
pub struct StreamHandle {
    /// Join requests, to the hub.
    joins: mpsc::Sender<Join>,
}

/// A request to join the stream.
struct Join {
    /// Who asks, for the logs.
    peer: SocketAddr,
    /// The first sequence number wanted; `None` for the live edge.
    from: Option<u64>,
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
    let (joins, requests) = mpsc::channel(64);
    let (finished, done) = oneshot::channel();
    runtime::spawn(hub::run(engine, config, requests, finished, shutdown));
    (StreamHandle { joins }, done)
}

impl StreamHandle {
    /// Joins the stream from `from` on (the live edge when `None`). When the hub is gone (the
    /// server is stopping), the outbox is empty and closes the connection with 1001 like any
    /// other stream that stopped.
    pub async fn subscribe(&self, peer: SocketAddr, from: Option<u64>) -> Outbox {
        let (reply, outbox) = oneshot::channel();
        let join = Join { peer, from, reply };
        if self.joins.clone().send(join).await.is_ok() {
            if let Ok(outbox) = outbox.await {
                return outbox;
            }
        }
        let (_silent, nothing) = queue::<Outgoing>(NonZeroUsize::MIN);
        Outbox::stream(stream::empty().boxed(), nothing, oneshot::channel().0)
    }
}

/// Starts the stream the command line asks for: its source, the engine over it, the hub.
pub fn start_from(
    config: &Config,
    metrics: &Metrics,
    shutdown: ShutdownSignal,
) -> (StreamHandle, Finished) {
    let (source, unattended): (Source, _) = match config.source {
        SourceKind::Stdin => (stdin::lines().boxed(), Unattended::RunsOnceAttended),
        SourceKind::Counter if config.interval.is_zero() => {
            (counter::source(config.interval).boxed(), Unattended::Waits)
        }
        SourceKind::Counter => (counter::source(config.interval).boxed(), Unattended::Runs),
    };
    let engine = MemoryEngine::new(source, unattended, config.history);
    let stream_config = StreamConfig {
        queue: config.queue,
        slow_timeout: config.slow_timeout,
        metrics: metrics.clone(),
    };
    start(engine, stream_config, shutdown)
}
