//! What the end-to-end tests (`tests/`) and the bench (`bench/`) share, so that each is written
//! once: building the real binaries, child processes that are always stopped, what `/proc` says
//! about a process, the open-file limit, and a Python with `websockets`.
//!
//! # Layout
//! - [`binaries`]: builds producer-server and consumer-client into a target directory.
//! - [`process`]: a child process killed and reaped when its guard is dropped.
//! - [`proc_stats`]: a process's resident memory, CPU time and open files.
//! - [`exit_watch`]: waiting for a process to exit without reaping it.
//! - [`limits`]: raising the open-file limit for thousands of sockets.
//! - [`python`]: finding a Python that imports `websockets`.
//! - [`redis`]: whether a `redis-server` that was started answers.

pub mod binaries;
pub mod exit_watch;
pub mod limits;
pub mod proc_stats;
pub mod process;
pub mod python;
pub mod redis;

use std::path::PathBuf;

/// The workspace root: the folder that holds this crate.
pub fn workspace() -> PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or_else(|| manifest.to_path_buf(), std::path::Path::to_path_buf)
}
