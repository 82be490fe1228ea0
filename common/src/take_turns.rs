//! A socket whose reads take turns with the other tasks of their thread.
//!
//! A task reading a socket that always has bytes ready never goes back to its executor:
//! tungstenite reads frame after frame for as long as bytes are there, and async-std's executor
//! never preempts a task. So one peer sending frames as fast as loopback carries them (empty
//! fragments of a message that never ends grow nothing and trip no size limit) held an executor
//! thread for as long as it went on: with two such peers, a broadcast stopped for everyone, and
//! the server no longer heard SIGTERM; a server doing it to consumer-client kept it from ever
//! looking at its silence timer.
//!
//! [`TakeTurns`] counts the bytes read since a read last had to wait. Past [`TURN`], the next
//! read waits once instead, with its task woken at once, so that the task goes to the back of
//! its executor's queue (tokio's cooperative budget does the same). A peer that sends what it
//! should never fills a turn; one that floods gets its share of a thread, not the thread.

use futures::io::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Bytes read in one turn: at tungstenite's speed, well under a millisecond of work, and far more
/// than a client sends (pings, pongs, a close) or a server's burst needs to be read in one go.
pub const TURN: usize = 64 * 1024;

/// `inner`, its reads taking turns: see the module's documentation.
pub struct TakeTurns<S> {
    /// The socket.
    inner: S,
    /// Bytes read since a read last waited.
    this_turn: usize,
    /// Whether the last read waited to let others run, rather than for bytes.
    gave_way: bool,
}

impl<S> TakeTurns<S> {
    /// `inner`, its reads taking turns.
    pub fn new(inner: S) -> Self {
        TakeTurns {
            inner,
            this_turn: 0,
            gave_way: false,
        }
    }

    /// Whether the last read waited only to let other tasks run: bytes are ready, and the task
    /// is already woken. A reader that treats a wait as the socket running dry (consumer-client
    /// flushes its output and may pause) must not take this one for it.
    pub fn gave_way(&self) -> bool {
        self.gave_way
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TakeTurns<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.gave_way = this.this_turn >= TURN;
        if this.gave_way {
            this.this_turn = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &read {
            Poll::Ready(Ok(n)) => this.this_turn += n,
            Poll::Pending => this.this_turn = 0,
            Poll::Ready(Err(_)) => {}
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TakeTurns<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::{waker, ArcWake};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A peer with `ready` bytes to read now, then nothing until more come.
    struct Peer {
        ready: usize,
    }

    impl AsyncRead for Peer {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            if self.ready == 0 {
                return Poll::Pending;
            }
            let n = buf.len().min(self.ready);
            self.ready -= n;
            Poll::Ready(Ok(n))
        }
    }

    /// A task's waker that counts its wake-ups.
    #[derive(Default)]
    struct Task(AtomicUsize);

    impl ArcWake for Task {
        fn wake_by_ref(task: &Arc<Self>) {
            task.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Reads until a read waits; the bytes read.
    fn read_until_wait(socket: &mut TakeTurns<Peer>, cx: &mut Context<'_>) -> usize {
        let mut buf = [0u8; 1000];
        let mut read = 0;
        while let Poll::Ready(n) = Pin::new(&mut *socket).poll_read(cx, &mut buf) {
            read += n.unwrap();
        }
        read
    }

    #[test]
    fn a_flood_is_read_a_turn_at_a_time_and_its_task_woken_after_each() {
        let task = Arc::new(Task::default());
        let waker = waker(Arc::clone(&task));
        let mut cx = Context::from_waker(&waker);
        let mut socket = TakeTurns::new(Peer { ready: 10 * TURN });
        let mut turns = Vec::new();
        for _ in 0..20 {
            turns.push(read_until_wait(&mut socket, &mut cx));
            let had_bytes = socket.inner.ready > 0;
            assert_eq!(socket.gave_way(), had_bytes, "{turns:?}");
        }
        // A read of 1,000 bytes may end a turn past TURN: each turn is TURN and under 1,000 more.
        let full: Vec<_> = turns.iter().take_while(|&&n| n >= TURN).collect();
        assert!(full.len() >= 9, "{turns:?}");
        assert!(full.iter().all(|&&n| n < TURN + 1000), "{turns:?}");
        assert_eq!(turns.iter().sum::<usize>(), 10 * TURN);
        // Woken once per turn given up; the wait with nothing to read wakes nobody.
        assert_eq!(task.0.load(Ordering::SeqCst), full.len());
    }

    #[test]
    fn a_peer_that_sends_less_than_a_turn_between_waits_never_yields() {
        let task = Arc::new(Task::default());
        let waker = waker(Arc::clone(&task));
        let mut cx = Context::from_waker(&waker);
        let mut socket = TakeTurns::new(Peer { ready: 0 });
        for _ in 0..100 {
            socket.inner.ready = TURN / 2;
            assert_eq!(read_until_wait(&mut socket, &mut cx), TURN / 2);
        }
        assert_eq!(task.0.load(Ordering::SeqCst), 0);
    }
}
