//! `gander import openapi`: one step per operation of an OpenAPI 3.0 or 3.1
//! document, with parameters and bodies from its examples (or made up from
//! its schemas, and said so), ids for detail routes captured from the list
//! route above them, and the login the security schemes call for run once per
//! user in `on_start`. Only reads unless asked for writes.
//!
//! The document is read as a `serde_json::Value` rather than typed with a
//! crate: `openapiv3` models 3.0 only and `oas3` 3.1 only (its own README warns
//! that 3.0 documents may not parse), while FastAPI serves 3.1 and many other
//! services 3.0; one untyped reader serves both, and lets every `$ref` be
//! checked, and reported, with its place (`refs.rs`).

mod auth;
mod refs;
mod sample;

use std::collections::HashMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::emit::{
    self, BodyOut, CaptureFrom, CaptureOut, Field, FlowOut, LeftOut, ScenarioOut, StepOut,
};
use super::{
    Generated, ImportError, Input, Located, Origin, find_loc, parse_document, singular,
    variable_name,
};
use refs::{Docs, Node};
use sample::Source;

/// What `gander import openapi` was asked for.
#[derive(Debug, Clone, Default)]
pub struct OpenApiOptions {
    /// Also import POST, PUT, PATCH and DELETE operations.
    pub include_writes: bool,
}

/// Characters left as they are in a path segment or query value; the rest is
/// percent-encoded (RFC 3986 unreserved characters stay).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Array properties that hold a list response's rows, most likely first.
const LIST_PROPERTIES: &[&str] = &[
    "items", "data", "results", "records", "rows", "content", "entries", "list", "values",
    "objects", "elements", "hits", "nodes",
];

/// Object properties a list may be wrapped in one level down.
const LIST_WRAPPERS: &[&str] = &["data", "result", "response", "page", "_embedded", "payload"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn from_key(key: &str) -> Option<Method> {
        Some(match key {
            "get" => Method::Get,
            "head" => Method::Head,
            "post" => Method::Post,
            "put" => Method::Put,
            "patch" => Method::Patch,
            "delete" => Method::Delete,
            _ => return None,
        })
    }
    fn key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Head => "head",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }
    fn is_read(self) -> bool {
        matches!(self, Method::Get | Method::Head)
    }
}

/// One operation of the document.
struct Op<'a> {
    method: Method,
    path: &'a str,
    node: Node<'a>,
    /// Path-level and operation-level parameters, the operation's winning.
    params: Vec<Node<'a>>,
    /// The step name: operationId, else summary, else method and path; unique.
    name: String,
    /// `GET /items/{id}: Get an item`, for comments.
    title: String,
}

impl<'a> Op<'a> {
    /// The lowest documented 2xx status, and that response.
    fn success(&self) -> (Option<u16>, Option<Node<'a>>) {
        let responses = self.node.entries("responses");
        let best = responses
            .iter()
            .filter_map(|(code, r)| code.parse::<u16>().ok().map(|c| (c, *r)))
            .filter(|(c, _)| (200..300).contains(c))
            .min_by_key(|(c, _)| *c);
        if let Some((code, r)) = best {
            return (Some(code), Some(r));
        }
        let fallback = responses
            .iter()
            .find(|(code, _)| code.eq_ignore_ascii_case("2xx"))
            .or_else(|| responses.iter().find(|(code, _)| *code == "default"))
            .map(|(_, r)| *r);
        (None, fallback)
    }

    /// The JSON schema of the success response.
    fn success_schema(&self) -> Option<Node<'a>> {
        json_media(self.success().1?)?.get("schema")
    }
}

