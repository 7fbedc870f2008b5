//! What one simulated user does for one step: render the request from its
//! own state, send it on its own connection, read the whole body, check and
//! capture, and report one `Sample` to the recorder.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::goose::{GooseUser, TransactionResult};
use hyper::header::{self, HeaderMap};
use rand::Rng;

use crate::bounded;
use crate::clock::RunClock;
use crate::runner::cookies::BoundedJar;
use crate::runner::fail::{Failed, NotSent, Recorded, Unmet, UrlError};
use crate::runner::http::{Connections, Outgoing, Target};
use crate::runner::sample::{BODY_EXCERPT, SampleSender};
use crate::runner::sample::{
    Failure, HeaderMetric, HeaderValue, Protocol, Sample, parse_numeric_header, parse_server_timing,
};
use crate::runner::transport::Transport;
use crate::scenario::RunPlan;
use crate::scenario::model::FeederPer;
use crate::scenario::plan::{
    BodyPlan, CapturePlan, CaptureSource, JsonCheck, JsonTemplate, Method, RequestPlan, StepPlan,
};
use crate::scenario::template::{RenderContext, RenderError};

/// Shared by every transaction of every user.
pub struct RunShared {
    pub plan: Arc<RunPlan>,
    pub samples: SampleSender,
    pub clock: Arc<RunClock>,
    /// Open model: each scenario's schedule of iterations (empty for the closed model).
    pub arrivals: Vec<Arc<super::Arrivals>>,
    /// The host, parsed once: steps' paths are joined to it.
    pub base: url::Url,
    /// `gander ab`: the candidate's host, parsed once.
    pub candidate_base: Option<url::Url>,
    /// `gander ab`: which side new iterations go to.
    pub alternation: Option<Arc<super::sides::Alternation>>,
    /// TLS and the HTTP version, set up once for every user.
    pub transport: super::transport::Transport,
    /// The run's background WebSockets: told to close when the run ends.
    pub sockets: super::ws::RunSockets,
    /// Per scenario, how many of a segment's users have started.
    pub next_user: Vec<std::sync::atomic::AtomicUsize>,
    /// The servers gander serves for answers that come later, and the streams read.
    pub answers: super::answers::RunAnswers,
    /// The run's id for the `baggage` header; `None` sends none.
    pub baggage_run: Option<String>,
}

