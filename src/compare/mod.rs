//! Comparing a run with a baseline (one run or a set of runs): per request
//! name and overall, latency percentiles, throughput, error rate and
//! server-header figures; the SUT's CPU and memory.
//!
//! Every figure is computed from the steady state's seconds, resampled with a
//! block bootstrap (`bootstrap`); `noise` adds the run-to-run variation and
//! turns the change into a verdict, with one error budget for the whole
//! comparison. A change is a regression only when its interval lies wholly
//! beyond the limit (and the absolute floor); a change beyond the limit whose
//! interval still reaches below it is "inconclusive", with how long a run
//! would decide it.

pub mod bootstrap;
pub mod comparable;
pub mod cost;
mod cost_rows;
pub mod data;
pub mod machine;
pub mod noise;
pub mod paired;
pub mod profile_diff;
mod student;

use std::collections::BTreeSet;

use crate::record::stats::HEADER_SCALE;
use crate::result::RunResult;
use crate::result::comparison::{Change, Comparison, ComparisonRow, Scale};
use crate::result::targets::RegressionPlan;
use bootstrap::{Draw, Pool};
pub use data::{Baselines, RunData, baseline_runs, newest_with_profile};
use noise::{Estimate, Kind, Measured, Rule};

/// Fewer values than this in a scope (requests, header values) decide nothing.
const MIN_VALUES: u64 = 20;
/// A percentile needs at least this many values above it in each run: the p95
/// of 60 requests is the third slowest, and one request more or less moves it.
const MIN_TAIL: f64 = 5.0;
/// Times from headers are compared by their mean without the lowest and
/// highest tenth: one slow second cannot swing it, as it can a mean.
const TRIM: f64 = 0.10;

/// One figure to compare, before it is judged.
struct Figure {
    name: String,
    scope: String,
    unit: String,
    rule: Rule,
    measured: Measured,
    /// Why the figure is not judged, when there are too few values.
    too_few: Option<String>,
}

/// Compares `new` with the pooled `base` runs; `limits` come from `targets.regression`.
pub fn compare(base: &[&RunData], new: &RunData, limits: Option<&RegressionPlan>) -> Comparison {
    let plan = limits.cloned().unwrap_or_default();
    let c = Comparer::new(base, new, &plan);
    let mut figures = Vec::new();
    let mut notes = Vec::new();
    let headers_kept = base.iter().all(|b| b.has_header_values) && new.has_header_values;
    if !headers_kept {
        notes.push(
            "server-header figures not compared: a run predates per-second header values \
             (headers.hlog)"
                .to_string(),
        );
    }
    let per_name_errors = base.iter().all(|b| b.result.schema_version >= 3);
    let cost_plan = c.cost_plan();
    notes.extend(cost_plan.notes.iter().cloned());
    for (label, endpoint) in c.scopes() {
        figures.extend(c.latency_and_throughput(&label, endpoint));
        if endpoint.is_none() || per_name_errors {
            figures.extend(c.error_rate(&label, endpoint));
        }
        if headers_kept {
            figures.extend(c.server_headers(&label, endpoint));
        }
        figures.extend(c.cpu_per_request(&cost_plan, &label, endpoint));
    }
    figures.extend(c.sut());
    let mut comparison = judge_all(base, figures, notes, base.len());
    comparison.invalid = comparable::problems(base, new);
    comparison
}

/// Judges every figure with the comparison's one error budget.
fn judge_all(
    base: &[&RunData],
    figures: Vec<Figure>,
    notes: Vec<String>,
    baseline_runs: usize,
) -> Comparison {
    let estimates: Vec<(Figure, Option<Estimate>)> = figures
        .into_iter()
        .map(|f| {
            let e = Estimate::new(&f.rule, &f.measured);
            (f, e)
        })
        .collect();
    let judged = estimates
        .iter()
        .filter(|(f, e)| f.too_few.is_none() && e.as_ref().is_some_and(Estimate::gated))
        .count();
    let z = noise::critical_z(judged);
    let rows = estimates
        .into_iter()
        .filter_map(|(f, e)| Some(row(f, e?, z)))
        .collect();
    Comparison {
        baseline: base.iter().map(|b| b.result.run_id.clone()).collect(),
        method: method(judged, z, baseline_runs),
        error_budget: noise::ERROR_BUDGET,
        judged,
        rows,
        notes,
        invalid: Vec::new(),
    }
}

