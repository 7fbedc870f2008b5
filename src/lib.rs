//! gander: load-testing and profiling harness for web services, on goose.
//!
//! The run is a pipeline, each box a module, data moving forward only:
//! `scenario` (file → `RunPlan`) → `runner` (goose users → `record`) →
//! `RunResult` → `verdict` → `report` (exporters, run directory) → exit code.

pub mod cli;
mod commands;
pub mod compare;
pub mod demo;
mod exit;
pub mod format;
pub mod profile;
pub mod record;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod sut;
pub mod verdict;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Parser;

use cli::{Cli, Command};
pub use exit::Exit;
use scenario::{Overrides, ScenarioError};

/// Parses `args` (including the program name) and runs the command. Errors
/// are printed to stderr; the return value is the process exit code.
pub fn run<I, T>(args: I) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Pass
                }
                _ => Exit::Usage,
            };
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gander: error: {e:#}");
            Exit::Usage
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Run(args) => commands::run::run_file(&args),
        Command::Compare(args) => commands::compare::compare_runs(&args),
        Command::Check { files } => Ok(check(&files)),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&scenario::json_schema())?
            );
            Ok(Exit::Pass)
        }
        Command::Report { dir } => rerender(&dir),
        Command::Demo(args) => demo::launch::run(&args),
        Command::ServeDemo(args) => {
            demo::serve(&args)?;
            Ok(Exit::Pass)
        }
    }
}

fn print_scenario_error(e: &ScenarioError) {
    eprint!("{e}");
    if matches!(e, ScenarioError::Read { .. }) {
        eprintln!();
    }
}

fn check(files: &[PathBuf]) -> Exit {
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

fn rerender(dir: &Path) -> anyhow::Result<Exit> {
    let mut result = report::rundir::read(dir)?;
    result.verdict = verdict::judge(&result);
    report::rundir::write_reports(dir, &result)?;
    print!("{}", report::console::render(&result));
    Ok(Exit::from_verdict(result.verdict.status))
}
