//! Steps: one per selected operation. Path parameters are captured from the
//! list operation above them when the list's rows hold the id (`lists.rs`),
//! else filled from the document's examples or made up (and said so); query,
//! header and cookie parameters and bodies likewise; the security plan adds
//! what each operation needs.

use std::collections::HashMap;

use serde_json::Value;

use super::super::emit::{self, BodyOut, CaptureFrom, CaptureOut, Field, LeftOut, StepOut};
use super::super::{singular, variable_name};
use super::lists::{id_field, is_generic_id, list_shape};
use super::refs::Node;
use super::sample::{self, Source};
use super::{Importer, Method, Op, auth, encode, escape_pointer, is_json, value_text};

/// How a path parameter gets its value.
#[derive(Clone)]
pub(super) enum ParamValue {
    /// `${var}`, captured from a list operation.
    Captured { var: String, list: usize },
    /// A literal, and where it came from.
    Literal(String, Source),
}

impl<'a> Importer<'a> {
    /// The steps, each after the list it captures from.
    pub(super) fn steps(&mut self, included: &[usize], auth: &auth::AuthPlan) -> Vec<StepOut> {
        // Path parameters: captured from list operations that are steps too, else literal.
        let mut resolved: HashMap<usize, Vec<(String, ParamValue)>> = HashMap::new();
        for &i in included {
            let values = self.path_values(i, included);
            resolved.insert(i, values);
        }
        let order = dependency_order(included, &resolved);
        let mut steps = Vec::new();
        for &i in &order {
            let mut step = self.step(i, &resolved[&i], auth);
            if let Some(caps) = self.captures.remove(&i) {
                step.captures = caps;
            }
            steps.push(step);
        }
        steps
    }

    /// The operations left out, written commented out with the reason.
    pub(super) fn left_out(
        &mut self,
        left: Vec<(usize, String)>,
        auth: &auth::AuthPlan,
    ) -> Vec<LeftOut> {
        let mut left_out = std::mem::take(&mut self.left_out);
        for (i, why) in left {
            let literal = self.path_literals(i);
            let step = if request_body(&self.ops[i]).is_ok() {
                Some(self.step(i, &literal, auth))
            } else {
                None
            };
            left_out.push(LeftOut {
                what: self.ops[i].title.clone(),
                why,
                step,
            });
        }
        left_out
    }

    /// Values for op `i`'s path parameters: captured from a list operation
    /// among `included` where the path says there is one, else literal.
    fn path_values(&mut self, i: usize, included: &[usize]) -> Vec<(String, ParamValue)> {
        let op_path = self.ops[i].path;
        let segments: Vec<&str> = op_path.split('/').collect();
        let mut out = Vec::new();
        for param in self.path_params(i) {
            let name = param.str("name").unwrap_or_default().to_string();
            let whole = format!("{{{name}}}");
            let list = segments.iter().position(|s| *s == whole).and_then(|at| {
                let list_path = segments[..at].join("/");
                included.iter().copied().find(|&l| {
                    l != i
                        && self.ops[l].method == Method::Get
                        && self.ops[l].path.trim_end_matches('/') == list_path
                })
            });
            let captured = list.and_then(|l| self.correlate(l, &name, &segments));
            let value = match captured {
                Some(v) => v,
                None => literal_param(param),
            };
            out.push((name, value));
        }
        out
    }

    /// Literal values for every path parameter (for steps written commented out).
    fn path_literals(&self, i: usize) -> Vec<(String, ParamValue)> {
        self.path_params(i)
            .into_iter()
            .map(|p| {
                (
                    p.str("name").unwrap_or_default().to_string(),
                    literal_param(p),
                )
            })
            .collect()
    }

