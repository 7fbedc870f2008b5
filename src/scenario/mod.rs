//! Scenario files: load, check, compile into a `RunPlan`.

pub mod answers;
pub mod answers_plan;
mod compile;
pub mod diagnostic;
pub mod feeder;
pub mod files;
pub mod model;
pub mod plan;
pub mod segment;
pub mod spanned;
pub mod start_at;
pub mod template;
pub mod units;

use std::path::Path;

pub use compile::{DEFAULT_TIMEOUT, Overrides, ProfileChoice, TlsFlags};
pub use diagnostic::{Diagnostic, FileDiagnostics, ScenarioError};
pub use plan::RunPlan;

use spanned::Loc;

/// Reads, parses and checks a scenario file. Nothing is sent anywhere.
pub fn load(path: &Path, overrides: &Overrides) -> Result<RunPlan, ScenarioError> {
    check_flags(overrides)?;
    let source = match files::read_text(path, files::MAX_SCENARIO_BYTES) {
        Ok(source) => source,
        Err(files::FileError::NotUtf8 {
            line,
            column,
            byte,
            text,
        }) => {
            let d = Diagnostic::new(
                Loc {
                    line: line as u64,
                    column: column as u64,
                },
                format!("byte 0x{byte:02x} is not UTF-8: a scenario file is UTF-8 text"),
            )
            .with_help(
                "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8), or remove the byte",
            );
            return Err(ScenarioError::invalid(path, &text, vec![d]));
        }
        Err(source) => {
            return Err(ScenarioError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if let Some(d) = document_problem(&source) {
        return Err(ScenarioError::invalid(path, &source, vec![d]));
    }
    let file: model::ScenarioFile =
        match serde_saphyr::from_str_with_options(&source, yaml_options()) {
            Ok(file) => file,
            Err(e) => {
                return Err(ScenarioError::invalid(
                    path,
                    &source,
                    vec![from_yaml_error(&e)],
                ));
            }
        };
    let mut plan = compile::compile(file, path, overrides)
        .map_err(|items| ScenarioError::invalid(path, &source, items))?;
    for flag in &overrides.targets {
        apply_target_flag(&mut plan, flag)?;
    }
    if let Some(part) = overrides.segment {
        plan = segment::apply(plan, part).map_err(|e| {
            let d = Diagnostic::new(Loc { line: 1, column: 1 }, e.to_string());
            ScenarioError::invalid(Path::new("--segment"), &part.to_string(), vec![d])
        })?;
    }
    Ok(plan)
}

/// The parser's limits, scaled to the largest file gander reads
/// (`files::MAX_SCENARIO_BYTES`): serde-saphyr's default of 250,000 nodes
/// refuses a plain 30,000-step file that `gander import openapi` writes for a
/// large API, while every node takes at least two bytes of the file (aliases
/// keep their own default limits), so these bound nothing the size does not.
fn yaml_options() -> serde_saphyr::Options {
    let bytes = files::MAX_SCENARIO_BYTES as usize;
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: bytes / 2,
            max_events: bytes,
        },
    }
}

/// A file that is empty, holds only comments, or holds more than one YAML
/// document (`---` after the first), said before the YAML parser does.
fn document_problem(source: &str) -> Option<Diagnostic> {
    let content = |l: &&str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    };
    let Some(first) = source.lines().position(|l| content(&l)) else {
        let message = if source.trim().is_empty() {
            "the file is empty"
        } else {
            "the file holds only comments"
        };
        return Some(
            Diagnostic::new(Loc { line: 1, column: 1 }, message).with_help(
                "a scenario file needs at least host, load and scenarios; see `gander schema`",
            ),
        );
    };
    let is_marker = |l: &str| l == "---" || l.starts_with("--- ") || l.starts_with("---\t");
    // A `---` opening the file starts its one document; one after content starts another.
    let skip = if is_marker(source.lines().nth(first)?.trim_end()) {
        first + 1
    } else {
        first
    };
    let second = source
        .lines()
        .enumerate()
        .skip(skip)
        .find(|(_, l)| is_marker(l.trim_end()))?
        .0;
    Some(
        Diagnostic::new(
            Loc {
                line: second as u64 + 1,
                column: 1,
            },
            "a second YAML document starts here: a scenario file is one document",
        )
        .with_help("put the other document in a file of its own, or remove this `---`"),
    )
}

