//! The servers every workload runs against: producer-server, the peers a user would pick
//! instead (Node.js `ws`, Go gorilla/websocket, the seed's pattern with Python's `websockets`,
//! and for standard input websocketd and websocat), and the floor, a raw-syscall sweep.

use crate::peers::{Launcher, Peers};
use crate::processes::{free_port, Ready, ServerProcess};
use common::Format;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Which server; the order is the table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// producer-server, release build.
    Ours,
    /// Node.js with the `ws` library (`bench/node/server.js`).
    Node,
    /// Go with gorilla/websocket (`bench/go/server.go`).
    Go,
    /// The seed's pattern with Python's `websockets` (the first baseline).
    Python,
    /// websocketd running `seq 1 N` for each connection (standard input only).
    Websocketd,
    /// `websocat --oneshot` serving its standard input (standard input only).
    Websocat,
    /// The floor: one thread writing each message's frame to every socket with plain `write`
    /// calls, nothing else; the limit column.
    Floor,
}

impl Subject {
    /// Every subject, in the table's order.
    pub const ALL: [Subject; 7] = [
        Subject::Ours,
        Subject::Node,
        Subject::Go,
        Subject::Python,
        Subject::Websocketd,
        Subject::Websocat,
        Subject::Floor,
    ];

    /// Its name in the table's header and the chart's legend.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Ours => "ours",
            Subject::Node => "Node ws",
            Subject::Go => "Go gorilla",
            Subject::Python => "Python websockets",
            Subject::Websocketd => "websocketd",
            Subject::Websocat => "websocat",
            Subject::Floor => "limit (floor)",
        }
    }

    /// Whether it is a server a user would pick instead of ours (not ours, not the floor).
    pub fn is_peer(self) -> bool {
        !matches!(self, Subject::Ours | Subject::Floor)
    }

    /// Whether it can run `mode` at all.
    pub fn serves(self, mode: Mode) -> bool {
        match self {
            Subject::Ours => true,
            Subject::Node | Subject::Go | Subject::Python => !matches!(mode, Mode::Stdin { .. }),
            Subject::Websocketd | Subject::Websocat => matches!(mode, Mode::Stdin { .. }),
            // A sweep of one write per socket per message is the limit of a steady rate; at
            // --interval 0 the servers batch messages per write and the floor would not be one.
            Subject::Floor => {
                matches!(mode, Mode::Broadcast { interval } if !interval.is_zero())
            }
        }
    }

    /// A short name for log files.
    fn file_name(self) -> &'static str {
        match self {
            Subject::Ours => "producer-server",
            Subject::Node => "node-ws",
            Subject::Go => "go-gorilla",
            Subject::Python => "python-websockets",
            Subject::Websocketd => "websocketd",
            Subject::Websocat => "websocat",
            Subject::Floor => "floor",
        }
    }
}

/// How the server streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A counter per connection (the seed's pattern), one message per `interval`. `format` is
    /// what the clients will ask for: the Python baseline serves plain text with the seed's own
    /// program, and `prodcon.v1` with the bench's script.
    PerConnection {
        /// Time between two messages; zero is as fast as the consumer reads.
        interval: Duration,
        /// What the clients will ask for.
        format: Format,
    },
    /// One counter for every connection (`--broadcast`), one message per `interval`.
    Broadcast {
        /// Time between two messages; zero is at the pace of the slowest consumer.
        interval: Duration,
    },
    /// One message per line of `lines` lines of standard input (`--source stdin`), which the
    /// bench writes once the consumer is connected (websocketd runs `seq 1 lines` instead).
    Stdin {
        /// How many lines.
        lines: u64,
    },
}

/// Starts servers under test.
pub struct Servers {
    /// How to start each subject, or why it is absent.
    pub peers: Peers,
    /// consumer-client, the reader of the whole-pipeline rows.
    pub client: PathBuf,
    /// Where server logs go: `<target>/bench-logs`.
    pub log_dir: PathBuf,
    /// Numbers the log files of the servers started.
    started: AtomicUsize,
}

impl Servers {
    /// Servers started as `peers` says, logging into `log_dir`; `client` is consumer-client.
    pub fn new(peers: Peers, client: PathBuf, log_dir: PathBuf) -> Servers {
        let _ = std::fs::create_dir_all(&log_dir);
        Servers {
            peers,
            client,
            log_dir,
            started: AtomicUsize::new(0),
        }
    }

