//! `gander import openapi|har`: write a first scenario file from what a
//! service describes (its OpenAPI document) or from a recorded browser
//! session (a HAR file), check it as `gander check` would, and say what to
//! review.

use std::path::PathBuf;
use std::time::Duration;

use crate::Exit;
use crate::import::{self, Generated, HarOptions, ImportError, OpenApiOptions};

/// What to import.
#[derive(Debug, Clone)]
pub enum ImportSource {
    /// An OpenAPI 3.0/3.1 document: a file or an `http://` URL.
    OpenApi {
        source: String,
        include_writes: bool,
    },
    /// A HAR recording.
    Har {
        file: PathBuf,
        include_hosts: Vec<String>,
        include_static: bool,
        max_think: Duration,
    },
}

/// `gander import`, as the CLI asks for it.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub source: ImportSource,
    /// Where to write the scenario; standard output when absent.
    pub output: Option<PathBuf>,
}

/// Imports, checks the result, writes it, and prints a summary to stderr.
/// Any problem with the input is reported with its place and exits 2.
pub fn run(request: &ImportRequest) -> Exit {
    match generate(request) {
        Ok(()) => Exit::Pass,
        Err(e) => {
            eprintln!("{e}");
            Exit::Usage
        }
    }
}

fn generate(request: &ImportRequest) -> Result<(), ImportError> {
    let generated: Generated = match &request.source {
        ImportSource::OpenApi {
            source,
            include_writes,
        } => import::openapi(
            source,
            &OpenApiOptions {
                include_writes: *include_writes,
            },
        )?,
        ImportSource::Har {
            file,
            include_hosts,
            include_static,
            max_think,
        } => import::har(
            file,
            &HarOptions {
                include_hosts: include_hosts.clone(),
                include_static: *include_static,
                max_think: *max_think,
            },
        )?,
    };
    let checked = import::self_check(&generated.yaml)?;
    let written = match &request.output {
        Some(path) => {
            std::fs::write(path, &generated.yaml).map_err(|source| ImportError::Write {
                path: path.clone(),
                source,
            })?;
            path.display().to_string()
        }
        None => {
            print!("{}", generated.yaml);
            "the scenario to standard output".to_string()
        }
    };
    eprintln!(
        "gander import: wrote {written} ({} request names; it passes gander check)",
        checked.request_names
    );
    for line in &generated.summary {
        eprintln!("  {line}");
    }
    for line in &generated.todo {
        eprintln!("  before running: {line}");
    }
    if let Some(path) = &request.output {
        eprintln!("  next: review it, then gander run {}", path.display());
    }
    Ok(())
}
