//! Checks a parsed scenario file and compiles it into a `RunPlan`.
//!
//! All problems found are reported together, each with its location; a plan
//! is returned only when there are none.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderName;
use indexmap::IndexMap;

use super::diagnostic::{Diagnostic, suggest};
use super::feeder::{self, Feeder};
use super::model::{self, Capture, ScenarioFile, Step};
use super::plan::*;
use super::spanned::{Loc, Sp};
use super::template::{self, Part, Resolved, Scope, Template, TemplateError};
use crate::redact::{self, Secrets};

/// Values from the command line that replace the file's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub host: Option<String>,
    pub users: Option<u64>,
    pub duration: Option<Duration>,
    pub iterations: Option<u64>,
    pub ramp_up: Option<Duration>,
    /// `--profile`: replaces (or turns off) the file's profiler.
    pub profile: Option<ProfileChoice>,
    /// `--sut-pid`: the SUT process to sample and profile.
    pub sut_pid: Option<u32>,
    /// `--target KEY=VALUE`: targets laid over the file's.
    pub targets: Vec<String>,
    /// `--http`: the HTTP version, replacing the file's `http`.
    pub http: Option<super::units::HttpVersion>,
    /// `--insecure`, `--ca`, `--client-cert`, `--client-key`: laid over the file's `tls`.
    pub tls: TlsFlags,
    /// `--segment i/N`: this generator runs the i-th of N shares of the plan.
    pub segment: Option<super::segment::Segment>,
    /// `--cost`: a cost sweep after the load (the file's `cost:` settings, else the defaults).
    pub cost: bool,
}

mod answers;
mod body_budget;
mod capacity;
mod connections;
mod load;
mod observe;
pub mod targets;
pub mod transport;
mod ws;
pub use observe::ProfileChoice;
pub use transport::TlsFlags;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// A response body longer than this (decoded) fails unless `max_body` says otherwise.
pub const DEFAULT_MAX_BODY: u64 = 8 << 20;
const MIN_MAX_BODY: u64 = 1 << 10;
const MAX_MAX_BODY: u64 = 1 << 30;
const DEFAULT_ERROR_SAMPLES: usize = 50;

struct Compiler<'a> {
    dir: &'a Path,
    problems: Vec<Diagnostic>,
    globals: IndexMap<String, String>,
    feeders: Vec<Arc<Feeder>>,
    /// Feeders that failed to load: references to them are not reported again.
    broken_feeders: Vec<String>,
    /// Capture name -> slot, shared by all scenarios.
    slots: IndexMap<String, usize>,
    endpoints: Vec<EndpointInfo>,
    endpoint_index: HashMap<String, usize>,
    default_headers: Vec<(HeaderName, Template)>,
    default_timeout: Duration,
    connect_timeout: Duration,
    default_follow_redirects: bool,
    default_max_body: u64,
    /// The path of the host URL, without its trailing `/`; steps' `/paths` go below it.
    base_path: String,
    /// `server_headers` as written.
    header_labels: Vec<String>,
    /// Index of the scenario being compiled.
    current_scenario: usize,
    /// Bytes templates have copied in from variables and the environment.
    expanded: Cell<usize>,
    /// Values read from the environment, credential headers' values and the
    /// host's password: kept out of what gander writes.
    secrets: RefCell<Vec<String>>,
    /// What the steps need of the top-level `sink` and `telegram`.
    answers: answers::Known,
    /// The largest body a step's checks hold whole, and where it is set.
    body_hold: Option<(u64, Loc)>,
}

/// Which captures a template at some step may read, and which come later.
/// Compiles a step's templates in its scope, collecting the problems.
struct StepTemplates<'a> {
    scope: StepScope<'a>,
    problems: RefCell<Vec<Diagnostic>>,
}

impl StepTemplates<'_> {
    /// A step's URL: a path (`/x`) below the host's base path, as every kind
    /// of step (HTTP, WebSocket, SSE) joins it; an absolute URL as written.
    fn url(&self, path: &Sp<String>) -> Template {
        self.scope
            .compiler
            .below_base(path, self.compile(path, path.loc))
    }

    fn compile(&self, text: &str, loc: Loc) -> Template {
        Template::compile(text, &self.scope).unwrap_or_else(|e| {
            self.problems
                .borrow_mut()
                .push(Diagnostic::new(loc, e.to_string()));
            Template::default()
        })
    }

    /// The step's headers, then the file's default headers it does not set itself.
    fn headers(&self, step: &Step) -> Vec<(HeaderName, Template)> {
        let mut headers = Vec::new();
        for (key, value) in &step.headers {
            match header_name(key, value.loc) {
                Ok(h) => {
                    let t = self.compile(value, value.loc);
                    self.problems.borrow_mut().extend(header_value_problem(
                        key,
                        t.literals(),
                        value.loc,
                    ));
                    if let Some(constant) = t.as_constant() {
                        self.scope.compiler.note_credential(key, constant);
                    }
                    headers.push((h, t));
                }
                Err(d) => self.problems.borrow_mut().push(d),
            }
        }
        for (h, t) in &self.scope.compiler.default_headers {
            if !headers.iter().any(|(existing, _)| existing == h) {
                headers.push((h.clone(), t.clone()));
            }
        }
        headers
    }

    /// The step's one body: json, form or raw.
    fn body(&self, step: &Sp<Step>) -> BodyPlan {
        let bodies = [
            step.json.is_some(),
            step.form.is_some(),
            step.body.is_some(),
        ];
        if bodies.iter().filter(|b| **b).count() > 1 {
            self.problems.borrow_mut().push(Diagnostic::new(
                step.loc,
                "a step can have only one of json, form, body",
            ));
            BodyPlan::None
        } else if let Some(json) = &step.json {
            BodyPlan::Json(json_template(&json.value, &mut |s: &str| {
                self.compile(s, json.loc)
            }))
        } else if let Some(form) = &step.form {
            BodyPlan::Form(
                form.iter()
                    .map(|(k, v)| (k.clone(), self.compile(v, v.loc)))
                    .collect(),
            )
        } else if let Some(body) = &step.body {
            BodyPlan::Raw(self.compile(body, body.loc))
        } else {
            BodyPlan::None
        }
    }
}

