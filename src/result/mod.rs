//! The saved run: the `run.json` document (versioned, with a published JSON
//! Schema) and its parts, as plain data. This module imports no other part of
//! gander: the boxes that fill the document (runner, observers, recorder) and
//! those that read it (verdict, exporters, `gander report`) all meet here.

pub mod ab;
pub mod answers;
pub mod comparison;
pub mod cost;
pub mod outputs;
pub mod profile;
pub mod resources;
pub mod targets;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bumped whenever a field changes meaning or is removed. The JSON Schema of
/// this version is `gander schema --run`, published as `docs/run.schema.json`.
/// Version 2: latency figures, histograms and the interval log describe
/// successful requests only (version 1 mixed in failed ones).
/// Version 3: a comparison's intervals share one error budget (they were 95 %
/// each) and allow for run-to-run variation; the per-second series counts
/// errors per request name, and `headers.hlog` keeps server-header values per
/// second. Version 2 runs are still read (their headers are not compared).
/// Version 4: a run may be one segment of a plan run by several generators
/// (`provenance.segment`; `plan` is then the whole plan, the segment's share is
/// in `provenance.segment`) or the merge of such segments (`provenance.segments`);
/// `provenance.start` records a common start (`--start-at`); figures carry the
/// histograms a merge needs to stay exact (failed latencies, server-header
/// values, the open model's start lag, the closed model's pacing). Versions 2
/// and 3 are still read, and merge only with runs of their own version.
/// Version 5: `answers` (what the servers gander served saw: callbacks, the
/// Telegram Bot API, server-sent event streams), `errors.generator` (failures
/// that were the load generator's, kept out of the SUT's figures),
/// `resources.launched.last_output`, `comparison.invalid` and the `machine`
/// source (other processes' CPU, CPU pressure), a profile differential's
/// samples on each side, stacks within sampling noise and `too_few`; older
/// runs have none. `outputs` says what `--out` delivered (samples sent and
/// dropped). The SUT's CPU per request: `totals.steady.cost`,
/// `endpoints[].cost`, per second in `timeseries[].cpu_ms_per_request`.
pub const SCHEMA_VERSION: u32 = 5;
/// The oldest `run.json` version this gander reads.
pub const OLDEST_READ_VERSION: u32 = 2;

/// The JSON Schema (draft 2020-12) of `run.json`, version `SCHEMA_VERSION`.
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(RunResult)).unwrap_or_default();
    schema["title"] = "gander run.json".into();
    schema["description"] = format!(
        "The result of one gander run (schema version {SCHEMA_VERSION}): the plan as run, \
         per-phase figures per request name and scenario, the per-second series, the load \
         report, errors, the SUT's resources and profile, the baseline comparison and the \
         verdict. Latencies are in milliseconds unless a field says otherwise."
    )
    .into();
    schema["properties"]["schema_version"]["const"] = SCHEMA_VERSION.into();
    schema
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunResult {
    pub schema_version: u32,
    pub run_id: String,
    pub outcome: Outcome,
    pub provenance: Provenance,
    pub plan: PlanSummary,
    /// Windows on the run's time axis (seconds since the run started).
    pub phases: Phases,
    pub totals: PhaseStats,
    pub endpoints: Vec<EndpointResult>,
    /// Every request of each scenario's users, in the plan's order.
    #[serde(default)]
    pub scenarios: Vec<ScenarioResult>,
    pub timeseries: Vec<TimePoint>,
    /// How the load was applied: the model, its stages, and how closely the pace held.
    #[serde(default)]
    pub load: LoadReport,
    pub errors: ErrorReport,
    /// The SUT's and gander's CPU and memory, and the SUT's health.
    #[serde(default)]
    pub resources: resources::ResourceReport,
    /// The CPU profile of the SUT, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub profile: Option<profile::ProfileReport>,
    /// The comparison with `--baseline`, when there was one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub comparison: Option<comparison::Comparison>,
    /// What the servers gander served saw, and the event streams read.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub answers: Option<answers::AnswersReport>,
    /// What `--out` delivered, per destination.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub outputs: Vec<outputs::OutputReport>,
    /// What the cost sweep did (`--cost`, `cost:` in the file).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cost_sweep: Option<cost::CostSweep>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Outcome {
    pub status: RunStatus,
    /// Why the run stopped early, e.g. "SIGTERM received".
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Completed,
    /// Stopped early (a signal, the SUT unreachable); the figures are partial.
    Interrupted,
    /// Saved while the run was going (every few seconds); the run has not
    /// finished, or gander was killed before it could.
    Running,
    /// A `running` run found without its gander: killed outright (SIGKILL, a
    /// crash, the machine). The figures are the last ones saved.
    Killed,
}

