//! The command line.

use crate::origin::AllowedOrigin;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
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

    /// Where messages come from: counter (1, 2, 3, ...), stdin (one message per line, always
    /// broadcast; the server exits 0 once every consumer has had the last line), or none (with
    /// --redis: serve what others publish). Default: counter, or none with --redis
    #[structopt(long = "source", value_name = "source", possible_values = &["counter", "stdin", "none"])]
    pub source_given: Option<SourceKind>,

    /// One producer for every connection, instead of one each; consumers join at the live edge
    /// unless they ask for earlier messages with ?from=N
    #[structopt(long)]
    pub broadcast: bool,

    /// Messages a connection's queue holds. When it is full, the connection's own producer waits
    /// (per-connection mode), or the connection is closed with 4000 slow consumer (broadcast)
    #[structopt(long, default_value = "1024")]
    pub queue: NonZeroUsize,

    /// Messages kept in broadcast mode for consumers that resume with ?from=N; with --redis, the
    /// MAXLEN ~ the stream is trimmed to when this node publishes
    #[structopt(long, default_value = "10000")]
    pub history: usize,

    /// Serve a Redis stream instead of a stream of this process, as redis://HOST:PORT[/DB]: every
    /// node started with the same Redis and --stream serves the same messages (Redis >= 7.0)
    #[structopt(long, value_name = "URL", parse(try_from_str = parse_redis_url))]
    pub redis: Option<String>,

    /// The key of the Redis stream, with --redis
    #[structopt(long, value_name = "KEY", default_value = "prodcon")]
    pub stream: String,

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
}

impl Config {
    /// Whether one producer serves every connection: a Redis stream is one stream for all.
    pub fn is_broadcast(&self) -> bool {
        self.broadcast || self.redis.is_some() || self.source() == SourceKind::Stdin
    }

    /// Where messages come from: what `--source` says, or by default the counter, or nothing of
    /// this node's own with `--redis` (it serves what others publish).
    pub fn source(&self) -> SourceKind {
        match (self.source_given, &self.redis) {
            (Some(given), _) => given,
            (None, None) => SourceKind::Counter,
            (None, Some(_)) => SourceKind::None,
        }
    }

    /// The combinations of options that make no sense, each with what to do instead.
    pub fn check(&self) -> Result<(), String> {
        if self.source() == SourceKind::None && self.redis.is_none() {
            return Err(
                "--source none serves a Redis stream only: add --redis redis://HOST:PORT, or choose --source counter or stdin"
                    .into(),
            );
        }
        if self.redis.is_some() && self.stream.is_empty() {
            return Err("--stream must name a key, such as prodcon".into());
        }
        Ok(())
    }
}

/// Where messages come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `1`, `2`, `3`, ... one per `--interval`.
    Counter,
    /// One message per line of standard input.
    Stdin,
    /// Nothing of this node's own: with `--redis`, other programs publish.
    None,
}

impl std::str::FromStr for SourceKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "counter" => Ok(SourceKind::Counter),
            "stdin" => Ok(SourceKind::Stdin),
            "none" => Ok(SourceKind::None),
            other => Err(format!(
                "unknown source {other:?}; use counter, stdin or none"
            )),
        }
    }
}

/// A Redis address, `redis://HOST:PORT[/DB]`, checked without connecting.
fn parse_redis_url(text: &str) -> Result<String, String> {
    let usage = "write it as redis://HOST:PORT or redis://HOST:PORT/DB";
    if !text.starts_with("redis://") {
        return Err(format!("not a redis:// address; {usage}"));
    }
    redis::Client::open(text).map_err(|e| format!("{e}; {usage}"))?;
    Ok(text.to_string())
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
    }

    #[test]
    fn stdin_is_always_broadcast() {
        let config = Config::from_iter_safe(["producer-server", "--source", "stdin"]).unwrap();
        assert!(config.is_broadcast());
    }

    #[test]
    fn redis_serves_one_stream_and_publishes_nothing_by_default() {
        let config =
            Config::from_iter_safe(["producer-server", "--redis", "redis://127.0.0.1:6379"])
                .unwrap();
        assert!(config.is_broadcast());
        assert_eq!(config.source(), SourceKind::None);
        assert_eq!(config.stream, "prodcon");
        assert_eq!(config.check(), Ok(()));
        let publishing = Config::from_iter_safe([
            "producer-server",
            "--redis",
            "redis://127.0.0.1:6379/2",
            "--source",
            "counter",
            "--stream",
            "ticks",
        ])
        .unwrap();
        assert_eq!(publishing.source(), SourceKind::Counter);
        assert!(publishing.is_broadcast());
    }

    #[test]
    fn redis_options_are_checked() {
        let bad = Config::from_iter_safe(["producer-server", "--redis", "localhost:6379"]);
        assert!(bad.unwrap_err().message.contains("redis://HOST:PORT"));
        let none = Config::from_iter_safe(["producer-server", "--source", "none"]).unwrap();
        assert!(none.check().unwrap_err().contains("--redis"));
        let plain = Config::from_iter_safe(["producer-server"]).unwrap();
        assert_eq!(plain.source(), SourceKind::Counter);
        assert_eq!(plain.check(), Ok(()));
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
