//! One connection's life, from its first byte to its log line: admission, then a session fed by
//! the broadcast stream or by the connection's own counter.

use crate::admission::{Admission, Admitted};
use crate::config::Config;
use crate::connection_log::{ConnectionLog, Event};
use crate::metrics::{Metrics, Refusal};
use crate::pending::{Pending, Ticket};
use crate::queue::{queue, Outbox};
use crate::runtime::{self, TcpStream};
use crate::session::{self, SessionConfig};
use crate::shutdown::ShutdownSignal;
use crate::slots::Slots;
use crate::source::counter;
use crate::stream::StreamHandle;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use common::count;
use futures::future::FutureExt;
use futures_rustls::TlsAcceptor;
use std::future::Future;
use std::net::SocketAddr;

/// Where each connection's messages come from.
pub enum Feed {
    /// Each connection runs its own counter, as in the seed.
    OwnCounter,
    /// One stream serves every connection.
    Broadcast(StreamHandle),
}

/// What every connection shares.
pub struct Connections {
    /// The command line.
    pub config: Config,
    /// Limits and buffer sizes of every WebSocket.
    pub ws_config: WebSocketConfig,
    /// Where messages come from.
    pub feed: Feed,
    /// Tells sessions to say goodbye.
    pub shutdown: ShutdownSignal,
    /// Open connections, against `--max-connections`.
    pub slots: Slots,
    /// Connections not yet through their handshake, against `--max-pending`.
    pub pending: Pending,
    /// The connection lines of the log, within their budget.
    pub log: ConnectionLog,
    /// The TLS side of every connection, with `--tls-cert`.
    pub tls: Option<TlsAcceptor>,
    /// What is counted for `--metrics`.
    pub metrics: Metrics,
}

impl Connections {
    /// Serves one TCP connection, from its first byte to its last, and logs how it went.
    /// `pending` is its place among unfinished handshakes: shed, it is dropped at once.
    pub async fn serve(&self, stream: TcpStream, peer: SocketAddr, pending: Ticket) {
        // Each phase is boxed: a task's future is as large as all its phases laid side by side,
        // and an idle connection should hold only what its session needs (see BENCHMARKS.md).
        // Nothing of the handshake outlives its statement: it would take room for the session's
        // whole life.
        let Some(admitted) = Box::pin(self.admit(stream, peer, pending)).await else {
            return;
        };
        let session = Box::pin(self.session(admitted, peer));
        session.await;
    }

    /// An admitted connection's life: its outbox, its session, its log lines.
    ///
    /// Not an `async fn`, and the WebSocket split before the block: the block keeps what it
    /// captures for the connection's whole life, and two halves are a pointer each where the
    /// whole WebSocket is a few hundred bytes.
    fn session<'a>(
        &'a self,
        admitted: Admitted<'a>,
        peer: SocketAddr,
    ) -> impl Future<Output = ()> + 'a {
        let Admitted {
            ws,
            format,
            from,
            slot,
        } = admitted;
        let (sink, incoming) = ws.split();
        async move {
            let (outbox, counter) = match &self.feed {
                Feed::OwnCounter => {
                    let first = from.unwrap_or(1);
                    let (ticks, queue) = queue(self.config.queue);
                    let metrics = self.metrics.clone();
                    let counter = counter::feed(first, self.config.interval, ticks, metrics);
                    (Outbox::counter(first, queue), Some(counter.boxed()))
                }
                Feed::Broadcast(stream) => {
                    (Box::pin(stream.subscribe(peer, from, format)).await, None)
                }
            };
            let start = match (from, &self.feed) {
                (Some(seq), _) => seq.to_string(),
                (None, Feed::OwnCounter) => "1".to_string(),
                (None, Feed::Broadcast(_)) => "the live edge".to_string(),
            };
            self.metrics.opened();
            if from.is_some() {
                self.metrics.resumed();
            }
            let open = self.slots.taken();
            self.log.write(
                peer.ip(),
                Event::Connected,
                format_args!("{peer}: connected ({format}, from {start}; {open} open)"),
            );
            let session = SessionConfig {
                format,
                ping_interval: self.config.ping_interval,
                metrics: self.metrics.clone(),
            };
            let shutdown = self.shutdown.clone();
            let report = session::run(sink, incoming, session, outbox, counter, shutdown).await;
            drop(slot);
            self.metrics.closed();
            self.log.write(
                peer.ip(),
                Event::Disconnected,
                format_args!(
                    "{peer}: disconnected: {}; {} sent ({} open)",
                    report.ending,
                    count(report.sent, "message"),
                    self.slots.taken()
                ),
            );
        }
    }

    /// The handshake, within `--handshake-timeout` and unless shed: the accepted WebSocket, or
    /// `None` once the connection is answered or dropped, and logged.
    async fn admit(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        pending: Ticket,
    ) -> Option<Admitted<'_>> {
        // Batches are flushed on purpose: a lone message must leave at once, not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let limit = self.config.handshake_timeout;
        let admission = Admission {
            ws_config: self.ws_config,
            allowed_origins: &self.config.allowed_origins,
            slots: &self.slots,
            log: &self.log,
            tls: self.tls.as_ref(),
            metrics: &self.metrics,
        };
        // Boxed apart: the timeout and the shedding around it would each keep a copy.
        let admitted = runtime::timeout(limit, Box::pin(admission.admit(stream, peer)));
        match pending.unless_shed(admitted).await {
            Ok(Some(admitted)) => admitted,
            Ok(None) => {
                self.metrics.refused(Refusal::Timeout);
                let why = format!("dropped: handshake not completed within {limit:?}");
                self.log
                    .write(peer.ip(), Event::Dropped, format_args!("{peer}: {why}"));
                None
            }
            Err(shed) => {
                let why = format_args!("{peer}: dropped: {shed}");
                self.log.write(peer.ip(), Event::Dropped, why);
                None
            }
        }
    }
}
