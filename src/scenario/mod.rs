//! Scenario files: load, check, compile into a `RunPlan`.

mod compile;
pub mod diagnostic;
pub mod feeder;
pub mod model;
pub mod plan;
pub mod spanned;
pub mod template;
pub mod units;

use std::path::Path;

pub use compile::{DEFAULT_TIMEOUT, Overrides, ProfileChoice};
pub use diagnostic::{Diagnostic, FileDiagnostics, ScenarioError};
pub use plan::RunPlan;

use spanned::Loc;

/// Reads, parses and checks a scenario file. Nothing is sent anywhere.
pub fn load(path: &Path, overrides: &Overrides) -> Result<RunPlan, ScenarioError> {
    let source = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if source.trim().is_empty() {
        let d = Diagnostic::new(Loc { line: 1, column: 1 }, "the file is empty").with_help(
            "a scenario file needs at least host, load and scenarios; see `gander schema`",
        );
        return Err(ScenarioError::invalid(path, &source, vec![d]));
    }
    let file: model::ScenarioFile = match serde_saphyr::from_str(&source) {
        Ok(file) => file,
        Err(e) => {
            return Err(ScenarioError::invalid(
                path,
                &source,
                vec![from_yaml_error(&e)],
            ));
        }
    };
    compile::compile(file, path, overrides)
        .map_err(|items| ScenarioError::invalid(path, &source, items))
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
        other => Diagnostic::new(loc, strip_location(&other.to_string())),
    }
}

/// serde-saphyr's messages end with " at line N column M"; the diagnostic says that itself.
fn strip_location(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    match first.rfind(" at line ") {
        Some(pos) => first[..pos].to_string(),
        None => first.to_string(),
    }
}
