//! The accept loop, and each connection's way from TCP to a running session.
//!
//! Errors of one connection are logged here, where its task is spawned, and never end the loop.

use crate::config::{Config, SourceKind};
use crate::connection_log::{ConnectionLog, Event};
use crate::deaf_peer::DeafPeerGuard;
use crate::handshake;
use crate::http::{self, PlainResponse, RequestKind};
use crate::hub::{self, HubConfig, HubHandle, Pace};
use crate::origin;
use crate::outgoing::{queue, Outbox};
use crate::page;
use crate::pending::{self, Pending, Ticket};
use crate::rewind::Rewind;
use crate::runtime::{self, TcpListener, TcpStream};
use crate::session::{self, SessionConfig};
use crate::shutdown::{shutdown_pair, ShutdownSignal};
use crate::slots::{Slot, Slots};
use crate::source::{counter, stdin, Source};
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::WebSocketStream;
use common::{close, printable, resume, Format};
use futures::channel::mpsc;
use futures::future::{self, Fuse, FutureExt};
use futures::{pin_mut, select, StreamExt};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the server waits, once shutdown is asked for, for every connection to say goodbye
/// (each also has its own, shorter limit); it exits within 2 seconds of SIGINT or SIGTERM
/// whatever they do.
const SHUTDOWN_LIMIT: Duration = Duration::from_millis(1500);

/// How long consumers get to receive the rest of a stream that ended (standard input closed)
/// before the server stops waiting for them and shuts down.
const END_OF_STREAM_LIMIT: Duration = Duration::from_secs(10);

/// How often to look whether every consumer has the whole of a stream that ended.
const END_CHECK_PERIOD: Duration = Duration::from_millis(50);

/// How long a stream that ended waits, once nobody is connected, for consumers dropped as slow to
/// come back for the rest: longer than consumer-client's longest pause between attempts.
const RESUME_GRACE: Duration = Duration::from_secs(6);

/// Pause after a failed accept (such as too many open files), doubled up to [`MAX_ACCEPT_PAUSE`]
/// while failures go on, so that the loop neither spins nor gives up.
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// Pause after shedding an unfinished handshake, while connections shed are still open: time for
/// their tasks to close them before the next accept needs a descriptor.
const SHED_PAUSE: Duration = Duration::from_millis(1);

/// Connections shed but not yet closed beyond which the accept loop waits for them: without it,
/// peers that reopen as fast as they are shed outrun the tasks that close them, and descriptors
/// pile up past `--max-pending`.
const MAX_SHED_OPEN: usize = 256;

/// Bytes of frames tungstenite gathers before it writes them to the socket. The writer flushes
/// after each batch anyway; this is large enough that a batch of the counter's messages (256 of
/// about 60 bytes) is still one write, and small enough that a consumer that stops reading holds
/// little of it.
const WRITE_BUFFER: usize = 16 * 1024;

/// The most a connection's write buffer may hold: a full buffer and the largest frame the server
/// sends. Beyond it tungstenite keeps no more pongs; see [`crate::deaf_peer`] for the peer that
/// keeps asking for them.
const MAX_WRITE_BUFFER: usize = WRITE_BUFFER + common::frame::MAX_FRAME_LEN + 16;

/// Where each connection's messages come from.
enum Mode {
    /// Each connection runs its own counter, as in the seed.
    PerConnection,
    /// One hub serves every connection.
    Broadcast(HubHandle),
}

/// What every connection task shares.
struct Server {
    /// The command line.
    config: Config,
    /// Limits and buffer sizes of every WebSocket.
    ws_config: WebSocketConfig,
    /// Where messages come from.
    mode: Mode,
    /// Tells sessions to say goodbye.
    shutdown: ShutdownSignal,
    /// Open connections, against `--max-connections`.
    slots: Slots,
    /// Connections not yet through their handshake, against `--max-pending`.
    pending: Pending,
    /// The connection lines of the log, within their budget.
    log: ConnectionLog,
    /// When a connection last closed.
    last_close: Mutex<Instant>,
}

