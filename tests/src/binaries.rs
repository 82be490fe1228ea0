//! Fresh binaries of the other packages, built by the shared harness into the very target
//! directory and profile this test was built in (cargo does not hold its lock while tests run).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The path of the freshly built binary `name`.
pub fn binary(name: &str) -> PathBuf {
    harness::binaries::in_folder(built(), name)
}

/// Builds both binaries once per test process; returns the folder they are in.
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        // This test runs as <target>/<profile dir>/deps/<test binary>.
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binaries live in <target>/<profile>/deps");
        let target_dir = profile_dir
            .parent()
            .expect("a profile directory has a parent");
        let profile = harness::binaries::profile_of(profile_dir)
            .unwrap_or_else(|| panic!("unexpected test binary path {}", exe.display()));
        harness::binaries::build(&profile, target_dir).unwrap_or_else(|error| panic!("{error}"))
    })
}