impl RunShared {
    /// A starting user's `user_index`: goose's launch order, or in a segment
    /// the next global index planned for a user of its scenario.
    fn user_index(&self, scenario: usize, launched: usize) -> usize {
        match &self.plan.segment {
            Some(s) if s.segment.is_part() => {
                let k = self.next_user[scenario].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // goose starts exactly the users planned; past them (never seen)
                // an index beyond every segment's keeps it unique.
                s.user_indices[scenario]
                    .get(k)
                    .copied()
                    .unwrap_or_else(|| s.whole.users_started() * s.segment.count + launched)
            }
            _ => launched,
        }
    }
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
    /// The user's connections: gander sends through them itself, goose
    /// only schedules the users.
    pub(super) http: Connections,
    /// The user's cookies: a cookie set on any hop of a redirect is the
    /// user's, and `capture: { cookie }` finds it.
    pub(super) jar: Arc<BoundedJar>,
    /// Open model: when the current iteration was due.
    intended: Option<Instant>,
    /// Open model: the schedule is over; the remaining steps do nothing.
    idle: bool,
    /// `gander ab`: the side this iteration's requests go to.
    side: u8,
    /// The user's background WebSockets; they close when the user stops.
    pub(super) sockets: Arc<super::ws::UserSockets>,
    /// When the user last sent a request: `await:` times a callback from it.
    pub(super) last_sent: Option<Instant>,
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

/// The first transaction of every user: set up its state and count it as started.
pub async fn start_user(
    user: &mut GooseUser,
    shared: &RunShared,
    scenario: usize,
) -> TransactionResult {
    let plan = shared.plan.clone();
    let index = shared.user_index(scenario, user.weighted_users_index);
    // Users share the source addresses out in turn.
    let source = (!plan.source_addresses.is_empty())
        .then(|| plan.source_addresses[index % plan.source_addresses.len()]);
    let mut state = UserState {
        index,
        iteration: 0,
        started_iterations: false,
        vars: vec![None; plan.variables.len()],
        rows: vec![None; plan.feeders.len()],
        plan,
        pacing: Default::default(),
        http: Connections::leaving_from(source),
        jar: Arc::default(),
        intended: None,
        idle: false,
        side: shared.alternation.as_ref().map_or(0, |a| a.side()),
        sockets: Arc::new(super::ws::UserSockets::default()),
        last_sent: None,
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

/// A step as the users send it: what is the same for every request (the
/// URL joined to the host, headers without `${…}`, a constant JSON body, which
/// parts of the answer are read) is worked out once, when the run starts.
pub struct Step {
    pub plan: Arc<RequestPlan>,
    method: hyper::Method,
    url: StepUrl,
    /// Headers without `${…}`, ready to send.
    fixed_headers: HeaderMap,
    /// Indices into the plan's headers of those rendered per request.
    templated_headers: Vec<usize>,
    /// A body without `${…}`, encoded once.
    fixed_body: Option<bytes::Bytes>,
    /// JSON checks or captures read the body whole: it is kept, up to `max_body`.
    reads_body: bool,
    /// `body_contains`, looked for as the body streams in (never kept for it).
    needles: super::body_scan::Needles,
    /// A capture reads a cookie: the jar is looked up after the answer.
    reads_cookies: bool,
    /// gander asked for gzip (the step did not set Accept-Encoding): a
    /// gzipped answer is decoded.
    decodes_gzip: bool,
}

enum StepUrl {
    Fixed(Box<Target>),
    Templated,
    /// A constant URL that does not parse: every request fails with this reason.
    Bad(Arc<NotSent>),
}

impl Step {
    /// `baggage`: the step's `baggage` header, sent only when the step goes to the host.
    pub fn prepare(
        plan: Arc<RequestPlan>,
        base: &url::Url,
        baggage: Option<header::HeaderValue>,
    ) -> Step {
        let (url, to_host) = step_url(&plan, base);
        let mut fixed_headers = HeaderMap::new();
        let mut templated_headers = Vec::new();
        for (i, (name, value)) in plan.headers.iter().enumerate() {
            match value
                .constant()
                .and_then(|v| hyper::header::HeaderValue::from_str(v).ok())
            {
                Some(value) => {
                    fixed_headers.append(name.clone(), value);
                }
                None => templated_headers.push(i),
            }
        }
        let sets = |name: header::HeaderName| plan.headers.iter().any(|(n, _)| *n == name);
        if let Some(value) = baggage
            .filter(|_| to_host && !sets(header::HeaderName::from_static(super::baggage::HEADER)))
        {
            fixed_headers.insert(
                header::HeaderName::from_static(super::baggage::HEADER),
                value,
            );
        }
        // What reqwest sent by default, so that servers see the same requests.
        let decodes_gzip = !sets(header::ACCEPT_ENCODING);
        for (name, value) in [
            (header::USER_AGENT, USER_AGENT),
            (header::ACCEPT, "*/*"),
            (header::ACCEPT_ENCODING, "gzip"),
        ] {
            if !sets(name.clone()) {
                fixed_headers.insert(name, header::HeaderValue::from_static(value));
            }
        }
        let sets_content_type = sets(header::CONTENT_TYPE);
        let fixed_body = match &plan.body {
            BodyPlan::Json(JsonTemplate::Constant(value)) => {
                if !sets_content_type {
                    fixed_headers.insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                }
                serde_json::to_vec(value).ok().map(bytes::Bytes::from)
            }
            BodyPlan::Raw(text) => text.constant().map(|t| bytes::Bytes::from(t.to_string())),
            _ => None,
        };
        let e = &plan.expect;
        let reads_body = !e.json.is_empty()
            || plan
                .captures
                .iter()
                .any(|c| matches!(c.source, CaptureSource::Json(_) | CaptureSource::Regex(_)));
        let reads_cookies = plan
            .captures
            .iter()
            .any(|c| matches!(c.source, CaptureSource::Cookie(_)));
        Step {
            method: http_method(plan.method),
            url,
            fixed_headers,
            templated_headers,
            fixed_body,
            reads_body,
            needles: super::body_scan::Needles::new(&e.body_contains),
            reads_cookies,
            decodes_gzip,
            plan,
        }
    }
}

impl Step {
    /// The step with its answer's body kept (up to `max_body`) whatever its checks.
    pub(super) fn keeping_body(mut self) -> Step {
        self.reads_body = true;
        self
    }
}

/// The step's URL as prepared, and whether it goes to the file's host.
fn step_url(plan: &RequestPlan, base: &url::Url) -> (StepUrl, bool) {
    let Some(text) = plan.url.constant() else {
        let to_host = super::baggage::is_host_path(plan.url.literals().next());
        return (StepUrl::Templated, to_host);
    };
    let bad = |source| {
        let text = text.to_string();
        (StepUrl::Bad(Arc::new(NotSent::Url { text, source })), false)
    };
    match join_url(base, text) {
        Ok(url) => {
            let to_host = super::baggage::same_origin(&url, base);
            match Target::new(url) {
                Ok(target) => (StepUrl::Fixed(Box::new(target)), to_host),
                Err(e) => bad(e),
            }
        }
        Err(e) => bad(e.into()),
    }
}

/// `text` as a URL: absolute as written, else below the host (as goose joins).
pub(super) fn join_url(base: &url::Url, text: &str) -> Result<url::Url, url::ParseError> {
    match url::Url::parse(text) {
        Ok(url) if url.has_host() => Ok(url),
        _ => base.join(text),
    }
}

/// `text` as a request's target, below the host unless absolute.
pub(super) fn target(base: &url::Url, text: String) -> Result<Target, NotSent> {
    join_url(base, &text)
        .map_err(UrlError::from)
        .and_then(Target::new)
        .map_err(|source| NotSent::Url { text, source })
}

/// A step as the users run it: an HTTP request or a WebSocket.
pub enum Prepared {
    Http(Step),
    Ws(super::ws::WsStep),
    Await(Arc<crate::scenario::plan::AwaitPlan>),
    Telegram(super::telegram::TelegramStep),
    Sse(super::sse::SseStep),
}

impl Prepared {
    pub fn prepare(
        plan: &StepPlan,
        base: &url::Url,
        baggage: Option<header::HeaderValue>,
    ) -> Prepared {
        match plan {
            StepPlan::Http(r) => Prepared::Http(Step::prepare(r.clone(), base, baggage)),
            StepPlan::Ws(w) => Prepared::Ws(super::ws::WsStep::prepare(w.clone(), base)),
            StepPlan::Await(a) => Prepared::Await(a.clone()),
            StepPlan::Telegram(t) => {
                Prepared::Telegram(super::telegram::TelegramStep::prepare(t.clone(), base))
            }
            StepPlan::Sse(s) => Prepared::Sse(super::sse::SseStep::prepare(s.clone(), base)),
        }
    }

    fn scenario(&self) -> usize {
        match self {
            Prepared::Http(s) => s.plan.scenario,
            Prepared::Ws(w) => w.plan.scenario,
            Prepared::Await(a) => a.scenario,
            Prepared::Telegram(t) => t.plan.scenario,
            Prepared::Sse(s) => s.plan.scenario,
        }
    }
}

/// Runs one step; `sides` holds it prepared for each origin (one, or two
/// under `gander ab`, where an iteration keeps the side it began on).
pub async fn run_step(
    user: &mut GooseUser,
    shared: &RunShared,
    sides: &[Prepared],
    kind: StepKind,
) -> TransactionResult {
    let scenario = sides[0].scenario();
    let arrivals = shared.arrivals.get(scenario).filter(|_| kind.repeated());
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
    let (measure_from, side) = {
        let Some(state) = user.get_session_data_mut::<UserState>() else {
            return Ok(());
        };
        if let Some(a) = &shared.alternation
            && (kind.begins_iteration() || kind == StepKind::OnStart)
        {
            state.side = a.side();
        }
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
        (state.intended.take(), usize::from(state.side))
    };
    let step = sides.get(side).unwrap_or(&sides[0]);
    match step {
        Prepared::Http(step) => http_step(user, shared, step, kind, measure_from).await,
        Prepared::Ws(ws) => super::ws::run(user, shared, ws, measure_from).await,
        Prepared::Await(a) => super::answers::await_callback(user, shared, a, measure_from).await,
        Prepared::Telegram(t) => super::telegram::run(user, shared, t).await,
        Prepared::Sse(s) => super::sse::run(user, shared, s, measure_from).await,
    }
    if let Some(arrivals) = arrivals {
        if kind.ends_iteration() {
            arrivals.finished_iteration();
        } else if let Some(think) = think_time(shared, scenario) {
            tokio::time::sleep(think).await;
        }
    }
    Ok(())
}

/// Sends one HTTP request, judges its answer and reports it.
async fn http_step(
    user: &mut GooseUser,
    shared: &RunShared,
    step: &Step,
    kind: StepKind,
    measure_from: Option<Instant>,
) {
    let plan = &*step.plan;
    let closed = shared.arrivals.is_empty();
    let Some(state) = user.get_session_data_mut::<UserState>() else {
        return;
    };
    let pace = (closed && kind.repeated())
        .then(|| state.pacing.sent(plan.endpoint, Instant::now()))
        .flatten();
    state.last_sent = Some(Instant::now());
    let base = match (state.side, &shared.candidate_base) {
        (super::sides::CANDIDATE, Some(candidate)) => candidate,
        _ => &shared.base,
    };
    let side = state.side;
    let sample = match build_request(step, base, state) {
        Ok((target, out)) => {
            let mut sample = blank_sample(plan, measure_from.unwrap_or_else(Instant::now));
            let answer = exchange(
                step,
                &shared.transport,
                (&mut state.http, &state.jar),
                &target,
                out,
                &mut sample,
            )
            .await;
            if let Some(answer) = answer {
                judge(shared, step, answer, Some(&mut *state), &mut sample);
            }
            sample
        }
        Err(reason) => {
            let sample = not_sent(plan, measure_from.unwrap_or_else(Instant::now), reason);
            tokio::time::sleep(NOT_SENT_PAUSE).await;
            sample
        }
    };
    state.pacing.answered(plan.endpoint, sample.latency, pace);
    shared.samples.send(Sample {
        pace,
        side,
        ..sample
    });
}

/// Sends `step` with `body` (built by gander for this user, e.g. a Telegram
/// update) in place of its own, judges and reports it; `Ok` holds the answer's
/// body when the step keeps it, `Err` is why it failed.
pub(super) async fn send_built(
    shared: &RunShared,
    step: &Step,
    state: &mut UserState,
    body: bytes::Bytes,
    started: Instant,
) -> Result<Vec<u8>, Recorded> {
    let plan = &*step.plan;
    let mut kept = Vec::new();
    let sample = match build_request(step, &shared.base, state) {
        Ok((target, mut out)) => {
            out.body = body;
            let mut sample = blank_sample(plan, started);
            let connections = (&mut state.http, &*state.jar);
            let answer = exchange(
                step,
                &shared.transport,
                connections,
                &target,
                out,
                &mut sample,
            )
            .await;
            if let Some(answer) = answer {
                if step.reads_body {
                    kept.clone_from(&answer.body);
                }
                judge(shared, step, answer, None, &mut sample);
            }
            sample
        }
        Err(reason) => {
            let sample = not_sent(plan, started, reason);
            tokio::time::sleep(NOT_SENT_PAUSE).await;
            sample
        }
    };
    let outcome = match &sample.failure {
        Some(f) => Err(Recorded(f.reason.clone())),
        None => Ok(kept),
    };
    shared.samples.send(sample);
    outcome
}

/// A draw from a scenario's think time.
fn think_time(shared: &RunShared, scenario: usize) -> Option<Duration> {
    let (min, max) = shared.plan.scenarios.get(scenario)?.think_time?;
    (!max.is_zero()).then(|| {
        Duration::from_secs_f64(rand::rng().random_range(min.as_secs_f64()..=max.as_secs_f64()))
    })
}

/// A sample of `step` started at `started`, before anything is known of its answer.
fn blank_sample(step: &RequestPlan, started: Instant) -> Sample {
    Sample::blank(step.endpoint, step.scenario, started)
}

/// After a request that could not be built (a used-up `unique` feeder, a
/// variable whose capture failed), the user pauses this long before going on:
/// such a failure takes no time, and a user without think time would
/// otherwise loop on it without ever yielding, holding its thread and
/// flooding the recorder, and the run could not stop.
const NOT_SENT_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

fn not_sent(step: &RequestPlan, started: Instant, reason: NotSent) -> Sample {
    Sample {
        failure: Some(Box::new(Failure {
            reason: format!("not sent: {reason}"),
            ..Failure::default()
        })),
        ..blank_sample(step, started)
    }
}

/// The request as this user sends it now, and where it goes; `Err` is why
/// it cannot be sent.
fn build_request<'a>(
    step: &'a Step,
    base: &url::Url,
    state: &mut UserState,
) -> Result<(std::borrow::Cow<'a, Target>, Outgoing), NotSent> {
    let plan = &*step.plan;
    let target = match &step.url {
        StepUrl::Fixed(target) => std::borrow::Cow::Borrowed(&**target),
        StepUrl::Bad(reason) => return Err(NotSent::Planned(reason.clone())),
        StepUrl::Templated => {
            std::borrow::Cow::Owned(target(base, plan.url.render_string(state)?)?)
        }
    };
    let mut headers = step.fixed_headers.clone();
    for &i in &step.templated_headers {
        let (name, value) = &plan.headers[i];
        headers.append(
            name.clone(),
            header_value(name, value.render_string(state)?)?,
        );
    }
    let mut content_type = |value: &'static str| {
        if !headers.contains_key(header::CONTENT_TYPE) {
            headers.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(value),
            );
        }
    };
    let body = match (&step.fixed_body, &plan.body) {
        // A reference count, not a copy.
        (Some(body), _) => body.clone(),
        (None, BodyPlan::None) => bytes::Bytes::new(),
        (None, BodyPlan::Json(t)) => {
            content_type("application/json");
            serde_json::to_vec(&render_json(t, state)?)?.into()
        }
        (None, BodyPlan::Form(fields)) => {
            content_type("application/x-www-form-urlencoded");
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields {
                form.append_pair(k, &v.render_string(state)?);
            }
            form.finish().into()
        }
        (None, BodyPlan::Raw(t)) => t.render_string(state)?.into(),
    };
    let out = Outgoing {
        method: step.method.clone(),
        headers,
        body,
    };
    Ok((target, out))
}

