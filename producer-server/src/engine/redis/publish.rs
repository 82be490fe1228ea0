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

use super::link::Link;
use super::retry::Backoff;
use crate::source::Source;
use async_tungstenite::tungstenite::Utf8Bytes;
use common::frame::now_micros;
use common::printable;
use futures::{FutureExt, StreamExt};
use redis::aio::MultiplexedConnection;
use redis::Script;
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

impl Publisher {
    /// Adds every message of `source` to the stream, in order, until the source ends.
    pub async fn run(self, source: Source) {
        let publisher_id = format!("{:016x}", fastrand::u64(..));
        let mark = format!("{}:publisher:{publisher_id}", self.key);
        let script = Script::new(ADD_BATCH);
        // Redis takes batches of its own size.
        let mut source = source.flat_map(futures::stream::iter).fuse();
        let mut connection: Option<MultiplexedConnection> = None;
        let mut backoff = Backoff::default();
        let mut refused: Option<String> = None;
        // The publisher's number of the next batch's first message.
        let mut first: u64 = 1;
        while let Some(batch) = next_batch(&mut source).await {
            loop {
                let mut current = match connection.take() {
                    Some(current) => current,
                    None => match self.link.connect(super::link::ANSWER_LIMIT).await {
                        Ok(new) => new,
                        Err(error) => {
                            self.link.failed("connecting", &error);
                            backoff.pause().await;
                            continue;
                        }
                    },
                };
                let mut invocation = script.key(&self.key);
                invocation
                    .key(&mark)
                    .arg(self.history)
                    .arg(MARK_LIFETIME.as_millis() as u64)
                    .arg(first);
                for message in &batch {
                    invocation.arg(message.data.as_str()).arg(message.time);
                }
                match invocation.invoke_async::<u64>(&mut current).await {
                    Ok(_) => {
                        self.link.served();
                        backoff.reset();
                        connection = Some(current);
                        refused = None;
                        break;
                    }
                    // Redis answered, and refused: it is there, but something must be repaired.
                    Err(error) if error.code().is_some() && !is_transient(&error) => {
                        let said = printable(&error.to_string()).to_string();
                        if refused.as_deref() != Some(&said) {
                            log::error!(
                                "cannot add to stream {} ({said}): its entries must have ids 0-N, made by XADD {} '0-*'; repair the stream or give another --stream; the message waits and is retried",
                                self.key,
                                self.key
                            );
                            refused = Some(said);
                        }
                        connection = Some(current);
                        backoff.pause().await;
                    }
                    Err(error) => {
                        self.link.failed("XADD", &error);
                        backoff.pause().await;
                    }
                }
            }
            first += batch.len() as u64;
        }
        log::info!(
            "the source ended after {} messages, all in stream {}: serving on",
            first - 1,
            self.key
        );
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

/// The next message of `source`, waiting for it, and those that are ready after it, up to a
/// batch; `None` once the source is over.
async fn next_batch(
    source: &mut (impl futures::Stream<Item = Utf8Bytes> + Unpin),
) -> Option<Vec<Pending>> {
    let pending = |data: Utf8Bytes| Pending {
        data,
        time: now_micros(),
    };
    let mut batch = vec![pending(source.next().await?)];
    let mut bytes = batch[0].data.len();
    while batch.len() < BATCH_MESSAGES && bytes < BATCH_BYTES {
        match source.next().now_or_never() {
            Some(Some(data)) => {
                bytes += data.len();
                batch.push(pending(data));
            }
            _ => break,
        }
    }
    Some(batch)
}
