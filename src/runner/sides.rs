//! `gander ab`: two origins served by one run's users. Both sides' URLs are
//! prepared once per plan; which side a user's next iteration goes to is one
//! atomic read (`Alternation::side`), flipped by whoever paces the blocks.

use std::sync::atomic::{AtomicU8, Ordering};

/// The side index of the baseline; the candidate is 1.
pub const BASELINE: u8 = 0;
pub const CANDIDATE: u8 = 1;

/// The two origins and which one new iterations go to.
#[derive(Debug)]
pub struct Alternation {
    /// The candidate's host (the baseline's is the plan's `host`).
    pub candidate_host: String,
    /// The candidate's run id, named in its requests' `baggage` header (the
    /// baseline's is [`super::RunOptions::run_id`]).
    pub candidate_run_id: Option<String>,
    current: AtomicU8,
}

impl Alternation {
    pub fn new(candidate_host: String, candidate_run_id: Option<String>) -> Alternation {
        Alternation {
            candidate_host,
            candidate_run_id,
            current: AtomicU8::new(BASELINE),
        }
    }

    /// The side new iterations (and a starting user's on_start steps) go to.
    pub fn side(&self) -> u8 {
        self.current.load(Ordering::Relaxed)
    }

    /// Sends new iterations to `side` from now on.
    pub fn set(&self, side: u8) {
        self.current.store(side.min(CANDIDATE), Ordering::Relaxed);
    }
}
