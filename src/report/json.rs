//! `run.json`: the whole result, machine-readable and versioned.

use std::io::Write;

use super::{Exporter, ReportError};
use crate::result::RunResult;

pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn file_name(&self) -> &'static str {
        "run.json"
    }

    fn export(&self, result: &RunResult, out: &mut dyn Write) -> Result<(), ReportError> {
        serde_json::to_writer_pretty(&mut *out, result).map_err(|source| ReportError::Json {
            what: "run.json".into(),
            source,
        })?;
        writeln!(out).map_err(super::io_error("run.json"))
    }
}
