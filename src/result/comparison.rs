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
    Regression,
    Improvement,
    Unchanged,
    /// The noise is too large to say whether the limit was crossed.
    Inconclusive,
}

impl Change {
    pub fn label(self) -> &'static str {
        match self {
            Change::Regression => "regression",
            Change::Improvement => "improvement",
            Change::Unchanged => "unchanged",
            Change::Inconclusive => "inconclusive",
        }
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
