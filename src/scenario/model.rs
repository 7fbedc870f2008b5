//! The scenario file format, exactly as a user writes it (YAML).
//!
//! These structs only describe shape; `compile` turns them into a checked
//! `RunPlan`. Every struct denies unknown keys so a typo is an error, not a
//! silently ignored setting. `gander schema` prints the JSON Schema derived
//! from these types.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::spanned::Sp;
use super::units::{
    Bytes, Count, CpuLimit, Dur, HeaderLimit, HttpVersion, Percent, Rate, StatusSet, StringList,
    ThinkTime,
};

/// A gander scenario file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Name of the test; defaults to the file name.
    pub name: Option<Sp<String>>,
    /// Base URL of the system under test, e.g. `http://127.0.0.1:8080`. `--host` overrides it.
    pub host: Option<Sp<String>>,
    /// How many users, for how long.
    pub load: Sp<Load>,
    /// Constants usable as `${name}`; values may use `${env.NAME}` and earlier variables.
    #[serde(default)]
    pub variables: IndexMap<String, Sp<String>>,
    /// Data feeders: each name is a CSV file whose columns become `${name.column}`.
    #[serde(default)]
    pub data: IndexMap<String, Sp<Feeder>>,
    /// Headers and timeout applied to every request unless a step sets its own.
    #[serde(default)]
    pub defaults: Option<Defaults>,
    /// The HTTP version users speak: `1.1` (default), `2` (HTTP/2 negotiated by TLS
    /// ALPN, for an https host) or `h2c` (HTTP/2 with prior knowledge, for an http host).
    /// `--http` overrides it.
    #[serde(default)]
    pub http: Option<Sp<HttpVersion>>,
    /// How https:// and wss:// servers are trusted: a private CA, a client certificate
    /// (mutual TLS), or no verification at all for a throwaway test. It applies to
    /// every connection of the run: users, WebSockets, the SUT monitor, the readiness
    /// probe and the profiler (docs/network.md).
    #[serde(default)]
    pub tls: Option<Sp<Tls>>,
    /// Host names resolved to these IP addresses instead of asking DNS (as
    /// curl's `--resolve` and k6's `hosts`), for every connection of the run:
    /// `{ api.example.test: 127.0.0.1 }`, or a list tried with Happy Eyeballs.
    #[serde(default)]
    pub hosts: IndexMap<String, Sp<StringList>>,
    /// The user flows; users are shared among them by weight.
    pub scenarios: Sp<Vec<Scenario>>,
    /// Response headers to record per request name (numbers, and `Server-Timing` components).
    #[serde(default)]
    pub server_headers: Vec<Sp<String>>,
    /// Limits the run is judged against.
    #[serde(default)]
    pub targets: Option<Sp<Targets>>,
    /// How many failed requests to keep as samples (status, reason, body excerpt). Default 50.
    #[serde(default)]
    pub error_samples: Option<Sp<usize>>,
    /// The system under test: a process to launch or watch, metrics endpoints, health.
    #[serde(default)]
    pub sut: Option<Sp<Sut>>,
    /// A CPU profile of the SUT taken during the steady state.
    #[serde(default)]
    pub profile: Option<Sp<Profile>>,
    /// A server gander listens on for callbacks the SUT makes; `await:` steps wait for them.
    #[serde(default)]
    pub sink: Option<Sp<super::answers::Sink>>,
    /// The Telegram Bot API gander answers for the bot under test; `telegram:` steps
    /// post updates to its webhook and `reply:` waits for its answers.
    #[serde(default)]
    pub telegram: Option<Sp<super::answers::Telegram>>,
    /// Local addresses the users' connections leave from, shared out by user
    /// (as k6's `--local-ips`): one address has about 28,000 ports per
    /// destination, so 30,000 users of one server need two. For a loopback SUT
    /// any 127.x.y.z works; otherwise addresses this machine holds.
    #[serde(default)]
    pub source_addresses: Option<Sp<Vec<Sp<String>>>>,
    /// Send the W3C `baggage` header `gander.request=<name>,gander.scenario=<name>,
    /// gander.run=<id>` with every request to the file's host, so a SUT can label its
    /// profile's samples by request name (default true; `false` turns it off).
    #[serde(default)]
    pub baggage: Option<Sp<bool>>,
    /// A cost phase after the load: each request name driven alone for `each`, the
    /// SUT's CPU measured over exactly that window (`--cost` turns it on with the defaults).
    #[serde(default)]
    pub cost: Option<Sp<CostSweep>>,
}

