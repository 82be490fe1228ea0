//! The Python that runs the baseline: one that imports `websockets`, found by the shared
//! harness, or made by the bench in a private venv.

use crate::processes::run_to_end;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long `pip install` may take before the bench gives up on the baseline.
const INSTALL_LIMIT: Duration = Duration::from_secs(300);

/// A Python that can import `websockets`: `PRODCON_PYTHON`, the bench's venv
/// (`<target>/bench-venv`), the CI's `.venv` or `python3`. When there is none and `install` is
/// set, creates the bench's venv with `pip`. `Err` says why there is no baseline.
pub fn find(workspace: &Path, target: &Path, install: bool) -> Result<PathBuf, String> {
    let venv = target.join("bench-venv");
    if let Some(python) = harness::python::find(&[venv.join("bin/python")]) {
        return Ok(python);
    }
    if !install {
        return Err(format!(
            "no Python with websockets ({} or .venv); run the full bench once, or .ci/run, to create one",
            venv.display()
        ));
    }
    eprintln!(
        "bench: installing Python's websockets into {}",
        venv.display()
    );
    run_to_end(
        INSTALL_LIMIT,
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
    )?;
    let python = venv.join("bin/python");
    run_to_end(
        INSTALL_LIMIT,
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(workspace.join("tests/python/requirements.txt")),
    )?;
    if harness::python::imports_websockets(&python) {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import websockets after pip install",
            python.display()
        ))
    }
}
