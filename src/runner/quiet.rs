//! Keeping goose's console output off stdout and its logger out of the way.

/// While alive, file descriptor 1 points at /dev/null: goose prints a few
/// lines with `println!` that no setting silences.
pub struct StdoutSilencer {
    saved: libc::c_int,
}

impl StdoutSilencer {
    pub fn new() -> Option<Self> {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let devnull = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .ok()?;
        // SAFETY: dup/dup2 on valid descriptors; the saved one is restored on drop.
        unsafe {
            let saved = libc::dup(1);
            if saved < 0 {
                return None;
            }
            if libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&devnull), 1) < 0 {
                libc::close(saved);
                return None;
            }
            Some(StdoutSilencer { saved })
        }
    }
}

impl Drop for StdoutSilencer {
    fn drop(&mut self) {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: restores the descriptor saved in `new`.
        unsafe {
            libc::dup2(self.saved, 1);
            libc::close(self.saved);
        }
    }
}

/// A logger that drops everything, installed first so goose does not install
/// its own (which prints to stdout). `GANDER_LOG=debug|info|warn` lets goose's
/// messages through to stderr for troubleshooting.
pub fn install_logger() {
    struct StderrLogger(log::LevelFilter);
    impl log::Log for StderrLogger {
        fn enabled(&self, metadata: &log::Metadata) -> bool {
            metadata.level() <= self.0
        }
        fn log(&self, record: &log::Record) {
            if self.enabled(record.metadata()) {
                eprintln!("[{} {}] {}", record.level(), record.target(), record.args());
            }
        }
        fn flush(&self) {}
    }
    let level = std::env::var("GANDER_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Off);
    if log::set_boxed_logger(Box::new(StderrLogger(level))).is_ok() {
        log::set_max_level(level);
    }
}
