//! The command line.

use crate::connection::Target;
use std::time::Duration;
use structopt::clap::AppSettings;
use structopt::StructOpt;

/// Prints every message a WebSocket producer sends, one per line.
///
/// Speaks prodcon.v1 with producer-server (sequence numbers, resume, lost-range notices) and plain
/// text frames with any other WebSocket server, such as the asyncio article's Python producer.
#[derive(Debug, Clone, StructOpt)]
#[structopt(name = "consumer-client", global_settings = &[AppSettings::ColorNever, AppSettings::UnifiedHelpMessage])]
pub struct Options {
    /// The server's URL, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH; several URLs name nodes of one
    /// stream, tried in turn
    #[structopt(default_value = "ws://127.0.0.1:8765/", parse(try_from_str = Target::parse))]
    pub urls: Vec<Target>,

    /// Exit after printing this many messages
    #[structopt(long)]
    pub count: Option<u64>,

    /// Print each whole envelope {"seq":N,"time":MICROS,"data":"..."} as a JSON line instead of its data
    #[structopt(long)]
    pub json: bool,

    /// The first sequence number wanted (sent to the server as ?from=N)
    #[structopt(long, parse(try_from_str = parse_seq))]
    pub from: Option<u64>,

    /// When the connection drops, retry with backoff, on the next URL in turn, and resume after the
    /// last message printed
    #[structopt(long)]
    pub reconnect: bool,

    /// Give up on a server that sends nothing, not even a ping, for this long, that does not
    /// answer the handshake within it, or that reads none of the pongs it is owed for as long
    /// (0: wait forever) [default: 45s]
    //
    // An `Option`, its default applied by `silence_timeout()`, because clap 2 fills a
    // `default_value` into an option written without its value: `--silence-timeout` alone would
    // run silently with the default instead of being refused.
    #[structopt(long, parse(try_from_str = common::cli::parse_duration))]
    silence_timeout: Option<Duration>,

    /// A certificate authority (PEM) to trust besides the system's, for every wss:// URL given,
    /// such as the one that signed a self-made server certificate
    #[structopt(long, value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
}

/// `--silence-timeout` when it is not written: a server pings every 15 s by default, so three
/// missed pings.
const SILENCE_TIMEOUT: Duration = Duration::from_secs(45);

impl Options {
    /// `--silence-timeout`, or its default.
    pub fn silence_timeout(&self) -> Duration {
        self.silence_timeout.unwrap_or(SILENCE_TIMEOUT)
    }
}

/// A sequence number: a whole number from 1 to 2^53 - 1.
fn parse_seq(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(seq) if (1..=common::frame::MAX_SEQ).contains(&seq) => Ok(seq),
        _ => Err("sequence numbers go from 1 to 2^53 - 1; write a whole number such as 42".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_option_without_its_value_is_refused_wherever_it_is() {
        for option in ["--count", "--from", "--silence-timeout", "--ca"] {
            for args in [vec![option], vec![option, "--json"], vec!["--json", option]] {
                let all = std::iter::once("consumer-client").chain(args.iter().copied());
                let refused = Options::from_iter_safe(all).expect_err(&format!("{args:?}"));
                assert!(refused.message.contains(option), "{args:?}: {refused}");
            }
        }
    }

    #[test]
    fn the_help_states_the_silence_timeout_used() {
        let help = Options::clap()
            .get_matches_from_safe(["consumer-client", "--help"])
            .unwrap_err()
            .message;
        let (_, stated) = help.split_once("[default: ").expect("a default is stated");
        let stated = stated.split(']').next().unwrap();
        assert_eq!(common::cli::parse_duration(stated), Ok(SILENCE_TIMEOUT));
        let none = Options::from_iter_safe(["consumer-client"]).unwrap();
        assert_eq!(none.silence_timeout(), SILENCE_TIMEOUT);
        let zero = Options::from_iter_safe(["consumer-client", "--silence-timeout", "0"]).unwrap();
        assert_eq!(zero.silence_timeout(), Duration::ZERO);
    }
}
