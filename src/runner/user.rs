//! What one simulated user does for one step: render the request from its
//! own state, send it through goose, read the whole body, check and capture,
//! and report one `Sample` to the recorder.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::goose::{GooseMethod, GooseRequest, GooseUser, TransactionResult};
use rand::Rng;
use reqwest::header::HeaderMap;

use crate::clock::RunClock;
use crate::runner::sample::{BODY_EXCERPT, SampleSender};
use crate::runner::sample::{
    Failure, HeaderMetric, HeaderValue, Sample, parse_numeric_header, parse_server_timing,
};
use crate::scenario::RunPlan;
use crate::scenario::model::FeederPer;
use crate::scenario::plan::{BodyPlan, CaptureSource, JsonTemplate, Method, RequestPlan};
use crate::scenario::template::{RenderContext, RenderError};

/// Shared by every transaction of every user.
pub struct RunShared {
    pub plan: Arc<RunPlan>,
    pub samples: SampleSender,
    pub clock: Arc<RunClock>,
    /// Open model: each scenario's schedule of iterations (empty for the closed model).
    pub arrivals: Vec<Arc<super::Arrivals>>,
}

/// Reports the user's stop when goose drops the user (and its session data).
struct StopGuard(Arc<RunClock>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.user_stopped();
    }
}

/// One user's own state, kept in goose's session data.
#[derive(Clone)]
pub struct UserState {
    index: usize,
    iteration: u64,
    started_iterations: bool,
    vars: Vec<Option<String>>,
    rows: Vec<Option<usize>>,
    plan: Arc<RunPlan>,
    pacing: super::pacing::Pacing,
    clients: Clients,
    /// Open model: when the current iteration was due.
    intended: Option<Instant>,
    /// Open model: the schedule is over; the remaining steps do nothing.
    idle: bool,
    _stop: Arc<StopGuard>,
}

impl UserState {
    fn take_rows(&mut self, per: FeederPer) {
        for (i, feeder) in self.plan.feeders.iter().enumerate() {
            if feeder.per == per {
                self.rows[i] = feeder.take(|len| rand::rng().random_range(0..len));
            }
        }
    }
}

impl RenderContext for UserState {
    fn var(&self, slot: usize) -> Result<&str, RenderError> {
        self.vars
            .get(slot)
            .and_then(|v| v.as_deref())
            .ok_or_else(|| {
                RenderError::Unset(self.plan.variables.get(slot).cloned().unwrap_or_default())
            })
    }
    fn feed(&mut self, feeder: usize, column: usize) -> Result<&str, RenderError> {
        match self.rows.get(feeder).copied().flatten() {
            Some(row) => Ok(self.plan.feeders[feeder].cell(row, column)),
            None => Err(RenderError::FeederExhausted(
                self.plan
                    .feeders
                    .get(feeder)
                    .map(|f| f.name.clone())
                    .unwrap_or_default(),
            )),
        }
    }
    fn user_index(&self) -> usize {
        self.index
    }
    fn iteration(&self) -> u64 {
        self.iteration
    }
    fn random_range(&mut self, lo: i64, hi: i64) -> i64 {
        if lo >= hi {
            lo
        } else {
            rand::rng().random_range(lo..=hi)
        }
    }
}

/// The User-Agent gander sends unless a step or `defaults.headers` sets one.
pub const USER_AGENT: &str = concat!("gander/", env!("CARGO_PKG_VERSION"));

/// A user's second HTTP client, for steps that keep a redirect's answer, and
/// the cookie jar it shares with the user's goose client: a cookie set on any
/// hop of a redirect is the user's, and `capture: { cookie }` finds it.
#[derive(Clone)]
struct Clients {
    no_follow: Option<reqwest::Client>,
    jar: Arc<reqwest::cookie::Jar>,
}

impl Clients {
    fn new() -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        // A builder that fails here fails for the goose client too, which is reported.
        let no_follow = client_builder(&jar, false).build().ok();
        Clients { no_follow, jar }
    }
}