/// The first JSON media type of a response or request body.
fn json_media(holder: Node<'_>) -> Option<Node<'_>> {
    holder
        .entries("content")
        .into_iter()
        .find(|(ct, _)| is_json(ct))
        .map(|(_, m)| m)
}

fn is_json(content_type: &str) -> bool {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct == "application/json" || ct.ends_with("+json") || ct == "*/*"
}

/// The scenario host and the path every operation's path is under.
struct Server {
    host: String,
    base_path: String,
    note: String,
}

impl Server {
    fn read(root: Node<'_>, origin: &Origin) -> Server {
        let first = root.items("servers").into_iter().next();
        let Some(server) = first.and_then(|s| s.str("url").map(|u| (s, u))) else {
            return match origin {
                Origin::Url(url) => Server {
                    host: origin_of(url),
                    base_path: String::new(),
                    note: "from the URL the document was read from (it names no servers)".into(),
                },
                Origin::File(_) => Server {
                    host: "http://127.0.0.1:8080".into(),
                    base_path: String::new(),
                    note: "guess: the document names no servers; set host or pass --host".into(),
                },
            };
        };
        let (server, template) = server;
        // Server variables take their defaults.
        let mut url = template.to_string();
        for (name, var) in server.entries("variables") {
            if let Some(default) = var.raw("default").and_then(value_text) {
                url = url.replace(&format!("{{{name}}}"), &default);
            }
        }
        if url.trim().is_empty() {
            url = "/".into();
        }
        let absolute = reqwest::Url::parse(&url).ok();
        let resolved = match (absolute, origin) {
            (Some(u), _) => Some((u, format!("from servers[0] ({template})"))),
            (None, Origin::Url(base)) => base.join(&url).ok().map(|u| {
                (
                    u,
                    format!("servers[0] ({template}) taken relative to the document's URL"),
                )
            }),
            (None, Origin::File(_)) => None,
        };
        match resolved {
            Some((u, note)) if matches!(u.scheme(), "http" | "https") => Server {
                host: origin_of(&u),
                base_path: u.path().trim_end_matches('/').to_string(),
                note,
            },
            _ => Server {
                host: "http://127.0.0.1:8080".into(),
                base_path: url
                    .split("://")
                    .nth(1)
                    .map(|rest| rest.find('/').map_or("", |i| &rest[i..]))
                    .unwrap_or(&url)
                    .trim_end_matches('/')
                    .to_string(),
                note: format!(
                    "guess: servers[0] is \"{template}\", not an http(s) URL; set host or pass --host"
                ),
            },
        }
    }
}

fn origin_of(url: &reqwest::Url) -> String {
    let mut host = format!(
        "{}://{}",
        url.scheme(),
        url.host_str().unwrap_or("localhost")
    );
    if let Some(port) = url.port() {
        host.push_str(&format!(":{port}"));
    }
    host
}

/// A scalar's text as it goes in a URL or form.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Checks the document is OpenAPI 3; returns its version.
fn check_openapi(input: &Input, value: &Value) -> Result<String, ImportError> {
    let top = Some(crate::scenario::spanned::Loc { line: 1, column: 1 });
    if input.text.trim_start().starts_with('<') {
        return Err(ImportError::NotOpenApi(
            Located::new(input, "not an OpenAPI document: this is HTML (a documentation page?)")
                .at(top)
                .help("give the document itself: FastAPI's /docs page is HTML, its document is at /openapi.json"),
        ));
    }
    let Some(map) = value.as_object() else {
        return Err(ImportError::NotOpenApi(
            Located::new(
                input,
                "not an OpenAPI document: the top level is not an object",
            )
            .at(top)
            .help("give the service's OpenAPI document (FastAPI serves it at /openapi.json)"),
        ));
    };
    if let Some(v) = map.get("swagger") {
        return Err(ImportError::NotOpenApi(
            Located::new(
                input,
                format!(
                    "Swagger {} documents are not supported, only OpenAPI 3.0 and 3.1",
                    value_text(v).unwrap_or_default()
                ),
            )
            .at(find_loc(&input.text, "swagger").or(top))
            .help("convert it to OpenAPI 3 first, e.g. npx swagger2openapi FILE -o openapi.json"),
        ));
    }
    let Some(version) = map.get("openapi") else {
        let mut keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
        if keys.is_empty() {
            keys.push("none");
        }
        let help = if map.get("log").is_some_and(|l| l.get("entries").is_some()) {
            "this looks like a HAR recording: use gander import har FILE".to_string()
        } else {
            "give the service's OpenAPI document (FastAPI serves it at /openapi.json); it starts with \"openapi\": \"3.x\"".to_string()
        };
        return Err(ImportError::NotOpenApi(
            Located::new(
                input,
                format!(
                    "not an OpenAPI document: no \"openapi\" version at the top level (it has: {})",
                    keys.join(", ")
                ),
            )
            .at(top)
            .help(help),
        ));
    };
    let version = value_text(version).unwrap_or_default();
    if !version.starts_with("3.") {
        return Err(ImportError::NotOpenApi(
            Located::new(
                input,
                format!("OpenAPI version \"{version}\" is not supported"),
            )
            .at(find_loc(&input.text, "openapi").or(top))
            .help("gander reads OpenAPI 3.0 and 3.1 documents"),
        ));
    }
    let has_paths = map
        .get("paths")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    if !has_paths {
        return Err(ImportError::NothingToImport(
            Located::new(
                input,
                "the document has no paths, so there is nothing to request",
            )
            .at(find_loc(&input.text, "paths").or(top))
            .help("import the document of a service that describes its routes under \"paths\""),
        ));
    }
    Ok(version)
}

/// Imports an OpenAPI document.
pub fn import(input: Input, options: &OpenApiOptions) -> Result<Generated, ImportError> {
    let value = parse_document(&input)?;
    let version = check_openapi(&input, &value)?;
    let docs = Docs::load(input, value)?;
    Importer::new(&docs, options, version).run()
}

/// How a path parameter gets its value.
#[derive(Clone)]
enum ParamValue {
    /// `${var}`, captured from a list operation.
    Captured { var: String, list: usize },
    /// A literal, and where it came from.
    Literal(String, Source),
}

struct Importer<'a> {
    docs: &'a Docs,
    root: Node<'a>,
    options: &'a OpenApiOptions,
    version: String,
    server: Server,
    ops: Vec<Op<'a>>,
    /// Left out before any step was built (unsupported methods).
    left_out: Vec<LeftOut>,
    /// Variable and capture names in use.
    taken: Vec<String>,
    /// Captures to put on list operations: op index -> captures (var, pointer, note).
    captures: HashMap<usize, Vec<CaptureOut>>,
    /// (list op, pointer) -> var, so each list value is captured once.
    capture_vars: HashMap<(usize, String), String>,
}

