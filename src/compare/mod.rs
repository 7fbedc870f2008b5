//! Comparing a run with a baseline (one run or a set of runs): per request
//! name and overall, latency percentiles, throughput and error rate; the SUT's
//! CPU and memory; server-header means.
//!
//! A change is called a regression only when it is worse than the limit by
//! more than the noise: the 95 % confidence interval of the relative change
//! (from `bootstrap`) must lie wholly beyond the limit, and the absolute
//! change must be above a floor (1 ms by default for latency). An interval
//! that straddles the limit is "inconclusive".

pub mod bootstrap;
pub mod data;
pub mod profile_diff;

use crate::result::RunResult;
use crate::result::comparison::{Change, Comparison, ComparisonRow, Scale};
use crate::result::targets::RegressionPlan;
use bootstrap::{Draw, Pool};
pub use data::{Baselines, RunData, baseline_runs, newest_with_profile};

/// Changes below this share are "unchanged" for figures without a limit.
const NOTICE: f64 = 0.10;
/// Fewer requests than this in either run decide nothing about latency.
const MIN_REQUESTS: u64 = 20;

/// What a figure is and how a change in it is judged.
struct Figure<'a> {
    name: String,
    scope: String,
    unit: &'a str,
    higher_is_worse: bool,
    scale: Scale,
    limit: Option<f64>,
    /// Smaller absolute changes are never a regression.
    floor: f64,
}

/// Compares `new` with the pooled `base` runs; `limits` come from `targets.regression`.
pub fn compare(base: &[&RunData], new: &RunData, limits: Option<&RegressionPlan>) -> Comparison {
    let plan = limits.cloned().unwrap_or_default();
    let min_latency = plan.min_latency_ms;
    let mut c = Comparer {
        base,
        new,
        rows: Vec::new(),
    };
    let scopes: Vec<(String, Option<String>)> = std::iter::once(("all requests".into(), None))
        .chain(
            new.result
                .endpoints
                .iter()
                .map(|e| (e.name.clone(), Some(e.name.clone()))),
        )
        .collect();
    for (label, endpoint) in &scopes {
        c.latency_and_throughput(label, endpoint.as_deref(), &plan, min_latency);
        c.error_rate(label, endpoint.as_deref(), plan.error_rate);
        c.server_headers(label, endpoint.as_deref(), plan.server, min_latency);
    }
    c.sut(&plan);
    Comparison {
        baseline: base.iter().map(|b| b.result.run_id.clone()).collect(),
        method: format!(
            "95% interval of the change from a circular block bootstrap over the steady \
             state's seconds{} ({} resamples); a regression needs the whole interval beyond \
             the limit",
            if base.len() > 1 {
                ", nested in a bootstrap over the baseline runs"
            } else {
                ""
            },
            bootstrap::REPLICATES
        ),
        rows: c.rows,
    }
}

struct Comparer<'a> {
    base: &'a [&'a RunData],
    new: &'a RunData,
    rows: Vec<ComparisonRow>,
}

/// The index of request name `name` in a run's results.
fn endpoint_index(result: &RunResult, name: &str) -> Option<usize> {
    result.endpoints.iter().position(|e| e.name == name)
}

/// Per second, the latency pairs of one request name (or of all of them merged).
fn latency_seconds(run: &RunData, endpoint: Option<&str>) -> Vec<Vec<(u64, u64)>> {
    let index = endpoint.map(|name| endpoint_index(&run.result, name));
    run.seconds
        .iter()
        .map(|s| match index {
            Some(Some(i)) => s.latencies.get(&i).cloned().unwrap_or_default(),
            Some(None) => Vec::new(),
            None => {
                let mut all: Vec<(u64, u64)> = s.latencies.values().flatten().copied().collect();
                all.sort_unstable();
                all
            }
        })
        .collect()
}

