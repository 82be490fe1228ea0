//! When to read the socket: at once while messages come in large batches or after a quiet
//! spell, after a short pause, longer while they keep trickling in, otherwise.
//!
//! A server that writes each message with a system call of its own (Python's `websockets`,
//! Node's `ws`, Go's gorilla) wakes a client that keeps up once per message, and a wake-up costs
//! far more than the message. So when the socket runs dry after a small batch, the client
//! flushes what it printed (nothing waits in its buffer while the stream pauses), then leaves
//! the socket alone for a pause so that the next messages gather, and takes them in one read.
//!
//! The pause adapts to the stream. It starts at [`FIRST_PAUSE`] and doubles, up to [`PAUSE`],
//! each time a pause gathers [`GROW_BATCH`] messages or more but not a large batch: a steady
//! trickle of 40 k msg/s then gathers some 200 messages per wake-up instead of 40 (measured
//! against Python's `websockets`, the client's CPU per message fell by 40%). A slower trickle,
//! whose wake-ups cost little in all, keeps the first pause, and its messages wait no longer.
//! The pause starts again from [`FIRST_PAUSE`] when it ends with nothing to read (a quiet
//! spell: the next message is read as soon as it comes) and after a large batch, which is read
//! on at once: a fast stream is never held back, and a pause never gathers more than about
//! twice [`LARGE_BATCH_BYTES`], well within a socket's receive buffer, so that the server is
//! not made to wait.
//!
//! The promise: a message that follows a quiet spell is printed at once; one in a steady
//! trickle waits at most [`PAUSE`].

use crate::runtime::{self, Timer};
use std::task::{Context, Poll};
use std::time::Duration;

/// At this many messages between two times the socket runs dry, a wake-up costs little per
/// message: read on at once, and start the pauses afresh.
const LARGE_BATCH: u32 = 512;

/// At this many bytes of messages between two times the socket runs dry, read on at once too:
/// large messages gain nothing from gathering, and the socket's buffer must not fill.
const LARGE_BATCH_BYTES: usize = 64 * 1024;

/// A batch this large or larger after a pause lengthens the next: the stream comes fast enough
/// (16 k msg/s at the first pause) for its wake-ups to count.
const GROW_BATCH: u32 = 16;

/// The first pause after a small batch.
pub const FIRST_PAUSE: Duration = Duration::from_millis(1);

/// The longest pause: the longest a message waits in the socket on the pacing's account.
pub const PAUSE: Duration = Duration::from_millis(5);

/// The batch being read, and the pause after the last one.
pub struct Pacer {
    /// Messages read since the socket last ran dry.
    batch: u32,
    /// Bytes of those messages, so that a few large messages count as a large batch.
    bytes: usize,
    /// The pause the next small batch is followed by: grows while pauses gather
    /// [`GROW_BATCH`] messages or more, starts again from [`FIRST_PAUSE`] after a quiet spell, a
    /// slow trickle or a large batch.
    next: Duration,
    /// The pause in progress, if any.
    pause: Option<Timer>,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer {
            batch: 0,
            bytes: 0,
            next: FIRST_PAUSE,
            pause: None,
        }
    }
}

impl Pacer {
    /// Counts a frame read, of `len` bytes.
    pub fn frame(&mut self, len: usize) {
        self.batch = self.batch.saturating_add(1);
        self.bytes = self.bytes.saturating_add(len);
    }

    /// The socket ran dry. Says whether anything was read since it last did (then output is to
    /// be flushed), and starts a pause if that was a small batch.
    pub fn drained(&mut self) -> bool {
        let batch = std::mem::take(&mut self.batch);
        let bytes = std::mem::take(&mut self.bytes);
        if batch == 0 {
            // Nothing came over a whole pause (or a wake-up brought nothing): the stream is
            // quiet, and its next message is to be read the moment it comes.
            self.next = FIRST_PAUSE;
            return false;
        }
        if batch >= LARGE_BATCH || bytes >= LARGE_BATCH_BYTES {
            self.next = FIRST_PAUSE;
            return true;
        }
        self.pause = Some(runtime::timer(self.next));
        self.next = if batch >= GROW_BATCH {
            (self.next * 2).min(PAUSE)
        } else {
            FIRST_PAUSE
        };
        true
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

    /// Reads `messages` frames of `len` bytes, then lets the socket run dry.
    fn batch(pacer: &mut Pacer, messages: u32, len: usize) -> bool {
        for _ in 0..messages {
            pacer.frame(len);
        }
        pacer.drained()
    }

    #[test]
    fn a_small_batch_starts_a_pause_and_a_large_one_does_not() {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut pacer = Pacer::default();
        assert!(!pacer.drained(), "nothing read, nothing to flush");
        assert!(pacer.poll_resume(&mut cx).is_ready());

        assert!(batch(&mut pacer, 1, 50));
        assert!(
            pacer.poll_resume(&mut cx).is_pending(),
            "one message: pause"
        );
        runtime::block_on(futures::future::poll_fn(|cx| pacer.poll_resume(cx)));
        assert!(pacer.poll_resume(&mut cx).is_ready(), "the pause ends");

        assert!(batch(&mut pacer, LARGE_BATCH, 50));
        assert!(
            pacer.poll_resume(&mut cx).is_ready(),
            "a large batch: no pause"
        );
        assert!(batch(&mut pacer, 2, LARGE_BATCH_BYTES / 2));
        assert!(
            pacer.poll_resume(&mut cx).is_ready(),
            "a few large messages: no pause"
        );
    }

    #[test]
    fn the_pause_grows_while_the_stream_trickles_fast_and_starts_again_after_silence() {
        let mut pacer = Pacer::default();
        let mut pauses = Vec::new();
        for _ in 0..5 {
            pauses.push(pacer.next);
            assert!(batch(&mut pacer, GROW_BATCH, 50));
        }
        assert_eq!(
            pauses,
            [1, 2, 4, 5, 5].map(Duration::from_millis),
            "doubles up to PAUSE"
        );

        assert!(!pacer.drained(), "a pause with nothing to read");
        assert_eq!(pacer.next, FIRST_PAUSE, "a quiet spell starts it again");

        assert!(batch(&mut pacer, GROW_BATCH, 50));
        assert!(batch(&mut pacer, LARGE_BATCH, 50));
        assert_eq!(pacer.next, FIRST_PAUSE, "so does a large batch");

        assert!(batch(&mut pacer, GROW_BATCH, 50));
        assert!(batch(&mut pacer, GROW_BATCH - 1, 50));
        assert!(pacer.pause.is_some(), "a slow trickle still pauses");
        assert_eq!(pacer.next, FIRST_PAUSE, "but no longer than at first");
    }
}
