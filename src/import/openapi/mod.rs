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

//!
//! The import runs in passes, one module each: `load` (parse, check, resolve
//! `$ref`s with `refs`) → `select` (the operations that become steps) →
//! `auth` (the security plan: the login and what each step sends) → `steps`
//! (parameters, bodies, ids captured from `lists`).

mod auth;
mod lists;
mod load;
mod refs;
mod sample;
mod select;
mod steps;

use std::collections::HashMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::emit::{self, CaptureOut, FlowOut, LeftOut, ScenarioOut, StepOut};
use super::{Generated, ImportError, Input, Located, Origin, find_loc, parse_document};
use load::{Server, check_openapi};
use refs::{Docs, Node};

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

/// Imports an OpenAPI document.
pub fn import(input: Input, options: &OpenApiOptions) -> Result<Generated, ImportError> {
    let value = parse_document(&input)?;
    let version = check_openapi(&input, &value)?;
    let docs = Docs::load(input, value)?;
    Importer::new(&docs, options, version).run()
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

    /// The passes after loading: select the operations, plan the login,
    /// write the steps, lay out the file.
    fn run(mut self) -> Result<Generated, ImportError> {
        self.collect_operations();
        if self.ops.is_empty() {
            return Err(self.nothing_to_import(
                "the document's paths have no operations gander can send",
                "gander sends GET, HEAD, POST, PUT, PATCH and DELETE operations".into(),
            ));
        }
        let auth = auth::plan(self.root, &self.ops, &self.server, &mut self.taken);
        let (included, left) = self.select(&auth)?;
        let steps = self.steps(&included, &auth);
        let left_out = self.left_out(left, &auth);
        Ok(self.output(steps, left_out, &auth))
    }

    /// Nothing of the document can be imported: why, at its paths.
    fn nothing_to_import(&self, message: &str, help: String) -> ImportError {
        let input = self.docs.root_input();
        ImportError::NothingToImport(
            Located::new(input, message)
                .at(find_loc(&input.text, "paths"))
                .help(help),
        )
    }

    /// The scenario file and the console's summary.
    fn output(
        &self,
        steps: Vec<StepOut>,
        left_out: Vec<LeftOut>,
        auth: &auth::AuthPlan,
    ) -> Generated {
        let info = self.root.get("info");
        let title = info
            .and_then(|i| i.str("title"))
            .unwrap_or("API")
            .to_string();
        let api_version = info
            .and_then(|i| i.str("version"))
            .unwrap_or("")
            .to_string();
        let origin = &self.docs.root_input().origin;
        let summary = self.summary(&title, &steps, &left_out, auth);
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
            name: scenario_name(&title, origin),
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
        Generated {
            yaml: emit::render(&scenario),
            summary,
            todo: auth.todo.clone(),
        }
    }

    /// One-line facts for the console.
    fn summary(
        &self,
        title: &str,
        steps: &[StepOut],
        left_out: &[LeftOut],
        auth: &auth::AuthPlan,
    ) -> Vec<String> {
        let guesses = count_guesses(steps) + auth.guesses;
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
        summary
    }

    fn left_out_count(&self) -> usize {
        self.left_out.len()
    }
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
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
