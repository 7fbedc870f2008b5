//! `ab.json`: a `gander ab` run's comparison. Each side's requests are also an
//! ordinary run (`baseline/run.json`, `candidate/run.json`); this document
//! holds what only the alternation knows: the blocks, their pairs, what was
//! dropped and why, and the paired verdict.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::comparison::Comparison;
use super::cost::Cost;
use super::{ValidityCheck, VerdictStatus};

/// Bumped whenever a field of `ab.json` changes meaning or is removed.
pub const AB_SCHEMA_VERSION: u32 = 1;

/// The two side names, by side index.
pub const SIDE_NAMES: [&str; 2] = ["baseline", "candidate"];

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AbResult {
    pub schema_version: u32,
    pub run_id: String,
    /// The scenario's name.
    pub name: String,
    /// The baseline first, then the candidate.
    pub sides: Vec<AbSide>,
    /// The length of one block (seconds).
    pub block_s: f64,
    /// Both sides warmed up this long (the first half on the baseline) before the first block.
    pub warm_up_s: f64,
    /// Every block, kept or dropped, in order.
    pub blocks: Vec<AbBlock>,
    /// Neighbouring blocks (0 and 1, 2 and 3, …): one on each side.
    pub pairs: Vec<AbPair>,
    pub dropped: AbDropped,
    /// The paired comparison: candidate against baseline, figure by figure.
    pub comparison: Comparison,
    /// Conditions for the comparison to count (both sides alive, enough pairs…).
    pub validity: Vec<ValidityCheck>,
    /// `pass`, `fail` (a regression, or an inconclusive figure under
    /// `targets.inconclusive: fail`) or `invalid`.
    pub status: VerdictStatus,
    /// The candidate's differential flame graph against the baseline's (a
    /// path in the run directory), when both sides were profiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flame_diff: Option<String>,
    /// The verdict in one line, as the console prints it.
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AbSide {
    /// `baseline` or `candidate`: also the folder of its run.
    pub name: String,
    /// The side's host (userinfo and query values masked).
    pub host: String,
    /// The side's root process (launched, or `--*-pid`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The command gander launched for it (masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Why the side's figures cannot be trusted: its process exited or vanished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub died: Option<String>,
    /// The side's CPU per request over the whole run (its process tree), as
    /// its `run.json` has it: a whole-run figure, not paired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// Each request name's CPU per request over the whole run, when the side
    /// labels its profile's samples by request name (the `baggage` header).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cost_by_name: Vec<NamedCost>,
}

/// A request name's cost on one side.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NamedCost {
    pub name: String,
    pub cost: Cost,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AbBlock {
    pub index: usize,
    /// `baseline` or `candidate`.
    pub side: String,
    /// On the run's time axis (seconds since the load began).
    pub start_s: f64,
    pub end_s: f64,
    /// Why the block is left out of the pairs, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
    /// Requests of this side started in the block, answered well.
    pub ok: u64,
    /// Requests of this side started in the block that the SUT failed.
    pub errors: u64,
    /// Requests that never reached the SUT (not counted in the error rate).
    pub unreached: u64,
    /// Requests of iterations begun on the other side before the switch and
    /// still running: they belong to neither block.
    pub in_flight: u64,
    /// The side's process tree's CPU time over the block (ms), when its pid is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<f64>,
    /// `cpu_ms` per request of the block (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms_per_request: Option<f64>,
    /// Every request name with requests in the block, then `all requests`.
    pub endpoints: Vec<AbBlockEndpoint>,
    /// The mean of each server header over the block's requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_headers: Vec<AbHeaderMean>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AbBlockEndpoint {
    pub name: String,
    pub ok: u64,
    pub errors: u64,
    /// Latency percentiles of the successful requests (ms); absent without any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AbHeaderMean {
    pub header: String,
    pub mean: f64,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AbPair {
    pub baseline_block: usize,
    pub candidate_block: usize,
    /// Both blocks kept: the pair counts.
    pub kept: bool,
    /// The candidate/baseline ratio of the p95 of all requests, for the chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ratio: Option<f64>,
    /// The candidate/baseline ratio of CPU per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ratio: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct AbDropped {
    /// Blocks left out, by reason.
    pub blocks: usize,
    /// Pairs left out (a block of theirs was dropped).
    pub pairs: usize,
    /// Requests in flight at a switch (belonging to neither block).
    pub in_flight_requests: u64,
    /// Requests sent during the warm-up.
    pub warm_up_requests: u64,
    /// Requests after the last whole block.
    pub after_requests: u64,
}

/// The JSON Schema of `ab.json`.
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(AbResult)).unwrap_or_default();
    schema["title"] = "gander ab.json".into();
    schema["properties"]["schema_version"]["const"] = AB_SCHEMA_VERSION.into();
    schema
}
