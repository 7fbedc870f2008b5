//! Whether requests reach the SUT at all. When every request in the first
//! seconds fails to connect (nothing listening, a wrong port, TLS refused),
//! running the whole plan would only time refusals: the run stops early and
//! says why, instead of passing a latency target at 0.3 ms.

use std::time::{Duration, Instant};

use crate::runner::sample::Sample;

/// How long every request must have failed to connect before the run stops...
const GRACE: Duration = Duration::from_secs(3);
/// ... and over how many requests at least.
const MIN_ATTEMPTS: u64 = 10;

#[derive(Default)]
pub struct Reach {
    first: Option<Instant>,
    attempts: u64,
    /// One request got through: the watch is over.
    reached: bool,
    /// The reason of the first failure, for the message.
    reason: Option<String>,
}

impl Reach {
    /// Takes one answered request; returns why the run should stop, once.
    pub fn saw(&mut self, s: &Sample) -> Option<String> {
        if self.reached {
            return None;
        }
        let unreached = s.failure.as_ref().filter(|f| f.unreached);
        let Some(failure) = unreached else {
            self.reached = true;
            return None;
        };
        if failure.stops_run {
            // What to change is known from the first connection.
            self.reached = true;
            return Some(format!("stopped early: {}", failure.reason));
        }
        let first = *self.first.get_or_insert(s.started);
        self.attempts += 1;
        self.reason.get_or_insert_with(|| failure.reason.clone());
        let waited = s.started.saturating_duration_since(first);
        if self.attempts >= MIN_ATTEMPTS && waited >= GRACE {
            self.reached = true; // said once
            let reason = self.reason.as_deref().unwrap_or("connection failed");
            // A refused certificate says what to do itself.
            let hint = if reason.starts_with("connection failed") {
                "; is the SUT up at the host given?"
            } else {
                ""
            };
            return Some(format!(
                "stopped early: all {} requests of the first {:.0}s failed to connect ({reason}){hint}",
                self.attempts,
                waited.as_secs_f64(),
            ));
        }
        None
    }
}
