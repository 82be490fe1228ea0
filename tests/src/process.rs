//! Running the binaries, with a deadline on every wait so that a broken build fails a test
//! instead of hanging it.

use crate::binaries::binary;
pub(crate) use harness::process::wait_for;
use harness::process::Guard;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server has to print its `listening on` line.
const START_LIMIT: Duration = Duration::from_secs(10);

/// A producer-server process, killed when dropped.
pub struct Server {
    /// The process, killed when this is dropped.
    child: Guard,
    /// The address it listens on, read from its `listening on` line.
    pub addr: SocketAddr,
    /// `ws://addr/`, or `wss://addr/` for a TLS server.
    pub url: String,
    /// The `--metrics` address, read from its `metrics on` line, when it serves metrics.
    pub metrics: Option<SocketAddr>,
    /// Everything it has logged on stderr so far.
    log: Arc<Mutex<String>>,
    /// Its standard input, when started with a pipe there.
    stdin: Option<ChildStdin>,
}

impl Server {
    /// Starts producer-server on 127.0.0.1, port 0, with `args`, and waits until it listens.
    pub fn start(args: &[&str]) -> Server {
        Self::start_with(args, Stdio::null(), "127.0.0.1:0")
    }

    /// Starts producer-server at `addr` with `args` and `stdin`, and waits until it listens.
    pub fn start_with(args: &[&str], stdin: impl Into<Stdio>, addr: &str) -> Server {
        let mut child = Guard::spawn(
            Command::new(binary("producer-server"))
                .args(["--addr", addr])
                .args(args)
                .stdin(stdin)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let (log, _) = collect(child.child().stderr.take().expect("stderr is piped"));
        let mut stdout = BufReader::new(child.child().stdout.take().expect("stdout is piped"));
        let (line_tx, line_rx) = mpsc::channel();
        // The lines before `listening on` (such as `metrics on`) come first, in one go.
        let reader = thread::spawn(move || {
            let mut lines = String::new();
            loop {
                let mut line = String::new();
                match stdout.read_line(&mut line) {
                    Ok(n) if n > 0 => lines.push_str(&line),
                    _ => break,
                }
                if line.starts_with("listening on ") {
                    break;
                }
            }
            let _ = line_tx.send(lines);
            stdout
        });
        let lines = line_rx.recv_timeout(START_LIMIT).unwrap_or_default();
        let metrics = lines.lines().find_map(|line| {
            let rest = line.strip_prefix("metrics on http://")?;
            rest.strip_suffix("/metrics")?.parse().ok()
        });
        let line = lines.lines().last().unwrap_or_default().to_string();
        let listening = line.trim().strip_prefix("listening on ");
        let scheme_and_addr = listening.and_then(|rest| rest.strip_suffix('/'));
        let parsed = scheme_and_addr.and_then(|rest| {
            let (scheme, addr) = rest.split_once("://")?;
            Some((scheme.to_string(), addr.parse::<SocketAddr>().ok()?))
        });
        let Some((scheme, addr)) = parsed else {
            drop(child);
            panic!(
                "producer-server did not print its address; stdout {line:?}, stderr:\n{}",
                log.lock().unwrap()
            );
        };
        // Keep the pipe open: a server whose stdout reader is gone would fail to print.
        thread::spawn(move || {
            if let Ok(mut rest) = reader.join() {
                let _ = std::io::copy(&mut rest, &mut std::io::sink());
            }
        });
        let stdin = child.child().stdin.take();
        Server {
            child,
            url: format!("{scheme}://{addr}/"),
            addr,
            metrics,
            log,
            stdin,
        }
    }

    /// The process id, to send it signals.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Sends `signal` (such as `INT`, `TERM`, `KILL`) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the server to exit, at most `limit`; panics if it does not.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        self.child.wait(limit).unwrap_or_else(|| {
            panic!(
                "producer-server did not exit within {limit:?}; stderr:\n{}",
                self.log()
            )
        })
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log holds `needle`, at most `limit`; panics if it does not.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "server never logged {needle:?}; stderr:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's standard input, when it was started with `Stdio::piped()` there.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }
}

/// A finished consumer-client run.
#[derive(Debug)]
pub struct ClientRun {
    /// How it exited.
    pub status: ExitStatus,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl ClientRun {
    /// The lines printed on stdout.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// A consumer-client process, started but not yet waited for.
pub struct RunningClient {
    /// The process, killed when this is dropped.
    child: Guard,
    /// Its stdout, collected as it comes, so that a test can act once some lines are out.
    stdout: Arc<Mutex<String>>,
    /// The thread collecting stdout, which ends with the process's stdout.
    stdout_reader: thread::JoinHandle<()>,
    /// Its stderr, collected as it comes.
    stderr: Arc<Mutex<String>>,
    /// The thread collecting stderr, which ends with the process's stderr.
    stderr_reader: thread::JoinHandle<()>,
}

impl RunningClient {
    /// Starts consumer-client with `args`.
    pub fn start(args: &[&str]) -> RunningClient {
        let mut child = Guard::spawn(
            Command::new(binary("consumer-client"))
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let (stdout, stdout_reader) =
            collect(child.child().stdout.take().expect("stdout is piped"));
        let (stderr, stderr_reader) =
            collect(child.child().stderr.take().expect("stderr is piped"));
        RunningClient {
            child,
            stdout,
            stdout_reader,
            stderr,
            stderr_reader,
        }
    }

    /// How many lines it has printed on stdout so far.
    pub fn lines_so_far(&self) -> usize {
        self.stdout.lock().unwrap().matches('\n').count()
    }

    /// Waits until it has printed at least `count` lines, at most `limit`; panics if it does not.
    pub fn wait_for_lines(&self, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.lines_so_far() < count {
            assert!(
                Instant::now() < deadline,
                "consumer-client printed {} lines, not {count}, within {limit:?}; stderr:\n{}",
                self.lines_so_far(),
                self.stderr()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// What it has printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Its process id, to send it signals or read its memory from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Sends `signal` to the client.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.pid().to_string())
            .status();
    }

    /// Waits for it to exit, at most `limit`; kills it and panics if it does not.
    pub fn finish(mut self, limit: Duration) -> ClientRun {
        let Some(status) = self.child.wait(limit) else {
            // The guard kills it when `self` goes.
            panic!(
                "consumer-client did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            );
        };
        let _ = self.stdout_reader.join();
        let _ = self.stderr_reader.join();
        ClientRun {
            status,
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }
}

/// Runs consumer-client with `args` to its end, at most `limit`.
pub fn run_client(args: &[&str], limit: Duration) -> ClientRun {
    RunningClient::start(args).finish(limit)
}

/// Collects everything `source` says into a shared string, byte for byte (invalid UTF-8 aside),
/// on a thread of its own that ends with `source`.
pub(crate) fn collect(
    source: impl Read + Send + 'static,
) -> (Arc<Mutex<String>>, thread::JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    let reader = thread::spawn(move || {
        let mut source = BufReader::new(source);
        let mut line = Vec::new();
        // Line by line, so that a reader never sees half a line; each kept as it came,
        // carriage returns included.
        while matches!(source.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&line));
            line.clear();
        }
    });
    (text, reader)
}

/// How many bytes written into `pipe` (either end) its reader has not read yet: 0 once a
/// server has taken all of its standard input into its own memory.
pub fn unread_in_pipe(pipe: &impl AsRawFd) -> usize {
    let mut unread: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, through a pointer to one, for a descriptor `pipe` owns.
    let done = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut unread) };
    assert_eq!(done, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    usize::try_from(unread).expect("a count is not negative")
}
