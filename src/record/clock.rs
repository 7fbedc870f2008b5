//! The run's time axis and phase boundaries, shared by users and the recorder.
//!
//! The steady state starts when the last planned user has started and ends
//! when the first user stops or the planned duration has passed, whichever
//! comes first. Users report their start and stop here; goose's own metric
//! reset is not involved, so nothing before or after is lost.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::result::Phase;

#[derive(Debug)]
pub struct RunClock {
    pub t0: Instant,
    planned_users: usize,
    planned_duration: Option<Duration>,
    started: AtomicUsize,
    active: AtomicUsize,
    steady_start: OnceLock<Instant>,
    first_stop: OnceLock<Instant>,
    finished: OnceLock<Instant>,
    by_scenario: Vec<AtomicUsize>,
}

impl RunClock {
    pub fn new(planned_users: usize, planned_duration: Option<Duration>, scenarios: usize) -> Self {
        RunClock {
            t0: Instant::now(),
            planned_users,
            planned_duration,
            started: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            steady_start: OnceLock::new(),
            first_stop: OnceLock::new(),
            finished: OnceLock::new(),
            by_scenario: (0..scenarios).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// The clock for a plan's load, started now.
    pub fn for_plan(plan: &crate::scenario::RunPlan) -> Self {
        let planned_duration = match plan.load.end {
            crate::scenario::plan::LoadEnd::Duration(d) => Some(d),
            crate::scenario::plan::LoadEnd::Iterations(_) => None,
        };
        RunClock::new(plan.load.users, planned_duration, plan.scenarios.len())
    }

    pub fn user_started(&self, scenario: usize) {
        self.active.fetch_add(1, Ordering::SeqCst);
        if let Some(count) = self.by_scenario.get(scenario) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        if self.started.fetch_add(1, Ordering::SeqCst) + 1 == self.planned_users {
            let _ = self.steady_start.set(Instant::now());
        }
    }

    pub fn user_stopped(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
        let _ = self.first_stop.set(Instant::now());
    }

    /// The load has ended (every user stopped, or goose gave up).
    pub fn mark_finished(&self) {
        let _ = self.finished.set(Instant::now());
    }

    pub fn finished(&self) -> bool {
        self.finished.get().is_some()
    }

    pub fn planned_duration(&self) -> Option<Duration> {
        self.planned_duration
    }

    pub fn active_users(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    pub fn users_by_scenario(&self) -> Vec<usize> {
        self.by_scenario
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// Start and end of the steady state as known now.
    pub fn steady(&self) -> (Option<Instant>, Option<Instant>) {
        let Some(&start) = self.steady_start.get() else {
            return (None, None);
        };
        let planned_end = self.planned_duration.map(|d| start + d);
        let stop = self.first_stop.get().copied().filter(|s| *s >= start);
        let end = match (planned_end, stop) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (Some(start), end)
    }

    /// The phase a request started at `t` belongs to.
    pub fn phase_of(&self, t: Instant) -> Phase {
        match self.steady() {
            (Some(start), _) if t < start => Phase::RampUp,
            (Some(_), Some(end)) if t >= end => Phase::RampDown,
            (Some(_), _) => Phase::Steady,
            (None, _) if self.first_stop.get().is_some_and(|s| t >= *s) => Phase::RampDown,
            (None, _) => Phase::RampUp,
        }
    }

    pub fn seconds_since_start(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.t0).as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_user_starts_and_stops() {
        let clock = RunClock::new(2, None, 1);
        let before = Instant::now();
        clock.user_started(0);
        assert_eq!(clock.phase_of(Instant::now()), Phase::RampUp);
        clock.user_started(0);
        let during = Instant::now();
        assert_eq!(clock.phase_of(before), Phase::RampUp);
        assert_eq!(clock.phase_of(during), Phase::Steady);
        clock.user_stopped();
        let after = Instant::now() + Duration::from_millis(1);
        assert_eq!(clock.phase_of(after), Phase::RampDown);
        assert_eq!(clock.phase_of(during), Phase::Steady);
        assert_eq!(clock.active_users(), 1);
        assert_eq!(clock.users_by_scenario(), vec![2]);
    }
}
