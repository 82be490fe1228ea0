//! The command line.

use crate::origin::AllowedOrigin;
use common::cli::{parse_duration, DurationError};
use std::net::{SocketAddr, ToSocketAddrs};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;
use structopt::clap::{App, AppSettings, ArgMatches};
use structopt::StructOpt;

/// The server's settings, every option resolved to its value: what the rest of the server reads.
///
/// Parsed from `Written`, whose options with a default are `Option`s until the command line has
/// parsed: clap 2 fills an option's `default_value` into an option written without its value
/// (`--queue --addr ...`, or `--queue` last), so a forgotten value would run silently with the
/// default. Without `default_value`, clap refuses it; the defaults are filled in here instead.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--addr`: where WebSocket clients connect.
    pub addr: SocketAddr,
    /// `--interval`: the counter's pace.
    pub interval: Duration,
    /// `--source` as written; [`Config::source`] applies its default, which depends on `--redis`.
    pub source_given: Option<SourceKind>,
    /// `--broadcast`: one producer for every connection.
    pub broadcast: bool,
    /// `--queue`: messages a connection's queue holds.
    pub queue: NonZeroUsize,
    /// `--slow-timeout`: how long a full consumer may hold a broadcast back.
    pub slow_timeout: Duration,
    /// `--history`: messages kept for consumers that resume.
    pub history: usize,
    /// `--redis`: the Redis whose stream is served, if any.
    pub redis: Option<String>,
    /// `--stream`: the key of the Redis stream.
    pub stream: String,
    /// `--ping-interval`: how often each client is pinged, zero for never.
    pub ping_interval: Duration,
    /// `--max-connections`: WebSocket connections open at once.
    pub max_connections: usize,
    /// `--max-message-size`: the largest message a client may send.
    pub max_message_size: usize,
    /// `--max-pending`: handshakes in progress at once; `None` picks from the open-files limit.
    pub max_pending: Option<NonZeroUsize>,
    /// `--handshake-timeout`: time a new connection has to complete its handshake.
    pub handshake_timeout: Duration,
    /// `--allowed-origin`: web page origins whose scripts may connect.
    pub allowed_origins: Vec<AllowedOrigin>,
    /// `--tls-cert`: serve TLS with this certificate chain.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`: the private key of `--tls-cert`.
    pub tls_key: Option<PathBuf>,
    /// `--metrics`: where `/metrics` and `/healthz` are served, if anywhere.
    pub metrics: Option<SocketAddr>,
}

/// The defaults of the options that have one. Each is written in its option's help as well
/// (`[default: ...]`, as clap would write it): a test checks that the two agree.
mod default {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::num::NonZeroUsize;
    use std::time::Duration;

    /// `--addr`: this machine only, on the port the article uses.
    pub const ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8765);
    /// `--interval`: the article's pace.
    pub const INTERVAL: Duration = Duration::from_secs(1);
    /// `--queue`.
    pub const QUEUE: NonZeroUsize = match NonZeroUsize::new(1024) {
        Some(queue) => queue,
        None => unreachable!(),
    };
    /// `--slow-timeout`.
    pub const SLOW_TIMEOUT: Duration = Duration::from_secs(10);
    /// `--history`.
    pub const HISTORY: usize = 10_000;
    /// `--stream`.
    pub const STREAM: &str = "prodcon";
    /// `--ping-interval`.
    pub const PING_INTERVAL: Duration = Duration::from_secs(15);
    /// `--max-connections`.
    pub const MAX_CONNECTIONS: usize = 10_000;
    /// `--max-message-size`.
    pub const MAX_MESSAGE_SIZE: usize = 4096;
    /// `--handshake-timeout`.
    pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
}

/// Streams a counter, as in the asyncio producer/consumer article, to every WebSocket client.
///
/// Connect with consumer-client, Python's websockets or websocat, or open http://ADDR/ in a
/// browser for a live page. Clients offering the subprotocol prodcon.v1 get JSON envelopes
/// {"seq":N,"time":MICROS,"data":"..."}; the others get the data alone, one text frame each.
#[derive(Debug, StructOpt)]
#[structopt(name = "producer-server", global_settings = &[AppSettings::ColorNever, AppSettings::UnifiedHelpMessage])]
struct Written {
    /// Address to listen on, as IP:PORT or HOST:PORT (such as localhost:8765); port 0 picks a
    /// free port [default: 127.0.0.1:8765]
    #[structopt(long, parse(try_from_str = parse_addr))]
    addr: Option<SocketAddr>,

