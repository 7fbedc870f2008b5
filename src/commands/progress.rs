//! The live progress line on stderr: elapsed, users, rps, errors, p95.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::record::Live;

/// The line, redrawn four times a second until dropped.
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    pub fn start(live: Arc<Mutex<Live>>, planned_users: usize) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let done = done.clone();
            move || draw(&live, &done, planned_users)
        });
        Progress {
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn draw(live: &Mutex<Live>, done: &AtomicBool, planned_users: usize) {
    {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        while !done.load(Ordering::SeqCst) {
            let now = live.lock().map(|l| l.clone()).unwrap_or_default();
            let error_pct = if now.requests > 0 {
                now.errors as f64 * 100.0 / now.requests as f64
            } else {
                0.0
            };
            let p95 = now
                .p95_ms
                .map(|p| format!("{p:.1}ms"))
                .unwrap_or_else(|| "-".into());
            bar.set_message(format!(
                "{:>4}s  users {}/{}  {} req/s  {} requests  errors {:.2}%  p95 {}",
                now.elapsed_s, now.users, planned_users, now.rps, now.requests, error_pct, p95
            ));
            bar.tick();
            std::thread::sleep(Duration::from_millis(250));
        }
        bar.finish_and_clear();
    }
}
