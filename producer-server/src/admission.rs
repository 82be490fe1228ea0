//! Admission: from a TCP connection to an accepted WebSocket, or a refusal with an HTTP answer.
//!
//! The request head is read here, plain HTTP requests are answered (the page, 404, 405), the
//! Origin, `?from=` and the connection limit are checked, and only then does tungstenite answer
//! the upgrade. Admission knows nothing of streams or engines.

use crate::connection_log::{ConnectionLog, Event};
use crate::deaf_peer::DeafPeerGuard;
use crate::handshake;
use crate::http::{self, HeadError, PlainResponse, RequestHead, RequestKind};
use crate::metrics::{Metrics, Refusal};
use crate::origin::{self, AllowedOrigin};
use crate::page;
use crate::rewind::Rewind;
use crate::runtime::TcpStream;
use crate::slots::{Slot, Slots};
use crate::transport::{self, Stream, TlsRefusal};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::WebSocketStream;
use common::take_turns::TakeTurns;
use common::{printable, resume, Format};
use futures_rustls::TlsAcceptor;
use std::net::SocketAddr;

/// What admission needs to know.
pub struct Admission<'a> {
    /// Limits and buffer sizes of every WebSocket.
    pub ws_config: WebSocketConfig,
    /// Origins allowed besides the server's own page.
    pub allowed_origins: &'a [AllowedOrigin],
    /// Open connections, against `--max-connections`.
    pub slots: &'a Slots,
    /// Where refusals are logged, within the log's budget.
    pub log: &'a ConnectionLog,
    /// The TLS side of every connection, with `--tls-cert`.
    pub tls: Option<&'a TlsAcceptor>,
    /// Where refusals are counted.
    pub metrics: &'a Metrics,
}

/// An admitted connection's bytes: the request head read during admission replayed first, a
/// peer that sends while reading nothing given up on, and reads taking turns so that a peer that
/// floods cannot hold an executor thread.
pub type Socket = Rewind<DeafPeerGuard<TakeTurns<Stream>>>;

/// A connection admitted to the stream.
pub struct Admitted<'a> {
    /// The WebSocket, handshake done.
    pub ws: WebSocketStream<Socket>,
    /// How messages are framed for this peer.
    pub format: Format,
    /// The first sequence number it asked for with `?from=`, if any.
    pub from: Option<u64>,
    /// Its place against `--max-connections`, held for as long as it is open.
    pub slot: Slot<'a>,
}

impl<'a> Admission<'a> {
    /// Reads the request, answers it if it is not a WebSocket upgrade or cannot be served, and
    /// otherwise takes a connection slot and completes the handshake. `None` when the
    /// connection is over, already answered and logged.
    pub async fn admit(&self, tcp: TcpStream, peer: SocketAddr) -> Option<Admitted<'a>> {
        let mut stream = self.open(tcp, peer).await?;
        let head = match http::read_head(&mut stream).await {
            Ok(head) => head,
            Err(error) => {
                // Every failure gets its 400 (a peer that is gone just does not read it); the log
                // says whether the head was refused or the peer dropped it.
                self.metrics.refused(Refusal::BadRequest);
                let (event, what) = match error {
                    HeadError::TooLarge | HeadError::Malformed(_) => {
                        (Event::Refused, "answered 400 Bad Request")
                    }
                    HeadError::Incomplete | HeadError::Io(_) => (Event::Dropped, "dropped"),
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
        let (from, slot) = match self.check(&head) {
            Ok(admitted) => admitted,
            Err(answer) => {
                if !matches!(head.kind, RequestKind::Plain(_)) {
                    self.metrics.refused(Refusal::of_status(answer.status));
                }
                self.log_answer(peer, &head, &answer);
                let _ = answer.send(&mut stream).await;
                return None;
            }
        };
        let socket = Rewind::new(head.bytes, DeafPeerGuard::new(TakeTurns::new(stream)));
        match handshake::accept(socket, self.ws_config).await {
            Ok((ws, format)) => Some(Admitted {
                ws,
                format,
                from,
                slot,
            }),
            Err(error) => {
                self.metrics.refused(Refusal::WebSocket);
                let error = printable(&error.to_string()).to_string();
                let line = format!("{peer}: WebSocket handshake failed: {error}");
                self.log
                    .write(peer.ip(), Event::Dropped, format_args!("{line}"));
                None
            }
        }
    }

    /// The connection's byte stream: TCP as it is, or after the TLS handshake on a TLS port.
    /// `None`, logged and counted, when a TLS port got plain text or a failed handshake.
    async fn open(&self, tcp: TcpStream, peer: SocketAddr) -> Option<Stream> {
        match transport::open(tcp, self.tls).await {
            Ok(stream) => Some(stream),
            Err(refusal) => {
                self.metrics.refused(match refusal {
                    TlsRefusal::NotTls => Refusal::NotTls,
                    TlsRefusal::Handshake(_) => Refusal::Tls,
                });
                let line = format!("{peer}: refused: {}", printable(&refusal.to_string()));
                self.log
                    .write(peer.ip(), Event::Refused, format_args!("{line}"));
                None
            }
        }
    }

    /// The starting point and connection slot of an upgrade that may proceed, or the answer
    /// that refuses the request.
    fn check(&self, head: &RequestHead) -> Result<(Option<u64>, Slot<'a>), PlainResponse> {
        match &head.kind {
            RequestKind::Plain(method) => return Err(page::answer(method, &head.target)),
            // Upgrades only where a GET would find the page, and the same 404 elsewhere.
            _ if !page::is_root(&head.target) => return Err(page::answer("GET", &head.target)),
            RequestKind::BadUpgrade(why) => {
                return Err(PlainResponse::text("400 Bad Request", why.clone()))
            }
            RequestKind::WebSocket => self.check_origin(head)?,
        }
        let query = head.target.split_once('?').map(|(_, query)| query);
        let from = resume::parse_from(query)
            .map_err(|error| PlainResponse::text("400 Bad Request", error.to_string()))?;
        // A slot is taken last, only for a request that will get its WebSocket.
        let slot = self.slots.take().ok_or_else(|| {
            let limit = self.slots.max();
            let why = format!(
                "This server is at its limit of {}: try again later",
                common::count(limit, "connection")
            );
            PlainResponse::text("503 Service Unavailable", why)
        })?;
        Ok((from, slot))
    }

    /// One line for a request answered without a WebSocket: the status, what was asked for, and
    /// for a refusal why (its answer's text), all that the peer chose shown escaped.
    fn log_answer(&self, peer: SocketAddr, head: &RequestHead, answer: &PlainResponse) {
        let target = printable(&head.target);
        let status = answer.status;
        if status.starts_with('2') {
            let line = format_args!("{peer}: answered {status} to {target}");
            self.log.write(peer.ip(), Event::Answered, line);
        } else {
            let why = printable(answer.body.trim_end());
            let line = format_args!("{peer}: answered {status} to {target}: {why}");
            self.log.write(peer.ip(), Event::Refused, line);
        }
    }

    /// Refuses with 403 an upgrade from a web page that may not connect.
    fn check_origin(&self, head: &RequestHead) -> Result<(), PlainResponse> {
        let origin = head.origin.as_deref();
        origin::check(origin, head.host.as_deref(), self.allowed_origins)
            .map_err(|refused| PlainResponse::text("403 Forbidden", refused.to_string()))
    }
}
