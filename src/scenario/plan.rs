//! The checked, compiled form of a scenario file: what the runner executes.
//! Every name is resolved, every template parsed, every feeder loaded.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderName;
use serde::{Deserialize, Serialize};

pub use super::answers_plan::*;
use super::feeder::Feeder;
use super::template::Template;
pub use crate::net::tls::TlsPlan;
use crate::redact::Secrets;
pub use crate::result::targets::{
    LatencyStat, Policy, RegressionPlan, TargetMetric, TargetPolicy, TargetSpec, TargetWindow,
};
pub use crate::scenario::units::HttpVersion;

#[derive(Debug)]
pub struct RunPlan {
    pub name: String,
    pub source: PathBuf,
    pub host: String,
    /// The HTTP version users speak.
    pub http: HttpVersion,
    /// How https:// and wss:// servers are trusted, and the client certificate.
    pub tls: TlsPlan,
    /// How connections are opened: the connect timeout, names given in `hosts:`.
    pub net: crate::net::NetPlan,
    pub load: LoadPlan,
    pub scenarios: Vec<ScenarioPlan>,
    /// Unique request names, in order of first appearance; samples refer to them by index.
    pub endpoints: Vec<EndpointInfo>,
    /// Names of the per-user variable slots (captures).
    pub variables: Vec<String>,
    pub feeders: Vec<Arc<Feeder>>,
    pub server_headers: Vec<HeaderName>,
    /// The server headers as written in the file, for display.
    pub server_header_labels: Vec<String>,
    pub targets: Vec<TargetSpec>,
    pub target_policy: TargetPolicy,
    /// Limits against `--baseline`; `None` when the file sets none.
    pub regression: Option<RegressionPlan>,
    pub error_samples: usize,
    pub sut: SutPlan,
    pub profile: Option<ProfilePlan>,
    /// Values read from the environment and credential headers' values: masked
    /// in every text gander writes or prints.
    pub secrets: Secrets,
    /// `--segment i/N`: `load` is this generator's share of `segment.whole`.
    pub segment: Option<super::segment::SegmentPlan>,
    /// The servers gander serves for the run: a callback sink, the Telegram Bot API.
    pub answers: AnswersPlan,
    /// Local addresses users connect from (user i from address i mod n); empty: the system's choice.
    pub source_addresses: Vec<std::net::IpAddr>,
    /// Send the `baggage` header naming each request (to the file's host only).
    pub baggage: bool,
    /// `--cost` or `cost:`: each request name driven alone after the load.
    pub cost: Option<CostPlan>,
}

/// The cost sweep's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostPlan {
    pub each: Duration,
    pub users: usize,
}

impl CostPlan {
    pub const DEFAULT: CostPlan = CostPlan {
        each: Duration::from_secs(5),
        users: 2,
    };
}

impl RunPlan {
    /// The load of the whole plan: what a single generator would run.
    pub fn whole_load(&self) -> &LoadPlan {
        self.segment.as_ref().map_or(&self.load, |s| &s.whole)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadPlan {
    pub model: LoadModel,
    /// The users goose runs: the closed model's (peak) users, or the open model's pool.
    pub users: usize,
    /// Closed model without stages: time over which the users start.
    #[serde(with = "secs")]
    pub ramp_up: Duration,
    /// With stages, the total of their durations.
    pub end: LoadEnd,
    /// Empty for a closed model held flat (`users`, `ramp_up`, `duration|iterations`);
    /// an open model always has at least one.
    pub stages: Vec<Stage>,
    /// Index of the stage that is the steady state.
    pub steady_stage: Option<usize>,
    /// Open model: the share of iterations that may start late or never.
    pub max_late: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadModel {
    /// Fixed users, each waiting for its previous response.
    Closed,
    /// Iterations start at a planned rate, whatever the SUT does.
    Open,
}

impl LoadModel {
    pub fn label(self) -> &'static str {
        match self {
            LoadModel::Closed => "closed",
            LoadModel::Open => "open",
        }
    }
}

/// One step of the load: the level moves linearly from the previous stage's
/// (0 before the first) to `target` over `duration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    /// How long the stage lasts when run. For the closed model this is goose's
    /// timing: a ramp of n users over `written` starts its first user at once
    /// and its last one interval before the end, so it lasts `written`·(n−1)/n.
    #[serde(rename = "duration_s", with = "secs")]
    pub duration: Duration,
    /// The duration as written in the file (whole seconds for the closed model).
    #[serde(rename = "written_s", with = "secs", default)]
    pub written: Duration,
    /// Users (closed model) or iterations per second (open model) at the stage's end.
    pub target: f64,
}

impl LoadPlan {
    /// Offsets from the load's origin of the steady stage's start and end.
    pub fn steady_window(&self) -> Option<(Duration, Duration)> {
        let index = self.steady_stage?;
        let start: Duration = self.stages[..index].iter().map(|s| s.duration).sum();
        Some((start, start + self.stages[index].duration))
    }

