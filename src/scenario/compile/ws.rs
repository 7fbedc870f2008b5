//! Compiles a `ws:` step: the socket's URL and handshake headers, its messages
//! (what to send, what answer to wait for, what to capture from it), and how
//! long the socket stays open.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::{Compiler, StepScope, StepTemplates, json_template};
use crate::scenario::diagnostic::Diagnostic;
use crate::scenario::model::{self, Capture, Step};
use crate::scenario::plan::*;
use crate::scenario::spanned::{Loc, Sp};

impl Compiler<'_> {
    pub(super) fn ws_step(
        &mut self,
        step: &Sp<Step>,
        visible: &[String],
        later: &[String],
        names: &mut BTreeMap<String, (Loc, String)>,
    ) -> Option<WsPlan> {
        let path = step.ws.as_ref()?;
        if !self.ws_keys(step, path) {
            return None;
        }
        let name = match &step.name {
            Some(n) => n.value.clone(),
            None => self.masked(format!("WS {}", self.path_template(path))),
        };
        let duplicate = self.ws_name(step, &name, path, names);
        let timeout = match &step.timeout {
            Some(t) => self.timeout(t),
            None => self.default_timeout,
        };
        let max_message = match &step.max_body {
            Some(b) => self.max_body(b),
            None => self.default_max_body,
        };
        let (hold, background) = self.ws_hold(step);

        let socket = self.endpoint(&name, "WS");
        let connect = self.endpoint(&format!("{name} connect"), "WS");

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
            templates.problems.borrow_mut().extend(duplicate);
            let headers = templates.headers(step);
            let problems = templates.problems.into_inner();
            self.problems.extend(problems);
            (url, headers)
        };
        let messages = self.ws_messages(step, &name, timeout, visible, later);
        Some(WsPlan {
            scenario: self.current_scenario,
            url,
            headers,
            timeout,
            connect,
            socket,
            messages,
            hold,
            background,
            max_message,
        })
    }

    /// Checks the keys a `ws:` step may not hold and its URL's form; `false`
    /// when it is an HTTP request too (no plan is made of it).
    fn ws_keys(&mut self, step: &Sp<Step>, path: &Sp<String>) -> bool {
        let methods = [
            (&step.get, "get"),
            (&step.post, "post"),
            (&step.put, "put"),
            (&step.patch, "patch"),
            (&step.delete, "delete"),
            (&step.head, "head"),
        ];
        if let Some((p, key)) = methods.iter().find_map(|(p, k)| p.as_ref().map(|p| (p, k))) {
            self.error_help(
                p.loc,
                format!("a step has both ws and {key}; give one"),
                "a WebSocket and an HTTP request are two steps",
            );
            return false;
        }
        for (set, key) in [
            (step.json.is_some(), "json"),
            (step.form.is_some(), "form"),
            (step.body.is_some(), "body"),
            (step.expect.is_some(), "expect"),
            (!step.capture.is_empty(), "capture"),
            (step.follow_redirects.is_some(), "follow_redirects"),
        ] {
            if set {
                self.error_help(
                    step.loc,
                    format!("{key} is for HTTP requests, and this step is a WebSocket"),
                    "a ws step sends, expects and captures in messages: \
                     e.g. messages: [ { send: hello, expect: { contains: hello, within: 1s } } ]",
                );
            }
        }
        if let Some(scheme) = path.split_once("://").map(|(scheme, _)| scheme)
            && !matches!(scheme, "ws" | "wss" | "http" | "https")
        {
            self.error_help(
                path.loc,
                format!("\"{}\" is not a ws:// or wss:// URL", path.value),
                "give a ws:// or wss:// URL, or a path on the host such as /ws/notifications",
            );
        }
        if path.value.is_empty() {
            self.error(path.loc, "ws needs a URL or a path, e.g. /ws/notifications");
        }
        true
    }

    /// How long the socket stays open after its messages: `hold`, or in the
    /// background until the user stops.
    fn ws_hold(&mut self, step: &Sp<Step>) -> (Option<std::time::Duration>, bool) {
        let hold = step.hold.as_ref().map(|h| {
            if h.value.0.is_zero() {
                self.error(
                    h.loc,
                    "hold must be above 0 (leave it out to close the socket after its messages)",
                );
            }
            h.value.0
        });
        let background = step.background.as_ref().is_some_and(|b| b.value);
        if let (Some(h), Some(_)) = (&step.hold, step.background.as_ref().filter(|b| b.value)) {
            self.error_help(
                h.loc,
                "a socket is held for a time or kept in the background, not both",
                "remove hold: (a background socket stays open until the user stops)",
            );
        }
        (hold, background)
    }

    /// The step's messages; each sees the captures of the messages before it.
    fn ws_messages(
        &mut self,
        step: &Sp<Step>,
        name: &str,
        timeout: std::time::Duration,
        visible: &[String],
        later: &[String],
    ) -> Vec<WsMessagePlan> {
        let mut visible = visible.to_vec();
        let mut later = later.to_vec();
        let mut messages = Vec::new();
        for (i, m) in step.messages.iter().enumerate() {
            messages.push(self.ws_message(m, i, name, timeout, &visible, &later));
            for captured in m.capture.keys() {
                if let Some(pos) = later.iter().position(|l| l == captured) {
                    later.remove(pos);
                }
                visible.push(captured.clone());
            }
        }
        messages
    }

    /// Notes the socket's name, and the error when the file gives it to a different request.
    fn ws_name(
        &self,
        step: &Sp<Step>,
        name: &str,
        path: &Sp<String>,
        names: &mut BTreeMap<String, (Loc, String)>,
    ) -> Option<Diagnostic> {
        let loc = step.name.as_ref().map(|n| n.loc).unwrap_or(path.loc);
        let signature = format!("WS {}", path.value);
        match names.get(name) {
            Some((first, other)) if *other != signature && step.name.is_some() => {
                Some(Diagnostic::new(
                    loc,
                    format!(
                        "duplicate request name \"{name}\" (line {} names a different request)",
                        first.line
                    ),
                ))
            }
            Some(_) => None,
            None => {
                names.insert(name.to_string(), (loc, signature));
                None
            }
        }
    }

    /// One message of a WebSocket step: what it sends, what it waits for,
    /// what it captures.
    fn ws_message(
        &mut self,
        m: &Sp<model::WsMessage>,
        index: usize,
        step_name: &str,
        timeout: std::time::Duration,
        visible: &[String],
        later: &[String],
    ) -> WsMessagePlan {
        let mut problems = shape_problems(m);
        let send = {
            let templates = StepTemplates {
                scope: StepScope {
                    compiler: self,
                    visible,
                    later,
                },
                problems: RefCell::new(Vec::new()),
            };
            let send = if let Some(text) = &m.send {
                Some(WsSend::Text(templates.compile(text, text.loc)))
            } else {
                m.json.as_ref().map(|json| {
                    WsSend::Json(json_template(&json.value, &mut |s: &str| {
                        templates.compile(s, json.loc)
                    }))
                })
            };
            problems.extend(templates.problems.into_inner());
            send
        };
        let expect = m.expect.as_ref().map(|e| WsExpectPlan {
            contains: self.expected_texts(e.contains.as_ref(), &mut problems),
            json: self.json_checks(&e.json, &mut problems),
            within: match &e.within {
                Some(w) if w.value.0.is_zero() => {
                    problems.push(Diagnostic::new(w.loc, "within must be above 0"));
                    timeout
                }
                Some(w) => w.value.0,
                None => timeout,
            },
        });
        let usable: indexmap::IndexMap<String, Sp<Capture>> = m
            .capture
            .iter()
            .filter(|(_, c)| matches!(c.value, Capture::Json(_) | Capture::Regex(_)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let captures = self.captures(&usable, &mut problems);
        self.problems.extend(problems);
        let endpoint = expect.is_some().then(|| {
            let name = match &m.name {
                Some(n) => n.value.clone(),
                None => format!("{step_name} message {}", index + 1),
            };
            self.endpoint(&name, "WS")
        });
        WsMessagePlan {
            endpoint,
            send,
            expect,
            captures,
        }
    }
}

/// What is wrong with a message's keys taken together (both send: and json:,
/// none of send:, json: and expect:, a capture with nothing to capture from).
fn shape_problems(m: &Sp<model::WsMessage>) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    if m.send.is_some() && m.json.is_some() {
        problems.push(Diagnostic::new(
            m.loc,
            "a message is text (send:) or JSON (json:), not both",
        ));
    }
    if m.send.is_none() && m.json.is_none() && m.expect.is_none() {
        problems.push(
            Diagnostic::new(m.loc, "a message needs send:, json: or expect:")
                .with_help("send: TEXT or json: {...} sends a message; expect: waits for one"),
        );
    }
    if !m.capture.is_empty() && m.expect.is_none() {
        problems.push(
            Diagnostic::new(m.loc, "capture needs expect: the message to capture from")
                .with_help("add expect: (with within:, and what the message holds)"),
        );
    }
    for (name, c) in &m.capture {
        if matches!(c.value, Capture::Header(_) | Capture::Cookie(_)) {
            problems.push(
                Diagnostic::new(
                    c.loc,
                    format!("capture \"{name}\": a WebSocket message has no headers or cookies"),
                )
                .with_help("capture from the message with json: /pointer or regex:"),
            );
        }
    }
    problems
}
