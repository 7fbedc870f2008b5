//! How far a figure moves between runs of identical code, and the decision
//! that follows: one error budget for the whole comparison.
//!
//! A figure's change is tested on a scale where noise is symmetric: the log of
//! the ratio for relative figures (a p95 that doubles or halves moves it by the
//! same amount), the difference for absolute ones (the error rate). Its
//! variance has two parts:
//!
//! - **within runs**: from the block bootstrap over each run's seconds;
//! - **between runs**: what reruns of identical code differ by beyond their
//!   seconds (a SUT process laid out differently in memory, a neighbour busy
//!   for the whole run). One run cannot show it. It is assumed per kind of
//!   figure (measured on reruns of the demo, see the README), and measured
//!   from the spread between the baseline runs when there are several,
//!   pooled with the assumption as if it were `PRIOR_RUNS` runs' worth.
//!
//! A comparison judges many figures; at 95 % each, a rerun of identical code
//! would flag one of 50 about every other time. So the comparison has one
//! error budget, `ERROR_BUDGET`, split evenly over the judged figures
//! (Bonferroni): each is a regression only when its interval at 1 − budget/m
//! lies wholly beyond its limit.

use crate::result::comparison::{Change, Scale};

use super::bootstrap::spread;

/// The chance, per comparison, that identical code is flagged anywhere
/// (for changes at most at their limits; smaller changes are flagged less).
pub const ERROR_BUDGET: f64 = 0.05;
/// The run-to-run standard deviation of the log of CPU per request; see
/// docs/benchmarks.md ("CPU per request between runs") for how it was measured.
pub const CPU_PER_REQUEST_RUN_TO_RUN: f64 = 0.10;
/// How many runs' worth of evidence the assumed run-to-run variation weighs
/// against the spread measured between baseline runs.
const PRIOR_RUNS: f64 = 2.0;
/// Changes below this share are "unchanged" for figures without a limit.
pub const NOTICE: f64 = 0.10;

/// The kinds of figure, which differ in how much they move between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A latency percentile; the tail moves more between runs than the middle.
    Median,
    Tail,
    FarTail,
    Throughput,
    /// A time the SUT reports in a header (its own view of its latency).
    HeaderTime,
    /// A count the SUT reports in a header (queries, cache hits).
    HeaderCount,
    ErrorRate,
    Cpu,
    /// The SUT's CPU time per request (overall or per request name).
    CpuPerRequest,
    Memory,
}

impl Kind {
    /// The kind of a latency percentile.
    pub fn latency(quantile: f64) -> Kind {
        if quantile <= 0.5 {
            Kind::Median
        } else if quantile <= 0.95 {
            Kind::Tail
        } else {
            Kind::FarTail
        }
    }

    /// The run-to-run standard deviation assumed when the baseline runs cannot
    /// measure it: of the log of the figure (about a share) for relative
    /// figures, in the figure's unit for the error rate. Measured on reruns of
    /// the salon scenario against fresh demo processes on a busy 2-core
    /// machine (README, "Benchmarks"): what the seconds of one run leave out.
    pub fn assumed_run_to_run(self) -> f64 {
        match self {
            Kind::Median => 0.05,
            Kind::Tail => 0.15,
            Kind::FarTail => 0.30,
            Kind::Throughput => 0.03,
            Kind::HeaderTime => 0.10,
            Kind::HeaderCount => 0.03,
            Kind::ErrorRate => 0.002,
            Kind::Cpu => 0.10,
            Kind::CpuPerRequest => CPU_PER_REQUEST_RUN_TO_RUN,
            Kind::Memory => 0.10,
        }
    }
}

/// How a figure is judged.
#[derive(Debug, Clone)]
pub struct Rule {
    pub higher_is_worse: bool,
    pub scale: Scale,
    pub limit: Option<f64>,
    /// Smaller absolute changes are never a regression.
    pub floor: f64,
    pub kind: Kind,
    /// Overrides `kind`'s assumed run-to-run variation.
    pub run_to_run: Option<f64>,
}

/// A figure in the baseline runs (pooled) and in the new run, with resampled values.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub base: f64,
    pub new: f64,
    pub base_resampled: Vec<f64>,
    pub new_resampled: Vec<f64>,
    /// Each baseline run alone: its value and its resampled values (empty
    /// when the figure has no within-run noise to resample, e.g. memory).
    pub runs: Vec<(f64, Vec<f64>)>,
    /// Seconds of steady state in the new run (to say how long would decide).
    pub seconds: f64,
}