struct StepScope<'a> {
    compiler: &'a Compiler<'a>,
    visible: &'a [String],
    later: &'a [String],
}

impl Scope for StepScope<'_> {
    fn variable(&self, name: &str) -> Result<Resolved, TemplateError> {
        if let Some(value) = self.compiler.globals.get(name) {
            return Ok(Resolved::Literal(value.clone()));
        }
        if self.visible.iter().any(|v| v == name) {
            return Ok(Resolved::Part(Part::Var(self.compiler.slots[name])));
        }
        if self.later.iter().any(|v| v == name) {
            return Err(TemplateError::UsedBeforeCapture(name.to_string()));
        }
        if self.compiler.feeders.iter().any(|f| f.name == name) {
            return Err(TemplateError::FeederWithoutColumn(name.to_string()));
        }
        let known = self
            .compiler
            .globals
            .keys()
            .map(String::as_str)
            .chain(self.visible.iter().map(String::as_str))
            .chain(self.later.iter().map(String::as_str));
        let hint = match suggest(name, known) {
            Some(s) => format!(", did you mean \"{s}\"?"),
            None => " (define it under variables:, or capture it in an earlier step)".into(),
        };
        Err(TemplateError::Undefined {
            name: name.to_string(),
            hint,
        })
    }

    fn feeder_column(&self, feeder: &str, column: &str) -> Result<Option<Part>, TemplateError> {
        let Some((index, f)) = self
            .compiler
            .feeders
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == feeder)
        else {
            if self.compiler.broken_feeders.iter().any(|b| b == feeder) {
                return Ok(Some(Part::Literal(String::new())));
            }
            return Ok(None);
        };
        match f.column(column) {
            Some(c) => Ok(Some(Part::Feed(index, c))),
            None => {
                let hint = suggest(column, f.columns.iter().map(String::as_str))
                    .map(|s| format!(", did you mean \"{s}\"?"))
                    .unwrap_or_else(|| format!(" (columns: {})", f.columns.join(", ")));
                Err(TemplateError::NoColumn {
                    feeder: feeder.to_string(),
                    column: column.to_string(),
                    hint,
                })
            }
        }
    }
    fn env(&self, name: &str) -> Option<String> {
        self.compiler.env(name)
    }
    fn charge(&self, bytes: usize) -> Result<(), TemplateError> {
        self.compiler.charge(bytes)
    }
}

/// A scope for `variables:` values: environment and earlier variables only.
struct GlobalScope<'c, 'a>(&'c Compiler<'a>);

impl Scope for GlobalScope<'_, '_> {
    fn variable(&self, name: &str) -> Result<Resolved, TemplateError> {
        self.0
            .globals
            .get(name)
            .map(|v| Resolved::Literal(v.clone()))
            .ok_or_else(|| TemplateError::Undefined {
                name: name.to_string(),
                hint: " (variables may use ${env.NAME} and variables defined above them)".into(),
            })
    }
    fn feeder_column(&self, _: &str, _: &str) -> Result<Option<Part>, TemplateError> {
        Ok(None)
    }
    fn env(&self, name: &str) -> Option<String> {
        self.0.env(name)
    }
    fn charge(&self, bytes: usize) -> Result<(), TemplateError> {
        self.0.charge(bytes)
    }
}

/// All the text templates may copy in from variables and the environment
/// while one file is checked.
const MAX_EXPANDED_TOTAL: usize = 256 * 1024 * 1024;

impl Compiler<'_> {
    /// A credential header's fixed value (and the credential in it), noted as a secret.
    fn note_credential(&self, header: &str, value: &str) {
        if redact::is_secret_header(header) {
            self.secrets
                .borrow_mut()
                .extend(redact::credential_parts(header, value));
        }
    }

    /// The password of `http://user:pass@host`, as written, decoded, and as the
    /// Basic credential the client sends for it: a server may echo them back.
    fn note_userinfo(&self, url: &url::Url) {
        use base64::Engine;
        let Some(written) = url.password() else {
            return;
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let (user, password) = (decode(url.username()), decode(written));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut secrets = self.secrets.borrow_mut();
        secrets.extend([written.to_string(), password, basic]);
    }

    /// `text` with the secrets noted so far masked.
    fn masked(&self, text: String) -> String {
        let secrets = self.secrets.borrow();
        if secrets.iter().any(|s| text.contains(s.as_str())) {
            return Secrets::new(secrets.iter().cloned())
                .text(&text)
                .into_owned();
        }
        text
    }

    /// An environment variable's value, noted as a secret.
    fn env(&self, name: &str) -> Option<String> {
        let value = std::env::var(name).ok()?;
        let mut secrets = self.secrets.borrow_mut();
        if !secrets.contains(&value) {
            secrets.push(value.clone());
        }
        Some(value)
    }

    fn charge(&self, bytes: usize) -> Result<(), TemplateError> {
        let total = self.expanded.get().saturating_add(bytes);
        self.expanded.set(total);
        if total > MAX_EXPANDED_TOTAL {
            return Err(TemplateError::ExpandedTotal(crate::format::bytes(
                MAX_EXPANDED_TOTAL as f64,
            )));
        }
        Ok(())
    }
}

impl<'a> Compiler<'a> {
    /// Nothing compiled yet: the defaults, and the labels of the file's server headers.
    fn new(dir: &'a Path, file: &ScenarioFile) -> Compiler<'a> {
        Compiler {
            dir,
            problems: Vec::new(),
            globals: IndexMap::new(),
            feeders: Vec::new(),
            broken_feeders: Vec::new(),
            slots: IndexMap::new(),
            endpoints: Vec::new(),
            endpoint_index: HashMap::new(),
            default_headers: Vec::new(),
            default_timeout: DEFAULT_TIMEOUT,
            connect_timeout: crate::net::connect::CONNECT_TIMEOUT,
            default_follow_redirects: true,
            default_max_body: DEFAULT_MAX_BODY,
            base_path: String::new(),
            header_labels: file
                .server_headers
                .iter()
                .map(|h| h.value.clone())
                .collect(),
            current_scenario: 0,
            expanded: Cell::new(0),
            secrets: RefCell::new(Vec::new()),
            answers: Default::default(),
            body_hold: None,
        }
    }
}

/// The plan's name: the file's `name`, else its file name.
fn plan_name(file: &ScenarioFile, path: &Path) -> String {
    file.name
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        })
}