/// A rendered header value, checked.
pub(super) fn header_value(
    name: &header::HeaderName,
    value: String,
) -> Result<header::HeaderValue, NotSent> {
    header::HeaderValue::try_from(value).map_err(|source| NotSent::Header {
        name: name.clone(),
        source,
    })
}

pub(super) fn render_json(
    t: &JsonTemplate,
    state: &mut UserState,
) -> Result<serde_json::Value, RenderError> {
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

fn http_method(m: Method) -> hyper::Method {
    match m {
        Method::Get => hyper::Method::GET,
        Method::Post => hyper::Method::POST,
        Method::Put => hyper::Method::PUT,
        Method::Patch => hyper::Method::PATCH,
        Method::Delete => hyper::Method::DELETE,
        Method::Head => hyper::Method::HEAD,
    }
}

/// What came back for a request that was answered.
struct Answer<'a> {
    headers: HeaderMap,
    body: Vec<u8>,
    /// The final URL (after redirects), when a capture reads a cookie.
    final_url: Option<url::Url>,
    /// Why the answer already failed (its status, a missing header, its body).
    failure: Option<Failed<'a>>,
}

/// Sends the request and reads its answer to the last body byte, keeping
/// what the checks need, all within the step's timeout (send, head checks,
/// decode and bounded body read share it and one failure reason, in the order
/// the wire gives them). A request that got no answer is finished in `sample`.
async fn exchange<'a>(
    step: &'a Step,
    transport: &Transport,
    (connections, jar): (&mut Connections, &BoundedJar),
    target: &Target,
    out: Outgoing,
    sample: &mut Sample,
) -> Option<Answer<'a>> {
    let plan = &*step.plan;
    let started = sample.started;
    let timeout = tokio::time::sleep(plan.timeout);
    tokio::pin!(timeout);
    let fetched = tokio::select! {
        biased;
        fetched = connections.fetch(transport, jar, target, out, plan.follow_redirects) => Some(fetched),
        () = &mut timeout => None,
    };
    let answered = match fetched {
        Some(Ok(answered)) => answered,
        unanswered => {
            sample.latency = Some(started.elapsed());
            sample.failure = Some(Box::new(unanswered_failure(plan, transport, unanswered)));
            return None;
        }
    };
    let (mut head, incoming) = answered.response.into_parts();
    let status = head.status.as_u16();
    sample.protocol = Protocol::of(head.version);
    let final_url = step
        .reads_cookies
        .then(|| answered.redirected_to.unwrap_or_else(|| target.url.clone()));
    let gzip = step.decodes_gzip && gzipped(&mut head.headers);
    let headers = head.headers;
    let mut failure = check_head(plan, status, &headers).err().map(Failed::from);
    let keep = step.body_kept(failure.is_some());
    let mut scan = step.needles.scan();
    let mut watch = |data: &[u8]| scan.feed(data);
    let read = bounded::read_incoming_watched(incoming, gzip, keep, plan.max_body, &mut watch);
    let body = tokio::select! {
        biased;
        body = read => body,
        () = &mut timeout => Err(bounded::ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            timed_out(plan),
        ))),
    };
    sample.latency = Some(started.elapsed());
    sample.status = status;
    let body = match body {
        Ok(body) => {
            sample.bytes = body.total;
            body.kept
        }
        Err(e) => {
            failure.get_or_insert(step.body_failed(e, transport));
            Vec::new()
        }
    };
    if failure.is_none()
        && let Some(i) = scan.missing()
    {
        let needle = &plan.expect.body_contains[i];
        failure = Some(Failed::Unmet(Unmet::Contains {
            what: "body",
            needle,
        }));
    }
    Some(Answer {
        headers,
        body,
        final_url,
        failure,
    })
}