/// Serves `listener` until `shutdown`, or until the stream ends, then gives every connection
/// its goodbye and returns.
pub async fn serve(listener: TcpListener, config: Config, shutdown: ShutdownSignal) {
    let ws_config = WebSocketConfig::default()
        // Clients send only control frames, of at most 125 bytes: a read buffer that holds one is
        // plenty, and tungstenite allocates it for every connection up front. A larger message
        // (up to --max-message-size) grows it as needed.
        .read_buffer_size(256)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(config.max_message_size))
        // tungstenite applies the frame limit to control frames too: below their 125 bytes, a
        // client's close frame would be refused.
        .max_frame_size(Some(config.max_message_size.max(125)));
    // Sessions and the hub stop on their own signal: when the stream ends, they are given time
    // to finish before it is pulled.
    let (stop_sessions, sessions_stop) = shutdown_pair();
    let (mode, stream_over) = if config.is_broadcast() {
        let source: Source = match config.source {
            SourceKind::Counter => counter::source(config.interval).boxed(),
            SourceKind::Stdin => stdin::lines().boxed(),
        };
        let hub_config = HubConfig {
            queue: config.queue,
            history: config.history,
            pace: match config.source {
                SourceKind::Stdin => Pace::FastestConsumer,
                SourceKind::Counter if config.interval.is_zero() => Pace::AllConsumers,
                SourceKind::Counter => Pace::Source,
            },
        };
        let (hub, done) = hub::start(source, hub_config, sessions_stop.clone());
        (Mode::Broadcast(hub), done.map(|_| ()).left_future())
    } else {
        (Mode::PerConnection, future::pending().right_future())
    };
    let server = Arc::new(Server {
        slots: Slots::new(config.max_connections),
        pending: Pending::new(pending::bound(config.max_pending)),
        log: ConnectionLog::new(),
        last_close: Mutex::new(Instant::now()),
        config,
        ws_config,
        mode,
        shutdown: sessions_stop,
    });
    // Every connection task holds a clone of `alive`; `all_gone` ends when the last is dropped.
    let (alive, mut all_gone) = mpsc::channel::<Infallible>(0);
    let stop = shutdown.wait().fuse();
    let stream_over = stream_over.fuse();
    pin_mut!(stop, stream_over);
    let mut pause = FIRST_ACCEPT_PAUSE;
    // Once the stream is over, accepting goes on (consumers dropped as slow may come back for
    // the rest, from history) until every connection is done.
    let mut over_since: Option<Instant> = None;
    let check = Fuse::terminated();
    pin_mut!(check);
    let finished = loop {
        let accepted = select! {
            () = stop => break false,
            () = stream_over => {
                let open = server.slots.taken();
                log::info!("the stream is over: waiting for {open} connections to receive all of it");
                over_since = Some(Instant::now());
                check.set(runtime::sleep(END_CHECK_PERIOD).fuse());
                continue;
            }
            () = check => {
                if server.everyone_has_the_end() {
                    break true;
                }
                if over_since.is_some_and(|since| since.elapsed() > END_OF_STREAM_LIMIT) {
                    break false;
                }
                check.set(runtime::sleep(END_CHECK_PERIOD).fuse());
                continue;
            }
            accepted = listener.accept().fuse() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                pause = FIRST_ACCEPT_PAUSE;
                let ticket = server.pending.register();
                let server_for_task = Arc::clone(&server);
                let alive = alive.clone();
                runtime::spawn(async move {
                    server_for_task.handle(stream, peer, ticket).await;
                    drop(alive);
                });
                while server.pending.shed_open() > MAX_SHED_OPEN {
                    runtime::sleep(SHED_PAUSE).await;
                }
            }
            Err(error) if is_out_of_descriptors(&error) && server.pending.shed_oldest() => {
                runtime::sleep(SHED_PAUSE).await;
            }
            Err(error) => {
                log::error!("accepting a connection failed: {error}; retrying in {pause:?}");
                runtime::sleep(pause).await;
                pause = (pause * 2).min(MAX_ACCEPT_PAUSE);
            }
        }
    };
    drop(listener);
    drop(alive);
    if finished {
        log::info!("every consumer has the whole stream: exiting");
    } else {
        let open = server.slots.taken();
        log::info!("shutting down: no longer accepting, closing {open} connections");
    }
    stop_sessions.pull();
    if runtime::timeout(SHUTDOWN_LIMIT, all_gone.next())
        .await
        .is_none()
    {
        log::warn!("some connections did not close in time; leaving them");
    }
}

