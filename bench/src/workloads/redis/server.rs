//! A Redis of the bench's own: Debian's `redis-server` on a free port of 127.0.0.1, in a
//! temporary folder, without persistence; killed, and its folder removed, when dropped. And
//! `redis-benchmark` against it, for the floor the Redis workload is read against.

use harness::process::Guard;
use harness::redis::answers_ping;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh Redis has to answer `PING`.
const START_LIMIT: Duration = Duration::from_secs(15);

/// A running redis-server.
pub struct RedisServer {
    /// The process; killed when dropped.
    guard: Guard,
    /// The port it listens on.
    pub port: u16,
    /// Its working folder, removed when dropped.
    dir: PathBuf,
}

/// Whether `program --version` runs: the Redis workload needs `redis-server`, and its floor
/// `redis-benchmark` (both in Debian's `redis-server` package).
pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

impl RedisServer {
    /// Starts one and waits until it answers.
    pub fn start() -> Result<RedisServer, String> {
        let dir = std::env::temp_dir().join(format!("prodcon-bench-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        // Redis cannot pick a free port itself (port 0 turns TCP off): one free a moment ago.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let guard = Guard::spawn(
            Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .arg("--dir")
                .arg(&dir)
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        let server = RedisServer { guard, port, dir };
        let deadline = Instant::now() + START_LIMIT;
        while !answers_ping(port) {
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server did not answer within {START_LIMIT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The process id, to read its CPU time.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// `redis-benchmark`'s rate for `requests` XADDs of the shape a node publishes (`MAXLEN ~`,
    /// `0-*`, `data`, `time`) into `key`, with its default 50 clients and no pipelining.
    pub fn xadd_rate(&self, key: &str, requests: u64) -> Result<f64, String> {
        let out = Command::new("redis-benchmark")
            .args(["-p", &self.port.to_string()])
            .args(["-n", &requests.to_string(), "--csv"])
            .args(["XADD", key, "MAXLEN", "~", "10000", "0-*"])
            .args(["data", "1234567", "time", "1700000000000000"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run redis-benchmark: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        csv_rate(&text).ok_or_else(|| {
            format!(
                "redis-benchmark gave no rate: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // The guard kills the process when it is dropped, after this.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The requests per second of `redis-benchmark --csv`: the second field of its second line,
/// under the header `"test","rps",...`.
fn csv_rate(text: &str) -> Option<f64> {
    let row = text.lines().nth(1)?;
    let field = row.split("\",\"").nth(1)?;
    field.trim_matches('"').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_read_from_the_csv() {
        let csv =
            "\"test\",\"rps\",\"avg_latency_ms\"\n\"XADD k * data 1\",\"36429.87\",\"0.925\"\n";
        assert_eq!(csv_rate(csv), Some(36429.87));
        assert_eq!(csv_rate("\"test\",\"rps\"\n"), None);
    }
}