impl Comparer<'_> {
    fn latency_and_throughput(
        &mut self,
        label: &str,
        endpoint: Option<&str>,
        plan: &RegressionPlan,
        min_latency: f64,
    ) {
        let mut runs: Vec<_> = self
            .base
            .iter()
            .map(|b| latency_seconds(b, endpoint))
            .collect();
        runs.push(latency_seconds(self.new, endpoint));
        let pool = Pool::new(&runs);
        let lens = pool.lens();
        let (base_lens, new_lens) = bootstrap::split_last(&lens);
        let salt = endpoint.map_or(0, |e| e.bytes().map(u64::from).sum());
        let base_draws = bootstrap::draws(&base_lens, salt);
        let new_draws = bootstrap::draws(&new_lens, salt ^ 1);
        let qs = [0.5, 0.95, 0.99];
        let stats = |draw: &Draw| {
            let (n, q) = pool.quantiles(draw, &qs);
            let seconds = draw.len().max(1) as f64;
            (n, q, n as f64 / seconds)
        };
        let (base_n, base_q, base_rps) = stats(&bootstrap::everything(&base_lens));
        let (new_n, new_q, new_rps) = stats(&bootstrap::everything(&new_lens));
        let base_rs: Vec<_> = base_draws.iter().map(stats).collect();
        let new_rs: Vec<_> = new_draws.iter().map(stats).collect();
        let few = base_n < MIN_REQUESTS || new_n < MIN_REQUESTS;
        for (k, (name, limit)) in [("p50", plan.p50), ("p95", plan.p95), ("p99", plan.p99)]
            .into_iter()
            .enumerate()
        {
            let (Some(b), Some(n)) = (base_q[k], new_q[k]) else {
                continue;
            };
            let figure = Figure {
                name: name.into(),
                scope: label.into(),
                unit: "ms",
                higher_is_worse: true,
                scale: Scale::Relative,
                limit,
                floor: min_latency,
            };
            let pairs = base_rs
                .iter()
                .zip(&new_rs)
                .map(|(b, n)| (b.1[k].unwrap_or(f64::NAN), n.1[k].unwrap_or(f64::NAN)));
            let mut row = judge(&figure, b, n, resampled_interval(&figure, pairs));
            if few {
                row.change = Change::TooFew;
                row.note = Some(format!(
                    "fewer than {MIN_REQUESTS} requests in the steady state of a run"
                ));
            }
            self.rows.push(row);
        }
        if base_n > 0 && new_n > 0 {
            let figure = Figure {
                name: "throughput".into(),
                scope: label.into(),
                unit: "req/s",
                higher_is_worse: false,
                scale: Scale::Relative,
                limit: plan.throughput,
                floor: 0.5,
            };
            let pairs = base_rs.iter().zip(&new_rs).map(|(b, n)| (b.2, n.2));
            self.rows.push(judge(
                &figure,
                base_rps,
                new_rps,
                resampled_interval(&figure, pairs),
            ));
        }
    }

    fn error_rate(&mut self, label: &str, endpoint: Option<&str>, limit: Option<f64>) {
        let figure = Figure {
            name: "error_rate".into(),
            scope: label.into(),
            unit: "ratio",
            higher_is_worse: true,
            scale: Scale::Absolute,
            limit,
            floor: 0.005,
        };
        match endpoint {
            // All requests: per-second errors allow an interval.
            None => {
                let per_run = |r: &RunData| -> Vec<(u64, u64)> {
                    r.seconds.iter().map(|s| (s.errors, s.requests)).collect()
                };
                let mut runs: Vec<Vec<(u64, u64)>> = self.base.iter().map(|r| per_run(r)).collect();
                runs.push(per_run(self.new));
                let rate = |draw: &Draw| {
                    let (e, r) = draw.iter().fold((0, 0), |(e, r), &(run, s)| {
                        (e + runs[run][s].0, r + runs[run][s].1)
                    });
                    if r == 0 {
                        f64::NAN
                    } else {
                        e as f64 / r as f64
                    }
                };
                if let Some(row) = judge_resampled(&figure, &runs, 7, rate) {
                    self.rows.push(row);
                }
            }
            Some(name) => {
                let steady = |r: &RunResult| {
                    let i = endpoint_index(r, name)?;
                    let s = &r.endpoints[i].stats.steady;
                    Some((s.failed + s.not_sent, s.requests + s.not_sent))
                };
                let (mut e, mut t) = (0, 0);
                for b in self.base {
                    if let Some((be, bt)) = steady(&b.result) {
                        e += be;
                        t += bt;
                    }
                }
                let Some((ne, nt)) = steady(&self.new.result) else {
                    return;
                };
                if t == 0 || nt == 0 {
                    return;
                }
                let row = judge(&figure, e as f64 / t as f64, ne as f64 / nt as f64, None);
                self.rows.push(row);
            }
        }
    }

    fn server_headers(
        &mut self,
        label: &str,
        endpoint: Option<&str>,
        limit: Option<f64>,
        min_latency: f64,
    ) {
        let stats = |r: &RunResult| match endpoint {
            None => Some(r.totals.steady.server_headers.clone()),
            Some(name) => {
                endpoint_index(r, name).map(|i| r.endpoints[i].stats.steady.server_headers.clone())
            }
        };
        let Some(new) = stats(&self.new.result) else {
            return;
        };
        for (header, summary) in &new {
            let (mut sum, mut sum_sq, mut count) = (0.0, 0.0, 0);
            for b in self.base {
                if let Some(h) = stats(&b.result).and_then(|m| m.get(header).cloned()) {
                    sum += h.sum;
                    sum_sq += (h.stdev * h.stdev + h.mean * h.mean) * h.count as f64;
                    count += h.count;
                }
            }
            if count == 0 || summary.count == 0 {
                continue;
            }
            let base_mean = sum / count as f64;
            let base_var = (sum_sq / count as f64 - base_mean * base_mean).max(0.0);
            let is_time = summary.unit == "ms";
            let lower = header.to_ascii_lowercase();
            // Cache hit and miss counters follow how warm the SUT's cache is more than
            // its code: they are shown, and gated with `cache_hit_ratio`, not here.
            let cache_counter = lower.contains("hit") || lower.contains("miss");
            let figure = Figure {
                name: format!("mean {header}"),
                scope: label.into(),
                unit: if is_time { "ms" } else { "" },
                // Hit counters are better when higher; times and counts of work are not.
                higher_is_worse: !lower.contains("hit"),
                scale: Scale::Relative,
                limit: limit.filter(|_| !cache_counter),
                floor: if is_time { min_latency } else { 0.01 },
            };
            // Per-request values are kept only as a summary: the interval of the
            // difference of means comes from the standard error, treating requests
            // as independent draws (narrower than the seconds' bootstrap would be).
            let se = (base_var / count as f64
                + summary.stdev * summary.stdev / summary.count as f64)
                .sqrt();
            let (lo, hi) = (
                worse(&figure, base_mean, summary.mean - 1.96 * se),
                worse(&figure, base_mean, summary.mean + 1.96 * se),
            );
            let interval =
                Some([lo.min(hi), lo.max(hi)]).filter(|_| lo.is_finite() && hi.is_finite());
            let mut row = judge(&figure, base_mean, summary.mean, interval);
            if count < MIN_REQUESTS || summary.count < MIN_REQUESTS {
                row.change = Change::TooFew;
                row.note = Some(format!("fewer than {MIN_REQUESTS} values in a run"));
            }
            self.rows.push(row);
        }
    }

    fn sut(&mut self, plan: &RegressionPlan) {
        let mut runs: Vec<Vec<f64>> = self.base.iter().map(|b| b.cpu.clone()).collect();
        runs.push(self.new.cpu.clone());
        let figure = Figure {
            name: "cpu".into(),
            scope: "SUT".into(),
            unit: "%",
            higher_is_worse: true,
            scale: Scale::Relative,
            limit: plan.cpu,
            floor: 5.0,
        };
        let mean =
            |draw: &Draw| draw.iter().map(|&(r, i)| runs[r][i]).sum::<f64>() / draw.len() as f64;
        if let Some(row) = judge_resampled(&figure, &runs, 11, mean) {
            self.rows.push(row);
        }
        let max_rss = |r: &RunResult| {
            r.resources
                .sut_series(crate::result::resources::RSS)
                .and_then(|s| s.summary)
                .map(|s| s.max)
        };
        let mut base_max: Vec<f64> = self
            .base
            .iter()
            .filter_map(|b| max_rss(&b.result))
            .collect();
        if let (false, Some(n)) = (base_max.is_empty(), max_rss(&self.new.result)) {
            base_max.sort_by(f64::total_cmp);
            let median = base_max[base_max.len() / 2];
            let figure = Figure {
                name: "memory".into(),
                scope: "SUT".into(),
                unit: "bytes",
                higher_is_worse: true,
                scale: Scale::Relative,
                limit: plan.memory,
                floor: 8.0 * 1024.0 * 1024.0,
            };
            self.rows.push(judge(&figure, median, n, None));
        }
    }
}

