//! The seed's producer: `1`, `2`, `3`, ... one per interval.

use crate::outgoing::{Outgoing, Published};
use crate::runtime;
use futures::channel::mpsc;
use futures::SinkExt;
use std::time::{Duration, Instant};

/// Counts from `first` into `queue`, one message per `interval` (as fast as the queue takes them
/// when `interval` is zero). A full queue makes it wait: the seed's flow control, so a slow
/// reader slows only its own counter. Returns when the queue's reader is gone.
pub async fn count(first: u64, interval: Duration, mut queue: mpsc::Sender<Outgoing>) {
    let mut due = Instant::now();
    for seq in first.. {
        if !interval.is_zero() {
            // Aiming at start + n * interval, not sleeping a fixed time, keeps the rate exact
            // however long each send waited.
            due += interval;
            let now = Instant::now();
            if due > now {
                runtime::sleep(due - now).await;
            }
        }
        let message = Published::now(seq, seq.to_string());
        if queue.send(Outgoing::Message(message)).await.is_err() {
            return;
        }
    }
}