/// Gzip (goose's default) and a cookie jar; redirects followed up to 10 hops, or not.
fn client_builder(jar: &Arc<reqwest::cookie::Jar>, follow: bool) -> reqwest::ClientBuilder {
    let redirects = if follow {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .gzip(true)
        .cookie_provider(jar.clone())
        .redirect(redirects)
}

/// The first transaction of every user: set up its state and count it as started.
pub async fn start_user(
    user: &mut GooseUser,
    shared: &RunShared,
    scenario: usize,
) -> TransactionResult {
    let plan = shared.plan.clone();
    let clients = Clients::new();
    user.set_client_builder(client_builder(&clients.jar, true))
        .await
        .map_err(Box::new)?;
    let mut state = UserState {
        index: user.weighted_users_index,
        iteration: 0,
        started_iterations: false,
        vars: vec![None; plan.variables.len()],
        rows: vec![None; plan.feeders.len()],
        plan,
        pacing: Default::default(),
        clients,
        intended: None,
        idle: false,
        _stop: Arc::new(StopGuard(shared.clock.clone())),
    };
    state.take_rows(FeederPer::User);
    user.set_session_data(state);
    shared.clock.user_started(scenario);
    Ok(())
}

/// Where in the scenario a step sits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    OnStart,
    /// The first of the repeated steps: a new iteration begins.
    FirstStep,
    Step,
    /// The last of the repeated steps: the iteration ends after it.
    LastStep,
    /// The only repeated step: first and last.
    OnlyStep,
    OnStop,
}

impl StepKind {
    fn begins_iteration(self) -> bool {
        matches!(self, StepKind::FirstStep | StepKind::OnlyStep)
    }
    fn ends_iteration(self) -> bool {
        matches!(self, StepKind::LastStep | StepKind::OnlyStep)
    }
    fn repeated(self) -> bool {
        !matches!(self, StepKind::OnStart | StepKind::OnStop)
    }
}

/// The request as rendered for this user.
struct Rendered {
    url: String,
    headers: Vec<(reqwest::header::HeaderName, String)>,
    body: Body,
}

enum Body {
    None,
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
    Raw(String),
}

pub async fn run_step(
    user: &mut GooseUser,
    shared: &RunShared,
    step: &RequestPlan,
    kind: StepKind,
) -> TransactionResult {
    let arrivals = shared
        .arrivals
        .get(step.scenario)
        .filter(|_| kind.repeated());
    if kind.begins_iteration()
        && let Some(arrivals) = arrivals
    {
        let ticket = arrivals.next().await;
        let Some(state) = user.get_session_data_mut::<UserState>() else {
            return Ok(());
        };
        state.intended = ticket.map(|t| t.intended);
        state.idle = ticket.is_none();
        if ticket.is_none() {
            // The schedule is over and goose is stopping its users, which it can
            // only do between transactions: return now and then, without spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Ok(());
        }
    }
    let closed = shared.arrivals.is_empty();
    let (rendered, measure_from, pace) = {
        let Some(state) = user.get_session_data_mut::<UserState>() else {
            return Ok(());
        };
        if state.idle && arrivals.is_some() {
            return Ok(());
        }
        if kind.begins_iteration() {
            if state.started_iterations {
                state.iteration += 1;
            }
            state.started_iterations = true;
            state.take_rows(FeederPer::Iteration);
        }
        // The open model times an iteration's first request from when it was due.
        let measure_from = state.intended.take();
        let pace = (closed && kind.repeated())
            .then(|| state.pacing.sent(step.endpoint, Instant::now()))
            .flatten();
        (render(step, state), measure_from, pace)
    };
    let sample = match rendered {
        Ok(r) => send(user, shared, step, r, measure_from).await,
        Err(e) => not_sent(
            step,
            measure_from.unwrap_or_else(Instant::now),
            e.to_string(),
        ),
    };
    if let Some(state) = user.get_session_data_mut::<UserState>() {
        state.pacing.answered(step.endpoint, sample.latency, pace);
    }
    shared.samples.send(Sample { pace, ..sample });
    if let Some(arrivals) = arrivals {
        if kind.ends_iteration() {
            arrivals.finished_iteration();
        } else if let Some(think) = think_time(shared, step) {
            tokio::time::sleep(think).await;
        }
    }
    Ok(())
}