/// Judges a statistic of per-unit data (`runs`: the baseline runs, then the new run):
/// its value over all units of each side, and its interval over resamples of both.
/// `None` when either side has no units or the statistic is undefined there.
fn judge_resampled<T>(
    figure: &Figure,
    runs: &[Vec<T>],
    salt: u64,
    stat: impl Fn(&Draw) -> f64,
) -> Option<ComparisonRow> {
    let lens: Vec<usize> = runs.iter().map(Vec::len).collect();
    let (base_lens, new_lens) = bootstrap::split_last(&lens);
    let base = bootstrap::everything(&base_lens);
    let new = bootstrap::everything(&new_lens);
    if base.is_empty() || new.is_empty() {
        return None;
    }
    let (b, n) = (stat(&base), stat(&new));
    if !b.is_finite() || !n.is_finite() {
        return None;
    }
    let base_draws = bootstrap::draws(&base_lens, salt);
    let new_draws = bootstrap::draws(&new_lens, salt ^ 1);
    let pairs = base_draws
        .iter()
        .zip(&new_draws)
        .map(|(x, y)| (stat(x), stat(y)));
    Some(judge(figure, b, n, resampled_interval(figure, pairs)))
}

/// How much worse `new` is than `base` in the figure's scale (negative: better).
fn worse(figure: &Figure, base: f64, new: f64) -> f64 {
    let delta = if figure.higher_is_worse {
        new - base
    } else {
        base - new
    };
    match figure.scale {
        Scale::Absolute => delta,
        Scale::Relative if base > 0.0 => delta / base,
        Scale::Relative if delta == 0.0 => 0.0,
        Scale::Relative => f64::INFINITY * delta.signum(),
    }
}