    /// Time between two messages, such as 1s or 250ms; 0 sends as fast as each consumer reads
    /// (the counter's pace: not with --source stdin or none) [default: 1s]
    #[structopt(long, parse(try_from_str = parse_duration))]
    interval: Option<Duration>,

    /// Where messages come from: counter (1, 2, 3, ...), stdin (one message per line, always
    /// broadcast; without --redis, the server exits 0 once every consumer has had the last line),
    /// or none (with --redis: serve what others publish). Default: counter, or none with --redis
    #[structopt(long = "source", value_name = "source", possible_values = &["counter", "stdin", "none"])]
    source_given: Option<SourceKind>,

    /// One producer for every connection, instead of one each; consumers join at the live edge
    /// unless they ask for earlier messages with ?from=N
    #[structopt(long)]
    broadcast: bool,

    /// Messages a connection's queue holds. When it is full, the connection's own producer waits
    /// (per-connection mode), or the stream waits for it up to --slow-timeout (broadcast)
    /// [default: 1024]
    #[structopt(long, parse(try_from_str = parse_queue))]
    queue: Option<NonZeroUsize>,

    /// Broadcast: how long a consumer's full queue may hold every other consumer back before
    /// that consumer is closed with 4000 slow consumer (it may resume with ?from=N); 0 closes a
    /// full consumer at once, for live streams where latency matters more than completeness
    /// [default: 10s]
    #[structopt(long, parse(try_from_str = parse_duration))]
    slow_timeout: Option<Duration>,

    /// Messages kept in broadcast mode for consumers that resume with ?from=N; with --redis, the
    /// MAXLEN ~ the stream is trimmed to when this node publishes [default: 10000]
    #[structopt(long)]
    history: Option<usize>,

    /// Serve a Redis stream instead of a stream of this process, as redis://HOST:PORT[/DB]: every
    /// node started with the same Redis and --stream serves the same messages (Redis >= 7.0).
    /// Always broadcast: every connection reads that one stream
    #[structopt(long, value_name = "URL", parse(try_from_str = parse_redis_url))]
    redis: Option<String>,

    /// The key of the Redis stream (only with --redis) [default: prodcon]
    #[structopt(long, value_name = "KEY", parse(try_from_str = parse_stream_key))]
    stream: Option<String>,

    /// Time between the pings sent to each client, 0 for none; a client that answers nothing for
    /// two of them is dropped [default: 15s]
    #[structopt(long, parse(try_from_str = parse_duration))]
    ping_interval: Option<Duration>,

    /// Most WebSocket connections open at once; past it, handshakes get HTTP 503 [default: 10000]
    #[structopt(long, parse(try_from_str = parse_max_connections))]
    max_connections: Option<usize>,

    /// Largest message a client may send, in bytes (clients have nothing to send but control
    /// frames); a larger one is answered with Close 1009 [default: 4096]
    #[structopt(long)]
    max_message_size: Option<usize>,

    /// Most connections that may be waiting to complete their handshake at once; past it, the
    /// oldest of them is dropped to make room. Default: a quarter of the open-files limit,
    /// between 16 and 4096
    #[structopt(long, value_name = "N")]
    max_pending: Option<NonZeroUsize>,

    /// Time a new connection has to complete its WebSocket handshake before it is dropped
    /// [default: 10s]
    #[structopt(long, parse(try_from_str = parse_positive_duration))]
    handshake_timeout: Option<Duration>,

    /// A web page origin, such as `http://example.com:8080`, whose scripts may connect besides the
    /// server's own page; repeat it for several, or give * to allow every origin
    #[structopt(long = "allowed-origin", value_name = "ORIGIN", number_of_values = 1)]
    allowed_origins: Vec<AllowedOrigin>,

    /// Serve wss:// and https:// with this certificate chain (PEM, the server's certificate
    /// first); needs --tls-key
    #[structopt(long, value_name = "FILE", requires = "tls-key")]
    tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, RSA or EC)
    #[structopt(long, value_name = "FILE", requires = "tls-cert")]
    tls_key: Option<PathBuf>,

    /// Serve GET /metrics (Prometheus) and GET /healthz on this address, as IP:PORT; off unless
    /// given, so the numbers are never exposed by accident
    #[structopt(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
}

