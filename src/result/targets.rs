//! The targets a run is judged against, as `run.json` keeps them, so
//! `gander report` can judge a saved run again. The scenario compiler produces
//! these; they belong to the saved run's contract, not to the plan.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One limit the run is judged against.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TargetSpec {
    /// `None`: all requests (or the SUT, or the run); `Some(name)`: one request name.
    pub endpoint: Option<String>,
    /// `Some(name)`: every request of one scenario's users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    pub metric: TargetMetric,
    /// Milliseconds for latency, a fraction for error rate, requests/s for throughput.
    pub limit: f64,
    #[serde(default)]
    pub window: TargetWindow,
}

/// The part of the run a target is judged on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetWindow {
    /// The steady state, or the whole run when it never reached one.
    #[default]
    Steady,
    WholeRun,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetMetric {
    Latency(LatencyStat),
    ErrorRate,
    /// Lower bound on the share of requests that succeeded.
    SuccessRate,
    Throughput,
    /// Requests slower than `over_ms`; the limit is a count.
    SlowRequests {
        over_ms: f64,
    },
    /// Request names whose `stat` is over `over_ms`; the limit is a count.
    SlowEndpoints {
        over_ms: f64,
        stat: LatencyStat,
    },
    /// Seconds from the first user's start to the run's end.
    TestDuration,
    /// `sum(hits) / (sum(hits) + sum(misses))` of two counting headers.
    CacheHitRatio {
        hits: String,
        misses: String,
    },
    /// A statistic (`mean`, `p50`, `p95`, `p99`, `max`) of a server header.
    Header {
        header: String,
        stat: String,
    },
    /// Highest resident memory of the SUT (bytes).
    SutMemory,
    /// Average CPU of the SUT, in percent of one core.
    SutCpu,
    /// 95th percentile of the SUT's CPU samples, in percent of one core.
    SutCpuP95,
    /// Health polls in the steady state that were worse than allowed; the limit is 0.
    Health {
        allow_degraded: bool,
    },
    /// A profile must have been taken (`profile: { required: true }`).
    Profile,
    /// The SUT's CPU milliseconds per request over the steady state.
    CpuPerRequest,
}

/// Whether an undecided target fails the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    Fail,
    Warn,
}

/// How targets without data and inconclusive comparisons count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetPolicy {
    pub no_data: Policy,
    pub inconclusive: Policy,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        TargetPolicy {
            no_data: Policy::Fail,
            inconclusive: Policy::Warn,
        }
    }
}

/// How much worse than the baseline each figure may be (fractions of the baseline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RegressionPlan {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub throughput: Option<f64>,
    /// A rise in percentage points (0.01: one point), not a share of the baseline.
    pub error_rate: Option<f64>,
    pub cpu: Option<f64>,
    /// The SUT's CPU time per request, overall and per request name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_per_request: Option<f64>,
    pub memory: Option<f64>,
    pub server: Option<f64>,
    /// Latency changes smaller than this (ms) are never a regression.
    pub min_latency_ms: f64,
    /// The run-to-run variation to assume for every figure when one baseline
    /// run cannot show it (a share, 0.1: 10 %); `None`: gander's per-figure defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_to_run: Option<f64>,
}

/// No limits: figures are compared and described, none is judged.
impl Default for RegressionPlan {
    fn default() -> Self {
        RegressionPlan {
            p50: None,
            p95: None,
            p99: None,
            throughput: None,
            error_rate: None,
            cpu: None,
            cpu_per_request: None,
            memory: None,
            server: None,
            min_latency_ms: Self::DEFAULT_MIN_LATENCY_MS,
            run_to_run: None,
        }
    }
}

impl RegressionPlan {
    pub const DEFAULT_MIN_LATENCY_MS: f64 = 1.0;

    /// The error rate may rise by this many points under `regression: N%` (the seeds' 1 %).
    pub const DEFAULT_ERROR_RATE_POINTS: f64 = 0.01;

    /// `regression: 20%`: p95, throughput, SUT CPU, CPU per request and memory and
    /// server-header means at most 20 % worse; the error rate at most 1 percentage point higher.
    pub fn uniform(limit: f64) -> Self {
        RegressionPlan {
            p95: Some(limit),
            throughput: Some(limit),
            error_rate: Some(Self::DEFAULT_ERROR_RATE_POINTS),
            cpu: Some(limit),
            cpu_per_request: Some(limit),
            memory: Some(limit),
            server: Some(limit),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum LatencyStat {
    #[serde(rename = "p50")]
    P50,
    #[serde(rename = "p90")]
    P90,
    #[serde(rename = "p95")]
    P95,
    #[serde(rename = "p99")]
    P99,
    #[serde(rename = "p99.9")]
    P99_9,
    #[serde(rename = "max")]
    Max,
    #[serde(rename = "mean")]
    Mean,
}

impl LatencyStat {
    pub const ALL: [LatencyStat; 7] = [
        LatencyStat::P50,
        LatencyStat::P90,
        LatencyStat::P95,
        LatencyStat::P99,
        LatencyStat::P99_9,
        LatencyStat::Max,
        LatencyStat::Mean,
    ];

    pub fn from_label(label: &str) -> Option<LatencyStat> {
        Self::ALL.into_iter().find(|s| s.label() == label)
    }

    pub fn label(self) -> &'static str {
        match self {
            LatencyStat::P50 => "p50",
            LatencyStat::P90 => "p90",
            LatencyStat::P95 => "p95",
            LatencyStat::P99 => "p99",
            LatencyStat::P99_9 => "p99.9",
            LatencyStat::Max => "max",
            LatencyStat::Mean => "mean",
        }
    }
}
