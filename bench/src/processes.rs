//! The servers under test as child processes, always stopped (the shared harness's guard kills
//! them when dropped), and tools run to their end with a deadline.

use harness::process::Guard;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a server has to show that it listens.
const START_LIMIT: Duration = Duration::from_secs(15);

/// How a server shows that it accepts connections.
#[derive(Debug, Clone, Copy)]
pub enum Ready {
    /// It prints `listening on ws://IP:PORT/` on stdout (ours, the floor and the peers the
    /// bench wrote).
    Line,
    /// It listens on 127.0.0.1:PORT, given on its command line, and prints nothing the bench can
    /// rely on (websocketd, websocat). Read from `/proc/net/tcp`, since a probing connection
    /// would be the one connection `websocat --oneshot` serves.
    Port(u16),
}

/// A server under test listening on 127.0.0.1.
pub struct ServerProcess {
    /// The process; killed when this is dropped.
    guard: Guard,
    /// `ws://127.0.0.1:PORT/`.
    pub url: String,
    /// Where its stderr goes, for the error messages.
    log: PathBuf,
    /// Its stdin when started with a pipe there (the stdin workload).
    stdin: Option<ChildStdin>,
    /// Its stdout, kept open so that the server never writes into a closed pipe.
    _stdout: Option<ChildStdout>,
}

impl ServerProcess {
    /// Starts `command` with `stdin`, logging its stderr to `log`, and waits until it listens.
    pub fn start(
        mut command: Command,
        stdin: Stdio,
        ready: Ready,
        log: PathBuf,
    ) -> Result<ServerProcess, String> {
        let log_file =
            File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        command.stdin(stdin).stdout(Stdio::piped()).stderr(log_file);
        let mut guard = Guard::spawn(&mut command)?;
        let stdout = guard.child().stdout.take().ok_or("stdout is piped")?;
        let stdin = guard.child().stdin.take();
        let (url, stdout, seen) = match ready {
            Ready::Line => {
                let (line, stdout) = first_line(stdout);
                let url = line
                    .trim()
                    .strip_prefix("listening on ")
                    .filter(|url| url.starts_with("ws://"))
                    .map(str::to_string);
                (url, stdout, format!("stdout {line:?}"))
            }
            Ready::Port(port) => {
                let deadline = Instant::now() + START_LIMIT;
                while !listening(port)
                    && Instant::now() < deadline
                    && guard.wait(Duration::from_millis(10)).is_none()
                {}
                let url = listening(port).then(|| format!("ws://127.0.0.1:{port}/"));
                (url, Some(stdout), format!("port {port} not listening"))
            }
        };
        let Some(url) = url else {
            let exited = guard.wait(Duration::from_millis(200));
            return Err(format!(
                "{:?} did not show it listens ({seen}, {}); its log: {}",
                command.get_program(),
                exited.map_or("still running".into(), |s| format!("exited: {s}")),
                tail(&log)
            ));
        };
        Ok(ServerProcess {
            guard,
            url,
            log,
            stdin,
            _stdout: stdout,
        })
    }

    /// The process id, to read its memory and CPU time.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Its standard input, when it was started with a pipe there.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// The end of what it logged, for error messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

/// The first line of `stdout`, at most [`START_LIMIT`] away, and the pipe to keep open.
fn first_line(stdout: ChildStdout) -> (String, Option<ChildStdout>) {
    let (line_tx, line_rx) = mpsc::channel();
    // A thread, so that a server that never prints cannot hang the bench.
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = line_tx.send((line, reader.into_inner()));
    });
    line_rx
        .recv_timeout(START_LIMIT)
        .map_or((String::new(), None), |(line, out)| (line, Some(out)))
}

/// Whether a socket listens on 127.0.0.1:`port` (or on every address), from `/proc/net/tcp`.
pub fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    listening_in(&table, port)
}

/// [`listening`] on the text of `/proc/net/tcp`: lines of `sl local rem st ...`, addresses as
/// `HEXIP:HEXPORT`, state `0A` for LISTEN.
fn listening_in(table: &str, port: u16) -> bool {
    let wanted = [
        format!("0100007F:{port:04X}"),
        format!("00000000:{port:04X}"),
    ];
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 3 && fields[3] == "0A" && wanted.iter().any(|w| w == fields[1])
    })
}

/// A port on 127.0.0.1 that was free a moment ago, for the servers that cannot take port 0.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Runs `command` to its end, at most `limit`; its output goes where the bench's goes.
pub fn run_to_end(limit: Duration, command: &mut Command) -> Result<(), String> {
    let what = format!("{:?}", command.get_program());
    let mut guard = Guard::spawn(command.stdin(Stdio::null()))?;
    match guard.wait(limit) {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("{what} failed ({status})")),
        None => Err(format!("{what} took over {limit:?}")),
    }
}

/// The last lines of a log file, on one line.
pub fn tail(path: &Path) -> String {
    let Ok(mut file) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(600)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    // The cut may fall inside a character.
    let text = String::from_utf8_lossy(&bytes);
    let text: Vec<&str> = text.lines().rev().take(3).collect();
    let text: Vec<&str> = text.into_iter().rev().collect();
    format!("{} [{}]", text.join(" / "), path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_read_from_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st\n   0: 0100007F:1F90 00000000:0000 0A 0\n   1: 0100007F:1F91 0100007F:C000 01 0\n";
        assert!(listening_in(table, 0x1F90));
        assert!(!listening_in(table, 0x1F91), "established, not listening");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(listening(listener.local_addr().unwrap().port()));
    }
}