impl RunStatus {
    /// The run reached its planned end.
    pub fn is_complete(self) -> bool {
        self == RunStatus::Completed
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Provenance {
    pub gander_version: String,
    pub started_at: String,
    pub finished_at: String,
    pub command_line: Vec<String>,
    pub scenario_file: String,
    pub hostname: Option<String>,
    pub git_revision: Option<String>,
    /// CPUs gander could run on (its affinity mask and cgroup quota); for a
    /// merged run, every segment's together.
    #[serde(default)]
    pub cores: usize,
    /// SHA-256 of the scenario file's bytes (as `sha256sum` prints it): segments
    /// merge only when they ran the same file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_sha256: Option<String>,
    /// `--start-at`: the common start, and how this run kept to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartReport>,
    /// `--segment i/N`: this run is one share of the plan, run by one of N
    /// generators; `plan` is the whole plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentReport>,
    /// A merged run (`gander merge`): the segment runs it was merged from, by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<MergedSegment>,
}

/// A common start (`--start-at`) and how a run kept to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StartReport {
    /// The instant every generator was to start its load (RFC 3339).
    pub at: String,
    /// Whole seconds from `at` to the start of this run's time axis (negative:
    /// the axis starts before it); a merge lines segments up by it.
    pub axis_from_s: i64,
    /// How long after `at` the load began (0 on time); `None` when it never began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_s: Option<f64>,
}

/// One generator's share of a plan (`--segment index/count`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SegmentReport {
    pub index: usize,
    pub count: usize,
    /// The users this segment was to run: the closed model's (peak) users, the
    /// open model's pool. Its iterations are every `count`-th of the plan's.
    pub users: usize,
    /// Users planned per scenario, in the plan's order.
    pub users_by_scenario: Vec<usize>,
}

/// A segment run a merged run was made of.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MergedSegment {
    pub index: usize,
    pub run_id: String,
    /// The segment's run directory, as given to `gander merge`.
    pub dir: String,
    pub hostname: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default)]
    pub cores: usize,
    pub status: RunStatus,
    /// Seconds added to the segment's time axis to put it on the merged one.
    pub shift_s: u64,
    /// How long after the common start its load began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_s: Option<f64>,
    /// The segment's own validity checks, as judged when it ran.
    pub validity: Vec<ValidityCheck>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PlanSummary {
    pub name: String,
    pub host: String,
    /// `closed`: a fixed number of users, each waiting for its previous response;
    /// `open`: iterations started at a planned rate.
    pub model: String,
    /// Closed: the (peak) users; open: the most users that may run iterations at once.
    pub users: usize,
    /// Open: the peak planned arrival rate, iterations per second.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rate: Option<f64>,
    /// The load's steps, when it has them (an open model always does).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stages: Vec<PlannedStage>,
    /// The stage judged as the steady state.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub steady_stage: Option<String>,
    pub ramp_up_s: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iterations: Option<u64>,
    pub scenarios: Vec<ScenarioSummary>,
    pub server_headers: Vec<String>,
    pub targets: Vec<targets::TargetSpec>,
    #[serde(default)]
    pub target_policy: targets::TargetPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<targets::RegressionPlan>,
    /// The HTTP version users were asked to speak: `1.1`, `2` (negotiated by TLS
    /// ALPN) or `h2c`. What each answer came over is in each figure's `protocols`.
    #[serde(default = "http_1_1")]
    pub http: String,
    /// TLS settings, when the file or the flags gave some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSummary>,
}

fn http_1_1() -> String {
    "1.1".into()
}

/// The TLS a run used: file names, never their contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct TlsSummary {
    /// Certificates were not verified.
    #[serde(default)]
    pub insecure: bool,
    /// The PEM file of CA certificates trusted besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// The client certificate presented (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
    /// The name certificates were checked against instead of the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// One stage of the planned load: the level moves linearly from the previous