/// A change, its variance and the bar it must clear, on the test scale.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// Positive is worse: log ratio (relative) or difference (absolute).
    change: f64,
    /// Variance of `change` from the runs' seconds.
    within: f64,
    /// Variance of `change` from run-to-run variation.
    between: f64,
    /// The run-to-run standard deviation of one run's figure that `between` comes from.
    pub run_to_run: f64,
    /// Whether `run_to_run` was measured between baseline runs (else assumed).
    pub measured_between_runs: bool,
    /// The limit, or the floor when it is the larger, on the test scale.
    bar: f64,
    /// Whether a limit applies (else the figure is shown, not judged).
    gated: bool,
    relative: bool,
    higher_is_worse: bool,
    /// The change as people read it (a share of the baseline, or points).
    worse_by: f64,
    limit: Option<f64>,
    seconds: f64,
}

/// The verdict on one figure.
#[derive(Debug, Clone)]
pub struct Decision {
    pub change: Change,
    /// The interval of `worse_by` at the comparison's level.
    pub interval: Option<[f64; 2]>,
    /// For an inconclusive figure: the steady state (seconds, in every run) that
    /// would decide it if the change stayed as measured.
    pub decide_s: Option<f64>,
    pub note: Option<String>,
}

/// The standard normal quantile function (Acklam's rational approximation,
/// relative error below 1.2e-9): z such that P(Z ≤ z) = p.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// How many standard errors a change must clear when `judged` figures share the budget.
pub fn critical_z(judged: usize) -> f64 {
    normal_quantile(1.0 - ERROR_BUDGET / judged.max(1) as f64)
}

/// How much worse `new` is than `base` as people read it (negative: better).
pub fn worse_by(rule: &Rule, base: f64, new: f64) -> f64 {
    let delta = if rule.higher_is_worse {
        new - base
    } else {
        base - new
    };
    match rule.scale {
        Scale::Absolute => delta,
        Scale::Relative if base > 0.0 => delta / base,
        Scale::Relative if delta == 0.0 => 0.0,
        Scale::Relative => f64::INFINITY * delta.signum(),
    }
}

impl Estimate {
    /// The change, its noise and its bar; `None` when the figure has no value on a side.
    pub fn new(rule: &Rule, m: &Measured) -> Option<Estimate> {
        if !m.base.is_finite() || !m.new.is_finite() {
            return None;
        }
        // A relative change from or to 0 has no log: test the difference against the floor.
        let relative = rule.scale == Scale::Relative && m.base > 0.0 && m.new > 0.0;
        let to_scale = |x: f64, point: f64| {
            if relative {
                x.max(point * 1e-6).ln()
            } else {
                x
            }
        };
        let sign = if rule.higher_is_worse { 1.0 } else { -1.0 };
        let change = sign * (to_scale(m.new, m.new) - to_scale(m.base, m.base));
        let variance = |values: &[f64], point: f64| {
            let scaled: Vec<f64> = values.iter().map(|&v| to_scale(v, point)).collect();
            spread(&scaled, values.len()).map_or(0.0, |s| s * s)
        };
        let within = variance(&m.base_resampled, m.base) + variance(&m.new_resampled, m.new);
        let assumed = rule
            .run_to_run
            .unwrap_or_else(|| rule.kind.assumed_run_to_run());
        // Without a log scale the assumption (a share) is taken of the larger value.
        let assumed = if relative || rule.scale == Scale::Absolute {
            assumed
        } else {
            assumed * m.base.max(m.new)
        };
        let (run_to_run, measured) = pooled_run_to_run(assumed, &m.runs, to_scale);
        let k = m.runs.len().max(1) as f64;
        let bar = bar(rule, m.base, relative);
        Some(Estimate {
            change,
            within,
            between: run_to_run * run_to_run * (1.0 + 1.0 / k),
            run_to_run,
            measured_between_runs: measured,
            bar,
            gated: rule.limit.is_some(),
            relative,
            higher_is_worse: rule.higher_is_worse,
            worse_by: worse_by(rule, m.base, m.new),
            limit: rule.limit,
            seconds: m.seconds,
        })
    }