    /// The planned length of the steady state, when it is known in advance.
    pub fn steady_length(&self) -> Option<Duration> {
        match (self.steady_window(), self.end) {
            (Some((start, end)), _) => Some(end - start),
            (None, LoadEnd::Duration(d)) => Some(d),
            (None, LoadEnd::Iterations(_)) => None,
        }
    }

    /// How many users start over the run: a staged closed model starts new
    /// ones each time it rises again.
    pub fn users_started(&self) -> usize {
        if self.model == LoadModel::Open || self.stages.is_empty() {
            return self.users;
        }
        let mut previous = 0usize;
        let mut started = 0;
        for stage in &self.stages {
            let users = stage.target as usize;
            started += users.saturating_sub(previous);
            previous = users;
        }
        started
    }

    /// The highest planned level: peak users or peak arrival rate.
    pub fn peak_level(&self) -> f64 {
        peak_level(&self.stages)
    }

    /// The planned level (users or rate) `t` seconds after the origin; `None`
    /// without stages or past the last one.
    pub fn level_at(&self, t: f64) -> Option<f64> {
        let mut start = 0.0;
        let mut from = 0.0;
        for stage in &self.stages {
            let len = stage.duration.as_secs_f64();
            if t < start + len {
                return Some(from + (stage.target - from) * (t - start) / len);
            }
            start += len;
            from = stage.target;
        }
        None
    }
}

/// How long goose takes over a closed stage from `from` to `target` users
/// written as `written` (whole seconds): it starts (or stops) the first user
/// at once and the last one interval before the end.
pub fn closed_stage_duration(written: Duration, from: f64, target: f64) -> Duration {
    let n = (target - from).abs();
    if n >= 1.0 {
        written.mul_f64((n - 1.0) / n)
    } else {
        written
    }
}

/// The highest level any stage reaches (0 without stages).
pub fn peak_level(stages: &[Stage]) -> f64 {
    stages.iter().map(|s| s.target).fold(0.0, f64::max)
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadEnd {
    #[serde(with = "secs")]
    Duration(Duration),
    Iterations(u64),
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointInfo {
    pub name: String,
    /// `GET`, `POST`…, or `WS` for a WebSocket's rows.
    pub method: &'static str,
}

#[derive(Debug)]
pub struct ScenarioPlan {
    pub name: String,
    pub weight: usize,
    pub think_time: Option<(Duration, Duration)>,
    pub on_start: Vec<StepPlan>,
    pub steps: Vec<StepPlan>,
    pub on_stop: Vec<StepPlan>,
}

impl ScenarioPlan {
    /// Every step: on_start, steps, on_stop.
    pub fn all_steps(&self) -> impl Iterator<Item = &StepPlan> {
        self.on_start.iter().chain(&self.steps).chain(&self.on_stop)
    }
}

/// One step of a scenario: an HTTP request or a WebSocket.
#[derive(Debug, Clone)]
pub enum StepPlan {
    Http(Arc<RequestPlan>),
    Ws(Arc<WsPlan>),
    Await(Arc<AwaitPlan>),
    Telegram(Arc<TelegramPlan>),
    Sse(Arc<SsePlan>),
}

impl StepPlan {
    pub fn scenario(&self) -> usize {
        match self {
            StepPlan::Http(r) => r.scenario,
            StepPlan::Ws(w) => w.scenario,
            StepPlan::Await(a) => a.scenario,
            StepPlan::Telegram(t) => t.scenario,
            StepPlan::Sse(s) => s.scenario,
        }
    }
    pub fn timeout(&self) -> Duration {
        match self {
            StepPlan::Http(r) => r.timeout,
            // A socket step may wait for every answer and hold on top of its handshake.
            StepPlan::Ws(w) => {
                w.timeout
                    + w.messages
                        .iter()
                        .filter_map(|m| m.expect.as_ref().map(|e| e.within))
                        .sum::<Duration>()
                    + w.hold.unwrap_or_default()
            }
            StepPlan::Await(a) => a.within,
            StepPlan::Telegram(t) => {
                t.webhook.timeout + t.reply.as_ref().map_or(Duration::ZERO, |r| r.within)
            }
            StepPlan::Sse(s) => s.timeout + s.within,
        }
    }
    pub fn as_http(&self) -> Option<&RequestPlan> {
        match self {
            StepPlan::Http(r) => Some(r),
            _ => None,
        }
    }
}

/// A WebSocket step: connect, send and wait for messages, then close, hold, or
/// keep the socket open in the background.
#[derive(Debug)]
pub struct WsPlan {
    pub scenario: usize,
    /// A ws(s):// URL or a path on the host.
    pub url: Template,
    /// Handshake headers.
    pub headers: Vec<(HeaderName, Template)>,
    /// Handshake timeout, and the default wait for an expected message.
    pub timeout: Duration,
    /// Request names: the handshake, and the socket (one per socket, when it ends).
    pub connect: usize,
    pub socket: usize,
    pub messages: Vec<WsMessagePlan>,
    pub hold: Option<Duration>,
    pub background: bool,
    /// Largest message read.
    pub max_message: u64,
}

#[derive(Debug)]
pub struct WsMessagePlan {
    /// The round trip's request name, when the message waits for an answer.
    pub endpoint: Option<usize>,
    /// What to send, if anything.
    pub send: Option<WsSend>,
    pub expect: Option<WsExpectPlan>,
    pub captures: Vec<CapturePlan>,
}

#[derive(Debug)]
pub enum WsSend {
    Text(Template),
    Json(JsonTemplate),
}

#[derive(Debug)]
pub struct WsExpectPlan {
    pub contains: Vec<String>,
    pub json: Vec<JsonCheck>,
    pub within: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
        }
    }
}

#[derive(Debug)]
pub struct RequestPlan {
    pub endpoint: usize,
    /// Index of the scenario the step belongs to.
    pub scenario: usize,
    pub method: Method,
    pub url: Template,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: BodyPlan,
    pub timeout: Duration,
    /// Follow redirects, or keep the 3xx answer.
    pub follow_redirects: bool,
    /// Largest body read (decoded bytes); a longer one fails the request.
    pub max_body: u64,
    pub expect: ExpectPlan,
    pub captures: Vec<CapturePlan>,
}

#[derive(Debug)]
pub enum BodyPlan {
    None,
    Json(JsonTemplate),
    Form(Vec<(String, Template)>),
    Raw(Template),
}

/// A JSON body whose strings may hold templates.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    Constant(serde_json::Value),
    String(Template),
    /// A template that is one numeric built-in, written unquoted.
    Number(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

#[derive(Debug, Default)]
pub struct ExpectPlan {
    /// `None`: any status below 400 passes.
    pub status: Option<Vec<u16>>,
    pub body_contains: Vec<String>,
    pub json: Vec<JsonCheck>,
    pub headers: Vec<HeaderName>,
}

#[derive(Debug)]
pub struct JsonCheck {
    pub pointer: String,
    pub equals: Option<serde_json::Value>,
    pub exists: Option<bool>,
}

#[derive(Debug)]
pub struct CapturePlan {
    pub slot: usize,
    pub name: String,
    pub source: CaptureSource,
}

#[derive(Debug)]
pub enum CaptureSource {
    Json(String),
    Header(HeaderName),
    Regex(regex::Regex),
    Cookie(String),
}

/// Serialises a `Duration` as fractional seconds.
pub mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// The system under test: how to start it and where its figures come from.
#[derive(Debug, Clone)]
pub struct SutPlan {
    pub launch: Option<LaunchPlan>,
    pub process: Option<ProcessSelector>,
    pub prometheus: Option<PrometheusPlan>,
    pub json: Option<JsonMetricsPlan>,
    pub health: Option<HealthPlan>,
    /// Time between samples.
    pub interval: Duration,
    /// Masked in what the monitor reports (URLs, errors).
    pub secrets: Secrets,
}

impl SutPlan {
    /// Whether some source of the SUT's CPU and memory is configured.
    pub fn is_measured(&self) -> bool {
        self.process.is_some() || self.prometheus.is_some() || self.json.is_some()
    }
}

impl Default for SutPlan {
    fn default() -> Self {
        SutPlan {
            launch: None,
            process: None,
            prometheus: None,
            json: None,
            health: None,
            interval: Duration::from_secs(1),
            secrets: Secrets::default(),
        }
    }
}

/// A SUT process gander starts and stops.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    /// Answers 2xx once the SUT is ready.
    pub ready: Option<String>,
    pub ready_timeout: Duration,
    /// Masked in the recorded command and in errors.
    pub secrets: Secrets,
}

/// Which local process is the SUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessSelector {
    Pid(u32),
    /// The oldest process whose executable name or first argument is this.
    Name(String),
    /// The process gander launched.
    Launched,
}