/// The cost sweep: each request name driven alone after the load.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostSweep {
    /// How long each request name is driven alone while its CPU is read
    /// (default 5s); with a profiler set it is then profiled for half as
    /// long again (at least 2s), apart, so the profiler's cost is not counted.
    pub each: Option<Sp<Dur>>,
    /// Users driving it (default 2).
    pub users: Option<Sp<Count>>,
}

/// TLS settings for https:// and wss:// URLs. Files are PEM, relative to the scenario
/// file, and read when the file is checked.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Do not verify the server's certificate (a throwaway test against a self-signed
    /// server). The report warns that the run was not verified. `--insecure` sets it.
    pub insecure: Option<Sp<bool>>,
    /// A PEM file of CA certificates trusted besides the system's: a private CA, or a
    /// self-signed server's own certificate. `--ca` sets it.
    pub ca: Option<Sp<String>>,
    /// A PEM file with the client certificate (and its chain) for mutual TLS; needs
    /// `client_key`.
    pub client_cert: Option<Sp<String>>,
    /// The PEM private key of `client_cert` (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<Sp<String>>,
    /// The name the server's certificate must hold when it is not the host's, e.g. the
    /// host is an IP address and the certificate names `staging.example.com`.
    pub server_name: Option<Sp<String>>,
}

/// Where the SUT's CPU, memory and health come from, and how to start it.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sut {
    /// A command gander starts before the load and stops after it (argv, no shell;
    /// values may use `${env.NAME}` and variables). Its process tree is sampled and profiled.
    pub command: Option<Sp<Vec<Sp<String>>>>,
    /// Working directory for `command`, relative to the scenario file.
    pub cwd: Option<Sp<String>>,
    /// Extra environment variables for `command`.
    #[serde(default)]
    pub env: IndexMap<String, Sp<String>>,
    /// A URL (or a path on `host`) that answers 2xx once the launched SUT is ready.
    pub ready: Option<Sp<String>>,
    /// How long to wait for `ready` (default 60s).
    pub ready_timeout: Option<Sp<Dur>>,
    /// Watch a running process by pid (with its child processes).
    pub pid: Option<Sp<u32>>,
    /// Watch a running process by name (its executable name or first argument).
    pub process: Option<Sp<String>>,
    /// A Prometheus text endpoint: `process_cpu_seconds_total`,
    /// `process_resident_memory_bytes` and any series named in `series`.
    pub prometheus: Option<Sp<PrometheusSource>>,
    /// A JSON metrics endpoint read with JSON pointers (e.g. an admin metrics API).
    pub json: Option<Sp<JsonSource>>,
    /// A health endpoint polled during the run.
    pub health: Option<Sp<HealthCheck>>,
    /// How often to sample (default 1s).
    pub interval: Option<Sp<Dur>>,
}

/// A Prometheus text-format endpoint.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    /// URL, or a path on `host` (e.g. `/metrics`).
    pub url: Sp<String>,
    /// Request headers (e.g. authorization).
    #[serde(default)]
    pub headers: IndexMap<String, Sp<String>>,
    /// More series to record, by metric name (summed over labels).
    #[serde(default)]
    pub series: Vec<Sp<String>>,
}

/// A JSON endpoint whose values are read with JSON pointers.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonSource {
    /// URL, or a path on `host` (e.g. `/api/v1/admin/metrics`).
    pub url: Sp<String>,
    /// Request headers (e.g. `Authorization: Bearer ${env.TOKEN}`).
    #[serde(default)]
    pub headers: IndexMap<String, Sp<String>>,
    /// Pointer to the CPU use in percent, e.g. `/system/cpu_percent`.
    pub cpu: Option<Sp<String>>,
    /// Pointer to the memory use, e.g. `/system/memory_used_mb`.
    pub memory: Option<Sp<String>>,
    /// Unit of `memory`: `bytes`, `kb`, `kib`, `mb` (default) or `mib`, `gb`, `gib`.
    pub memory_unit: Option<Sp<String>>,
    /// More numbers to record: name -> pointer.
    #[serde(default)]
    pub series: IndexMap<String, Sp<String>>,
}