    /// A paired change (`gander ab`): `change` on the test scale (positive is
    /// worse) with its standard error from the pairs themselves. Drift and
    /// neighbours hit both blocks of a pair alike, so no run-to-run variation
    /// is added: the pairs' spread holds it.
    pub fn paired(
        rule: &Rule,
        base: f64,
        new: f64,
        change: f64,
        se: f64,
        seconds: f64,
    ) -> Estimate {
        let relative = rule.scale == Scale::Relative && base > 0.0 && new > 0.0;
        Estimate {
            change,
            within: se * se,
            between: 0.0,
            run_to_run: 0.0,
            measured_between_runs: true,
            bar: bar(rule, base, relative),
            gated: rule.limit.is_some(),
            relative,
            higher_is_worse: rule.higher_is_worse,
            worse_by: worse_by(rule, base, new),
            limit: rule.limit,
            seconds,
        }
    }

    /// Whether the figure has a limit and so spends part of the error budget.
    pub fn gated(&self) -> bool {
        self.gated
    }

    fn standard_error(&self) -> f64 {
        (self.within + self.between).sqrt()
    }

    /// A value on the test scale back as a change people read.
    fn shown(&self, x: f64) -> f64 {
        match (self.relative, self.higher_is_worse) {
            (true, true) => x.exp() - 1.0,
            (true, false) => 1.0 - (-x).exp(),
            (false, _) => x,
        }
    }

    /// The decision at `z` standard errors (from `critical_z`).
    pub fn decide(&self, z: f64) -> Decision {
        let se = self.standard_error();
        let (lo, hi) = (self.change - z * se, self.change + z * se);
        let interval =
            Some([self.shown(lo), self.shown(hi)]).filter(|[a, b]| a.is_finite() && b.is_finite());
        let notice = self.limit.map_or(NOTICE, |l| l.min(NOTICE));
        // Inconclusive is a change that looks worse than the bar but that the noise
        // could explain: a suspect, worth a longer run. A change within the bar is
        // unchanged even when its interval reaches past it: nothing points at a
        // regression, and a rerun of identical code would read "inconclusive" on
        // every noisy figure otherwise.
        let change = if lo > self.bar {
            Change::Regression
        } else if hi < 0.0 && -self.worse_by > notice {
            Change::Improvement
        } else if self.change <= self.bar {
            Change::Unchanged
        } else {
            Change::Inconclusive
        };
        let change = match (change, self.gated) {
            // Without a limit a figure is shown, not judged: it changed or it did not.
            (Change::Regression | Change::Improvement, false) => Change::Changed,
            (Change::Inconclusive, false) => Change::Unchanged,
            (change, _) => change,
        };
        let (decide_s, note) = if change == Change::Inconclusive {
            self.how_long(z)
        } else {
            (None, None)
        };
        Decision {
            change,
            interval,
            decide_s,
            note,
        }
    }

    /// The steady state that would make an inconclusive figure a regression, if
    /// its change stayed as measured: the within-run part of the noise shrinks
    /// with the seconds, the run-to-run part does not.
    fn how_long(&self, z: f64) -> (Option<f64>, Option<String>) {
        let needed = ((self.change - self.bar) / z).powi(2);
        let share = |x: f64| {
            if self.relative {
                format!("{:.1}%", x * 100.0)
            } else {
                format!("{:.2} points", x * 100.0)
            }
        };
        if needed <= self.between || self.within <= 0.0 {
            // The change is past the limit; what the noise may explain is its excess.
            let limit = self.shown(self.bar);
            let signed = |x: f64| {
                if self.relative {
                    format!("{:+.1}%", x * 100.0)
                } else {
                    format!("{:+.2} points", x * 100.0)
                }
            };
            let note = format!(
                "worse by {}, {} past the {} limit: that excess is within what reruns of \
                 identical code differ by (±{} per run, {}): no run length decides it",
                signed(self.worse_by),
                share(self.worse_by - limit).trim_start_matches('+'),
                signed(limit),
                share(self.run_to_run),
                if self.measured_between_runs {
                    "measured between the baseline runs"
                } else {
                    "assumed"
                }
            );
            return (None, Some(note));
        }
        let factor = self.within / (needed - self.between);
        let seconds = (self.seconds * factor).ceil();
        let note = format!(
            "a steady state of about {} in every run would tell, if the change stays {}",
            crate::format::duration_s(seconds),
            if self.relative {
                format!("{:+.0}%", self.worse_by * 100.0)
            } else {
                format!("{:+.2} points", self.worse_by * 100.0)
            }
        );
        (Some(seconds), Some(note))
    }
}

