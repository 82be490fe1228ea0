//! A connection's byte stream, plain TCP or TLS over it: the rest of the server reads and writes
//! it the same way.

use crate::http::{self, PlainResponse};
use crate::runtime::TcpStream;
use futures::future::Either;
use futures_rustls::server::TlsStream;
use futures_rustls::TlsAcceptor;
use std::io;

/// The first byte of every TLS connection: a handshake record (RFC 8446, section 5.1).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The answer to a client that speaks plain HTTP (or plain WebSocket) to a TLS port.
pub const NOT_TLS: &str = "this port speaks TLS: use https:// or wss://";

/// One connection's bytes: plain TCP (left) or TLS over it (right), read and written alike
/// through `Either`'s own `AsyncRead` and `AsyncWrite`. TLS is boxed: rustls's state is a few
/// KiB, and a plain connection should not carry room for it.
pub type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// Why a connection on a TLS port got no TLS session.
#[derive(Debug, thiserror::Error)]
pub enum TlsRefusal {
    /// The client's first bytes are not a TLS handshake: it was answered with a plain 400.
    #[error("{NOT_TLS} (the client spoke plain text)")]
    NotTls,
    /// The TLS handshake failed (the client does not trust the certificate, no common version,
    /// or the connection dropped).
    #[error("TLS handshake failed: {0}")]
    Handshake(io::Error),
}

/// Opens the stream of a connection just accepted: as it is, or, when `tls` is given, after a
/// TLS handshake. A client speaking plain HTTP to a TLS port gets a plain `400` saying so rather
/// than a TLS alert it would show as garbage, or a hang.
pub async fn open(tcp: TcpStream, tls: Option<&TlsAcceptor>) -> Result<Stream, TlsRefusal> {
    let Some(acceptor) = tls else {
        return Ok(Either::Left(tcp));
    };
    let mut first = [0u8; 1];
    let peeked = tcp.peek(&mut first).await.map_err(TlsRefusal::Handshake)?;
    if peeked == 0 {
        let closed = io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a handshake");
        return Err(TlsRefusal::Handshake(closed));
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        let mut tcp = tcp;
        // The request is read first: closing a socket with unread bytes resets it, and the
        // client could lose the answer. Whatever it is, the answer is the same.
        let _ = http::read_head(&mut tcp).await;
        let _ = PlainResponse::text("400 Bad Request", NOT_TLS)
            .send(&mut tcp)
            .await;
        return Err(TlsRefusal::NotTls);
    }
    let stream = acceptor.accept(tcp).await.map_err(TlsRefusal::Handshake)?;
    Ok(Either::Right(Box::new(stream)))
}
