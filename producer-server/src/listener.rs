//! The accept loop: each connection gets a task of its own, and the server's end waits for them.
//!
//! Errors of one connection are logged where its task is spawned, and never end the loop.

use crate::config::Config;
use crate::connection::{Connections, Feed};
use crate::connection_log::ConnectionLog;
use crate::engine::redis::Unpublished;
use crate::metrics::Metrics;
use crate::pending::{self, Pending};
use crate::runtime::{self, TcpListener};
use crate::shutdown::{shutdown_pair, ShutdownSignal};
use crate::slots::Slots;
use crate::stream::{self, OpenedEngine};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use common::count;
use futures::channel::mpsc;
use futures::future::{self, FutureExt};
use futures::{pin_mut, select, StreamExt};
use futures_rustls::TlsAcceptor;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// How long the server waits, once shutdown is asked for, for every connection to say goodbye
/// (each also has its own, shorter limit), and meanwhile for a publishing node's publisher to add
/// what it has read; it exits within 2 seconds of SIGINT or SIGTERM whatever they do.
const SHUTDOWN_LIMIT: Duration = Duration::from_millis(1500);

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

/// The most a connection's write buffer may hold: a full buffer and the largest frame a message
/// could make. The server writes no frame over [`crate::fragments::FRAGMENT`] and a header, so
/// this is a limit never reached by what it sends; beyond it tungstenite keeps no more pongs: see
/// [`crate::deaf_peer`] for the peer that keeps asking for them.
const MAX_WRITE_BUFFER: usize = WRITE_BUFFER + common::frame::MAX_FRAME_LEN + 16;

/// Serves `listener` until `shutdown`, or until the broadcast stream over `engine` (from
/// [`stream::open`]; `None` in per-connection mode) is over and its consumers have it, then
/// gives every connection its goodbye and returns. An error (already logged) when this node
/// publishes into Redis and lines it had read could not be added in time.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    engine: Option<OpenedEngine>,
    tls: Option<TlsAcceptor>,
    metrics: Metrics,
    shutdown: ShutdownSignal,
) -> Result<(), Unpublished> {
    // Sessions and the stream stop on their own signal: when the stream ends, they are given
    // time to finish before it is pulled.
    let (stop_sessions, sessions_stop) = shutdown_pair();
    let log = ConnectionLog::new();
    let (feed, finished, publishing) = if let Some(engine) = engine {
        let (handle, finished, publishing) =
            stream::start_from(engine, &config, &metrics, &log, sessions_stop.clone());
        let finished = finished.map(|_| ()).left_future();
        (Feed::Broadcast(handle), finished, publishing)
    } else {
        (Feed::OwnCounter, future::pending().right_future(), None)
    };
    let connections = Arc::new(Connections {
        ws_config: ws_config(&config),
        slots: Slots::new(config.max_connections),
        pending: Pending::new(pending::bound(config.max_pending)),
        log,
        tls,
        metrics,
        config,
        feed,
        shutdown: sessions_stop,
    });
    // Every connection task holds a clone of `alive`; `all_gone` ends when the last is dropped.
    let (alive, mut all_gone) = mpsc::channel::<Infallible>(0);
    let stop = shutdown.wait().fuse();
    let finished = finished.fuse();
    pin_mut!(stop, finished);
    let mut pause = FIRST_ACCEPT_PAUSE;
    let stream_done = loop {
        let accepted = select! {
            () = stop => break false,
            () = finished => break true,
            accepted = listener.accept().fuse() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                pause = FIRST_ACCEPT_PAUSE;
                connections.metrics.accepted();
                let ticket = connections.pending.register();
                let task = Arc::clone(&connections);
                let alive = alive.clone();
                runtime::spawn(async move {
                    task.serve(stream, peer, ticket).await;
                    drop(alive);
                });
                while connections.pending.shed_open() > MAX_SHED_OPEN {
                    runtime::sleep(SHED_PAUSE).await;
                }
            }
            // Out of descriptors: the oldest unfinished handshake makes room for a newcomer.
            Err(error) if is_out_of_descriptors(&error) && connections.pending.shed_oldest() => {
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
    if stream_done {
        log::info!("the stream is over and its consumers have it: exiting");
    } else {
        let open = count(connections.slots.taken(), "connection");
        log::info!("shutting down: no longer accepting, closing {open}");
    }
    stop_sessions.pull();
    let published = async {
        match publishing {
            Some(publishing) => publishing.finish(SHUTDOWN_LIMIT).await,
            None => Ok(()),
        }
    };
    let (closed, published) =
        future::join(runtime::timeout(SHUTDOWN_LIMIT, all_gone.next()), published).await;
    if closed.is_none() {
        log::warn!("some connections did not close in time; leaving them");
    }
    published
}

/// Limits and buffer sizes of every WebSocket.
fn ws_config(config: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        // Clients send only control frames, of at most 125 bytes: a read buffer that holds one is
        // plenty, and tungstenite allocates it for every connection up front. A larger message
        // (up to --max-message-size) grows it as needed.
        .read_buffer_size(256)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(config.max_message_size))
        // tungstenite applies the frame limit to control frames too: below their 125 bytes, a
        // client's close frame would be refused.
        .max_frame_size(Some(config.max_message_size.max(125)))
}

/// Whether a failed accept failed for want of descriptors, in the process or in the system.
fn is_out_of_descriptors(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}