/// The file, checked, as the plan the run executes: each top-level key
/// compiled in the order later keys depend on (load before targets, scenarios
/// before the request names targets name), every problem collected rather
/// than the first returned.
pub fn compile(
    file: ScenarioFile,
    path: &Path,
    overrides: &Overrides,
) -> Result<RunPlan, Vec<Diagnostic>> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut c = Compiler::new(dir, &file);
    let name = plan_name(&file, path);
    c.globals(&file.variables);
    let host = c.host(file.host.as_ref(), overrides);
    let http = c.http_version(file.http.as_ref(), overrides.http, host.as_deref());
    let tls = c.tls(file.tls.as_ref(), &overrides.tls);
    c.feeders(
        &file.data,
        overrides.segment.unwrap_or(super::segment::Segment::WHOLE),
    );
    let load = c.load(&file.load, overrides);
    if let Some(defaults) = &file.defaults {
        c.defaults(defaults);
    }
    let answers = c.answers(file.sink.as_ref(), file.telegram.as_ref());
    let net = c.net(&file.hosts);
    let scenarios = c.scenarios(&file.scenarios);
    if let Some(load) = &load {
        c.check_unique_feeders(load, &file.data);
        c.check_body_budget(load, overrides);
    }
    let (server_headers, server_header_labels) = c.server_headers(&file.server_headers);
    let mut sut = c.sut(file.sut.as_ref(), host.as_deref(), overrides.sut_pid);
    let mut profile = c.profile(
        file.profile.as_ref(),
        overrides.profile.as_ref(),
        &sut,
        host.as_deref(),
        load.as_ref(),
    );
    let compiled = c.targets(file.targets.as_ref(), &scenarios, &sut, profile.as_ref());
    let error_samples = c.error_samples(file.error_samples.as_ref());
    let source_addresses =
        c.connections(&file, load.as_ref(), host.as_deref(), overrides, &scenarios);
    let cost = c.cost_plan(file.cost.as_ref(), overrides.cost);
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let (Some(host), Some(load)) = (host, load) else {
        return Err(vec![Diagnostic::new(
            Loc::default(),
            "incomplete scenario file",
        )]);
    };
    let secrets = share_secrets(c.secrets.take(), &mut sut, profile.as_mut());
    Ok(RunPlan {
        name,
        source: path.to_path_buf(),
        host,
        http,
        tls,
        net,
        load,
        scenarios,
        endpoints: c.endpoints,
        variables: c.slots.keys().cloned().collect(),
        feeders: c.feeders,
        server_header_labels,
        server_headers,
        target_policy: compiled.policy(),
        regression: compiled.regression,
        targets: compiled.targets,
        error_samples,
        sut,
        profile,
        secrets,
        segment: None,
        answers,
        source_addresses,
        baggage: file.baggage.as_ref().is_none_or(|b| b.value),
        cost,
    })
}

/// The file's secrets, which the observers too mask in what they save.
fn share_secrets(
    secrets: Vec<String>,
    sut: &mut SutPlan,
    profile: Option<&mut ProfilePlan>,
) -> Secrets {
    let secrets = Secrets::new(secrets);
    sut.secrets = secrets.clone();
    if let Some(launch) = &mut sut.launch {
        launch.secrets = secrets.clone();
    }
    if let Some(profile) = profile {
        profile.secrets = secrets.clone();
    }
    secrets
}