fn method(judged: usize, z: f64, baseline_runs: usize) -> String {
    format!(
        "one error budget of {budget:.0}% per comparison, shared by its {judged} judged \
         figures (each end of an interval is a one-sided bound at {level:.3}%, {z:.2} standard \
         errors); the standard error is the steady state's seconds resampled with a circular \
         block bootstrap ({reps} resamples) plus the run-to-run variation, {how}; a regression \
         needs the whole interval beyond the limit and the floor",
        budget = noise::ERROR_BUDGET * 100.0,
        level = 100.0 * (1.0 - noise::ERROR_BUDGET / judged.max(1) as f64),
        reps = bootstrap::REPLICATES,
        how = if baseline_runs > 1 {
            "measured between the baseline runs and pooled with the assumed one"
        } else {
            "assumed per kind of figure (one baseline run cannot show it)"
        }
    )
}

fn row(f: Figure, estimate: Estimate, z: f64) -> ComparisonRow {
    let decision = estimate.decide(z);
    let (change, note) = match &f.too_few {
        Some(why) => (Change::TooFew, Some(why.clone())),
        None => (decision.change, decision.note),
    };
    ComparisonRow {
        figure: f.name,
        scope: f.scope,
        unit: f.unit,
        base: f.measured.base,
        new: f.measured.new,
        worse_by: noise::worse_by(&f.rule, f.measured.base, f.measured.new),
        interval: decision.interval,
        scale: f.rule.scale,
        limit: f.rule.limit,
        change,
        note,
        run_to_run: Some(estimate.run_to_run),
        decide_s: decision.decide_s.filter(|_| f.too_few.is_none()),
    }
}

/// The baseline runs and the new run, resampled the same way for every figure.
struct Resampler {
    /// Units (seconds, samples) of each run: the baseline runs, then the new run.
    lens: Vec<usize>,
    base: Vec<Draw>,
    new: Vec<Draw>,
    /// Each baseline run alone (only with several, to measure the spread between them).
    each: Vec<Vec<Draw>>,
    seconds: f64,
}

impl Resampler {
    fn new(lens: Vec<usize>, salt: u64) -> Resampler {
        let k = lens.len() - 1;
        let base_lens = bootstrap::only(&lens, |r| r < k);
        let new_lens = bootstrap::only(&lens, |r| r == k);
        let each = if k > 1 {
            (0..k)
                .map(|r| {
                    let lens = bootstrap::only(&lens, |i| i == r);
                    bootstrap::draws(&lens, bootstrap::RUN_REPLICATES, salt ^ (r as u64 + 7))
                })
                .collect()
        } else {
            Vec::new()
        };
        Resampler {
            base: bootstrap::draws(&base_lens, bootstrap::REPLICATES, salt),
            new: bootstrap::draws(&new_lens, bootstrap::REPLICATES, salt ^ 1),
            seconds: lens[k] as f64,
            each,
            lens,
        }
    }

    fn k(&self) -> usize {
        self.lens.len() - 1
    }

    /// `stats` of every draw, as one `Measured` per statistic.
    fn measure(&self, count: usize, stats: impl Fn(&Draw) -> Vec<f64>) -> Vec<Measured> {
        let k = self.k();
        let all = |keep: &dyn Fn(usize) -> bool| {
            stats(&bootstrap::everything(&bootstrap::only(&self.lens, keep)))
        };
        let (base, new) = (all(&|r| r < k), all(&|r| r == k));
        let column = |draws: &[Draw]| -> Vec<Vec<f64>> {
            let rows: Vec<Vec<f64>> = draws.iter().map(&stats).collect();
            (0..count)
                .map(|i| rows.iter().map(|r| r[i]).collect())
                .collect()
        };
        let (base_rs, new_rs) = (column(&self.base), column(&self.new));
        let each: Vec<(Vec<f64>, Vec<Vec<f64>>)> = self
            .each
            .iter()
            .enumerate()
            .map(|(r, draws)| (all(&|i| i == r), column(draws)))
            .collect();
        (0..count)
            .map(|i| Measured {
                base: base[i],
                new: new[i],
                base_resampled: base_rs[i].clone(),
                new_resampled: new_rs[i].clone(),
                runs: each
                    .iter()
                    .map(|(point, resampled)| (point[i], resampled[i].clone()))
                    .collect(),
                seconds: self.seconds,
            })
            .collect()
    }
}

struct Comparer<'a> {
    runs: Vec<&'a RunData>,
    plan: &'a RegressionPlan,
    seconds: Resampler,
}

