//! The follower: one task per node that reads the stream's new entries with `XREAD BLOCK` after
//! the last id it has seen, and hands them to the hub through a bounded channel.
//!
//! The channel is what makes [`Engine::next`](crate::engine::Engine::next) cancel-safe (taking
//! from a channel loses nothing when dropped) and what applies back-pressure: when the hub stops
//! taking, the channel fills, the follower stops reading, and Redis keeps the entries.

use super::entry::{self, Entry, Unservable, MAX_TIME};
use super::link::Link;
use super::retry::Backoff;
use crate::message::{Published, MAX_DATA_LEN};
use common::printable;
use futures::channel::mpsc;
use futures::SinkExt;
use redis::aio::MultiplexedConnection;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one `XREAD` blocks in Redis waiting for an entry, in milliseconds: short enough that
/// a node whose hub is gone stops soon, long enough to cost nothing while the stream is quiet.
const BLOCK_MS: u64 = 2000;

/// How long an `XREAD` may go unanswered beyond its block before Redis counts as away.
const ANSWER_MARGIN: Duration = Duration::from_secs(3);

/// Entries read at most per `XREAD`: a round trip amortised over many, without holding a burst
/// far larger than the channel.
const READ_COUNT: usize = 512;

/// How often to look again at a stream that holds an id not of the form `0-N`, waiting for
/// someone to repair it.
const FOREIGN_ID_RECHECK: Duration = Duration::from_secs(5);

/// The least time between two warnings about skipped entries: a publisher that writes only
/// wrong entries must not flood the log.
const WARNING_GAP: Duration = Duration::from_secs(10);

/// One node's reader of the stream.
pub struct Follower {
    /// The way to Redis.
    pub link: Arc<Link>,
    /// The stream's key.
    pub key: String,
    /// The sequence number of the last entry read: the next `XREAD` asks for what follows it.
    pub after: u64,
    /// Where messages go, in order.
    pub live: mpsc::Sender<Arc<Published>>,
}

/// Warnings about entries skipped, at most one per [`WARNING_GAP`].
#[derive(Default)]
struct Warnings {
    /// When the last warning was written.
    last: Option<Instant>,
    /// Warnings held back since the last one written.
    held_back: u64,
}

impl Warnings {
    /// Writes `warning` unless another was written less than [`WARNING_GAP`] ago.
    fn warn(&mut self, warning: impl FnOnce() -> String) {
        if self.last.is_some_and(|last| last.elapsed() < WARNING_GAP) {
            self.held_back += 1;
            return;
        }
        let held_back = std::mem::take(&mut self.held_back);
        let more = if held_back > 0 {
            format!(" ({held_back} more such warnings held back)")
        } else {
            String::new()
        };
        log::warn!("{}{more}", warning());
        self.last = Some(Instant::now());
    }
}

/// What reading the next entries came to.
enum Read {
    /// Entries were handed on (or none came within the block): read on.
    More,
    /// The stream holds an id not of the form `0-N` here: look again later.
    Stuck,
    /// The hub is gone: stop.
    Done,
}

impl Follower {
    /// Follows the stream until the engine is dropped.
    pub async fn run(mut self) {
        let mut connection: Option<MultiplexedConnection> = None;
        let mut backoff = Backoff::default();
        let mut warnings = Warnings::default();
        let mut reported_foreign = None;
        let mut reconnecting = false;
        loop {
            if self.live.is_closed() {
                return;
            }
            let mut current = match connection.take() {
                Some(current) => current,
                None => match self
                    .link
                    .connect(Duration::from_millis(BLOCK_MS) + ANSWER_MARGIN)
                    .await
                {
                    Ok(new) => new,
                    Err(error) => {
                        self.link.failed("connecting", &error);
                        backoff.pause().await;
                        continue;
                    }
                },
            };
            if reconnecting {
                self.check_not_behind(&mut current).await;
                reconnecting = false;
            }
            let reply = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(format!("0-{}", self.after))
                .query_async::<redis::Value>(&mut current)
                .await;
            let entries = match reply {
                Ok(reply) => entry::read_entries(reply),
                Err(error) => {
                    self.link.failed("XREAD", &error);
                    reconnecting = true;
                    backoff.pause().await;
                    continue;
                }
            };
            self.link.served();
            backoff.reset();
            connection = Some(current);
            let entries = match entries {
                Ok(entries) => entries,
                Err(error) => {
                    log::error!("stream {}: {error}; retrying", self.key);
                    backoff.pause().await;
                    continue;
                }
            };
            match self
                .hand_on(entries, &mut warnings, &mut reported_foreign)
                .await
            {
                Read::More => {}
                Read::Stuck => crate::runtime::sleep(FOREIGN_ID_RECHECK).await,
                Read::Done => return,
            }
        }
    }

