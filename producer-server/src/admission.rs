//! Admission: from a TCP connection to an accepted WebSocket, or a refusal with an HTTP answer.
//!
//! The request head is read here, plain HTTP requests are answered (the page, 404, 405), the
//! Origin, `?from=` and the connection limit are checked, and only then does tungstenite answer
//! the upgrade. Admission knows nothing of streams or engines.

use crate::handshake;
use crate::http::{self, PlainResponse, RequestHead, RequestKind};
use crate::origin::{self, AllowedOrigin};
use crate::page;
use crate::rewind::Rewind;
use crate::runtime::TcpStream;
use crate::slots::{Slot, Slots};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::WebSocketStream;
use common::{printable, resume, Format};
use std::net::SocketAddr;

/// What admission needs to know.
pub struct Admission<'a> {
    /// Limits and buffer sizes of every WebSocket.
    pub ws_config: WebSocketConfig,
    /// Origins allowed besides the server's own page.
    pub allowed_origins: &'a [AllowedOrigin],
    /// Open connections, against `--max-connections`.
    pub slots: &'a Slots,
}

/// A connection admitted to the stream.
pub struct Admitted<'a> {
    /// The WebSocket, handshake done.
    pub ws: WebSocketStream<Rewind<TcpStream>>,
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
    pub async fn admit(&self, mut stream: TcpStream, peer: SocketAddr) -> Option<Admitted<'a>> {
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
        let (from, slot) = match self.check(&head) {
            Ok(admitted) => admitted,
            Err(answer) => {
                // One line per refusal, saying why; the page and other successes need no reason.
                let why = match answer.status.starts_with('2') {
                    true => String::new(),
                    false => format!(": {}", printable(answer.body.trim_end())),
                };
                log::info!(
                    "{peer}: answered {} to {}{why}",
                    answer.status,
                    printable(&head.target)
                );
                let _ = answer.send(&mut stream).await;
                return None;
            }
        };
        match handshake::accept(Rewind::new(head.bytes, stream), self.ws_config).await {
            Ok((ws, format)) => Some(Admitted {
                ws,
                format,
                from,
                slot,
            }),
            Err(error) => {
                log::info!("{peer}: WebSocket handshake failed: {error}");
                None
            }
        }
    }

    /// The starting point and connection slot of an upgrade that may proceed, or the answer
    /// that refuses the request.
    fn check(&self, head: &RequestHead) -> Result<(Option<u64>, Slot<'a>), PlainResponse> {
        match &head.kind {
            RequestKind::Plain(method) => return Err(page::answer(method, &head.target)),
            RequestKind::BadUpgrade(why) => {
                return Err(PlainResponse::text("400 Bad Request", *why))
            }
            RequestKind::WebSocket => self.check_origin(head)?,
        }
        let query = head.target.split_once('?').map(|(_, query)| query);
        let from = resume::parse_from(query)
            .map_err(|error| PlainResponse::text("400 Bad Request", error.to_string()))?;
        // A slot is taken last, only for a request that will get its WebSocket.
        let slot = self.slots.take().ok_or_else(|| {
            let limit = self.slots.max();
            let why =
                format!("This server is at its limit of {limit} connections: try again later");
            PlainResponse::text("503 Service Unavailable", why)
        })?;
        Ok((from, slot))
    }

    /// Refuses with 403 an upgrade from a web page that may not connect.
    fn check_origin(&self, head: &RequestHead) -> Result<(), PlainResponse> {
        let origin = head.origin.as_deref();
        origin::check(origin, head.host.as_deref(), self.allowed_origins)
            .map_err(|refused| PlainResponse::text("403 Forbidden", refused.to_string()))
    }
}
