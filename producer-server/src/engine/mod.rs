//! Where a broadcast stream's messages are numbered and kept; the hub sits on top.
//!
//! Placeholder of the lead's engine boundary, written from its announced interface so that the
//! Redis engine is checked against it before the broadcast core lands; on merge, the lead's file
//! wins and keeps `pub mod redis;`.

pub mod redis;

use crate::outgoing::{Outgoing, Published};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::sync::Arc;

/// Where a broadcast stream's messages are numbered and kept; the hub sits on top.
pub trait Engine: Send + 'static {
    /// The next live message of the stream, in sequence order, waiting for it; `None` once the
    /// stream is over. Cancel-safe: the hub races it against subscribe requests and departures.
    fn next(&mut self) -> BoxFuture<'_, Option<Arc<Published>>>;
    /// The sequence number the next live message will have (the live edge), for new subscribers.
    fn next_seq(&self) -> u64;
    /// What a subscriber that asks from `from` gets before the live messages from `until` on:
    /// `Outgoing::Lost` first for what is no longer held, then the messages held in
    /// [from, until), in order.
    fn replay(&self, from: u64, until: u64) -> BoxStream<'static, Outgoing>;
}
