//! What `/proc` says about a process: resident memory, CPU time, open files.

use std::fs;
use std::io;

/// Resident memory of process `pid`, in KiB (`VmRSS` in `/proc/PID/status`).
pub fn resident_kib(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("no VmRSS in /proc/{pid}/status")))
}

/// CPU time process `pid` has used so far, user plus system, in seconds. Its resolution is one
/// clock tick, [`tick_seconds`].
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = cpu_ticks(&stat)
        .ok_or_else(|| io::Error::other(format!("cannot read /proc/{pid}/stat")))?;
    Ok(ticks as f64 * tick_seconds())
}

/// The length of a clock tick, the unit of CPU times in `/proc`, in seconds.
pub fn tick_seconds() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    1.0 / per_second.max(1) as f64
}

/// How many file descriptors process `pid` has open; 0 when it cannot be read.
pub fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// utime + stime from the text of `/proc/PID/stat`. The command name, in parentheses, may hold
/// spaces: fields are counted from the last `)`, after which comes field 3 (`state`).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let stat = "1234 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_ticks(stat), Some(300));
    }

    #[test]
    fn this_process_is_readable() {
        let pid = std::process::id();
        assert!(resident_kib(pid).unwrap() > 0);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(open_fds(pid) >= 3, "stdin, stdout and stderr at least");
        assert!(resident_kib(u32::MAX).is_err());
    }
}
