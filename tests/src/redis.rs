//! A Redis of the test's own: Debian's `redis-server`, on a free port of 127.0.0.1, in a
//! temporary folder, without persistence unless the test asks for an append-only file; always
//! stopped, and its folder removed, when dropped.
//!
//! `.ci/run` installs `redis-server`. Elsewhere the tests that need it say loudly that they skip;
//! under CI (`CI` set) a missing server fails them instead.

use crate::process::wait_for;
use harness::redis::answers_ping;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a Redis has to answer `PING` after it starts (loading its append-only file included).
const START_LIMIT: Duration = Duration::from_secs(15);

/// The programs, Debian's unless `REDIS_SERVER` names another server.
fn server_program() -> PathBuf {
    std::env::var_os("REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

/// A running redis-server; killed, and its folder removed, when dropped.
pub struct Redis {
    /// The process, while it runs.
    child: Option<Child>,
    /// The port it listens on, kept across restarts.
    pub port: u16,
    /// Its working folder: the append-only file, its log.
    dir: PathBuf,
    /// Whether it keeps an append-only file.
    append_only: bool,
}

/// Whether entries survive a restart of Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing written to disk: a restart starts empty (the default for tests).
    None,
    /// `appendonly yes`: every write is logged before it is answered, and replayed at start.
    AppendOnly,
}

impl Redis {
    /// Starts a Redis for `test`, or says loudly that `test` skips (and returns `None`) when
    /// there is no redis-server; under CI, that fails the test instead.
    pub fn start(test: &str, persistence: Persistence) -> Option<Redis> {
        let found = Command::new(server_program())
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success());
        if !found {
            crate::skip::skip(
                test,
                "no redis-server (apt-get install redis-server, or set REDIS_SERVER)",
            );
            return None;
        }
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "prodcon-redis-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("the temporary folder can be made");
        let mut redis = Redis {
            child: None,
            port: 0,
            dir,
            append_only: persistence == Persistence::AppendOnly,
        };
        // A free port found by binding port 0 can be taken by someone else before Redis binds
        // it (Redis cannot pick one itself: port 0 turns TCP off): try a few.
        for _ in 0..5 {
            redis.port = free_port();
            if redis.launch() {
                return Some(redis);
            }
        }
        panic!("redis-server did not start; its log:\n{}", redis.log());
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`, ...) to the server.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis-server runs");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} redis-server failed");
    }

    /// Kills the server with SIGKILL, as a crash would, and starts it again on the same port and
    /// folder (so from its append-only file, if it keeps one).
    pub fn crash_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(
            self.launch(),
            "redis-server did not start again on port {}; its log:\n{}",
            self.port,
            self.log()
        );
    }

    /// Runs `redis-cli` against this server with `args`; its output, which must be no error.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs (Debian's redis-tools comes with redis-server)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && !text.starts_with("ERR") && !text.starts_with("WRONGTYPE"),
            "redis-cli {args:?} failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// Adds an entry `0-*` to stream `key` with `fields`, which may be binary or far longer than
    /// a command line takes (one argument of `redis-cli` is at most 128 KiB); its id.
    pub fn xadd(&self, key: &str, fields: &[(&str, &[u8])]) -> String {
        let mut args: Vec<&[u8]> = vec![b"XADD", key.as_bytes(), b"0-*"];
        for (name, value) in fields {
            args.extend([name.as_bytes(), *value]);
        }
        let mut command = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            command.extend(format!("${}\r\n", arg.len()).as_bytes());
            command.extend(arg);
            command.extend(b"\r\n");
        }
        let mut socket = TcpStream::connect(("127.0.0.1", self.port)).expect("Redis answers");
        socket
            .set_read_timeout(Some(START_LIMIT))
            .expect("a timeout can be set");
        socket.write_all(&command).expect("the command is sent");
        // The answer is the id, `$5\r\n0-123\r\n`, or an error, `-ERR ...\r\n`.
        let mut answer = BufReader::new(socket);
        let mut line = String::new();
        answer.read_line(&mut line).expect("Redis answers");
        assert!(line.starts_with('$'), "XADD {key} failed: {line}");
        line.clear();
        answer.read_line(&mut line).expect("Redis answers the id");
        line.trim_end().to_string()
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// Starts the process on `self.port` and waits until it answers; `false` if it exited.
    fn launch(&mut self) -> bool {
        let append_only = if self.append_only { "yes" } else { "no" };
        let mut child = Command::new(server_program())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--logfile", "redis.log"])
            .args(["--save", ""])
            .args(["--appendonly", append_only])
            .args(["--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if answers_ping(self.port) {
                self.child = Some(child);
                return true;
            }
            if wait_for(&mut child, Duration::from_millis(20)).is_some() {
                return false;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "redis-server did not answer within {START_LIMIT:?}; its log:\n{}",
                    self.log()
                );
            }
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL ends a process stopped with SIGSTOP too.
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port of 127.0.0.1 free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding port 0 works");
    listener
        .local_addr()
        .expect("a bound socket has an address")
        .port()
}

/// A port of 127.0.0.1 where nothing listens (none did a moment ago): for "unreachable" tests.
pub fn closed_port() -> u16 {
    free_port()
}

/// How long to poll between two looks at a condition.
pub const POLL: Duration = Duration::from_millis(10);

/// Waits until `condition` holds, at most `limit`; panics with `what` if it never does.
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        thread::sleep(POLL);
    }
}
