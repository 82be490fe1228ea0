//! The asyncio article's own programs (`tests/python/`), run with Python's `websockets`.
//!
//! `.ci/run` installs `websockets` and `prometheus_client` into `.venv` at the workspace root. Elsewhere the tests that
//! need it say loudly that they skip; under CI (`CI` set) a missing library fails them instead.

use std::path::PathBuf;

/// The workspace's `tests/python` folder.
pub fn scripts() -> PathBuf {
    harness::python::scripts()
}

/// A Python interpreter that can import `websockets` and `prometheus_client`, if there is one.
pub fn interpreter() -> Option<PathBuf> {
    let found = harness::python::find(&[]);
    if found.is_none() {
        crate::skip::skip(
            "the tests with the article's Python programs",
            "no Python with the websockets library (pip install -r tests/python/requirements.txt, or set PRODCON_PYTHON)",
        );
    }
    found
}