/// The 95 % percentile interval of the change over bootstrap (baseline, new) pairs.
fn resampled_interval(
    figure: &Figure,
    pairs: impl Iterator<Item = (f64, f64)>,
) -> Option<[f64; 2]> {
    bootstrap::interval(
        pairs.map(|(b, n)| worse(figure, b, n)).collect(),
        0.025,
        0.975,
    )
    .map(|(lo, hi)| [lo, hi])
}

/// Decides one figure from its two values and the interval of the change.
fn judge(figure: &Figure, base: f64, new: f64, interval: Option<[f64; 2]>) -> ComparisonRow {
    let worse_by = worse(figure, base, new);
    // An interval with no finite end (a resample's baseline of 0) says nothing.
    let interval = interval
        .map(|i| bounded(figure, i))
        .filter(|[lo, hi]| lo.is_finite() && hi.is_finite());
    let change = match (decide(figure, base, new, worse_by, interval), figure.limit) {
        // Without a limit a figure is shown, not judged: it changed or it did not.
        (Change::Regression | Change::Improvement, None) => Change::Changed,
        (Change::Inconclusive, None) => Change::Unchanged,
        (change, _) => change,
    };
    ComparisonRow {
        figure: figure.name.clone(),
        scope: figure.scope.clone(),
        unit: figure.unit.to_string(),
        base,
        new,
        worse_by,
        interval,
        scale: figure.scale,
        limit: figure.limit,
        change,
        note: None,
    }
}

