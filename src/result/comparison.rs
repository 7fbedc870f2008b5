//! The baseline comparison in `run.json` and `comparison.json`: one row per
//! figure, with its change, interval, limit and verdict.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::targets::{Policy, TargetPolicy};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Comparison {
    /// The baseline runs' ids (several: a set of runs, pooled).
    pub baseline: Vec<String>,
    pub method: String,
    /// The chance that a rerun of identical code is flagged anywhere in this
    /// comparison, shared evenly by the judged figures (0.05: 5 %).
    #[serde(default)]
    pub error_budget: f64,
    /// Figures judged against a limit (neither without one nor too few to compare).
    #[serde(default)]
    pub judged: usize,
    pub rows: Vec<ComparisonRow>,
    /// What could not be compared, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why the two sides cannot be compared at all (other plans, an INVALID,
    /// killed or interrupted side, a cut latency log, a busy neighbour on one
    /// side): any makes the comparison, and the run judged with it, INVALID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ComparisonRow {
    /// `p95`, `throughput`, `error_rate`, `cpu`, `memory`, or `mean <header>`.
    pub figure: String,
    /// `all requests`, a request name, or `SUT`.
    pub scope: String,
    pub unit: String,
    /// The figure in the baseline runs (pooled) and in this run; `null` (read
    /// back as NaN) if ever not finite, so a saved run always reads back.
    #[serde(with = "finite_or_null")]
    #[schemars(with = "Option<f64>")]
    pub base: f64,
    #[serde(with = "finite_or_null")]
    #[schemars(with = "Option<f64>")]
    pub new: f64,
    /// How much worse the new run is: a fraction of the baseline for relative
    /// figures, in the figure's unit for absolute ones (error rate); negative is better.
    /// `null` when it has no value: a relative change from a baseline of 0.
    #[serde(with = "finite_or_null")]
    #[schemars(with = "Option<f64>")]
    pub worse_by: f64,
    /// Interval of `worse_by` at the comparison's level: each end is a one-sided
    /// bound at 1 − error_budget / judged (within-run and run-to-run noise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    /// `relative` or `absolute`: how `worse_by`, `interval` and `limit` read.
    pub scale: Scale,
    /// The regression limit from `targets.regression`, when one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    pub change: Change,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The run-to-run variation allowed for: the standard deviation of one run's
    /// figure (of its log, about a share, for relative figures; in the unit for
    /// absolute ones), measured between baseline runs or assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_to_run: Option<f64>,
    /// Inconclusive: the steady state (seconds, in every run) that would decide
    /// it if the change stayed as measured; absent when no run length would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decide_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    Relative,
    Absolute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A gated figure (one with a limit) worse than its limit beyond the noise.
    Regression,
    /// A gated figure better beyond the noise.
    Improvement,
    Unchanged,
    /// A gated figure worse than its limit, but by less than its noise: a suspect
    /// that a longer run would decide (`decide_s`).
    Inconclusive,
    /// A figure without a limit (shown, not judged) that moved beyond the noise.
    Changed,
    /// Too few values in a run to compare: not judged.
    TooFew,
}

impl Change {
    pub fn label(self) -> &'static str {
        match self {
            Change::Regression => "regression",
            Change::Improvement => "improvement",
            Change::Unchanged => "unchanged",
            Change::Inconclusive => "inconclusive",
            Change::Changed => "changed",
            Change::TooFew => "too few to compare",
        }
    }
}

impl Comparison {
    /// Among the rows with a limit: the regressions, and the inconclusive
    /// ones when `policy` fails them. What the exit code is decided on.
    pub fn failing(&self, policy: TargetPolicy) -> (usize, usize) {
        let judged = self.rows.iter().filter(|r| r.limit.is_some());
        let regressions = judged
            .clone()
            .filter(|r| r.change == Change::Regression)
            .count();
        let inconclusive = judged
            .filter(|r| r.change == Change::Inconclusive && policy.inconclusive == Policy::Fail)
            .count();
        (regressions, inconclusive)
    }

    /// How many rows came out each way, in words every report shares:
    /// `2 regressions, 1 inconclusive, 40 unchanged, 3 changed (not gated)`.
    pub fn tally(&self) -> String {
        let words = [
            (Change::Regression, "regression", "regressions"),
            (Change::Inconclusive, "inconclusive", "inconclusive"),
            (Change::Improvement, "improvement", "improvements"),
            (Change::Unchanged, "unchanged", "unchanged"),
            (
                Change::Changed,
                "changed (not gated)",
                "changed (not gated)",
            ),
            (Change::TooFew, "too few to compare", "too few to compare"),
        ];
        let parts: Vec<String> = words
            .into_iter()
            .filter_map(|(change, one, many)| {
                let n = self.rows.iter().filter(|r| r.change == change).count();
                (n > 0).then(|| format!("{n} {}", if n == 1 { one } else { many }))
            })
            .collect();
        if parts.is_empty() {
            "no figure compared".into()
        } else {
            parts.join(", ")
        }
    }

