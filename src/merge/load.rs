//! The load report of a merged run: stages from segment 0's timing at the
//! summed levels, the open model's iterations and the closed model's pacing
//! added up.

use crate::record::load_report::lag_summary;
use crate::record::stats::pacing_summaries;
use crate::result::{ArrivalReport, LoadReport, PacingReport, StageWindow};

use super::figures::add_histograms;
use crate::hist::encode_recorded;

pub fn load(parts: &[&LoadReport], shifts: &[u64]) -> LoadReport {
    LoadReport {
        stages: stages(parts, shifts),
        open: open(
            &parts
                .iter()
                .filter_map(|p| p.open.as_ref())
                .collect::<Vec<_>>(),
        ),
        closed: closed(
            &parts
                .iter()
                .filter_map(|p| p.closed.as_ref())
                .collect::<Vec<_>>(),
        ),
    }
}

/// Segment 0's stage windows (each segment's share of a level summed).
fn stages(parts: &[&LoadReport], shifts: &[u64]) -> Vec<StageWindow> {
    let Some(first) = parts.first() else {
        return Vec::new();
    };
    let shift = shifts.first().copied().unwrap_or(0) as f64;
    first
        .stages
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let level = |get: fn(&StageWindow) -> f64| {
                parts.iter().filter_map(|p| p.stages.get(i)).map(get).sum()
            };
            StageWindow {
                name: w.name.clone(),
                start_s: w.start_s + shift,
                end_s: w.end_s + shift,
                from: level(|w| w.from),
                to: level(|w| w.to),
            }
        })
        .collect()
}

fn open(parts: &[&ArrivalReport]) -> Option<ArrivalReport> {
    let first = parts.first()?;
    let sum = |get: fn(&ArrivalReport) -> u64| parts.iter().map(|p| get(p)).sum::<u64>();
    let lag = add_histograms(parts.iter().map(|p| p.lag_histogram.as_deref()));
    let (intended, late, missed) = (sum(|p| p.intended), sum(|p| p.late), sum(|p| p.missed));
    Some(ArrivalReport {
        intended,
        started: sum(|p| p.started),
        late,
        missed,
        late_fraction: if intended == 0 {
            0.0
        } else {
            (late + missed) as f64 / intended as f64
        },
        max_late: first.max_late,
        steady_intended: sum(|p| p.steady_intended),
        steady_started: sum(|p| p.steady_started),
        max_users: parts.iter().map(|p| p.max_users).sum(),
        // Each segment's peak, added: an upper bound, as for several scenarios.
        peak_busy: parts.iter().map(|p| p.peak_busy).sum(),
        start_lag_ms: lag_summary(&lag),
        lag_histogram: encode_recorded(&lag),
    })
}

fn closed(parts: &[&PacingReport]) -> Option<PacingReport> {
    if parts.is_empty() {
        return None;
    }
    let measured = add_histograms(parts.iter().map(|p| p.measured_histogram.as_deref()));
    let corrected = add_histograms(parts.iter().map(|p| p.corrected_histogram.as_deref()));
    let (m, c) = pacing_summaries(&measured, &corrected);
    Some(PacingReport {
        requests: parts.iter().map(|p| p.requests).sum(),
        late: parts.iter().map(|p| p.late).sum(),
        worst_delay_ms: parts.iter().map(|p| p.worst_delay_ms).fold(0.0, f64::max),
        measured: m,
        corrected: c,
        measured_histogram: encode_recorded(&measured),
        corrected_histogram: encode_recorded(&corrected),
    })
}
