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

    /// Messages a connection's queue holds; when it is full the connection's producer waits
    #[structopt(long, default_value = "1024")]
    pub queue: NonZeroUsize,

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

/// A duration such as `1s`, `250ms` or `1m 30s`; a bare `0` is zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration such as 1s, 250ms or 0"))
}

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
    }

    #[test]
    fn defaults_match_the_design() {
        let config = Config::from_iter_safe(["producer-server"]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:8765");
        assert_eq!(config.interval, Duration::from_secs(1));
        assert!(config.allowed_origins.is_empty());
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
