//! Child processes, always stopped: a guard kills its process when dropped, whatever happens.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a server has to print its `listening on` line.
const START_LIMIT: Duration = Duration::from_secs(15);

/// A process that is killed and reaped when the guard is dropped.
pub struct Guard {
    /// The process.
    child: Child,
}

impl Guard {
    /// Starts `command`.
    pub fn spawn(command: &mut Command) -> Result<Guard, String> {
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
        Ok(Guard { child })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process, to take its pipes or wait on it.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits for the process to exit, at most `limit`; `None` if it is still running.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server under test (producer-server or the Python baseline) listening on 127.0.0.1.
pub struct ServerProcess {
    /// The process; killed when this is dropped.
    guard: Guard,
    /// `ws://127.0.0.1:PORT/`, from its `listening on` line.
    pub url: String,
    /// Where its stderr goes, for the error messages.
    log: PathBuf,
    /// Its stdout, kept open so that the server never writes into a closed pipe.
    _stdout: Option<ChildStdout>,
}

impl ServerProcess {
    /// Starts `command`, logging its stderr to `log`, and waits for `listening on ws://...`.
    pub fn start(mut command: Command, log: PathBuf) -> Result<ServerProcess, String> {
        let log_file =
            File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let mut guard = Guard::spawn(&mut command)?;
        let stdout = guard.child().stdout.take().ok_or("stdout is piped")?;
        let (line_tx, line_rx) = mpsc::channel();
        // A thread, so that a server that never prints cannot hang the bench.
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = line_tx.send((line, reader.into_inner()));
        });
        let (line, stdout) = line_rx
            .recv_timeout(START_LIMIT)
            .map_or((String::new(), None), |(line, out)| (line, Some(out)));
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .filter(|url| url.starts_with("ws://"))
            .map(str::to_string);
        let Some(url) = url else {
            let exited = guard.wait(Duration::from_millis(200));
            return Err(format!(
                "{:?} did not print its address (stdout {line:?}, {}); its log: {}",
                command.get_program(),
                exited.map_or("still running".into(), |s| format!("exited: {s}")),
                tail(&log)
            ));
        };
        Ok(ServerProcess {
            guard,
            url,
            log,
            _stdout: stdout,
        })
    }

    /// The process id, to read its memory and CPU time.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// The end of what it logged, for error messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

/// The last lines of a log file, on one line.
pub fn tail(path: &PathBuf) -> String {
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
