//! The run's time axis and phase boundaries, shared by users and the recorder.
//!
//! A closed load held flat: the steady state starts when the last planned
//! user has started and ends when the first user stops or the planned
//! duration has passed, whichever comes first. A staged load (and every open
//! one): the steady state is its steady stage, placed from the load's origin
//! (the first user's start, or the open model's schedule start). Users report
//! their start and stop here; goose's own metric reset is not involved, so
//! nothing before or after is lost.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::result::Phase;

/// What the clock knows of the plan (the scenario's load, read by the caller).
#[derive(Debug, Clone)]
pub struct PlannedLoad {
    pub users: usize,
    /// The planned length of the steady state, when known in advance.
    pub steady_length: Option<Duration>,
    /// Staged loads: the steady stage's offsets from the origin.
    pub steady_window: Option<(Duration, Duration)>,
    /// The open model (users counted while busy in an iteration).
    pub open: bool,
    pub scenarios: usize,
}

#[derive(Debug)]
pub struct RunClock {
    pub t0: Instant,
    planned_users: usize,
    planned_duration: Option<Duration>,
    /// Staged loads: the steady stage's offsets from the origin.
    planned_steady: Option<(Duration, Duration)>,
    /// Open model: the users series counts users busy in an iteration.
    open: bool,
    origin: OnceLock<Instant>,
    busy: AtomicUsize,
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
            planned_steady: None,
            open: false,
            origin: OnceLock::new(),
            busy: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            steady_start: OnceLock::new(),
            first_stop: OnceLock::new(),
            finished: OnceLock::new(),
            by_scenario: (0..scenarios).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// The clock for a planned load, its time axis from `t0` (not after now).
    pub fn for_load(load: &PlannedLoad, t0: Instant) -> Self {
        let mut clock = RunClock::new(load.users, load.steady_length, load.scenarios);
        clock.t0 = t0;
        clock.planned_steady = load.steady_window;
        clock.open = load.open;
        clock
    }

    /// The instant stage offsets count from; the first call wins.
    pub fn set_origin(&self, at: Instant) {
        let _ = self.origin.set(at);
    }

    pub fn origin(&self) -> Option<Instant> {
        self.origin.get().copied()
    }

    pub fn iteration_began(&self) {
        self.busy.fetch_add(1, Ordering::SeqCst);
    }

