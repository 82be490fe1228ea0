//! What a process holds, read from `/proc` by the shared harness: to show that connections leave
//! nothing behind.

pub use harness::proc_stats::open_fds;

/// The resident memory of process `pid`, in KiB; 0 when it cannot be read.
pub fn resident_kib(pid: u32) -> u64 {
    harness::proc_stats::resident_kib(pid).unwrap_or(0)
}
