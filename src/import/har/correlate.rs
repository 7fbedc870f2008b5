//! Pass 3, correlate: the values each response handed out (JSON leaves that
//! look like tokens or ids, headers, cookies, values in HTML) and, for each
//! value a later request sends back, the capture that replaces it with
//! `${var}`. Writing the steps (`step.rs`) asks `sink` for every value it
//! writes; `learn` then records what the step's response handed out.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::Value;

use super::super::emit::{self, CaptureFrom, CaptureOut, Field, StepOut};
use super::super::{singular, variable_name};
use super::filter::Filtered;
use super::parse::{Recorded, Response};

/// The steps written with their captures, and what the scenario says about them.
pub(super) struct Correlated {
    pub(super) steps: Vec<StepOut>,
    /// The step that logs in (what runs once per user ends there).
    pub(super) login: Option<usize>,
    /// A redirect set a cookie: the users' cookie jars carry cookies.
    pub(super) jar_cookies: bool,
    /// Passwords, as scenario variables.
    pub(super) variables: Vec<Field>,
    /// `var (from of request n)`, for the summary.
    pub(super) captured: Vec<String>,
    /// How many values stay as recorded.
    pub(super) hard_coded: usize,
}

/// Writes the kept requests as steps, each value a response handed out and a
/// later request sent back captured.
pub(super) fn correlate(filtered: &Filtered) -> Correlated {
    let mut c = Correlator::new(&filtered.kept, &filtered.left, &filtered.primary);
    let mut steps: Vec<StepOut> = Vec::new();
    for (k, r) in filtered.kept.iter().enumerate() {
        let step = c.step(k, r);
        c.learn(k, r);
        steps.push(step);
    }
    // Captures go on the steps whose responses first held the values.
    for (k, captures) in std::mem::take(&mut c.captures) {
        steps[k].captures = captures;
    }
    Correlated {
        login: c.login_step(),
        jar_cookies: c.jar_cookies,
        captured: c.described_captures(),
        hard_coded: c.hard_coded,
        variables: std::mem::take(&mut c.variables),
        steps,
    }
}

/// Response headers never correlated (they describe the response, not the session).
const PLAIN_RESPONSE_HEADERS: &[&str] = &[
    "date",
    "expires",
    "last-modified",
    "content-length",
    "content-type",
    "content-encoding",
    "server",
    "set-cookie",
    "vary",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "cache-control",
    "age",
    "etag",
    "accept-ranges",
    "strict-transport-security",
];

/// A value the service handed out, and where.
#[derive(Debug, Clone)]
pub(super) struct Source {
    pub(super) step: usize,
    pub(super) from: CaptureFrom,
    pub(super) hint: String,
}

/// Finds the values each request sends back and writes the steps.
pub(super) struct Correlator<'r> {
    pub(super) kept: &'r [Recorded],
    /// The requests left out: searched only to say who handed out a hard-coded value.
    pub(super) left: &'r [Recorded],
    pub(super) primary: String,
    /// Values seen first in a response, by text.
    pub(super) sources: HashMap<String, Source>,
    /// Values the client sent before any response held them: never correlated.
    /// (value -> the step that first sent it).
    pub(super) sent: HashMap<String, usize>,
    /// value -> variable, once a value has been sent back.
    pub(super) vars: HashMap<String, String>,
    pub(super) taken: Vec<String>,
    pub(super) captures: HashMap<usize, Vec<CaptureOut>>,
    pub(super) variables: Vec<Field>,
    /// Requests holding a password (the login), by step.
    pub(super) password_steps: Vec<usize>,
    /// Steps whose captured values are sent back as credentials (auth header or cookie).
    pub(super) auth_sources: Vec<usize>,
    /// Text (HTML...) responses by step, searched for values sent back later.
    pub(super) texts: Vec<(usize, String)>,
    /// Cookies set by a redirect: the cookie jar must carry cookies.
    pub(super) jar_cookies: bool,
    pub(super) hard_coded: usize,
}

