//! What one user does for a `ws:` step: open a WebSocket (the handshake is
//! one request name), send and wait for messages (each round trip with an
//! `expect` is one), then close the socket, hold it, or keep it open in the
//! background while the user goes on. Every socket is reported once, when it
//! ends: how many messages went each way, and whether it was dropped (closed by
//! the server or broken) rather than closed by gander.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use goose::goose::GooseUser;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use super::fail::{NotSent, Unmet, UrlError};
use super::sample::{BODY_EXCERPT, Failure, Protocol, Sample, SocketEnd};
use super::user::{RunShared, UserState, capture, check_text, join_url, render_json};
use crate::net::{Origin, Speak};
use crate::scenario::plan::{LoadEnd, WsExpectPlan, WsMessagePlan, WsPlan, WsSend};

/// How long a closing socket waits for the server's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// How often a held socket looks whether the run is stopping.
const TICK: Duration = Duration::from_millis(100);

/// A ws step as the users run it: the URL worked out once when it is constant.
pub struct WsStep {
    pub plan: Arc<WsPlan>,
    url: Option<Result<url::Url, Arc<NotSent>>>,
}

impl WsStep {
    pub fn prepare(plan: Arc<WsPlan>, base: &url::Url) -> WsStep {
        let url = plan
            .url
            .constant()
            .map(|text| ws_url(base, text).map_err(Arc::new));
        WsStep { plan, url }
    }
}

/// `text` as a ws:// or wss:// URL: absolute as written, else below the host
/// (an http host gives ws://, an https host wss://).
fn ws_url(base: &url::Url, text: &str) -> Result<url::Url, NotSent> {
    let mut url = join_url(base, text).map_err(|e| NotSent::Url {
        text: text.to_string(),
        source: UrlError::Parse(e),
    })?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => return Err(NotSent::NotWebSocket(other.to_string())),
    };
    url.set_scheme(scheme)
        .map_err(|()| NotSent::WebSocketScheme(text.to_string()))?;
    Ok(url)
}

/// The run's background sockets: told to close when the run ends, and waited for.
#[derive(Default)]
pub struct RunSockets {
    stop: tokio::sync::watch::Sender<bool>,
    open: Arc<AtomicUsize>,
}