    fn path_params(&self, i: usize) -> Vec<Node<'a>> {
        self.ops[i]
            .params
            .iter()
            .copied()
            .filter(|p| p.str("in") == Some("path"))
            .collect()
    }

    /// A capture on list operation `list` for the parameter `param`: the id
    /// field of the first row of the list's array.
    fn correlate(&mut self, list: usize, param: &str, segments: &[&str]) -> Option<ParamValue> {
        let schema = self.ops[list].success_schema()?;
        let (array_pointer, item) = list_shape(schema)?;
        let (field, guessed) = id_field(param, item)?;
        let pointer = format!("{array_pointer}/0/{}", escape_pointer(&field));
        let key = (list, pointer.clone());
        if let Some(var) = self.capture_vars.get(&key) {
            return Some(ParamValue::Captured {
                var: var.clone(),
                list,
            });
        }
        let hint = if is_generic_id(param) {
            let resource = segments
                .iter()
                .rev()
                .find(|s| !s.is_empty() && !s.starts_with('{'))
                .map(|s| singular(s))
                .unwrap_or_default();
            format!("{resource}_{param}")
        } else {
            param.to_string()
        };
        let var = variable_name(&hint, &mut self.taken);
        self.capture_vars.insert(key, var.clone());
        let mut note = format!(
            "the first row's {field}; it feeds {{{param}}} below (the capture fails when the list is empty)"
        );
        if guessed {
            note = format!("guess: the rows' schema is not documented; {note}");
        }
        self.captures.entry(list).or_default().push(CaptureOut {
            var: var.clone(),
            from: CaptureFrom::Json(pointer),
            note: Some(note),
        });
        Some(ParamValue::Captured { var, list })
    }

    /// The step for operation `i`.
    fn step(
        &self,
        i: usize,
        path_values: &[(String, ParamValue)],
        auth: &auth::AuthPlan,
    ) -> StepOut {
        let op = &self.ops[i];
        let mut notes = vec![op.title.clone()];
        let path = self.path(op, path_values, &mut notes);
        let mut sent = params(op, &mut notes);
        let auth_use = auth.apply(op, self.root);
        for (name, value) in &auth_use.query {
            sent.query.push(format!("{}={value}", encode(name)));
        }
        for (name, value) in &auth_use.headers {
            sent.headers.push(Field::new(name.clone(), value.clone()));
        }
        sent.cookies.extend(auth_use.cookies.iter().cloned());
        if !sent.cookies.is_empty() {
            sent.headers
                .push(Field::new("Cookie", sent.cookies.join("; ")));
        }
        notes.extend(auth_use.notes);

        let mut url = format!("{}{path}", emit::literal(&self.server.base_path));
        if !sent.query.is_empty() {
            url.push('?');
            url.push_str(&sent.query.join("&"));
        }
        let mut step = StepOut::new(op.method.key(), url);
        step.name = Some(op.name.clone());
        step.notes = notes;
        step.headers = sent.headers;
        if let Ok(Some((body, content_type, source))) = request_body(op) {
            if let Some(ct) = content_type {
                step.headers
                    .push(Field::new("Content-Type", emit::literal(&ct)));
            }
            step.body = body;
            step.body_note = Some(source.describe());
        }
        let (status, _) = op.success();
        step.expect_status = status;
        step.expect_note = match status {
            Some(code) => Some(format!("the documented success status ({code})")),
            None => Some("no 2xx status is documented: any status below 400 passes".into()),
        };
        step
    }

    /// The operation's path with its parameters filled in.
    fn path(
        &self,
        op: &Op<'_>,
        path_values: &[(String, ParamValue)],
        notes: &mut Vec<String>,
    ) -> String {
        let mut path = String::new();
        let mut rest = op.path;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                break;
            };
            path.push_str(&emit::literal(&rest[..open]));
            let name = &rest[open + 1..close];
            match path_values.iter().find(|(n, _)| n == name) {
                Some((_, ParamValue::Captured { var, list })) => {
                    path.push_str(&format!("${{{var}}}"));
                    notes.push(format!(
                        "{{{name}}}: ${{{var}}}, captured from {}",
                        self.ops[*list].name
                    ));
                }
                Some((_, ParamValue::Literal(text, source))) => {
                    path.push_str(&emit::literal(&encode(text)));
                    notes.push(format!("{{{name}}}: {}", source.describe()));
                }
                None => {
                    path.push_str(&emit::literal(&rest[open..=close]));
                    notes.push(format!("guess: {{{name}}} is not described; fill it in"));
                }
            }
            rest = &rest[close + 1..];
        }
        path.push_str(&emit::literal(rest));
        path
    }
}

