//! Child processes gander starts (the SUT, profilers): each in its own process
//! group, so a terminal's Ctrl-C reaches only gander, which then stops them;
//! and with a parent-death signal, so they do not outlive a killed gander.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A child process and its process group, stopped when dropped.
pub struct Guarded {
    child: Child,
    stopped: Option<ExitStatus>,
}

impl Guarded {
    /// Spawns `command` in a new process group. The parent-death signal is tied
    /// to the spawning thread: spawn from a thread that outlives the child.
    pub fn spawn(command: &mut Command) -> std::io::Result<Guarded> {
        command.process_group(0);
        // SAFETY: prctl is async-signal-safe and only affects the child.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        Ok(Guarded {
            child: command.spawn()?,
            stopped: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.stopped.is_none() {
            self.stopped = self.child.try_wait().ok().flatten();
        }
        self.stopped
    }

    /// Sends `signal` to the whole process group (workers included).
    pub fn signal_group(&self, signal: libc::c_int) {
        // SAFETY: the group id is our child's pid; it leads its own group.
        unsafe { libc::kill(-(self.child.id() as i32), signal) };
    }

    /// Waits up to `limit` for the child to exit on its own.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM to the group, then SIGKILL after `grace`; returns how it ended.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.exited().is_none() {
            self.signal_group(libc::SIGTERM);
            if self.wait_for(grace).is_none() {
                self.signal_group(libc::SIGKILL);
                self.stopped = self.child.wait().ok();
            }
        }
        // Workers that outlived their leader still belong to the group.
        self.signal_group(libc::SIGKILL);
        self.stopped
    }
}

/// Everything written so far to `file` (a child's captured output).
pub fn read_back(file: &mut std::fs::File) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut bytes = Vec::new();
    let _ = file.seek(std::io::SeekFrom::Start(0));
    let _ = file.read_to_end(&mut bytes);
    bytes
}

/// The last `n` non-blank lines of a child's captured output.
pub fn last_lines(file: &mut std::fs::File, n: usize) -> Vec<String> {
    let bytes = read_back(file);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}
