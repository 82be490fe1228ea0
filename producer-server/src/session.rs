//! One WebSocket connection after its handshake: its single writer, its reader, its keepalive
//! and its goodbye.
//!
//! Only the writer writes to the socket, or the hub while the writer lends it the socket's
//! sending half (a broadcast's session with nothing to send: see [`crate::mailbox`]). It drains
//! the connection's outbox in batches: it feeds frames while more are ready and flushes when it
//! runs dry, so a fast stream costs one system call per batch instead of one per message.

use crate::deaf_peer::{self, DeafPeer};
use crate::fragments::Fragmenting;
use crate::mailbox::FrameSink;
use crate::metrics::Metrics;
use crate::queue::{End, Lending, Outbox, Outgoing};
use crate::runtime;
use crate::shutdown::ShutdownSignal;
use crate::wake_gate::Gated;
use async_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Bytes, Error as WsError, Message};
use async_tungstenite::{WebSocketReceiver, WebSocketSender};
use common::{close, printable, Format};
use futures::future::{BoxFuture, Fuse};
use futures::io::{AsyncRead, AsyncWrite};
use futures::{future, pin_mut, select, FutureExt, SinkExt, StreamExt};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

/// Most frames fed before a flush, so that an outbox that never runs dry still reaches the peer.
const MAX_BATCH: usize = 256;

/// How long a connection let go as slow has to send what its queue holds and its close frame:
/// one that is stalled rather than slow cannot, and is dropped, so that it holds nothing longer.
const SLOW_CLOSE_LIMIT: Duration = Duration::from_secs(1);

/// How long the goodbye may take: the rest of the queue, the close frame, the peer's reply. A
/// peer that does not read cannot hold a shutting-down server past its 2-second promise.
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
    /// The client answered no ping for this long; the connection was dropped.
    Unresponsive(Duration),
    /// The client kept sending while it read nothing it was sent (see [`crate::deaf_peer`]);
    /// the connection was dropped.
    Deaf,
    /// Writing to the client failed.
    WriteFailed(WsError),
    /// The stream ended for this client; it was sent a close frame saying why.
    StreamEnded(End),
    /// The server is shutting down; the client was sent Close 1001.
    ShutDown,
    /// The client was let go as slow and could not take what it was owed in time: dropped.
    SlowDropped(Duration),
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::ClientClosed(Some(frame)) => {
                let code = u16::from(frame.code);
                write!(f, "client closed with {code} ({})", close::describe(code))?;
                if !frame.reason.is_empty() {
                    write!(f, ": {}", printable(&frame.reason))?;
                }
                Ok(())
            }
            Ending::ClientClosed(None) => write!(f, "client closed with no status code"),
            Ending::ClientVanished => write!(f, "connection dropped without a close frame"),
            Ending::ClientFailed { code, error } => {
                write!(
                    f,
                    "closed with {code} ({}): {}",
                    close::describe(*code),
                    printable(&error.to_string())
                )
            }
            Ending::Unresponsive(silence) => {
                write!(f, "dropped: no answer to pings for {silence:?}")
            }
            Ending::Deaf => write!(f, "dropped: {}", DeafPeer),
            Ending::WriteFailed(error) => {
                write!(f, "write failed: {}", printable(&error.to_string()))
            }
            Ending::StreamEnded(End { code, reason }) => {
                write!(
                    f,
                    "closed with {code} ({}): {reason}",
                    close::describe(*code)
                )
            }
            Ending::ShutDown => write!(f, "closed with 1001 (server shutting down)"),
            Ending::SlowDropped(limit) => write!(
                f,
                "dropped: let go as slow, it did not take what it was owed within {limit:?}"
            ),
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

/// How a session runs.
#[derive(Clone)]
pub struct SessionConfig {
    /// How messages are framed for this peer.
    pub format: Format,
    /// Time between pings; zero for none. A peer silent for two of them is dropped.
    pub ping_interval: Duration,
    /// Where deliveries are counted.
    pub metrics: Metrics,
}

