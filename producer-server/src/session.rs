//! One WebSocket connection after its handshake: its single writer, its reader, its goodbye.
//!
//! Only the writer writes to the socket. It drains the connection's bounded queue in batches:
//! it feeds frames while the queue has more ready and flushes when it runs dry, so a fast
//! stream costs one system call per batch instead of one per message.

use crate::outgoing::Outgoing;
use crate::runtime;
use crate::shutdown::ShutdownSignal;
use async_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use common::{close, Format};
use futures::channel::mpsc;
use futures::io::{AsyncRead, AsyncWrite};
use futures::{pin_mut, select, FutureExt, SinkExt, StreamExt};
use std::fmt;
use std::future::Future;
use std::time::Duration;

/// Most frames fed before a flush, so that a queue that never runs dry still reaches the peer.
const MAX_BATCH: usize = 256;

/// How long the goodbye may take: the remaining queue, the close frame, the peer's reply. A peer
/// that does not read cannot hold a shutting-down server past its 2-second promise.
const GOODBYE_LIMIT: Duration = Duration::from_millis(1000);

/// How a session ended, for the log line.
#[derive(Debug)]
pub enum Ending {
    /// The client sent a close frame.
    ClientClosed(Option<CloseFrame>),
    /// The connection dropped without a close frame.
    ClientVanished,
    /// The client broke the protocol; it was sent a close frame with `code`.
    ClientFailed {
        /// The close code sent.
        code: u16,
        /// What the client did.
        error: WsError,
    },
    /// Writing to the client failed.
    WriteFailed(WsError),
    /// The stream ended; the client was sent a close frame with `code`.
    StreamEnded {
        /// The close code sent.
        code: u16,
        /// The reason sent with it.
        reason: &'static str,
    },
    /// The server is shutting down; the client was sent Close 1001.
    ShutDown,
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::ClientClosed(Some(frame)) => {
                let code = u16::from(frame.code);
                write!(f, "client closed with {code} ({})", close::describe(code))?;
                if !frame.reason.is_empty() {
                    write!(f, ": {}", frame.reason)?;
                }
                Ok(())
            }
            Ending::ClientClosed(None) => write!(f, "client closed with no status code"),
            Ending::ClientVanished => write!(f, "connection dropped without a close frame"),
            Ending::ClientFailed { code, error } => {
                write!(
                    f,
                    "closed with {code} ({}): {error}",
                    close::describe(*code)
                )
            }
            Ending::WriteFailed(error) => write!(f, "write failed: {error}"),
            Ending::StreamEnded { code, reason } => write!(f, "closed with {code} ({reason})"),
            Ending::ShutDown => write!(f, "closed with 1001 (server shutting down)"),
        }
    }
}

/// What a session did, for the log line.
pub struct Report {
    /// Why it ended.
    pub ending: Ending,
    /// How many messages of the stream it sent.
    pub sent: u64,
}

/// Serves one connection until it ends: sends what arrives in `queue`, in `format`, while
/// `feed` (the connection's own producer, if it has one) fills it.
pub async fn run<S>(
    ws: WebSocketStream<S>,
    format: Format,
    mut queue: mpsc::Receiver<Outgoing>,
    feed: impl Future<Output = ()>,
    shutdown: ShutdownSignal,
) -> Report
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut incoming) = ws.split();
    let mut writer = Writer {
        sink: &mut sink,
        format,
        sent: 0,
    };
    let ending = {
        let feed = feed.fuse();
        let writing = writer.drain(&mut queue).fuse();
        let reading = read_until_closed(&mut incoming).fuse();
        let stop = shutdown.wait().fuse();
        pin_mut!(feed, writing, reading, stop);
        loop {
            select! {
                () = feed => {}
                ending = writing => break ending,
                ending = reading => break ending,
                () = stop => break Ending::ShutDown,
            }
        }
    };
    // The producer is gone now: what the queue holds is all there will be.
    let goodbye = async {
        match &ending {
            Ending::ShutDown => {
                while let Ok(item) = queue.try_recv() {
                    if writer.write(item).await.is_err() {
                        return;
                    }
                }
                let _ = writer
                    .close(close::GOING_AWAY, "server shutting down")
                    .await;
                await_close_reply(&mut incoming).await;
            }
            Ending::StreamEnded { .. } => await_close_reply(&mut incoming).await,
            Ending::ClientFailed { code, error } => {
                let _ = writer.close(*code, &error.to_string()).await;
            }
            Ending::ClientClosed(_) => await_close_reply(&mut incoming).await,
            Ending::ClientVanished | Ending::WriteFailed(_) => {}
        }
    };
    runtime::timeout(GOODBYE_LIMIT, goodbye).await;
    Report {
        ending,
        sent: writer.sent,
    }
}

