//! A socket that gives up on a peer which keeps sending but reads nothing of what it is owed.
//!
//! Each ping a peer sends is owed a pong. While the socket cannot be written to (the peer does not
//! read), tungstenite keeps owed pongs in its write buffer: without a limit, a peer that floods
//! pings and never reads grows it without end; with `max_write_buffer_size` it keeps only the
//! latest, but the peer, still talking, passes every liveness check and keeps its connection.
//! So this wrapper counts what the peer sends while writes to it are blocked, less what it takes
//! meanwhile; past [`MAX_OWED`] bytes its reads fail with [`DeafPeer`] and the session ends. A
//! consumer that is merely slow, or stalled, sends next to nothing and is never caught.

use futures::io::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Bytes a peer may send while it reads nothing: a few hundred pings, far more than any client
/// that means to read sends between two reads.
pub const MAX_OWED: u64 = 64 * 1024;

/// `inner`, whose reads fail once its peer has sent [`MAX_OWED`] bytes it reads no answer to.
pub struct DeafPeerGuard<S> {
    /// The socket.
    inner: S,
    /// Whether the last write found the socket full: the peer is not reading.
    blocked: bool,
    /// Bytes received while writes were blocked, less bytes written since.
    owed: u64,
}

/// The error a [`DeafPeerGuard`]'s reads fail with.
#[derive(Debug, thiserror::Error)]
#[error("it kept sending (over {MAX_OWED} bytes) while reading nothing it was sent")]
pub struct DeafPeer;

/// Whether `error` is a [`DeafPeer`].
pub fn is_deaf(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<DeafPeer>())
}

impl<S> DeafPeerGuard<S> {
    /// Watches `inner`.
    pub fn new(inner: S) -> Self {
        DeafPeerGuard {
            inner,
            blocked: false,
            owed: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for DeafPeerGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let n = match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        if this.blocked {
            this.owed += n as u64;
            if this.owed > MAX_OWED {
                return Poll::Ready(Err(io::Error::other(DeafPeer)));
            }
        }
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for DeafPeerGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        match &written {
            Poll::Pending => this.blocked = true,
            Poll::Ready(Ok(n)) => {
                this.blocked = false;
                this.owed = this.owed.saturating_sub(*n as u64);
            }
            Poll::Ready(Err(_)) => {}
        }
        written
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
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use std::task::Poll;

    /// A socket that always has bytes to read and whose writes block while `full`.
    struct Peer {
        /// Whether writes find the socket full.
        full: bool,
    }

    impl AsyncRead for Peer {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
    }

    impl AsyncWrite for Peer {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.full {
                Poll::Pending
            } else {
                Poll::Ready(Ok(buf.len()))
            }
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Tries one write, which blocks or not as the peer's socket is full.
    fn try_write(guard: &mut DeafPeerGuard<Peer>) {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let _ = Pin::new(guard).poll_write(&mut cx, b"pong");
    }

    #[test]
    fn a_peer_that_reads_may_send_without_end() {
        let mut guard = DeafPeerGuard::new(Peer { full: false });
        futures::executor::block_on(async {
            let mut buf = [0u8; 1024];
            for _ in 0..1000 {
                guard.write_all(b"pong").await.unwrap();
                guard.read_exact(&mut buf).await.unwrap();
            }
        });
    }

    #[test]
    fn a_peer_that_sends_while_reading_nothing_is_given_up() {
        let mut guard = DeafPeerGuard::new(Peer { full: true });
        try_write(&mut guard);
        let mut buf = [0u8; 1024];
        let error = futures::executor::block_on(async {
            for _ in 0..=MAX_OWED / 1024 + 1 {
                guard.read_exact(&mut buf).await?;
            }
            Ok::<_, io::Error>(())
        })
        .unwrap_err();
        assert!(is_deaf(&error), "{error}");
    }

    #[test]
    fn what_the_peer_takes_pays_off_what_it_sent() {
        let mut guard = DeafPeerGuard::new(Peer { full: true });
        let mut buf = [0u8; 1024];
        futures::executor::block_on(async {
            for _ in 0..1000 {
                try_write(&mut guard);
                guard.read_exact(&mut buf[..4]).await.unwrap();
                guard.inner.full = false;
                try_write(&mut guard);
                guard.inner.full = true;
            }
        });
        assert_eq!(guard.owed, 0);
    }
}
