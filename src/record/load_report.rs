//! What the runner tells about the load it applied: where each stage fell on
//! the run's time axis, and how the open model's schedule or the closed
//! model's pace held up.

use std::time::Instant;

use super::Collected;
use crate::clock::RunClock;
use crate::result::{ArrivalReport, LagSummary, LoadReport, PacingReport, StageWindow, TimePoint};
use crate::runner::Tally;
use crate::scenario::plan::LoadPlan;

/// The load report of a finished run; the open model's arrivals also go into
/// the per-second series.
pub fn finish(
    load: &LoadPlan,
    clock: &RunClock,
    arrivals: Option<&Tally>,
    collected: &mut Collected,
) -> LoadReport {
    if let Some(tally) = arrivals {
        fill_arrivals(tally, &mut collected.timeseries);
    }
    build(load, clock, arrivals, collected.pacing.take())
}

fn build(
    load: &LoadPlan,
    clock: &RunClock,
    arrivals: Option<&Tally>,
    pacing: Option<PacingReport>,
) -> LoadReport {
    LoadReport {
        stages: clock
            .origin()
            .map(|origin| stage_windows(load, clock, origin))
            .unwrap_or_default(),
        open: arrivals.map(|t| arrival_report(load, t)),
        closed: pacing,
    }
}

fn stage_windows(load: &LoadPlan, clock: &RunClock, origin: Instant) -> Vec<StageWindow> {
    // Summed as durations from the origin, as the clock places the steady stage.
    let mut start = origin;
    let mut from = 0.0;
    load.stages
        .iter()
        .map(|stage| {
            let end = start + stage.duration;
            let window = StageWindow {
                name: stage.name.clone(),
                start_s: clock.seconds_since_start(start),
                end_s: clock.seconds_since_start(end),
                from,
                to: stage.target,
            };
            (start, from) = (end, stage.target);
            window
        })
        .collect()
}

/// The open model's start lags (µs) as the report gives them (ms).
pub fn lag_summary(lag: &hdrhistogram::Histogram<u64>) -> Option<LagSummary> {
    let ms = |us: u64| us as f64 / 1e3;
    (!lag.is_empty()).then(|| LagSummary {
        p50: ms(lag.value_at_quantile(0.5)),
        p99: ms(lag.value_at_quantile(0.99)),
        max: ms(lag.max()),
    })
}

fn arrival_report(load: &LoadPlan, t: &Tally) -> ArrivalReport {
    ArrivalReport {
        intended: t.intended,
        started: t.started,
        late: t.late,
        missed: t.missed,
        late_fraction: if t.intended == 0 {
            0.0
        } else {
            (t.late + t.missed) as f64 / t.intended as f64
        },
        max_late: load.max_late,
        steady_intended: t.steady_intended,
        steady_started: t.steady_started,
        max_users: load.users,
        peak_busy: t.peak_busy,
        start_lag_ms: lag_summary(&t.lag),
        lag_histogram: crate::hist::encode_recorded(&t.lag),
    }
}

/// Puts the iterations started, and those late or missed, into each second of the series.
fn fill_arrivals(tally: &Tally, series: &mut [TimePoint]) {
    for point in series {
        let (started, late) = tally
            .per_second
            .get(point.t as usize)
            .copied()
            .unwrap_or_default();
        point.iterations = Some(started);
        point.late = late;
    }
}