/// What a step sends besides its path: query pairs, headers, cookies.
#[derive(Default)]
struct Sent {
    query: Vec<String>,
    headers: Vec<Field>,
    cookies: Vec<String>,
}

/// The query, header and cookie parameters: required ones always (documented
/// or made up), optional ones when the document gives an example.
fn params(op: &Op<'_>, notes: &mut Vec<String>) -> Sent {
    let mut sent = Sent::default();
    let mut skipped = Vec::new();
    for p in &op.params {
        let name = p.str("name").unwrap_or_default();
        let place = p.str("in").unwrap_or_default();
        if place == "path" || (p.bool("deprecated") && !p.bool("required")) {
            continue;
        }
        let Some((value, source)) = param_value(*p) else {
            if place == "query" {
                skipped.push(name.to_string());
            }
            continue;
        };
        if source.is_guess() {
            notes.push(format!("{name}: {}", source.describe()));
        }
        let values: Vec<String> = match &value {
            Value::Array(items) => items.iter().take(3).filter_map(value_text).collect(),
            v => value_text(v).into_iter().collect(),
        };
        match place {
            "query" => {
                for v in values {
                    sent.query.push(format!("{}={}", encode(name), encode(&v)));
                }
            }
            "header" => {
                let lower = name.to_ascii_lowercase();
                if !matches!(lower.as_str(), "accept" | "content-type" | "authorization") {
                    sent.headers
                        .push(Field::new(name, emit::literal(&values.join(","))));
                }
            }
            "cookie" => sent.cookies.push(format!("{name}={}", values.join(","))),
            _ => {}
        }
    }
    if !skipped.is_empty() {
        notes.push(format!(
            "optional query parameters left out: {}",
            skipped.join(", ")
        ));
    }
    sent
}

/// A query, header or cookie parameter's value and where it came from;
/// `None` for an optional one without a documented example.
fn param_value(p: Node<'_>) -> Option<(Value, Source)> {
    let schema = p.get("schema");
    if !p.bool("required") {
        let example = sample::example_of(p)
            .or_else(|| schema.and_then(|s| sample::example_of(sample::first_alternative(s))));
        return example.map(|v| (v, Source::Example));
    }
    Some(match sample::documented(p, schema) {
        Some(v) => v,
        None => match schema {
            Some(s) => sample::value_for(s),
            None => (
                Value::String("example".into()),
                Source::Generated("no schema".into()),
            ),
        },
    })
}

/// A literal value for a path parameter, documented or made up.
pub(super) fn literal_param(param: Node<'_>) -> ParamValue {
    let schema = param.get("schema");
    let (value, source) = match sample::documented(param, schema) {
        Some(v) => v,
        None => match schema {
            Some(s) => sample::value_for(s),
            None => (
                Value::String("1".into()),
                Source::Generated("no schema".into()),
            ),
        },
    };
    let text = match &value {
        Value::Array(items) => items
            .iter()
            .filter_map(value_text)
            .collect::<Vec<_>>()
            .join(","),
        v => value_text(v).unwrap_or_default(),
    };
    if text.is_empty() {
        // An empty segment (`/delay/`) would pass the check and then 404.
        let was = match &source {
            Source::Generated(how) => how.clone(),
            documented => documented.describe(),
        };
        let why = format!("{was} is empty: 1 instead");
        return ParamValue::Literal("1".into(), Source::Generated(why));
    }
    ParamValue::Literal(text, source)
}

