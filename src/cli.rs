//! Command-line options. They live in the library so tests can build them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::scenario::units::parse_duration;

#[derive(Debug, Parser)]
#[command(
    name = "gander",
    version,
    about = "Load-test and profile a web service from a scenario file, check its targets, and write a report.",
    after_help = "Exit codes: 0 every target met · 1 a target failed · 2 usage, config or IO error · 3 the run is invalid (interrupted, or the load fell short)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario file against its host and write a run directory.
    Run(RunArgs),
    /// Check scenario files without sending any request.
    Check {
        /// Scenario files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the scenario format (for editors' YAML plugins).
    Schema,
    /// Start the bundled demo SUT, run the demo scenario against it, and write the report.
    Demo(crate::demo::launch::DemoArgs),
    /// Serve the bundled demo SUT (a salon-CRM API over SQLite) on 127.0.0.1.
    ServeDemo(crate::demo::ServeArgs),
    /// Re-render the reports of a saved run directory and print its summary.
    Report {
        /// A run directory, e.g. reports/20261120-101500-salon-crm.
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The scenario file (YAML).
    pub file: PathBuf,
    /// Base URL of the system under test; replaces the file's `host`.
    #[arg(long)]
    pub host: Option<String>,
    /// Number of users; replaces the file's `load.users`.
    #[arg(long, short = 'u')]
    pub users: Option<u64>,
    /// How long to hold the full load, e.g. 30s; replaces the file's duration or iterations.
    #[arg(long, short = 'd', value_parser = parse_duration, conflicts_with = "iterations")]
    pub duration: Option<std::time::Duration>,
    /// Iterations per user; replaces the file's duration or iterations.
    #[arg(long, short = 'n')]
    pub iterations: Option<u64>,
    /// Time over which users start, e.g. 10s.
    #[arg(long, value_parser = parse_duration)]
    pub ramp_up: Option<std::time::Duration>,
    /// Profiler to run during the steady state, replacing the file's `profile`:
    /// pprof, pprof=URL_OR_PATH, py-spy, perf or none.
    #[arg(long, value_name = "PROFILER")]
    pub profile: Option<crate::scenario::ProfileChoice>,
    /// The SUT's process id: sampled for CPU and memory, and profiled by py-spy or perf.
    #[arg(long, value_name = "PID")]
    pub sut_pid: Option<u32>,
    /// A saved run to compare with: a differential flame graph, per request, when both
    /// runs have a profile.
    #[arg(long, value_name = "RUN_DIR")]
    pub baseline: Option<PathBuf>,
    /// Where run directories are written.
    #[arg(long, short = 'o', default_value = "reports")]
    pub output: PathBuf,
    /// Print nothing but errors and the run directory.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}