impl<'a> Importer<'a> {
    fn new(docs: &'a Docs, options: &'a OpenApiOptions, version: String) -> Self {
        let root = docs.root();
        let server = Server::read(root, &docs.root_input().origin);
        Importer {
            docs,
            root,
            options,
            version,
            server,
            ops: Vec::new(),
            left_out: Vec::new(),
            taken: Vec::new(),
            captures: HashMap::new(),
            capture_vars: HashMap::new(),
        }
    }

    fn run(mut self) -> Result<Generated, ImportError> {
        self.collect_operations();
        if self.ops.is_empty() {
            let input = self.docs.root_input();
            return Err(ImportError::NothingToImport(
                Located::new(
                    input,
                    "the document's paths have no operations gander can send",
                )
                .at(find_loc(&input.text, "paths"))
                .help("gander sends GET, HEAD, POST, PUT, PATCH and DELETE operations"),
            ));
        }
        let auth = auth::plan(self.root, &self.ops, &self.server, &mut self.taken);

        // Which operations become steps, and why the others do not.
        let mut included = Vec::new();
        let mut left: Vec<(usize, String)> = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            if auth.login_op == Some(i) {
                continue;
            }
            if op.node.bool("x-internal") {
                left.push((
                    i,
                    "marked x-internal (an operations endpoint, not part of the API's traffic)"
                        .into(),
                ));
            } else if op.node.bool("deprecated") {
                left.push((i, "deprecated".into()));
            } else if !op.method.is_read() && !self.options.include_writes {
                left.push((
                    i,
                    "writes data; gander import openapi --include-writes adds it".into(),
                ));
            } else if let Err(why) = request_body(op) {
                left.push((i, why));
            } else {
                included.push(i);
            }
        }
        if included.is_empty() {
            let input = self.docs.root_input();
            let help = if self.options.include_writes {
                "every operation is deprecated, internal or has a body gander cannot send"
                    .to_string()
            } else {
                "the document has no GET operations; add --include-writes to import its writes"
                    .to_string()
            };
            return Err(ImportError::NothingToImport(
                Located::new(
                    input,
                    "no operation of the document can be imported as a step",
                )
                .at(find_loc(&input.text, "paths"))
                .help(help),
            ));
        }

        // Path parameters: captured from list operations that are steps too, else literal.
        let mut resolved: HashMap<usize, Vec<(String, ParamValue)>> = HashMap::new();
        for &i in &included {
            let values = self.path_values(i, &included);
            resolved.insert(i, values);
        }
        let order = dependency_order(&included, &resolved);