impl Compiler<'_> {
    /// The file's targets, and the profile's when it is `required`.
    fn targets(
        &mut self,
        file: Option<&Sp<model::Targets>>,
        scenarios: &[ScenarioPlan],
        sut: &SutPlan,
        profile: Option<&ProfilePlan>,
    ) -> targets::CompiledTargets {
        let mut compiled = match file {
            Some(t) => {
                let ctx = targets::TargetContext {
                    endpoints: self.endpoints.iter().map(|e| e.name.as_str()).collect(),
                    scenarios: scenarios.iter().map(|s| s.name.as_str()).collect(),
                    header_labels: &self.header_labels,
                    sut_measured: sut.is_measured(),
                    sut_local: sut.process.is_some(),
                    cores: machine_cores(),
                    health: sut.health.is_some(),
                };
                targets::compile(&ctx, t, &mut self.problems)
            }
            None => targets::CompiledTargets::default(),
        };
        if profile.is_some_and(|p| p.required) {
            compiled.targets.push(TargetSpec {
                endpoint: None,
                scenario: None,
                metric: TargetMetric::Profile,
                limit: 1.0,
                window: TargetWindow::Steady,
            });
        }
        compiled
    }

    /// `url` joined below the host's base path when `path` is a path.
    fn below_base(&self, path: &str, url: Template) -> Template {
        if path.starts_with('/') && !self.base_path.is_empty() {
            url.prefixed(&self.base_path)
        } else {
            url
        }
    }

    fn error(&mut self, loc: Loc, message: impl Into<String>) {
        self.problems.push(Diagnostic::new(loc, message));
    }

    fn error_help(&mut self, loc: Loc, message: impl Into<String>, help: impl Into<String>) {
        self.problems
            .push(Diagnostic::new(loc, message).with_help(help));
    }

    fn globals(&mut self, variables: &IndexMap<String, Sp<String>>) {
        for (name, value) in variables {
            if template::is_builtin(name) || name == "env" {
                self.error(
                    value.loc,
                    format!("\"{name}\" is a built-in name; choose another variable name"),
                );
                continue;
            }
            let text = match Template::compile(value, &GlobalScope(self)) {
                Ok(t) => match t.as_constant() {
                    Some(text) => Some(text.to_string()),
                    None => {
                        self.error(
                            value.loc,
                            format!("variable \"{name}\" must be a constant: built-ins such as random() belong in steps"),
                        );
                        None
                    }
                },
                Err(e) => {
                    self.error(value.loc, format!("variable \"{name}\": {e}"));
                    None
                }
            };
            // A broken variable still counts as defined (empty), so the
            // variables and steps that use it add no errors of their own.
            self.globals.insert(name.clone(), text.unwrap_or_default());
        }
    }

    fn host(&mut self, host: Option<&Sp<String>>, overrides: &Overrides) -> Option<String> {
        let (text, loc) = match (&overrides.host, host) {
            (Some(h), _) => (h.clone(), Loc::default()),
            (None, Some(h)) => match Template::compile(h, &GlobalScope(self)) {
                Ok(t) => (t.as_constant().unwrap_or_default().to_string(), h.loc),
                Err(e) => {
                    self.error(h.loc, e.to_string());
                    return None;
                }
            },
            (None, None) => {
                self.error_help(
                    Loc { line: 1, column: 1 },
                    "no host: the file has no \"host:\" and --host was not given",
                    "add e.g. host: http://127.0.0.1:8080",
                );
                return None;
            }
        };
        match url::Url::parse(&text) {
            Ok(url) if is_http_url(&text) => {
                self.note_userinfo(&url);
                // A path in the host is the base of every step's `/path` (as k6's and
                // Locust's base URLs are): http://h/app/ + /data.json is /app/data.json.
                self.base_path = url.path().trim_end_matches('/').to_string();
                Some(text.trim_end_matches('/').to_string())
            }
            _ => {
                self.error_help(
                    loc,
                    format!(
                        "host \"{}\" is not an http(s) URL",
                        self.masked(redact::url(&text))
                    ),
                    "expected something like http://127.0.0.1:8080",
                );
                None
            }
        }
    }

    /// Loads the data files; a segment's `unique` and `cycle` feeders take every Nth row.
    fn feeders(
        &mut self,
        data: &IndexMap<String, Sp<model::Feeder>>,
        segment: super::segment::Segment,
    ) {
        let mut total = 0u64;
        for (name, spec) in data {
            if self.globals.contains_key(name) || template::is_builtin(name) || name == "env" {
                self.error(
                    spec.loc,
                    format!("data feeder \"{name}\" has the name of a variable or built-in"),
                );
                continue;
            }
            let path = self.dir.join(spec.csv.value.as_str());
            let loaded = Feeder::load(name, &path, spec.mode, spec.per).and_then(|f| {
                total += f.bytes;
                if total > feeder::MAX_TOTAL_BYTES {
                    return Err(feeder::FeederError::TooMuchTogether(crate::format::bytes(
                        feeder::MAX_TOTAL_BYTES as f64,
                    )));
                }
                Ok(f)
            });
            match loaded {
                Ok(f) => self.feeders.push(Arc::new(f.striped(segment))),
                Err(e) => {
                    self.broken_feeders.push(name.clone());
                    self.error(spec.csv.loc, e.to_string());
                }
            }
        }
    }

    /// How connections are opened: `defaults.connect_timeout` (read before)
    /// and `hosts:`, each name with the IP addresses it resolves to.
    fn net(
        &mut self,
        hosts: &IndexMap<String, Sp<super::units::StringList>>,
    ) -> crate::net::NetPlan {
        let mut out = Vec::new();
        for (name, ips) in hosts {
            let mut addrs = Vec::new();
            for ip in &ips.value.0 {
                match ip.trim().trim_start_matches('[').trim_end_matches(']').parse() {
                    Ok(addr) => addrs.push(addr),
                    Err(_) => self.error_help(
                        ips.loc,
                        format!("hosts.{name}: \"{ip}\" is not an IP address"),
                        "give IPv4 or IPv6 addresses, e.g. { api.example.test: [\"::1\", 127.0.0.1] }",
                    ),
                }
            }
            if ips.value.0.is_empty() {
                self.error(
                    ips.loc,
                    format!("hosts.{name}: give at least one IP address"),
                );
            }
            out.push((name.clone(), addrs));
        }
        crate::net::NetPlan {
            connect_timeout: self.connect_timeout,
            hosts: out,
        }
    }

    fn defaults(&mut self, defaults: &model::Defaults) {
        let scope_vars: [String; 0] = [];
        self.default_headers = self.headers(&defaults.headers, &scope_vars, &scope_vars);
        if let Some(t) = &defaults.timeout {
            self.default_timeout = self.timeout(t);
        }
        if let Some(t) = &defaults.connect_timeout {
            self.connect_timeout = self.timeout(t);
        }
        if let Some(f) = &defaults.follow_redirects {
            self.default_follow_redirects = f.value;
        }
        if let Some(b) = &defaults.max_body {
            self.default_max_body = self.max_body(b);
        }
    }

    /// A body limit between 1KiB and 1GiB: each user may hold one body this
    /// large for its checks, so the ceiling bounds gander's memory.
    fn max_body(&mut self, b: &Sp<super::units::Bytes>) -> u64 {
        let bytes = b.value.0;
        if !(MIN_MAX_BODY as f64..=MAX_MAX_BODY as f64).contains(&bytes) {
            self.error(
                b.loc,
                "max_body must be between 1KiB and 1GiB (each user may hold one body this large)",
            );
            return DEFAULT_MAX_BODY;
        }
        bytes as u64
    }

    fn cost_plan(
        &mut self,
        sweep: Option<&Sp<super::model::CostSweep>>,
        flag: bool,
    ) -> Option<super::plan::CostPlan> {
        let default = super::plan::CostPlan::DEFAULT;
        let Some(sweep) = sweep else {
            return flag.then_some(default);
        };
        let each = sweep.value.each.as_ref();
        if let Some(each) = each.filter(|e| e.value.0 < Duration::from_secs(1)) {
            self.error_help(
                each.loc,
                "cost.each: each request name needs at least 1s alone",
                "the SUT's CPU is read once a second: give e.g. each: 5s",
            );
        }
        let users = sweep.value.users.as_ref();
        if let Some(users) = users.filter(|u| u.value.0 == 0 || u.value.0 > 1000) {
            self.error_help(
                users.loc,
                format!(
                    "cost.users: {} users cannot drive a request name alone",
                    users.value.0
                ),
                "give 1 to 1000 users, e.g. users: 2",
            );
        }
        Some(super::plan::CostPlan {
            each: each.map_or(default.each, |e| e.value.0),
            users: users.map_or(default.users, |u| u.value.0 as usize),
        })
    }

    fn error_samples(&mut self, samples: Option<&Sp<usize>>) -> usize {
        match samples {
            Some(n) if n.value > capacity::MAX_ERROR_SAMPLES => {
                self.error_help(
                    n.loc,
                    format!(
                        "error_samples: {} is more than {}, the most gander keeps",
                        n.value,
                        capacity::MAX_ERROR_SAMPLES
                    ),
                    "the error groups count every failure; samples are examples of them",
                );
                capacity::MAX_ERROR_SAMPLES
            }
            Some(n) => n.value,
            None => DEFAULT_ERROR_SAMPLES,
        }
    }

    fn timeout(&mut self, t: &Sp<super::units::Dur>) -> Duration {
        if t.value.0.is_zero() {
            self.error(t.loc, "a timeout must be above 0");
        }
        t.value.0
    }

    fn scenarios(&mut self, scenarios: &Sp<Vec<model::Scenario>>) -> Vec<ScenarioPlan> {
        if scenarios.is_empty() {
            self.error_help(
                scenarios.loc,
                "no scenarios",
                "add at least one scenario with steps",
            );
        }
        let mut seen: HashMap<&str, Loc> = HashMap::new();
        let mut plans = Vec::new();
        for sc in scenarios.iter() {
            if let Some(first) = seen.insert(&sc.name, sc.name.loc) {
                self.error(
                    sc.name.loc,
                    format!(
                        "duplicate scenario name \"{}\" (first used at line {})",
                        sc.name.value, first.line
                    ),
                );
            }
            self.current_scenario = plans.len();
            plans.push(self.scenario(sc));
        }
        plans
    }

    fn scenario(&mut self, sc: &model::Scenario) -> ScenarioPlan {
        let weight = sc.weight.as_ref().map(|w| w.value.0).unwrap_or(1);
        if let Some(w) = &sc.weight {
            if weight == 0 {
                self.error(w.loc, "weight must be at least 1");
            } else if weight > capacity::MAX_WEIGHT {
                self.error_help(
                    w.loc,
                    format!(
                        "a weight of {weight} is more than {}, the largest gander takes",
                        capacity::MAX_WEIGHT
                    ),
                    "weights are shares: 9999 and 1 give the same split as 999900 and 100",
                );
            }
        }
        if sc.steps.is_empty() {
            let loc = if sc.steps.loc.line > 0 {
                sc.steps.loc
            } else {
                sc.name.loc
            };
            self.error_help(
                loc,
                format!("scenario \"{}\" has no steps", sc.name.value),
                "add steps: a list of requests the users repeat",
            );
        }
        // Captures in file order: on_start, steps, on_stop.
        let captures_of = |steps: &[Sp<Step>]| -> Vec<String> {
            steps
                .iter()
                .flat_map(|s| capture_names(s).cloned())
                .collect()
        };
        let start_caps = captures_of(&sc.on_start);
        let step_caps = captures_of(&sc.steps);
        let stop_caps = captures_of(&sc.on_stop);
        for name in start_caps.iter().chain(&step_caps).chain(&stop_caps) {
            if !self.slots.contains_key(name) {
                let slot = self.slots.len();
                self.slots.insert(name.clone(), slot);
            }
        }

        let mut names: BTreeMap<String, (Loc, String)> = BTreeMap::new();
        let mut visible: Vec<String> = Vec::new();
        let mut later: Vec<String> = start_caps.iter().chain(&step_caps).cloned().collect();
        let on_start = self.step_list(&sc.on_start, &mut visible, &mut later, &mut names);
        let steps = self.step_list(&sc.steps, &mut visible, &mut later, &mut names);
        let mut later_stop = stop_caps.clone();
        let on_stop = self.step_list(&sc.on_stop, &mut visible, &mut later_stop, &mut names);

        ScenarioPlan {
            name: sc.name.value.clone(),
            weight: weight as usize,
            think_time: sc.think_time.as_ref().map(|t| (t.min, t.max)),
            on_start,
            steps,
            on_stop,
        }
    }

    fn step_list(
        &mut self,
        steps: &[Sp<Step>],
        visible: &mut Vec<String>,
        later: &mut Vec<String>,
        names: &mut BTreeMap<String, (Loc, String)>,
    ) -> Vec<StepPlan> {
        let mut plans = Vec::new();
        for step in steps {
            let answer = step.await_.is_some()
                || step.telegram.is_some()
                || step.sse.is_some()
                || step.reply.is_some()
                || step.until.is_some();
            if answer {
                plans.extend(self.answer_step(step, visible, later, names));
            } else if step.ws.is_some() {
                if let Some(plan) = self.ws_step(step, visible, later, names) {
                    plans.push(StepPlan::Ws(Arc::new(plan)));
                }
            } else if let Some(plan) = self.step(step, visible, later, names) {
                plans.push(StepPlan::Http(Arc::new(plan)));
            }
            for name in capture_names(step) {
                if let Some(pos) = later.iter().position(|l| l == name) {
                    later.remove(pos);
                }
                visible.push(name.clone());
            }
        }
        plans
    }

    // Long on purpose: each key of a request step compiled in turn into one RequestPlan, with its own located problems.
    fn step(
        &mut self,
        step: &Sp<Step>,
        visible: &[String],
        later: &[String],
        names: &mut BTreeMap<String, (Loc, String)>,
    ) -> Option<RequestPlan> {
        let (method, path) = self.step_method(step)?;
        for (set, key) in [
            (!step.messages.is_empty(), "messages"),
            (step.hold.is_some(), "hold"),
            (step.background.is_some(), "background"),
        ] {
            if set {
                self.error_help(
                    step.loc,
                    format!("{key} is for WebSocket steps, and this step is an HTTP request"),
                    format!("open a socket with ws: PATH to use {key}, or remove it"),
                );
            }
        }
        let (name, duplicate) = self.request_name(step, method.as_str(), path, names);
        let timeout = match &step.timeout {
            Some(t) => self.timeout(t),
            None => self.default_timeout,
        };
        let max_body = match &step.max_body {
            Some(b) => self.max_body(b),
            None => self.default_max_body,
        };
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
        let body = templates.body(step);
        let expect = match &step.expect {
            Some(e) => self.expect(e, &mut templates.problems.borrow_mut()),
            None => ExpectPlan::default(),
        };
        let captures = self.captures(&step.capture, &mut templates.problems.borrow_mut());
        let problems = templates.problems.into_inner();
        if !expect.json.is_empty()
            || captures
                .iter()
                .any(|c| matches!(c.source, CaptureSource::Json(_) | CaptureSource::Regex(_)))
        {
            let loc = (step.max_body.as_ref().map(|b| b.loc))
                .or(step
                    .expect
                    .as_ref()
                    .and_then(|e| e.json.first())
                    .map(|j| j.loc))
                .unwrap_or(step.loc);
            self.holds_body(max_body, loc);
        }
        self.problems.extend(problems);
        let endpoint = self.endpoint(&name, method.as_str());
        Some(RequestPlan {
            endpoint,
            scenario: self.current_scenario,
            method,
            url,
            headers,
            body,
            timeout,
            follow_redirects: step
                .follow_redirects
                .as_ref()
                .map_or(self.default_follow_redirects, |f| f.value),
            max_body,
            expect,
            captures,
        })
    }

    /// The step's one request method and its path.
    fn step_method<'s>(&mut self, step: &'s Sp<Step>) -> Option<(Method, &'s Sp<String>)> {
        let methods: Vec<(Method, &Sp<String>)> = [
            (Method::Get, &step.get),
            (Method::Post, &step.post),
            (Method::Put, &step.put),
            (Method::Patch, &step.patch),
            (Method::Delete, &step.delete),
            (Method::Head, &step.head),
        ]
        .into_iter()
        .filter_map(|(m, p)| p.as_ref().map(|p| (m, p)))
        .collect();
        match methods.as_slice() {
            [one] => Some(*one),
            [] => {
                self.error_help(
                    step.loc,
                    "a step needs a request: one of get, post, put, patch, delete, head, or ws for a WebSocket",
                    "e.g. - get: /api/bookings",
                );
                None
            }
            [_, second, ..] => {
                self.error(
                    second.1.loc,
                    "a step has more than one request method; give exactly one",
                );
                None
            }
        }
    }

    /// The step's request name (its own, or method and path), and the error when
    /// the file gives that name to a different request.
    fn request_name(
        &self,
        step: &Sp<Step>,
        method: &str,
        path: &Sp<String>,
        names: &mut BTreeMap<String, (Loc, String)>,
    ) -> (String, Option<Diagnostic>) {
        let name = match &step.name {
            Some(n) => n.value.clone(),
            // A variable read from the environment stays out of the name.
            None => self.masked(format!("{method} {}", self.path_template(path))),
        };
        let name_loc = step.name.as_ref().map(|n| n.loc).unwrap_or(path.loc);
        let signature = format!("{method} {}", path.value);
        let duplicate = match names.get(&name) {
            Some((first, other)) if *other != signature && step.name.is_some() => {
                Some(Diagnostic::new(
                    name_loc,
                    format!(
                        "duplicate request name \"{name}\" (line {} names a different request)",
                        first.line
                    ),
                ))
            }
            Some(_) => None,
            None => {
                names.insert(name.clone(), (name_loc, signature));
                None
            }
        };
        (name, duplicate)
    }

    /// The path as written, with constant variables filled in and the query dropped,
    /// so `/bookings/${id}?x=1` names one row whatever the id.
    fn path_template(&self, path: &str) -> String {
        let mut text = path.split('?').next().unwrap_or(path).to_string();
        for (name, value) in &self.globals {
            text = text.replace(&format!("${{{name}}}"), value);
        }
        text
    }

    fn endpoint(&mut self, name: &str, method: &'static str) -> usize {
        if let Some(i) = self.endpoint_index.get(name) {
            return *i;
        }
        let i = self.endpoints.len();
        self.endpoints.push(EndpointInfo {
            name: name.to_string(),
            method,
        });
        self.endpoint_index.insert(name.to_string(), i);
        i
    }

    fn headers(
        &mut self,
        headers: &IndexMap<String, Sp<String>>,
        visible: &[String],
        later: &[String],
    ) -> Vec<(HeaderName, Template)> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        {
            let scope = StepScope {
                compiler: self,
                visible,
                later,
            };
            for (key, value) in headers {
                match (
                    header_name(key, value.loc),
                    Template::compile(value, &scope),
                ) {
                    (Ok(h), Ok(t)) => {
                        problems.extend(header_value_problem(key, t.literals(), value.loc));
                        if let Some(constant) = t.as_constant() {
                            scope.compiler.note_credential(key, constant);
                        }
                        out.push((h, t));
                    }
                    (Err(d), _) => problems.push(d),
                    (_, Err(e)) => problems.push(Diagnostic::new(value.loc, e.to_string())),
                }
            }
        }
        self.problems.extend(problems);
        out
    }

    fn expect(&self, e: &model::Expect, problems: &mut Vec<Diagnostic>) -> ExpectPlan {
        let mut headers = Vec::new();
        for h in &e.headers {
            match header_name(h, h.loc) {
                Ok(name) => headers.push(name),
                Err(d) => problems.push(d),
            }
        }
        let json = self.json_checks(&e.json, problems);
        let body_contains = self.expected_texts(e.body_contains.as_ref(), problems);
        ExpectPlan {
            status: e.status.as_ref().map(|s| s.value.0.clone()),
            body_contains,
            json,
            headers,
        }
    }

    /// JSON pointer checks, their expected values filled in.
    fn json_checks(
        &self,
        checks: &[Sp<model::JsonExpect>],
        problems: &mut Vec<Diagnostic>,
    ) -> Vec<JsonCheck> {
        let mut json = Vec::new();
        for check in checks {
            if !(check.pointer.is_empty() || check.pointer.starts_with('/')) {
                problems.push(not_a_pointer(&check.pointer, check.loc));
            }
            if check.equals.is_none() && check.exists.is_none() {
                problems.push(Diagnostic::new(
                    check.loc,
                    "a JSON check needs equals: or exists:",
                ));
            }
            json.push(JsonCheck {
                pointer: check.pointer.clone(),
                equals: check
                    .equals
                    .as_ref()
                    .map(|v| self.expected_json(v, check.loc, problems)),
                exists: check.exists,
            });
        }
        json
    }

    /// Texts to look for, their `${…}` filled in.
    fn expected_texts(
        &self,
        texts: Option<&Sp<super::units::StringList>>,
        problems: &mut Vec<Diagnostic>,
    ) -> Vec<String> {
        match texts {
            Some(b) => b
                .value
                .0
                .iter()
                .map(|text| self.expected_text(text, b.loc, problems))
                .collect(),
            None => Vec::new(),
        }
    }

    /// An expected text, with `${…}` filled in now: an expectation is fixed when
    /// the file is checked, so it may use variables and `${env.NAME}`, but a
    /// value captured or fed per user is an error here, never compared as `${…}`.
    fn expected_text(&self, text: &str, loc: Loc, problems: &mut Vec<Diagnostic>) -> String {
        if !text.contains("${") {
            return text.to_string();
        }
        let help = "an expectation is fixed when the file is checked: use variables or \
                    ${env.NAME} in it, not values captured or fed per user";
        match Template::compile(text, &GlobalScope(self)) {
            Ok(t) => match t.as_constant() {
                Some(constant) => return constant.to_string(),
                None => {
                    // Name the part that varies (a built-in such as ${user_index}).
                    let part = text
                        .find("${")
                        .and_then(|at| Some(&text[at..at + text[at..].find('}')? + 1]))
                        .unwrap_or(text);
                    problems.push(
                        Diagnostic::new(
                            loc,
                            format!(
                                "\"{part}\" is a built-in that differs per user or request: \
                                 an expectation cannot use it"
                            ),
                        )
                        .focus(part)
                        .with_help(help),
                    )
                }
            },
            Err(e) => {
                let (message, focus) = match self.per_user_name(text) {
                    Some(name) => (
                        format!(
                            "\"${{{name}}}\" is a value each user captures or is fed: an expectation cannot use it"
                        ),
                        format!("${{{name}}}"),
                    ),
                    None => (format!("in an expectation: {e}"), "${".to_string()),
                };
                problems.push(Diagnostic::new(loc, message).focus(focus).with_help(help));
            }
        }
        text.to_string()
    }

    /// The first `${name}` in `text` that is a capture or a feeder column.
    fn per_user_name<'t>(&self, text: &'t str) -> Option<&'t str> {
        text.split("${")
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.trim()))
            .find(|name| {
                self.slots.contains_key(*name)
                    || name
                        .split_once('.')
                        .is_some_and(|(feeder, _)| self.feeders.iter().any(|f| f.name == feeder))
            })
    }

    /// An expected JSON value with every string's `${…}` filled in (see `expected_text`).
    fn expected_json(
        &self,
        value: &serde_json::Value,
        loc: Loc,
        problems: &mut Vec<Diagnostic>,
    ) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.expected_text(s, loc, problems)),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.expected_json(v, loc, problems))
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.expected_json(v, loc, problems)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn captures(
        &self,
        captures: &IndexMap<String, Sp<Capture>>,
        problems: &mut Vec<Diagnostic>,
    ) -> Vec<CapturePlan> {
        let mut out = Vec::new();
        for (name, capture) in captures {
            if self.globals.contains_key(name) || template::is_builtin(name) || name == "env" {
                problems.push(Diagnostic::new(
                    capture.loc,
                    format!("capture \"{name}\" has the name of a variable or built-in"),
                ));
                continue;
            }
            if self.feeders.iter().any(|f| &f.name == name) {
                problems.push(Diagnostic::new(
                    capture.loc,
                    format!("capture \"{name}\" has the name of a data feeder"),
                ));
                continue;
            }
            let source = match &capture.value {
                Capture::Json(p) if p.is_empty() || p.starts_with('/') => {
                    CaptureSource::Json(p.clone())
                }
                Capture::Json(p) => {
                    problems.push(not_a_pointer(p, capture.loc));
                    continue;
                }
                Capture::Header(h) => match header_name(h, capture.loc) {
                    Ok(h) => CaptureSource::Header(h),
                    Err(d) => {
                        problems.push(d);
                        continue;
                    }
                },
                Capture::Regex(r) => match regex::Regex::new(r) {
                    Ok(re) => CaptureSource::Regex(re),
                    Err(e) => {
                        let text = e.to_string();
                        let why = text
                            .lines()
                            .rev()
                            .find_map(|l| l.strip_prefix("error: "))
                            .unwrap_or(&text);
                        problems.push(Diagnostic::new(
                            capture.loc,
                            format!("invalid regex \"{r}\": {why}"),
                        ));
                        continue;
                    }
                },
                Capture::Cookie(c) => CaptureSource::Cookie(c.clone()),
            };
            out.push(CapturePlan {
                slot: self.slots[name],
                name: name.clone(),
                source,
            });
        }
        out
    }

    fn check_unique_feeders(
        &mut self,
        load: &LoadPlan,
        data: &IndexMap<String, Sp<model::Feeder>>,
    ) {
        let problems: Vec<Diagnostic> = self
            .feeders
            .iter()
            .filter(|f| f.mode == model::FeederMode::Unique)
            .filter_map(|f| {
                let needed = match (f.per, load.end) {
                    (model::FeederPer::User, _) => load.users_started() as u64,
                    (model::FeederPer::Iteration, LoadEnd::Iterations(n)) => {
                        (load.users as u64).saturating_mul(n)
                    }
                    // Unknown in advance with a duration: checked while running.
                    (model::FeederPer::Iteration, LoadEnd::Duration(_)) => return None,
                };
                (needed > f.rows.len() as u64).then(|| {
                    let loc = data.get(&f.name).map(|d| d.loc).unwrap_or_default();
                    Diagnostic::new(
                        loc,
                        format!(
                            "data feeder \"{}\" has {} rows but mode unique needs {needed}",
                            f.name,
                            f.rows.len()
                        ),
                    )
                    .with_help("add rows, use mode: cycle, or run fewer users or iterations")
                })
            })
            .collect();
        self.problems.extend(problems);
    }

    /// The headers to record and how reports name them. `Server-Timing db` (one
    /// component, as targets name it) records the `Server-Timing` header.
    fn server_headers(&mut self, headers: &[Sp<String>]) -> (Vec<HeaderName>, Vec<String>) {
        let mut names: Vec<HeaderName> = Vec::new();
        let mut labels = Vec::new();
        for h in headers {
            let component = is_server_timing_component(h);
            let (text, label) = if component {
                ("server-timing", "Server-Timing")
            } else {
                (h.value.as_str(), h.value.as_str())
            };
            match header_name(text, h.loc) {
                Ok(name) if names.contains(&name) => {
                    if !component && !is_server_timing(&name) {
                        self.error(
                            h.loc,
                            format!("server header \"{}\" is listed twice", h.value),
                        );
                    }
                }
                Ok(name) => {
                    names.push(name);
                    labels.push(label.to_string());
                }
                Err(d) => self.problems.push(d),
            }
        }
        (names, labels)
    }
}

