//! What each request costs the SUT in CPU: one pure computation from the SUT's
//! CPU series, the requests completed and (when the profile carries the
//! `gander.request` label) the profile's samples per request name. `gander
//! run`, the comparison and `gander ab` all take their cost figures from here.
//!
//! The CPU series is cut into its sampling intervals; each interval is a unit
//! holding the CPU seconds the SUT spent in it and the requests completed in
//! it. CPU per request is the ratio of the sums; its interval comes from the
//! same circular block bootstrap the gate resamples seconds with.

use std::collections::BTreeMap;

use super::bootstrap;
use crate::result::cost::{Cost, CostMethod, Interval};
use crate::result::resources::{CPU, ResourceReport, Series, SourceKind};
use crate::result::{RunResult, TimePoint, Window};

/// One sampling interval of the SUT's CPU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// CPU seconds the SUT spent in the interval.
    pub cpu_s: f64,
    /// Requests completed in the interval (a second partly inside counts in proportion).
    pub requests: f64,
}

/// Fewer requests than this leave CPU per request unmeasured.
const MIN_REQUESTS: f64 = 20.0;
/// Salt of the bootstrap's draws (fixed: the same run gives the same interval).
const SALT: u64 = 0x636f_7374;

/// The SUT's CPU series and where it came from: the process tree first, then
/// JSON, then Prometheus (`process_cpu_seconds_total`).
pub fn cpu_series(resources: &ResourceReport) -> Option<(&'static str, &Series)> {
    [
        (SourceKind::Process, "process"),
        (SourceKind::Json, "json"),
        (SourceKind::Prometheus, "prometheus"),
    ]
    .into_iter()
    .find_map(|(kind, label)| {
        let series = resources
            .sources
            .iter()
            .filter(|s| s.kind == kind)
            .flat_map(|s| s.series.iter())
            .find(|s| s.name == CPU && !s.points.is_empty())?;
        Some((label, series))
    })
}

/// Requests completed within `(from, to]`, from the per-second series.
fn requests_between(timeseries: &[TimePoint], from: f64, to: f64) -> f64 {
    timeseries
        .iter()
        .map(|p| {
            let (a, b) = (p.t as f64, p.t as f64 + 1.0);
            let overlap = (b.min(to) - a.max(from)).max(0.0);
            p.requests as f64 * overlap
        })
        .sum()
}

/// The CPU series' intervals whose middle lies in `window`, in order. A point
/// `[t, %]` covers the time since the previous point (one `interval_s` for the first).
pub fn units(
    series: &Series,
    interval_s: f64,
    timeseries: &[TimePoint],
    window: Window,
) -> Vec<Unit> {
    let mut previous: Option<f64> = None;
    let mut out = Vec::new();
    for &[t, percent] in &series.points {
        let from = previous.unwrap_or(t - interval_s);
        previous = Some(t);
        let middle = (from + t) / 2.0;
        if middle < window.start_s || middle > window.end_s || t <= from {
            continue;
        }
        out.push(Unit {
            cpu_s: percent / 100.0 * (t - from),
            requests: requests_between(timeseries, from, t),
        });
    }
    out
}

/// CPU ms per request over `units`, with the 2.5 % and 97.5 % quantiles of its
/// block-bootstrap resamples. `None` with too few requests.
pub fn per_request(units: &[Unit]) -> Option<Interval> {
    let ratio = |draw: &mut dyn Iterator<Item = &Unit>| {
        let (cpu, requests) = draw.fold((0.0, 0.0), |(c, r), u| (c + u.cpu_s, r + u.requests));
        (requests > 0.0).then(|| cpu / requests * 1e3)
    };
    let total: f64 = units.iter().map(|u| u.requests).sum();
    if total < MIN_REQUESTS {
        return None;
    }
    let value = ratio(&mut units.iter())?;
    let mut resampled: Vec<f64> = bootstrap::draws(&[units.len()], bootstrap::REPLICATES, SALT)
        .iter()
        .filter_map(|draw| ratio(&mut draw.iter().map(|&(_, i)| &units[i])))
        .collect();
    if resampled.len() < 2 {
        return Some(Interval {
            value,
            low: value,
            high: value,
        });
    }
    resampled.sort_by(f64::total_cmp);
    let at = |q: f64| resampled[((resampled.len() - 1) as f64 * q).round() as usize];
    Some(Interval {
        value,
        low: at(0.025).min(value),
        high: at(0.975).max(value),
    })
}

