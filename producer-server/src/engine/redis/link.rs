//! The way to one Redis: its address, new connections, and whether it is away.
//!
//! Every part of the engine (the follower, replays, the publisher) meets the same outage at the
//! same time: the link says so once in the log when the first notices it, and once when one of
//! them is served again, so a Redis restart is two log lines however many consumers replay.

use crate::metrics::Metrics;
use common::printable;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisResult};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long opening a connection may take: a Redis that does not answer by then is away.
const CONNECT_LIMIT: Duration = Duration::from_secs(2);

/// The way to one Redis, shared by every part of the engine.
pub struct Link {
    /// The client, which holds the parsed address.
    client: Client,
    /// The address as the user gave it, for messages.
    url: String,
    /// Whether Redis is known to be away, so that an outage is logged once.
    away: AtomicBool,
    /// The connection shared by requests that answer at once (replays), made on first use and
    /// dropped when it fails.
    shared: Mutex<Option<MultiplexedConnection>>,
    /// Where the server's health is told, once the server has said where: `/healthz` answers
    /// 503 while Redis is away, so that a load balancer sends consumers to another node.
    health: OnceLock<Metrics>,
}

/// How long a request that answers at once may take before Redis counts as away.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(3);

impl Link {
    /// The link to the Redis at `url` (`redis://HOST:PORT[/DB]`); nothing is connected yet.
    pub fn new(url: &str) -> RedisResult<Link> {
        Ok(Link {
            client: Client::open(url)?,
            url: url.to_string(),
            away: AtomicBool::new(false),
            shared: Mutex::new(None),
            health: OnceLock::new(),
        })
    }

    /// Tells `metrics` from now on whether Redis is reachable.
    pub fn report_health_to(&self, metrics: Metrics) {
        metrics.set_engine_reachable(!self.away.load(Ordering::Acquire));
        let _ = self.health.set(metrics);
    }

    /// Whether Redis is known to be away: the last request failed, and none worked since.
    pub fn is_away(&self) -> bool {
        self.away.load(Ordering::Acquire)
    }

    /// The address, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A connection of its own, whose requests fail after `answer_limit` without an answer (a
    /// Redis stopped with SIGSTOP keeps its sockets open: only time tells).
    pub async fn connect(&self, answer_limit: Duration) -> RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_LIMIT))
            .set_response_timeout(Some(answer_limit));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// The shared connection for requests that answer at once, connecting if there is none.
    pub async fn shared(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(connection) = self.lock_shared().clone() {
            return Ok(connection);
        }
        let connection = self.connect(ANSWER_LIMIT).await?;
        // Two replays may connect at once after an outage; the second connection is kept.
        *self.lock_shared() = Some(connection.clone());
        Ok(connection)
    }

    /// Says that a request failed: the shared connection is made again next time, and the first
    /// failure of an outage is logged.
    pub fn failed(&self, what: &str, error: &redis::RedisError) {
        self.lock_shared().take();
        if !self.away.swap(true, Ordering::AcqRel) {
            if let Some(health) = self.health.get() {
                health.set_engine_reachable(false);
            }
            log::warn!(
                "Redis at {} is unreachable ({what}: {}): connected consumers stay connected; retrying with backoff",
                self.url,
                printable(&error.to_string())
            );
        }
    }

    /// Says that a request worked: the end of an outage is logged.
    pub fn served(&self) {
        if self.away.swap(false, Ordering::AcqRel) {
            if let Some(health) = self.health.get() {
                health.set_engine_reachable(true);
            }
            log::info!("Redis at {} answers again: resuming", self.url);
        }
    }

    /// The shared connection slot; a panic elsewhere while it was held leaves nothing to repair.
    fn lock_shared(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}