impl<'r> Correlator<'r> {
    fn new(kept: &'r [Recorded], left: &'r [Recorded], primary: &str) -> Self {
        // A capture reads the final response of a step, so a cookie set by a
        // redirect on the way cannot be captured: the cookie jar carries it.
        let jar_cookies = kept.iter().any(|r| !r.redirect_cookies.is_empty());
        Correlator {
            kept,
            left,
            primary: primary.to_string(),
            sources: HashMap::new(),
            sent: HashMap::new(),
            vars: HashMap::new(),
            taken: Vec::new(),
            captures: HashMap::new(),
            variables: Vec::new(),
            password_steps: Vec::new(),
            auth_sources: Vec::new(),
            texts: Vec::new(),
            jar_cookies,
            hard_coded: 0,
        }
    }

    /// `${var}` for `value` when an earlier response handed it out; else
    /// `None`, and the value counts as sent by the client.
    pub(super) fn sink(
        &mut self,
        value: &str,
        step: usize,
        place: &str,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        if value.is_empty() {
            return None;
        }
        let source = match self.sources.get(value).cloned() {
            Some(s) => s,
            None => match self.text_source(value) {
                Some(s) => {
                    self.sources.insert(value.to_string(), s.clone());
                    s
                }
                None => {
                    self.sent.entry(value.to_string()).or_insert(step);
                    return None;
                }
            },
        };
        if source.step >= step {
            return None;
        }
        let var = match self.vars.get(value) {
            Some(v) => v.clone(),
            None => {
                let var = variable_name(&source.hint, &mut self.taken);
                self.vars.insert(value.to_string(), var.clone());
                let what = match &source.from {
                    CaptureFrom::Json(p) => format!("JSON {p}"),
                    CaptureFrom::Header(h) => format!("header {h}"),
                    CaptureFrom::Cookie(c) => format!("cookie {c}"),
                    CaptureFrom::Regex(r) => format!("regex {r}"),
                };
                self.captures
                    .entry(source.step)
                    .or_default()
                    .push(CaptureOut {
                        var: var.clone(),
                        from: source.from.clone(),
                        note: Some(format!(
                            "recorded {}: handed out here ({what}), sent back by request {}",
                            preview(value),
                            self.kept[step].number
                        )),
                    });
                var
            }
        };
        notes.push(format!(
            "{place}: ${{{var}}} (recorded {}), captured from request {}",
            preview(value),
            self.kept[source.step].number
        ));
        Some(var)
    }

    /// The variable holding a recorded password (one per distinct password).
    pub(super) fn password_variable(&mut self, recorded: &str) -> String {
        let key = format!("\u{0}password:{recorded}");
        if let Some(v) = self.vars.get(&key) {
            return v.clone();
        }
        let var = variable_name("password", &mut self.taken);
        self.vars.insert(key, var.clone());
        self.variables
            .push(Field::new(var.clone(), emit::literal(recorded)).note(
                "recorded in the HAR file; consider ${env.NAME} instead of keeping a password here",
            ));
        var
    }

    pub(super) fn mark_auth_source(&mut self, value: &str) {
        let token = value.split_once(' ').map_or(value, |(_, t)| t.trim());
        for v in [value, token] {
            if let Some(s) = self.sources.get(v) {
                self.auth_sources.push(s.step);
            }
        }
    }