    /// Whether `subject` is there to run.
    pub fn available(&self, subject: Subject) -> bool {
        self.peers.launcher(subject).is_ok()
    }

    /// Starts `subject` in `mode` on 127.0.0.1 and waits until it listens.
    pub fn start(&self, subject: Subject, mode: Mode) -> Result<ServerProcess, String> {
        let launcher = self.peers.launcher(subject)?;
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        let log = self
            .log_dir
            .join(format!("{n:03}-{}.log", subject.file_name()));
        let mut command = launcher.command();
        let mut ready = Ready::Line;
        let mut stdin = Stdio::null();
        match (subject, mode) {
            (Subject::Ours, _) => {
                command.args(["--addr", "127.0.0.1:0"]);
                match mode {
                    Mode::PerConnection { interval, .. } => {
                        command.args(["--interval", &ours_interval(interval)]);
                    }
                    Mode::Broadcast { interval } => {
                        command.args(["--broadcast", "--interval", &ours_interval(interval)]);
                    }
                    Mode::Stdin { .. } => {
                        command.args(["--source", "stdin"]);
                        stdin = Stdio::piped();
                    }
                }
            }
            (Subject::Python, Mode::PerConnection { interval, format }) => {
                let script = match format {
                    Format::Plain => "tests/python/seed_producer.py",
                    _ => "bench/python/baseline_producer.py",
                };
                command
                    .arg(self.peers.workspace.join(script))
                    .arg(seconds(interval));
            }
            (Subject::Python, Mode::Broadcast { interval }) => {
                command
                    .arg(
                        self.peers
                            .workspace
                            .join("bench/python/baseline_producer.py"),
                    )
                    .arg(seconds(interval))
                    .arg("--broadcast");
            }
            (Subject::Node | Subject::Go, Mode::PerConnection { interval, .. }) => {
                command.arg(seconds(interval));
            }
            (Subject::Node | Subject::Go | Subject::Floor, Mode::Broadcast { interval }) => {
                command.arg(seconds(interval));
                if subject != Subject::Floor {
                    command.arg("--broadcast");
                }
            }
            (Subject::Websocketd, Mode::Stdin { lines }) => {
                let port = free_port()?;
                command
                    .args(["--address", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--loglevel", "error", "seq", "1", &lines.to_string()]);
                ready = Ready::Port(port);
            }
            (Subject::Websocat, Mode::Stdin { .. }) => {
                let port = free_port()?;
                // Text messages, one per line of stdin, to the one client it serves; each keeps
                // its newline (its --linemode-strip-newlines splits "N\n" into two messages).
                command
                    .args([
                        "--text",
                        "--oneshot",
                        "--unidirectional-reverse",
                        "--no-line",
                    ])
                    .arg(format!("ws-l:127.0.0.1:{port}"))
                    .arg("line2msg:-");
                stdin = Stdio::piped();
                ready = Ready::Port(port);
            }
            _ => return Err(format!("{} does not serve {mode:?}", subject.name())),
        }
        ServerProcess::start(command, stdin, ready, log)
    }
}

impl Launcher {
    /// A command that starts the program with its fixed arguments.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        command
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

/// An interval as the peers take it: seconds.
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

    #[test]
    fn each_subject_serves_its_modes() {
        let stdin = Mode::Stdin { lines: 1 };
        let broadcast = Mode::Broadcast {
            interval: Duration::from_millis(100),
        };
        let flat_out = Mode::Broadcast {
            interval: Duration::ZERO,
        };
        assert!(Subject::Ours.serves(stdin) && Subject::Ours.serves(broadcast));
        assert!(Subject::Websocat.serves(stdin) && !Subject::Websocat.serves(broadcast));
        assert!(Subject::Floor.serves(broadcast) && !Subject::Floor.serves(stdin));
        assert!(!Subject::Floor.serves(flat_out) && Subject::Node.serves(flat_out));
        assert!(!Subject::Node.serves(stdin));
        assert!(Subject::ALL.iter().filter(|s| s.is_peer()).count() == 5);
    }
}
