//! When to read the socket: at once while messages come in batches, after a short pause while
//! they trickle in one by one.
//!
//! A server that writes each message with a system call of its own (Python's `websockets`,
//! Node's `ws`) wakes a client that keeps up once per message, and a wake-up costs far more than
//! the message. So when the socket runs dry after a small batch, the client flushes what it
//! printed (nothing waits in its buffer while the stream pauses), then leaves the socket alone
//! for [`PAUSE`] so that the next messages gather, and takes them in one read. A message that
//! follows a quiet spell is printed at once; one in a steady trickle waits at most [`PAUSE`].

use crate::runtime::{self, Timer};
use std::task::{Context, Poll};
use std::time::Duration;

/// Below this many messages between two times the socket runs dry, wake-ups dominate the cost
/// of a message: pause before reading again.
const SMALL_BATCH: u32 = 32;

/// The pause after a small batch: the longest a message waits in the socket on its account.
pub const PAUSE: Duration = Duration::from_millis(1);

/// The batch being read, and the pause after the last one.
#[derive(Default)]
pub struct Pacer {
    /// Messages read since the socket last ran dry.
    batch: u32,
    /// The pause in progress, if any.
    pause: Option<Timer>,
}

impl Pacer {
    /// Counts a frame read.
    pub fn frame(&mut self) {
        self.batch = self.batch.saturating_add(1);
    }

    /// The socket ran dry. Says whether anything was read since it last did (then output is to
    /// be flushed), and starts a pause if that was only a few messages.
    pub fn drained(&mut self) -> bool {
        let batch = std::mem::take(&mut self.batch);
        if batch > 0 && batch < SMALL_BATCH {
            self.pause = Some(runtime::timer(PAUSE));
        }
        batch > 0
    }

    /// Ready when no pause holds the reading back.
    pub fn poll_resume(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(pause) = self.pause.as_mut() {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker;

    #[test]
    fn a_small_batch_starts_a_pause_and_a_large_one_does_not() {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut pacer = Pacer::default();
        assert!(!pacer.drained(), "nothing read, nothing to flush");
        assert!(pacer.poll_resume(&mut cx).is_ready());

        pacer.frame();
        assert!(pacer.drained());
        assert!(
            pacer.poll_resume(&mut cx).is_pending(),
            "one message: pause"
        );
        runtime::block_on(futures::future::poll_fn(|cx| pacer.poll_resume(cx)));
        assert!(pacer.poll_resume(&mut cx).is_ready(), "the pause ends");

        for _ in 0..SMALL_BATCH {
            pacer.frame();
        }
        assert!(pacer.drained());
        assert!(
            pacer.poll_resume(&mut cx).is_ready(),
            "a full batch: no pause"
        );
    }
}
