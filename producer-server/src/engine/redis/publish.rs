//! Publishing a node's own source (standard input, the counter) into the stream.
//!
//! # Nothing dropped, nothing added twice
//! A message taken from the source is kept until Redis has added it, and retried while Redis is
//! away. But a request can fail *after* Redis carried it out (the answer was lost with the
//! connection), and Redis 7.0 has no idempotent `XADD`: sent again, the message would be added
//! twice, under two numbers. So each publisher numbers its own messages (1, 2, 3, ... under a
//! random publisher id chosen at start) and adds them through a script that Redis runs
//! atomically: it keeps, under `KEY:publisher:ID`, the number of the publisher's last message
//! added, and adds only the messages of a batch numbered past it. A retried batch thus adds
//! exactly what the lost attempt did not. The mark expires a day after the publisher's last
//! batch; with `appendonly yes`, Redis logs it together with the entries, so a restart keeps
//! both or neither.
//!
//! Messages are sent in batches of whatever the source has ready (at most [`BATCH_MESSAGES`]
//! and about [`BATCH_BYTES`]): one round trip for many messages when the input is a file, one
//! per message when it is a slow log.
//!
//! # Stopping
//! The lines a node has read from standard input exist nowhere else: when the node is asked to
//! stop ([`Publishing::finish`], on SIGTERM or SIGINT), its publisher reads no more but adds what
//! it has (what standard input's reader already holds included), in order, retrying as ever,
//! within the node's shutdown limit. What is still not added when that is over is counted, so
//! that the node says in one line what it loses, and exits 1.

use super::link::Link;
use super::retry::Backoff;
use crate::runtime;
use crate::source::Source;
use async_tungstenite::tungstenite::Utf8Bytes;
use common::count as count_of;
use common::frame::now_micros;
use common::printable;
use futures::channel::oneshot;
use futures::future;
use futures::stream::Fuse;
use futures::{pin_mut, select, FutureExt, StreamExt};
use redis::aio::MultiplexedConnection;
use redis::Script;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The script that adds a batch: see the module's documentation.
///
/// KEYS[1] the stream, KEYS[2] the publisher's mark; ARGV[1] the `MAXLEN ~` to trim to, ARGV[2]
/// the mark's lifetime in milliseconds, ARGV[3] the publisher's number of the batch's first
/// message, then its messages as pairs: data, time. The `#!lua` line makes Redis refuse the
/// whole script up front when it is out of memory, rather than fail between two entries; a
/// failing `XADD` (a stream written with ids other than `0-*`) stops the batch with the mark
/// still true to what was added.
const ADD_BATCH: &str = r"#!lua
local done = tonumber(redis.call('GET', KEYS[2]) or '0')
local first = tonumber(ARGV[3])
local failure = nil
for i = 4, #ARGV, 2 do
  local number = first + (i - 4) / 2
  if number > done then
    local added = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '0-*',
                              'data', ARGV[i], 'time', ARGV[i + 1])
    if type(added) == 'table' and added.err then
      failure = added
      break
    end
    done = number
  end
end
redis.call('SET', KEYS[2], string.format('%d', done), 'PX', ARGV[2])
if failure then
  return failure
end
return done
";

/// How long a publisher's mark outlives its last batch: far longer than any retry.
const MARK_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Messages sent at most in one batch.
const BATCH_MESSAGES: usize = 256;

/// Bytes of data past which a batch takes no more messages.
const BATCH_BYTES: usize = 1024 * 1024;

/// One message waiting to be added.
struct Pending {
    /// Its text.
    data: Utf8Bytes,
    /// When it was taken from the source, in microseconds since the Unix epoch: the same on
    /// every attempt.
    time: u64,
}

/// A node's publisher.
pub struct Publisher {
    /// The way to Redis.
    pub link: Arc<Link>,
    /// The stream's key.
    pub key: String,
    /// The `MAXLEN ~` entries are trimmed to (`--history`).
    pub history: usize,
}

/// What a node publishes, which decides what stopping does with what its source already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Standard input: the lines the node has read are someone's data, gone when it exits, so
    /// stopping adds them too (those its reader holds included), but reads no more.
    Stdin,
    /// The counter: it makes its numbers when asked (at `--interval 0`, without end), so stopping
    /// asks it for no more.
    Counter,
}

/// A publisher at work, as the node's shutdown sees it: dropping this leaves the publisher
/// running for as long as the process does.
pub struct Publishing {
    /// Asks the publisher to add what it has read and take nothing more.
    stop: oneshot::Sender<()>,
    /// Ends (its sender dropped) when the publisher is over.
    over: oneshot::Receiver<()>,
    /// Messages taken from the source and not yet added, as the publisher last counted them: read
    /// when the shutdown cannot wait longer, while the publisher may still be retrying.
    unadded: Arc<AtomicUsize>,
    /// The way to Redis, to say why.
    link: Arc<Link>,
    /// The stream's key.
    key: String,
    /// What was read.
    input: Input,
}