/// Whether the answer is gzipped; if so, its headers then describe the
/// decoded body, which is what the checks see.
fn gzipped(headers: &mut HeaderMap) -> bool {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if gzip {
        headers.remove(header::CONTENT_ENCODING);
        headers.remove(header::CONTENT_LENGTH);
    }
    gzip
}

/// `timeout after 30s`.
fn timed_out(plan: &RequestPlan) -> String {
    format!(
        "timeout after {}",
        crate::scenario::units::format_duration(plan.timeout)
    )
}

/// Why a request got no answer: the step's timeout passed (`None`), or the
/// client's error.
fn unanswered_failure(
    plan: &RequestPlan,
    transport: &Transport,
    fetched: Option<Result<super::http::Answered, super::http::HttpError>>,
) -> Failure {
    match fetched {
        Some(Err(e)) => Failure {
            reason: e.reason(transport),
            body: None,
            unreached: e.unreached(),
            generator: crate::runner::sample::GeneratorFault::find(&e),
            stops_run: e.stops_run(),
        },
        _ => Failure {
            reason: timed_out(plan),
            ..Failure::default()
        },
    }
}

impl Step {
    /// How much of the body is kept: the excerpt a failure shows, up to
    /// `max_body` for the checks that read it whole, else nothing.
    fn body_kept(&self, failed: bool) -> usize {
        if failed {
            BODY_EXCERPT
        } else if self.reads_body {
            usize::try_from(self.plan.max_body).unwrap_or(usize::MAX)
        } else if !self.needles.is_empty() {
            // The excerpt a failed `body_contains` shows.
            BODY_EXCERPT
        } else {
            0
        }
    }