impl RunSockets {
    /// Tells every background socket to close, and waits up to `grace` for them
    /// to report.
    pub async fn close_all(&self, grace: Duration) {
        self.stop.send_replace(true);
        let since = Instant::now();
        while self.open.load(Ordering::SeqCst) > 0 && since.elapsed() < grace {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// One user's background sockets, by step: they close when the user stops
/// (its state, and this with it, is dropped).
#[derive(Default)]
pub struct UserSockets {
    /// Dropped with the user: its receivers then see the user gone.
    stop: tokio::sync::watch::Sender<()>,
    /// Per step, whether its socket is still open.
    open: Mutex<HashMap<usize, Arc<AtomicBool>>>,
}

impl UserSockets {
    fn is_open(&self, step: usize) -> bool {
        self.open
            .lock()
            .ok()
            .and_then(|open| open.get(&step).map(|a| a.load(Ordering::SeqCst)))
            .unwrap_or(false)
    }
}

/// Counts a background socket as open for as long as it lives.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(open: &Arc<AtomicUsize>) -> Counted {
        open.fetch_add(1, Ordering::SeqCst);
        Counted(open.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

type Stream = WebSocketStream<crate::net::Stream>;

/// An open socket and what went through it.
struct Socket {
    stream: Stream,
    opened: Instant,
    sent: u64,
    received: u64,
}

/// Why a connection attempt failed.
struct ConnectFailure {
    reason: String,
    status: u16,
    body: Option<String>,
    /// Nothing answered: the SUT was never reached.
    unreached: bool,
    /// gander's own limit (files, ports) failed the connection.
    generator: Option<super::sample::GeneratorFault>,
}

impl ConnectFailure {
    fn into_failure(self) -> Failure {
        Failure {
            reason: self.reason,
            body: self.body,
            unreached: self.unreached,
            generator: self.generator,
            ..Failure::default()
        }
    }
}

fn failure(reason: String) -> Option<Box<Failure>> {
    Some(Box::new(Failure {
        reason,
        ..Failure::default()
    }))
}

/// Runs a `ws:` step: the handshake and its sample, the messages, then the
/// socket closed, held or handed to the background.
pub async fn run(
    user: &mut GooseUser,
    shared: &RunShared,
    step: &WsStep,
    measure_from: Option<Instant>,
) {
    let plan = &*step.plan;
    let Some(state) = user.get_session_data_mut::<UserState>() else {
        return;
    };
    let key = Arc::as_ptr(&step.plan) as usize;
    if plan.background && state.sockets.is_open(key) {
        return;
    }
    let started = measure_from.unwrap_or_else(Instant::now);
    let request = match handshake_request(step, shared, state) {
        Ok(r) => r,
        Err(reason) => {
            shared.samples.send(Sample {
                failure: failure(format!("not sent: {reason}")),
                ..Sample::blank(plan.connect, plan.scenario, started)
            });
            return;
        }
    };
    let connected = tokio::time::timeout(plan.timeout, connect(shared, request, plan)).await;
    let mut connect_sample = Sample {
        latency: Some(started.elapsed()),
        ..Sample::blank(plan.connect, plan.scenario, started)
    };
    let stream = match connected {
        Ok(Ok((stream, status))) => {
            connect_sample.status = status;
            connect_sample.protocol = Protocol::Http11;
            stream
        }
        Ok(Err(f)) => {
            connect_sample.status = f.status;
            connect_sample.failure = Some(Box::new(f.into_failure()));
            shared.samples.send(connect_sample);
            return;
        }
        Err(_) => {
            connect_sample.failure = failure(format!(
                "WebSocket handshake: timeout after {}",
                crate::scenario::units::format_duration(plan.timeout)
            ));
            shared.samples.send(connect_sample);
            return;
        }
    };
    shared.samples.send(connect_sample);
    let mut socket = Socket {
        stream,
        opened: Instant::now(),
        sent: 0,
        received: 0,
    };
    for (i, m) in plan.messages.iter().enumerate() {
        if let ControlFlow::Break(reason) = message(shared, plan, i, m, &mut socket, state).await {
            report_end(shared, plan, &socket, Some(reason));
            return;
        }
    }
    if plan.background {
        to_background(shared, step, state, key, socket);
        return;
    }
    let mut dropped = None;
    if let Some(hold) = plan.hold {
        dropped = hold_open(shared, &mut socket, hold).await;
    }
    if dropped.is_none() {
        close(&mut socket).await;
    }
    report_end(shared, plan, &socket, dropped);
}

/// Hands the open socket to a task of its own, which counts what arrives until
/// the user stops or the run ends, and reports the socket when it ends.
fn to_background(
    shared: &RunShared,
    step: &WsStep,
    state: &UserState,
    key: usize,
    mut socket: Socket,
) {
    let alive = Arc::new(AtomicBool::new(true));
    if let Ok(mut open) = state.sockets.open.lock() {
        open.insert(key, alive.clone());
    }
    let user_stop = state.sockets.stop.subscribe();
    let run_stop = shared.sockets.stop.subscribe();
    let counted = Counted::new(&shared.sockets.open);
    let samples = shared.samples.clone();
    let plan = step.plan.clone();
    tokio::spawn(async move {
        let _counted = counted;
        let dropped = background(&mut socket, user_stop, run_stop).await;
        alive.store(false, Ordering::SeqCst);
        if dropped.is_none() {
            close(&mut socket).await;
        }
        samples.send(end_sample(&plan, &socket, dropped));
    });
}

/// The handshake request: the URL, the step's headers, the user's cookies.
fn handshake_request(
    step: &WsStep,
    shared: &RunShared,
    state: &mut UserState,
) -> Result<tungstenite::handshake::client::Request, NotSent> {
    let plan = &*step.plan;
    let url = match &step.url {
        Some(url) => url.clone().map_err(NotSent::Planned)?,
        None => ws_url(&shared.base, &plan.url.render_string(state)?)?,
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(NotSent::WebSocketRequest)?;
    let headers = request.headers_mut();
    headers.insert(
        hyper::header::USER_AGENT,
        hyper::header::HeaderValue::from_static(super::user::USER_AGENT),
    );
    for (name, value) in &plan.headers {
        let text = value.render_string(state)?;
        let value = hyper::header::HeaderValue::from_str(&text)
            .map_err(|_| NotSent::WebSocketHeader(name.clone()))?;
        headers.insert(name.clone(), value);
    }
    // The cookies the user's HTTP requests were given go with the handshake.
    let mut http_url = url.clone();
    let _ = http_url.set_scheme(if url.scheme() == "wss" {
        "https"
    } else {
        "http"
    });
    if !headers.contains_key(hyper::header::COOKIE)
        && let Some(cookies) = state.jar.cookies(&http_url)
    {
        headers.insert(hyper::header::COOKIE, cookies);
    }
    Ok(request)
}

/// TCP, TLS for wss://, then the WebSocket handshake; the status it answered.
async fn connect(
    shared: &RunShared,
    request: tungstenite::handshake::client::Request,
    plan: &WsPlan,
) -> Result<(Stream, u16), ConnectFailure> {
    let unreached = |reason: String| ConnectFailure {
        reason,
        status: 0,
        body: None,
        unreached: true,
        generator: None,
    };
    let uri = request.uri().clone();
    let host = uri.host().unwrap_or_default();
    let secure = uri.scheme_str() == Some("wss");
    let origin = Origin {
        tls: secure,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port: uri.port_u16().unwrap_or(if secure { 443 } else { 80 }),
    };
    let edge = &shared.transport.edge;
    let io = edge
        .connect(&origin, Speak::WebSocket)
        .await
        .map_err(|e| ConnectFailure {
            generator: super::sample::GeneratorFault::find(&e),
            ..unreached(edge.reason(&e, "connection failed", Speak::WebSocket))
        })?
        .stream;
    let limit = usize::try_from(plan.max_message).unwrap_or(usize::MAX);
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    match tokio_tungstenite::client_async_with_config(request, io, Some(config)).await {
        Ok((stream, response)) => Ok((stream, response.status().as_u16())),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(BODY_EXCERPT)]).into_owned());
            Err(ConnectFailure {
                reason: format!("WebSocket refused: HTTP {status}"),
                status,
                body: body.filter(|b| !b.is_empty()),
                unreached: false,
                generator: None,
            })
        }
        Err(e) => Err(ConnectFailure {
            reason: format!("WebSocket handshake failed: {}", error_reason(&e)),
            status: 0,
            body: None,
            unreached: false,
            generator: None,
        }),
    }
}

/// Sends one message and waits for the answer it expects. `Break` is why the
/// socket dropped meanwhile.
async fn message(
    shared: &RunShared,
    plan: &WsPlan,
    index: usize,
    m: &WsMessagePlan,
    socket: &mut Socket,
    state: &mut UserState,
) -> ControlFlow<String> {
    let started = Instant::now();
    // A message without a round trip of its own reports on the socket's row.
    let row = m.endpoint.unwrap_or(plan.socket);
    if let Some(send) = &m.send {
        let text = match send {
            WsSend::Text(t) => t.render_string(state),
            WsSend::Json(t) => render_json(t, state).map(|v| v.to_string()),
        };
        let text = match text {
            Ok(text) => text,
            Err(reason) => {
                shared.samples.send(Sample {
                    failure: failure(format!("not sent: message {}: {reason}", index + 1)),
                    ..Sample::blank(row, plan.scenario, started)
                });
                return ControlFlow::Continue(());
            }
        };
        if let Err(e) = socket.stream.send(Message::text(text)).await {
            let reason = error_reason(&e);
            if let Some(endpoint) = m.endpoint {
                shared.samples.send(Sample {
                    latency: Some(started.elapsed()),
                    protocol: Protocol::WebSocket,
                    failure: failure(format!("socket dropped before the message went: {reason}")),
                    ..Sample::blank(endpoint, plan.scenario, started)
                });
            }
            return ControlFlow::Break(reason);
        }
        socket.sent += 1;
    }
    let (Some(expect), Some(endpoint)) = (&m.expect, m.endpoint) else {
        return ControlFlow::Continue(());
    };
    let mut answer = Sample {
        protocol: Protocol::WebSocket,
        ..Sample::blank(endpoint, plan.scenario, started)
    };
    let outcome = wait_for(expect, m, socket, state, &mut answer).await;
    answer.latency = Some(started.elapsed());
    let dropped = match outcome {
        Wait::Matched => None,
        Wait::Timeout(passed_over, last) => {
            let last = last
                .map(|why| format!("; the last: {why}"))
                .unwrap_or_default();
            answer.failure = failure(format!(
                "no matching message within {} ({passed_over} others arrived{last})",
                crate::scenario::units::format_duration(expect.within)
            ));
            None
        }
        Wait::Unusable(reason) => {
            answer.failure = failure(reason.to_string());
            None
        }
        Wait::Dropped(reason) => {
            answer.failure = failure(format!(
                "socket dropped before a matching message: {reason}"
            ));
            Some(reason)
        }
    };
    shared.samples.send(answer);
    dropped.map_or(ControlFlow::Continue(()), ControlFlow::Break)
}

enum Wait<'a> {
    Matched,
    /// How many messages did not match, and why the last did not.
    Timeout(u64, Option<Unmet<'a>>),
    /// A message matched but a capture failed.
    Unusable(Unmet<'a>),
    Dropped(String),
}

/// Reads messages until one matches `expect` (capturing from it), the wait is
/// over, or the socket drops.
async fn wait_for<'a>(
    expect: &'a WsExpectPlan,
    m: &'a WsMessagePlan,
    socket: &mut Socket,
    state: &mut UserState,
    answer: &mut Sample,
) -> Wait<'a> {
    let deadline = tokio::time::Instant::now() + expect.within;
    let mut passed_over = 0;
    let mut last = None;
    loop {
        let next = match tokio::time::timeout_at(deadline, socket.stream.next()).await {
            Err(_) => return Wait::Timeout(passed_over, last),
            Ok(next) => next,
        };
        let body = match next {
            Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
            Some(Ok(Message::Binary(b))) => b.to_vec(),
            Some(Ok(Message::Close(frame))) => return Wait::Dropped(close_reason(frame.as_ref())),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Wait::Dropped(error_reason(&e)),
            None => return Wait::Dropped("closed without a close frame".into()),
        };
        socket.received += 1;
        answer.bytes += body.len() as u64;
        let mut json = None;
        match check_text(&expect.contains, &expect.json, &body, &mut json, "message") {
            Ok(()) => {
                let headers = hyper::header::HeaderMap::new();
                return match capture(&m.captures, &headers, &body, None, &mut json, state) {
                    Ok(()) => Wait::Matched,
                    Err(reason) => Wait::Unusable(reason),
                };
            }
            Err(why) => {
                passed_over += 1;
                last = Some(why);
            }
        }
    }
}