/// Messages a node had read and could not add before it exits: they are lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpublished {
    /// How many.
    pub count: usize,
}

/// The publisher's side of [`Publishing`].
pub struct Control {
    /// Pulled by [`Publishing::finish`]; an error (the `Publishing` dropped) means never.
    stop: oneshot::Receiver<()>,
    /// Dropped when the publisher is over.
    _over: oneshot::Sender<()>,
    /// See [`Publishing::unadded`].
    unadded: Arc<AtomicUsize>,
}

impl Publisher {
    /// The handle the node's shutdown keeps, and what [`Publisher::run`] takes to answer it.
    pub fn control(&self, input: Input) -> (Publishing, Control) {
        let (stop_sender, stop) = oneshot::channel();
        let (over_sender, over) = oneshot::channel();
        let unadded = Arc::new(AtomicUsize::new(0));
        let publishing = Publishing {
            stop: stop_sender,
            over,
            unadded: Arc::clone(&unadded),
            link: Arc::clone(&self.link),
            key: self.key.clone(),
            input,
        };
        let control = Control {
            stop,
            _over: over_sender,
            unadded,
        };
        (publishing, control)
    }

    /// Adds every message of `source` to the stream, in order, until the source ends, or until
    /// `control` asks it to stop and it has added what it had read (see [`Input`]).
    pub async fn run(self, source: Source, input: Input, control: Control) {
        let Control {
            stop,
            _over,
            unadded,
        } = control;
        let publisher_id = format!("{:016x}", fastrand::u64(..));
        let mut writer = Writer {
            mark: format!("{}:publisher:{publisher_id}", self.key),
            publisher: &self,
            script: Script::new(ADD_BATCH),
            connection: None,
            backoff: Backoff::default(),
            refused: None,
        };
        let mut source = source.fuse();
        // Taken from the source and not yet in a batch: Redis takes batches of its own size.
        let mut held: VecDeque<Utf8Bytes> = VecDeque::new();
        let stop = async move {
            if stop.await.is_err() {
                future::pending::<()>().await;
            }
        }
        .fuse();
        pin_mut!(stop);
        let mut stopping = false;
        // The publisher's number of the next batch's first message.
        let mut first: u64 = 1;
        loop {
            let batch = if stopping {
                take_batch(&mut held, None)
            } else {
                let next = select! {
                    batch = next_batch(&mut source, &mut held).fuse() => Some(batch),
                    () = stop => None,
                };
                match next {
                    Some(batch) => batch,
                    None => {
                        stopping = true;
                        take_leftovers(input, &mut source, &mut held);
                        continue;
                    }
                }
            };
            let Some(batch) = batch else { break };
            unadded.store(batch.len() + held.len(), Ordering::Relaxed);
            {
                let add = writer.add(first, &batch).fuse();
                pin_mut!(add);
                let asked = !stopping
                    && select! {
                        () = add => false,
                        () = stop => true,
                    };
                if asked {
                    stopping = true;
                    take_leftovers(input, &mut source, &mut held);
                    unadded.store(batch.len() + held.len(), Ordering::Relaxed);
                }
                if stopping {
                    // The batch in hand goes first: what was read goes in in order.
                    add.await;
                }
            }
            first += batch.len() as u64;
            unadded.store(held.len(), Ordering::Relaxed);
        }
        if !stopping {
            log::info!(
                "the source ended after {} messages, all in stream {}: serving on",
                first - 1,
                self.key
            );
        }
    }
}

impl Publishing {
    /// Asks the publisher to add what it has read and take nothing more, and waits for it at most
    /// `limit`. What is still not added then is lost: said in one line, and returned.
    pub async fn finish(self, limit: Duration) -> Result<(), Unpublished> {
        // A publisher already over (its source ended) added everything: nobody to ask.
        let _ = self.stop.send(());
        let in_time = runtime::timeout(limit, self.over).await.is_some();
        let count = self.unadded.load(Ordering::Relaxed);
        if count == 0 {
            return Ok(());
        }
        let url = self.link.url();
        let why = if !in_time && self.link.is_away() {
            format!("Redis at {url} is unreachable")
        } else if !in_time {
            format!("Redis at {url} did not confirm them within the shutdown limit")
        } else {
            "the publisher ended before adding them".to_string()
        };
        let read = match self.input {
            Input::Stdin => count_of(count, "line").to_string() + " read from standard input",
            Input::Counter => count_of(count, "number").to_string() + " of the counter",
        };
        log::error!(
            "exiting with {read} not added to stream {}: {why}; they are lost",
            self.key
        );
        Err(Unpublished { count })
    }
}

