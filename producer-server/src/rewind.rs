//! A stream that replays bytes already read from it.
//!
//! The listener reads the HTTP request head itself, to answer plain HTTP requests that
//! tungstenite would drop without a reply. When the request is a WebSocket upgrade, the head
//! goes back in front of the socket so that tungstenite's handshake reads it as if untouched.

use futures::io::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// `inner`, preceded on the read side by `prefix`.
pub struct Rewind<S> {
    /// Bytes read ahead, still to be handed out; emptied (and freed) once consumed.
    prefix: Vec<u8>,
    /// How much of `prefix` has been handed out.
    consumed: usize,
    /// The socket.
    inner: S,
}

impl<S> Rewind<S> {
    /// Replays `prefix`, then reads on from `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Rewind {
            prefix,
            consumed: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.consumed < this.prefix.len() {
            let rest = &this.prefix[this.consumed..];
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            this.consumed += n;
            if this.consumed == this.prefix.len() {
                // Every connection would otherwise keep its request head for its whole life.
                this.prefix = Vec::new();
                this.consumed = 0;
            }
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
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
    use futures::io::{AsyncReadExt, Cursor};

    #[test]
    fn prefix_comes_first_then_the_stream() {
        futures::executor::block_on(async {
            let mut stream = Rewind::new(b"GET / ".to_vec(), Cursor::new(b"HTTP/1.1".to_vec()));
            let mut all = String::new();
            stream.read_to_string(&mut all).await.unwrap();
            assert_eq!(all, "GET / HTTP/1.1");
            assert_eq!(stream.prefix.capacity(), 0);
        });
    }
}