/// The index of request name `name` in a run's results.
fn endpoint_index(result: &RunResult, name: &str) -> Option<usize> {
    result.endpoints.iter().position(|e| e.name == name)
}

/// The latency histogram targets judge (the steady state's), overall or for one request name.
fn steady_histogram(
    result: &RunResult,
    endpoint: Option<&str>,
) -> Option<hdrhistogram::Histogram<u64>> {
    // The phase targets judge.
    let phase = result.primary_phase();
    let stats = match endpoint {
        None => result.totals.get(phase),
        Some(name) => result.endpoints[endpoint_index(result, name)?]
            .stats
            .get(phase),
    };
    crate::hist::decode_histogram(stats.histogram.as_deref()?)
}

/// Per second, the `(value, count)` pairs `pick` takes from a second, for one
/// request name (or all of them merged).
fn per_second(
    run: &RunData,
    endpoint: Option<&str>,
    pick: impl Fn(&data::Second, usize) -> Option<&Vec<(u64, u64)>>,
) -> Vec<Vec<(u64, u64)>> {
    let index = endpoint.map(|name| endpoint_index(&run.result, name));
    let count = run.result.endpoints.len();
    run.seconds
        .iter()
        .map(|s| match index {
            Some(Some(i)) => pick(s, i).cloned().unwrap_or_default(),
            Some(None) => Vec::new(),
            None => (0..count)
                .filter_map(|i| pick(s, i))
                .flatten()
                .copied()
                .collect(),
        })
        .collect()
}