    pub fn iteration_ended(&self) {
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn user_started(&self, scenario: usize) {
        if !self.open {
            // A staged closed load starts its plan with its first user.
            self.set_origin(Instant::now());
        }
        self.active.fetch_add(1, Ordering::SeqCst);
        if let Some(count) = self.by_scenario.get(scenario) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        if self.started.fetch_add(1, Ordering::SeqCst) + 1 == self.planned_users
            && self.planned_steady.is_none()
        {
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

    /// When the load ended, once it has.
    pub fn finished_at(&self) -> Option<Instant> {
        self.finished.get().copied()
    }

    pub fn finished(&self) -> bool {
        self.finished.get().is_some()
    }

    /// The planned length of the steady state, when known in advance.
    pub fn planned_duration(&self) -> Option<Duration> {
        self.planned_duration
    }

    pub fn active_users(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Users started (and not stopped), or for the open model users busy in an iteration.
    pub fn users_now(&self) -> usize {
        if self.open {
            self.busy.load(Ordering::SeqCst)
        } else {
            self.active_users()
        }
    }

    pub fn started_users(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    pub fn users_by_scenario(&self) -> Vec<usize> {
        self.by_scenario
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// Start and end of the steady state as known now: no start before it has begun.
    pub fn steady(&self) -> (Option<Instant>, Option<Instant>) {
        if let Some((from, to)) = self.planned_steady {
            let Some(origin) = self.origin() else {
                return (None, None);
            };
            let (start, mut end) = (origin + from, origin + to);
            if let Some(&finished) = self.finished.get() {
                if finished <= start {
                    return (None, None);
                }
                end = end.min(finished);
            } else if Instant::now() < start {
                return (None, None);
            }
            return (Some(start), Some(end));
        }
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
            // A staged load stops users on plan, before its steady stage too.
            (None, _) if self.planned_steady.is_some() => Phase::RampUp,
            (None, _) if self.first_stop.get().is_some_and(|s| t >= *s) => Phase::RampDown,
            (None, _) => Phase::RampUp,
        }
    }

    pub fn seconds_since_start(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.t0).as_secs_f64()
    }
}

/// `--start-at`: the instant every generator of a run starts its load, and
/// the time axis laid on it. The axis starts a whole number of seconds from
/// the common start (at or before now), so the per-second series of
/// generators started apart line up second for second.
#[derive(Debug, Clone, Copy)]
pub struct CommonStart {
    pub at: chrono::DateTime<chrono::Utc>,
    /// `at` on this process's monotonic clock.
    pub instant: Instant,
    /// The time axis's start: `at` plus `axis_from_s` seconds.
    pub t0: Instant,
    /// Whole seconds from `at` to the axis's start (negative: it starts before).
    pub axis_from_s: i64,
}

impl CommonStart {
    /// Lays the axis for a common start at `at`, now.
    pub fn new(at: chrono::DateTime<chrono::Utc>) -> CommonStart {
        let (now, wall) = (Instant::now(), chrono::Utc::now());
        let since_us = (wall - at).num_microseconds().unwrap_or(i64::MAX);
        let axis_from_s = since_us.div_euclid(1_000_000);
        // From the axis's start to now: the fraction of a second past it.
        let into_second = Duration::from_micros(since_us.rem_euclid(1_000_000) as u64);
        let t0 = now.checked_sub(into_second).unwrap_or(now);
        let instant = if since_us < 0 {
            now + Duration::from_micros(since_us.unsigned_abs())
        } else {
            now.checked_sub(Duration::from_micros(since_us as u64))
                .unwrap_or(now)
        };
        CommonStart {
            at,
            instant,
            t0,
            axis_from_s,
        }
    }

    /// How late the load began after the common start, in seconds (0 when on time).
    pub fn late_s(&self, began: Instant) -> f64 {
        began.saturating_duration_since(self.instant).as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_common_start_lays_the_axis_on_whole_seconds_from_it() {
        let now = chrono::Utc::now();
        for offset_ms in [-2500i64, -1000, -1, 0, 1, 999, 1000, 30_400] {
            let at = now + chrono::TimeDelta::milliseconds(offset_ms);
            let start = CommonStart::new(at);
            // The axis starts at or before now, less than a second before.
            assert!(start.t0 <= Instant::now());
            assert!(start.t0.elapsed() < Duration::from_secs(1) + Duration::from_millis(50));
            // ... a whole number of seconds from the common start.
            let gap = if start.axis_from_s >= 0 {
                start.t0.duration_since(start.instant).as_secs_f64()
            } else {
                -start.instant.duration_since(start.t0).as_secs_f64()
            };
            assert!(
                (gap - start.axis_from_s as f64).abs() < 1e-3,
                "{offset_ms}: {gap}"
            );
            // A start in the past: the axis starts at or after it; well ahead: before it.
            if offset_ms < 0 {
                assert!(start.axis_from_s >= 0, "{offset_ms}");
            } else if offset_ms >= 999 {
                assert!(start.axis_from_s < 0, "{offset_ms}");
            }
        }
    }

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

    #[test]
    fn a_planned_steady_stage_counts_from_the_origin() {
        let mut clock = RunClock::new(3, Some(Duration::from_millis(200)), 1);
        clock.planned_steady = Some((Duration::from_millis(100), Duration::from_millis(300)));
        assert_eq!(clock.steady(), (None, None), "no origin yet");
        let origin = Instant::now();
        clock.set_origin(origin);
        // Stopping users (a ramp-down stage) does not end a planned steady state.
        clock.user_started(0);
        clock.user_stopped();
        assert_eq!(
            clock.phase_of(origin + Duration::from_millis(50)),
            Phase::RampUp
        );
        std::thread::sleep(Duration::from_millis(120));
        let (start, end) = clock.steady();
        assert_eq!(start, Some(origin + Duration::from_millis(100)));
        assert_eq!(end, Some(origin + Duration::from_millis(300)));
        assert_eq!(
            clock.phase_of(origin + Duration::from_millis(150)),
            Phase::Steady
        );
        assert_eq!(
            clock.phase_of(origin + Duration::from_millis(300)),
            Phase::RampDown
        );
        // A run that finishes early ends its steady state there.
        clock.mark_finished();
        let (_, end) = clock.steady();
        assert!(end.unwrap() < origin + Duration::from_millis(300));
    }
}
