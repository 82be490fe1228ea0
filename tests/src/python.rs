//! The asyncio article's own programs (`tests/python/`), run with Python's `websockets`.
//!
//! `.ci/run` installs `websockets` and `prometheus_client` into `.venv` at the workspace root. Elsewhere the tests that
//! need it say loudly that they skip; under CI (`CI` set) a missing library fails them instead.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's `tests/python` folder.
pub fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// A Python interpreter that can import `websockets` and `prometheus_client`, if there is one.
pub fn interpreter() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let candidates = std::env::var_os("PRODCON_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([venv, PathBuf::from("python3")]);
    for python in candidates {
        let works = Command::new(&python)
            .args(["-c", "import websockets.asyncio.server, prometheus_client"])
            .output()
            .is_ok_and(|out| out.status.success());
        if works {
            return Some(python);
        }
    }
    crate::skip::skip(
        "the tests with the article's Python programs",
        "no Python with the websockets and prometheus_client libraries (pip install -r tests/python/requirements.txt, or set PRODCON_PYTHON)",
    );
    None
}
