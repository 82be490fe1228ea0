//! The command line.

use crate::origin::AllowedOrigin;
use common::cli::{parse_duration, DurationError};
use std::net::{SocketAddr, ToSocketAddrs};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;
use structopt::clap::{AppSettings, ArgMatches};
use structopt::StructOpt;

/// Streams a counter, as in the asyncio producer/consumer article, to every WebSocket client.
///
/// Connect with consumer-client, Python's websockets or websocat, or open http://ADDR/ in a
/// browser for a live page. Clients offering the subprotocol prodcon.v1 get JSON envelopes
/// {"seq":N,"time":MICROS,"data":"..."}; the others get the data alone, one text frame each.
#[derive(Debug, Clone, StructOpt)]
#[structopt(name = "producer-server", global_settings = &[AppSettings::ColorNever, AppSettings::UnifiedHelpMessage])]
pub struct Config {
    /// Address to listen on, as IP:PORT or HOST:PORT (such as localhost:8765); port 0 picks a
    /// free port
    #[structopt(long, default_value = "127.0.0.1:8765", parse(try_from_str = parse_addr))]
    pub addr: SocketAddr,

    /// Time between two messages, such as 1s or 250ms; 0 sends as fast as each consumer reads
    /// (the counter's pace: not with --source stdin)
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
    /// (per-connection mode), or the stream waits for it up to --slow-timeout (broadcast)
    #[structopt(long, default_value = "1024", parse(try_from_str = parse_queue))]
    pub queue: NonZeroUsize,

    /// Broadcast: how long a consumer's full queue may hold every other consumer back before
    /// that consumer is closed with 4000 slow consumer (it may resume with ?from=N); 0 closes a
    /// full consumer at once, for live streams where latency matters more than completeness
    #[structopt(long, default_value = "10s", parse(try_from_str = parse_duration))]
    pub slow_timeout: Duration,

    /// Messages kept in broadcast mode for consumers that resume with ?from=N
    #[structopt(long, default_value = "10000")]
    pub history: usize,

    /// Time between the pings sent to each client, 0 for none; a client that answers nothing for
    /// two of them is dropped
    #[structopt(long, default_value = "15s", parse(try_from_str = parse_duration))]
    pub ping_interval: Duration,

    /// Most WebSocket connections open at once; past it, handshakes get HTTP 503
    #[structopt(long, default_value = "10000", parse(try_from_str = parse_max_connections))]
    pub max_connections: usize,

    /// Largest message a client may send, in bytes (clients have nothing to send but control
    /// frames); a larger one is answered with Close 1009
    #[structopt(long, default_value = "4096")]
    pub max_message_size: usize,

    /// Most connections that may be waiting to complete their handshake at once; past it, the
    /// oldest of them is dropped to make room. Default: a quarter of the open-files limit,
    /// between 16 and 4096
    #[structopt(long, value_name = "N")]
    pub max_pending: Option<NonZeroUsize>,

    /// Time a new connection has to complete its WebSocket handshake before it is dropped
    #[structopt(long, default_value = "10s", parse(try_from_str = parse_positive_duration))]
    pub handshake_timeout: Duration,

    /// A web page origin, such as `http://example.com:8080`, whose scripts may connect besides the
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

    /// Checks the rules that join several options, given what was written on the command line.
    pub fn check(&self, written: &ArgMatches) -> Result<(), BadOption> {
        // Standard input has no pace of its own to set: an --interval would do nothing, and
        // whoever wrote it expects it to.
        if self.source == SourceKind::Stdin && written.occurrences_of("interval") > 0 {
            return Err(BadOption::IntervalWithStdin);
        }
        Ok(())
    }
}

