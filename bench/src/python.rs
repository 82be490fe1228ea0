//! The Python that runs the baseline: one that imports `websockets`, in a private venv.

use crate::processes::Guard;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long `pip install` may take before the bench gives up on the baseline.
const INSTALL_LIMIT: Duration = Duration::from_secs(300);

/// A Python that can import `websockets`: `PRODCON_PYTHON`, the bench's venv
/// (`<target>/bench-venv`) or the CI's `.venv`. When there is none and `install` is set, creates
/// the bench's venv with `pip`. `Err` says why there is no baseline.
pub fn find(workspace: &Path, target: &Path, install: bool) -> Result<PathBuf, String> {
    let venv = target.join("bench-venv");
    let candidates = std::env::var_os("PRODCON_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([venv.join("bin/python"), workspace.join(".venv/bin/python")]);
    for python in candidates {
        if imports_websockets(&python) {
            return Ok(python);
        }
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
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    let python = venv.join("bin/python");
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(workspace.join("tests/python/requirements.txt")))?;
    if imports_websockets(&python) {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import websockets after pip install",
            python.display()
        ))
    }
}

/// The version of websockets `python` imports, for the header.
pub fn describe(python: &Path) -> String {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, websockets; print(sys.version.split()[0], websockets.__version__)",
        ])
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

fn imports_websockets(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import websockets.asyncio.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `command` to its end, at most [`INSTALL_LIMIT`].
fn run(command: &mut Command) -> Result<(), String> {
    let what = format!("{:?}", command.get_program());
    let mut guard = Guard::spawn(command.stdin(Stdio::null()))?;
    match guard.wait(INSTALL_LIMIT) {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("{what} failed ({status})")),
        None => Err(format!("{what} took over {INSTALL_LIMIT:?}")),
    }
}
