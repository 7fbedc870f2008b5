//! Compiles the keys for answers that come later: the top-level `sink` and
//! `telegram` (the servers gander serves), and the `await`, `telegram` (with
//! `reply`) and `sse` (with `until`) steps. Every mistake is located.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use indexmap::IndexMap;

use super::{Compiler, GlobalScope, StepScope, StepTemplates};
use crate::scenario::answers::{Await, Sink, SseUntil, Telegram, TelegramUpdate};
use crate::scenario::model::{Capture, Step};
use crate::scenario::plan::*;
use crate::scenario::spanned::{Loc, Sp};
use crate::scenario::template::Template;

/// Default wait of `await:`.
const DEFAULT_AWAIT: Duration = Duration::from_secs(10);
/// Default wait of `reply:`.
const DEFAULT_REPLY: Duration = Duration::from_secs(5);
/// Default largest callback body kept.
const DEFAULT_SINK_BODY: usize = 64 << 10;
/// The most messages one `reply:` may count.
const MAX_REPLY_COUNT: u64 = 100;
/// Default largest SSE event.
const DEFAULT_MAX_EVENT: usize = 1 << 20;

/// What the steps need of the top-level `sink` and `telegram`.
#[derive(Default)]
pub(super) struct Known {
    sink: bool,
    hook: Option<Hook>,
}

struct Hook {
    webhook: Sp<String>,
    secret_token: Option<String>,
}

/// `HOST:PORT` (or `http://HOST:PORT`) as one socket address.
/// Why a listen address is not one socket address.
#[derive(Debug, thiserror::Error)]
enum AddrError {
    #[error("no port")]
    MissingPort,
    #[error("not IP:PORT")]
    NotIpAndPort,
    #[error("a bad port")]
    Unparsable,
}