/// A health endpoint.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// URL, or a path on `host` (e.g. `/api/v1/health/detailed`).
    pub url: Sp<String>,
    #[serde(default)]
    pub headers: IndexMap<String, Sp<String>>,
    /// Pointer to a status word (`healthy`/`ok`/`up`, `degraded`, anything else is
    /// `error`). Default `/status`; without one, any 2xx is healthy.
    pub status: Option<Sp<String>>,
}

/// Which profiler to run. Give exactly one of `pprof`, `py-spy`, `perf`, `command`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// A pprof endpoint (Go `net/http/pprof` contract): URL or path on `host`,
    /// e.g. `/debug/pprof/profile`. `?seconds=N` is added.
    pub pprof: Option<Sp<String>>,
    /// py-spy on the SUT process (and its subprocesses).
    #[serde(rename = "py-spy")]
    pub py_spy: Option<Sp<PySpyOptions>>,
    /// Linux perf on the SUT process.
    pub perf: Option<Sp<PerfOptions>>,
    /// Any profiler, as an argv template: `{pid}`, `{seconds}` and `{out}` are
    /// replaced (no shell). It must write folded stacks or a pprof file to `{out}`.
    pub command: Option<Sp<Vec<Sp<String>>>>,
    /// What `command` writes: `folded` (default) or `pprof`.
    pub format: Option<Sp<String>>,
    /// Profile length; default: the steady state minus a margin.
    pub seconds: Option<Sp<Dur>>,
    /// Sampling frequency in Hz (default: fast enough for about 1,000 samples in the
    /// window, 100 to 1000 Hz; pprof servers choose their own).
    pub rate: Option<Sp<u32>>,
    /// Give up on the profiler this long after the profile should have ended (default 10s).
    pub grace: Option<Sp<Dur>>,
    /// Fail the run when no profile could be taken (default false: the report says why).
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PySpyOptions {
    /// Also profile child processes (Gunicorn/uvicorn workers). Default true.
    pub subprocesses: Option<bool>,
    /// Include native (C/Rust) frames. Default false.
    #[serde(default)]
    pub native: bool,
    /// Pause the SUT's threads while each sample is read (py-spy's own
    /// default). Default false (`--nonblocking`): the pauses cost the SUT CPU
    /// in proportion to how long its requests take, which the CPU per
    /// request would count as the SUT's.
    #[serde(default)]
    pub blocking: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerfOptions {
    /// `fp` (frame pointers, default) or `dwarf` (for binaries built without frame pointers).
    pub call_graph: Option<Sp<String>>,
}

/// The load to apply: a closed model (`users`, each waiting for its previous
/// response) or an open model (`rate`: iterations start on a schedule whatever
/// the SUT does), either held flat or shaped by `stages`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Closed model: number of concurrent simulated users.
    #[serde(default)]
    pub users: Option<Sp<Count>>,
    /// Open model: iterations started per second, e.g. `40/s`. Each iteration's first
    /// request is timed from its intended start (wrk2's method), so a stall shows in the tail.
    #[serde(default)]
    pub rate: Option<Sp<Rate>>,
    /// Open model: the most users that may be running iterations at once (default:
    /// enough for the peak rate with 1 s responses, at least 10).
    #[serde(default)]
    pub max_users: Option<Sp<Count>>,
    /// Time over which users (or the rate) rise from zero; default 0 (all at once).
    #[serde(default)]
    pub ramp_up: Option<Sp<Dur>>,
    /// How long to hold the full load after ramp-up. Give this, `iterations` or `stages`.
    #[serde(default)]
    pub duration: Option<Sp<Dur>>,
    /// Closed model: how many times each user runs its scenario's steps.
    #[serde(default)]
    pub iterations: Option<Sp<Count>>,
    /// Steps of the load, each moving linearly from the previous level to its own over
    /// its duration (like k6 stages): warm-up, plateau, spike, recovery...
    #[serde(default)]
    pub stages: Option<Sp<Vec<Sp<Stage>>>>,
    /// The stage whose window is the steady state targets are judged on (default: the
    /// longest stage that holds its level).
    #[serde(default)]
    pub steady: Option<Sp<String>>,
    /// Open model: the share of iterations that may start late (no free user) or not at
    /// all before the run is invalid (exit 3). Default 1%.
    #[serde(default)]
    pub max_late: Option<Sp<Percent>>,
}