impl Server {
    /// Whether, the stream being over, every consumer that could want the rest has it: nobody is
    /// connected and, if some were dropped as slow, they have had time to come back.
    fn everyone_has_the_end(&self) -> bool {
        if self.slots.taken() > 0 {
            return false;
        }
        let Mode::Broadcast(hub) = &self.mode else {
            return true;
        };
        let last_close = *self.last_close.lock().unwrap_or_else(|e| e.into_inner());
        !hub.has_dropped_slow() || last_close.elapsed() > RESUME_GRACE
    }

    /// Serves one TCP connection, from its first byte to its last, and logs how it went.
    async fn handle(&self, stream: TcpStream, peer: SocketAddr, pending: Ticket) {
        // Batches are flushed on purpose: a lone message must leave at once, not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let limit = self.config.handshake_timeout;
        // Each phase is boxed: a task's future is as large as all its phases laid side by side,
        // and an idle connection should hold only what its session needs (see BENCHMARKS.md).
        let handshake = runtime::timeout(limit, Box::pin(self.handshake(stream, peer)));
        let accepted = match pending.unless_shed(handshake).await {
            Ok(Some(accepted)) => accepted,
            Ok(None) => {
                self.log.write(
                    peer.ip(),
                    Event::Dropped,
                    format_args!("{peer}: dropped: handshake not completed within {limit:?}"),
                );
                return;
            }
            Err(shed) => {
                self.log.write(
                    peer.ip(),
                    Event::Dropped,
                    format_args!("{peer}: dropped: {shed}"),
                );
                return;
            }
        };
        let Some((mut ws, format, from, slot)) = accepted else {
            return;
        };
        let (outbox, feed) = match &self.mode {
            Mode::PerConnection => {
                let (sender, queue) = queue(self.config.queue);
                let feed = counter::feed(from.unwrap_or(1), self.config.interval, sender);
                (Outbox::new(Vec::new(), queue), feed.left_future())
            }
            Mode::Broadcast(hub) => match hub.subscribe(peer, from).await {
                Some(subscription) => (
                    Outbox::new(subscription.backlog, subscription.queue),
                    future::pending().right_future(),
                ),
                None => {
                    self.log.write(
                        peer.ip(),
                        Event::Refused,
                        format_args!("{peer}: turned away: the server is shutting down"),
                    );
                    let goodbye = CloseFrame {
                        code: close::GOING_AWAY.into(),
                        reason: "server shutting down".into(),
                    };
                    let _ = ws.close(Some(goodbye)).await;
                    return;
                }
            },
        };
        let open = self.slots.taken();
        let start = match (from, &self.mode) {
            (Some(seq), _) => seq.to_string(),
            (None, Mode::PerConnection) => "1".to_string(),
            (None, Mode::Broadcast(_)) => "the live edge".to_string(),
        };
        self.log.write(
            peer.ip(),
            Event::Connected,
            format_args!("{peer}: connected ({format}, from {start}; {open} open)"),
        );
        let session = SessionConfig {
            format,
            ping_interval: self.config.ping_interval,
        };
        let report = Box::pin(session::run(
            ws,
            session,
            outbox,
            feed,
            self.shutdown.clone(),
        ))
        .await;
        drop(slot);
        *self.last_close.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let open = self.slots.taken();
        self.log.write(
            peer.ip(),
            Event::Disconnected,
            format_args!(
                "{peer}: disconnected: {}; {} messages sent ({open} open)",
                report.ending, report.sent
            ),
        );
    }