/// A draw from the step's scenario's think time.
fn think_time(shared: &RunShared, step: &RequestPlan) -> Option<Duration> {
    let (min, max) = shared.plan.scenarios.get(step.scenario)?.think_time?;
    (!max.is_zero()).then(|| {
        Duration::from_secs_f64(rand::rng().random_range(min.as_secs_f64()..=max.as_secs_f64()))
    })
}

/// A sample of `step` started at `started`, before anything is known of its answer.
fn blank_sample(step: &RequestPlan, started: Instant) -> Sample {
    Sample {
        endpoint: step.endpoint as u32,
        scenario: step.scenario as u32,
        started,
        pace: None,
        latency: None,
        status: 0,
        bytes: 0,
        failure: None,
        headers: Vec::new(),
    }
}

fn not_sent(step: &RequestPlan, started: Instant, reason: String) -> Sample {
    Sample {
        failure: Some(Box::new(Failure {
            reason: format!("not sent: {reason}"),
            ..Failure::default()
        })),
        ..blank_sample(step, started)
    }
}

fn render(step: &RequestPlan, state: &mut UserState) -> Result<Rendered, RenderError> {
    let url = step.url.render_string(state)?;
    let mut headers = Vec::with_capacity(step.headers.len());
    for (name, value) in &step.headers {
        headers.push((name.clone(), value.render_string(state)?));
    }
    let body = match &step.body {
        BodyPlan::None => Body::None,
        BodyPlan::Json(t) => Body::Json(render_json(t, state)?),
        BodyPlan::Form(fields) => {
            let mut out = Vec::with_capacity(fields.len());
            for (k, v) in fields {
                out.push((k.clone(), v.render_string(state)?));
            }
            Body::Form(out)
        }
        BodyPlan::Raw(t) => Body::Raw(t.render_string(state)?),
    };
    Ok(Rendered { url, headers, body })
}

fn render_json(t: &JsonTemplate, state: &mut UserState) -> Result<serde_json::Value, RenderError> {
    use serde_json::Value;
    Ok(match t {
        JsonTemplate::Constant(v) => v.clone(),
        JsonTemplate::String(t) => Value::String(t.render_string(state)?),
        JsonTemplate::Number(t) => {
            let text = t.render_string(state)?;
            serde_json::from_str::<serde_json::Number>(&text)
                .map(Value::Number)
                .unwrap_or(Value::String(text))
        }
        JsonTemplate::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(render_json(item, state)?);
            }
            Value::Array(out)
        }
        JsonTemplate::Object(fields) => {
            let mut out = serde_json::Map::with_capacity(fields.len());
            for (k, v) in fields {
                out.insert(k.clone(), render_json(v, state)?);
            }
            Value::Object(out)
        }
    })
}

/// The value of `name=value` when the name is `name`.
fn cookie_value(pair: &str, name: &str) -> Option<String> {
    let (k, v) = pair.split_once('=')?;
    (k.trim() == name).then(|| v.trim().to_string())
}

/// A request for `url` from the user's goose client (which follows redirects), or
/// from its client that does not.
fn request_builder(
    user: &GooseUser,
    step: &RequestPlan,
    url: &str,
) -> Result<reqwest::RequestBuilder, String> {
    if step.follow_redirects {
        return user
            .get_request_builder(&goose_method(step.method), url)
            .map_err(|e| e.to_string());
    }
    let url = user.build_url(url).map_err(|e| e.to_string())?;
    let client = user
        .get_session_data::<UserState>()
        .and_then(|s| s.clients.no_follow.as_ref())
        .ok_or("no HTTP client that keeps redirects")?;
    Ok(client.request(reqwest_method(step.method), url))
}

fn reqwest_method(m: Method) -> reqwest::Method {
    match m {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
        Method::Head => reqwest::Method::HEAD,
    }
}

fn goose_method(m: Method) -> GooseMethod {
    match m {
        Method::Get => GooseMethod::Get,
        Method::Post => GooseMethod::Post,
        Method::Put => GooseMethod::Put,
        Method::Patch => GooseMethod::Patch,
        Method::Delete => GooseMethod::Delete,
        Method::Head => GooseMethod::Head,
    }
}