    /// Why the body could not be read to its end.
    fn body_failed(&self, e: bounded::ReadError, transport: &Transport) -> Failed<'static> {
        match e {
            bounded::ReadError::TooLarge { .. } if self.reads_body || !self.needles.is_empty() => {
                Failed::TooLargeToCheck(e)
            }
            bounded::ReadError::TooLarge { .. } => Failed::TooLarge(e),
            bounded::ReadError::Http(e) => Failed::Transport(transport.body_reason(&e)),
            bounded::ReadError::Io(e) => Failed::Io(e),
        }
    }
}

fn parse_json<'a>(
    body: &[u8],
    cache: &'a mut Option<Option<serde_json::Value>>,
) -> Option<&'a serde_json::Value> {
    cache
        .get_or_insert_with(|| serde_json::from_slice(body).ok())
        .as_ref()
}

/// Checks the answer's status and headers (known before its body).
fn check_head<'a>(
    step: &'a RequestPlan,
    status: u16,
    headers: &HeaderMap,
) -> Result<(), Unmet<'a>> {
    let e = &step.expect;
    match &e.status {
        Some(allowed) if !allowed.contains(&status) => {
            return Err(Unmet::Status {
                allowed,
                got: status,
            });
        }
        None if status >= 400 => return Err(Unmet::Http(status)),
        _ => {}
    }
    for name in &e.headers {
        if !headers.contains_key(name) {
            return Err(Unmet::Header(name));
        }
    }
    Ok(())
}