/// The change a figure may make before it counts (its limit, or its floor when
/// larger), on the test scale.
fn bar(rule: &Rule, base: f64, relative: bool) -> f64 {
    let limit = rule.limit.unwrap_or(NOTICE);
    if !relative {
        return match rule.scale {
            Scale::Absolute => limit.max(rule.floor),
            // A relative figure from or to 0: only the floor can be judged.
            Scale::Relative => rule.floor,
        };
    }
    let share_to_log = |share: f64| {
        if rule.higher_is_worse {
            share.ln_1p()
        } else if share < 1.0 {
            -(-share).ln_1p()
        } else {
            f64::INFINITY
        }
    };
    share_to_log(limit).max(share_to_log(rule.floor / base))
}

/// The run-to-run standard deviation: `assumed`, pooled with what the baseline
/// runs show beyond their own seconds' noise when there are at least two.
/// Returns it and whether baseline runs were measured.
fn pooled_run_to_run(
    assumed: f64,
    runs: &[(f64, Vec<f64>)],
    to_scale: impl Fn(f64, f64) -> f64,
) -> (f64, bool) {
    let per_run: Vec<(f64, f64)> = runs
        .iter()
        .filter(|(v, _)| v.is_finite())
        .map(|(v, resampled)| {
            let scaled: Vec<f64> = resampled.iter().map(|&r| to_scale(r, *v)).collect();
            let own = spread(&scaled, resampled.len()).unwrap_or(0.0);
            (to_scale(*v, *v), own * own)
        })
        .filter(|(v, _)| v.is_finite())
        .collect();
    if per_run.len() < 2 {
        return (assumed, false);
    }
    let k = per_run.len() as f64;
    let mean = per_run.iter().map(|(v, _)| v).sum::<f64>() / k;
    let between = per_run.iter().map(|(v, _)| (v - mean).powi(2)).sum::<f64>() / (k - 1.0);
    let own = per_run.iter().map(|(_, o)| o).sum::<f64>() / k;
    let excess = (between - own).max(0.0);
    let pooled = (PRIOR_RUNS * assumed * assumed + (k - 1.0) * excess) / (PRIOR_RUNS + k - 1.0);
    (pooled.sqrt(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(limit: f64) -> Rule {
        Rule {
            higher_is_worse: true,
            scale: Scale::Relative,
            limit: Some(limit),
            floor: 1.0,
            kind: Kind::Tail,
            run_to_run: Some(0.0),
        }
    }

    /// Resampled values spread evenly (in log) around `point` by ±`width`.
    fn around(point: f64, width: f64) -> Vec<f64> {
        (0..1000)
            .map(|i| point * (width * normal_quantile((i as f64 + 0.5) / 1000.0)).exp())
            .collect()
    }

    fn measured(base: f64, new: f64, width: f64) -> Measured {
        Measured {
            base,
            new,
            base_resampled: around(base, width),
            new_resampled: around(new, width),
            runs: Vec::new(),
            seconds: 30.0,
        }
    }

    #[test]
    fn the_normal_quantile_is_the_one_in_the_tables() {
        for (p, z) in [
            (0.5, 0.0),
            (0.975, 1.959_964),
            (0.95, 1.644_854),
            (0.999, 3.090_232),
            (0.001, -3.090_232),
            (1.0 - 0.05 / 100.0, 3.290_527),
        ] {
            assert!(
                (normal_quantile(p) - z).abs() < 1e-5,
                "{p}: {}",
                normal_quantile(p)
            );
        }
        assert!(critical_z(50) > critical_z(1));
    }

    #[test]
    fn a_clear_slowdown_is_a_regression_and_noise_is_not() {
        let r = rule(0.2);
        let z = critical_z(1);
        let decide = |base, new, width| {
            Estimate::new(&r, &measured(base, new, width))
                .unwrap()
                .decide(z)
        };
        assert_eq!(decide(10.0, 30.0, 0.05).change, Change::Regression);
        assert_eq!(decide(10.0, 10.5, 0.05).change, Change::Unchanged);
        // +25 % with ±30 % of noise: cannot tell, and says how long would.
        let d = decide(10.0, 12.5, 0.2);
        assert_eq!(d.change, Change::Inconclusive);
        assert!(d.decide_s.unwrap() > 30.0, "{d:?}");
        assert!(d.note.unwrap().contains("would tell"));
        assert_eq!(decide(30.0, 10.0, 0.05).change, Change::Improvement);
    }

    #[test]
    fn changes_under_the_floor_are_unchanged_however_large_in_percent() {
        let r = rule(0.2);
        let e = Estimate::new(&r, &measured(0.2, 0.9, 0.01)).unwrap();
        assert!(e.worse_by > 3.0);
        assert_eq!(e.decide(critical_z(1)).change, Change::Unchanged);
    }

    #[test]
    fn lower_is_worse_for_throughput() {
        let r = Rule {
            higher_is_worse: false,
            floor: 0.5,
            ..rule(0.1)
        };
        let e = Estimate::new(&r, &measured(100.0, 50.0, 0.02)).unwrap();
        assert!((e.worse_by - 0.5).abs() < 1e-9);
        let d = e.decide(critical_z(1));
        assert_eq!(d.change, Change::Regression);
        let [lo, hi] = d.interval.unwrap();
        assert!(lo < 0.5 && 0.5 < hi && hi < 1.0, "{lo}..{hi}");
    }

    #[test]
    fn more_judged_figures_widen_every_interval() {
        let e = Estimate::new(&rule(0.2), &measured(10.0, 11.0, 0.05)).unwrap();
        let [lo1, hi1] = e.decide(critical_z(1)).interval.unwrap();
        let [lo50, hi50] = e.decide(critical_z(50)).interval.unwrap();
        assert!(lo50 < lo1 && hi50 > hi1);
    }

    #[test]
    fn run_to_run_variation_is_assumed_for_one_run_and_measured_for_several() {
        let mut r = rule(0.2);
        r.run_to_run = None;
        let one = Estimate::new(&r, &measured(10.0, 10.0, 0.0)).unwrap();
        assert!(!one.measured_between_runs);
        assert_eq!(one.run_to_run, Kind::Tail.assumed_run_to_run());
        // Three baseline runs far apart: the spread between them dominates the assumption.
        let mut m = measured(10.0, 10.0, 0.0);
        m.runs = [5.0, 10.0, 20.0]
            .into_iter()
            .map(|v| (v, around(v, 0.01)))
            .collect();
        let wide = Estimate::new(&r, &m).unwrap();
        assert!(wide.measured_between_runs);
        assert!(wide.run_to_run > 0.4, "{}", wide.run_to_run);
        // Three alike: the measured part is nil and the pooled value shrinks below the assumption.
        m.runs = [10.0, 10.0, 10.0]
            .into_iter()
            .map(|v| (v, around(v, 0.01)))
            .collect();
        let alike = Estimate::new(&r, &m).unwrap();
        assert!(alike.run_to_run < one.run_to_run && alike.run_to_run > 0.0);
    }

    #[test]
    fn a_change_within_the_run_to_run_variation_is_undecidable_at_any_length() {
        let mut r = rule(0.2);
        r.run_to_run = Some(0.3);
        r.floor = 0.0;
        let d = Estimate::new(&r, &measured(10.0, 12.5, 0.05))
            .unwrap()
            .decide(critical_z(1));
        assert_eq!(d.change, Change::Inconclusive);
        assert_eq!(d.decide_s, None);
        let note = d.note.unwrap();
        assert!(note.contains("no run length decides it"), "{note}");
        // What the noise explains is the excess over the limit, not the change.
        assert!(
            note.starts_with("worse by +25.0%, 5.0% past the +20.0% limit: that excess is within"),
            "{note}"
        );
    }

    #[test]
    fn a_throughput_drop_past_its_limit_names_the_excess_the_noise_explains() {
        let mut r = rule(0.2);
        r.higher_is_worse = false;
        r.run_to_run = Some(0.3);
        r.floor = 0.0;
        let d = Estimate::new(&r, &measured(100.0, 77.4, 0.05))
            .unwrap()
            .decide(critical_z(1));
        assert_eq!(d.change, Change::Inconclusive);
        let note = d.note.unwrap();
        assert!(
            note.starts_with("worse by +22.6%, 2.6% past the +20.0% limit"),
            "{note}"
        );
    }
}