/// An interval cut to what the statistic can be: a figure that cannot go below
/// zero cannot fall by more than 100 % (a resample's tail can say otherwise).
fn bounded(figure: &Figure, [lo, hi]: [f64; 2]) -> [f64; 2] {
    match (figure.scale, figure.higher_is_worse) {
        (Scale::Relative, true) => [lo.max(-1.0), hi.max(-1.0)],
        (Scale::Relative, false) => [lo.min(1.0), hi.min(1.0)],
        (Scale::Absolute, _) => [lo, hi],
    }
}

/// Regression, improvement, unchanged or inconclusive, from the change and its interval.
fn decide(
    figure: &Figure,
    base: f64,
    new: f64,
    worse_by: f64,
    interval: Option<[f64; 2]>,
) -> Change {
    let bar = figure.limit.unwrap_or(NOTICE);
    if (new - base).abs() < figure.floor {
        return Change::Unchanged;
    }
    match interval {
        Some([lo, _]) if lo > bar => Change::Regression,
        Some([_, hi]) if hi < 0.0 && -worse_by > NOTICE.min(bar) => Change::Improvement,
        Some([_, hi]) if hi <= bar => Change::Unchanged,
        Some(_) => Change::Inconclusive,
        None if worse_by > bar => Change::Regression,
        None if -worse_by > bar => Change::Improvement,
        None => Change::Unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(limit: f64) -> Figure<'static> {
        Figure {
            name: "p95".into(),
            scope: "all requests".into(),
            unit: "ms",
            higher_is_worse: true,
            scale: Scale::Relative,
            limit: Some(limit),
            floor: 1.0,
        }
    }

    fn resampled(base: f64, new: f64, spread: f64) -> impl Iterator<Item = (f64, f64)> {
        (0..bootstrap::REPLICATES).map(move |i| {
            let wobble = (i as f64 / bootstrap::REPLICATES as f64 - 0.5) * spread;
            (base, new * (1.0 + wobble))
        })
    }

    #[test]
    fn a_clear_slowdown_is_a_regression_and_noise_is_not() {
        let f = figure(0.2);
        assert_eq!(
            judge(
                &f,
                10.0,
                30.0,
                resampled_interval(&f, resampled(10.0, 30.0, 0.2))
            )
            .change,
            Change::Regression
        );
        assert_eq!(
            judge(
                &f,
                10.0,
                10.5,
                resampled_interval(&f, resampled(10.0, 10.5, 0.2))
            )
            .change,
            Change::Unchanged
        );
        // +25 % with an interval of about ±40 %: cannot tell.
        assert_eq!(
            judge(
                &f,
                10.0,
                12.5,
                resampled_interval(&f, resampled(10.0, 12.5, 0.8))
            )
            .change,
            Change::Inconclusive
        );
        assert_eq!(
            judge(
                &f,
                30.0,
                10.0,
                resampled_interval(&f, resampled(30.0, 10.0, 0.2))
            )
            .change,
            Change::Improvement
        );
    }

    #[test]
    fn changes_under_the_floor_are_unchanged_however_large_in_percent() {
        let f = figure(0.2);
        let row = judge(
            &f,
            0.2,
            0.9,
            resampled_interval(&f, resampled(0.2, 0.9, 0.01)),
        );
        assert!(row.worse_by > 3.0);
        assert_eq!(row.change, Change::Unchanged);
    }

    #[test]
    fn lower_is_worse_for_throughput() {
        let f = Figure {
            higher_is_worse: false,
            ..figure(0.1)
        };
        let row = judge(&f, 100.0, 50.0, None);
        assert_eq!(row.change, Change::Regression);
        assert!((row.worse_by - 0.5).abs() < 1e-9);
    }
}