/// Checks the body against the step's expectations; `Err` is the reason it failed.
fn check_body<'a>(
    step: &'a RequestPlan,
    body: &[u8],
    json: &mut Option<Option<serde_json::Value>>,
) -> Result<(), Unmet<'a>> {
    // `body_contains` was looked for as the body came in.
    check_text(&[], &step.expect.json, body, json, "body")
}

/// Checks a body or a message (`what`) for texts it must contain and JSON
/// pointer checks; `Err` is the reason it failed.
pub(super) fn check_text<'a>(
    contains: &'a [String],
    checks: &'a [JsonCheck],
    body: &[u8],
    json: &mut Option<Option<serde_json::Value>>,
    what: &'static str,
) -> Result<(), Unmet<'a>> {
    if !contains.is_empty() {
        let text = String::from_utf8_lossy(body);
        for needle in contains {
            if !text.contains(needle.as_str()) {
                return Err(Unmet::Contains { what, needle });
            }
        }
    }
    if !checks.is_empty() {
        let Some(doc) = parse_json(body, json) else {
            return Err(Unmet::NotJson(what));
        };
        for c in checks {
            let found = doc.pointer(&c.pointer);
            if let Some(exists) = c.exists
                && found.is_some() != exists
            {
                return Err(if exists {
                    Unmet::Missing(&c.pointer)
                } else {
                    Unmet::Present(&c.pointer)
                });
            }
            if let Some(expected) = &c.equals {
                match found {
                    Some(v) if v == expected => {}
                    Some(v) => {
                        return Err(Unmet::Equals {
                            pointer: &c.pointer,
                            found: v.clone(),
                            expected,
                        });
                    }
                    None => return Err(Unmet::Missing(&c.pointer)),
                }
            }
        }
    }
    Ok(())
}

