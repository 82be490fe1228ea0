//! Why consuming stopped, each as one line that says what went wrong.
//!
//! Text the server chose (a close reason, a refusal body, a header, bytes quoted by a parser)
//! is shown through [`common::printable`]: escaped and cut, so that it cannot drive the terminal
//! or split the line.

use async_tungstenite::tungstenite::Error as WsError;
use common::{close, printable, DecodeError};
use std::fmt;

/// A reason to stop (or, with `--reconnect`, to retry).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL cannot be used.
    #[error("{0}")]
    BadUrl(String),
    /// No TCP connection could be made.
    #[error("cannot connect: {0}; is the server running at that address?")]
    Connect(std::io::Error),
    /// The server answered the upgrade request with an HTTP error.
    #[error("handshake rejected with HTTP {status}{}", body.as_deref().map(|b| format!(": {b}")).unwrap_or_default())]
    Rejected {
        /// Status code and reason.
        status: String,
        /// The first line of the response body, which says why.
        body: Option<String>,
    },
    /// The server accepted the connection but did not answer the handshake.
    #[error("no answer to the WebSocket handshake within {0:?}")]
    HandshakeTimeout(std::time::Duration),
    /// The server chose an extension or a subprotocol the client did not offer: RFC 6455 (4.1)
    /// says to fail the connection. A server that does so will do it again.
    #[error("the server chose {0}, which the client did not offer; it is not a server this client can read")]
    Unoffered(String),
    /// The TLS handshake failed on the certificate or the protocol, not the network: it would
    /// fail the same way again.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The `--ca` file cannot be used.
    #[error("{0}")]
    Ca(String),
    /// The handshake failed for another reason.
    #[error("handshake failed: {}", printable(&.0.to_string()))]
    Handshake(WsError),
    /// The server closed the connection with a code that is not a normal end.
    #[error("server closed the connection with {0}")]
    Closed(CloseInfo),
    /// The connection broke.
    #[error("connection lost: {}", printable(&.0.to_string()))]
    Lost(WsError),
    /// The connection ended without a close frame.
    #[error("connection dropped without a close frame")]
    Dropped,
    /// The server sent something that is not a prodcon.v1 frame.
    #[error("server sent an invalid frame: {}", printable(&.0.to_string()))]
    BadFrame(#[from] DecodeError),
    /// The server sent a binary frame, which prodcon never does.
    #[error("server sent a binary frame of {0} bytes; prodcon streams are text")]
    Binary(usize),
    /// The server sent nothing, not even a ping, for too long.
    #[error("server went silent: no message and no ping for {0:?}")]
    Silent(std::time::Duration),
    /// The server sends pings but has read none of the pongs owed to it for too long: it is
    /// broken or hostile, and waiting on it would only burn CPU.
    #[error("server reads nothing: the pongs owed to it have waited {0:?}")]
    NotReading(std::time::Duration),
    /// Standard output is closed (the reader of a pipe went away).
    #[error("cannot write to standard output: {0}")]
    Output(std::io::Error),
}

impl ClientError {
    /// Whether a new connection may fix it. A rejected handshake, an unusable URL or a full
    /// disk will be the same next time.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect(_)
            | ClientError::Lost(_)
            | ClientError::Dropped
            | ClientError::HandshakeTimeout(_)
            | ClientError::Silent(_)
            | ClientError::NotReading(_)
            | ClientError::Handshake(_)
            // Built only for closes worth retrying after: not a normal end of the stream, or a
            // server going away (1001) when asked to reconnect.
            | ClientError::Closed(_) => true,
            ClientError::Rejected { status, .. } => status.starts_with("503"),
            _ => false,
        }
    }
}

/// A close frame as received.
#[derive(Debug, Clone)]
pub struct CloseInfo {
    /// The close code (1005, "no status code", when the frame had none).
    pub code: u16,
    /// The reason the server gave, as it gave it: shown only through [`printable`].
    pub reason: String,
}

impl fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code, close::describe(self.code))?;
        if !self.reason.is_empty() {
            write!(f, ": {}", printable(&self.reason))?;
        }
        Ok(())
    }
}