        let mut steps = Vec::new();
        for &i in &order {
            let mut step = self.step(i, &resolved[&i], &auth);
            if let Some(caps) = self.captures.remove(&i) {
                step.captures = caps;
            }
            steps.push(step);
        }
        let mut left_out = std::mem::take(&mut self.left_out);
        for (i, why) in left {
            let literal = self.path_literals(i);
            let step = if request_body(&self.ops[i]).is_ok() {
                Some(self.step(i, &literal, &auth))
            } else {
                None
            };
            left_out.push(LeftOut {
                what: self.ops[i].title.clone(),
                why,
                step,
            });
        }

        let info = self.root.get("info");
        let title = info
            .and_then(|i| i.str("title"))
            .unwrap_or("API")
            .to_string();
        let api_version = info
            .and_then(|i| i.str("version"))
            .unwrap_or("")
            .to_string();
        let origin = self.docs.root_input().origin.to_string();
        let guesses = count_guesses(&steps) + auth.guesses;
        let captured: Vec<String> = steps
            .iter()
            .flat_map(|s| s.captures.iter().map(|c| c.var.clone()))
            .collect();

        let mut summary = vec![format!(
            "{} steps from {} operations of \"{title}\" (OpenAPI {})",
            steps.len(),
            self.ops.len() + self.left_out_count(),
            self.version
        )];
        if let Some(login) = &auth.login {
            summary.push(format!("login in on_start: {}", login.description));
        }
        if !captured.is_empty() {
            summary.push(format!(
                "captured from list responses: {}",
                captured.join(", ")
            ));
        }
        if !left_out.is_empty() {
            summary.push(format!(
                "left out (commented in the file): {}",
                left_out.len()
            ));
        }
        if guesses > 0 {
            summary.push(format!(
                "{guesses} values are guesses: search the file for \"guess:\""
            ));
        }

        let first_name = steps
            .first()
            .and_then(|s| s.name.clone())
            .unwrap_or_default();
        let scenario = ScenarioOut {
            header: vec![
                format!(
                    "Imported by `gander import openapi` from {origin}: \"{title}\" {api_version} (OpenAPI {}).",
                    self.version
                ),
                "Review it before trusting the figures: lines marked \"guess:\" are made up, not documented.".into(),
                "Check it with: gander check FILE    Run it with: gander run FILE".into(),
            ],
            name: scenario_name(&title, &self.docs.root_input().origin),
            host: self.server.host.clone(),
            host_note: Some(self.server.note.clone()),
            variables: auth.variables.clone(),
            flow: FlowOut {
                name: "user".into(),
                think_time: Some((
                    "500ms..1500ms".into(),
                    "guess: a person's pace between requests; 0s measures raw throughput".into(),
                )),
                on_start_note: auth.login.as_ref().map(|l| l.notes.clone()).unwrap_or_default(),
                on_start: auth.login.as_ref().map(|l| vec![l.step.clone()]).unwrap_or_default(),
                steps,
                left_out,
            },
            target_examples: target_examples(&first_name),
        };
        let yaml = emit::render(&scenario);
        Ok(Generated {
            yaml,
            summary,
            todo: auth.todo.clone(),
        })
    }

    fn left_out_count(&self) -> usize {
        self.left_out.len()
    }

    fn collect_operations(&mut self) {
        let mut names: Vec<String> = Vec::new();
        for (path, item) in self.root.entries("paths") {
            let shared = item.items("parameters");
            for (key, node) in item.own_entries() {
                let method = match Method::from_key(key) {
                    Some(m) => m,
                    None => {
                        if matches!(key, "options" | "trace") {
                            self.left_out.push(LeftOut {
                                what: format!("{} {path}", key.to_ascii_uppercase()),
                                why: format!(
                                    "the scenario format has no {} requests",
                                    key.to_ascii_uppercase()
                                ),
                                step: None,
                            });
                        }
                        continue;
                    }
                };
                let mut params: Vec<Node<'a>> = Vec::new();
                for p in shared.iter().chain(node.items("parameters").iter()) {
                    let id = (p.str("name"), p.str("in"));
                    params.retain(|q| (q.str("name"), q.str("in")) != id);
                    params.push(*p);
                }
                let upper = key.to_ascii_uppercase();
                let base = node
                    .str("operationId")
                    .or(node.str("summary"))
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{upper} {path}"));
                let mut name = base.clone();
                let mut n = 2;
                while names.contains(&name) {
                    name = format!("{base} ({n})");
                    n += 1;
                }
                names.push(name.clone());
                let summary = node.str("summary").unwrap_or("");
                let title = if summary.is_empty() {
                    format!("{upper} {path}")
                } else {
                    format!("{upper} {path}: {summary}")
                };
                self.ops.push(Op {
                    method,
                    path,
                    node,
                    params,
                    name,
                    title,
                });
            }
        }
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

        let mut query = Vec::new();
        let mut skipped = Vec::new();
        let mut headers = Vec::new();
        let mut cookies = Vec::new();
        for p in &op.params {
            let name = p.str("name").unwrap_or_default();
            let place = p.str("in").unwrap_or_default();
            if place == "path" || (p.bool("deprecated") && !p.bool("required")) {
                continue;
            }
            let schema = p.get("schema");
            let documented_example = sample::example_of(*p)
                .or_else(|| schema.and_then(|s| sample::example_of(sample::first_alternative(s))));
            let value = if p.bool("required") {
                Some(match sample::documented(*p, schema) {
                    Some(v) => v,
                    None => match schema {
                        Some(s) => sample::value_for(s),
                        None => (
                            Value::String("example".into()),
                            Source::Generated("no schema".into()),
                        ),
                    },
                })
            } else {
                documented_example.map(|v| (v, Source::Example))
            };
            let Some((value, source)) = value else {
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
                        query.push(format!("{}={}", encode(name), encode(&v)));
                    }
                }
                "header" => {
                    let lower = name.to_ascii_lowercase();
                    if !matches!(lower.as_str(), "accept" | "content-type" | "authorization") {
                        headers.push(Field::new(name, emit::literal(&values.join(","))));
                    }
                }
                "cookie" => cookies.push(format!("{name}={}", values.join(","))),
                _ => {}
            }
        }
        if !skipped.is_empty() {
            notes.push(format!(
                "optional query parameters left out: {}",
                skipped.join(", ")
            ));
        }

        let auth_use = auth.apply(op, self.root);
        for (name, value) in &auth_use.query {
            query.push(format!("{}={value}", encode(name)));
        }
        for (name, value) in &auth_use.headers {
            headers.push(Field::new(name.clone(), value.clone()));
        }
        cookies.extend(auth_use.cookies.iter().cloned());
        if !cookies.is_empty() {
            headers.push(Field::new("Cookie", cookies.join("; ")));
        }
        notes.extend(auth_use.notes);

        let mut url = format!("{}{path}", emit::literal(&self.server.base_path));
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let mut step = StepOut::new(op.method.key(), url);
        step.name = Some(op.name.clone());
        step.notes = notes;
        step.headers = headers;
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
}