/// The writing side of a publisher: its way to Redis and what Redis said, from batch to batch.
struct Writer<'a> {
    /// The publisher: its link, its stream and `MAXLEN ~`.
    publisher: &'a Publisher,
    /// The publisher's mark in Redis: see the module's documentation.
    mark: String,
    /// [`ADD_BATCH`].
    script: Script,
    /// The connection, while it works.
    connection: Option<MultiplexedConnection>,
    /// The pause before the next attempt.
    backoff: Backoff,
    /// What Redis last said when it refused a batch, so that it is logged once.
    refused: Option<String>,
}

impl Writer<'_> {
    /// Adds `batch`, whose first message is the publisher's number `first`, retrying until Redis
    /// has it.
    async fn add(&mut self, first: u64, batch: &[Pending]) {
        let link = &self.publisher.link;
        let key = &self.publisher.key;
        loop {
            let mut current = match self.connection.take() {
                Some(current) => current,
                None => match link.connect(super::link::ANSWER_LIMIT).await {
                    Ok(new) => new,
                    Err(error) => {
                        link.failed("connecting", &error);
                        self.backoff.pause().await;
                        continue;
                    }
                },
            };
            let mut invocation = self.script.key(key);
            invocation
                .key(&self.mark)
                .arg(self.publisher.history)
                .arg(MARK_LIFETIME.as_millis() as u64)
                .arg(first);
            for message in batch {
                invocation.arg(message.data.as_str()).arg(message.time);
            }
            match invocation.invoke_async::<u64>(&mut current).await {
                Ok(_) => {
                    link.served();
                    self.backoff.reset();
                    self.connection = Some(current);
                    self.refused = None;
                    return;
                }
                // Redis answered, and refused: it is there, but something must be repaired.
                Err(error) if error.code().is_some() && !is_transient(&error) => {
                    let said = printable(&error.to_string()).to_string();
                    if self.refused.as_deref() != Some(&said) {
                        log::error!(
                            "cannot add to stream {key} ({said}): its entries must have ids 0-N, made by XADD {key} '0-*'; repair the stream or give another --stream; the message waits and is retried"
                        );
                        self.refused = Some(said);
                    }
                    self.connection = Some(current);
                    self.backoff.pause().await;
                }
                Err(error) => {
                    link.failed("XADD", &error);
                    self.backoff.pause().await;
                }
            }
        }
    }
}

/// Whether Redis answered with an error that goes away by itself (loading its data after a
/// restart, busy with a script).
fn is_transient(error: &redis::RedisError) -> bool {
    matches!(
        error.code(),
        Some("LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN")
    )
}

/// The next batch: what is held, topped up with what `source` has ready; the source is waited
/// for only when nothing is held. `None` once the source is over and nothing is held.
async fn next_batch(
    source: &mut Fuse<Source>,
    held: &mut VecDeque<Utf8Bytes>,
) -> Option<Vec<Pending>> {
    if held.is_empty() {
        // Cancel-safe: a batch the source gives is held before anything else can happen.
        held.extend(source.next().await?);
    }
    take_batch(held, Some(source))
}

/// Up to a batch of what is held, taking more from what `source` has ready when given one and
/// `held` runs out; `None` when there is nothing.
fn take_batch(
    held: &mut VecDeque<Utf8Bytes>,
    mut source: Option<&mut Fuse<Source>>,
) -> Option<Vec<Pending>> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while batch.len() < BATCH_MESSAGES && bytes < BATCH_BYTES {
        if held.is_empty() {
            match source.as_mut().and_then(|s| s.next().now_or_never()) {
                Some(Some(more)) => held.extend(more),
                _ => break,
            }
            continue;
        }
        let Some(data) = held.pop_front() else { break };
        bytes += data.len();
        batch.push(Pending {
            data,
            time: now_micros(),
        });
    }
    (!batch.is_empty()).then_some(batch)
}

/// What stopping takes from `source`: see [`Input`].
fn take_leftovers(input: Input, source: &mut Fuse<Source>, held: &mut VecDeque<Utf8Bytes>) {
    if input == Input::Stdin {
        take_ready(source, held);
    }
}

/// Holds everything `source` has ready now. Standard input's reader gives what it holds, then
/// starts a read of the pipe and is pending: this takes what the node had read, not what is
/// still in the pipe.
fn take_ready(source: &mut Fuse<Source>, held: &mut VecDeque<Utf8Bytes>) {
    while let Some(Some(more)) = source.next().now_or_never() {
        held.extend(more);
    }
}
