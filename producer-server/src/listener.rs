//! The accept loop, and each connection's way from TCP to a running session.
//!
//! Errors of one connection are logged here, where its task is spawned, and never end the loop.

use crate::config::Config;
use crate::handshake;
use crate::http::{self, PlainResponse, RequestKind};
use crate::origin;
use crate::page;
use crate::rewind::Rewind;
use crate::runtime::{self, TcpListener, TcpStream};
use crate::session;
use crate::shutdown::ShutdownSignal;
use crate::source::counter;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::WebSocketStream;
use common::{resume, Format};
use futures::channel::mpsc;
use futures::{pin_mut, select, FutureExt, StreamExt};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long connections get to say goodbye once shutdown is asked for, on top of their own
/// goodbye limit; the server exits within 2 seconds of SIGINT or SIGTERM whatever they do.
const SHUTDOWN_LIMIT: Duration = Duration::from_millis(1500);

/// Pause after a failed accept (such as too many open files), doubled up to [`MAX_ACCEPT_PAUSE`]
/// while failures go on, so that the loop neither spins nor gives up.
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// What every connection task shares.
struct Server {
    /// The command line.
    config: Config,
    /// Limits and buffer sizes of every WebSocket.
    ws_config: WebSocketConfig,
    /// Tells sessions to say goodbye.
    shutdown: ShutdownSignal,
    /// Connections open now, for the logs.
    open: AtomicUsize,
}

/// Serves `listener` until `shutdown`, then gives every connection its goodbye and returns.
pub async fn serve(listener: TcpListener, config: Config, shutdown: ShutdownSignal) {
    let ws_config = WebSocketConfig::default()
        // Clients send only control frames: a small read buffer is plenty.
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size));
    let server = Arc::new(Server {
        config,
        ws_config,
        shutdown: shutdown.clone(),
        open: AtomicUsize::new(0),
    });
    // Every connection task holds a clone of `alive`; `all_gone` ends when the last is dropped.
    let (alive, mut all_gone) = mpsc::channel::<Infallible>(0);
    let stop = shutdown.wait().fuse();
    pin_mut!(stop);
    let mut pause = FIRST_ACCEPT_PAUSE;
    loop {
        let accepted = select! {
            () = stop => break,
            accepted = listener.accept().fuse() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
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
    }
    drop(listener);
    drop(alive);
    let open = server.open.load(Ordering::Relaxed);
    log::info!("shutting down: no longer accepting, closing {open} connections");
    if runtime::timeout(SHUTDOWN_LIMIT, all_gone.next())
        .await
        .is_none()
    {
        log::warn!("some connections did not close in time; leaving them");
    }
}

impl Server {
    /// Serves one TCP connection, from its first byte to its last, and logs how it went.
    async fn handle(&self, stream: TcpStream, peer: SocketAddr) {
        // Batches are flushed on purpose: a lone message must leave at once, not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let limit = self.config.handshake_timeout;
        let Some(accepted) = runtime::timeout(limit, self.handshake(stream, peer)).await else {
            log::info!("{peer}: dropped: handshake not completed within {limit:?}");
            return;
        };
        let Some((ws, format, from)) = accepted else {
            return;
        };
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        let first = from.unwrap_or(1);
        log::info!("{peer}: connected ({format}, from {first}; {open} open)");
        let (queue_in, queue_out) = mpsc::channel(self.queue_buffer());
        let feed = counter::count(first, self.config.interval, queue_in);
        let report = session::run(ws, format, queue_out, feed, self.shutdown.clone()).await;
        let open = self.open.fetch_sub(1, Ordering::Relaxed) - 1;
        log::info!(
            "{peer}: disconnected: {}; {} messages sent ({open} open)",
            report.ending,
            report.sent
        );
    }

    /// The `buffer` argument of `mpsc::channel` that gives a queue of `--queue` messages: a
    /// futures channel holds `buffer` messages plus one per sender, and each queue has one.
    fn queue_buffer(&self) -> usize {
        self.config.queue.get() - 1
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

    /// Reads the request, answers it if it is not a WebSocket upgrade, and otherwise completes the
    /// handshake. `None` when the connection is over, already answered and logged.
    async fn handshake(
        &self,
        mut stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<(WebSocketStream<Rewind<TcpStream>>, Format, Option<u64>)> {
        let head = match http::read_head(&mut stream).await {
            Ok(head) => head,
            Err(error) => {
                log::info!("{peer}: dropped: {error}");
                let answer =
                    PlainResponse::text("400 Bad Request", format!("Bad request: {error}"));
                let _ = answer.send(&mut stream).await;
                return None;
            }
        };
        let refusal = match head.kind {
            RequestKind::WebSocket => self.refused_origin(&head, peer),
            RequestKind::Plain(method) => Some(page::answer(&method, &head.target)),
            RequestKind::BadUpgrade(why) => Some(PlainResponse::text("400 Bad Request", why)),
        };
        let query = head.target.split_once('?').map(|(_, query)| query);
        let refusal = refusal.or_else(|| {
            let error = resume::parse_from(query).err()?;
            Some(PlainResponse::text("400 Bad Request", error.to_string()))
        });
        if let Some(answer) = refusal {
            log::info!("{peer}: answered {} to {}", answer.status, head.target);
            let _ = answer.send(&mut stream).await;
            return None;
        }
        // parse_from succeeded just above.
        let from = resume::parse_from(query).unwrap_or_default();
        match handshake::accept(Rewind::new(head.bytes, stream), self.ws_config).await {
            Ok((ws, format)) => Some((ws, format, from)),
            Err(error) => {
                log::info!("{peer}: WebSocket handshake failed: {error}");
                None
            }
        }
    }
}