/// The SUT's CPU per request over `window`, all requests together.
pub fn total(result: &RunResult, window: Window) -> Option<Cost> {
    let (source, series) = cpu_series(&result.resources)?;
    let units = units(
        series,
        result.resources.interval_s,
        &result.timeseries,
        window,
    );
    let figure = per_request(&units)?;
    Some(Cost {
        cpu_ms_per_request: figure,
        method: CostMethod::Total,
        requests: units.iter().map(|u| u.requests).sum::<f64>().round() as u64,
        cpu_s: units.iter().map(|u| u.cpu_s).sum(),
        cpu_share: None,
        cpu_source: source.into(),
        alone: None,
    })
}

/// The SUT's CPU ms per request in each second of the series: each CPU
/// interval's ratio, put in the second holding its middle (`None` for a
/// second without one, or without requests).
pub fn per_second(result: &RunResult) -> Vec<Option<f64>> {
    let mut by_second: BTreeMap<u64, f64> = BTreeMap::new();
    if let Some((_, series)) = cpu_series(&result.resources) {
        let interval = result.resources.interval_s;
        let mut previous: Option<f64> = None;
        for &[t, percent] in &series.points {
            let from = previous.unwrap_or(t - interval);
            previous = Some(t);
            let requests = requests_between(&result.timeseries, from, t);
            if t > from && requests > 0.0 && from >= 0.0 {
                let cpu_s = percent / 100.0 * (t - from);
                by_second.insert(((from + t) / 2.0) as u64, cpu_s / requests * 1e3);
            }
        }
    }
    result
        .timeseries
        .iter()
        .map(|p| by_second.get(&p.t).copied())
        .collect()
}

/// What a profile labelled by request name says: samples per `gander.request`
/// value, and every sample of the profile.
#[derive(Debug, Clone, Default)]
pub struct LabelShares {
    pub samples: BTreeMap<String, u64>,
    pub total: u64,
}

/// Per request name, from a labelled profile over `window`: its share of the
/// samples × the SUT's CPU over the window ÷ its requests completed in the window.
/// Names with no requests in the window get no figure.
pub fn by_labels(
    result: &RunResult,
    window: Window,
    shares: &LabelShares,
    requests: &BTreeMap<String, u64>,
) -> BTreeMap<String, Cost> {
    let mut out = BTreeMap::new();
    let Some(whole) = total(result, window) else {
        return out;
    };
    if shares.total == 0 {
        return out;
    }
    let n = shares.total as f64;
    let spread = |i: Interval| {
        (
            (1.0 - i.low / i.value).max(0.0),
            (i.high / i.value - 1.0).max(0.0),
        )
    };
    let (total_low, total_high) = spread(whole.cpu_ms_per_request);
    // Every name with requests: one without a labelled sample cost less than
    // the profile could see (its upper bound says how much at most).
    for (name, &count) in requests {
        if (count as f64) < MIN_REQUESTS {
            continue;
        }
        let samples = shares.samples.get(name).copied().unwrap_or(0);
        let share = samples as f64 / n;
        let cpu = share * whole.cpu_s;
        let value = cpu / count as f64 * 1e3;
        // The share's sampling error (binomial, 95 %) and the CPU's, together.
        let (low, high) = if samples == 0 {
            // No sample in n: the share is below 3/n at 95 % (the rule of three).
            (0.0, 3.0 / n * whole.cpu_s / count as f64 * 1e3)
        } else {
            let share_rel = 1.96 * (share * (1.0 - share) / n).sqrt() / share;
            (
                value * (1.0 - (share_rel.powi(2) + total_low.powi(2)).sqrt()).max(0.0),
                value * (1.0 + (share_rel.powi(2) + total_high.powi(2)).sqrt()),
            )
        };
        out.insert(
            name.clone(),
            Cost {
                cpu_ms_per_request: Interval { value, low, high },
                method: CostMethod::Labels,
                requests: count,
                cpu_s: cpu,
                cpu_share: Some(share),
                cpu_source: whole.cpu_source.clone(),
                alone: None,
            },
        );
    }
    out
}

