//! The baseline comparison in `run.json` and `comparison.json`: one row per
//! figure, with its change, interval, limit and verdict.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Comparison {
    /// The baseline runs' ids (several: a set of runs, pooled).
    pub baseline: Vec<String>,
    pub method: String,
    pub rows: Vec<ComparisonRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ComparisonRow {
    /// `p95`, `throughput`, `error_rate`, `cpu`, `memory`, or `mean <header>`.
    pub figure: String,
    /// `all requests`, a request name, or `SUT`.
    pub scope: String,
    pub unit: String,
    pub base: f64,
    pub new: f64,
    /// How much worse the new run is: a fraction of the baseline for relative
    /// figures, in the figure's unit for absolute ones (error rate); negative is better.
    pub worse_by: f64,
    /// 95 % confidence interval of `worse_by`, when the figure could be resampled.
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
    /// A gated figure whose noise is too large to say whether the limit was crossed.
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

    /// The scopes whose figures had too few values to compare.
    pub fn too_few(&self) -> Vec<&str> {
        let mut scopes: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| r.change == Change::TooFew)
            .map(|r| r.scope.as_str())
            .collect();
        scopes.dedup();
        scopes
    }
}

impl ComparisonRow {
    /// A change on this row's scale (`worse_by`, an interval end or the limit), as people read it.
    pub fn show_change(&self, x: f64) -> String {
        match self.scale {
            Scale::Relative => format!("{:+.1}%", x * 100.0),
            Scale::Absolute => format!("{:+.2} points", x * 100.0),
        }
    }

    /// The 95 % interval as `+5.1% … +19.0%`, or `–` when the figure was not resampled.
    pub fn show_interval(&self) -> String {
        self.interval
            .map(|[lo, hi]| format!("{} … {}", self.show_change(lo), self.show_change(hi)))
            .unwrap_or_else(|| "–".into())
    }
}