    /// Decides whether a request gets its WebSocket: where its stream starts and its slot, or
    /// else the answer that serves or refuses it. A slot is taken last, only for a request that
    /// will get its WebSocket.
    fn admit(&self, head: &http::RequestHead) -> Result<(Option<u64>, Slot<'_>), NoWebSocket> {
        match &head.kind {
            RequestKind::Plain(method) => return Err(page::answer(method, &head.target).into()),
            // Upgrades only where a GET would find the page, and the same 404 elsewhere.
            _ if !page::is_root(&head.target) => {
                return Err(page::answer("GET", &head.target).into())
            }
            RequestKind::BadUpgrade(why) => {
                return Err(PlainResponse::text("400 Bad Request", why.clone()).into())
            }
            RequestKind::WebSocket => {}
        }
        let host = head.host.as_deref();
        if let Err(refused) =
            origin::check(head.origin.as_deref(), host, &self.config.allowed_origins)
        {
            let why = format!(
                "origin {} is not allowed (request for {}); see --allowed-origin",
                printable(&refused.origin),
                printable(host.unwrap_or("no Host header"))
            );
            let response = PlainResponse::text("403 Forbidden", refused.to_string());
            return Err(NoWebSocket { response, why });
        }
        let query = head.target.split_once('?').map(|(_, query)| query);
        let from = resume::parse_from(query)
            .map_err(|error| PlainResponse::text("400 Bad Request", error.to_string()))?;
        let slot = self.slots.take().ok_or_else(|| {
            let limit = self.slots.max();
            let why =
                format!("This server is at its limit of {limit} connections: try again later");
            PlainResponse::text("503 Service Unavailable", why)
        })?;
        Ok((from, slot))
    }

    /// Reads the request, answers it if it is not a WebSocket upgrade or cannot be served, and
    /// otherwise takes a connection slot and completes the handshake. `None` when the connection
    /// is over, already answered and logged.
    async fn handshake(
        &self,
        mut stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<(
        WebSocketStream<Rewind<DeafPeerGuard<TcpStream>>>,
        Format,
        Option<u64>,
        Slot<'_>,
    )> {
        let head = match http::read_head(&mut stream).await {
            Ok(head) => head,
            Err(error) => {
                // Only a head that came whole, or too long, is answered: the others are gone.
                let (event, what) = match error {
                    http::HeadError::TooLarge | http::HeadError::Malformed(_) => {
                        (Event::Refused, "answered 400 Bad Request")
                    }
                    http::HeadError::Incomplete | http::HeadError::Io(_) => {
                        (Event::Dropped, "dropped")
                    }
                };
                let error_text = printable(&error.to_string()).to_string();
                self.log.write(
                    peer.ip(),
                    event,
                    format_args!("{peer}: {what}: {error_text}"),
                );
                let answer =
                    PlainResponse::text("400 Bad Request", format!("Bad request: {error}"));
                let _ = answer.send(&mut stream).await;
                return None;
            }
        };
        let (from, slot) = match self.admit(&head) {
            Ok(admitted) => admitted,
            Err(answer) => {
                self.log_answer(peer, &head, &answer);
                let _ = answer.response.send(&mut stream).await;
                return None;
            }
        };
        let socket = Rewind::new(head.bytes, DeafPeerGuard::new(stream));
        match handshake::accept(socket, self.ws_config).await {
            Ok((ws, format)) => Some((ws, format, from, slot)),
            Err(error) => {
                let error = printable(&error.to_string()).to_string();
                self.log.write(
                    peer.ip(),
                    Event::Dropped,
                    format_args!("{peer}: WebSocket handshake failed: {error}"),
                );
                None
            }
        }
    }

    /// One line for a request answered without a WebSocket: the status, what was asked for,
    /// and for a refusal why, all that the peer chose shown escaped.
    fn log_answer(&self, peer: SocketAddr, head: &http::RequestHead, answer: &NoWebSocket) {
        let target = printable(&head.target);
        let status = answer.response.status;
        if status.starts_with('2') {
            self.log.write(
                peer.ip(),
                Event::Answered,
                format_args!("{peer}: answered {status} to {target}"),
            );
            return;
        }
        let why = &answer.why;
        self.log.write(
            peer.ip(),
            Event::Refused,
            format_args!("{peer}: answered {status} to {target}: {why}"),
        );
    }
}

/// The answer to a request that gets no WebSocket, and what the log says of it.
struct NoWebSocket {
    /// What the peer is sent.
    response: PlainResponse,
    /// Why, for the log: escaped, since it may quote what the peer sent.
    why: String,
}

impl From<PlainResponse> for NoWebSocket {
    /// An answer whose body says why, as every plain-text answer does.
    fn from(response: PlainResponse) -> Self {
        let why = printable(response.body.trim_end()).to_string();
        NoWebSocket { response, why }
    }
}

/// Whether a failed accept failed for want of descriptors, in the process or in the system.
fn is_out_of_descriptors(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}