/// One step of a staged load.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// A name to refer to the stage by, e.g. in `load.steady`.
    #[serde(default)]
    pub name: Option<Sp<String>>,
    /// How long the stage lasts (0s jumps to its level at once).
    pub duration: Sp<Dur>,
    /// Closed model: the users at the end of the stage.
    #[serde(default)]
    pub users: Option<Sp<Count>>,
    /// Open model: the arrival rate at the end of the stage, e.g. `100/s`.
    #[serde(default)]
    pub rate: Option<Sp<Rate>>,
}

/// A CSV data feeder.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Feeder {
    /// Path to a CSV file with a header row, relative to the scenario file.
    pub csv: Sp<String>,
    /// Which row a user gets: the next one (`cycle`, default), a `random` one, or a
    /// `unique` one (an error when the rows run out).
    #[serde(default)]
    pub mode: FeederMode,
    /// When a user takes a row: once at start (`user`, default) or every `iteration`.
    #[serde(default)]
    pub per: FeederPer,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeederMode {
    #[default]
    Cycle,
    Random,
    Unique,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeederPer {
    #[default]
    User,
    Iteration,
}

/// Settings shared by every request.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Headers sent with every request (a step's own headers win).
    #[serde(default)]
    pub headers: IndexMap<String, Sp<String>>,
    /// Request timeout (default 30s).
    pub timeout: Option<Sp<Dur>>,
    /// How long opening a connection may take: name resolution, TCP, a
    /// proxy's tunnel and TLS (default 10s). Every sender of the run uses it.
    pub connect_timeout: Option<Sp<Dur>>,
    /// Follow redirects (default true, up to 10 hops); `false` keeps the 3xx
    /// answer itself so its status and `Location` can be checked.
    pub follow_redirects: Option<Sp<bool>>,
    /// Largest response body read, decoded (default 8MiB, at most 1GiB); a
    /// longer body fails the request and the rest is not read.
    pub max_body: Option<Sp<Bytes>>,
}

/// One user flow.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique name of the scenario.
    pub name: Sp<String>,
    /// Share of users relative to other scenarios (default 1).
    #[serde(default)]
    pub weight: Option<Sp<Count>>,
    /// Pause after each step: `1s` or a range `1s..3s`.
    #[serde(default)]
    pub think_time: Option<Sp<ThinkTime>>,
    /// Steps run once when a user starts (e.g. login).
    #[serde(default)]
    pub on_start: Vec<Sp<Step>>,
    /// Steps run in order, over and over, for the duration or the iterations.
    #[serde(default)]
    pub steps: Sp<Vec<Sp<Step>>>,
    /// Steps run once when a user stops (e.g. logout).
    #[serde(default)]
    pub on_stop: Vec<Sp<Step>>,
}

impl<T: Default> Default for Sp<T> {
    fn default() -> Self {
        Sp::new(T::default(), Default::default())
    }
}

