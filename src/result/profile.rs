//! The profile section of `run.json`: what was profiled, where its files are,
//! its hottest functions and, against a baseline, the functions that grew.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Window;

/// The profile section of `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProfileReport {
    /// `pprof`, `py-spy`, `perf` or `command`.
    pub source: String,
    /// The URL or the pid profiled.
    pub target: String,
    pub status: ProfileStatus,
    /// Why there is no profile (or what was odd about it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// When the profile ran, on the run's time axis.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub window: Option<Window>,
    pub requested_s: f64,
    /// Sum of the folded stacks' values, and what they count.
    pub samples: u64,
    pub unit: String,
    /// Requests completed inside the window (for per-request comparisons).
    pub requests_in_window: u64,
    pub files: ProfileFiles,
    /// Functions by self share, highest first.
    pub top: Vec<FunctionShare>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub diff: Option<ProfileDiff>,
    /// The samples labelled `gander.request` (the SUT labels them from the
    /// `baggage` header), per request name: how many, and their flame graph.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub by_request: Vec<RequestProfile>,
    /// pprof from a SUT on this machine: the kernel's timer tick in ms (from
    /// its `CONFIG_HZ`). Linux takes SIGPROF-based samples only at ticks, so
    /// a request name whose CPU per request is shorter than a tick reads low
    /// by labels.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tick_ms: Option<f64>,
}

/// One request name's part of a labelled profile, or its profile alone (sweep).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RequestProfile {
    pub name: String,
    pub samples: u64,
    /// Requests of this name completed in the profile's window (0: not recorded).
    #[serde(default)]
    pub requests: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub folded: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub flamegraph: Option<String>,
    /// Against the baseline's profile of the same request name, per request.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub diff_flamegraph: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProfileStatus {
    Ok,
    Missing,
}

/// Files in the run directory, by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ProfileFiles {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub raw: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub folded: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub flamegraph: Option<String>,
}

/// Against a baseline run's profile, per request.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProfileDiff {
    pub baseline_run: String,
    pub flamegraph: String,
    /// The differential's input: `stack baseline current` per line, in samples
    /// per million requests, with py-spy's process frames named by role.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub folded: Option<String>,
    pub grew_most: Vec<FunctionDelta>,
    /// Samples in the baseline's profile and in this run's (0: not recorded).
    #[serde(default)]
    pub baseline_samples: u64,
    #[serde(default)]
    pub samples: u64,
    /// Stacks whose change is within sampling noise (drawn unchanged).
    #[serde(default)]
    pub within_noise: usize,
    /// Why the changes are not painted: too few samples on a side.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub too_few: Option<String>,
}

pub const FOLDED_FILE: &str = "profile.folded";
pub const FLAMEGRAPH_FILE: &str = "flamegraph.svg";
pub const DIFF_FLAMEGRAPH_FILE: &str = "flamegraph-diff.svg";
pub const DIFF_FOLDED_FILE: &str = "flamegraph-diff.folded";

/// One function's share of a profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct FunctionShare {
    pub function: String,
    /// Samples with this function as the leaf.
    pub self_samples: u64,
    pub self_share: f64,
    /// Samples with this function anywhere on the stack (counted once per stack).
    pub total_samples: u64,
    pub total_share: f64,
}

/// How much one function's cost per request changed against a baseline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct FunctionDelta {
    pub function: String,
    /// Self samples per 1000 requests in the baseline and in this run.
    pub baseline_per_1k: f64,
    pub current_per_1k: f64,
    pub delta_per_1k: f64,
}