impl From<Written> for Config {
    fn from(written: Written) -> Self {
        Config {
            addr: written.addr.unwrap_or(default::ADDR),
            interval: written.interval.unwrap_or(default::INTERVAL),
            source_given: written.source_given,
            broadcast: written.broadcast,
            queue: written.queue.unwrap_or(default::QUEUE),
            slow_timeout: written.slow_timeout.unwrap_or(default::SLOW_TIMEOUT),
            history: written.history.unwrap_or(default::HISTORY),
            redis: written.redis,
            stream: written.stream.unwrap_or_else(|| default::STREAM.into()),
            ping_interval: written.ping_interval.unwrap_or(default::PING_INTERVAL),
            max_connections: written.max_connections.unwrap_or(default::MAX_CONNECTIONS),
            max_message_size: written
                .max_message_size
                .unwrap_or(default::MAX_MESSAGE_SIZE),
            max_pending: written.max_pending,
            handshake_timeout: written
                .handshake_timeout
                .unwrap_or(default::HANDSHAKE_TIMEOUT),
            allowed_origins: written.allowed_origins,
            tls_cert: written.tls_cert,
            tls_key: written.tls_key,
            metrics: written.metrics,
        }
    }
}

impl StructOpt for Config {
    fn clap<'a, 'b>() -> App<'a, 'b> {
        Written::clap()
    }

    fn from_clap(matches: &ArgMatches<'_>) -> Self {
        Written::from_clap(matches).into()
    }
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

