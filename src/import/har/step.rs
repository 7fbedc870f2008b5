//! Pass 4, emit (per request): each kept request written as a step, every
//! value it sends that a response handed out replaced by `${var}`.

use serde_json::Value;

use super::super::emit::{self, BodyOut, Field, StepOut};
use super::super::is_password_field;
use super::correlate::Correlator;
use super::parse::{PostData, Recorded, header, origin_of};

/// Request headers the browser manages or that would change what the server
/// answers (cache validators): not written into steps.
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "accept-encoding",
    "cookie",
    "user-agent",
    "upgrade-insecure-requests",
    "pragma",
    "cache-control",
    "if-none-match",
    "if-modified-since",
    "referer",
    "origin",
    "priority",
    "te",
    "dnt",
    "accept-language",
    "keep-alive",
    "proxy-connection",
    "purpose",
    "sec-purpose",
];

impl Correlator<'_> {
    /// Writes step `k` from its recorded request, sending back captured values.
    pub(super) fn step(&mut self, k: usize, r: &Recorded) -> StepOut {
        let mut notes = vec![format!(
            "{}. {} {} at +{}",
            r.number,
            r.method,
            shorten(r.url.as_str()),
            human_ms(r.start_ms as u64)
        )];
        let url = self.url(k, r, &mut notes);
        let mut step = StepOut::new(method_key(&r.method), url);
        self.headers(k, r, &mut step, &mut notes);
        if let Some(cookie) = header(&r.request.headers, "cookie")
            && !self.jar_cookies
        {
            let field = self.cookie(k, cookie, &mut notes);
            step.headers.push(field);
        }
        if let Some(post) = &r.request.post_data {
            self.body(k, post, &mut step, &mut notes);
        }
        expectation(r, &mut step, &mut notes);
        step.notes = notes;
        step
    }

    /// The URL: path segments and query values may be captured values.
    fn url(&mut self, k: usize, r: &Recorded, notes: &mut Vec<String>) -> String {
        let mut url = if origin_of(&r.url) == self.primary {
            String::new()
        } else {
            emit::literal(&origin_of(&r.url))
        };
        for (i, seg) in r.url.path().split('/').enumerate() {
            if i > 0 {
                url.push('/');
            }
            let decoded = percent_encoding::percent_decode_str(seg)
                .decode_utf8_lossy()
                .into_owned();
            match self.sink(&decoded, k, "path", notes) {
                Some(var) => url.push_str(&format!("${{{var}}}")),
                None => url.push_str(&emit::literal(seg)),
            }
        }
        if let Some(query) = r.url.query() {
            url.push('?');
            let mut parts = Vec::new();
            for pair in query.split('&') {
                let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
                let decoded = percent_encoding::percent_decode_str(&raw.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned();
                let place = format!("query {key}");
                match self.sink(&decoded, k, &place, notes) {
                    Some(var) => parts.push(format!("{}=${{{var}}}", emit::literal(key))),
                    None => parts.push(emit::literal(pair)),
                }
            }
            url.push_str(&parts.join("&"));
        }
        url
    }

    /// Headers: credentials and custom headers; the browser's own are dropped.
    fn headers(&mut self, k: usize, r: &Recorded, step: &mut StepOut, notes: &mut Vec<String>) {
        let post_mime = r
            .request
            .post_data
            .as_ref()
            .map(|p| p.mime_type.to_ascii_lowercase())
            .unwrap_or_default();
        let structured_body =
            post_mime.contains("json") || post_mime.contains("x-www-form-urlencoded");
        for h in &r.request.headers {
            let lower = h.name.to_ascii_lowercase();
            if lower.starts_with(':')
                || lower.starts_with("sec-")
                || DROPPED_REQUEST_HEADERS.contains(&lower.as_str())
                || (lower == "content-type" && structured_body)
                || (lower == "accept" && h.value == "*/*")
            {
                continue;
            }
            let value = self.header_value(k, &h.name, &h.value, notes);
            let is_auth =
                lower == "authorization" || lower.contains("token") || lower.contains("api-key");
            let field = match value {
                Some(v) => {
                    if is_auth {
                        self.mark_auth_source(&h.value);
                    }
                    Field::new(h.name.clone(), v)
                }
                None if is_auth => {
                    self.hard_coded += 1;
                    Field::new(h.name.clone(), emit::literal(&h.value))
                        .note(self.hard_coded_note(&h.value))
                }
                None => Field::new(h.name.clone(), emit::literal(&h.value)),
            };
            step.headers.push(field);
        }
    }

    /// A header's value as `${var}` (or `Scheme ${var}`) when a response handed it out.
    fn header_value(
        &mut self,
        k: usize,
        name: &str,
        value: &str,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        let place = format!("header {name}");
        if let Some(var) = self.sink(value, k, &place, notes) {
            return Some(format!("${{{var}}}"));
        }
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.chars().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        self.sink(token.trim(), k, &place, notes)
            .map(|var| format!("{} ${{{var}}}", emit::literal(scheme)))
    }

    /// The `Cookie` header, when the users' cookie jars do not carry the cookies.
    fn cookie(&mut self, k: usize, cookie: &str, notes: &mut Vec<String>) -> Field {
        let mut pairs = Vec::new();
        let mut fixed = Vec::new();
        for pair in cookie.split(';') {
            let pair = pair.trim();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let place = format!("cookie {name}");
            match self.sink(value, k, &place, notes) {
                Some(var) => {
                    self.mark_auth_source(value);
                    pairs.push(format!("{}=${{{var}}}", emit::literal(name)));
                }
                None => {
                    fixed.push(name.to_string());
                    pairs.push(emit::literal(pair));
                }
            }
        }
        let mut field = Field::new("Cookie", pairs.join("; "));
        if !fixed.is_empty() {
            self.hard_coded += 1;
            field = field.note(format!(
                "hard-coded: {} not set by a recorded response",
                fixed.join(", ")
            ));
        }
        field
    }

    fn body(&mut self, k: usize, post: &PostData, step: &mut StepOut, notes: &mut Vec<String>) {
        let mime = post.mime_type.to_ascii_lowercase();
        let text = post.text.clone().unwrap_or_default();
        if mime.contains("json")
            && let Ok(value) = serde_json::from_str::<Value>(&text)
        {
            let mut numbers = Vec::new();
            let body = self.json_sinks(k, &value, &mut String::new(), notes, &mut numbers);
            if !numbers.is_empty() {
                self.hard_coded += 1;
                step.body_note = Some(format!(
                    "hard-coded: the numbers at {} match values from earlier responses, but a captured value is sent as a string",
                    numbers.join(", ")
                ));
            }
            step.body = BodyOut::Json(body);
        } else if mime.contains("x-www-form-urlencoded") {
            let pairs: Vec<(String, String)> = if !post.params.is_empty() {
                post.params
                    .iter()
                    .map(|p| (p.name.clone(), p.value.clone().unwrap_or_default()))
                    .collect()
            } else {
                text.split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        let d = |s: &str| {
                            percent_encoding::percent_decode_str(&s.replace('+', " "))
                                .decode_utf8_lossy()
                                .into_owned()
                        };
                        (d(k), d(v))
                    })
                    .collect()
            };
            let mut fields = Vec::new();
            for (name, value) in pairs {
                if is_password_field(&name) {
                    self.password_steps.push(k);
                    let var = self.password_variable(&value);
                    fields.push(Field::new(name, format!("${{{var}}}")));
                    continue;
                }
                let place = format!("form {name}");
                match self.sink(&value, k, &place, notes) {
                    Some(var) => fields.push(Field::new(name, format!("${{{var}}}"))),
                    None => fields.push(Field::new(name, emit::literal(&value))),
                }
            }
            step.body = BodyOut::Form(fields);
        } else if !text.is_empty() {
            let mut body = emit::literal(&text);
            let mut replaced = Vec::new();
            for (value, _) in self.sources.clone() {
                if value.len() >= 8 && text.contains(&value) {
                    let place = "body";
                    if let Some(var) = self.sink(&value, k, place, notes) {
                        body = body.replace(&emit::literal(&value), &format!("${{{var}}}"));
                        replaced.push(var);
                    }
                }
            }
            if !post.mime_type.is_empty() {
                step.headers
                    .push(Field::new("Content-Type", emit::literal(&post.mime_type)));
            }
            step.body = BodyOut::Raw(body);
        }
    }

    /// A JSON request body with captured values sent back; `numbers` collects
    /// the pointers of numbers that match captured values.
    fn json_sinks(
        &mut self,
        k: usize,
        value: &Value,
        pointer: &mut String,
        notes: &mut Vec<String>,
        numbers: &mut Vec<String>,
    ) -> Value {
        match value {
            Value::String(s) => {
                let key = pointer.rsplit('/').next().unwrap_or("");
                if is_password_field(key) {
                    self.password_steps.push(k);
                    let var = self.password_variable(s);
                    return Value::String(format!("${{{var}}}"));
                }
                let place = format!("JSON {pointer}");
                match self.sink(s, k, &place, notes) {
                    Some(var) => Value::String(format!("${{{var}}}")),
                    None => Value::String(emit::literal(s)),
                }
            }
            Value::Number(n) => {
                let text = n.to_string();
                if self.sources.get(&text).is_some_and(|s| s.step < k) {
                    numbers.push(pointer.clone());
                } else {
                    self.sent.entry(text).or_insert(k);
                }
                value.clone()
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let len = pointer.len();
                        pointer.push_str(&format!("/{i}"));
                        let out = self.json_sinks(k, v, pointer, notes, numbers);
                        pointer.truncate(len);
                        out
                    })
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, v)| {
                        let len = pointer.len();
                        pointer.push('/');
                        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                        let out = self.json_sinks(k, v, pointer, notes, numbers);
                        pointer.truncate(len);
                        (key.clone(), out)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

fn method_key(method: &str) -> &'static str {
    match method {
        "POST" => "post",
        "PUT" => "put",
        "PATCH" => "patch",
        "DELETE" => "delete",
        "HEAD" => "head",
        _ => "get",
    }
}

/// The status the recording got (a 304 came from the browser's cache validators).
fn expectation(r: &Recorded, step: &mut StepOut, notes: &mut Vec<String>) {
    let status = r.response.status;
    if r.redirected_to.is_some() {
        notes.push(format!(
            "the recorded {} redirect to {} is followed by the client",
            r.first_status,
            shorten(r.redirected_to.as_deref().unwrap_or(""))
        ));
    }
    match status {
        304 => {
            step.expect_status = Some(200);
            step.expect_note =
                Some("recorded 304 (a browser cache hit); a fresh request gets 200".into());
        }
        300..=399 => {
            step.expect_note = Some(format!(
                "recorded {status}, a redirect the recording did not follow: any status below 400 passes"
            ));
        }
        s if (100..600).contains(&s) => {
            step.expect_status = Some(s as u16);
            step.expect_note = Some(if s >= 400 {
                format!("recorded {s}: the session got an error here too")
            } else {
                "the recorded status".into()
            });
        }
        _ => {}
    }
}

pub(super) fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

pub(super) fn shorten(url: &str) -> String {
    if url.chars().count() > 120 {
        let head: String = url.chars().take(117).collect();
        format!("{head}...")
    } else {
        url.to_string()
    }
}