/// An HTTP endpoint read during the run.
#[derive(Debug, Clone)]
pub struct HttpSource {
    pub url: String,
    pub headers: Vec<(HeaderName, String)>,
}

#[derive(Debug, Clone)]
pub struct PrometheusPlan {
    pub http: HttpSource,
    /// Extra metric names, each summed over its label sets.
    pub series: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct JsonMetricsPlan {
    pub http: HttpSource,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    /// Multiplies the memory value into bytes.
    pub memory_factor: f64,
    pub series: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct HealthPlan {
    pub http: HttpSource,
    /// JSON pointer to a status word; `None`: the HTTP status alone decides.
    pub status_pointer: Option<String>,
}

/// The CPU profile to take during the steady state.
#[derive(Debug, Clone)]
pub struct ProfilePlan {
    pub source: ProfileSource,
    /// `None`: the steady state minus a margin.
    pub seconds: Option<Duration>,
    /// Start this long after the steady state begins (the cost sweep profiles
    /// a request name only once its CPU has been measured).
    pub after: Duration,
    /// Sampling frequency for the profilers gander runs itself; `None`: fast
    /// enough for the window (see `profile::rate_for`).
    pub rate: Option<u32>,
    /// How long past the profile's end to wait for the profiler.
    pub grace: Duration,
    /// A missing profile fails the run.
    pub required: bool,
    /// Masked in the profile's target and in why it is missing.
    pub secrets: Secrets,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSource {
    Pprof {
        url: String,
    },
    PySpy {
        subprocesses: bool,
        native: bool,
        /// Pause the SUT for each sample (py-spy's default; gander's is not to).
        blocking: bool,
    },
    Perf {
        dwarf: bool,
    },
    Command {
        argv: Vec<String>,
        format: ProfileFormat,
    },
}

impl ProfileSource {
    pub fn label(&self) -> &'static str {
        match self {
            ProfileSource::Pprof { .. } => "pprof",
            ProfileSource::PySpy { .. } => "py-spy",
            ProfileSource::Perf { .. } => "perf",
            ProfileSource::Command { .. } => "command",
        }
    }
    /// Whether the profiler attaches to a local pid.
    pub fn needs_pid(&self) -> bool {
        !matches!(self, ProfileSource::Pprof { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileFormat {
    Folded,
    Pprof,
}

impl RunPlan {
    /// The plan that drives request name `endpoint` alone for the cost sweep:
    /// its first HTTP step's scenario only, whose users run the steps before
    /// it once (for their captures; WebSockets left out) and then repeat it,
    /// `cost.users` of them for `cost.each`, without think time, targets,
    /// profiler or segment. `None` when no HTTP step has that name.
    pub fn alone(&self, endpoint: usize, cost: CostPlan) -> Option<RunPlan> {
        let (scenario, flat, at) = self.scenarios.iter().enumerate().find_map(|(i, s)| {
            let flat: Vec<&StepPlan> = s.on_start.iter().chain(&s.steps).collect();
            let at = flat
                .iter()
                .position(|step| step.as_http().is_some_and(|r| r.endpoint == endpoint))?;
            Some((i, flat, at))
        })?;
        let scenarios = self
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| ScenarioPlan {
                name: s.name.clone(),
                weight: usize::from(i == scenario),
                think_time: None,
                on_start: if i == scenario {
                    flat[..at]
                        .iter()
                        .filter(|step| step.as_http().is_some())
                        .map(|step| (*step).clone())
                        .collect()
                } else {
                    Vec::new()
                },
                steps: if i == scenario {
                    vec![flat[at].clone()]
                } else {
                    Vec::new()
                },
                on_stop: Vec::new(),
            })
            .collect();
        Some(RunPlan {
            name: self.name.clone(),
            source: self.source.clone(),
            host: self.host.clone(),
            http: self.http,
            tls: self.tls.clone(),
            load: LoadPlan {
                model: LoadModel::Closed,
                users: cost.users,
                ramp_up: Duration::ZERO,
                end: LoadEnd::Duration(cost.each),
                stages: Vec::new(),
                steady_stage: None,
                max_late: self.load.max_late,
            },
            scenarios,
            endpoints: self.endpoints.clone(),
            variables: self.variables.clone(),
            // From their first row again: the load's users have stopped, and
            // a `unique` feeder they used up would leave the sweep none.
            feeders: self
                .feeders
                .iter()
                .map(|f| Arc::new(f.restarted()))
                .collect(),
            server_headers: self.server_headers.clone(),
            server_header_labels: self.server_header_labels.clone(),
            targets: Vec::new(),
            target_policy: self.target_policy,
            regression: None,
            error_samples: self.error_samples,
            sut: self.sut.clone(),
            profile: None,
            secrets: self.secrets.clone(),
            segment: None,
            // Only HTTP steps are swept: no sink or Bot API to serve.
            answers: AnswersPlan::default(),
            net: self.net.clone(),
            source_addresses: self.source_addresses.clone(),
            baggage: self.baggage,
            cost: None,
        })
    }
}