/// Judges an answer: its body's checks, then its captures into the user's
/// state; fills in the sample's server headers and failure.
fn judge(
    shared: &RunShared,
    step: &Step,
    answer: Answer,
    state: Option<&mut UserState>,
    sample: &mut Sample,
) {
    let plan = &*step.plan;
    sample.headers = server_headers(&shared.plan, &answer.headers);
    let mut json_cache = None;
    let failure = answer
        .failure
        .or_else(|| {
            check_body(plan, &answer.body, &mut json_cache)
                .err()
                .map(Failed::from)
        })
        .or_else(|| {
            let state = state?;
            // Set on a redirect hop before this answer: in the jar.
            let jar_cookies = answer
                .final_url
                .as_ref()
                .and_then(|url| state.jar.cookies(url));
            let cookies = jar_cookies.as_ref().and_then(|c| c.to_str().ok());
            capture(
                &plan.captures,
                &answer.headers,
                &answer.body,
                cookies,
                &mut json_cache,
                state,
            )
            .err()
            .map(Failed::from)
        });
    if let Some(reason) = failure {
        let reason = reason.to_string();
        let body = &answer.body[..answer.body.len().min(BODY_EXCERPT)];
        let excerpt = String::from_utf8_lossy(body).into_owned();
        sample.failure = Some(Box::new(Failure {
            reason,
            body: (!excerpt.is_empty()).then_some(excerpt),
            ..Failure::default()
        }));
    }
}

/// Stores captured values in the user's variables; `Err` names the first that failed.
pub(super) fn capture<'a>(
    captures: &'a [CapturePlan],
    headers: &HeaderMap,
    body: &[u8],
    jar_cookies: Option<&str>,
    json: &mut Option<Option<serde_json::Value>>,
    state: &mut UserState,
) -> Result<(), Unmet<'a>> {
    for c in captures {
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
                .get_all(hyper::header::SET_COOKIE)
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
                return Err(Unmet::Capture {
                    name: &c.name,
                    from: &c.source,
                });
            }
        }
    }
    Ok(())
}

/// The most Server-Timing components read from one answer; a hostile header
/// may hold thousands.
const MAX_TIMING_COMPONENTS: usize = 16;

fn server_headers(plan: &RunPlan, headers: &HeaderMap) -> Vec<HeaderValue> {
    let mut out = Vec::new();
    for (i, name) in plan.server_headers.iter().enumerate() {
        let i = i as u16;
        for value in headers.get_all(name) {
            let Ok(text) = value.to_str() else { continue };
            if name.as_str() == "server-timing" {
                let components = parse_server_timing(text);
                for (component, ms) in components.into_iter().take(MAX_TIMING_COMPONENTS) {
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
