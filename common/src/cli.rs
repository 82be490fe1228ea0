//! What the two programs' command lines have in common: how a command line that does not parse is
//! answered, and how durations are written.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;
use structopt::clap::{ArgMatches, ErrorKind};
use structopt::StructOpt;

/// The longest duration an option takes: deadlines are computed as now + duration, and a longer
/// one could overflow the clock.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The command line of `program`, or the exit code `main` should return once this has answered
/// it: `--help` and `--version` print on stdout and exit 0; a bad argument prints one line on
/// stderr, naming what is wrong and where to look, and exits 2.
///
/// This is the one place in this crate that writes anything: both `main`s would write the same
/// lines, and they must read the same.
pub fn parse_args<T: StructOpt>(program: &str) -> Result<T, ExitCode> {
    parse_args_checked(program, |_: &T, _| Ok::<(), std::convert::Infallible>(()))
}

/// [`parse_args`], and then `check`, for rules that join several options: it is given the
/// options and what was written on the command line, and its error is answered as a bad
/// argument's would be.
pub fn parse_args_checked<T: StructOpt, E: std::fmt::Display>(
    program: &str,
    check: impl FnOnce(&T, &ArgMatches) -> Result<(), E>,
) -> Result<T, ExitCode> {
    let matches = T::clap().get_matches_safe().map_err(|error| {
        let (text, code) = answer(program, &error);
        if code == 0 {
            // A reader that stops early (`--help | head`) is no failure.
            let _ = writeln!(std::io::stdout(), "{text}");
        } else {
            eprintln!("{text}");
        }
        ExitCode::from(code)
    })?;
    let options = T::from_clap(&matches);
    match check(&options, &matches) {
        Ok(()) => Ok(options),
        Err(why) => {
            eprintln!("{program}: {why}; see {program} --help");
            Err(ExitCode::from(2))
        }
    }
}

/// The text and exit code that answer `error` from `program`'s command-line parser.
fn answer(program: &str, error: &structopt::clap::Error) -> (String, u8) {
    if matches!(
        error.kind,
        ErrorKind::HelpDisplayed | ErrorKind::VersionDisplayed
    ) {
        return (error.message.clone(), 0);
    }
    // clap's first line is the reason; the rest is usage, which --help gives in full. A reason
    // that ends with a colon (missing options) lists what it means on the next line.
    let mut lines = error.message.lines().map(str::trim);
    let first = lines.next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let what = match first.strip_suffix(':') {
        Some(intro) => format!("{intro}: {}", lines.next().unwrap_or_default()),
        None => first.to_string(),
    };
    (format!("{program}: {what}; see {program} --help"), 2)
}

/// Why a duration option was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    /// Not a duration humantime reads.
    #[error("{0}; write a duration such as 1s, 250ms or 0")]
    Unreadable(#[from] humantime::DurationError),
    /// Longer than [`MAX_DURATION`].
    #[error("must be at most a day (24h)")]
    TooLong,
}

/// A duration such as `1s`, `250ms`, `1m 30s` or `0`, at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let duration = humantime::parse_duration(text)?;
    if duration > MAX_DURATION {
        return Err(DurationError::TooLong);
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_the_readme_writes_them() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        // humantime reads a bare 0 itself: no special case needed here.
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("24h"), Ok(MAX_DURATION));
        assert!(parse_duration("fast")
            .unwrap_err()
            .to_string()
            .contains("250ms"));
        assert_eq!(parse_duration("25h"), Err(DurationError::TooLong));
        assert!(parse_duration("500000000000y").is_err());
    }

    #[derive(Debug, StructOpt)]
    #[structopt(name = "demo")]
    struct Demo {
        /// An option that takes a number, to be given something else.
        #[structopt(long)]
        count: u64,
    }

    #[test]
    fn a_bad_argument_is_one_line_naming_the_program_and_exit_2() {
        let error = Demo::from_iter_safe(["demo", "--count", "many"]).unwrap_err();
        let (text, code) = answer("demo", &error);
        assert_eq!(code, 2);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("demo: ") && text.ends_with("see demo --help"),
            "{text}"
        );
        assert!(!text.contains("error: "), "{text}");
        let good = Demo::from_iter_safe(["demo", "--count", "3"]).unwrap();
        assert_eq!(good.count, 3);
    }

    #[test]
    fn help_goes_to_stdout_with_exit_0() {
        let error = Demo::from_iter_safe(["demo", "--help"]).unwrap_err();
        let (text, code) = answer("demo", &error);
        assert_eq!(code, 0);
        assert!(text.contains("--count"), "{text}");
    }
}