fn socket_addr(text: &str) -> Result<SocketAddr, AddrError> {
    let bare = text
        .strip_prefix("http://")
        .unwrap_or(text)
        .trim_end_matches('/');
    if let Ok(addr) = bare.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = bare.rsplit_once(':').ok_or(AddrError::MissingPort)?;
    if !host.eq_ignore_ascii_case("localhost") {
        return Err(AddrError::NotIpAndPort);
    }
    let port: u16 = port.parse().map_err(|_| AddrError::Unparsable)?;
    ("127.0.0.1", port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(AddrError::NotIpAndPort)
}

impl Compiler<'_> {
    /// The servers gander serves: checked, and what the steps need noted.
    pub(super) fn answers(
        &mut self,
        sink: Option<&Sp<Sink>>,
        telegram: Option<&Sp<Telegram>>,
    ) -> AnswersPlan {
        let mut plan = AnswersPlan::default();
        if let Some(s) = sink {
            self.answers.sink = true;
            plan.sink = self.listen(&s.listen, "listen").map(|listen| SinkPlan {
                listen,
                max_body: s
                    .max_body
                    .as_ref()
                    .map_or(DEFAULT_SINK_BODY, |b| self.max_body(b) as usize),
            });
        }
        if let Some(t) = telegram {
            plan.telegram = self.bot_api(t);
            if let (Some(sink), Some(bot)) = (&plan.sink, &plan.telegram)
                && sink.listen == bot.listen
            {
                self.error_help(
                    t.bot_api.loc,
                    format!("bot_api and sink.listen are both {}", bot.listen),
                    "give the Bot API and the callback sink different ports",
                );
            }
        }
        plan
    }

    fn listen(&mut self, text: &Sp<String>, key: &str) -> Option<SocketAddr> {
        let value = self.global_text(text)?;
        match socket_addr(&value) {
            Ok(addr) if addr.port() != 0 => Some(addr),
            Ok(_) => {
                self.error_help(
                    text.loc,
                    format!("{key} needs a port other than 0"),
                    "the service under test must know where to call: e.g. 127.0.0.1:9100",
                );
                None
            }
            Err(why) => {
                self.error_help(
                    text.loc,
                    format!("{key} \"{value}\" is not an address to listen on ({why})"),
                    format!("write IP:PORT, e.g. {key}: 127.0.0.1:9100"),
                );
                None
            }
        }
    }

    /// A top-level text: variables and `${env.NAME}` filled in now.
    fn global_text(&mut self, text: &Sp<String>) -> Option<String> {
        match Template::compile(text, &GlobalScope(self)) {
            Ok(t) => Some(t.as_constant().unwrap_or_default().to_string()),
            Err(e) => {
                self.error(text.loc, e.to_string());
                None
            }
        }
    }

    fn bot_api(&mut self, t: &Sp<Telegram>) -> Option<BotApiPlan> {
        let listen = self.listen(&t.bot_api, "bot_api");
        let token = self.global_text(&t.token)?;
        let well_formed = token.split_once(':').is_some_and(|(id, secret)| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !secret.is_empty()
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        if !well_formed {
            self.error_help(
                t.token.loc,
                "token is not a bot token",
                "a bot token is the bot's id, a colon and its secret, e.g. 123456:ABC-def_42; \
                 give the token the bot under test is started with",
            );
        }
        self.secrets.borrow_mut().push(token.clone());
        let secret_token = match &t.secret_token {
            Some(s) => {
                let value = self.global_text(s)?;
                let ok = (1..=256).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !ok {
                    self.error_help(
                        s.loc,
                        "secret_token must be 1 to 256 of A-Z, a-z, 0-9, _ and -",
                        "Telegram allows only these in X-Telegram-Bot-Api-Secret-Token",
                    );
                }
                self.secrets.borrow_mut().push(value.clone());
                Some(value)
            }
            None => None,
        };
        let hook = &t.webhook;
        if !(hook.starts_with('/') || super::is_http_url(hook)) {
            self.error_help(
                hook.loc,
                format!("webhook \"{}\" is not a path or an http(s) URL", hook.value),
                "give the bot's webhook path on host, e.g. webhook: /webhook",
            );
        }
        self.answers.hook = Some(Hook {
            webhook: hook.clone(),
            secret_token,
        });
        Some(BotApiPlan {
            listen: listen?,
            token,
        })
    }

    /// An `await`, `telegram` or `sse` step (or a step with `reply`/`until` alone).
    pub(super) fn answer_step(
        &mut self,
        step: &Sp<Step>,
        visible: &[String],
        later: &[String],
        names: &mut BTreeMap<String, (Loc, String)>,
    ) -> Option<StepPlan> {
        let kinds = self.step_kinds(step);
        let (kind, _) = *kinds.first()?;
        if let Some((second, loc)) = kinds.get(1) {
            self.error_help(
                *loc,
                format!("a step has both {kind} and {second}; give one"),
                "each is a step of its own: list them one after the other",
            );
            return None;
        }
        self.foreign_keys(step, kind);
        self.answer_captures(&step.capture, kind);
        match kind {
            "await" => self.await_step(step, step.await_.as_ref()?, visible, later, names),
            "telegram" => self.telegram_step(step, step.telegram.as_ref()?, visible, later, names),
            "sse" => self.sse_step(step, visible, later, names),
            _ => None,
        }
    }

    /// Which of the step kinds a step gives, with where.
    fn step_kinds(&mut self, step: &Sp<Step>) -> Vec<(&'static str, Loc)> {
        let kinds: Vec<(&'static str, Loc)> = [
            ("await", step.await_.as_ref().map(|a| a.loc)),
            ("telegram", step.telegram.as_ref().map(|a| a.loc)),
            ("sse", step.sse.as_ref().map(|a| a.loc)),
            ("ws", step.ws.as_ref().map(|a| a.loc)),
            ("get", step.get.as_ref().map(|a| a.loc)),
            ("post", step.post.as_ref().map(|a| a.loc)),
            ("put", step.put.as_ref().map(|a| a.loc)),
            ("patch", step.patch.as_ref().map(|a| a.loc)),
            ("delete", step.delete.as_ref().map(|a| a.loc)),
            ("head", step.head.as_ref().map(|a| a.loc)),
        ]
        .into_iter()
        .filter_map(|(k, loc)| loc.map(|l| (k, l)))
        .collect();
        let answering = kinds
            .iter()
            .any(|(k, _)| matches!(*k, "await" | "telegram" | "sse"));
        if !answering {
            let (key, loc, needs) = match (&step.reply, &step.until) {
                (Some(r), _) => ("reply", r.loc, "telegram: { text: /start }"),
                (None, Some(u)) => ("until", u.loc, "sse: /events"),
                (None, None) => return kinds,
            };
            self.error_help(
                loc,
                format!(
                    "{key} belongs to a step that {}",
                    if key == "reply" {
                        "posts a Telegram update"
                    } else {
                        "reads server-sent events"
                    }
                ),
                format!("add {needs} to this step"),
            );
            return Vec::new();
        }
        kinds
    }

    /// Keys of other kinds of steps, each an error at the step.
    fn foreign_keys(&mut self, step: &Sp<Step>, kind: &str) {
        let keys = [
            (step.json.is_some(), "json"),
            (step.form.is_some(), "form"),
            (step.body.is_some(), "body"),
            (step.expect.is_some(), "expect"),
            (step.follow_redirects.is_some(), "follow_redirects"),
            (!step.messages.is_empty(), "messages"),
            (step.hold.is_some(), "hold"),
            (step.background.is_some(), "background"),
            (step.reply.is_some() && kind != "telegram", "reply"),
            (step.until.is_some() && kind != "sse", "until"),
            (!step.headers.is_empty() && kind != "sse", "headers"),
            (step.timeout.is_some() && kind == "await", "timeout"),
            (step.max_body.is_some() && kind != "sse", "max_body"),
        ];
        for (set, key) in keys {
            if set {
                let help = match kind {
                    "await" => "an await step takes path, within and contains, a name and captures",
                    "telegram" => {
                        "a telegram step takes text or callback, reply, timeout, a name and captures"
                    }
                    _ => "an sse step takes headers, timeout, max_body, until, a name and captures",
                };
                self.error_help(step.loc, format!("{key} does not go with {kind}"), help);
            }
        }
    }

    /// Only `json:` and `regex:` captures read what arrives.
    fn answer_captures(&mut self, captures: &IndexMap<String, Sp<Capture>>, kind: &str) {
        for (name, c) in captures {
            if matches!(c.value, Capture::Header(_) | Capture::Cookie(_)) {
                self.error_help(
                    c.loc,
                    format!("capture \"{name}\": a {kind} step captures from what arrives"),
                    "capture with json: /pointer or regex:",
                );
            }
        }
    }

    /// `within`, checked above 0, or the default.
    fn within(
        &mut self,
        within: Option<&Sp<crate::scenario::units::Dur>>,
        default: Duration,
    ) -> Duration {
        match within {
            Some(w) if w.value.0.is_zero() => {
                self.error(w.loc, "within must be above 0");
                default
            }
            Some(w) => w.value.0,
            None => default,
        }
    }

    /// Captures usable by an answer step (json and regex), compiled.
    fn answer_capture_plans(&mut self, step: &Sp<Step>) -> Vec<CapturePlan> {
        let usable: IndexMap<String, Sp<Capture>> = step
            .capture
            .iter()
            .filter(|(_, c)| matches!(c.value, Capture::Json(_) | Capture::Regex(_)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut problems = Vec::new();
        let captures = self.captures(&usable, &mut problems);
        self.problems.extend(problems);
        captures
    }

    /// The step's name, and the error when the file gives it to another request.
    fn answer_name(
        &mut self,
        step: &Sp<Step>,
        kind: &str,
        what: &Sp<String>,
        names: &mut BTreeMap<String, (Loc, String)>,
    ) -> String {
        let (name, duplicate) = self.request_name(step, kind, what, names);
        self.problems.extend(duplicate);
        name
    }

    fn await_step(
        &mut self,
        step: &Sp<Step>,
        a: &Sp<Await>,
        visible: &[String],
        later: &[String],
        names: &mut BTreeMap<String, (Loc, String)>,
    ) -> Option<StepPlan> {
        if !self.answers.sink {
            self.error_help(
                a.loc,
                "await waits for a callback to the sink, and the file has no sink",
                "add at the top level: sink: { listen: 127.0.0.1:9100 }, and have the service \
                 call back there",
            );
        }
        if !a.path.starts_with('/') {
            self.error_help(
                a.path.loc,
                format!(
                    "the callback path \"{}\" does not start with /",
                    a.path.value
                ),
                "give the path the service calls back on, e.g. /callback/${order_id}",
            );
        }
        let name = self.answer_name(step, "AWAIT", &a.path, names);
        let within = self.within(a.within.as_ref(), DEFAULT_AWAIT);
        let mut problems = Vec::new();
        let contains = self.expected_texts(a.contains.as_ref(), &mut problems);
        self.problems.extend(problems);
        let path = self.step_template(&a.path, visible, later);
        let captures = self.answer_capture_plans(step);
        let endpoint = self.endpoint(&name, "AWAIT");
        Some(StepPlan::Await(Arc::new(AwaitPlan {
            scenario: self.current_scenario,
            endpoint,
            path,
            within,
            contains,
            captures,
        })))
    }

    /// A text of a step compiled in the step's scope.
    fn step_template(
        &mut self,
        text: &Sp<String>,
        visible: &[String],
        later: &[String],
    ) -> Template {
        let templates = StepTemplates {
            scope: StepScope {
                compiler: self,
                visible,
                later,
            },
            problems: RefCell::new(Vec::new()),
        };
        let t = templates.compile(text, text.loc);
        let problems = templates.problems.into_inner();
        self.problems.extend(problems);
        t
    }

    fn telegram_step(
        &mut self,
        step: &Sp<Step>,
        t: &Sp<TelegramUpdate>,
        visible: &[String],
        later: &[String],
        names: &mut BTreeMap<String, (Loc, String)>,
    ) -> Option<StepPlan> {
        let Some(hook) = self
            .answers
            .hook
            .as_ref()
            .map(|h| (h.webhook.clone(), h.secret_token.clone()))
        else {
            self.error_help(
                t.loc,
                "a telegram step posts to the bot's webhook, and the file has no telegram:",
                "add at the top level: telegram: { webhook: /webhook, bot_api: 127.0.0.1:8081, \
                 token: \"123456:ABC\" }",
            );
            return None;
        };
        let (label, update) = match (&t.text, &t.callback) {
            (Some(text), None) => (
                text.clone(),
                UpdatePlan::Text(self.step_template(text, visible, later)),
            ),
            (None, Some(data)) => (
                Sp::new(format!("callback {}", data.value), data.loc),
                UpdatePlan::Callback {
                    data: self.step_template(data, visible, later),
                    message_id: t
                        .message_id
                        .as_ref()
                        .map(|m| self.step_template(m, visible, later)),
                },
            ),
            _ => {
                self.error_help(
                    t.loc,
                    "a telegram update needs one of text and callback",
                    "text: /start sends a message; callback: DATA presses a button",
                );
                return None;
            }
        };
        if let (Some(m), Some(_)) = (&t.message_id, &t.text) {
            self.error(
                m.loc,
                "message_id goes with callback: (the message the button is on)",
            );
        }
        let name = self.answer_name(step, "TG", &label, names);
        let reply = step.reply.as_ref().map(|r| self.reply_plan(r, &name));
        if reply.is_none()
            && let Some((_, c)) = step.capture.first()
        {
            self.error_help(
                c.loc,
                "capture needs reply: the bot's answer to capture from",
                "add reply: { within: 5s }",
            );
        }
        let webhook = self.webhook_request(step, &name, hook);
        let captures = self.answer_capture_plans(step);
        Some(StepPlan::Telegram(Arc::new(TelegramPlan {
            scenario: self.current_scenario,
            webhook: Arc::new(webhook),
            update,
            reply,
            captures,
        })))
    }

    fn reply_plan(&mut self, r: &Sp<crate::scenario::answers::Reply>, name: &str) -> ReplyPlan {
        let count = r.count.as_ref().map_or(1, |c| c.value.0);
        if let Some(c) = r
            .count
            .as_ref()
            .filter(|_| !(1..=MAX_REPLY_COUNT).contains(&count))
        {
            self.error(c.loc, format!("count must be 1 to {MAX_REPLY_COUNT}"));
        }
        let mut problems = Vec::new();
        let contains = self.expected_texts(r.contains.as_ref(), &mut problems);
        self.problems.extend(problems);
        ReplyPlan {
            endpoint: self.endpoint(name, "TG"),
            within: self.within(r.within.as_ref(), DEFAULT_REPLY),
            contains,
            count: count.clamp(1, MAX_REPLY_COUNT) as usize,
        }
    }

    /// The POST of an update to the webhook, as its own request name.
    fn webhook_request(
        &mut self,
        step: &Sp<Step>,
        name: &str,
        (hook, secret): (Sp<String>, Option<String>),
    ) -> RequestPlan {
        let url = self.below_base(
            &hook,
            Template::compile(&hook, &GlobalScope(self)).unwrap_or_default(),
        );
        let constant = |v: &str| Template::compile(v, &GlobalScope(self)).unwrap_or_default();
        let mut headers = vec![(hyper::header::CONTENT_TYPE, constant("application/json"))];
        if let Some(secret) = secret.filter(|s| HeaderValue::from_str(s).is_ok()) {
            headers.push((
                HeaderName::from_static("x-telegram-bot-api-secret-token"),
                constant(&secret),
            ));
        }
        let timeout = match &step.timeout {
            Some(t) => self.timeout(t),
            None => self.default_timeout,
        };
        RequestPlan {
            endpoint: self.endpoint(&format!("{name} webhook"), "POST"),
            scenario: self.current_scenario,
            method: Method::Post,
            url,
            headers,
            body: BodyPlan::None,
            timeout,
            follow_redirects: false,
            max_body: 64 << 10,
            expect: ExpectPlan::default(),
            captures: Vec::new(),
        }
    }

    fn sse_step(
        &mut self,
        step: &Sp<Step>,
        visible: &[String],
        later: &[String],
        names: &mut BTreeMap<String, (Loc, String)>,
    ) -> Option<StepPlan> {
        let path = step.sse.as_ref()?;
        if !(path.starts_with('/') || super::is_http_url(path)) {
            self.error_help(
                path.loc,
                format!("sse \"{}\" is not a path or an http(s) URL", path.value),
                "give the stream's path on host, e.g. sse: /events",
            );
        }
        let name = self.answer_name(step, "SSE", path, names);
        let timeout = match &step.timeout {
            Some(t) => self.timeout(t),
            None => self.default_timeout,
        };
        let max_event = match &step.max_body {
            Some(b) => self.max_body(b) as usize,
            None => DEFAULT_MAX_EVENT,
        };
        let default_until = SseUntil::default();
        let until = step.until.as_ref().map_or(&default_until, |u| &u.value);
        let until_events = until.events.as_ref().map(|e| {
            if !(1..=MAX_SSE_EVENTS).contains(&e.value.0) {
                self.error(e.loc, format!("events must be 1 to {MAX_SSE_EVENTS}"));
            }
            e.value.0.clamp(1, MAX_SSE_EVENTS)
        });
        let until_event = until.event.as_ref().map(|e| {
            if e.value.is_empty() || e.value.contains(['\n', '\r']) {
                self.error(e.loc, "event must be an event type: one line, not empty");
            }
            e.value.clone()
        });
        let within = self.within(until.within.as_ref(), timeout);
        let (url, headers) = {
            let templates = StepTemplates {
                scope: StepScope {
                    compiler: self,
                    visible,
                    later,
                },
                problems: RefCell::new(Vec::new()),
            };
            let url = templates.url(path);
            let headers = templates.headers(step);
            let problems = templates.problems.into_inner();
            self.problems.extend(problems);
            (url, headers)
        };
        let captures = self.answer_capture_plans(step);
        let endpoint = self.endpoint(&name, "SSE");
        Some(StepPlan::Sse(Arc::new(SsePlan {
            scenario: self.current_scenario,
            endpoint,
            url,
            headers,
            timeout,
            until_events,
            until_event,
            within,
            max_event,
            captures,
        })))
    }
}