/// One HTTP request, one WebSocket, one wait or one stream. Give exactly one of `get`,
/// `post`, `put`, `patch`, `delete`, `head`, `ws`, `await`, `telegram`, `sse`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Name of the request in results; default: method and path template (`GET /bookings/${id}`).
    /// A `ws` step names three kinds of rows: `NAME connect` (the handshake), one per
    /// message with an `expect` (the round trip), and `NAME` (each socket, counted when it ends).
    pub name: Option<Sp<String>>,
    pub get: Option<Sp<String>>,
    pub post: Option<Sp<String>>,
    pub put: Option<Sp<String>>,
    pub patch: Option<Sp<String>>,
    pub delete: Option<Sp<String>>,
    pub head: Option<Sp<String>>,
    /// A WebSocket: a `ws://` or `wss://` URL, or a path on `host` (an http host gives
    /// ws://, an https host wss://). `headers` go with the handshake.
    pub ws: Option<Sp<String>>,
    /// WebSocket: messages to send and answers to wait for, in order.
    #[serde(default)]
    pub messages: Vec<Sp<WsMessage>>,
    /// WebSocket: keep the socket open this long after its messages, counting what
    /// arrives, then close it (the user waits).
    pub hold: Option<Sp<Dur>>,
    /// WebSocket: keep the socket open in the background while the user goes on with
    /// its steps, counting what arrives, until the user stops. In `steps`, a socket
    /// still open is kept and one that dropped is opened again at the step's next turn.
    pub background: Option<Sp<bool>>,
    /// Request headers; values may use `${...}`.
    #[serde(default)]
    pub headers: IndexMap<String, Sp<String>>,
    /// A JSON body; string values may use `${...}`.
    pub json: Option<Sp<serde_json::Value>>,
    /// A form body (`application/x-www-form-urlencoded`).
    pub form: Option<Sp<IndexMap<String, Sp<String>>>>,
    /// A raw body; set `Content-Type` in `headers`.
    pub body: Option<Sp<String>>,
    /// Timeout for this request.
    pub timeout: Option<Sp<Dur>>,
    /// Follow redirects for this request (default: `defaults.follow_redirects`, true).
    pub follow_redirects: Option<Sp<bool>>,
    /// Largest response body read for this request (default: `defaults.max_body`, 8MiB).
    pub max_body: Option<Sp<Bytes>>,
    /// What the response must look like; anything else is a failed request.
    pub expect: Option<Expect>,
    /// Values to keep from the response for later steps, as `${name}`.
    #[serde(default)]
    pub capture: IndexMap<String, Sp<Capture>>,
    /// Wait for a callback to the `sink` on this path (instead of a request).
    #[serde(rename = "await")]
    pub await_: Option<Sp<super::answers::Await>>,
    /// Post a Telegram update to the bot's webhook as this user (instead of a request).
    pub telegram: Option<Sp<super::answers::TelegramUpdate>>,
    /// With `telegram`: wait for the bot's answer in this user's chat.
    pub reply: Option<Sp<super::answers::Reply>>,
    /// Read a server-sent event stream: a URL or a path on `host`.
    pub sse: Option<Sp<String>>,
    /// With `sse`: when the stream is read to.
    pub until: Option<Sp<super::answers::SseUntil>>,
}

/// One WebSocket message to send, or an answer to wait for, or both.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WsMessage {
    /// Name of the round trip in results; default: the step's name and the message's
    /// number (`notifications message 1`). Only a message with `expect` has one.
    pub name: Option<Sp<String>>,
    /// A text message; may use `${...}`.
    pub send: Option<Sp<String>>,
    /// A JSON message (sent as text); string values may use `${...}`.
    pub json: Option<Sp<serde_json::Value>>,
    /// Wait for a message that matches (others arriving meanwhile are counted and
    /// passed over); the time from sending is the round trip.
    pub expect: Option<Sp<WsExpect>>,
    /// Values to keep from the matching message, as `${name}`: `json:` or `regex:`.
    #[serde(default)]
    pub capture: IndexMap<String, Sp<Capture>>,
}

/// What a received WebSocket message must look like.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WsExpect {
    /// Text the message must contain (one string or a list).
    #[serde(default)]
    pub contains: Option<Sp<StringList>>,
    /// JSON pointer checks on a JSON message.
    #[serde(default)]
    pub json: Vec<Sp<JsonExpect>>,
    /// How long to wait for it (default: the step's timeout).
    pub within: Option<Sp<Dur>>,
}

