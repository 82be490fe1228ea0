//! What the server counts, for `GET /metrics` (Prometheus text format) and `GET /healthz`.
//!
//! [`Metrics`] is a cheap handle, an `Arc` of atomic counters, cloned to wherever events happen;
//! each event is one call on it. The registry that names them for Prometheus lives here too, so
//! the names, help texts and types are all in one place. Counting costs an atomic add whether or
//! not `--metrics` serves them.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The handle every part of the server counts through.
#[derive(Clone)]
pub struct Metrics {
    /// The counters, shared with the registry that reads them.
    inner: Arc<Inner>,
}

/// The counters themselves.
struct Inner {
    /// Every metric, named, for the `/metrics` answer.
    registry: Registry,
    /// TCP connections accepted, whatever became of them.
    connections_accepted: Counter,
    /// WebSocket connections open now (each holds one of `--max-connections`).
    connections_open: Gauge,
    /// Connections that got no WebSocket, by why: what an operator looks at when clients
    /// complain that they cannot connect.
    handshakes_refused: Family<RefusalLabel, Counter>,
    /// Messages produced: by the hub in broadcast mode, by every connection's own counter in
    /// per-connection mode.
    messages_produced: Counter,
    /// Messages of the stream handed to consumers' sockets (notices excluded).
    deliveries: Counter,
    /// Bytes of those messages' frames' payloads (WebSocket and TLS framing excluded).
    bytes_sent: Counter,
    /// Consumers closed with 4000 because their queue was full: the sign that consumers or the
    /// network cannot keep up, or that `--queue` is too small.
    slow_closes: Counter,
    /// Connections that asked for `?from=N` (a resume, usually after a drop).
    resumes: Counter,
    /// Lost-range notices: resumes that asked for more than the history still held.
    lost_ranges: Counter,
    /// Messages the broadcast history holds now.
    history_size: Gauge,
    /// Whether the engine answers; `/healthz` says 503 while it does not. The in-process engine
    /// always does; the Redis engine sets it as its connection comes and goes, and adds its
    /// lag (`prodcon_engine_lag_messages`, a gauge) and reconnects
    /// (`prodcon_engine_reconnects_total`, a counter) to the registry beside the others.
    engine_reachable: AtomicBool,
}

/// Why a connection got no WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The handshake (TLS included) was not done within `--handshake-timeout`.
    Timeout,
    /// A plain-text client on a TLS port.
    NotTls,
    /// The TLS handshake failed: the client does not trust the certificate, or hung up.
    Tls,
    /// A malformed request, a broken upgrade, a bad `?from=`.
    BadRequest,
    /// A web page whose origin may not connect.
    Origin,
    /// `--max-connections` are open.
    Limit,
    /// The WebSocket handshake proper failed.
    WebSocket,
}

impl Refusal {
    /// Every reason, so that each is exported (as 0) from the start.
    const ALL: [Refusal; 7] = [
        Refusal::Timeout,
        Refusal::NotTls,
        Refusal::Tls,
        Refusal::BadRequest,
        Refusal::Origin,
        Refusal::Limit,
        Refusal::WebSocket,
    ];

    /// The reason of an HTTP refusal of an upgrade, from its status.
    pub fn of_status(status: &str) -> Refusal {
        match status.split(' ').next() {
            Some("403") => Refusal::Origin,
            Some("503") => Refusal::Limit,
            _ => Refusal::BadRequest,
        }
    }

    /// The label value.
    fn label(self) -> &'static str {
        match self {
            Refusal::Timeout => "timeout",
            Refusal::NotTls => "not_tls",
            Refusal::Tls => "tls",
            Refusal::BadRequest => "bad_request",
            Refusal::Origin => "origin",
            Refusal::Limit => "limit",
            Refusal::WebSocket => "websocket",
        }
    }
}

impl EncodeLabelValue for Refusal {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.label())
    }
}