/// stage's (0 before the first) to `target`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedStage {
    pub name: String,
    /// How long the stage lasted when run (for the closed model, goose's timing:
    /// a ramp of n users over `written_s` lasts `written_s`·(n−1)/n).
    pub duration_s: f64,
    /// The duration as written in the file.
    #[serde(default)]
    pub written_s: f64,
    /// Users (closed model) or iterations per second (open model) at the stage's end.
    pub target: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ScenarioSummary {
    pub name: String,
    pub weight: usize,
    /// Users that actually ran this scenario.
    pub users_started: usize,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Window {
    pub start_s: f64,
    pub end_s: f64,
}

impl Window {
    pub fn len_s(&self) -> f64 {
        (self.end_s - self.start_s).max(0.0)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Phases {
    pub ramp_up: Option<Window>,
    /// All planned users running; `None` when the run never got there.
    pub steady: Option<Window>,
    pub ramp_down: Option<Window>,
    pub total: Window,
}

/// Which part of the run a figure describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    RampUp,
    Steady,
    RampDown,
    All,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::RampUp => "ramp-up",
            Phase::Steady => "steady state",
            Phase::RampDown => "ramp-down",
            Phase::All => "whole run",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PhaseStats {
    pub ramp_up: Stats,
    pub steady: Stats,
    pub ramp_down: Stats,
    pub all: Stats,
}

impl PhaseStats {
    pub fn get(&self, phase: Phase) -> &Stats {
        match phase {
            Phase::RampUp => &self.ramp_up,
            Phase::Steady => &self.steady,
            Phase::RampDown => &self.ramp_down,
            Phase::All => &self.all,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Stats {
    /// Requests sent and answered or failed in transport.
    pub requests: u64,
    /// Failed requests (status, expectation, transport or capture).
    pub failed: u64,
    /// Requests not sent because a value they needed was missing.
    pub not_sent: u64,
    /// Failed requests whose connection failed: they never reached the SUT.
    #[serde(default)]
    pub unreached: u64,
    /// `(failed + not_sent) / (requests + not_sent)`.
    pub error_rate: f64,
    /// Requests per second over the phase's window.
    pub rps: f64,
    pub bytes_received: u64,
    pub statuses: BTreeMap<String, u64>,
    /// Latency of the successful requests: what latency targets judge.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency_ms: Option<LatencySummary>,
    /// Latency of the failed requests, apart: a refused connection is fast, and
    /// would make a dead SUT look quick.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failed_latency_ms: Option<LatencySummary>,
    /// HDR histogram of the successful requests' latencies in microseconds, V2-deflate, base64.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub histogram: Option<String>,
    /// HDR histogram of the failed requests' latencies, the same way.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failed_histogram: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub server_headers: BTreeMap<String, HeaderSummary>,
    /// Answers by the protocol they came over: `HTTP/1.1`, `HTTP/2`, `WebSocket`
    /// (messages). A proxy that downgrades HTTP/2 shows here.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub protocols: BTreeMap<String, u64>,
    /// WebSockets that ended in the phase (a `ws:` step's socket, counted as one
    /// request each when it ends; a dropped one is a failed request).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub websocket: Option<SocketStats>,
    /// The SUT's CPU per request over the phase (the steady state only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cost: Option<cost::Cost>,
}

/// What the WebSockets of a request name (or all of them) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SocketStats {
    /// Sockets that ended: closed by gander, or dropped.
    pub sockets: u64,
    /// Closed by the server or broken before gander was done with them.
    pub dropped: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct LatencySummary {
    pub min: f64,
    pub mean: f64,
    pub stdev: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    pub max: f64,
}

impl LatencySummary {
    /// Each figure no lower than `floor`'s.
    pub fn at_least(&self, floor: &LatencySummary) -> LatencySummary {
        LatencySummary {
            min: self.min.max(floor.min),
            mean: self.mean.max(floor.mean),
            stdev: self.stdev,
            p50: self.p50.max(floor.p50),
            p90: self.p90.max(floor.p90),
            p95: self.p95.max(floor.p95),
            p99: self.p99.max(floor.p99),
            p99_9: self.p99_9.max(floor.p99_9),
            max: self.max.max(floor.max),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct HeaderSummary {
    /// `ms` for times, empty for plain numbers.
    pub unit: String,
    pub count: u64,
    pub sum: f64,
    pub mean: f64,
    #[serde(default)]
    pub stdev: f64,
    pub min: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    /// HDR histogram of the values in 1/1024ths, V2-deflate, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ScenarioResult {
    pub name: String,
    pub stats: PhaseStats,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EndpointResult {
    pub name: String,
    pub method: String,
    pub stats: PhaseStats,
    /// What one request of this name costs the SUT in CPU, by profile labels
    /// or by the sweep; absent when neither applied (never a guess).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cost: Option<cost::Cost>,
}

/// One second of the run, by completion time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct TimePoint {
    /// Seconds since the run started (start of this second).
    pub t: u64,
    pub requests: u64,
    pub errors: u64,
    pub bytes: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Closed model: users running at the end of this second. Open model: users
    /// busy in an iteration at the end of this second.
    pub users: usize,
    /// The planned level in the middle of this second: users (closed) or iterations
    /// per second (open); only for staged loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    /// Open model: iterations due in this second (by intended start) that started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    /// Open model: iterations due in this second that started late (no free user)
    /// or never. Closed model: requests the users' own pace called for while a
    /// response held them back, counted when the response came.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub late: u64,
    /// Mean of each server-header figure over the requests completed in this second.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, f64>,
    /// Failed or not sent requests of each request name in this second (names with
    /// none left out): what a comparison resamples a request name's error rate from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors_by_name: BTreeMap<String, u64>,
    /// The SUT's CPU milliseconds per request completed in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms_per_request: Option<f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How the load was applied and how closely it kept to its plan.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct LoadReport {
    /// Each stage's window on the run's time axis.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageWindow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<ArrivalReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<PacingReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct StageWindow {
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
    /// Level at the start and at the end (users or iterations per second).
    pub from: f64,
    pub to: f64,
}

/// Open model: iterations the schedule called for, and when they started.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct ArrivalReport {
    /// Iterations due over the whole schedule.
    pub intended: u64,
    pub started: u64,
    /// Started, but after their intended time, because no user was free then.
    pub late: u64,
    /// Due but never started: the run ended with them still waiting for a user.
    pub missed: u64,
    /// `(late + missed) / intended`.
    pub late_fraction: f64,
    /// The limit on `late_fraction` (`load.max_late`).
    pub max_late: f64,
    /// Iterations due in, and started for, the steady state.
    pub steady_intended: u64,
    pub steady_started: u64,
    pub max_users: usize,
    /// The most users busy in an iteration at once.
    pub peak_busy: usize,
    /// Time from intended to actual start, over every started iteration (ms).
    pub start_lag_ms: Option<LagSummary>,
    /// HDR histogram of the start lags in microseconds, V2-deflate, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_histogram: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct LagSummary {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Closed model: how far the users fell behind their own pace while responses
/// held them back (coordinated omission), over the steady state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct PacingReport {
    /// Requests timed against a known pace (each user's mean time between sends).
    pub requests: u64,
    /// Requests the users' pace called for but that were not sent while a response was awaited.
    pub late: u64,
    /// The longest a user fell behind its pace (ms).
    pub worst_delay_ms: f64,
    /// Latency as measured.
    pub measured: Option<LatencySummary>,
    /// Latency with the missing requests filled in, each at the latency it would
    /// have seen waiting behind the response that held its user: what an open
    /// model would have seen. Never reported below the measured figure: fills
    /// below a high measured tail would otherwise lower it.
    pub corrected: Option<LatencySummary>,
    /// HDR histograms (µs, V2-deflate, base64) of `measured` and of `corrected`
    /// before the floor: what a merge adds up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_histogram: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_histogram: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ErrorReport {
    /// Every failure, grouped by request name, status and reason.
    pub groups: Vec<ErrorGroup>,
    /// The first failures, in order, with a body excerpt.
    pub samples: Vec<ErrorSample>,
    /// Distinct reasons beyond the grouping limit were folded into "other".
    #[serde(default)]
    pub groups_truncated: bool,
    /// Requests the load generator could not make for a limit of its own (out
    /// of file descriptors, ports, buffers): counted here, in no figure of the
    /// SUT's (no error rate, no percentile), and the run is INVALID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generator: Vec<GeneratorFaultReport>,
}

/// One kind of the load generator's own failure.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GeneratorFaultReport {
    /// `files`, `system_files`, `ports` or `buffers`.
    pub kind: String,
    /// What ran out, and the fix.
    pub cause: String,
    pub count: u64,
    /// When it first happened, seconds into the run.
    pub first_s: f64,
    /// The first such error as the system said it.
    pub example: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorGroup {
    pub endpoint: String,
    pub status: u16,
    pub reason: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorSample {
    pub t_s: f64,
    pub endpoint: String,
    pub status: u16,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    pub status: VerdictStatus,
    /// Which phase the targets were judged on.
    pub judged_on: Option<Phase>,
    pub targets: Vec<TargetResult>,
    /// Whether the figures describe the SUT at all (the load generator kept up, the
    /// planned load was reached).
    #[serde(default)]
    pub validity: Vec<ValidityCheck>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One condition a run must meet for its figures to count.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ValidityCheck {
    /// e.g. `load generator CPU`, `users started`.
    pub check: String,
    pub ok: bool,
    /// What was seen, in words, e.g. `97% of 1 core`.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictStatus {
    /// Every target met.
    Pass,
    /// At least one target missed.
    Fail,
    /// The numbers describe the load generator or a partial run, not the SUT.
    Invalid,
    /// The file has no targets.
    #[default]
    NoTargets,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TargetResult {
    /// e.g. `p95`, `error_rate`, `throughput`.
    pub metric: String,
    /// `all requests` or a request name.
    pub scope: String,
    pub comparison: String,
    pub limit: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub observed: Option<f64>,
    pub unit: String,
    pub outcome: TargetOutcome,
    /// `steady` or `whole_run`.
    #[serde(default)]
    pub window: targets::TargetWindow,
    /// A comparison with the baseline (`targets.regression`) rather than a fixed limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regression: bool,
    /// Whether this outcome fails the run (a `no_data` or `inconclusive` row may not).
    #[serde(default = "yes")]
    pub decisive: bool,
    /// More about the figure, e.g. the baseline and the confidence interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetOutcome {
    Pass,
    Fail,
    NoData,
    /// A regression check where the noise was too large to decide.
    Inconclusive,
}

impl TargetOutcome {
    pub fn label(self) -> &'static str {
        match self {
            TargetOutcome::Pass => "pass",
            TargetOutcome::Fail => "FAIL",
            TargetOutcome::NoData => "no data",
            TargetOutcome::Inconclusive => "inconclusive",
        }
    }
}

impl Verdict {
    /// Rows worth showing a reader: every fixed target, and the regression checks
    /// that did not pass; with the count of passing regression checks left out.
    pub fn rows_to_show(&self) -> (Vec<&TargetResult>, usize) {
        let hidden = |t: &&TargetResult| t.regression && t.outcome == TargetOutcome::Pass;
        let shown = self.targets.iter().filter(|t| !hidden(t)).collect();
        (shown, self.targets.iter().filter(hidden).count())
    }
}

impl RunResult {
    /// The time window of `phase`; the whole run for `All` or a phase the run never had.
    pub fn window(&self, phase: Phase) -> Window {
        match phase {
            Phase::RampUp => self.phases.ramp_up,
            Phase::Steady => self.phases.steady,
            Phase::RampDown => self.phases.ramp_down,
            Phase::All => None,
        }
        .unwrap_or(self.phases.total)
    }

    /// Every server-header figure the per-second series carries, in name order.
    pub fn timeseries_headers(&self) -> std::collections::BTreeSet<&String> {
        self.timeseries
            .iter()
            .flat_map(|p| p.headers.keys())
            .collect()
    }

    /// The users this run was to start: its segment's share, or the plan's.
    pub fn planned_users(&self) -> usize {
        self.provenance
            .segment
            .as_ref()
            .map_or(self.plan.users, |s| s.users)
    }

    /// Whether this run is one share of a plan run by several generators.
    pub fn is_segment(&self) -> bool {
        self.provenance
            .segment
            .as_ref()
            .is_some_and(|s| s.count > 1)
    }

    /// Requests completed within `window`, from the per-second series (a second
    /// partly inside counts in proportion).
    pub fn requests_within(&self, window: Window) -> u64 {
        self.timeseries
            .iter()
            .map(|p| {
                let (a, b) = (p.t as f64, p.t as f64 + 1.0);
                let overlap = (b.min(window.end_s) - a.max(window.start_s)).max(0.0);
                p.requests as f64 * overlap
            })
            .sum::<f64>()
            .round() as u64
    }

    /// The phase figures are reported for by default: the steady state when there was one.
    pub fn primary_phase(&self) -> Phase {
        if self.phases.steady.is_some()
            && self.totals.steady.requests + self.totals.steady.not_sent > 0
        {
            Phase::Steady
        } else {
            Phase::All
        }
    }
}

#[cfg(test)]
mod tests {
    /// `docs/run.schema.json` is what CI jobs read: a change to the saved run's
    /// types must change it (and maybe `SCHEMA_VERSION`) on purpose.
    #[test]
    fn the_published_schema_is_the_one_gander_writes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/run.schema.json");
        let published: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            published,
            super::json_schema(),
            "docs/run.schema.json is stale: regenerate it with \
             `cargo run -- schema --run > docs/run.schema.json` (and bump SCHEMA_VERSION if a \
             field changed meaning or went away)"
        );
    }
}