/// The only writer of a connection.
struct Writer<'a, S> {
    /// The socket's sending half.
    sink: &'a mut WebSocketSender<S>,
    /// How messages are framed for this peer.
    format: Format,
    /// Messages of the stream sent so far.
    sent: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Writer<'_, S> {
    /// Sends what the queue holds, batch by batch, until the stream ends or the peer fails.
    async fn drain(&mut self, queue: &mut mpsc::Receiver<Outgoing>) -> Ending {
        loop {
            let Some(first) = queue.next().await else {
                return Ending::StreamEnded {
                    code: close::GOING_AWAY,
                    reason: "stream ended",
                };
            };
            let mut next = Some(first);
            let mut batch = 0;
            while let Some(item) = next.take() {
                match self.write(item).await {
                    Ok(None) => {}
                    Ok(Some(ending)) => return ending,
                    Err(error) => return Ending::WriteFailed(error),
                }
                batch += 1;
                if batch < MAX_BATCH {
                    next = queue.try_recv().ok();
                }
            }
            if let Err(error) = self.sink.flush().await {
                return Ending::WriteFailed(error);
            }
        }
    }

    /// Feeds one item to the socket (without flushing); `Some` when it ended the stream.
    async fn write(&mut self, item: Outgoing) -> Result<Option<Ending>, WsError> {
        match item {
            Outgoing::Message(message) => {
                self.sink
                    .feed(Message::Text(message.text(self.format)))
                    .await?;
                self.sent += 1;
            }
            Outgoing::Lost(range) => {
                if self.format == Format::JsonV1 {
                    self.sink.feed(Message::text(range.encode())).await?;
                }
            }
            Outgoing::End { code, reason } => {
                self.close(code, reason).await?;
                return Ok(Some(Ending::StreamEnded { code, reason }));
            }
        }
        Ok(None)
    }

    /// Sends a close frame, after everything fed before it.
    async fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        let frame = CloseFrame {
            code: code.into(),
            reason: close::fit_reason(reason).into(),
        };
        self.sink.send(Message::Close(Some(frame))).await
    }
}

/// Reads until the client closes or fails. Clients send only control frames: tungstenite answers
/// pings itself, and data frames within `--max-message-size` are ignored.
async fn read_until_closed<S>(incoming: &mut WebSocketReceiver<S>) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = incoming.next().await {
        match message {
            Ok(Message::Close(frame)) => return Ending::ClientClosed(frame),
            Ok(Message::Text(_) | Message::Binary(_)) => {
                log::debug!("ignored a data message from a client");
            }
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Err(error) => {
                return match close_code_for(&error) {
                    Some(code) => Ending::ClientFailed { code, error },
                    None => Ending::ClientVanished,
                }
            }
        }
    }
    Ending::ClientVanished
}

/// The close code that answers a read error, or `None` when the connection is gone anyway.
fn close_code_for(error: &WsError) -> Option<u16> {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => Some(close::MESSAGE_TOO_BIG),
        WsError::Capacity(_) => Some(close::PROTOCOL_ERROR),
        WsError::Utf8(_) => Some(close::INVALID_PAYLOAD),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) => Some(close::PROTOCOL_ERROR),
        _ => None,
    }
}

/// Lets tungstenite send its reply to a close and read the peer's reply to ours, until the
/// connection is over.
async fn await_close_reply<S>(incoming: &mut WebSocketReceiver<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(Ok(_)) = incoming.next().await {}
}
