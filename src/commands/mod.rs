//! The subcommands: each takes a plain request, drives the pipeline's boxes in
//! order and returns the exit code.

pub mod ab;
pub mod compare;
pub mod demo;
pub mod import;
pub mod merge;
mod progress;
pub mod run;

use std::path::{Path, PathBuf};

use crate::scenario::{self, Overrides, ScenarioError};
use crate::{Exit, report, store, verdict};

fn print_scenario_error(e: &ScenarioError) {
    eprint!("{e}");
    if matches!(e, ScenarioError::Read { .. }) {
        eprintln!();
    }
}

/// `gander check`: loads and checks each file without sending a request.
pub fn check(files: &[PathBuf]) -> Exit {
    let mut code = Exit::Pass;
    for file in files {
        match scenario::load(file, &Overrides::default()) {
            Ok(plan) => println!(
                "{}: ok ({} scenarios, {} request names, {})",
                file.display(),
                plan.scenarios.len(),
                plan.endpoints.len(),
                match plan.load.model {
                    scenario::plan::LoadModel::Closed => format!("{} users", plan.load.users),
                    scenario::plan::LoadModel::Open =>
                        format!("open model, up to {} users", plan.load.users),
                }
            ),
            Err(e) => {
                print_scenario_error(&e);
                code = Exit::Usage;
            }
        }
    }
    code
}

/// `gander schema`: the JSON Schema of the scenario format, or of `run.json`.
pub fn print_schema(run: bool) -> anyhow::Result<Exit> {
    let schema = if run {
        crate::result::json_schema()
    } else {
        scenario::json_schema()
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(Exit::Pass)
}

/// Reads a saved run; one saved as it went whose gander is gone is marked
/// killed (outright: SIGKILL, a crash, the machine).
pub fn read_saved(dir: &Path) -> Result<crate::result::RunResult, store::StoreError> {
    let mut result = store::read(dir)?;
    if result.outcome.status == crate::result::RunStatus::Running && !store::is_being_written(dir) {
        result.outcome = crate::result::Outcome {
            status: crate::result::RunStatus::Killed,
            reason: Some(format!(
                "gander ended without finishing the run (SIGKILL, a crash or the machine going down); \
                 the figures are the last ones it saved, {}",
                result.outcome.reason.as_deref().unwrap_or("before its end")
            )),
        };
        store::remove_stale_lock(dir);
    }
    Ok(result)
}

/// `gander report DIR`: judges a saved run again and renders its files.
pub fn rerender(dir: &Path) -> anyhow::Result<Exit> {
    let mut result = read_saved(dir)?;
    result.verdict = verdict::judge(&result);
    report::write_reports(dir, &result)?;
    print!("{}", report::console::render(&result));
    Ok(Exit::from_verdict(result.verdict.status))
}
