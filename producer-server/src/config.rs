//! The command line.

use crate::origin::AllowedOrigin;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;
use structopt::clap::AppSettings;
use structopt::StructOpt;

/// Streams a counter, as in the asyncio producer/consumer article, to every WebSocket client.
///
/// Connect with consumer-client, Python's websockets or websocat, or open http://ADDR/ in a
/// browser for a live page. Clients offering the subprotocol prodcon.v1 get JSON envelopes
/// {"seq":N,"time":MICROS,"data":"..."}; the others get the data alone, one text frame each.
#[derive(Debug, Clone, StructOpt)]
#[structopt(name = "producer-server", global_settings = &[AppSettings::ColorNever, AppSettings::UnifiedHelpMessage])]
pub struct Config {
    /// Address to listen on, as IP:PORT; port 0 picks a free port
    #[structopt(long, default_value = "127.0.0.1:8765")]
    pub addr: SocketAddr,

    /// Time between two messages, such as 1s or 250ms; 0 sends as fast as each consumer reads
    #[structopt(long, default_value = "1s", parse(try_from_str = parse_duration))]
    pub interval: Duration,

    /// Where messages come from: counter (1, 2, 3, ...) or stdin (one message per line, always
    /// broadcast; the server exits 0 once every consumer has had the last line)
    #[structopt(long, default_value = "counter", possible_values = &["counter", "stdin"])]
    pub source: SourceKind,

    /// One producer for every connection, instead of one each; consumers join at the live edge
    /// unless they ask for earlier messages with ?from=N
    #[structopt(long)]
    pub broadcast: bool,

    /// Messages a connection's queue holds. When it is full, the connection's own producer waits
    /// (per-connection mode), or the connection is closed with 4000 slow consumer (broadcast)
    #[structopt(long, default_value = "1024")]
    pub queue: NonZeroUsize,

    /// Messages kept in broadcast mode for consumers that resume with ?from=N
    #[structopt(long, default_value = "10000")]
    pub history: usize,

    /// Time between the pings sent to each client, 0 for none; a client that answers nothing for
    /// two of them is dropped
    #[structopt(long, default_value = "15s", parse(try_from_str = parse_duration))]
    pub ping_interval: Duration,

    /// Most WebSocket connections open at once; past it, handshakes get HTTP 503
    #[structopt(long, default_value = "10000")]
    pub max_connections: usize,

    /// Largest message a client may send, in bytes (clients have nothing to send but control
    /// frames); a larger one is answered with Close 1009
    #[structopt(long, default_value = "4096")]
    pub max_message_size: usize,

    /// Time a new connection has to complete its WebSocket handshake before it is dropped
    #[structopt(long, default_value = "10s", parse(try_from_str = parse_positive_duration))]
    pub handshake_timeout: Duration,

    /// A web page origin, such as http://example.com:8080, whose scripts may connect besides the
    /// server's own page; repeat it for several, or give * to allow every origin
    #[structopt(long = "allowed-origin", value_name = "ORIGIN", number_of_values = 1)]
    pub allowed_origins: Vec<AllowedOrigin>,

    /// Serve wss:// and https:// with this certificate chain (PEM, the server's certificate
    /// first); needs --tls-key
    #[structopt(long, value_name = "FILE", requires = "tls-key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, RSA or EC)
    #[structopt(long, value_name = "FILE", requires = "tls-cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve GET /metrics (Prometheus) and GET /healthz on this address, as IP:PORT; off unless
    /// given, so the numbers are never exposed by accident
    #[structopt(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
}

impl Config {
    /// Whether one producer serves every connection.
    pub fn is_broadcast(&self) -> bool {
        self.broadcast || self.source == SourceKind::Stdin
    }
}

/// Where messages come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `1`, `2`, `3`, ... one per `--interval`.
    Counter,
    /// One message per line of standard input.
    Stdin,
}

impl std::str::FromStr for SourceKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "counter" => Ok(SourceKind::Counter),
            "stdin" => Ok(SourceKind::Stdin),
            other => Err(format!("unknown source {other:?}; use counter or stdin")),
        }
    }
}

/// A duration such as `1s`, `250ms` or `1m 30s`; a bare `0` is zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration such as 1s, 250ms or 0"))?;
    // Deadlines are computed as now + duration: a longer one would overflow the clock.
    if duration > MAX_DURATION {
        return Err("must be at most a day (24h)".into());
    }
    Ok(duration)
}

/// The longest duration an option takes.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// A duration that must not be zero.
fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err("must be more than zero; write a duration such as 10s".into()),
        positive => Ok(positive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_the_contract_writes_them() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("fast").unwrap_err().contains("250ms"));
        assert!(parse_positive_duration("0").is_err());
        assert!(parse_duration("500000000000y").is_err());
        assert_eq!(parse_duration("24h"), Ok(MAX_DURATION));
    }

    #[test]
    fn defaults_match_the_design() {
        let config = Config::from_iter_safe(["producer-server"]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:8765");
        assert_eq!(config.interval, Duration::from_secs(1));
        assert!(!config.is_broadcast());
        assert!(config.allowed_origins.is_empty());
        assert!(config.tls_cert.is_none() && config.metrics.is_none());
    }

    #[test]
    fn tls_cert_and_key_go_together() {
        let alone = Config::from_iter_safe(["producer-server", "--tls-cert", "c.pem"]);
        assert!(alone.unwrap_err().message.contains("--tls-key"));
        let both = [
            "producer-server",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ];
        assert!(Config::from_iter_safe(both).is_ok());
    }

    #[test]
    fn stdin_is_always_broadcast() {
        let config = Config::from_iter_safe(["producer-server", "--source", "stdin"]).unwrap();
        assert!(config.is_broadcast());
    }

    #[test]
    fn allowed_origin_repeats() {
        let config = Config::from_iter_safe([
            "producer-server",
            "--allowed-origin",
            "http://example.com:8080",
            "--allowed-origin",
            "*",
        ])
        .unwrap();
        assert_eq!(config.allowed_origins.len(), 2);
        assert_eq!(config.allowed_origins[1], AllowedOrigin::Any);
        let bad = Config::from_iter_safe(["producer-server", "--allowed-origin", "example.com"]);
        assert!(bad.unwrap_err().message.contains("http://example.com:8080"));
    }
}