/// The label set of `prodcon_handshakes_refused_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefusalLabel {
    /// Why.
    reason: Refusal,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every counter at zero, the engine reachable.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("prodcon");
        let connections_accepted = Counter::default();
        let connections_open = Gauge::default();
        let handshakes_refused = Family::<RefusalLabel, Counter>::default();
        let messages_produced = Counter::default();
        let deliveries = Counter::default();
        let bytes_sent = Counter::default();
        let slow_closes = Counter::default();
        let resumes = Counter::default();
        let lost_ranges = Counter::default();
        let history_size = Gauge::default();
        for reason in Refusal::ALL {
            let _ = handshakes_refused.get_or_create(&RefusalLabel { reason });
        }
        // Counters get their `_total` suffix from the registry.
        registry.register(
            "connections_accepted",
            "TCP connections accepted",
            connections_accepted.clone(),
        );
        registry.register(
            "connections_open",
            "WebSocket connections open now",
            connections_open.clone(),
        );
        registry.register(
            "handshakes_refused",
            "Connections that got no WebSocket, by reason",
            handshakes_refused.clone(),
        );
        registry.register(
            "messages_produced",
            "Messages produced by the source(s)",
            messages_produced.clone(),
        );
        registry.register(
            "deliveries",
            "Messages of the stream handed to consumers' sockets",
            deliveries.clone(),
        );
        registry.register(
            "bytes_sent",
            "Bytes of message payloads handed to consumers' sockets, framing excluded",
            bytes_sent.clone(),
        );
        registry.register(
            "slow_consumers_closed",
            "Consumers closed with 4000 because their queue was full",
            slow_closes.clone(),
        );
        registry.register(
            "resumes",
            "Connections that asked to start from a sequence number (?from=N)",
            resumes.clone(),
        );
        registry.register(
            "lost_ranges",
            "Lost-range notices: resumes from before what the history holds",
            lost_ranges.clone(),
        );
        registry.register(
            "history_messages",
            "Messages the broadcast history holds now",
            history_size.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                connections_accepted,
                connections_open,
                handshakes_refused,
                messages_produced,
                deliveries,
                bytes_sent,
                slow_closes,
                resumes,
                lost_ranges,
                history_size,
                engine_reachable: AtomicBool::new(true),
            }),
        }
    }

    /// A TCP connection was accepted.
    pub fn accepted(&self) {
        self.inner.connections_accepted.inc();
    }

    /// A WebSocket connection opened.
    pub fn opened(&self) {
        self.inner.connections_open.inc();
    }

    /// A WebSocket connection closed.
    pub fn closed(&self) {
        self.inner.connections_open.dec();
    }

    /// A connection got no WebSocket, for `reason`.
    pub fn refused(&self, reason: Refusal) {
        self.inner
            .handshakes_refused
            .get_or_create(&RefusalLabel { reason })
            .inc();
    }

    /// A message was produced.
    pub fn produced(&self) {
        self.produced_many(1);
    }

    /// `count` messages were produced.
    pub fn produced_many(&self, count: usize) {
        self.inner.messages_produced.inc_by(count as u64);
    }

    /// A message of `bytes` bytes was handed to a consumer's socket.
    pub fn delivered(&self, bytes: usize) {
        self.delivered_many(1, bytes);
    }

    /// `count` messages of `bytes` bytes in all were handed to a consumer's socket.
    pub fn delivered_many(&self, count: u64, bytes: usize) {
        self.inner.deliveries.inc_by(count);
        self.inner.bytes_sent.inc_by(bytes as u64);
    }

    /// A consumer was closed as slow.
    pub fn closed_slow(&self) {
        self.inner.slow_closes.inc();
    }

    /// A connection asked to start from a sequence number.
    pub fn resumed(&self) {
        self.inner.resumes.inc();
    }

    /// A lost range was announced.
    pub fn lost_range(&self) {
        self.inner.lost_ranges.inc();
    }

    /// The broadcast history now holds `messages`.
    pub fn history_size(&self, messages: usize) {
        self.inner.history_size.set(messages as i64);
    }

    /// Says whether the engine answers (the Redis engine calls it as its connection comes and
    /// goes); `/healthz` follows it.
    pub fn set_engine_reachable(&self, reachable: bool) {
        self.inner
            .engine_reachable
            .store(reachable, Ordering::Relaxed);
    }

    /// Whether the server can serve its stream now.
    pub fn is_healthy(&self) -> bool {
        self.inner.engine_reachable.load(Ordering::Relaxed)
    }

    /// Every metric in the Prometheus text format (OpenMetrics flavour, ending in `# EOF`).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_shows_in_the_text() {
        let metrics = Metrics::new();
        metrics.accepted();
        metrics.refused(Refusal::Origin);
        metrics.delivered(5);
        metrics.delivered(7);
        metrics.history_size(3);
        let text = metrics.encode();
        assert!(
            text.contains("prodcon_connections_accepted_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("prodcon_handshakes_refused_total{reason=\"origin\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("prodcon_handshakes_refused_total{reason=\"limit\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("prodcon_deliveries_total 2\n"), "{text}");
        assert!(text.contains("prodcon_bytes_sent_total 12\n"), "{text}");
        assert!(text.contains("prodcon_history_messages 3\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn health_follows_the_engine() {
        let metrics = Metrics::new();
        assert!(metrics.is_healthy());
        metrics.set_engine_reachable(false);
        assert!(!metrics.is_healthy());
    }
}