/// Keeps the socket open for `hold` (or until the run stops), counting what
/// arrives; `Some` is why it dropped.
async fn hold_open(shared: &RunShared, socket: &mut Socket, hold: Duration) -> Option<String> {
    let mut until = Instant::now() + hold;
    // Not past the planned end of the load: goose stops the users then.
    if let Some(end) = planned_end(shared) {
        until = until.min(end.max(Instant::now()));
    }
    while Instant::now() < until && !stopping() {
        let wait = until.saturating_duration_since(Instant::now()).min(TICK);
        match tokio::time::timeout(wait, socket.stream.next()).await {
            Err(_) => {}
            Ok(next) => {
                if let Some(reason) = count(socket, next) {
                    return Some(reason);
                }
            }
        }
        if *shared.sockets.stop.borrow() {
            break;
        }
    }
    None
}

/// When the load is planned to end: the stages' end, or the steady state's for
/// a flat timed load; `None` for iterations.
fn planned_end(shared: &RunShared) -> Option<Instant> {
    let load = &shared.plan.load;
    if !load.stages.is_empty() {
        let total: Duration = load.stages.iter().map(|s| s.duration).sum();
        return shared.clock.origin().map(|origin| origin + total);
    }
    match load.end {
        LoadEnd::Duration(d) => shared.clock.steady().0.map(|start| start + d),
        LoadEnd::Iterations(_) => None,
    }
}

