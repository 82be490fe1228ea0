//! Child processes, always stopped: a guard kills and reaps its process when dropped, whatever
//! happens, and every wait has a deadline.

use std::process::{Child, Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// How often a wait looks at the process again.
const POLL: Duration = Duration::from_millis(2);

/// A process that is killed and reaped when the guard is dropped.
#[derive(Debug)]
pub struct Guard {
    /// The process.
    child: Child,
}

impl Guard {
    /// Starts `command`; the error names the program.
    pub fn spawn(command: &mut Command) -> Result<Guard, String> {
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
        Ok(Guard { child })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process, to take its pipes.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits for the process to exit, at most `limit`; `None` if it is still running.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_for(&mut self.child, limit)
    }
}

/// Waits for `child` to exit, at most `limit`; `None` if it is still running.
pub fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(POLL);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_leaves_no_process() {
        let mut guard = Guard::spawn(Command::new("sleep").arg("30")).unwrap();
        let pid = guard.pid();
        assert_eq!(guard.wait(Duration::from_millis(20)), None);
        drop(guard);
        assert!(!std::path::Path::new(&format!("/proc/{pid}/stat")).exists());
    }

    #[test]
    fn a_finished_process_gives_its_status() {
        let mut guard = Guard::spawn(&mut Command::new("true")).unwrap();
        let status = guard.wait(Duration::from_secs(10)).unwrap();
        assert!(status.success());
    }
}