/// Flags that replace the file's values are checked on their own, so a mistake
/// is reported against the flag rather than a place in the file.
fn check_flags(overrides: &Overrides) -> Result<(), ScenarioError> {
    let flag_error = |flag: &str, text: &str, message: String, help: &str| {
        let d = Diagnostic::new(Loc { line: 1, column: 1 }, message).with_help(help);
        ScenarioError::invalid(Path::new(flag), text, vec![d])
    };
    if let Some(host) = &overrides.host
        && !compile::is_http_url(host)
    {
        let host = crate::redact::url(host);
        return Err(flag_error(
            "--host",
            &host,
            format!("\"{host}\" is not an http(s) URL"),
            "expected something like --host http://127.0.0.1:8080",
        ));
    }
    for (flag, path, kind) in [
        ("--ca", &overrides.tls.ca, compile::transport::PemKind::Ca),
        (
            "--client-cert",
            &overrides.tls.client_cert,
            compile::transport::PemKind::ClientCert,
        ),
        (
            "--client-key",
            &overrides.tls.client_key,
            compile::transport::PemKind::ClientKey,
        ),
    ] {
        if let Some(path) = path {
            let shown = path.display().to_string();
            if let Err(e) = compile::transport::read_pem(path, &shown, kind) {
                return Err(flag_error(flag, &shown, e.to_string(), e.help()));
            }
        }
    }
    if overrides.users == Some(0) {
        return Err(flag_error(
            "--users",
            "0",
            "--users must be at least 1".into(),
            "give the number of users, e.g. --users 50",
        ));
    }
    Ok(())
}

/// Lays one `--target KEY=VALUE` over the plan's targets. The flag is read as the
/// YAML it stands for, so it takes every key of `targets:` and reports errors the
/// same way, against the flag's own text.
fn apply_target_flag(plan: &mut RunPlan, flag: &str) -> Result<(), ScenarioError> {
    let label = Path::new("--target");
    let source = match target_flag_yaml(flag) {
        Ok(source) => source,
        Err(message) => {
            let d = Diagnostic::new(Loc { line: 1, column: 1 }, message.to_string()).with_help(
                "write KEY=VALUE as in targets:, e.g. p95=200ms, error_rate=1%, \
                 endpoints.\"list bookings\".p95=150ms, sut.memory=512MiB",
            );
            return Err(ScenarioError::invalid(label, flag, vec![d]));
        }
    };
    let parsed: spanned::Sp<model::Targets> = serde_saphyr::from_str(&source)
        .map_err(|e| ScenarioError::invalid(label, &source, vec![from_yaml_error(&e)]))?;
    let ctx = compile::targets::TargetContext {
        endpoints: plan.endpoints.iter().map(|e| e.name.as_str()).collect(),
        scenarios: plan.scenarios.iter().map(|s| s.name.as_str()).collect(),
        header_labels: &plan.server_header_labels,
        sut_measured: plan.sut.is_measured(),
        sut_local: plan.sut.process.is_some(),
        cores: compile::machine_cores(),
        health: plan.sut.health.is_some(),
    };
    let mut problems = Vec::new();
    let flagged = compile::targets::compile(&ctx, &parsed, &mut problems);
    if !problems.is_empty() {
        return Err(ScenarioError::invalid(label, &source, problems));
    }
    let mut merged = compile::targets::CompiledTargets {
        targets: std::mem::take(&mut plan.targets),
        no_data: Some(plan.target_policy.no_data),
        inconclusive: Some(plan.target_policy.inconclusive),
        regression: plan.regression.take(),
    };
    merged.overlay(flagged);
    plan.target_policy = merged.policy();
    plan.regression = merged.regression;
    plan.targets = merged.targets;
    Ok(())
}

/// `endpoints."list bookings".p95=150ms` becomes the YAML
/// `endpoints:\n  "list bookings":\n    p95: 150ms\n`.
/// Why a `--target` flag is not KEY=VALUE.
#[derive(Debug, thiserror::Error)]
enum TargetFlagError {
    #[error("\"{0}\" has no \"=\"")]
    NoEquals(String),
    #[error("\"{0}\" is not a key path")]
    NotKeyPath(String),
}