    /// Hands `entries` to the hub in order, skipping those it cannot serve.
    async fn hand_on(
        &mut self,
        entries: Vec<Entry>,
        warnings: &mut Warnings,
        reported_foreign: &mut Option<String>,
    ) -> Read {
        for entry in entries {
            match entry {
                Entry::Message { message, bad_time } => {
                    let seq = message.seq();
                    if bad_time {
                        warnings.warn(|| {
                            format!(
                                "stream {}: entry 0-{seq} has a time field that is not a whole number of microseconds from 0 to {MAX_TIME}: ignored, each node stamps message {seq} as it reads it",
                                self.key
                            )
                        });
                    }
                    if seq > self.after + 1 {
                        let (first, last) = (self.after + 1, seq - 1);
                        warnings.warn(|| {
                            format!(
                                "stream {}: entries 0-{first} to 0-{last} were trimmed or deleted before this node read them: consumers see them missing (raise --history on the publishers)",
                                self.key
                            )
                        });
                    }
                    self.after = seq;
                    if self.live.send(message).await.is_err() {
                        return Read::Done;
                    }
                }
                Entry::Skipped { seq, why } => {
                    warnings.warn(|| match why {
                        Unservable::NoText => format!(
                            "stream {}: entry 0-{seq} has no text data field: skipped, consumers see {seq} missing (publish with XADD {} '0-*' data TEXT)",
                            self.key, self.key
                        ),
                        Unservable::TooLong { len } => format!(
                            "stream {}: entry 0-{seq} has {len} bytes of data, over the {MAX_DATA_LEN} a message may hold: skipped, consumers see {seq} missing (publish longer texts as several entries)",
                            self.key
                        ),
                    });
                    self.after = seq;
                }
                Entry::ForeignId { id } => {
                    if reported_foreign.as_deref() != Some(&id) {
                        log::error!(
                            "stream {key}: entry {shown} has an id not of the form 0-N, so it has no place in the numbering and is not served, nor is anything after it; it was added with an id other than '0-*'. Repair: XDEL {key} {shown}, then XSETID {key} 0-{after}; or give the nodes another --stream",
                            key = self.key,
                            shown = printable(&id),
                            after = self.after,
                        );
                        *reported_foreign = Some(id);
                    }
                    return Read::Stuck;
                }
            }
        }
        Read::More
    }

    /// After Redis came back: says so if it came back without the entries this node already
    /// served (it lost its data: no persistence), since new entries will reuse their numbers.
    async fn check_not_behind(&self, connection: &mut MultiplexedConnection) {
        let info = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&self.key)
            .query_async::<redis::Value>(connection)
            .await;
        let last = match info.map(entry::last_generated_id) {
            Ok(Ok(id)) => entry::seq_of_id(&id).unwrap_or(0),
            // No such key: the stream is gone altogether.
            Err(error) if error.code() == Some("ERR") => 0,
            _ => return,
        };
        if last < self.after {
            log::error!(
                "Redis at {} came back with stream {} at 0-{last}, before the 0-{} this node already served: Redis lost entries (run it with appendonly yes). New entries reuse those numbers and this node serves none of them until 0-{}; restart the nodes and their consumers to start the stream over",
                self.link.url(),
                self.key,
                self.after,
                self.after + 1
            );
        }
    }
}
