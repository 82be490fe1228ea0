//! consumer-client: prints a WebSocket stream, one message per line.
//!
//! # Layout
//! - `main.rs`: the command line and the exit code; calls [`run`].
//! - [`options`]: the command-line options.
//! - [`connection`]: the URL, the TCP connection, the handshake, the subprotocol.
//! - [`consume`]: one connection's frames: decoding, ordering, printing, silence.
//! - [`tls`]: `wss://`: the certificate authorities trusted, the TLS stream, TLS failures.
//! - [`backoff`]: the pauses between reconnections.
//! - [`output`]: batched printing, flushed whenever the stream pauses.
//! - [`error`]: every reason to stop, each a one-line message.
//! - [`runtime`]: everything taken from async-std, in one place.

pub mod backoff;
pub mod connection;
pub mod consume;
pub mod error;
pub mod options;
pub mod output;
pub mod runtime;
pub mod tls;

use backoff::Backoff;
use common::close;
use connection::Target;
use consume::{Limits, Notices, Progress, Stop};
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

/// Consumes the stream, connecting again after each drop when `--reconnect` asks for it.
async fn consume_stream(options: &Options) -> Result<(), ClientError> {
    let target = Target::parse(&options.url, options.ca.as_deref())?;
    let mut printer = Printer::new(std::io::stdout().lock(), options.json);
    let mut notices = Stderr { url: &options.url };
    let mut progress = Progress {
        printed: 0,
        expected: options.from,
    };
    let limits = Limits {
        count: options.count,
        silence: options.silence_timeout,
    };
    let mut backoff = Backoff::default();
    loop {
        let printed_before = progress.printed;
        let outcome =
            match connection::connect(&target, progress.expected, options.silence_timeout).await {
                Ok(connection) => {
                    consume::consume(
                        connection,
                        &mut progress,
                        &mut printer,
                        &mut notices,
                        limits,
                    )
                    .await
                }
                Err(error) => Err(error),
            };
        printer.flush().map_err(ClientError::Output)?;
        let reason = match outcome {
            Ok(Stop::CountReached) => return Ok(()),
            // A server going away (1001) may well come back: worth waiting for when asked to.
            Ok(Stop::ServerClosed(info)) if options.reconnect && info.code == close::GOING_AWAY => {
                ClientError::Closed(info)
            }
            Ok(Stop::ServerClosed(_)) => return Ok(()),
            Err(error) if options.reconnect && error.is_transient() => error,
            Err(error) => return Err(error),
        };
        if progress.printed > printed_before {
            backoff.reset();
        }
        let pause = backoff.next_pause();
        let from = progress
            .expected
            .map_or("the live edge".to_string(), |seq| seq.to_string());
        eprintln!(
            "consumer-client: {}: {reason}; reconnecting in {pause:.1?} from {from}",
            options.url
        );
        runtime::sleep(pause).await;
    }
}

/// Reports the stream's notices as lines on stderr.
struct Stderr<'a> {
    /// The server's URL, named in every line.
    url: &'a str,
}

impl Notices for Stderr<'_> {
    fn lost(&mut self, range: common::LostRange, why: &str) {
        let count = common::count(range.count(), "message");
        eprintln!(
            "consumer-client: {}: lost {count}, {range}: {why}",
            self.url
        );
    }
}
