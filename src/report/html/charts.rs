//! The data behind the page's charts, as one JSON object: every time series on
//! the run's own axis (seconds since start), the windows to shade, and the
//! latency distribution of the judged phase. `report.js` draws it with uPlot.

use serde::Serialize;

use crate::hist::decode_histogram;
use crate::result::RunResult;
use crate::result::resources::{CPU, RSS};

/// Bars in the latency distribution.
const HISTOGRAM_BINS: usize = 40;

#[derive(Serialize)]
pub struct ChartData {
    /// The run's length: every time chart spans `[0, end_s]`.
    pub end_s: f64,
    pub windows: Vec<Shade>,
    /// Per-second series; `t` is the middle of each second.
    pub t: Vec<f64>,
    pub p50: Vec<Option<f64>>,
    pub p95: Vec<Option<f64>>,
    pub p99: Vec<Option<f64>>,
    pub max: Vec<Option<f64>>,
    pub requests: Vec<u64>,
    pub errors: Vec<u64>,
    /// Closed: users running; open: users busy in an iteration.
    pub users: Vec<usize>,
    /// The planned users or arrival rate, for staged loads.
    pub planned: Vec<Option<f64>>,
    /// Open model: iterations started per second, by intended start.
    pub iterations: Option<Vec<u64>>,
    /// Late starts (open) or requests held back (closed) per second.
    pub late: Vec<u64>,
    /// Closed model: some requests were held back (their chart is drawn).
    pub held_back: bool,
    /// Server-header means, one chart per unit (times in ms, plain numbers).
    pub headers: Vec<LineGroup>,
    pub cpu: Vec<Sampled>,
    pub memory: Vec<Sampled>,
    pub histogram: Option<Histogram>,
    /// The live page: each request name's latencies per second, aligned with `t`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_name: Vec<NameLatency>,
}

/// One request name's p50, p95 and p99 per second (ms; none in a second without answers).
#[derive(Debug, Serialize, Clone, Default)]
pub struct NameLatency {
    pub name: String,
    pub p50: Vec<Option<f64>>,
    pub p95: Vec<Option<f64>>,
    pub p99: Vec<Option<f64>>,
}

/// A window on the time axis, shaded on every time chart.
#[derive(Serialize)]
pub struct Shade {
    pub label: &'static str,
    pub start: f64,
    pub end: f64,
    /// Which colour: `ramp`, `steady`, `profile`.
    pub kind: &'static str,
}

/// A per-second series aligned with `t`.
#[derive(Serialize)]
pub struct Line {
    pub label: String,
    pub values: Vec<Option<f64>>,
}

/// Series that share one unit, so one axis can be titled with it.
#[derive(Serialize)]
pub struct LineGroup {
    /// `ms`, or empty for plain numbers.
    pub unit: String,
    pub lines: Vec<Line>,
}

/// A series sampled on its own clock (the SUT monitor's).
#[derive(Serialize)]
pub struct Sampled {
    pub label: String,
    pub t: Vec<f64>,
    pub v: Vec<f64>,
}

/// Latency distribution of the judged phase: counts per log-spaced bin.
#[derive(Serialize)]
pub struct Histogram {
    pub phase: &'static str,
    /// Lower edge of each bin, in ms (the last bin ends at `upper_ms`).
    pub lower_ms: Vec<f64>,
    pub upper_ms: f64,
    pub counts: Vec<u64>,
}

/// What the page's charts draw, read from the saved run.
pub fn build(result: &RunResult) -> ChartData {
    let ts = &result.timeseries;
    ChartData {
        end_s: result.phases.total.end_s,
        windows: shades(result),
        t: ts.iter().map(|p| p.t as f64 + 0.5).collect(),
        p50: ts.iter().map(|p| p.p50_ms).collect(),
        p95: ts.iter().map(|p| p.p95_ms).collect(),
        p99: ts.iter().map(|p| p.p99_ms).collect(),
        max: ts.iter().map(|p| p.max_ms).collect(),
        requests: ts.iter().map(|p| p.requests).collect(),
        errors: ts.iter().map(|p| p.errors).collect(),
        users: ts.iter().map(|p| p.users).collect(),
        planned: ts.iter().map(|p| p.target).collect(),
        iterations: result
            .load
            .open
            .is_some()
            .then(|| ts.iter().map(|p| p.iterations.unwrap_or(0)).collect()),
        late: ts.iter().map(|p| p.late).collect(),
        held_back: result.load.open.is_none() && ts.iter().any(|p| p.late > 0),
        headers: header_groups(result),
        cpu: sampled(result, CPU),
        memory: sampled(result, RSS),
        histogram: histogram(result),
        by_name: Vec::new(),
    }
}