/// Why an option, or a combination of options, was refused; each says what to write instead.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum BadOption {
    /// A duration that is not one, or is too long.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// A duration of zero where something must happen in time.
    #[error("must be more than zero; write a duration such as 10s")]
    ZeroDuration,
    /// Not a whole number.
    #[error("{0:?} is not a whole number; write one such as 1024")]
    NotANumber(String),
    /// `--queue 0`.
    #[error("a queue holds at least one message; write a number such as 1024")]
    EmptyQueue,
    /// `--max-connections 0`.
    #[error("with 0, every client would get 503; write a number such as 10000")]
    NoConnections,
    /// A `--source` that is neither `counter` nor `stdin`.
    #[error("unknown source {0:?}; use counter or stdin")]
    UnknownSource(String),
    /// An `--addr` that is no address of this machine's.
    #[error("{text:?}: {why}; write IP:PORT or HOST:PORT, such as 127.0.0.1:8765, 0.0.0.0:8765 or localhost:8765")]
    Address {
        /// What was written.
        text: String,
        /// Why it names no address.
        why: String,
    },
    /// `--interval` with `--source stdin`.
    #[error("--interval paces the counter, not --source stdin, which sends each line when a consumer has room for it: leave --interval out")]
    IntervalWithStdin,
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
    type Err = BadOption;

    fn from_str(text: &str) -> Result<Self, BadOption> {
        match text {
            "counter" => Ok(SourceKind::Counter),
            "stdin" => Ok(SourceKind::Stdin),
            other => Err(BadOption::UnknownSource(other.to_string())),
        }
    }
}

/// An address to listen on: `IP:PORT`, or `HOST:PORT` for a name this machine resolves, such as
/// `localhost:8765`.
fn parse_addr(text: &str) -> Result<SocketAddr, BadOption> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let bad = |why: String| BadOption::Address {
        text: text.to_string(),
        why,
    };
    let addrs = text.to_socket_addrs().map_err(|e| bad(e.to_string()))?;
    // localhost is both 127.0.0.1 and ::1: IPv4 first, as the address tools try most.
    addrs
        .min_by_key(|addr| addr.is_ipv6())
        .ok_or_else(|| bad("the name has no address".into()))
}

/// A whole number.
fn parse_count(text: &str) -> Result<usize, BadOption> {
    text.parse()
        .map_err(|_| BadOption::NotANumber(text.to_string()))
}

/// A `--queue` size: at least one message.
fn parse_queue(text: &str) -> Result<NonZeroUsize, BadOption> {
    NonZeroUsize::new(parse_count(text)?).ok_or(BadOption::EmptyQueue)
}

/// A `--max-connections` limit: at least one connection.
fn parse_max_connections(text: &str) -> Result<usize, BadOption> {
    match parse_count(text)? {
        0 => Err(BadOption::NoConnections),
        limit => Ok(limit),
    }
}

/// A duration that must not be zero.
fn parse_positive_duration(text: &str) -> Result<Duration, BadOption> {
    match parse_duration(text)? {
        Duration::ZERO => Err(BadOption::ZeroDuration),
        positive => Ok(positive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options `args` give, or the one line a user would read about them.
    fn parse(args: &[&str]) -> Result<Config, String> {
        let written = Config::clap()
            .get_matches_from_safe(std::iter::once("producer-server").chain(args.iter().copied()))
            .map_err(|e| e.message)?;
        let config = Config::from_clap(&written);
        config.check(&written).map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn handshake_timeout_must_be_positive() {
        assert_eq!(parse_positive_duration("0"), Err(BadOption::ZeroDuration));
        assert_eq!(parse_positive_duration("2s"), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn zero_queue_and_zero_connections_are_refused_in_our_words() {
        let queue = parse(&["--queue", "0"]).unwrap_err();
        assert!(queue.contains("at least one message"), "{queue}");
        let limit = parse(&["--max-connections", "0"]).unwrap_err();
        assert!(limit.contains("every client would get 503"), "{limit}");
        let word = parse(&["--queue", "many"]).unwrap_err();
        assert!(word.contains("whole number"), "{word}");
        assert_eq!(
            parse(&["--max-connections", "1"]).unwrap().max_connections,
            1
        );
    }

    #[test]
    fn interval_with_stdin_is_refused() {
        let refused = parse(&["--source", "stdin", "--interval", "1s"]).unwrap_err();
        assert!(refused.contains("leave --interval out"), "{refused}");
        assert!(parse(&["--source", "stdin"]).is_ok());
        assert!(parse(&["--interval", "0"]).is_ok());
    }

    #[test]
    fn addresses_may_be_names_this_machine_resolves() {
        let local = parse(&["--addr", "localhost:8765"]).unwrap().addr;
        assert!(local.ip().is_loopback() && local.port() == 8765, "{local}");
        let v6 = parse(&["--addr", "[::1]:0"]).unwrap().addr;
        assert!(v6.is_ipv6());
        let portless = parse(&["--addr", "localhost"]).unwrap_err();
        assert!(portless.contains("127.0.0.1:8765"), "{portless}");
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
