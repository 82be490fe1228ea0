//! The seed's producer: `1`, `2`, `3`, ... one per interval.

use crate::outgoing::{Outgoing, Published, QueueSender};
use crate::runtime;
use async_tungstenite::tungstenite::Utf8Bytes;
use futures::stream::{self, Stream};
use futures::StreamExt;
use std::time::{Duration, Instant};

/// The numbers from `first` on, as text, one per `interval` (as fast as they are taken when
/// `interval` is zero).
pub fn numbers(first: u64, interval: Duration) -> impl Stream<Item = Utf8Bytes> + Send {
    let start = (first, Instant::now());
    stream::unfold(start, move |(seq, mut due)| async move {
        if !interval.is_zero() {
            // Aiming at start + n * interval, not sleeping a fixed time, keeps the rate exact
            // however long each message waited to be taken.
            due += interval;
            let now = Instant::now();
            if due > now {
                runtime::sleep(due - now).await;
            }
        }
        // Formatted on the stack, then copied once into the frame's shared buffer.
        let text = Utf8Bytes::from(itoa::Buffer::new().format(seq));
        Some((text, (seq + 1, due)))
    })
}

/// One connection's own counter (per-connection mode), from `first`, into its queue. A full
/// queue makes it wait: the seed's flow control, so a slow reader slows only its own counter.
/// Returns when the connection is gone.
pub async fn feed(first: u64, interval: Duration, mut queue: QueueSender) {
    let numbers = numbers(first, interval);
    futures::pin_mut!(numbers);
    for seq in first.. {
        let Some(data) = numbers.next().await else {
            return;
        };
        if queue
            .send(Outgoing::Message(Published::now(seq, data)))
            .await
            .is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_first() {
        let first: Vec<Utf8Bytes> =
            futures::executor::block_on(numbers(41, Duration::ZERO).take(3).collect());
        let first: Vec<&str> = first.iter().map(Utf8Bytes::as_str).collect();
        assert_eq!(first, ["41", "42", "43"]);
    }
}