/// Requests completed per request name within `window`: answered well (from
/// the interval log's per-second histograms) and failed (the series' errors).
pub fn requests_by_name(
    result: &RunResult,
    interval_log: &[u8],
    window: Window,
) -> BTreeMap<String, u64> {
    let inside = |t: u64| t as f64 >= window.start_s.floor() && (t as f64) < window.end_s;
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for (t, tag, hist) in crate::hist::interval_histograms(interval_log) {
        let Some(i) = tag.strip_prefix('e').and_then(|e| e.parse::<usize>().ok()) else {
            continue;
        };
        if let (true, Some(e)) = (inside(t), result.endpoints.get(i)) {
            *out.entry(e.name.clone()).or_default() += hist.len();
        }
    }
    for p in result.timeseries.iter().filter(|p| inside(p.t)) {
        for (name, n) in &p.errors_by_name {
            *out.entry(name.clone()).or_default() += n;
        }
    }
    out
}

/// Fills the run's cost figures: the steady state's, each second's, and each
/// request name's from a labelled profile (`labels`, with the requests per
/// name over the profile's window).
pub fn fill(result: &mut RunResult, labels: Option<(&LabelShares, &BTreeMap<String, u64>)>) {
    let window = result.window(result.primary_phase());
    let steady = total(result, window);
    let per_second = per_second(result);
    for (point, cost) in result.timeseries.iter_mut().zip(per_second) {
        point.cpu_ms_per_request = cost;
    }
    let profile_window = result.profile.as_ref().and_then(|p| p.window);
    if let (Some((shares, requests)), Some(w)) = (labels, profile_window) {
        let by_name = by_labels(result, w, shares, requests);
        // WebSocket rows carry no baggage header: labels cannot measure them.
        for endpoint in result.endpoints.iter_mut().filter(|e| e.method != "WS") {
            if let Some(cost) = by_name.get(&endpoint.name) {
                endpoint.cost = Some(cost.clone());
            }
        }
    }
    result.totals.steady.cost = steady;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(f64, f64)]) -> Series {
        let mut s = Series::new(CPU, "%");
        s.points = points.iter().map(|&(t, v)| [t, v]).collect();
        s
    }

    fn point(t: u64, requests: u64) -> TimePoint {
        serde_json::from_value(serde_json::json!({
            "t": t, "requests": requests, "errors": 0, "bytes": 0, "p50_ms": null,
            "p95_ms": null, "p99_ms": null, "max_ms": null, "users": 1
        }))
        .unwrap()
    }

    #[test]
    fn cpu_per_request_is_cpu_seconds_over_requests_in_the_window() {
        // 50 % of a core for 10 s, 100 requests a second: 5 ms each.
        let s = series(&(1..=10).map(|t| (t as f64, 50.0)).collect::<Vec<_>>());
        let ts: Vec<TimePoint> = (0..10).map(|t| point(t, 100)).collect();
        let all = Window {
            start_s: 0.0,
            end_s: 10.0,
        };
        let u = units(&s, 1.0, &ts, all);
        assert_eq!(u.len(), 10);
        let f = per_request(&u).unwrap();
        assert!((f.value - 5.0).abs() < 1e-9, "{f:?}");
        assert!(f.low <= f.value && f.high >= f.value);
        // Identical seconds: the resamples cannot move.
        assert!((f.high - f.low).abs() < 1e-9);
        // The window keeps only intervals whose middle lies inside it.
        let late = Window {
            start_s: 5.0,
            end_s: 10.0,
        };
        assert_eq!(units(&s, 1.0, &ts, late).len(), 5);
        // Too few requests decide nothing.
        let few: Vec<TimePoint> = (0..10).map(|t| point(t, 1)).collect();
        assert!(per_request(&units(&s, 1.0, &few, all)).is_none());
    }

    #[test]
    fn noisy_seconds_widen_the_interval_around_the_ratio() {
        let s = series(
            &(1..=30)
                .map(|t| (t as f64, if (t * 7919) % 11 < 4 { 80.0 } else { 40.0 }))
                .collect::<Vec<_>>(),
        );
        let ts: Vec<TimePoint> = (0..30).map(|t| point(t, 100)).collect();
        let w = Window {
            start_s: 0.0,
            end_s: 30.0,
        };
        let f = per_request(&units(&s, 1.0, &ts, w)).unwrap();
        let cpu: f64 = (1..=30u64)
            .map(|t| if (t * 7919) % 11 < 4 { 0.8 } else { 0.4 })
            .sum();
        assert!((f.value - cpu / 3000.0 * 1e3).abs() < 1e-9);
        assert!(f.low < f.value && f.high > f.value, "{f:?}");
    }
}