/// Checks on a response.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Allowed status codes. Default: any status below 400.
    pub status: Option<Sp<StatusSet>>,
    /// Text the body must contain (one string or a list).
    #[serde(default)]
    pub body_contains: Option<Sp<StringList>>,
    /// JSON pointer checks on a JSON body.
    #[serde(default)]
    pub json: Vec<Sp<JsonExpect>>,
    /// Response headers that must be present.
    #[serde(default)]
    pub headers: Vec<Sp<String>>,
}

/// A check on one JSON pointer (`/data/0/id`) of the response body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonExpect {
    /// RFC 6901 JSON pointer, e.g. `/token` or `/items/0/id`.
    pub pointer: String,
    /// The value must equal this.
    pub equals: Option<serde_json::Value>,
    /// The value must exist (`true`) or must not (`false`).
    pub exists: Option<bool>,
}

/// Where a captured value comes from.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Capture {
    /// A JSON pointer into the body (`/token`).
    Json(String),
    /// A response header.
    Header(String),
    /// A regular expression over the body; group 1 if it has one, else the whole match.
    Regex(String),
    /// A cookie set by the response (`Set-Cookie`).
    Cookie(String),
}

/// Limits for the run. Latency limits are upper bounds; `throughput` and
/// `success_rate` are lower bounds. Judged on the steady state unless `window` says otherwise.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    pub p50: Option<Sp<Dur>>,
    pub p90: Option<Sp<Dur>>,
    pub p95: Option<Sp<Dur>>,
    pub p99: Option<Sp<Dur>>,
    #[serde(rename = "p99.9")]
    pub p99_9: Option<Sp<Dur>>,
    pub max: Option<Sp<Dur>>,
    pub mean: Option<Sp<Dur>>,
    /// Highest share of failed requests, e.g. `1%`.
    pub error_rate: Option<Sp<Percent>>,
    /// Lowest share of successful requests, e.g. `99%`.
    pub success_rate: Option<Sp<Percent>>,
    /// Lowest requests per second, e.g. `30/s`.
    pub throughput: Option<Sp<Rate>>,
    /// Most CPU time the SUT may spend per request, e.g. `2ms` (overall, or per
    /// request name by labels or the sweep; see docs/cost.md).
    pub cpu_per_request: Option<Sp<Dur>>,
    /// Limits on how many requests may be slower than a time, e.g.
    /// `[{ over: 3s, max: 10 }]` (seed 002: "response > 3 s for 10+ requests").
    #[serde(default)]
    pub slow_requests: Vec<Sp<SlowRequests>>,
    /// The share of cache hits among the hits and misses the SUT reports in headers.
    pub cache_hit_ratio: Option<Sp<CacheHitRatio>>,
    /// Judge these targets on `steady` (the default) or on the `whole_run`.
    pub window: Option<Sp<TargetWindow>>,
    /// Longest the whole test may take, ramp-up included, e.g. `5m` (top level only).
    pub duration: Option<Sp<Dur>>,
    /// How many request names may have a statistic over a time (top level only), e.g.
    /// `{ over: 500ms, stat: p95, max: 0 }` (seed 004's slow endpoints).
    pub slow_endpoints: Option<Sp<SlowEndpoints>>,
    /// Limits on the SUT's resources and health, over the steady state (top level only).
    pub sut: Option<Sp<SutLimits>>,
    /// How much worse than the baseline (`--baseline`) a run may be: `20%` for the
    /// default set of figures, or one limit per figure (top level only).
    pub regression: Option<Sp<Regression>>,
    /// What a target without data (no SUT metrics, no profile, no such header) counts as:
    /// `fail` (the default) or `warn`.
    pub no_data: Option<Sp<Policy>>,
    /// What a regression check drowned in noise counts as: `warn` (the default) or `fail`.
    pub inconclusive: Option<Sp<Policy>>,
    /// Limits on server headers listed in `server_headers`, e.g. `X-SQL-Queries: { max: 20 }`;
    /// a Server-Timing component is named `Server-Timing db`.
    #[serde(default)]
    pub server: IndexMap<String, Sp<HeaderLimits>>,
    /// The same limits per request name.
    #[serde(default)]
    pub endpoints: IndexMap<String, Sp<Targets>>,
    /// The same limits per scenario (all requests its users made).
    #[serde(default)]
    pub scenarios: IndexMap<String, Sp<Targets>>,
}

