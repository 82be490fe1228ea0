//! A Python that imports `websockets`, for the asyncio article's own programs (`tests/python/`)
//! and the bench's baseline.
//!
//! `.ci/run` installs `websockets` into `.venv` at the workspace root; `PRODCON_PYTHON` names
//! another interpreter.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace's `tests/python` folder, where the article's programs are.
pub fn scripts() -> PathBuf {
    crate::workspace().join("tests/python")
}

/// The first interpreter that imports `websockets`, trying in turn `PRODCON_PYTHON`, `extra`,
/// the workspace's `.venv` and `python3`.
pub fn find(extra: &[PathBuf]) -> Option<PathBuf> {
    std::env::var_os("PRODCON_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain(extra.iter().cloned())
        .chain([
            crate::workspace().join(".venv/bin/python"),
            PathBuf::from("python3"),
        ])
        .find(|python| imports_websockets(python))
}

/// Whether `python` runs and imports websockets' asyncio server (websockets 13 or later).
pub fn imports_websockets(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import websockets.asyncio.server"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The versions of Python and websockets that `python` runs, such as
/// `Python 3.11.7, websockets 16.1.1`.
pub fn describe(python: &Path) -> String {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, websockets; print(sys.version.split()[0], websockets.__version__)",
        ])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut words = text.split_whitespace();
            format!(
                "Python {}, websockets {}",
                words.next().unwrap_or("?"),
                words.next().unwrap_or("?")
            )
        }
        _ => "Python (version unknown)".into(),
    }
}