/// The names a step captures: its own, and its WebSocket messages'.
fn capture_names(step: &Step) -> impl Iterator<Item = &String> {
    step.capture
        .keys()
        .chain(step.messages.iter().flat_map(|m| m.capture.keys()))
}

/// "not a JSON pointer", with the pointer the text most likely meant: a JSONPath
/// such as `$.items[0].id` becomes `/items/0/id`.
pub(crate) fn not_a_pointer(text: &str, loc: Loc) -> Diagnostic {
    Diagnostic::new(loc, format!("\"{text}\" is not a JSON pointer")).with_help(format!(
        "JSON pointers start with \"/\", e.g. \"{}\"",
        as_pointer(text)
    ))
}

/// The JSON pointer a JSONPath-like or bare text most likely meant.
fn as_pointer(text: &str) -> String {
    let path = text.trim().trim_start_matches('$');
    let mut pointer = String::new();
    for part in path.split(['.', '[', ']']).filter(|p| !p.is_empty()) {
        pointer.push('/');
        pointer.push_str(part.trim_matches(['\'', '"']));
    }
    if pointer.is_empty() {
        "/".into()
    } else {
        pointer
    }
}

/// CPUs online on this machine (not only those gander may use): what a local SUT can use.
pub fn machine_cores() -> usize {
    // SAFETY: sysconf reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(1)
}