/// A background socket's life: counts what arrives until the user stops or
/// the run ends (`None`), or the socket drops (`Some` reason).
async fn background(
    socket: &mut Socket,
    mut user_stop: tokio::sync::watch::Receiver<()>,
    mut run_stop: tokio::sync::watch::Receiver<bool>,
) -> Option<String> {
    loop {
        if *run_stop.borrow() || stopping() {
            return None;
        }
        tokio::select! {
            next = socket.stream.next() => {
                if let Some(reason) = count(socket, next) {
                    return Some(reason);
                }
            }
            // The user is gone (the sender dropped with its state).
            changed = user_stop.changed() => if changed.is_err() { return None; },
            _ = run_stop.changed() => {}
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Counts one read; `Some` is why the socket dropped.
fn count(socket: &mut Socket, next: Option<Result<Message, tungstenite::Error>>) -> Option<String> {
    match next {
        Some(Ok(Message::Text(_) | Message::Binary(_))) => {
            socket.received += 1;
            None
        }
        Some(Ok(Message::Close(frame))) => Some(close_reason(frame.as_ref())),
        Some(Ok(_)) => None,
        Some(Err(e)) => Some(error_reason(&e)),
        None => Some("closed without a close frame".into()),
    }
}

/// A signal or goose's own stop: held sockets let go.
fn stopping() -> bool {
    crate::signals::interrupted() || goose::is_killswitch_triggered()
}

/// Closes the socket from gander's side and waits briefly for the server's
/// close frame; messages still arriving meanwhile are counted.
async fn close(socket: &mut Socket) {
    if socket.stream.close(None).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(next) = socket.stream.next().await {
            match next {
                Ok(Message::Text(_) | Message::Binary(_)) => socket.received += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
    .await;
}

fn report_end(shared: &RunShared, plan: &WsPlan, socket: &Socket, dropped: Option<String>) {
    shared.samples.send(end_sample(plan, socket, dropped));
}

/// The socket's own sample, placed at its end: its latency is how long it was
/// open, which no latency figure takes in.
fn end_sample(plan: &WsPlan, socket: &Socket, dropped: Option<String>) -> Sample {
    let now = Instant::now();
    Sample {
        latency: Some(now - socket.opened),
        protocol: Protocol::WebSocket,
        failure: dropped
            .as_ref()
            .and_then(|reason| failure(format!("dropped: {reason}"))),
        socket: Some(Box::new(SocketEnd {
            sent: socket.sent,
            received: socket.received,
            dropped: dropped.is_some(),
        })),
        ..Sample::blank(plan.socket, plan.scenario, now)
    }
}

/// Why the server closed: its close code in words, and its reason if short.
fn close_reason(frame: Option<&CloseFrame>) -> String {
    let Some(frame) = frame else {
        return "closed by the server".into();
    };
    let code = u16::from(frame.code);
    let meaning = match code {
        1000 => "normal closure",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1007 => "invalid data",
        1008 => "policy violation",
        1009 => "message too big",
        1011 => "server error",
        1012 => "service restart",
        1013 => "try again later",
        _ => "",
    };
    let reason: String = frame.reason.as_str().chars().take(80).collect();
    let mut text = format!("closed by the server ({code}");
    if !meaning.is_empty() {
        text.push_str(&format!(" {meaning}"));
    }
    if !reason.is_empty() {
        text.push_str(&format!(": {reason}"));
    }
    text.push(')');
    text
}

/// A short reason for a WebSocket error.
fn error_reason(e: &tungstenite::Error) -> String {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => "closed".into(),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            "closed without a close frame".into()
        }
        tungstenite::Error::Io(io) => format!("connection broken: {io}"),
        tungstenite::Error::Capacity(c) => {
            format!("a message over the size limit ({c}): raise max_body")
        }
        other => other.to_string(),
    }
}