async fn send(
    user: &mut GooseUser,
    shared: &RunShared,
    step: &RequestPlan,
    r: Rendered,
    measure_from: Option<Instant>,
) -> Sample {
    let endpoint_name = &shared.plan.endpoints[step.endpoint].name;
    let started = measure_from.unwrap_or_else(Instant::now);
    let mut sample = blank_sample(step, started);
    let builder = match request_builder(user, step, &r.url) {
        Ok(b) => b,
        Err(e) => {
            let url = shared.plan.secrets.url(&r.url);
            return not_sent(step, started, format!("bad URL \"{url}\": {e}"));
        }
    };
    let mut builder = builder.timeout(step.timeout);
    for (name, value) in r.headers {
        builder = builder.header(name, value);
    }
    builder = match r.body {
        Body::None => builder,
        Body::Json(v) => builder.json(&v),
        Body::Form(fields) => builder.form(&fields),
        Body::Raw(text) => builder.body(text),
    };
    let started = measure_from.unwrap_or_else(Instant::now);
    sample.started = started;
    // goose sends with the user's own (redirect-following) client whatever the
    // builder's: a step that keeps redirects is sent by its builder's client.
    let response = if step.follow_redirects {
        let request = GooseRequest::builder()
            .name(endpoint_name.as_str())
            .set_request_builder(builder)
            .build();
        user.request(request)
            .await
            .map(|goose_response| goose_response.response)
            .map_err(|e| e.to_string())
    } else {
        Ok(builder.send().await)
    };
    let response = match response {
        Ok(response) => response,
        Err(e) => {
            sample.latency = Some(started.elapsed());
            sample.failure = Some(Box::new(Failure {
                reason: format!("request error: {e}"),
                ..Failure::default()
            }));
            return sample;
        }
    };
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            sample.latency = Some(started.elapsed());
            sample.failure = Some(Box::new(Failure {
                reason: transport_reason(&e, step),
                body: None,
                unreached: e.is_connect(),
            }));
            return sample;
        }
    };
    let status = response.status().as_u16();
    // The jar's cookies for the final URL, read only when a step captures one.
    let jar_cookies = step
        .captures
        .iter()
        .any(|c| matches!(c.source, CaptureSource::Cookie(_)))
        .then(|| {
            let jar = &user.get_session_data::<UserState>()?.clients.jar;
            reqwest::cookie::CookieStore::cookies(jar.as_ref(), response.url())
        })
        .flatten();
    // Taken, not cloned: the body no longer needs them once the response exists.
    let headers = std::mem::take(response.headers_mut());
    let body = response.bytes().await;
    sample.latency = Some(started.elapsed());
    sample.status = status;
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            sample.failure = Some(Box::new(Failure {
                reason: format!("body not read: {}", transport_reason(&e, step)),
                ..Failure::default()
            }));
            return sample;
        }
    };
    sample.bytes = body.len() as u64;
    sample.headers = server_headers(&shared.plan, &headers);

    let mut json_cache: Option<Option<serde_json::Value>> = None;
    let failure = check(step, status, &headers, &body, &mut json_cache)
        .err()
        .or_else(|| {
            let state = user.get_session_data_mut::<UserState>()?;
            let cookies = jar_cookies.as_ref().and_then(|c| c.to_str().ok());
            capture(step, &headers, &body, cookies, &mut json_cache, state).err()
        });
    if let Some(reason) = failure {
        let excerpt = String::from_utf8_lossy(&body[..body.len().min(BODY_EXCERPT)]).into_owned();
        sample.failure = Some(Box::new(Failure {
            reason,
            body: (!excerpt.is_empty()).then_some(excerpt),
            unreached: false,
        }));
    }
    sample
}

/// A short reason that groups well: no URLs, the root cause only.
fn transport_reason(e: &reqwest::Error, step: &RequestPlan) -> String {
    if e.is_timeout() {
        return format!(
            "timeout after {}",
            crate::scenario::units::format_duration(step.timeout)
        );
    }
    let mut root: &dyn std::error::Error = e;
    while let Some(source) = root.source() {
        root = source;
    }
    let kind = if e.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    format!("{kind}: {root}")
}

fn parse_json<'a>(
    body: &[u8],
    cache: &'a mut Option<Option<serde_json::Value>>,
) -> Option<&'a serde_json::Value> {
    cache
        .get_or_insert_with(|| serde_json::from_slice(body).ok())
        .as_ref()
}

