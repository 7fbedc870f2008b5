//! Ctrl-C, SIGTERM and SIGHUP: the first stops the users gracefully so the run
//! is written; every wait in gander asks `interrupted()`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

static SIGNALS: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: OnceLock<bool> = OnceLock::new();
/// Why gander itself stopped the run early, when it did.
static STOPPED: Mutex<Option<String>> = Mutex::new(None);

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

/// A signal came, or gander stopped the run itself (`stop`).
pub fn interrupted() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0 || stopped_because().is_some()
}

/// Ends the run early as a signal would, for `reason` (the first reason stays).
pub fn stop(reason: String) {
    if let Ok(mut stopped) = STOPPED.lock()
        && stopped.is_none()
    {
        goose::trigger_killswitch(&reason);
        *stopped = Some(reason);
    }
}

fn stopped_because() -> Option<String> {
    STOPPED.lock().ok().and_then(|s| s.clone())
}

/// Why the run stopped early: a signal, or the reason given to `stop`.
pub fn interrupt_reason() -> Option<String> {
    if SIGNALS.load(Ordering::SeqCst) > 0 {
        return Some(INTERRUPT_REASON.to_string());
    }
    stopped_because()
}
