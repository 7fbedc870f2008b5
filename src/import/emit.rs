//! Writing a scenario file as text, with comments. serde-saphyr cannot emit
//! comments, and an imported scenario is meant to be reviewed, so this writes
//! the YAML itself: every string that came from an input is double-quoted with
//! escapes (no value can end a scalar, open a comment or start a new line),
//! literal text in template positions has `${` escaped as `$${`, and comments
//! are single lines with line breaks removed.

use std::fmt::Write as _;

/// A generated scenario file, in the shape of `scenario::model::ScenarioFile`.
#[derive(Debug, Default)]
pub struct ScenarioOut {
    /// Comment lines at the top of the file.
    pub header: Vec<String>,
    pub name: String,
    /// `http://host:port`, and where it came from.
    pub host: String,
    pub host_note: Option<String>,
    pub variables: Vec<Field>,
    pub flow: FlowOut,
    /// Example target lines (commented out) after the active `error_rate`.
    pub target_examples: Vec<String>,
}

/// One entry of `scenarios:`.
#[derive(Debug, Default)]
pub struct FlowOut {
    pub name: String,
    /// `500ms..1500ms`, and why.
    pub think_time: Option<(String, String)>,
    /// A comment above `on_start:`.
    pub on_start_note: Vec<String>,
    pub on_start: Vec<StepOut>,
    pub steps: Vec<StepOut>,
    pub left_out: Vec<LeftOut>,
}

/// A key, a value (already a template where templates apply) and a comment.
#[derive(Debug, Clone)]
pub struct Field {
    pub key: String,
    pub value: String,
    pub note: Option<String>,
}