/// Serves one connection until it ends: sends what `outbox` holds through `sink`, while `feed`
/// (the connection's own producer, if it has one) fills it, and reads `incoming`.
///
/// Not an `async fn`: the future of an `async fn` keeps a copy of every argument beside the
/// locals they are moved into, and an idle connection holds this future for its whole life. The
/// block below uses the arguments where they are.
#[allow(clippy::manual_async_fn)]
pub fn run<S>(
    sink: WebSocketSender<S>,
    mut incoming: WebSocketReceiver<S>,
    config: SessionConfig,
    mut outbox: Outbox,
    feed: Option<BoxFuture<'static, ()>>,
    shutdown: ShutdownSignal,
) -> impl Future<Output = Report>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async move {
        let started = Instant::now();
        let heard = AtomicU64::new(0);
        let mut writer = Writer {
            sink: Some(Box::new(Fragmenting::new(sink))),
            format: config.format,
            sent: 0,
            ping_interval: config.ping_interval,
            next_ping: started + config.ping_interval,
            pending: None,
            metrics: config.metrics,
        };
        let ending = {
            // The verdict and the stop signal are shared futures: polling one takes a lock (the
            // stop signal's is one lock for every connection of the server), so they too are
            // polled only when they woke the task, not on each message.
            let mut verdict = Gated::new(outbox.verdict()).fuse();
            let mut feed = feed.map_or_else(Fuse::terminated, FutureExt::fuse);
            let writing = writer.drain(&mut outbox).fuse();
            let reading = read_until_closed(&mut incoming, started, &heard);
            pin_mut!(reading);
            // Polled only when the socket has something for it: a branch of `select!` is polled on
            // every wake-up of the task, and the reader would then try a read (a system call that
            // finds nothing) each time a message wakes the writer.
            let mut reading = Gated::new(reading).fuse();
            // One timer for the pings and the liveness check: at each tick the peer is checked, and
            // the wake-up polls the writer, which sends the ping that fell due.
            let mut ticks = runtime::ticks(config.ping_interval);
            let stop = shutdown.wait();
            pin_mut!(stop);
            let mut stop = Gated::new(stop).fuse();
            // Armed only for a connection let go as slow.
            let mut slow_deadline = runtime::never();
            pin_mut!(writing);
            loop {
                select! {
                    end = verdict => {
                        if end.is_ok_and(|end| end.code == close::SLOW_CONSUMER) {
                            slow_deadline.set_after(SLOW_CLOSE_LIMIT);
                        }
                    }
                    () = feed => {}
                    ending = writing => break ending,
                    ending = reading => break ending,
                    _ = ticks.next().fuse() => {
                        if let Some(silence) = unresponsive(config.ping_interval, started, &heard) {
                            break Ending::Unresponsive(silence);
                        }
                    }
                    _ = FutureExt::fuse(&mut slow_deadline) => break Ending::SlowDropped(SLOW_CLOSE_LIMIT),
                    () = stop => break Ending::ShutDown,
                }
            }
        };
        // The writer may have lent its sending half to the hub: from now on only the session
        // writes.
        outbox.reclaim(&mut writer.sink);
        // The producer is gone now: what the outbox holds is all there will be. Boxed: it is
        // needed once, at the end, and would otherwise take room in every idle connection.
        let goodbye = goodbye(&ending, &mut writer, &mut outbox, &mut incoming);
        Box::pin(runtime::timeout(GOODBYE_LIMIT, goodbye)).await;
        Report {
            ending,
            sent: writer.sent + outbox.sent_by_hub(),
        }
    }
}