impl<'a> Comparer<'a> {
    fn new(base: &[&'a RunData], new: &'a RunData, plan: &'a RegressionPlan) -> Comparer<'a> {
        let runs: Vec<&RunData> = base.iter().copied().chain([new]).collect();
        let lens = runs.iter().map(|r| r.seconds.len()).collect();
        Comparer {
            seconds: Resampler::new(lens, 0),
            runs,
            plan,
        }
    }

    fn new_run(&self) -> &RunData {
        self.runs[self.runs.len() - 1]
    }

    /// "all requests", then each request name of the new run.
    fn scopes(&self) -> Vec<(String, Option<&'a str>)> {
        let new = self.runs[self.runs.len() - 1];
        std::iter::once(("all requests".to_string(), None))
            .chain(
                new.result
                    .endpoints
                    .iter()
                    .map(|e| (e.name.clone(), Some(e.name.as_str()))),
            )
            .collect()
    }

    fn rule(&self, kind: Kind, scale: Scale, higher_is_worse: bool, limit: Option<f64>) -> Rule {
        Rule {
            higher_is_worse,
            scale,
            limit,
            floor: 0.0,
            kind,
            run_to_run: self.plan.run_to_run,
        }
    }

    /// Fewer than `MIN_VALUES` values on a side (the baseline runs pooled).
    fn few(&self, counts: &Measured) -> Option<String> {
        (counts.base < MIN_VALUES as f64 || counts.new < MIN_VALUES as f64)
            .then(|| format!("fewer than {MIN_VALUES} values in the steady state"))
    }

    fn latency_and_throughput(&self, label: &str, endpoint: Option<&str>) -> Vec<Figure> {
        let runs: Vec<_> = self
            .runs
            .iter()
            .map(|r| per_second(r, endpoint, |s, i| s.latencies.get(&i)))
            .collect();
        let pool = Pool::new(&runs);
        let qs = [0.5, 0.95, 0.99];
        let mut measured = self.seconds.measure(5, |draw| {
            let n = pool.count(draw);
            let mut out: Vec<f64> = pool
                .quantiles(draw, &qs)
                .into_iter()
                .map(|q| q.map_or(f64::NAN, |us| us as f64 / 1e3))
                .collect();
            out.push(n as f64 / draw.len().max(1) as f64);
            out.push(n as f64);
            out
        });
        let counts = measured.pop().unwrap_or_default();
        let throughput = measured.pop().unwrap_or_default();
        self.steady_quantiles(endpoint, &qs, &mut measured);
        let few = self.few(&counts);
        let plan = self.plan;
        let mut figures = Vec::new();
        for ((name, limit, q), m) in [
            ("p50", plan.p50, 0.5),
            ("p95", plan.p95, 0.95),
            ("p99", plan.p99, 0.99),
        ]
        .into_iter()
        .zip(measured)
        {
            let tail = counts.base.min(counts.new) * (1.0 - q);
            let too_few = few.clone().or_else(|| {
                (tail < MIN_TAIL).then(|| {
                    format!(
                        "fewer than {MIN_TAIL:.0} requests above the {name} in a run (needs {:.0})",
                        (MIN_TAIL / (1.0 - q)).ceil()
                    )
                })
            });
            let mut rule = self.rule(Kind::latency(q), Scale::Relative, true, limit);
            rule.floor = plan.min_latency_ms;
            figures.push(Figure {
                name: name.into(),
                scope: label.into(),
                unit: "ms".into(),
                rule,
                measured: m,
                too_few,
            });
        }
        let mut rule = self.rule(Kind::Throughput, Scale::Relative, false, plan.throughput);
        rule.floor = 0.5;
        figures.push(Figure {
            name: "throughput".into(),
            scope: label.into(),
            unit: "req/s".into(),
            rule,
            measured: throughput,
            too_few: few,
        });
        figures
    }

    /// One p95 per run: the quantiles a comparison shows for each run are
    /// those of its steady-state histogram, the very figures its targets judge
    /// (the seconds, resampled, give only the noise around them). A run saved
    /// without that histogram keeps the quantile of its whole seconds.
    fn steady_quantiles(&self, endpoint: Option<&str>, qs: &[f64], measured: &mut [Measured]) {
        let hists: Vec<Option<hdrhistogram::Histogram<u64>>> = self
            .runs
            .iter()
            .map(|r| steady_histogram(&r.result, endpoint))
            .collect();
        let Some((new, base)) = hists.split_last() else {
            return;
        };
        let mut pooled: Option<hdrhistogram::Histogram<u64>> = None;
        for h in base {
            match (h, pooled.as_mut()) {
                (Some(h), Some(p)) => {
                    let _ = p.add(h);
                }
                (Some(h), None) => pooled = Some(h.clone()),
                (None, _) => return,
            }
        }
        let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
        for (m, &q) in measured.iter_mut().zip(qs) {
            if let Some(h) = new.as_ref().filter(|h| !h.is_empty()) {
                m.new = ms(h, q);
            }
            if let Some(p) = pooled.as_ref().filter(|h| !h.is_empty()) {
                m.base = ms(p, q);
            }
            for (run, h) in m.runs.iter_mut().zip(base) {
                if let Some(h) = h.as_ref().filter(|h| !h.is_empty()) {
                    run.0 = ms(h, q);
                }
            }
        }
    }

    fn error_rate(&self, label: &str, endpoint: Option<&str>) -> Vec<Figure> {
        // Per run and second: (failed or not sent, answered well).
        let counts: Vec<Vec<(u64, u64)>> = self
            .runs
            .iter()
            .map(|r| {
                let ok = per_second(r, endpoint, |s, i| s.latencies.get(&i));
                let index = endpoint.map(|name| endpoint_index(&r.result, name));
                r.seconds
                    .iter()
                    .zip(ok)
                    .map(|(s, ok)| {
                        let errors = match index {
                            None => s.errors,
                            Some(Some(i)) => s.errors_by.get(&i).copied().unwrap_or(0),
                            Some(None) => 0,
                        };
                        (errors, ok.iter().map(|(_, c)| c).sum())
                    })
                    .collect()
            })
            .collect();
        let mut measured = self.seconds.measure(2, |draw| {
            let (e, ok) = draw.iter().fold((0, 0), |(e, ok), &(run, s)| {
                (e + counts[run][s].0, ok + counts[run][s].1)
            });
            let rate = if e + ok == 0 {
                f64::NAN
            } else {
                e as f64 / (e + ok) as f64
            };
            vec![rate, (e + ok) as f64]
        });
        let attempts = measured.pop().unwrap_or_default();
        let mut rule = self.rule(Kind::ErrorRate, Scale::Absolute, true, self.plan.error_rate);
        rule.floor = 0.005;
        vec![Figure {
            name: "error_rate".into(),
            scope: label.into(),
            unit: "ratio".into(),
            rule,
            measured: measured.pop().unwrap_or_default(),
            too_few: self.few(&attempts),
        }]
    }

    fn server_headers(&self, label: &str, endpoint: Option<&str>) -> Vec<Figure> {
        let new = self.new_run();
        let summaries = match endpoint {
            None => Some(&new.result.totals.steady.server_headers),
            Some(name) => endpoint_index(&new.result, name)
                .map(|i| &new.result.endpoints[i].stats.steady.server_headers),
        };
        let Some(summaries) = summaries else {
            return Vec::new();
        };
        let headers: BTreeSet<(&String, bool)> = summaries
            .iter()
            .map(|(name, s)| (name, s.unit == "ms"))
            .collect();
        headers
            .into_iter()
            .map(|(header, is_time)| self.server_header(label, endpoint, header, is_time))
            .collect()
    }

    fn server_header(
        &self,
        label: &str,
        endpoint: Option<&str>,
        header: &str,
        is_time: bool,
    ) -> Figure {
        let runs: Vec<_> = self
            .runs
            .iter()
            .map(|r| per_second(r, endpoint, |s, i| s.headers.get(&(i, header.to_string()))))
            .collect();
        let pool = Pool::new(&runs);
        let trim = if is_time { TRIM } else { 0.0 };
        let mut measured = self.seconds.measure(2, |draw| {
            vec![
                pool.trimmed_mean(draw, trim) / HEADER_SCALE,
                pool.count(draw) as f64,
            ]
        });
        let counts = measured.pop().unwrap_or_default();
        let lower = header.to_ascii_lowercase();
        // Cache hit and miss counters follow how warm the SUT's cache is more than
        // its code: they are shown, and gated with `cache_hit_ratio`, not here.
        let cache_counter = lower.contains("hit") || lower.contains("miss");
        let kind = if is_time {
            Kind::HeaderTime
        } else {
            Kind::HeaderCount
        };
        // Hit counters are better when higher; times and counts of work are not.
        let mut rule = self.rule(
            kind,
            Scale::Relative,
            !lower.contains("hit"),
            self.plan.server.filter(|_| !cache_counter),
        );
        rule.floor = if is_time {
            self.plan.min_latency_ms
        } else {
            0.01
        };
        Figure {
            name: format!("{} {header}", if is_time { "trimmed mean" } else { "mean" }),
            scope: label.into(),
            unit: if is_time { "ms" } else { "" }.into(),
            rule,
            measured: measured.pop().unwrap_or_default(),
            too_few: self.few(&counts),
        }
    }

    fn sut(&self) -> Vec<Figure> {
        let mut figures = Vec::new();
        let cpu: Vec<&Vec<f64>> = self.runs.iter().map(|r| &r.cpu).collect();
        if cpu.iter().all(|c| !c.is_empty()) {
            let samples = Resampler::new(cpu.iter().map(|c| c.len()).collect(), 11);
            let mean = |draw: &Draw| {
                draw.iter().map(|&(r, i)| cpu[r][i]).sum::<f64>() / draw.len().max(1) as f64
            };
            let mut rule = self.rule(Kind::Cpu, Scale::Relative, true, self.plan.cpu);
            rule.floor = 5.0;
            let mut m = samples.measure(1, |d| vec![mean(d)]);
            let mut measured = m.pop().unwrap_or_default();
            measured.seconds = self.seconds.seconds;
            figures.push(Figure {
                name: "cpu".into(),
                scope: "SUT".into(),
                unit: "%".into(),
                rule,
                measured,
                too_few: None,
            });
        }
        figures.extend(self.memory());
        figures
    }

    /// The highest memory: one value per run, so its only noise is run-to-run.
    fn memory(&self) -> Option<Figure> {
        let max_rss = |r: &RunResult| {
            r.resources
                .sut_series(crate::result::resources::RSS)
                .and_then(|s| s.summary)
                .map(|s| s.max)
        };
        let k = self.runs.len() - 1;
        let mut base: Vec<f64> = self.runs[..k]
            .iter()
            .filter_map(|b| max_rss(&b.result))
            .collect();
        let new = max_rss(&self.new_run().result)?;
        if base.is_empty() {
            return None;
        }
        let runs = if base.len() > 1 {
            base.iter().map(|&v| (v, Vec::new())).collect()
        } else {
            Vec::new()
        };
        base.sort_by(f64::total_cmp);
        let mut rule = self.rule(Kind::Memory, Scale::Relative, true, self.plan.memory);
        rule.floor = 8.0 * 1024.0 * 1024.0;
        Some(Figure {
            name: "memory".into(),
            scope: "SUT".into(),
            unit: "bytes".into(),
            rule,
            measured: Measured {
                base: base[base.len() / 2],
                new,
                runs,
                seconds: self.seconds.seconds,
                ..Measured::default()
            },
            too_few: None,
        })
    }
}

#[cfg(test)]
mod tests;