impl Field {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Field {
            key: key.into(),
            value: value.into(),
            note: None,
        }
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

#[derive(Debug, Clone)]
pub enum BodyOut {
    None,
    /// Strings in the value are templates.
    Json(serde_json::Value),
    Form(Vec<Field>),
    Raw(String),
}

#[derive(Debug, Clone)]
pub enum CaptureFrom {
    Json(String),
    Header(String),
    Cookie(String),
    Regex(String),
}

#[derive(Debug, Clone)]
pub struct CaptureOut {
    pub var: String,
    pub from: CaptureFrom,
    pub note: Option<String>,
}

/// One request step.
#[derive(Debug, Clone)]
pub struct StepOut {
    /// Comment lines above the step.
    pub notes: Vec<String>,
    pub name: Option<String>,
    /// `get`, `post`, `put`, `patch`, `delete` or `head`.
    pub method: &'static str,
    /// The URL or path, a template.
    pub url: String,
    pub url_note: Option<String>,
    pub headers: Vec<Field>,
    pub body: BodyOut,
    pub body_note: Option<String>,
    pub expect_status: Option<u16>,
    pub expect_note: Option<String>,
    pub captures: Vec<CaptureOut>,
}

impl StepOut {
    pub fn new(method: &'static str, url: String) -> Self {
        StepOut {
            notes: Vec::new(),
            name: None,
            method,
            url,
            url_note: None,
            headers: Vec::new(),
            body: BodyOut::None,
            body_note: None,
            expect_status: None,
            expect_note: None,
            captures: Vec::new(),
        }
    }
}

/// Something not imported, with why; a step is written commented out so a
/// person can take it back by removing the `# `.
#[derive(Debug, Clone)]
pub struct LeftOut {
    pub what: String,
    pub why: String,
    pub step: Option<StepOut>,
}

/// Renders the scenario file.
pub fn render(s: &ScenarioOut) -> String {
    let mut w = Writer::default();
    for line in &s.header {
        w.comment(0, line);
    }
    w.entry(0, "name", &quote(&s.name), None);
    w.entry(0, "host", &quote(&s.host), s.host_note.as_deref());
    w.entry(
        0,
        "load",
        "{ users: 10, ramp_up: 5s, duration: 30s }",
        Some("modest on purpose: raise it once a run is clean (or: gander run FILE --users 50 --duration 2m)"),
    );
    if !s.variables.is_empty() {
        w.line(0, "variables:", None);
        for v in &s.variables {
            w.entry(2, &key(&v.key), &quote(&v.value), v.note.as_deref());
        }
    }
    w.line(0, "scenarios:", None);
    let f = &s.flow;
    w.line(2, &format!("- name: {}", quote(&f.name)), None);
    if let Some((think, why)) = &f.think_time {
        w.entry(4, "think_time", think, Some(why));
    }
    if !f.on_start.is_empty() {
        for note in &f.on_start_note {
            w.comment(4, note);
        }
        w.line(4, "on_start:", None);
        for step in &f.on_start {
            step_lines(&mut w, 6, step);
        }
    }
    w.line(4, "steps:", None);
    for step in &f.steps {
        step_lines(&mut w, 6, step);
    }
    if !f.left_out.is_empty() {
        w.comment(6, "");
        w.comment(
            6,
            "Left out (remove the \"# \" in front of a step to take it back):",
        );
        for l in &f.left_out {
            w.comment(6, &format!("{}: {}", l.what, l.why));
            if let Some(step) = &l.step {
                // The line above says what it is.
                let step = StepOut {
                    notes: Vec::new(),
                    ..step.clone()
                };
                let mut inner = Writer::default();
                step_lines(&mut inner, 6, &step);
                for line in inner.out.lines() {
                    let rest = line.strip_prefix("      ").unwrap_or(line);
                    w.out.push_str("      # ");
                    w.out.push_str(rest);
                    w.out.push('\n');
                }
            }
        }
    }
    w.line(0, "targets:", None);
    w.entry(
        2,
        "error_rate",
        "1%",
        Some("at most 1 % failed requests (a status other than expected, a failed capture)"),
    );
    for line in &s.target_examples {
        w.comment(2, line);
    }
    w.out
}

fn step_lines(w: &mut Writer, indent: usize, s: &StepOut) {
    for note in &s.notes {
        w.comment(indent, note);
    }
    let inner = indent + 2;
    let method_line = format!("{}: {}", s.method, quote(&s.url));
    match &s.name {
        Some(name) => {
            w.line(indent, &format!("- name: {}", quote(name)), None);
            w.line(inner, &method_line, s.url_note.as_deref());
        }
        None => w.line(indent, &format!("- {method_line}"), s.url_note.as_deref()),
    }
    if !s.headers.is_empty() {
        w.line(inner, "headers:", None);
        for h in &s.headers {
            w.entry(
                inner + 2,
                &key(&h.key),
                &quote(&one_line(&h.value)),
                h.note.as_deref(),
            );
        }
    }
    match &s.body {
        BodyOut::None => {}
        BodyOut::Json(value) => match value {
            serde_json::Value::Object(map) if !map.is_empty() => {
                w.line(inner, "json:", s.body_note.as_deref());
                block(w, inner + 2, value);
            }
            serde_json::Value::Array(items) if !items.is_empty() => {
                w.line(inner, "json:", s.body_note.as_deref());
                block(w, inner + 2, value);
            }
            other => w.entry(inner, "json", &flow(other), s.body_note.as_deref()),
        },
        BodyOut::Form(fields) => {
            if fields.is_empty() {
                w.entry(inner, "form", "{}", s.body_note.as_deref());
            } else {
                w.line(inner, "form:", s.body_note.as_deref());
                for f in fields {
                    w.entry(inner + 2, &key(&f.key), &quote(&f.value), f.note.as_deref());
                }
            }
        }
        BodyOut::Raw(text) => w.entry(inner, "body", &quote(text), s.body_note.as_deref()),
    }
    if let Some(status) = s.expect_status {
        w.entry(
            inner,
            "expect",
            &format!("{{ status: {status} }}"),
            s.expect_note.as_deref(),
        );
    } else if let Some(note) = &s.expect_note {
        w.comment(inner, note);
    }
    if !s.captures.is_empty() {
        w.line(inner, "capture:", None);
        for c in &s.captures {
            let (kind, text) = match &c.from {
                CaptureFrom::Json(p) => ("json", p),
                CaptureFrom::Header(h) => ("header", h),
                CaptureFrom::Cookie(k) => ("cookie", k),
                CaptureFrom::Regex(r) => ("regex", r),
            };
            w.entry(
                inner + 2,
                &key(&c.var),
                &format!("{{ {kind}: {} }}", quote(text)),
                c.note.as_deref(),
            );
        }
    }
}

/// A JSON value as block YAML at `indent` (objects and arrays of scalars;
/// containers inside arrays are written in flow style).
fn block(w: &mut Writer, indent: usize, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        w.line(indent, &format!("{}:", key(k)), None);
                        block(w, indent + 2, v);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        w.line(indent, &format!("{}:", key(k)), None);
                        block(w, indent + 2, v);
                    }
                    other => w.entry(indent, &key(k), &flow(other), None),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                w.line(indent, &format!("- {}", flow(item)), None);
            }
        }
        other => w.line(indent, &flow(other), None),
    }
}

/// A JSON value in YAML flow style (JSON with YAML-safe strings).
pub fn flow(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            if map.is_empty() {
                return "{}".into();
            }
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", quote(k), flow(v)))
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
    }
}

