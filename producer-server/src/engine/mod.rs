//! Where a broadcast stream's messages are numbered and kept: the engine, behind the hub.
//!
//! The hub (see [`crate::stream`]) takes live messages from its engine (what is ready, up to a
//! burst), at the pace of its slowest consumer, and asks it for history when a consumer resumes. Sessions, the page
//! and the client never know which engine serves them.
//!
//! - [`memory`]: the default: a source in this process, numbered here, history in a ring.
//! - [`redis`]: a Redis stream, numbered and kept by Redis, so that several nodes serve it.

pub mod memory;
pub mod redis;

use crate::message::Published;
use crate::queue::Outgoing;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::BoxStream;
use std::sync::Arc;

/// What a resuming subscriber is owed before the live messages: a lost-range notice for what is
/// no longer held, then the messages held, in order. Lazy, so that an engine may page it.
pub type Backlog = BoxStream<'static, Outgoing>;

/// A broadcast stream's numbering and history.
pub trait Engine: Send + 'static {
    /// The next live message, in sequence order, waiting for it; `None` once the stream is over.
    /// `listeners` is how many subscribers would receive it: an engine whose source should not
    /// run unattended waits while it is zero. Cancel-safe: the hub races it against joins and
    /// departures, and calls it only once every subscriber has taken all it was given. Once it
    /// gave `None`, it gives `None` again.
    fn next(&mut self, listeners: usize) -> BoxFuture<'_, Option<Arc<Published>>>;

    /// Adds to `burst` the live messages ready now, in order, until it holds `most`, without
    /// waiting: the hub takes the rest of a burst this way after [`Engine::next`] gave its first
    /// message. The end of the stream is left for the next call to [`Engine::next`], once every
    /// subscriber has taken this burst.
    fn take_ready(&mut self, listeners: usize, most: usize, burst: &mut Vec<Arc<Published>>) {
        while burst.len() < most {
            match self.next(listeners).now_or_never() {
                Some(Some(message)) => burst.push(message),
                Some(None) | None => break,
            }
        }
    }

    /// The sequence number the next live message will have: where a new subscriber joins.
    fn next_seq(&self) -> u64;

    /// What a subscriber that asks from `from` is owed before the live messages from `until` on.
    fn replay(&self, from: u64, until: u64) -> Backlog;

    /// How many messages it holds for replays now.
    fn history_len(&self) -> usize;
}