/// A literal value for a path parameter, documented or made up.
fn literal_param(param: Node<'_>) -> ParamValue {
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

/// How a request body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Text,
}

/// The value of an operation's request body, how it is sent, its content
/// type, and where the value came from. `Err` says why it cannot be sent.
fn request_value(op: &Op<'_>) -> Result<Option<(BodyKind, Value, String, Source)>, String> {
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
        return Err(format!(
            "its body ({}) cannot be written in a scenario file (JSON, form and text bodies can)",
            types.join(", ")
        ));
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
fn request_body(op: &Op<'_>) -> Result<Option<(BodyOut, Option<String>, Source)>, String> {
    let Some((kind, value, ct, source)) = request_value(op)? else {
        return Ok(None);
    };
    Ok(Some(body_out(kind, &value, &ct, source)))
}

/// A body value written as literal template text.
fn body_out(
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

/// Where a list response keeps its rows: a JSON pointer to the array and the
/// rows' schema.
fn list_shape(schema: Node<'_>) -> Option<(String, Option<Node<'_>>)> {
    let schema = sample::first_alternative(schema.resolve());
    if sample::type_of(schema) == Some("array") || schema.raw("items").is_some() {
        return Some((String::new(), schema.get("items")));
    }
    let props = properties(schema);
    let arrays: Vec<&(&str, Node<'_>)> = props
        .iter()
        .filter(|(_, p)| {
            let p = sample::first_alternative(*p);
            sample::type_of(p) == Some("array") || p.raw("items").is_some()
        })
        .collect();
    let chosen = LIST_PROPERTIES
        .iter()
        .find_map(|want| arrays.iter().find(|(name, _)| name == want))
        .or(if arrays.len() == 1 {
            arrays.first()
        } else {
            None
        });
    if let Some((name, p)) = chosen {
        let p = sample::first_alternative(*p);
        return Some((format!("/{}", escape_pointer(name)), p.get("items")));
    }
    // One level down: { "data": { "items": [...] } }.
    for wrapper in LIST_WRAPPERS {
        if let Some((_, inner)) = props.iter().find(|(n, _)| n == wrapper)
            && sample::type_of(sample::first_alternative(*inner)) != Some("array")
            && let Some((pointer, item)) = list_shape(*inner)
            && !pointer.is_empty()
        {
            return Some((format!("/{}{pointer}", escape_pointer(wrapper)), item));
        }
    }
    None
}

/// An object schema's properties, `allOf` parts included.
fn properties<'a>(schema: Node<'a>) -> Vec<(&'a str, Node<'a>)> {
    let mut out = schema.entries("properties");
    for part in schema.items("allOf") {
        for (name, p) in properties(part) {
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, p));
            }
        }
    }
    out
}