/// A header value as one line: a document's example may hold line breaks,
/// which no header can carry (`gander check` refuses them).
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_control() && c != '\t' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// A YAML double-quoted scalar holding exactly `s`. Besides `"` and `\`, every
/// character YAML could read as a line break or that is not printable is
/// escaped, so the value survives whatever it holds.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn needs_escape(c: char) -> bool {
    let n = c as u32;
    n < 0x20
        || (0x7f..=0x9f).contains(&n)
        || c == '\u{2028}'
        || c == '\u{2029}'
        || c == '\u{feff}'
        || n == 0xfffe
        || n == 0xffff
}

/// A mapping key: plain when it is a simple word YAML reads as a string, else quoted.
pub fn key(k: &str) -> String {
    let simple = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let reserved = matches!(
        k.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
    );
    if simple && !reserved {
        k.to_string()
    } else {
        quote(k)
    }
}

/// Literal text for a template position: `${` written as `$${`.
pub fn literal(text: &str) -> String {
    text.replace("${", "$${")
}

/// A JSON value whose strings become literal template text.
pub fn literal_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(literal(s)),
        Value::Array(items) => Value::Array(items.iter().map(literal_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), literal_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// One comment line: line breaks and other control characters become spaces,
/// and very long text is cut.
pub fn comment_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || c == '\u{feff}' {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    let out = out.trim();
    if out.chars().count() > 200 {
        let cut: String = out.chars().take(197).collect();
        format!("{cut}...")
    } else {
        out.to_string()
    }
}

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn line(&mut self, indent: usize, content: &str, note: Option<&str>) {
        let start = self.out.len();
        self.out.push_str(&" ".repeat(indent));
        self.out.push_str(content);
        if let Some(note) = note.map(comment_text).filter(|n| !n.is_empty()) {
            let width = self.out.len() - start;
            let pad = if width < 40 { 40 - width } else { 2 };
            self.out.push_str(&" ".repeat(pad));
            self.out.push_str("# ");
            self.out.push_str(&note);
        }
        self.out.push('\n');
    }
    fn entry(&mut self, indent: usize, key: &str, value: &str, note: Option<&str>) {
        self.line(indent, &format!("{key}: {value}"), note);
    }
    fn comment(&mut self, indent: usize, text: &str) {
        // Leading spaces are kept: commented-out YAML keeps its nesting.
        let lead = text.len() - text.trim_start_matches(' ').len();
        let text = format!("{}{}", " ".repeat(lead), comment_text(text));
        let text = if text.trim().is_empty() {
            String::new()
        } else {
            text
        };
        self.out.push_str(&" ".repeat(indent));
        if text.is_empty() {
            self.out.push_str("#\n");
        } else {
            self.out.push_str("# ");
            self.out.push_str(&text);
            self.out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NASTY: &str = "a: b # c \"d\" 'e'\nnext line\r\t\\ ${x} \u{85}\u{2028}\u{0}é";

    #[test]
    fn quoted_strings_read_back_exactly() {
        for s in [
            NASTY, "", "- item", "&anchor", "*alias", "!tag", "%", "@", "`", "null", "123", "true",
        ] {
            let yaml = format!("v: {}\n", quote(s));
            let back: std::collections::BTreeMap<String, String> =
                serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(back["v"], s, "{yaml}");
        }
    }

    #[test]
    fn keys_and_comments_stay_on_their_line() {
        let yaml = format!(
            "{}: 1 # {}\n",
            key(NASTY),
            comment_text("a comment\nwith: # breaks\u{2028}")
        );
        let back: std::collections::BTreeMap<String, u32> = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back[NASTY], 1);
        assert_eq!(yaml.lines().count(), 1);
        assert_eq!(key("Authorization"), "Authorization");
        assert_eq!(key("on"), "\"on\"");
        assert_eq!(key("X-Api-Key"), "X-Api-Key");
    }

    #[test]
    fn json_values_round_trip_through_block_and_flow_yaml() {
        let value = serde_json::json!({
            "name": NASTY,
            "n": 1.5,
            "big": 12345678901234567u64,
            "none": null,
            "ok": true,
            "tags": ["a", {"k": "v: w"}, [1, 2]],
            "nested": {"deep": {"x": "#"}, "empty": {}, "list": []},
            "on": "yes"
        });
        let mut w = Writer::default();
        w.line(0, "json:", None);
        block(&mut w, 2, &value);
        let back: std::collections::BTreeMap<String, serde_json::Value> =
            serde_saphyr::from_str(&w.out).unwrap_or_else(|e| panic!("{}: {e}", w.out));
        assert_eq!(back["json"], value, "{}", w.out);
    }

    #[test]
    fn literal_text_escapes_template_openers() {
        assert_eq!(literal("a${b}c$d"), "a$${b}c$d");
    }
}