/// An http(s) URL with a host.
pub fn is_http_url(text: &str) -> bool {
    url::Url::parse(text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

/// `Server-Timing <component>`, as targets and reports name one component.
pub(crate) fn is_server_timing_component(text: &str) -> bool {
    text.split_once(' ').is_some_and(|(header, component)| {
        header.eq_ignore_ascii_case("server-timing") && !component.trim().is_empty()
    })
}

fn is_server_timing(name: &HeaderName) -> bool {
    name.as_str() == "server-timing"
}

/// A header value is one line of text: a CR or LF in its fixed text (after
/// variables and `${env.NAME}` are filled in) would end the header, or let the
/// value write headers of its own. The value itself is not shown: it may be a secret.
pub(crate) fn header_value_problem<'t>(
    name: &str,
    texts: impl IntoIterator<Item = &'t str>,
    loc: Loc,
) -> Option<Diagnostic> {
    let bad = texts
        .into_iter()
        .flat_map(str::chars)
        .find(|&c| c.is_ascii_control() && c != '\t')?;
    let what = match bad {
        '\r' | '\n' => "a line break (CR or LF)",
        _ => "a control character",
    };
    Some(
        Diagnostic::new(
            loc,
            format!("the value of header \"{name}\" holds {what} once its variables are filled in"),
        )
        .with_help(
            "a header value is one line: remove the line break (a YAML | or > block ends its \
             lines with one; write a quoted string)",
        ),
    )
}

/// Parses a header name, or says at `loc` why it is not one.
fn header_name(text: &str, loc: Loc) -> Result<HeaderName, Diagnostic> {
    HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| Diagnostic::new(loc, format!("\"{text}\" is not a valid header name")))
}

/// Compiles the strings of a JSON body as templates.
fn json_template(
    value: &serde_json::Value,
    compile: &mut dyn FnMut(&str) -> Template,
) -> JsonTemplate {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('$') => {
            let t = compile(s);
            match t.as_constant() {
                Some(text) => JsonTemplate::Constant(Value::String(text.to_string())),
                None if t.is_single_number() => JsonTemplate::Number(t),
                None => JsonTemplate::String(t),
            }
        }
        Value::Array(items) => {
            JsonTemplate::Array(items.iter().map(|v| json_template(v, compile)).collect())
        }
        Value::Object(map) => JsonTemplate::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_template(v, compile)))
                .collect(),
        ),
        other => JsonTemplate::Constant(other.clone()),
    }
}