/// Says goodbye as `ending` calls for: the rest of the outbox and a close frame when the server
/// shuts down, the close reply when the peer or the stream closed, a close frame when the peer
/// broke the protocol.
async fn goodbye<S>(
    ending: &Ending,
    writer: &mut Writer,
    outbox: &mut Outbox,
    incoming: &mut WebSocketReceiver<S>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match ending {
        Ending::ShutDown => {
            if writer.write_pending().await.is_err() {
                return;
            }
            while let Some(item) = outbox.try_next() {
                if writer.write(item).await.is_err() {
                    return;
                }
            }
            let _ = writer
                .close(close::GOING_AWAY, "server shutting down")
                .await;
            await_close_reply(incoming).await;
        }
        Ending::StreamEnded(_) | Ending::ClientClosed(_) => await_close_reply(incoming).await,
        Ending::ClientFailed { code, error } => {
            let _ = writer.close(*code, &error.to_string()).await;
        }
        Ending::ClientVanished
        | Ending::WriteFailed(_)
        | Ending::Unresponsive(_)
        | Ending::SlowDropped(_)
        | Ending::Deaf => {}
    }
}

/// The only writer of a connection, but for what the hub writes into the sending half it lends.
struct Writer {
    /// The socket's sending half; `None` only while [`Writer::wait`] lends it to the hub.
    sink: Option<FrameSink>,
    /// How messages are framed for this peer.
    format: Format,
    /// Messages of the stream sent so far.
    sent: u64,
    /// Time between pings; zero for none.
    ping_interval: Duration,
    /// When the next ping is due: a whole number of intervals after the start, so that the
    /// session's ticks find it due.
    next_ping: Instant,
    /// A frame taken from the outbox and not yet handed to the socket, and whether it is a
    /// message of the stream (rather than a notice).
    pending: Option<(Message, bool)>,
    /// Where deliveries are counted.
    metrics: Metrics,
}

/// Why the writer's wait ended.
enum Waited {
    /// The outbox has something, or the hub handed the sending half back.
    Outbox(Lending),
    /// A ping fell due.
    PingDue,
}

impl Writer {
    /// The socket's sending half: the writer holds it but while it waits.
    fn sink(&mut self) -> &mut FrameSink {
        self.sink
            .as_mut()
            .expect("a writer holds its sending half but while it waits")
    }

    /// Sends the outbox, batch by batch, with pings when due, until it is over or the peer fails.
    /// Pings rely on `run`'s select: this is polled there beside the session's ticks, whose
    /// wake-ups poll it when a ping falls due (it has no timer of its own).
    async fn drain(&mut self, outbox: &mut Outbox) -> Ending {
        loop {
            let first = match outbox.try_next() {
                Some(item) => item,
                None => match self.wait(outbox).await {
                    Ok(Some(item)) => item,
                    Ok(None) => {
                        let end = outbox.end();
                        return match self.close(end.code, end.reason).await {
                            Ok(()) => Ending::StreamEnded(end),
                            Err(error) => Ending::WriteFailed(error),
                        };
                    }
                    Err(error) => return Ending::WriteFailed(error),
                },
            };
            let mut next = Some(first);
            let mut batch = 0;
            while let Some(item) = next.take() {
                if let Err(error) = self.write(item).await {
                    return Ending::WriteFailed(error);
                }
                batch += 1;
                if batch < MAX_BATCH {
                    next = outbox.try_next();
                }
            }
            if let Err(error) = self.ping_if_due().await {
                return Ending::WriteFailed(error);
            }
            if let Err(error) = self.sink().flush().await {
                return Ending::WriteFailed(error);
            }
        }
    }