/// Checks the response against the step's expectations; `Err` is the reason it failed.
fn check(
    step: &RequestPlan,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    json: &mut Option<Option<serde_json::Value>>,
) -> Result<(), String> {
    let e = &step.expect;
    match &e.status {
        Some(allowed) if !allowed.contains(&status) => {
            let allowed: Vec<String> = allowed.iter().map(u16::to_string).collect();
            return Err(format!(
                "expected status {}, got {status}",
                allowed.join(" or ")
            ));
        }
        None if status >= 400 => return Err(format!("HTTP {status}")),
        _ => {}
    }
    for name in &e.headers {
        if !headers.contains_key(name) {
            return Err(format!("header {name} missing"));
        }
    }
    if !e.body_contains.is_empty() {
        let text = String::from_utf8_lossy(body);
        for needle in &e.body_contains {
            if !text.contains(needle.as_str()) {
                return Err(format!("body does not contain \"{needle}\""));
            }
        }
    }
    if !e.json.is_empty() {
        let Some(doc) = parse_json(body, json) else {
            return Err("body is not JSON".into());
        };
        for c in &e.json {
            let found = doc.pointer(&c.pointer);
            if let Some(exists) = c.exists
                && found.is_some() != exists
            {
                let what = if exists { "missing" } else { "present" };
                return Err(format!("JSON {} {what}", c.pointer));
            }
            if let Some(expected) = &c.equals {
                match found {
                    Some(v) if v == expected => {}
                    Some(v) => {
                        return Err(format!("JSON {} is {v}, expected {expected}", c.pointer));
                    }
                    None => return Err(format!("JSON {} missing", c.pointer)),
                }
            }
        }
    }
    Ok(())
}

/// Stores captured values in the user's variables; `Err` names the first that failed.
fn capture(
    step: &RequestPlan,
    headers: &HeaderMap,
    body: &[u8],
    jar_cookies: Option<&str>,
    json: &mut Option<Option<serde_json::Value>>,
    state: &mut UserState,
) -> Result<(), String> {
    for c in &step.captures {
        let value = match &c.source {
            CaptureSource::Json(pointer) => parse_json(body, json)
                .and_then(|doc| doc.pointer(pointer))
                .and_then(|v| match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                }),
            CaptureSource::Header(name) => headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            CaptureSource::Regex(re) => {
                let text = String::from_utf8_lossy(body);
                re.captures(&text)
                    .and_then(|caps| caps.get(1).or_else(|| caps.get(0)))
                    .map(|m| m.as_str().to_string())
            }
            // Set on this answer, or on a redirect hop before it (in the jar).
            CaptureSource::Cookie(name) => headers
                .get_all(reqwest::header::SET_COOKIE)
                .iter()
                .find_map(|v| cookie_value(v.to_str().ok()?.split(';').next()?, name))
                .or_else(|| {
                    jar_cookies?
                        .split(';')
                        .find_map(|pair| cookie_value(pair, name))
                }),
        };
        match value {
            Some(v) => state.vars[c.slot] = Some(v),
            None => {
                let source = match &c.source {
                    CaptureSource::Json(p) => format!("JSON {p}"),
                    CaptureSource::Header(h) => format!("header {h}"),
                    CaptureSource::Regex(r) => format!("regex {}", r.as_str()),
                    CaptureSource::Cookie(k) => format!("cookie {k}"),
                };
                return Err(format!("capture {}: {source} not found", c.name));
            }
        }
    }
    Ok(())
}

fn server_headers(plan: &RunPlan, headers: &HeaderMap) -> Vec<HeaderValue> {
    let mut out = Vec::new();
    for (i, name) in plan.server_headers.iter().enumerate() {
        let i = i as u16;
        for value in headers.get_all(name) {
            let Ok(text) = value.to_str() else { continue };
            if name.as_str() == "server-timing" {
                for (component, ms) in parse_server_timing(text) {
                    out.push(HeaderValue {
                        metric: HeaderMetric::Timing(i, component.into()),
                        value: ms,
                        is_time: true,
                    });
                }
            } else if let Some((value, is_time)) = parse_numeric_header(text) {
                out.push(HeaderValue {
                    metric: HeaderMetric::Listed(i),
                    value,
                    is_time,
                });
            }
        }
    }
    out
}