    /// Checks the rules that join several options, given what was written on the command line.
    pub fn check(&self, written: &ArgMatches) -> Result<(), BadOption> {
        // Standard input has no pace of its own to set: an --interval would do nothing, and
        // whoever wrote it expects it to.
        let interval_written = written.occurrences_of("interval") > 0;
        match self.source() {
            SourceKind::Stdin if interval_written => return Err(BadOption::IntervalWithStdin),
            SourceKind::None if interval_written => return Err(BadOption::IntervalWithNone),
            SourceKind::None if self.redis.is_none() => return Err(BadOption::NoneWithoutRedis),
            _ => {}
        }
        // Without --redis there is no Redis stream for a key to name.
        if self.redis.is_none() && written.occurrences_of("stream") > 0 {
            return Err(BadOption::StreamWithoutRedis);
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
    /// A `--source` that is none of `counter`, `stdin`, `none`.
    #[error("unknown source {0:?}; use counter, stdin or none")]
    UnknownSource(String),
    /// A `--redis` that is no `redis://` address.
    #[error("{why}; write it as redis://HOST:PORT or redis://HOST:PORT/DB")]
    RedisUrl {
        /// Why it is none.
        why: String,
    },
    /// An empty `--stream`.
    #[error("a Redis key cannot be empty; write one such as prodcon")]
    EmptyStreamKey,
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
    /// `--interval` with `--source none`.
    #[error("--interval paces the counter, and --source none publishes nothing: leave --interval out, or add --source counter")]
    IntervalWithNone,
    /// `--source none` without `--redis`.
    #[error("--source none serves a Redis stream only: add --redis redis://HOST:PORT, or choose --source counter or stdin")]
    NoneWithoutRedis,
    /// `--stream` without `--redis`.
    #[error("--stream names a key of the Redis given with --redis: add --redis redis://HOST:PORT, or leave --stream out")]
    StreamWithoutRedis,
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
    type Err = BadOption;

    fn from_str(text: &str) -> Result<Self, BadOption> {
        match text {
            "counter" => Ok(SourceKind::Counter),
            "stdin" => Ok(SourceKind::Stdin),
            "none" => Ok(SourceKind::None),
            other => Err(BadOption::UnknownSource(other.to_string())),
        }
    }
}

/// A Redis address, `redis://HOST:PORT[/DB]`, checked without connecting.
fn parse_redis_url(text: &str) -> Result<String, BadOption> {
    if !text.starts_with("redis://") {
        return Err(BadOption::RedisUrl {
            why: "not a redis:// address".into(),
        });
    }
    redis::Client::open(text).map_err(|e| BadOption::RedisUrl { why: e.to_string() })?;
    Ok(text.to_string())
}

/// A `--stream` key: any text but the empty one.
fn parse_stream_key(text: &str) -> Result<String, BadOption> {
    if text.is_empty() {
        return Err(BadOption::EmptyStreamKey);
    }
    Ok(text.to_string())
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

    /// Every option that takes a value: none may be written without it.
    const VALUED: [&str; 17] = [
        "--addr",
        "--interval",
        "--source",
        "--queue",
        "--slow-timeout",
        "--history",
        "--redis",
        "--stream",
        "--ping-interval",
        "--max-connections",
        "--max-message-size",
        "--max-pending",
        "--handshake-timeout",
        "--allowed-origin",
        "--tls-cert",
        "--tls-key",
        "--metrics",
    ];

    #[test]
    fn an_option_without_its_value_is_refused_wherever_it_is() {
        for option in VALUED {
            for args in [
                vec![option],
                vec![option, "--broadcast"],
                vec!["--broadcast", option],
                vec![option, "--addr", "127.0.0.1:0"],
            ] {
                let refused = parse(&args).expect_err(&format!("{args:?} was accepted"));
                assert!(refused.contains(option), "{args:?}: {refused}");
            }
        }
    }

    /// The text of `option`'s entry in `help`, whitespace made single spaces (clap wraps lines).
    fn entry(help: &str, option: &str) -> String {
        let start = help
            .find(&format!("{option} <"))
            .unwrap_or_else(|| panic!("{option} is not in the help"));
        let mut lines = help[start..].lines();
        let first = lines.next().into_iter();
        let more = lines.take_while(|line| !line.trim_start().starts_with("--"));
        let words: Vec<&str> = first.chain(more).flat_map(str::split_whitespace).collect();
        words.join(" ")
    }

    #[test]
    fn the_help_states_the_defaults_the_server_uses() {
        let help = Config::clap()
            .get_matches_from_safe(["producer-server", "--help"])
            .unwrap_err()
            .message;
        let defaults = format!("{:?}", Config::from_iter_safe(["producer-server"]).unwrap());
        let mut stated = 0;
        for option in VALUED {
            let entry = entry(&help, option);
            let Some((_, value)) = entry.split_once("[default: ") else {
                continue;
            };
            let value = value.split(']').next().unwrap();
            let written = Config::from_iter_safe(["producer-server", option, value]).unwrap();
            assert_eq!(format!("{written:?}"), defaults, "{entry}");
            stated += 1;
        }
        assert_eq!(stated, 10, "{help}");
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
    fn redis_serves_one_stream_and_publishes_nothing_by_default() {
        let config = parse(&["--redis", "redis://127.0.0.1:6379"]).unwrap();
        assert!(config.is_broadcast());
        assert_eq!(config.source(), SourceKind::None);
        assert_eq!(config.stream, "prodcon");
        let publishing = parse(&[
            "--redis",
            "redis://127.0.0.1:6379/2",
            "--source",
            "counter",
            "--interval",
            "10ms",
            "--stream",
            "ticks",
        ])
        .unwrap();
        assert_eq!(publishing.source(), SourceKind::Counter);
        assert!(publishing.is_broadcast());
    }

    #[test]
    fn redis_options_that_make_no_sense_are_refused() {
        let not_redis = parse(&["--redis", "localhost:6379"]).unwrap_err();
        assert!(not_redis.contains("redis://HOST:PORT"), "{not_redis}");
        let none = parse(&["--source", "none"]).unwrap_err();
        assert!(none.contains("add --redis"), "{none}");
        let key = parse(&["--stream", "ticks"]).unwrap_err();
        assert!(key.contains("add --redis"), "{key}");
        let empty = parse(&["--redis", "redis://127.0.0.1:6379", "--stream", ""]).unwrap_err();
        assert!(empty.contains("cannot be empty"), "{empty}");
        let paced = parse(&["--redis", "redis://127.0.0.1:6379", "--interval", "1s"]).unwrap_err();
        assert!(paced.contains("leave --interval out"), "{paced}");
        assert_eq!(parse(&[]).unwrap().source(), SourceKind::Counter);
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