    /// Waits for the next item, sending pings meanwhile when they fall due, and lending the
    /// sending half to the hub (a broadcast's live frames) while there is nothing to send. The
    /// writer has no timer of its own: the session's ticks wake the task when a ping falls due,
    /// and every wake-up of the task polls the writer.
    async fn wait(&mut self, outbox: &mut Outbox) -> Result<Option<Outgoing>, WsError> {
        loop {
            let pinging = !self.ping_interval.is_zero();
            let due = self.next_ping;
            let ping_due = future::poll_fn(|_| {
                if pinging && Instant::now() >= due {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            let waited = select! {
                next = outbox.next_lending(&mut self.sink).fuse() => Waited::Outbox(next),
                () = ping_due.fuse() => Waited::PingDue,
            };
            match waited {
                Waited::Outbox(Lending::Item(item)) => return Ok(item),
                // What the hub wrote and the socket did not take yet.
                Waited::Outbox(Lending::HandedBack) => self.sink().flush().await?,
                Waited::PingDue => {
                    outbox.reclaim(&mut self.sink);
                    self.ping_if_due().await?;
                    self.sink().flush().await?;
                }
            }
        }
    }

    /// Feeds a ping if one is due.
    async fn ping_if_due(&mut self) -> Result<(), WsError> {
        let now = Instant::now();
        if self.ping_interval.is_zero() || now < self.next_ping {
            return Ok(());
        }
        while self.next_ping <= now {
            self.next_ping += self.ping_interval;
        }
        self.sink().feed(Message::Ping(Bytes::new())).await
    }

    /// Feeds one item to the socket, without flushing.
    async fn write(&mut self, item: Outgoing) -> Result<(), WsError> {
        self.pending = match item {
            Outgoing::Message(message) => {
                Some((Message::Text(message.into_text(self.format)), true))
            }
            Outgoing::Frame(text) => Some((Message::Text(text), true)),
            // Plain-text peers have no way to hear of it; the hub's log line says it.
            Outgoing::Lost(_) if self.format == Format::Plain => None,
            Outgoing::Lost(range) => Some((Message::text(range.encode()), false)),
        };
        self.write_pending().await
    }

    /// Feeds the frame taken from the outbox but not yet handed to the socket, if any. The frame
    /// waits in `pending`, not in a future, while the socket is full: a writer interrupted then
    /// (by shutdown) keeps it, and the goodbye still sends it, in its place.
    async fn write_pending(&mut self) -> Result<(), WsError> {
        if self.pending.is_none() {
            return Ok(());
        }
        future::poll_fn(|cx| self.sink().poll_ready_unpin(cx)).await?;
        if let Some((frame, of_the_stream)) = self.pending.take() {
            let bytes = frame.len();
            self.sink().start_send_unpin(frame)?;
            self.sent += u64::from(of_the_stream);
            if of_the_stream {
                self.metrics.delivered(bytes);
            }
        }
        Ok(())
    }

    /// Sends a close frame, after everything fed before it.
    async fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        let frame = CloseFrame {
            code: code.into(),
            reason: close::fit_reason(reason).into(),
        };
        self.sink().send(Message::Close(Some(frame))).await
    }
}

/// Reads until the client closes or fails, noting in `heard` when it last said anything (as
/// milliseconds after `started`). Clients send only control frames: tungstenite answers pings
/// itself, and data frames within `--max-message-size` are ignored.
async fn read_until_closed<S>(
    incoming: &mut WebSocketReceiver<S>,
    started: Instant,
    heard: &AtomicU64,
) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = incoming.next().await {
        heard.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        match message {
            Ok(Message::Close(frame)) => return Ending::ClientClosed(frame),
            // Not logged, not even at debug: a peer sends as many as it likes, and the log's
            // budget is for lines about connections.
            Ok(Message::Text(_) | Message::Binary(_)) => {}
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Err(WsError::Io(error)) if deaf_peer::is_deaf(&error) => return Ending::Deaf,
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

/// How long the peer has said nothing (`heard` is when it last did, as milliseconds after
/// `started`), if that is more than two ping intervals: it is then dropped. Never when pings
/// are off.
fn unresponsive(interval: Duration, started: Instant, heard: &AtomicU64) -> Option<Duration> {
    let last = started + Duration::from_millis(heard.load(Ordering::Relaxed));
    let silence = last.elapsed();
    (!interval.is_zero() && silence > interval * 2).then_some(silence)
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
