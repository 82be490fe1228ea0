//! The Redis engine: a Redis Stream numbers and keeps the messages, so that every node started
//! with the same Redis and key serves one and the same stream.
//!
//! - Redis numbers entries: `XADD KEY 0-* ...` gives `0-1`, `0-2`, ... atomically whoever adds
//!   them, and message N is entry `0-N`. Any program publishes with `redis-cli XADD KEY '0-*' data
//!   TEXT [time MICROS]`.
//! - [`follow`]: each node reads new entries with `XREAD BLOCK` after the last id it has seen.
//! - [`replay`]: a subscriber's earlier messages come from `XRANGE`, a page at a time.
//! - [`publish`]: a node's own source goes into the stream, nothing dropped, nothing added twice.
//! - [`entry`]: what each entry means; [`link`]: connections and outages; [`retry`]: backoff.

mod entry;
mod follow;
mod link;
mod publish;
mod replay;
mod retry;

pub use publish::{Input, Publishing, Unpublished};

use crate::engine::{Backlog, Engine};
use crate::message::Published;
use crate::metrics::Metrics;
use crate::runtime;
use crate::source::Source;
use common::printable;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use link::Link;
use std::sync::Arc;

/// Messages read ahead of the hub: enough to keep it busy during an `XREAD` round trip.
const LIVE_BUFFER: usize = 1024;

/// Which stream of which Redis.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// The stream's key.
    pub key: String,
    /// The `MAXLEN ~` publishers trim the stream to (`--history`).
    pub history: usize,
}

/// Why the engine cannot start. Each is final: the node exits with the message.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Redis does not answer at that address.
    #[error("cannot reach Redis at {url}: {cause}; start it, or name the right one with --redis redis://HOST:PORT")]
    Unreachable {
        /// The address given.
        url: String,
        /// What failed, as the client says it.
        cause: String,
    },
    /// The key holds something that is not a stream.
    #[error("key {key} at {url} is not a stream ({cause}); give another --stream")]
    NotAStream {
        /// The key.
        key: String,
        /// The address given.
        url: String,
        /// What Redis said.
        cause: String,
    },
    /// The stream was numbered by something other than `XADD KEY 0-*`: its numbers are not
    /// sequence numbers, and they are never renumbered.
    #[error("stream {key} at {url} has ids not of the form 0-N (the last is {last}): it was written with XADD ids other than '0-*'; give another --stream, or delete it (DEL {key}) if nothing in it is needed")]
    ForeignIds {
        /// The key.
        key: String,
        /// The address given.
        url: String,
        /// The stream's last id, escaped.
        last: String,
    },
}

/// A node's view of a Redis stream.
pub struct RedisEngine {
    /// The way to Redis, shared with the follower, replays and the publisher.
    link: Arc<Link>,
    /// The settings.
    settings: RedisSettings,
    /// Messages read by the follower, in order.
    live: mpsc::Receiver<Arc<Published>>,
    /// The sequence number of the next live message: past the last one taken.
    next_seq: u64,
}

impl RedisEngine {
    /// Tells `metrics` from now on whether Redis is reachable (`/healthz`).
    pub fn report_health_to(&self, metrics: Metrics) {
        self.link.report_health_to(metrics);
    }

    /// Connects to Redis, finds where the stream stands, and starts following it from there.
    pub async fn start(settings: RedisSettings) -> Result<RedisEngine, StartError> {
        let unreachable = |cause: String| StartError::Unreachable {
            url: settings.url.clone(),
            cause: printable(&cause).to_string(),
        };
        let link = Arc::new(Link::new(&settings.url).map_err(|e| unreachable(e.to_string()))?);
        let mut connection = link
            .connect(link::ANSWER_LIMIT)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let info = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&settings.key)
            .query_async::<redis::Value>(&mut connection)
            .await;
        let last_seq = match info {
            Ok(info) => {
                let last =
                    entry::last_generated_id(info).map_err(|e| unreachable(e.to_string()))?;
                match entry::seq_of_id(&last) {
                    Some(seq) => seq,
                    // An empty stream made by XGROUP CREATE ... MKSTREAM starts at 0-0.
                    None if last == "0-0" => 0,
                    None => {
                        return Err(StartError::ForeignIds {
                            key: settings.key.clone(),
                            url: settings.url.clone(),
                            last: printable(&last).to_string(),
                        })
                    }
                }
            }
            // Redis says "no such key": the stream starts with its first XADD.
            Err(error) if error.code() == Some("ERR") => 0,
            Err(error) if error.code() == Some("WRONGTYPE") => {
                return Err(StartError::NotAStream {
                    key: settings.key.clone(),
                    url: settings.url.clone(),
                    cause: printable(&error.to_string()).to_string(),
                })
            }
            Err(error) => return Err(unreachable(error.to_string())),
        };
        let (sender, live) = mpsc::channel(LIVE_BUFFER);
        let follower = follow::Follower {
            link: Arc::clone(&link),
            key: settings.key.clone(),
            after: last_seq,
            live: sender,
        };
        runtime::spawn(follower.run());
        log::info!(
            "serving stream {} of Redis at {} from 0-{}",
            settings.key,
            settings.url,
            last_seq + 1
        );
        Ok(RedisEngine {
            link,
            settings,
            live,
            next_seq: last_seq + 1,
        })
    }

    /// Publishes every message of `source` (what `input` is) into the stream, as a task of its
    /// own: the messages reach this node's consumers, like every node's, through the stream. The
    /// node's shutdown finishes it with the handle returned.
    pub fn publish(&self, source: Source, input: Input) -> Publishing {
        let publisher = publish::Publisher {
            link: Arc::clone(&self.link),
            key: self.settings.key.clone(),
            history: self.settings.history,
        };
        let (publishing, control) = publisher.control(input);
        runtime::spawn(publisher.run(source, input, control));
        publishing
    }
}

impl Engine for RedisEngine {
    fn next(&mut self, _listeners: usize) -> BoxFuture<'_, Option<Arc<Published>>> {
        // Taken whether anyone listens or not: Redis keeps the history, and a node that stopped
        // taking would fill its channel with stale entries that a later joiner would get as live.
        async move {
            // Taking from a channel is cancel-safe: a message is either taken or still there.
            let message = self.live.next().await?;
            self.next_seq = message.seq() + 1;
            Some(message)
        }
        .boxed()
    }

    fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn replay(&self, from: u64, until: u64) -> Backlog {
        replay::replay(
            Arc::clone(&self.link),
            self.settings.key.clone(),
            from,
            until,
        )
    }

    fn history_len(&self) -> usize {
        // Redis holds the history, not this node; asking it would cost a round trip per message.
        0
    }
}
