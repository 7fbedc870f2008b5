//! Ctrl-C / SIGTERM handling and keeping goose's console output off stdout.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

static SIGNALS: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: OnceLock<bool> = OnceLock::new();

pub const INTERRUPT_REASON: &str = "interrupted by a signal (Ctrl-C or SIGTERM)";

/// Installs gander's handler for SIGINT, SIGTERM and SIGHUP before goose can
/// install its own. The first signal stops the users gracefully so the run is
/// written; a second one exits at once.
pub fn install() {
    INSTALLED.get_or_init(|| {
        ctrlc::set_handler(|| {
            if SIGNALS.fetch_add(1, Ordering::SeqCst) == 0 {
                goose::trigger_killswitch(INTERRUPT_REASON);
            } else {
                eprintln!("gander: interrupted again, exiting without writing the report");
                std::process::exit(130);
            }
        })
        .is_ok()
    });
}

pub fn interrupted() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

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