fn target_flag_yaml(flag: &str) -> Result<String, TargetFlagError> {
    let (key, value) = flag
        .split_once('=')
        .ok_or_else(|| TargetFlagError::NoEquals(flag.to_string()))?;
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for ch in key.trim().chars() {
        match ch {
            '"' => quoted = !quoted,
            '.' if !quoted => segments.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    segments.push(current);
    if quoted || segments.iter().any(|s| s.trim().is_empty()) {
        return Err(TargetFlagError::NotKeyPath(key.to_string()));
    }
    // p99.9 is one key.
    if let Some(i) = segments.iter().position(|s| s == "p99")
        && segments.get(i + 1).is_some_and(|s| s == "9")
    {
        segments[i] = "p99.9".into();
        segments.remove(i + 1);
    }
    let mut yaml = String::new();
    let last = segments.len() - 1;
    for (depth, segment) in segments.iter().enumerate() {
        let name = serde_json::to_string(segment.trim()).unwrap_or_default();
        yaml.push_str(&"  ".repeat(depth));
        yaml.push_str(&name);
        yaml.push(':');
        if depth == last {
            yaml.push(' ');
            yaml.push_str(value.trim());
        }
        yaml.push('\n');
    }
    Ok(yaml)
}

/// The JSON Schema of the scenario format, for editors.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(model::ScenarioFile);
    serde_json::to_value(schema).unwrap_or_default()
}

/// Turns a YAML or shape error into a located diagnostic with a suggestion.
fn from_yaml_error(error: &serde_saphyr::Error) -> Diagnostic {
    use serde_saphyr::Error as E;
    let error = error.without_snippet();
    let loc = error.location().map(Loc::from_saphyr).unwrap_or_default();
    match error {
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            let d = Diagnostic::new(loc, format!("unknown key \"{field}\""));
            match diagnostic::suggest(field, expected.iter().copied()) {
                Some(s) => Diagnostic::new(
                    loc,
                    format!("unknown key \"{field}\", did you mean \"{s}\"?"),
                ),
                None => d.with_help(format!("expected one of: {}", expected.join(", "))),
            }
        }
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let d = Diagnostic::new(loc, format!("unknown value \"{variant}\""));
            match diagnostic::suggest(variant, expected.iter().copied()) {
                Some(s) => Diagnostic::new(
                    loc,
                    format!("unknown value \"{variant}\", did you mean \"{s}\"?"),
                ),
                None => d.with_help(format!("expected one of: {}", expected.join(", "))),
            }
        }
        E::SerdeMissingField { field, .. } => {
            Diagnostic::new(loc, format!("missing key \"{field}\""))
        }
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => Diagnostic::new(loc, format!("expected {expected}, found {unexpected}")),
        E::DuplicateMappingKey { key, .. } => Diagnostic::new(
            loc,
            match key {
                Some(k) => format!("duplicate key \"{k}\""),
                None => "duplicate key".to_string(),
            },
        ),
        E::Message { msg, .. } => Diagnostic::new(loc, msg.clone()),
        E::InvalidScalar { ty, .. } => {
            let what = match *ty {
                t if t.starts_with('u') => "a whole number (0 or more)",
                t if t.starts_with('i') => "a whole number",
                t if t.starts_with('f') => "a number",
                "bool" => "true or false",
                other => other,
            };
            Diagnostic::new(loc, format!("expected {what}"))
        }
        other => {
            let text = other.to_string();
            match text.strip_prefix("budget breached: ") {
                Some(breach) => budget_breach(loc, breach),
                None => Diagnostic::new(loc, strip_location(&text)),
            }
        }
    }
}

/// The YAML parser's budget (aliases that expand without end, the "billion
/// laughs", or nesting past reason), in words and with the fix, instead of
/// the parser's own debug text (`RecordedAnchorEvents { .. }`).
fn budget_breach(loc: Loc, breach: &str) -> Diagnostic {
    let kind = breach
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default();
    let what = match kind {
        "Depth" => "it nests lists and maps deeper than gander reads",
        "Aliases" | "Anchors" => {
            "it uses more aliases (*name) or anchors (&name) than gander reads"
        }
        "Documents" => "it holds more than one YAML document",
        _ => {
            "its aliases (*name) expand to more values than gander reads (each alias repeats \
              its anchor's whole value, so aliases of aliases grow without end)"
        }
    };
    Diagnostic::new(loc, format!("the file is too large once expanded: {what}")).with_help(
        "write the values out, or repeat them with fewer nested aliases; a scenario file needs \
         no more than a few thousand values",
    )
}

/// serde-saphyr's messages end with " at line N column M"; the diagnostic says that itself.
fn strip_location(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    match first.rfind(" at line ") {
        Some(pos) => first[..pos].to_string(),
        None => first.to_string(),
    }
}
