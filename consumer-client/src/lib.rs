//! consumer-client: prints a WebSocket stream, one message per line.
//!
//! # Layout
//! - `main.rs`: the command line and the exit code; calls [`run`].
//! - [`options`]: the command-line options.
//! - [`connection`]: the URL, the TCP connection, the handshake, the subprotocol, the limits.
//! - [`tls`]: `wss://`: the certificate authorities trusted, the TLS stream, TLS failures.
//! - [`consume`]: one connection's frames: decoding, ordering, printing.
//! - [`pacing`]: when to read again: at once, or after a short pause while messages trickle.
//! - [`watchdog`]: when to give up on a server: silent, or not reading what it is owed.
//! - [`rotation`]: which of the URLs given to try next.
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
pub mod pacing;
pub mod rotation;
pub mod runtime;
pub mod tls;
pub mod watchdog;

use backoff::Backoff;
use common::close;
use connection::Target;
use consume::{Limits, Notices, Progress, Stop};
use error::ClientError;
use futures_rustls::TlsConnector;
use options::Options;
use output::Printer;
use rotation::Rotation;
use std::process::ExitCode;

/// Consumes the stream at `options.urls` and says how it ended: the exit code, and on failure
/// one line on stderr naming the URL and the cause.
pub async fn run(options: Options) -> ExitCode {
    match consume_stream(&options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure {
            error: ClientError::Output(error),
            ..
        }) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            // Whoever read our output has stopped reading (as `| head` does): not a failure.
            ExitCode::SUCCESS
        }
        Err(Failure { target, error }) => {
            eprintln!("consumer-client: {target}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Why consuming ended, and at which URL.
struct Failure<'a> {
    /// The URL whose connection failed last.
    target: &'a Target,
    /// What went wrong there.
    error: ClientError,
}

/// Consumes the stream. At start each URL is tried in turn until one answers; with
/// `--reconnect`, after each drop too, resuming after the last message printed.
async fn consume_stream(options: &Options) -> Result<(), Failure<'_>> {
    let mut rotation = Rotation::new(&options.urls);
    let tls = trust(options)?;
    let mut printer = Printer::new(std::io::stdout().lock(), options.json);
    let mut progress = Progress {
        printed: 0,
        expected: options.from,
    };
    let limits = Limits {
        count: options.count,
        silence: options.silence_timeout(),
    };
    let mut backoff = Backoff::default();
    // Whether a connection has opened: until then, a URL that does not answer is passed over
    // for the next one even without --reconnect.
    let mut started = false;
    loop {
        let target = rotation.current();
        let fail = |error| Failure { target, error };
        let printed_before = progress.printed;
        let reason = match connection::connect(
            target,
            tls.as_ref(),
            progress.expected,
            limits.silence,
        )
        .await
        {
            Err(error) => error,
            Ok(connection) => {
                started = true;
                let mut notices = Stderr { target };
                let outcome = consume::consume(
                    connection,
                    &mut progress,
                    &mut printer,
                    &mut notices,
                    limits,
                )
                .await;
                printer.flush().map_err(|e| fail(ClientError::Output(e)))?;
                match outcome {
                    Ok(Stop::CountReached) => return Ok(()),
                    // A server going away (1001) may well come back: worth waiting for when asked.
                    Ok(Stop::ServerClosed(info))
                        if options.reconnect && info.code == close::GOING_AWAY =>
                    {
                        ClientError::Closed(info)
                    }
                    Ok(Stop::ServerClosed(_)) => return Ok(()),
                    Err(error) => error,
                }
            }
        };
        if matches!(reason, ClientError::Output(_)) {
            return Err(fail(reason));
        }
        // Without --reconnect each URL gets one try at start, and the first stream to end is
        // the end.
        if !options.reconnect && started {
            return Err(fail(reason));
        }
        // A URL that has had its one try, or refused for good (it will say the same next
        // time), is not asked again.
        let left_out = !options.reconnect || !reason.is_transient();
        if left_out {
            rotation.drop_current();
        }
        if !rotation.advance() {
            return Err(fail(reason));
        }
        let next = rotation.current();
        if !options.reconnect {
            eprintln!("consumer-client: {target}: {reason}; trying {next}");
            continue;
        }
        if progress.printed > printed_before {
            backoff.reset();
        }
        let pause = backoff.next_pause();
        let from = progress
            .expected
            .map_or("the live edge".to_string(), |seq| seq.to_string());
        let left_out = if left_out { "; leaving it out" } else { "" };
        let to = if rotation.has_several() {
            format!(" to {next}")
        } else {
            String::new()
        };
        eprintln!(
            "consumer-client: {target}: {reason}{left_out}; reconnecting in {pause:.1?}{to} from {from}"
        );
        runtime::sleep(pause).await;
    }
}

/// The TLS client for every `wss://` URL given, trusting the system's authorities and `--ca`;
/// none when all URLs are `ws://`. Built once, so that a bad `--ca` stops the client at start.
fn trust(options: &Options) -> Result<Option<TlsConnector>, Failure<'_>> {
    let Some(target) = options.urls.iter().find(|target| target.is_secure()) else {
        return Ok(None);
    };
    tls::connector(options.ca.as_deref())
        .map(Some)
        .map_err(|error| Failure { target, error })
}

/// Reports the stream's notices as lines on stderr.
struct Stderr<'a> {
    /// The server's URL, named in every line.
    target: &'a Target,
}

impl Notices for Stderr<'_> {
    fn lost(&mut self, range: common::LostRange, why: &str) {
        let count = common::count(range.count(), "message");
        eprintln!(
            "consumer-client: {}: lost {count}, {range}: {why}",
            self.target
        );
    }
}
