//! The accept loop, and each connection's way from TCP to a running session.
//!
//! Errors of one connection are logged here, where its task is spawned, and never end the loop.

use crate::config::{Config, SourceKind};
use crate::handshake;
use crate::http::{self, PlainResponse, RequestKind};
use crate::hub::{self, HubConfig, HubHandle, Pace};
use crate::metrics::{Metrics, Refusal};
use crate::origin;
use crate::outgoing::{queue, Outbox};
use crate::page;
use crate::rewind::Rewind;
use crate::runtime::{self, TcpListener, TcpStream};
use crate::session::{self, SessionConfig};
use crate::shutdown::{shutdown_pair, ShutdownSignal};
use crate::slots::{Slot, Slots};
use crate::source::{counter, stdin, Source};
use crate::transport::{self, Stream, TlsRefusal};
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::WebSocketStream;
use common::{close, resume, Format};
use futures::channel::mpsc;
use futures::future::{self, Fuse, FutureExt};
use futures::{pin_mut, select, StreamExt};
use futures_rustls::TlsAcceptor;
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
    /// When a connection last closed.
    last_close: Mutex<Instant>,
    /// The TLS side of every connection, with `--tls-cert`.
    tls: Option<TlsAcceptor>,
    /// What is counted for `--metrics`.
    metrics: Metrics,
}

