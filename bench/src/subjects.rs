//! The two servers every workload runs against: producer-server, and the seed's pattern written
//! with Python's `websockets` (the baseline).

use crate::binaries::Binaries;
use crate::processes::ServerProcess;
use common::Format;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// producer-server, release build.
    Ours,
    /// The Python baseline.
    Baseline,
}

/// How the server streams.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// A counter per connection (the seed's pattern), one message per `interval`. `format` is
    /// what the clients will ask for: the baseline serves plain text with the seed's own
    /// program, and `prodcon.v1` with the bench's script.
    PerConnection {
        /// Time between two messages; zero is as fast as the consumer reads.
        interval: Duration,
        /// What the clients will ask for.
        format: Format,
    },
    /// One counter for every connection (`--broadcast`), one message per `interval`.
    Broadcast {
        /// Time between two messages; zero is as fast as the server can.
        interval: Duration,
    },
}

/// Starts servers under test.
pub struct Servers {
    /// The binaries and the workspace.
    pub binaries: Binaries,
    /// A Python that imports `websockets`, if there is one.
    pub python: Option<PathBuf>,
    /// Numbers the log files of the servers started.
    started: AtomicUsize,
}

impl Servers {
    /// Servers from `binaries`, with the baseline run by `python` if given.
    pub fn new(binaries: Binaries, python: Option<PathBuf>) -> Servers {
        let _ = std::fs::create_dir_all(Self::log_dir(&binaries));
        Servers {
            binaries,
            python,
            started: AtomicUsize::new(0),
        }
    }

    /// Where server logs go: `<target>/bench-logs`.
    pub fn log_dir(binaries: &Binaries) -> PathBuf {
        binaries.target.join("bench-logs")
    }

    /// Starts `subject` in `mode` on 127.0.0.1, port 0, and waits until it listens. The baseline
    /// without a Python gives an error saying so.
    pub fn start(&self, subject: Subject, mode: Mode) -> Result<ServerProcess, String> {
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        let (command, name) = match subject {
            Subject::Ours => (self.ours(mode), "producer-server"),
            Subject::Baseline => (self.baseline(mode)?, "python-baseline"),
        };
        let log = Self::log_dir(&self.binaries).join(format!("{n:03}-{name}.log"));
        ServerProcess::start(command, log)
    }

    fn ours(&self, mode: Mode) -> Command {
        let mut command = Command::new(&self.binaries.server);
        command.args(["--addr", "127.0.0.1:0"]);
        match mode {
            Mode::PerConnection { interval, .. } => {
                command.args(["--interval", &ours_interval(interval)]);
            }
            Mode::Broadcast { interval } => {
                command.args(["--broadcast", "--interval", &ours_interval(interval)]);
            }
        }
        command
    }

    fn baseline(&self, mode: Mode) -> Result<Command, String> {
        let python = self.python.as_ref().ok_or("no Python with websockets")?;
        let seed = self
            .binaries
            .workspace
            .join("tests/python/seed_producer.py");
        let script = self
            .binaries
            .workspace
            .join("bench/python/baseline_producer.py");
        let mut command = Command::new(python);
        command.arg("-u");
        match mode {
            Mode::PerConnection {
                interval,
                format: Format::Plain,
            } => command.arg(seed).arg(seconds(interval)),
            Mode::PerConnection { interval, .. } => command.arg(script).arg(seconds(interval)),
            Mode::Broadcast { interval } => command
                .arg(script)
                .arg(seconds(interval))
                .arg("--broadcast"),
        };
        Ok(command)
    }
}

/// An interval as producer-server's `--interval` takes it.
fn ours_interval(interval: Duration) -> String {
    if interval.is_zero() {
        "0".into()
    } else {
        format!("{}ms", interval.as_millis())
    }
}

/// An interval as the Python scripts take it.
fn seconds(interval: Duration) -> String {
    interval.as_secs_f64().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_as_each_server_reads_them() {
        assert_eq!(ours_interval(Duration::ZERO), "0");
        assert_eq!(ours_interval(Duration::from_millis(100)), "100ms");
        assert_eq!(ours_interval(Duration::from_secs(3600)), "3600000ms");
        assert_eq!(seconds(Duration::from_millis(100)), "0.1");
        assert_eq!(seconds(Duration::ZERO), "0");
    }
}
