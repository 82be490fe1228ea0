//! Waiting for a process to exit without reaping it, so that what `/proc` says of it (its CPU
//! time, every thread counted) can still be read.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Waits, at most `limit`, until process `pid` (a child not reaped yet) has exited: `Ok(true)`
/// once it has, `Ok(false)` if it still runs. Its pidfd becomes readable when it exits; the
/// kernel wakes this thread then, and nothing looks in the meantime.
pub fn exited_within(pid: u32, limit: Duration) -> io::Result<bool> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: pidfd_open takes a pid and flags, and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: `fd` was just opened, and nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut watch = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline = Instant::now() + limit;
    loop {
        // Counted from the deadline: a wait interrupted by a signal starts again with what is left.
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd, for the length given.
        match unsafe { libc::poll(&mut watch, 1, timeout) } {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            -1 => return Err(io::Error::last_os_error()),
            0 => return Ok(false),
            _ => return Ok(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn tells_an_exit_and_a_process_still_running() {
        let mut running = Command::new("sleep").arg("30").spawn().unwrap();
        assert!(!exited_within(running.id(), Duration::from_millis(50)).unwrap());
        running.kill().unwrap();
        running.wait().unwrap();
        let mut quick = Command::new("true").spawn().unwrap();
        assert!(exited_within(quick.id(), Duration::from_secs(10)).unwrap());
        // Not reaped: /proc still has it, as a zombie.
        assert!(
            std::fs::read_to_string(format!("/proc/{}/stat", quick.id()))
                .unwrap()
                .contains(") Z ")
        );
        quick.wait().unwrap();
    }
}