/// The field of a list row that holds the value for path parameter `param`;
/// `true` when it is a guess (the rows' schema is not documented).
fn id_field(param: &str, item: Option<Node<'_>>) -> Option<(String, bool)> {
    let props: Vec<String> = item
        .map(|i| properties(sample::first_alternative(i)))
        .unwrap_or_default()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    if let Some(p) = props.iter().find(|p| *p == param) {
        return Some((p.clone(), false));
    }
    if let Some(p) = props.iter().find(|p| norm(p) == norm(param)) {
        return Some((p.clone(), false));
    }
    let id_like = is_generic_id(param)
        || param.ends_with("_id")
        || param.ends_with("Id")
        || param.ends_with("ID")
        || param.ends_with("-id");
    if !id_like {
        return None;
    }
    if let Some(p) = props
        .iter()
        .find(|p| p.as_str() == "id" || p.as_str() == "ID")
    {
        return Some((p.clone(), false));
    }
    if props.is_empty() {
        return Some(("id".into(), true));
    }
    None
}

fn is_generic_id(param: &str) -> bool {
    matches!(
        param.to_ascii_lowercase().as_str(),
        "id" | "uuid" | "key" | "slug" | "pk" | "guid"
    )
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// `included` in document order, each operation after the lists it captures from.
fn dependency_order(
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

fn count_guesses(steps: &[StepOut]) -> usize {
    steps
        .iter()
        .map(|s| {
            s.notes.iter().filter(|n| n.contains("guess:")).count()
                + s.body_note.iter().filter(|n| n.contains("guess:")).count()
                + s.captures
                    .iter()
                    .filter(|c| c.note.as_deref().is_some_and(|n| n.contains("guess:")))
                    .count()
        })
        .sum()
}

/// The scenario's name (and so the run's baseline name): the document's
/// title, unless it is a framework's default (every FastAPI app is titled
/// "FastAPI"), then where the document came from: the service's host and
/// port, or the file's name (its folder's when the file is `openapi.json`).
fn scenario_name(title: &str, origin: &Origin) -> String {
    let generic = |name: &str| {
        matches!(
            name.trim().to_ascii_lowercase().as_str(),
            "" | "fastapi" | "api" | "app" | "openapi" | "swagger" | "spec"
        )
    };
    if !generic(title) {
        return slug(title);
    }
    let from = match origin {
        Origin::Url(url) => match url.port_or_known_default() {
            Some(port) => format!("{}-{port}", url.host_str().unwrap_or("api")),
            None => url.host_str().unwrap_or("api").to_string(),
        },
        Origin::File(path) => {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            let folder = path
                .canonicalize()
                .ok()
                .and_then(|p| Some(p.parent()?.file_name()?.to_string_lossy().into_owned()));
            match (stem, folder) {
                (Some(stem), Some(folder)) if generic(&stem) => folder,
                (Some(stem), _) => stem,
                (None, folder) => folder.unwrap_or_default(),
            }
        }
    };
    slug(&from)
}

/// A file-system and URL friendly test name from a title.
fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "api".into() } else { out }
}

fn target_examples(first_step: &str) -> Vec<String> {
    let mut lines = vec![
        "Set the limits below from a first clean run, then uncomment them:".to_string(),
        "p95: 500ms                           # 95 % of requests faster than this".to_string(),
        "throughput: 20/s                     # at least this many requests per second".to_string(),
    ];
    if !first_step.is_empty() {
        lines.push("endpoints:".into());
        lines.push(format!("  {}: {{ p95: 300ms }}", emit::key(first_step)));
    }
    lines
}

#[cfg(test)]
mod tests;
