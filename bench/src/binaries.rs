//! The release binaries under test, built fresh.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where everything the bench runs lives.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// target/release/producer-server.
    pub server: PathBuf,
    /// target/release/consumer-client.
    pub client: PathBuf,
    /// The workspace root, where the Python scripts are.
    pub workspace: PathBuf,
    /// The target directory, where the bench keeps its venv and logs.
    pub target: PathBuf,
}

/// Builds producer-server and consumer-client in release mode (cargo does nothing when they are
/// fresh, so this is cheap, and a stale binary is never measured) and finds them.
pub fn build() -> Result<Binaries, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("the bench crate lives in the workspace")?
        .to_path_buf();
    // This binary runs as <target>/<profile>/bench: build the others into the same target dir,
    // whichever profile the bench itself was built with.
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the bench: {e}"))?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the bench runs from <target>/<profile>/")?
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet"])
        .args(["-p", "producer-server", "-p", "consumer-client"])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(&workspace)
        .status()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build --release -p producer-server -p consumer-client failed ({status})"
        ));
    }
    let release = target.join("release");
    let binaries = Binaries {
        server: release.join(format!("producer-server{}", std::env::consts::EXE_SUFFIX)),
        client: release.join(format!("consumer-client{}", std::env::consts::EXE_SUFFIX)),
        workspace,
        target,
    };
    for path in [&binaries.server, &binaries.client] {
        if !path.is_file() {
            return Err(format!("{} is missing after the build", path.display()));
        }
    }
    Ok(binaries)
}
