//! The seed's producer: `1`, `2`, `3`, ... one per interval.

use crate::metrics::Metrics;
use crate::queue::{End, QueueSender};
use crate::runtime;
use crate::shared_texts::SharedTexts;
use async_tungstenite::tungstenite::Utf8Bytes;
use common::close;
use common::frame::now_micros;
use common::frame::MAX_SEQ;
use futures::stream::{self, Stream};
use futures::StreamExt;
use std::time::{Duration, Instant};

/// The numbers from `first` to [`MAX_SEQ`], one per `interval`. At `--interval 0` the counters
/// write their numbers by the chunk instead (`feed_at_once`, `at_once`).
pub fn numbers(first: u64, interval: Duration) -> impl Stream<Item = u64> + Send {
    let start = (first, Instant::now());
    stream::unfold(start, move |(seq, mut due)| async move {
        if seq > MAX_SEQ {
            return None;
        }
        // Aiming at start + n * interval, not sleeping a fixed time, keeps the rate exact
        // however long each message waited to be taken; but after a reader stalled, the missed
        // ticks are not sent in a burst: the pace resumes from now.
        due += interval;
        let now = Instant::now();
        if due > now {
            runtime::sleep(due - now).await;
        } else {
            due = now;
        }
        Some((seq, (seq + 1, due)))
    })
}

/// The data of [`numbers`] from 1, for the broadcast hub, which numbers messages itself in the
/// same order.
pub fn source(interval: Duration) -> impl Stream<Item = Vec<Utf8Bytes>> + Send {
    if !interval.is_zero() {
        // One number a tick.
        let texts =
            numbers(1, interval).map(|seq| vec![Utf8Bytes::from(itoa::Buffer::new().format(seq))]);
        return texts.left_stream();
    }
    at_once(1).right_stream()
}

/// The numbers from `first` to [`MAX_SEQ`], all due at once: written by chunks into buffers
/// their messages share.
fn at_once(first: u64) -> impl Stream<Item = Vec<Utf8Bytes>> + Send {
    stream::iter((first..=MAX_SEQ).step_by(CHUNK)).map(|first| {
        let last = MAX_SEQ.min(first + CHUNK as u64 - 1);
        let mut texts = SharedTexts::with_capacity(CHUNK, CHUNK * 16);
        let mut digits = itoa::Buffer::new();
        for seq in first..=last {
            texts.push(|buffer| buffer.extend_from_slice(digits.format(seq).as_bytes()));
        }
        texts.into_texts().collect()
    })
}

/// Numbers written together at most at `--interval 0`.
const CHUNK: usize = 256;

/// One connection's own counter (per-connection mode), from `first`, into its queue. A full
/// queue makes it wait: the seed's flow control, so a slow reader slows only its own counter.
/// The queue holds each number's time stamp: the connection's outbox knows the numbers follow
/// each other from `first`. Returns when the connection is gone, or the count is over.
pub async fn feed(first: u64, interval: Duration, queue: QueueSender<u64>, metrics: Metrics) {
    let finished = if interval.is_zero() {
        feed_at_once(first, &queue, &metrics).await
    } else {
        feed_paced(first, interval, &queue, &metrics).await
    };
    if finished {
        queue.end(End {
            code: close::NORMAL,
            reason: "the counter reached 2^53 - 1",
        });
    }
}

/// One number a tick; whether the count is over (not the connection gone).
async fn feed_paced(
    first: u64,
    interval: Duration,
    queue: &QueueSender<u64>,
    metrics: &Metrics,
) -> bool {
    let numbers = numbers(first, interval);
    futures::pin_mut!(numbers);
    while numbers.next().await.is_some() {
        if queue.send(now_micros()).await.is_err() {
            return false;
        }
        metrics.produced();
    }
    true
}

/// At `--interval 0` every number is due at once: once the queue has room, the counter fills
/// all of it, and the numbers it queues together share one look at the clock (a sixth of the
/// server's time when it read the clock for each). Whether the count is over.
async fn feed_at_once(first: u64, queue: &QueueSender<u64>, metrics: &Metrics) -> bool {
    let mut left = (MAX_SEQ + 1).saturating_sub(first);
    while left > 0 {
        // Waits while the queue is full.
        if queue.send(now_micros()).await.is_err() {
            return false;
        }
        let mut queued = 1;
        let together = queue
            .room()
            .min(usize::try_from(left - 1).unwrap_or(usize::MAX));
        if together > 0 {
            let time = now_micros();
            // Nobody else fills this queue: its room stays until the counter takes it, unless
            // the connection is gone, which the next wait finds.
            queued += (0..together)
                .take_while(|_| queue.try_send(time).is_ok())
                .count();
        }
        metrics.produced_many(queued);
        left -= queued as u64;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_texts(first: u64, n: usize) -> Vec<String> {
        futures::executor::block_on(
            numbers(first, Duration::ZERO)
                .map(|seq| seq.to_string())
                .take(n)
                .collect(),
        )
    }

    #[test]
    fn counts_from_first() {
        assert_eq!(first_texts(41, 3), ["41", "42", "43"]);
    }

    #[test]
    fn stops_at_the_largest_sequence_number() {
        assert_eq!(first_texts(MAX_SEQ, 3), [MAX_SEQ.to_string()]);
    }

    #[test]
    fn a_connection_counter_at_once_fills_its_queue_in_order_up_to_the_last_number() {
        use crate::queue::{queue, Outbox, Outgoing};
        let (sender, receiver) = queue(std::num::NonZeroUsize::new(4).unwrap());
        let first = MAX_SEQ - 10;
        let metrics = Metrics::new();
        let mut outbox = Outbox::counter(first, receiver);
        let (_, seqs) = runtime::block_on(futures::future::join(
            feed(first, Duration::ZERO, sender, metrics.clone()),
            async {
                let mut seqs = Vec::new();
                while let Some(Outgoing::Message(message)) = outbox.next().await {
                    seqs.push(message.seq());
                }
                seqs
            },
        ));
        assert_eq!(seqs, (first..=MAX_SEQ).collect::<Vec<_>>());
        assert_eq!(outbox.end().code, close::NORMAL);
        assert!(metrics
            .encode()
            .contains("prodcon_messages_produced_total 11\n"));
    }

    #[test]
    fn the_broadcast_source_gives_each_number_as_its_own_text_across_chunks() {
        let expected: Vec<String> = (1..=3 * CHUNK as u64 + 5).map(|n| n.to_string()).collect();
        let texts: Vec<String> = futures::executor::block_on(
            source(Duration::ZERO)
                .flat_map(stream::iter)
                .map(|text| text.as_str().to_owned())
                .take(expected.len())
                .collect(),
        );
        assert_eq!(texts, expected);
        let paced: Vec<String> = runtime::block_on(
            source(Duration::from_millis(1))
                .flat_map(stream::iter)
                .map(|text| text.as_str().to_owned())
                .take(3)
                .collect(),
        );
        assert_eq!(paced, ["1", "2", "3"]);
    }

    #[test]
    fn the_broadcast_source_at_once_stops_at_the_largest_sequence_number() {
        let first = MAX_SEQ - CHUNK as u64 - 9;
        let batches: Vec<Vec<Utf8Bytes>> = futures::executor::block_on(at_once(first).collect());
        assert!(batches.iter().all(|batch| !batch.is_empty()));
        let texts: Vec<String> = batches.concat().iter().map(|t| t.to_string()).collect();
        let expected: Vec<String> = (first..=MAX_SEQ).map(|n| n.to_string()).collect();
        assert_eq!(texts, expected);
    }
}
