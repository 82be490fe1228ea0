//! Why consuming stopped, each as one line that says what went wrong.

use async_tungstenite::tungstenite::Error as WsError;
use common::{close, DecodeError};
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
    /// The TLS handshake failed on the certificate or the protocol, not the network: it would
    /// fail the same way again.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The `--ca` file cannot be used.
    #[error("{0}")]
    Ca(String),
    /// The handshake failed for another reason.
    #[error("handshake failed: {0}")]
    Handshake(WsError),
    /// The server closed the connection with a code that is not a normal end.
    #[error("server closed the connection with {0}")]
    Closed(CloseInfo),
    /// The connection broke.
    #[error("connection lost: {0}")]
    Lost(WsError),
    /// The connection ended without a close frame.
    #[error("connection dropped without a close frame")]
    Dropped,
    /// The server sent something that is not a prodcon.v1 frame.
    #[error("server sent an invalid frame: {0}")]
    BadFrame(#[from] DecodeError),
    /// The server sent a binary frame, which prodcon never does.
    #[error("server sent a binary frame of {0} bytes; prodcon streams are text")]
    Binary(usize),
    /// The server sent nothing, not even a ping, for too long.
    #[error("server went silent: no message and no ping for {0:?}")]
    Silent(std::time::Duration),
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
            | ClientError::Handshake(_) => true,
            ClientError::Closed(info) => info.code != close::NORMAL,
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
    /// The reason the server gave.
    pub reason: String,
}

impl fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code, close::describe(self.code))?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}
