//! Exporters: each turns a `RunResult` into one output format. They read only
//! the result, never goose or the plan, so `gander report` can re-render a
//! saved run.

pub mod ab;
pub mod console;
mod cost_text;
mod csv_files;
pub mod html;
mod json;
pub mod junit;
mod load_text;
pub mod markdown;
mod reach_text;

use std::io::Write;

pub use console::ConsoleSummary;
pub use csv_files::{EndpointsCsv, ResourcesCsv, TimeseriesCsv};
pub use html::HtmlReport;
pub use json::JsonExporter;
pub use junit::JunitExporter;
pub use markdown::MarkdownSummary;

use crate::result::RunResult;
use crate::store;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot write CSV {what}: {source}")]
    Csv { what: String, source: csv::Error },
    #[error("cannot encode {what}: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    #[error("cannot render {what}: {detail}")]
    Template { what: String, detail: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// One output format.
pub trait Exporter {
    /// File name inside the run directory.
    fn file_name(&self) -> &'static str;
    fn export(&self, result: &RunResult, out: &mut dyn Write) -> Result<(), ReportError>;
}

/// The formats written into the run directory `dir`.
pub fn run_directory_exporters(dir: &std::path::Path) -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(JsonExporter),
        Box::new(EndpointsCsv),
        Box::new(TimeseriesCsv),
        Box::new(ResourcesCsv),
        Box::new(ConsoleSummary),
        Box::new(JunitExporter),
        Box::new(MarkdownSummary),
        Box::new(HtmlReport {
            dir: dir.to_path_buf(),
        }),
    ]
}

pub(crate) fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        what: what.to_string(),
        source,
    }
}

/// Renders every exporter into `dir`.
/// Writes only `run.json` (the checkpoints of a run that is going).
pub fn write_run_json(dir: &std::path::Path, result: &RunResult) -> Result<(), ReportError> {
    let mut bytes = Vec::new();
    json::JsonExporter.export(result, &mut bytes)?;
    store::write_file(dir, json::JsonExporter.file_name(), &bytes)?;
    Ok(())
}

pub fn write_reports(dir: &std::path::Path, result: &RunResult) -> Result<(), ReportError> {
    match write_reports_keep_going(dir, result).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Renders every exporter into `dir`, `run.json` first; one that cannot be
/// written (a full disk) does not stop the others. The failures, in order.
pub fn write_reports_keep_going(dir: &std::path::Path, result: &RunResult) -> Vec<ReportError> {
    let mut failed = Vec::new();
    for exporter in run_directory_exporters(dir) {
        let mut bytes = Vec::new();
        let written = exporter
            .export(result, &mut bytes)
            .and_then(|()| Ok(store::write_file(dir, exporter.file_name(), &bytes)?));
        if let Err(e) = written {
            failed.push(e);
        }
    }
    failed
}
