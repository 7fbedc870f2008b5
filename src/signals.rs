//! Ctrl-C, SIGTERM and SIGHUP: the first stops the users gracefully so the run
//! is written; every wait in gander asks `interrupted()`.

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
