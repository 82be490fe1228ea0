//! Which engine a broadcast stream runs on, as the command line says: Redis with `--redis`, the
//! in-memory one otherwise.
//!
//! Opening is a step of its own, before the server listens: a Redis that cannot be reached at
//! start is the user's to fix, so the server says so in one line and exits rather than listen
//! for consumers it could serve nothing.

use crate::config::{Config, SourceKind};
use crate::engine::memory::{MemoryEngine, Unattended};
use crate::engine::redis::{Input, RedisEngine, RedisSettings, StartError};
use crate::metrics::Metrics;
use crate::source::{counter, stdin, Source};
use futures::StreamExt;

/// A broadcast stream's engine, ready and not yet served.
pub enum OpenedEngine {
    /// The default: this process numbers and keeps the messages of its own source.
    Memory(MemoryEngine),
    /// A Redis stream shared by every node with the same Redis and key.
    Redis {
        /// This node's view of the stream, already following it.
        engine: RedisEngine,
        /// This node's own source, to publish into the stream once served (`--source stdin` or
        /// `counter`), and which of them it is; `None` with `--source none`.
        publish: Option<(Source, Input)>,
    },
}

/// Opens the engine the command line asks for; `None` in per-connection mode, which has none.
pub async fn open(config: &Config, metrics: &Metrics) -> Result<Option<OpenedEngine>, StartError> {
    if !config.is_broadcast() {
        return Ok(None);
    }
    let Some(url) = &config.redis else {
        let (source, unattended) = match config.source() {
            SourceKind::Stdin => (stdin::lines().boxed(), Unattended::RunsOnceAttended),
            SourceKind::Counter if config.interval.is_zero() => {
                (counter::source(config.interval).boxed(), Unattended::Waits)
            }
            SourceKind::Counter => (counter::source(config.interval).boxed(), Unattended::Runs),
            // The configuration check refuses it: there is nothing to serve.
            SourceKind::None => (futures::stream::empty().boxed(), Unattended::Runs),
        };
        let engine = MemoryEngine::new(source, unattended, config.history);
        return Ok(Some(OpenedEngine::Memory(engine)));
    };
    let settings = RedisSettings {
        url: url.clone(),
        key: config.stream.clone(),
        history: config.history,
    };
    let engine = RedisEngine::start(settings).await?;
    engine.report_health_to(metrics.clone());
    // Into Redis, a source runs at its own pace: Redis keeps what nobody has read yet, within
    // --history, and every node serves it.
    let publish: Option<(Source, Input)> = match config.source() {
        SourceKind::Stdin => Some((stdin::lines().boxed(), Input::Stdin)),
        SourceKind::Counter => Some((counter::source(config.interval).boxed(), Input::Counter)),
        SourceKind::None => None,
    };
    Ok(Some(OpenedEngine::Redis { engine, publish }))
}