/// The shaded spans: the load's phases and the profile's window.
fn shades(result: &RunResult) -> Vec<Shade> {
    let mut windows = Vec::new();
    let phases = &result.phases;
    for (label, window, kind) in [
        ("ramp-up", phases.ramp_up, "ramp"),
        ("steady state", phases.steady, "steady"),
        ("ramp-down", phases.ramp_down, "ramp"),
    ] {
        if let Some(w) = window.filter(|w| w.len_s() > 0.0) {
            windows.push(Shade {
                label,
                start: w.start_s,
                end: w.end_s,
                kind,
            });
        }
    }
    if let Some(w) = result.profile.as_ref().and_then(|p| p.window) {
        windows.push(Shade {
            label: "profile",
            start: w.start_s,
            end: w.end_s,
            kind: "profile",
        });
    }
    windows
}

/// The server headers' per-second lines, grouped by unit.
fn header_groups(result: &RunResult) -> Vec<LineGroup> {
    let ts = &result.timeseries;
    let header_unit = |name: &str| {
        result
            .totals
            .all
            .server_headers
            .get(name)
            .map(|h| h.unit.clone())
            .unwrap_or_default()
    };
    let mut groups: Vec<LineGroup> = Vec::new();
    for name in result.timeseries_headers() {
        let unit = header_unit(name);
        let line = Line {
            label: name.clone(),
            values: ts.iter().map(|p| p.headers.get(name).copied()).collect(),
        };
        match groups.iter_mut().find(|g| g.unit == unit) {
            Some(g) => g.lines.push(line),
            None => groups.push(LineGroup {
                unit,
                lines: vec![line],
            }),
        }
    }
    groups
}

/// Each resource source's series called `series_name`, as drawn.
fn sampled(result: &RunResult, series_name: &str) -> Vec<Sampled> {
    result
        .resources
        .sources
        .iter()
        .flat_map(|source| {
            source
                .series
                .iter()
                .filter(|s| s.name == series_name && !s.points.is_empty())
                .map(move |s| Sampled {
                    label: source.label(),
                    t: s.points.iter().map(|p| p[0]).collect(),
                    v: s.points.iter().map(|p| p[1]).collect(),
                })
        })
        .collect()
}

/// The judged phase's distribution, when it has latencies.
fn histogram(result: &RunResult) -> Option<Histogram> {
    let phase = result.primary_phase();
    let h = decode_histogram(result.totals.get(phase).histogram.as_deref()?)?;
    binned(&h, phase.label())
}

/// Log-spaced bins from the fastest to the slowest latency (µs) in `h`.
fn binned(h: &hdrhistogram::Histogram<u64>, phase: &'static str) -> Option<Histogram> {
    if h.is_empty() {
        return None;
    }
    let lo = h.min().max(1) as f64;
    let hi = (h.max().max(1) as f64 * 1.001).max(lo * 1.01);
    let step = (hi / lo).ln() / HISTOGRAM_BINS as f64;
    let mut counts = vec![0u64; HISTOGRAM_BINS];
    for v in h.iter_recorded() {
        let x = v.value_iterated_to() as f64;
        let bin = ((x.max(lo) / lo).ln() / step).floor() as usize;
        counts[bin.min(HISTOGRAM_BINS - 1)] += v.count_at_value();
    }
    Some(Histogram {
        phase,
        lower_ms: (0..HISTOGRAM_BINS)
            .map(|i| lo * (step * i as f64).exp() / 1e3)
            .collect(),
        upper_ms: hi / 1e3,
        counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::{new_histogram, record_latency};

    #[test]
    fn every_recorded_latency_lands_in_one_bin() {
        let mut h = new_histogram();
        for us in [150u64, 900, 900, 12_000, 250_000, 3_000_000] {
            record_latency(&mut h, us);
        }
        let hist = binned(&h, "steady state").unwrap();
        assert_eq!(hist.counts.iter().sum::<u64>(), 6);
        assert!(hist.lower_ms.windows(2).all(|w| w[0] < w[1]));
        assert!(hist.lower_ms[0] <= 0.15 && hist.upper_ms >= 3000.0);
        // The two 900 µs requests share a bin; the slowest is in the last one.
        assert_eq!(hist.counts.iter().max(), Some(&2));
        assert_eq!(hist.counts[HISTOGRAM_BINS - 1], 1);
        assert!(binned(&new_histogram(), "steady state").is_none());
    }
}
