//! Child processes gander starts (the SUT, profilers): each in its own process
//! group, so a terminal's Ctrl-C reaches only gander, which then stops them;
//! with a parent-death signal; and watched by a watchdog that kills the whole
//! group when gander ends without stopping it (SIGKILL, a crash), so not even
//! a worker a shell put in the background (`bash -c "server & wait"`) outlives
//! gander to answer the next run's readiness check.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A child process and its process group, stopped when dropped.
pub struct Guarded {
    child: Child,
    stopped: Option<ExitStatus>,
    watchdog: Option<Watchdog>,
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
        let child = command.spawn()?;
        // Without a watchdog the group is still stopped on every path gander
        // lives to see; only a killed gander could then leave it behind.
        let watchdog = Watchdog::watch(child.id() as libc::pid_t).ok();
        Ok(Guarded {
            child,
            stopped: None,
            watchdog,
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
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.release();
        }
    }
}

/// A forked process that holds the read end of a pipe whose write end only
/// gander holds. The kernel closes that end however gander ends; the watchdog
/// then reads end-of-file and kills the group. A byte on the pipe instead
/// tells it the group was stopped and it may go.
struct Watchdog {
    pid: libc::pid_t,
    write: std::os::fd::OwnedFd,
}

/// How long the watchdog lets an orphaned group handle SIGTERM before SIGKILL.
const WATCHDOG_GRACE: libc::timespec = libc::timespec {
    tv_sec: 2,
    tv_nsec: 0,
};

impl Watchdog {
    fn watch(group: libc::pid_t) -> std::io::Result<Watchdog> {
        use std::os::fd::FromRawFd;
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two descriptors; close-on-exec keeps the
        // write end out of every program gander starts later.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let [read, write] = fds;
        // SAFETY: the child calls only async-signal-safe functions (the
        // process may have other threads) and never returns.
        match unsafe { libc::fork() } {
            -1 => {
                let e = std::io::Error::last_os_error();
                // SAFETY: closing the descriptors just made.
                unsafe {
                    libc::close(read);
                    libc::close(write);
                }
                Err(e)
            }
            0 => unsafe { watchdog_main(read, group) },
            pid => {
                // SAFETY: the parent keeps only the write end, which it owns.
                unsafe { libc::close(read) };
                Ok(Watchdog {
                    pid,
                    write: unsafe { std::os::fd::OwnedFd::from_raw_fd(write) },
                })
            }
        }
    }

    /// The group is stopped: let the watchdog go, and reap it.
    fn release(self) {
        use std::os::fd::AsRawFd;
        // SAFETY: writing one byte to a pipe this struct owns, then waiting
        // for our own child.
        unsafe {
            libc::write(self.write.as_raw_fd(), b"q".as_ptr().cast(), 1);
            drop(self.write);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// The watchdog's whole life, in the forked child: only async-signal-safe calls.
///
/// # Safety
/// Call only in a freshly forked child; it never returns.
unsafe fn watchdog_main(read: libc::c_int, group: libc::pid_t) -> ! {
    unsafe {
        // Its own process group: a terminal's Ctrl-C to gander's group passes it by.
        libc::setpgid(0, 0);
        // Keep only the pipe (as stdin): no copy of gander's files, sockets or
        // run-directory lock stays open in the watchdog.
        libc::dup2(read, 0);
        libc::syscall(libc::SYS_close_range, 1u32, u32::MAX, 0u32);
        let mut byte = 0u8;
        loop {
            let n = libc::read(0, (&raw mut byte).cast(), 1);
            if n == 1 {
                libc::_exit(0);
            }
            if n == 0 || *libc::__errno_location() != libc::EINTR {
                break;
            }
        }
        libc::kill(-group, libc::SIGTERM);
        libc::nanosleep(&WATCHDOG_GRACE, std::ptr::null_mut());
        libc::kill(-group, libc::SIGKILL);
        libc::_exit(0)
    }
}
