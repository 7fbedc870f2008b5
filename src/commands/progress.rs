//! Progress while the users run, on stderr: a live line redrawn four times a
//! second on a terminal, or, in a CI log (no terminal), one line every 10 s as
//! k6 prints: elapsed of planned, users, rps, errors, p95.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::record::Live;

/// How often a log line is written without a terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// How often the flag to stop is looked at.
const TICK: Duration = Duration::from_millis(250);

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A line redrawn in place.
    Terminal,
    /// A line every `LOG_EVERY`.
    Log,
}

/// Shows progress until dropped.
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    pub fn start(
        live: Arc<Mutex<Live>>,
        planned_users: usize,
        planned: Option<Duration>,
        style: Style,
    ) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let done = done.clone();
            move || match style {
                Style::Terminal => draw(&live, &done, planned_users, planned),
                Style::Log => log(&live, &done, planned_users, planned),
            }
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

/// One progress line from the recorder's live figures.
fn line(live: &Mutex<Live>, planned_users: usize, planned: Option<Duration>) -> String {
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
    let of = planned
        .map(|d| format!("/{}s", d.as_secs()))
        .unwrap_or_default();
    format!(
        "{:>4}s{of}  users {}/{}  {} req/s  {} requests  errors {:.2}%  p95 {}",
        now.elapsed_s, now.users, planned_users, now.rps, now.requests, error_pct, p95
    )
}

fn draw(live: &Mutex<Live>, done: &AtomicBool, planned_users: usize, planned: Option<Duration>) {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    while !done.load(Ordering::SeqCst) {
        bar.set_message(line(live, planned_users, planned));
        bar.tick();
        std::thread::sleep(TICK);
    }
    bar.finish_and_clear();
}

fn log(live: &Mutex<Live>, done: &AtomicBool, planned_users: usize, planned: Option<Duration>) {
    let mut next = Instant::now() + LOG_EVERY;
    while !done.load(Ordering::SeqCst) {
        if Instant::now() >= next {
            eprintln!("gander: {}", line(live, planned_users, planned));
            next += LOG_EVERY;
        }
        std::thread::sleep(TICK);
    }
}