/// A request body the scenario format cannot hold (the operation is left out).
#[derive(Debug, thiserror::Error)]
#[error("its body ({types}) cannot be written in a scenario file (JSON, form and text bodies can)")]
pub(super) struct Unsendable {
    types: String,
}

/// How a request body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    Json,
    Form,
    Text,
}

/// The value of an operation's request body, how it is sent, its content
/// type, and where the value came from. `Err` says why it cannot be sent.
pub(super) fn request_value(
    op: &Op<'_>,
) -> Result<Option<(BodyKind, Value, String, Source)>, Unsendable> {
    let Some(rb) = op.node.get("requestBody") else {
        return Ok(None);
    };
    let content = rb.entries("content");
    if content.is_empty() {
        return Ok(None);
    }
    let base = |ct: &str| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let pick = content
        .iter()
        .find(|(ct, _)| is_json(ct))
        .map(|p| (BodyKind::Json, p))
        .or_else(|| {
            content
                .iter()
                .find(|(ct, _)| base(ct) == "application/x-www-form-urlencoded")
                .map(|p| (BodyKind::Form, p))
        })
        .or_else(|| {
            content
                .iter()
                .find(|(ct, _)| base(ct).starts_with("text/"))
                .map(|p| (BodyKind::Text, p))
        });
    let Some((kind, (ct, media))) = pick else {
        let types: Vec<&str> = content.iter().map(|(ct, _)| *ct).collect();
        return Err(Unsendable {
            types: types.join(", "),
        });
    };
    let (value, source) = match sample::example_of(*media) {
        Some(v) => (v, Source::Example),
        None => match media.get("schema") {
            Some(schema) => sample::value_for(schema),
            None => (
                Value::Object(Default::default()),
                Source::Generated("no schema: an empty object".into()),
            ),
        },
    };
    Ok(Some((kind, value, ct.to_string(), source)))
}

/// The request body as a step writes it (values are templates), the content
/// type for a raw body, and where the value came from.
pub(super) fn request_body(
    op: &Op<'_>,
) -> Result<Option<(BodyOut, Option<String>, Source)>, Unsendable> {
    let Some((kind, value, ct, source)) = request_value(op)? else {
        return Ok(None);
    };
    Ok(Some(body_out(kind, &value, &ct, source)))
}

/// A body value written as literal template text.
pub(super) fn body_out(
    kind: BodyKind,
    value: &Value,
    ct: &str,
    source: Source,
) -> (BodyOut, Option<String>, Source) {
    match kind {
        BodyKind::Json => (BodyOut::Json(emit::literal_json(value)), None, source),
        BodyKind::Form => {
            let fields = match value {
                Value::Object(map) => map
                    .iter()
                    .filter_map(|(k, v)| {
                        value_text(v).map(|t| Field::new(k.clone(), emit::literal(&t)))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (BodyOut::Form(fields), None, source)
        }
        BodyKind::Text => {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (
                BodyOut::Raw(emit::literal(&text)),
                Some(ct.to_string()),
                source,
            )
        }
    }
}

/// `included` in document order, each operation after the lists it captures from.
pub(super) fn dependency_order(
    included: &[usize],
    resolved: &HashMap<usize, Vec<(String, ParamValue)>>,
) -> Vec<usize> {
    fn visit(
        i: usize,
        resolved: &HashMap<usize, Vec<(String, ParamValue)>>,
        state: &mut HashMap<usize, bool>,
        out: &mut Vec<usize>,
    ) {
        if state.contains_key(&i) {
            return;
        }
        state.insert(i, false);
        for (_, value) in resolved.get(&i).map(Vec::as_slice).unwrap_or_default() {
            if let ParamValue::Captured { list, .. } = value {
                visit(*list, resolved, state, out);
            }
        }
        state.insert(i, true);
        out.push(i);
    }
    let mut state = HashMap::new();
    let mut out = Vec::new();
    for &i in included {
        visit(i, resolved, &mut state, &mut out);
    }
    out
}
