//! Fresh producer-server and consumer-client binaries.
//!
//! Cargo exposes `CARGO_BIN_EXE_*` only for a package's own binaries, and `cargo test
//! --workspace` need not build the others' binaries at all. So the tests and the bench ask cargo
//! itself to build them into the target directory they run from (cargo does nothing when they
//! are fresh, so this is cheap, and a stale binary is never run).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The packages whose binaries the tests and the bench run.
const PACKAGES: [&str; 2] = ["producer-server", "consumer-client"];

/// Builds both binaries with cargo profile `profile` (`dev`, `release`, ...) into `target_dir`;
/// returns the folder they are in (`<target_dir>/debug` for `dev`, else `<target_dir>/<profile>`).
pub fn build(profile: &str, target_dir: &Path) -> Result<PathBuf, String> {
    let mut packages = Vec::new();
    for package in PACKAGES {
        packages.extend(["-p", package]);
    }
    packages.push("--bins");
    let folder = cargo_build(profile, target_dir, &packages)?;
    for package in PACKAGES {
        let path = in_folder(&folder, package);
        if !path.is_file() {
            return Err(format!("{} is missing after the build", path.display()));
        }
    }
    Ok(folder)
}

/// Runs `cargo build` with `what` (such as `-p bench --bin floor`) and profile `profile` into
/// `target_dir`, in the workspace; returns the folder the binaries are in.
pub fn cargo_build(profile: &str, target_dir: &Path, what: &[&str]) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--quiet", "--profile", profile])
        .args(what)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(crate::workspace())
        .status()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build --profile {profile} {} failed ({status})",
            what.join(" ")
        ));
    }
    Ok(target_dir.join(if profile == "dev" { "debug" } else { profile }))
}

/// The path of binary `name` in `folder`, with the platform's suffix.
pub fn in_folder(folder: &Path, name: &str) -> PathBuf {
    folder.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The cargo profile whose output folder is `folder` (`debug` is the `dev` profile's).
pub fn profile_of(folder: &Path) -> Option<String> {
    match folder.file_name()?.to_str()? {
        "debug" => Some("dev".into()),
        other => Some(other.into()),
    }
}