    /// A value an earlier text response (an HTML form's hidden field, say)
    /// holds: captured with a regular expression anchored on the text before
    /// it, checked to find exactly this value in that response.
    pub(super) fn text_source(&self, value: &str) -> Option<Source> {
        let simple = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~+/=:".contains(c));
        if self.sent.contains_key(value) || !token_like(value) || !simple {
            return None;
        }
        let field = regex::Regex::new(r#"(?:name|id)=["']([^"']+)["']"#).ok()?;
        for (step, text) in &self.texts {
            let Some(at) = text.find(value) else {
                continue;
            };
            for width in [16usize, 32, 64] {
                let mut start = at.saturating_sub(width);
                while !text.is_char_boundary(start) {
                    start += 1;
                }
                let prefix = &text[start..at];
                let prefix = prefix.rsplit('\n').next().unwrap_or(prefix);
                if prefix.trim().is_empty() {
                    break;
                }
                let pattern = format!("{}([A-Za-z0-9_\\-.~+/=:]+)", regex::escape(prefix));
                let Ok(re) = regex::Regex::new(&pattern) else {
                    break;
                };
                let found = re.captures(text).and_then(|c| c.get(1)).map(|m| m.as_str());
                if found == Some(value) {
                    // Name it after the form field or element it sits in.
                    let mut from = at.saturating_sub(160);
                    while !text.is_char_boundary(from) {
                        from += 1;
                    }
                    let hint = field
                        .captures_iter(&text[from..at])
                        .last()
                        .and_then(|c| c.get(1))
                        .map(|m| m.as_str().to_string())
                        .unwrap_or_else(|| "token".into());
                    return Some(Source {
                        step: *step,
                        from: CaptureFrom::Regex(pattern),
                        hint,
                    });
                }
            }
        }
        None
    }

    /// Records the values step `k`'s response handed out.
    pub(super) fn learn(&mut self, k: usize, r: &Recorded) {
        let mut found: Vec<(String, CaptureFrom, String)> = Vec::new();
        for h in &r.response.headers {
            let lower = h.name.to_ascii_lowercase();
            if lower == "set-cookie" {
                let pair = h.value.split(';').next().unwrap_or("");
                if let Some((name, value)) = pair.split_once('=') {
                    let (name, value) = (name.trim(), value.trim());
                    if !value.is_empty() {
                        found.push((
                            value.to_string(),
                            CaptureFrom::Cookie(name.to_string()),
                            name.to_string(),
                        ));
                    }
                }
            } else if !PLAIN_RESPONSE_HEADERS.contains(&lower.as_str()) && h.value.len() >= 8 {
                found.push((
                    h.value.clone(),
                    CaptureFrom::Header(h.name.clone()),
                    h.name.clone(),
                ));
            }
        }
        let json = response_json(&r.response);
        if json.is_none()
            && let Some(text) = response_text(&r.response)
        {
            self.texts.push((k, text));
        }
        if let Some(json) = json {
            let resource = r
                .url
                .path_segments()
                .and_then(|mut s| {
                    s.rfind(|seg| !seg.is_empty() && !seg.chars().all(|c| c.is_ascii_digit()))
                })
                .map(singular)
                .unwrap_or_default();
            let mut budget = 5000;
            json_values(
                &json,
                &mut String::new(),
                &resource,
                &mut found,
                &mut budget,
            );
        }
        for (value, from, hint) in found {
            if self.sent.contains_key(&value) || self.sources.contains_key(&value) {
                continue;
            }
            self.sources.insert(
                value,
                Source {
                    step: k,
                    from,
                    hint,
                },
            );
        }
    }

    /// The comment on a credential written as recorded: which response handed it out, when one did, and why it is
    /// not captured from there.
    pub(super) fn hard_coded_note(&self, value: &str) -> String {
        let token = value.split_once(' ').map_or(value, |(_, t)| t.trim());
        let holds = |r: &Recorded| token.len() >= 4 && response_holds(&r.response, token);
        let by_number = |a: &&Recorded, b: &&Recorded| a.number.cmp(&b.number);
        if let Some(r) = self.left.iter().filter(|r| holds(r)).min_by(by_number) {
            let host = r.url.host_str().unwrap_or("");
            let keep = if super::parse::origin_of(&r.url) == self.primary {
                String::new()
            } else {
                format!("; --include-host {host} keeps it")
            };
            return format!(
                "hard-coded: request {} ({} {}) handed this value out, but it is left out{keep}",
                r.number,
                r.method,
                super::step::shorten(r.url.as_str())
            );
        }
        if let Some(j) = self.kept.iter().position(holds) {
            let first_sent = self.sent.get(token).or(self.sent.get(value)).copied();
            let why = match first_sent {
                Some(s) if s <= j => format!(
                    "but the session sent it first (request {}), so it is not captured",
                    self.kept[s].number
                ),
                _ => "inside a longer value, which is not captured".into(),
            };
            return format!(
                "hard-coded: request {}'s response holds this value, {why}",
                self.kept[j].number
            );
        }
        "hard-coded: no recorded response handed this value out".into()
    }

    /// The step that logs in: the first that sends a password, else the first
    /// whose response handed out a credential sent back later.
    pub(super) fn login_step(&self) -> Option<usize> {
        self.password_steps
            .iter()
            .min()
            .copied()
            .or_else(|| self.auth_sources.iter().min().copied())
    }

    pub(super) fn described_captures(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut steps: Vec<&usize> = self.captures.keys().collect();
        steps.sort();
        for k in steps {
            for c in &self.captures[k] {
                let from = match &c.from {
                    CaptureFrom::Json(p) => format!("JSON {p}"),
                    CaptureFrom::Header(h) => format!("header {h}"),
                    CaptureFrom::Cookie(n) => format!("cookie {n}"),
                    CaptureFrom::Regex(r) => format!("regex {r}"),
                };
                out.push(format!(
                    "{} ({from} of request {})",
                    c.var, self.kept[*k].number
                ));
            }
        }
        out
    }
}

/// True when a response's headers or body hold `value`.
fn response_holds(response: &Response, value: &str) -> bool {
    if response.headers.iter().any(|h| h.value.contains(value)) {
        return true;
    }
    let Some(text) = response.content.text.as_deref() else {
        return false;
    };
    if response.content.encoding.as_deref() == Some("base64") {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .is_ok_and(|bytes| bytes.windows(value.len()).any(|w| w == value.as_bytes()))
    } else {
        text.contains(value)
    }
}

/// A text response body (HTML, XML, plain text) to search for values, up to 2 MiB.
fn response_text(response: &Response) -> Option<String> {
    let content = &response.content;
    let mime = content.mime_type.to_ascii_lowercase();
    let textual = mime.starts_with("text/") || mime.contains("html") || mime.contains("xml");
    let text = content.text.as_deref()?;
    if !textual || content.encoding.as_deref() == Some("base64") || text.len() > 2 * 1024 * 1024 {
        return None;
    }
    Some(text.to_string())
}

/// Long enough and random-looking enough to be a handed-out value, not a word.
fn token_like(value: &str) -> bool {
    let n = value.chars().count();
    (8..=4096).contains(&n)
        && !value.chars().any(char::is_whitespace)
        && (value.chars().any(|c| c.is_ascii_digit()) || n >= 16)
}

/// The response body as JSON, when it is JSON.
fn response_json(response: &Response) -> Option<Value> {
    let content = &response.content;
    let text = content.text.as_deref()?;
    let bytes = if content.encoding.as_deref() == Some("base64") {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    } else {
        text.as_bytes().to_vec()
    };
    let looks_json = content.mime_type.contains("json")
        || bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{' || *b == b'[');
    if !looks_json || bytes.len() > super::super::MAX_INPUT {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// The leaves of a JSON response that look like handed-out values: strings
/// of 4 to 4096 characters without spaces that hold a digit or are 16+
/// characters long (tokens, ids, UUIDs), and integers of two digits or more.
fn json_values(
    value: &Value,
    pointer: &mut String,
    resource: &str,
    out: &mut Vec<(String, CaptureFrom, String)>,
    budget: &mut usize,
) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    let hint = |pointer: &str| -> String {
        let segs: Vec<&str> = pointer.split('/').skip(1).collect();
        let named: Vec<&str> = segs
            .iter()
            .copied()
            .filter(|s| !s.chars().all(|c| c.is_ascii_digit()))
            .collect();
        let container = |name: &str| {
            [
                "items", "data", "results", "records", "rows", "content", "entries", "list",
                "values", "objects", "elements", "hits", "nodes",
            ]
            .contains(&name)
        };
        match named.as_slice() {
            [] => resource.to_string(),
            [.., parent, last] if last.eq_ignore_ascii_case("id") && !container(parent) => {
                format!("{}_id", singular(parent))
            }
            [.., last] if last.eq_ignore_ascii_case("id") && !resource.is_empty() => {
                format!("{resource}_id")
            }
            [.., last] => last.to_string(),
        }
    };
    match value {
        Value::String(s) => {
            let n = s.chars().count();
            let token_like = (4..=4096).contains(&n)
                && !s.chars().any(char::is_whitespace)
                && (s.chars().any(|c| c.is_ascii_digit()) || n >= 16);
            if token_like {
                out.push((s.clone(), CaptureFrom::Json(pointer.clone()), hint(pointer)));
            }
        }
        Value::Number(num) => {
            if let Some(i) = num.as_i64().filter(|i| i.unsigned_abs() >= 10) {
                out.push((
                    i.to_string(),
                    CaptureFrom::Json(pointer.clone()),
                    hint(pointer),
                ));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                json_values(v, pointer, resource, out, budget);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                json_values(v, pointer, resource, out, budget);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// A value for a comment: short ones whole, long ones cut.
pub(super) fn preview(value: &str) -> String {
    let n = value.chars().count();
    if n <= 24 {
        format!("\"{value}\"")
    } else {
        let head: String = value.chars().take(12).collect();
        format!("\"{head}...\" ({n} characters)")
    }
}
