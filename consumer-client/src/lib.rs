//! consumer-client: prints a WebSocket stream, one message per line.
//!
//! # Layout
//! - `main.rs`: the command line and the exit code; calls [`run`].
//! - [`options`]: the command-line options.
//! - [`connection`]: the URL, the TCP connection, the handshake, the subprotocol.
//! - [`consume`]: one connection's frames: decoding, ordering, printing.
//! - [`output`]: batched printing, flushed whenever the stream pauses.
//! - [`error`]: every reason to stop, each a one-line message.
//! - [`runtime`]: everything taken from async-std, in one place.

pub mod connection;
pub mod consume;
pub mod error;
pub mod options;
pub mod output;
pub mod runtime;

use connection::Target;
use consume::{Notices, Progress};
use error::ClientError;
use options::Options;
use output::Printer;
use std::process::ExitCode;

/// Consumes the stream at `options.url` and says how it ended: the exit code, and on failure one
/// line on stderr naming the URL and the cause.
pub async fn run(options: Options) -> ExitCode {
    match consume_stream(&options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(ClientError::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            // Whoever read our output has stopped reading (as `| head` does): not a failure.
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("consumer-client: {}: {error}", options.url);
            ExitCode::FAILURE
        }
    }
}

async fn consume_stream(options: &Options) -> Result<(), ClientError> {
    let target = Target::parse(&options.url)?;
    let mut printer = Printer::new(std::io::stdout().lock(), options.json);
    let mut notices = Stderr { url: &options.url };
    let mut progress = Progress {
        printed: 0,
        expected: options.from,
    };
    let connection = connection::connect(&target, progress.expected).await?;
    consume::consume(
        connection,
        &mut progress,
        &mut printer,
        &mut notices,
        options.count,
    )
    .await?;
    Ok(())
}

/// Reports the stream's notices as lines on stderr.
struct Stderr<'a> {
    /// The server's URL, named in every line.
    url: &'a str,
}

impl Notices for Stderr<'_> {
    fn lost(&mut self, range: common::LostRange, why: &str) {
        let count = range.len();
        eprintln!(
            "consumer-client: {}: lost {count} messages, {range}: {why}",
            self.url
        );
    }
}
