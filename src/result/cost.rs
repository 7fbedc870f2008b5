//! What each request costs the SUT: CPU time per request, overall and per
//! request name, with the method that measured it. Plain data; the figures are
//! computed by `compare::cost`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The SUT's CPU per request over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Cost {
    /// CPU milliseconds the SUT spent per request, with a 95 % interval.
    pub cpu_ms_per_request: Interval,
    pub method: CostMethod,
    /// Requests the figure divides by.
    pub requests: u64,
    /// CPU seconds the SUT spent over the window measured.
    pub cpu_s: f64,
    /// This request name's share of the SUT's CPU (labels: its share of the
    /// profile's samples; sweep: its CPU per request × its steady-state
    /// requests over the steady state's CPU). `None` overall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_share: Option<f64>,
    /// Where the SUT's CPU was read: `process` (its tree, from /proc),
    /// `prometheus` (`process_cpu_seconds_total`) or `json`.
    pub cpu_source: String,
    /// Sweep: the request name driven alone, its latency (ms) then: p50 and p95.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alone: Option<Alone>,
}

/// A figure and its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn scaled(&self, by: f64) -> Interval {
        Interval {
            value: self.value * by,
            low: self.low * by,
            high: self.high * by,
        }
    }
}

/// How a cost figure was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CostMethod {
    /// All requests: the SUT's CPU over the requests completed.
    Total,
    /// A request name's share of a profile whose samples carry the
    /// `gander.request` label (from the `baggage` header gander sends).
    Labels,
    /// The request name driven alone after the load (`--cost`).
    Sweep,
}

impl CostMethod {
    pub fn label(self) -> &'static str {
        match self {
            CostMethod::Total => "total",
            CostMethod::Labels => "labels",
            CostMethod::Sweep => "sweep",
        }
    }
}

/// A request name driven alone (the sweep): how it answered then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Alone {
    /// The window on the run's time axis.
    pub start_s: f64,
    pub end_s: f64,
    pub users: usize,
    pub requests: u64,
    pub failed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    /// Flame graph of this request name alone, when a profiler was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flamegraph: Option<String>,
    /// Its input: the folded stacks of this request name alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folded: Option<String>,
    /// Requests of this name completed while it was profiled alone (after its
    /// CPU was measured, so that the profiler's own cost is not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiled_requests: Option<u64>,
    /// Against the baseline's profile of this request name alone, per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_flamegraph: Option<String>,
}

/// What the cost sweep did, when one was asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CostSweep {
    /// Request names measured alone (their figures are in `endpoints[].cost`).
    pub measured: usize,
    /// Why a request name has no figure (`"stats: too few requests alone
    /// ..."`), or why the sweep stopped or did not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Why a request name (`Some`) or every request name (`None`) has no cost
/// figure, and how to get one: the sweep's own words when one was asked for.
pub fn missing_cost(name: Option<&str>, sweep: Option<&CostSweep>) -> String {
    let Some(sweep) = sweep else {
        return "no per-request-name cost: the SUT's profile carries no `gander.request` label \
                (label samples from the `baggage` header, see docs/cost.md) and no sweep ran \
                (add --cost, or `cost: { each: 5s }` to the file)"
            .into();
    };
    let why: Vec<&str> = match name {
        Some(name) => sweep
            .notes
            .iter()
            .filter(|n| {
                n.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(": "))
            })
            .map(String::as_str)
            .collect(),
        None => sweep.notes.iter().map(String::as_str).collect(),
    };
    let what = match name {
        Some(_) => "the cost sweep did not measure this request name alone",
        None => "the cost sweep measured no request name",
    };
    if why.is_empty() {
        format!("no per-request-name cost: {what}")
    } else {
        format!("no per-request-name cost: {what} ({})", why.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_cost_says_what_the_sweep_said_of_that_name() {
        let sweep = CostSweep {
            measured: 1,
            notes: vec![
                "stats: too few requests alone to measure".into(),
                "stats page: the SUT stopped".into(),
            ],
        };
        let stats = missing_cost(Some("stats"), Some(&sweep));
        assert!(
            stats.contains("did not measure this request name alone"),
            "{stats}"
        );
        assert!(stats.contains("too few requests"), "{stats}");
        assert!(
            !stats.contains("the SUT stopped"),
            "another name's note: {stats}"
        );
        assert!(!stats.contains("no sweep ran"), "{stats}");
        let all = missing_cost(None, Some(&sweep));
        assert!(
            all.contains("too few") && all.contains("the SUT stopped"),
            "{all}"
        );
        let none = missing_cost(Some("stats"), None);
        assert!(
            none.contains("no sweep ran") && none.contains("--cost"),
            "{none}"
        );
    }
}