/// Serves `listener` until `shutdown`, or until the stream ends, then gives every connection
/// its goodbye and returns.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    tls: Option<TlsAcceptor>,
    metrics: Metrics,
    shutdown: ShutdownSignal,
) {
    let ws_config = WebSocketConfig::default()
        // Clients send only control frames, of at most 125 bytes: a read buffer that holds one is
        // plenty, and tungstenite allocates it for every connection up front. A larger message
        // (up to --max-message-size) grows it as needed.
        .read_buffer_size(256)
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
            metrics: metrics.clone(),
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
        last_close: Mutex::new(Instant::now()),
        config,
        ws_config,
        mode,
        shutdown: sessions_stop,
        tls,
        metrics,
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
                server.metrics.accepted();
                pause = FIRST_ACCEPT_PAUSE;
                let server = Arc::clone(&server);
                let alive = alive.clone();
                runtime::spawn(async move {
                    server.handle(stream, peer).await;
                    drop(alive);
                });
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
    async fn handle(&self, stream: TcpStream, peer: SocketAddr) {
        // Batches are flushed on purpose: a lone message must leave at once, not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let limit = self.config.handshake_timeout;
        // Each phase is boxed: a task's future is as large as all its phases laid side by side,
        // and an idle connection should hold only what its session needs (see BENCHMARKS.md).
        let handshake = Box::pin(self.handshake(stream, peer));
        let Some(accepted) = runtime::timeout(limit, handshake).await else {
            log::info!("{peer}: dropped: handshake not completed within {limit:?}");
            self.metrics.refused(Refusal::Timeout);
            return;
        };
        let Some((mut ws, format, from, slot)) = accepted else {
            return;
        };
        let (outbox, feed) = match &self.mode {
            Mode::PerConnection => {
                let (sender, queue) = queue(self.config.queue);
                let first = from.unwrap_or(1);
                let metrics = self.metrics.clone();
                let feed = counter::feed(first, self.config.interval, sender, metrics);
                (Outbox::new(Vec::new(), queue), feed.left_future())
            }
            Mode::Broadcast(hub) => match hub.subscribe(peer, from).await {
                Some(subscription) => (
                    Outbox::new(subscription.backlog, subscription.queue),
                    future::pending().right_future(),
                ),
                None => {
                    log::info!("{peer}: turned away: the server is shutting down");
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
        log::info!("{peer}: connected ({format}, from {start}; {open} open)");
        self.metrics.opened();
        if from.is_some() {
            self.metrics.resumed();
        }
        let session = SessionConfig {
            format,
            ping_interval: self.config.ping_interval,
            metrics: self.metrics.clone(),
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
        self.metrics.closed();
        *self.last_close.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let open = self.slots.taken();
        log::info!(
            "{peer}: disconnected: {}; {} messages sent ({open} open)",
            report.ending,
            report.sent
        );
    }

    /// The 403 answer to an upgrade from a web page that may not connect, logged; `None` when
    /// it may.
    fn refused_origin(&self, head: &http::RequestHead, peer: SocketAddr) -> Option<PlainResponse> {
        let origin = head.origin.as_deref();
        let refused =
            origin::check(origin, head.host.as_deref(), &self.config.allowed_origins).err()?;
        let host = head.host.as_deref().unwrap_or("no Host header");
        log::info!(
            "{peer}: refused: origin {} is not allowed (request for {host}); see --allowed-origin",
            refused.origin
        );
        Some(PlainResponse::text("403 Forbidden", refused.to_string()))
    }

    /// Reads the request, answers it if it is not a WebSocket upgrade or cannot be served, and
    /// otherwise takes a connection slot and completes the handshake. `None` when the connection
    /// is over, already answered and logged.
    async fn handshake(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
    ) -> Option<(
        WebSocketStream<Rewind<Stream>>,
        Format,
        Option<u64>,
        Slot<'_>,
    )> {
        let mut stream = self.open(tcp, peer).await?;
        let head = match http::read_head(&mut stream).await {
            Ok(head) => head,
            Err(error) => {
                log::info!("{peer}: dropped: {error}");
                self.metrics.refused(Refusal::BadRequest);
                let answer =
                    PlainResponse::text("400 Bad Request", format!("Bad request: {error}"));
                let _ = answer.send(&mut stream).await;
                return None;
            }
        };
        let refusal = match &head.kind {
            RequestKind::Plain(method) => Some(page::answer(method, &head.target)),
            RequestKind::BadUpgrade(why) => Some(PlainResponse::text("400 Bad Request", *why)),
            RequestKind::WebSocket => self.refused_origin(&head, peer),
        };
        let query = head.target.split_once('?').map(|(_, query)| query);
        let from = resume::parse_from(query);
        let refusal = refusal.or_else(|| {
            let error = from.as_ref().err()?;
            Some(PlainResponse::text("400 Bad Request", error.to_string()))
        });
        // A slot is taken last, only for a request that will get its WebSocket.
        let slot = refusal.is_none().then(|| self.slots.take()).flatten();
        let refusal = refusal.or_else(|| {
            slot.is_none().then(|| {
                let limit = self.slots.max();
                let why =
                    format!("This server is at its limit of {limit} connections: try again later");
                PlainResponse::text("503 Service Unavailable", why)
            })
        });
        let (Ok(from), Some(slot), None) = (from, slot, &refusal) else {
            let answer = refusal.expect("every other case is a refusal");
            log::info!("{peer}: answered {} to {}", answer.status, head.target);
            if !matches!(head.kind, RequestKind::Plain(_)) {
                self.metrics.refused(Refusal::of_status(answer.status));
            }
            let _ = answer.send(&mut stream).await;
            return None;
        };
        match handshake::accept(Rewind::new(head.bytes, stream), self.ws_config).await {
            Ok((ws, format)) => Some((ws, format, from, slot)),
            Err(error) => {
                log::info!("{peer}: WebSocket handshake failed: {error}");
                self.metrics.refused(Refusal::WebSocket);
                None
            }
        }
    }

    /// The connection's byte stream: TCP as it is, or after the TLS handshake on a TLS port.
    /// `None`, logged and counted, when a TLS port got plain text or a failed handshake.
    async fn open(&self, tcp: TcpStream, peer: SocketAddr) -> Option<Stream> {
        match transport::open(tcp, self.tls.as_ref()).await {
            Ok(stream) => Some(stream),
            Err(refusal) => {
                log::info!("{peer}: refused: {refusal}");
                self.metrics.refused(match refusal {
                    TlsRefusal::NotTls => Refusal::NotTls,
                    TlsRefusal::Handshake(_) => Refusal::Tls,
                });
                None
            }
        }
    }
}