/// Which part of the run a target is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetWindow {
    Steady,
    WholeRun,
}

/// Whether an undecided target fails the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    Fail,
    Warn,
}

/// At most `max` requests slower than `over`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowRequests {
    pub over: Sp<Dur>,
    pub max: u64,
}

/// At most `max` request names whose `stat` (default `p95`) is over `over`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowEndpoints {
    pub over: Sp<Dur>,
    #[serde(default)]
    pub stat: Option<Sp<String>>,
    #[serde(default)]
    pub max: u64,
}

/// `hits / (hits + misses)`, summed over requests, at least `min`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheHitRatio {
    /// The header counting hits, e.g. `X-Cache-Hits`.
    pub hits: Sp<String>,
    /// The header counting misses, e.g. `X-Cache-Misses`.
    pub misses: Sp<String>,
    pub min: Sp<Percent>,
}

/// `regression: 20%`, or one limit per figure.
#[derive(Debug, JsonSchema)]
#[schemars(untagged)]
pub enum Regression {
    All(Percent),
    Each(RegressionLimits),
}

/// How much worse than the baseline each figure may be, in percent of the baseline.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegressionLimits {
    pub p50: Option<Percent>,
    pub p95: Option<Percent>,
    pub p99: Option<Percent>,
    /// A drop in requests per second.
    pub throughput: Option<Percent>,
    /// A rise in the error rate, in percentage points: `1%` lets 0.5 % become 1.5 %.
    pub error_rate: Option<Percent>,
    /// A rise in the SUT's average CPU.
    pub cpu: Option<Percent>,
    /// A rise in the SUT's CPU time per request (overall, and per request name
    /// when both runs measured it by the same method).
    pub cpu_per_request: Option<Percent>,
    /// A rise in the SUT's highest memory.
    pub memory: Option<Percent>,
    /// A rise in the mean of each server header.
    pub server: Option<Percent>,
    /// Changes in latency smaller than this are never a regression (default 1ms).
    pub min_latency: Option<Sp<Dur>>,
    /// How much a figure moves between runs of identical code, assumed when a
    /// single baseline run cannot show it (default: measured per kind of figure).
    pub run_to_run: Option<Percent>,
}

impl<'de> Deserialize<'de> for Regression {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Regression;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a percentage such as \"20%\", or a map such as { p95: 20%, throughput: 10% }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Regression, E> {
                Percent::deserialize(de::value::StrDeserializer::<E>::new(v)).map(Regression::All)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Regression, A::Error> {
                RegressionLimits::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Regression::Each)
            }
        }
        d.deserialize_any(V)
    }
}

/// Upper limits on a server header's values: counts as numbers (`max: 20`),
/// times as durations (`p95: 50ms`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderLimits {
    pub mean: Option<Sp<HeaderLimit>>,
    pub p50: Option<Sp<HeaderLimit>>,
    pub p95: Option<Sp<HeaderLimit>>,
    pub p99: Option<Sp<HeaderLimit>>,
    pub max: Option<Sp<HeaderLimit>>,
}

/// Upper limits on the SUT's resources over the steady state, and its health.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SutLimits {
    /// Highest resident memory, e.g. `512MiB`.
    pub memory: Option<Sp<Bytes>>,
    /// Highest average CPU, in percent of one core (`60%`, `180%` for a SUT with
    /// workers) or of the machine (`60% of machine`).
    pub cpu: Option<Sp<CpuLimit>>,
    /// Highest 95th percentile of the CPU samples, e.g. `80%`.
    pub cpu_p95: Option<Sp<CpuLimit>>,
    /// `never_error`: no health poll answered `error` or failed; `always_healthy`: every
    /// poll answered `healthy`.
    pub health: Option<Sp<HealthLimit>>,
}

/// What the health endpoint may report during the steady state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthLimit {
    NeverError,
    AlwaysHealthy,
}
