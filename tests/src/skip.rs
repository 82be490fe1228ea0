//! Tests that need a tool from outside Rust (Python's websockets, Chromium) skip loudly where it is
//! missing, and fail under CI, which must provide it.

use std::io::Write;

/// Whether this run is CI's: `CI` set to anything but empty, `0` or `false`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !matches!(value.as_str(), "" | "0" | "false"))
}

/// Says that a test skips because `missing`, or panics under CI. The line goes straight to the
/// process's standard error: the test harness would swallow an `eprintln!` of a passing test.
pub fn skip(test: &str, missing: &str) {
    if under_ci() {
        panic!("CI must provide what {test} needs: {missing}; run .ci/run, which installs it");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {missing}");
}
