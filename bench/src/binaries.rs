//! The release binaries under test, built fresh by the shared harness, and the bench's own floor.

use std::path::{Path, PathBuf};

/// Where everything the bench runs lives.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The producer-server measured: target/release/producer-server, or `--server`.
    pub server: PathBuf,
    /// Whether `server` was given with `--server` rather than built here.
    pub server_given: bool,
    /// target/release/consumer-client.
    pub client: PathBuf,
    /// target/release/floor: the raw-syscall sweep that gives the fan-out's limit column.
    pub floor: PathBuf,
    /// The workspace root, where the peers' sources and the Python scripts are.
    pub workspace: PathBuf,
    /// The target directory, where the bench keeps its venv, peers and logs.
    pub target: PathBuf,
}

/// Builds producer-server, consumer-client and the floor in release mode (cargo does nothing
/// when they are fresh, so a stale binary is never measured) and finds them.
pub fn build() -> Result<Binaries, String> {
    // This binary runs as <target>/<profile>/bench: build the others into the same target dir,
    // whichever profile the bench itself was built with.
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the bench: {e}"))?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the bench runs from <target>/<profile>/")?
        .to_path_buf();
    let release = harness::binaries::build("release", &target)?;
    harness::binaries::cargo_build("release", &target, &["-p", "bench", "--bin", "floor"])?;
    let floor = harness::binaries::in_folder(&release, "floor");
    if !floor.is_file() {
        return Err(format!("{} is missing after the build", floor.display()));
    }
    Ok(Binaries {
        server: harness::binaries::in_folder(&release, "producer-server"),
        server_given: false,
        client: harness::binaries::in_folder(&release, "consumer-client"),
        floor,
        workspace: harness::workspace(),
        target,
    })
}
