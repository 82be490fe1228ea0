//! A headless Chromium, driven by `tests/browser/drive.js` (Node and playwright-core).
//!
//! `.ci/run` installs Debian's `chromium` and runs `npm ci` in `tests/browser`. Elsewhere the tests
//! that need them say loudly that they skip; under CI (`CI` set) missing pieces fail them instead.

use crate::process::{collect, wait_for};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long Chromium has to start.
const LAUNCH_LIMIT: Duration = Duration::from_secs(30);

/// How long the driver has to close Chromium and exit.
const QUIT_LIMIT: Duration = Duration::from_secs(10);

/// A running `drive.js` with its browser; quits it when dropped.
pub struct Browser {
    /// The Node process.
    child: Child,
    /// Where commands go, one JSON line each.
    commands: ChildStdin,
    /// The replies, one JSON line per command, read on a thread.
    replies: mpsc::Receiver<String>,
    /// What the script and the page said on stderr, for failure messages.
    log: Arc<Mutex<String>>,
}

/// The `tests/browser` folder.
fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// The Chromium to drive: `CHROMIUM`, or Debian's.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What is missing to run a browser test, if anything.
fn missing() -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !node {
        return Some("node is not installed".into());
    }
    if !folder().join("node_modules/playwright-core").is_dir() {
        return Some("tests/browser/node_modules is missing (run npm ci in tests/browser)".into());
    }
    let chromium = chromium();
    if !chromium.is_file() {
        return Some(format!(
            "{} is missing (apt-get install chromium, or set CHROMIUM)",
            chromium.display()
        ));
    }
    None
}

impl Browser {
    /// Starts the driver and its browser; `None` (after saying `SKIPPED` on stderr) when node,
    /// playwright-core or Chromium is missing outside CI.
    pub fn launch() -> Option<Browser> {
        if let Some(what) = missing() {
            crate::skip::skip("the browser test", &what);
            return None;
        }
        let mut child = Command::new("node")
            .arg("drive.js")
            .current_dir(folder())
            .env("CHROMIUM", chromium())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let (log, _) = collect(child.stderr.take().expect("stderr is piped"));
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let (reply_tx, replies) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if reply_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let commands = child.stdin.take().expect("stdin is piped");
        let mut browser = Browser {
            child,
            commands,
            replies,
            log,
        };
        browser.reply("launch", LAUNCH_LIMIT);
        Some(browser)
    }

    /// Sends `command` (a JSON object with `cmd`) and returns the reply, waiting at most `limit`;
    /// panics, with what the driver logged, when it fails or does not answer in time.
    pub fn call(&mut self, command: Value, limit: Duration) -> Value {
        let line = format!("{command}\n");
        self.commands
            .write_all(line.as_bytes())
            .and_then(|()| self.commands.flush())
            .unwrap_or_else(|e| panic!("the browser driver is gone: {e}\n{}", self.log()));
        self.reply(&command["cmd"].to_string(), limit)
    }

    /// The next reply, which must say `ok`.
    fn reply(&mut self, what: &str, limit: Duration) -> Value {
        let line = self.replies.recv_timeout(limit).unwrap_or_else(|_| {
            panic!(
                "the browser driver did not answer {what} within {limit:?}; its log:\n{}",
                self.log()
            )
        });
        let reply: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the browser driver said {line:?}: {e}"));
        assert_eq!(
            reply["ok"],
            Value::Bool(true),
            "{what} failed: {}; driver log:\n{}",
            reply["error"],
            self.log()
        );
        reply
    }

    /// What the driver and the pages logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Asked to quit, the driver closes Chromium and removes its profile; killed, it could not.
        let _ = self.commands.write_all(b"{\"cmd\":\"quit\"}\n");
        let _ = self.commands.flush();
        if wait_for(&mut self.child, QUIT_LIMIT).is_none() {
            eprintln!("the browser driver did not quit within {QUIT_LIMIT:?}; killing it");
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