    /// The rows worth a line: every change but `unchanged` and `too few to compare`
    /// (those are counted in `tally`), regressions first.
    pub fn rows_to_show(&self) -> Vec<&ComparisonRow> {
        let mut rows: Vec<&ComparisonRow> = self
            .rows
            .iter()
            .filter(|r| !matches!(r.change, Change::Unchanged | Change::TooFew))
            .collect();
        rows.sort_by_key(|r| match r.change {
            Change::Regression => 0,
            Change::Inconclusive => 1,
            Change::Improvement => 2,
            _ => 3,
        });
        rows
    }

    /// What had too few values to compare: a scope when none of its figures
    /// could be, else the figure and its scopes (`p99 of stats, login`).
    pub fn too_few(&self) -> Vec<String> {
        let few = |r: &&ComparisonRow| r.change == Change::TooFew;
        let mut scopes: Vec<&str> = self.rows.iter().map(|r| r.scope.as_str()).collect();
        scopes.dedup();
        let whole: Vec<&str> = scopes
            .into_iter()
            .filter(|s| self.rows.iter().filter(|r| r.scope == *s).all(|r| few(&r)))
            .collect();
        let mut out: Vec<String> = whole.iter().map(|s| s.to_string()).collect();
        let mut figures: Vec<(&str, Vec<&str>)> = Vec::new();
        for r in self.rows.iter().filter(few) {
            if whole.contains(&r.scope.as_str()) {
                continue;
            }
            match figures.iter_mut().find(|(f, _)| *f == r.figure) {
                Some((_, scopes)) => scopes.push(&r.scope),
                None => figures.push((&r.figure, vec![&r.scope])),
            }
        }
        out.extend(
            figures
                .into_iter()
                .map(|(figure, scopes)| format!("{figure} of {}", scopes.join(", "))),
        );
        out
    }
}

impl ComparisonRow {
    /// A change on this row's scale (`worse_by`, an interval end or the limit), as people read it.
    pub fn show_change(&self, x: f64) -> String {
        if !x.is_finite() {
            return "from 0".into();
        }
        match self.scale {
            Scale::Relative => format!("{:+.1}%", x * 100.0),
            Scale::Absolute => format!("{:+.2} points", x * 100.0),
        }
    }

    /// The verdict in words; an inconclusive row says how long a run would decide it.
    pub fn verdict(&self) -> String {
        match (self.change, self.decide_s) {
            (Change::Inconclusive, Some(s)) => {
                format!(
                    "inconclusive (a {} run decides)",
                    crate::format::duration_s(s)
                )
            }
            (change, _) => change.label().to_string(),
        }
    }

    /// The interval as `+5.1% … +19.0%`, or `–` when the figure has none.
    pub fn show_interval(&self) -> String {
        self.interval
            .map(|[lo, hi]| format!("{} … {}", self.show_change(lo), self.show_change(hi)))
            .unwrap_or_else(|| "–".into())
    }
}

/// JSON has no infinity: a change with no finite value (from a baseline of 0)
/// is written as `null` and read back as NaN, so a saved run always reads back.
mod finite_or_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change from a baseline of 0 is infinite: run.json must still read back
    /// (it used to be written as null and fail `gander report` and `compare`).
    #[test]
    fn a_change_from_zero_survives_the_round_trip() {
        let row = ComparisonRow {
            figure: "throughput".into(),
            scope: "stats".into(),
            unit: "req/s".into(),
            base: 0.0,
            new: 3.0,
            worse_by: f64::NEG_INFINITY,
            interval: None,
            scale: Scale::Relative,
            limit: Some(0.2),
            change: Change::Improvement,
            note: None,
            run_to_run: None,
            decide_s: None,
        };
        let text = serde_json::to_string(&row).unwrap();
        assert!(text.contains("\"worse_by\":null"), "{text}");
        let back: ComparisonRow = serde_json::from_str(&text).unwrap();
        assert!(back.worse_by.is_nan());
        assert_eq!(back.show_change(back.worse_by), "from 0");
    }
}
