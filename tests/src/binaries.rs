//! Fresh binaries of the other packages.
//!
//! Cargo builds and exposes `CARGO_BIN_EXE_*` only for the binaries of a test's own package, and
//! `cargo test --workspace` need not build the others' binaries at all, nor before this package.
//! So the harness asks cargo itself, once per test process, to build them into the very target
//! directory and profile this test was built in (cargo does not hold its lock while tests run).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of the freshly built binary `name`.
pub fn binary(name: &str) -> PathBuf {
    let profile_dir = built();
    profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Builds both binaries once; returns the profile directory they are in.
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        // This test runs as <target>/<profile dir>/deps/<test binary>.
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binaries live in <target>/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir
            .parent()
            .expect("a profile directory has a parent");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(other) => other.to_string(),
            None => panic!("unexpected test binary path {}", exe.display()),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--bins",
                "-p",
                "producer-server",
                "-p",
                "consumer-client",
            ])
            .arg("--profile")
            .arg(&profile)
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(workspace)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the binaries failed");
        profile_dir
    })
}
