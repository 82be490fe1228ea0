//! The command line.

use crate::connection::Target;
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
    /// (0: wait forever)
    #[structopt(long, default_value = "45s", parse(try_from_str = common::cli::parse_duration))]
    pub silence_timeout: std::time::Duration,

    /// A certificate authority (PEM) to trust besides the system's, for every wss:// URL given,
    /// such as the one that signed a self-made server certificate
    #[structopt(long, value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
}

/// A sequence number: a whole number from 1 to 2^53 - 1.
fn parse_seq(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(seq) if (1..=common::frame::MAX_SEQ).contains(&seq) => Ok(seq),
        _ => Err("sequence numbers go from 1 to 2^53 - 1; write a whole number such as 42".into()),
    }
}
