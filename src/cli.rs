//! The command line: clap's options, turned into the plain requests the
//! commands take (`RunRequest`, `CompareRequest`, `MergeRequest`,
//! `DemoRequest`, `ImportRequest`), and `main`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::Exit;
use crate::commands::compare::CompareRequest;
use crate::commands::demo::DemoRequest;
use crate::commands::import::{ImportRequest, ImportSource};
use crate::commands::merge::MergeRequest;
use crate::commands::run::{DEFAULT_BASELINE_LAST, RunRequest};
use crate::commands::{self};
use crate::scenario::Overrides;
use crate::scenario::segment::Segment;
use crate::scenario::start_at::parse_start_at;
use crate::scenario::units::parse_duration;

#[derive(Debug, Parser)]
#[command(
    name = "gander",
    version,
    about = "Load-test and profile a web service from a scenario file, check its targets, and write a report.",
    after_help = "Exit codes: 0 every target met · 1 a target failed (or a regression) · 2 usage, config or IO error · 3 the run is invalid (interrupted, the load generator saturated, or the load fell short of the plan)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario file against its host and write a run directory.
    Run(Box<RunArgs>),
    /// Check scenario files without sending any request.
    Check {
        /// Scenario files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the scenario format (for editors' YAML plugins),
    /// or with --run the JSON Schema of run.json (docs/run.schema.json).
    Schema {
        /// The schema of a run directory's run.json instead of the scenario format.
        #[arg(long)]
        run: bool,
        /// The schema of `gander ab`'s ab.json (docs/ab.schema.json).
        #[arg(long, conflicts_with = "run")]
        ab: bool,
    },
    /// Start the bundled demo SUT, run the demo scenario against it, and write the report.
    Demo(DemoArgs),
    /// Serve the bundled demo SUT (a salon-CRM API over SQLite) on 127.0.0.1.
    #[cfg(feature = "demo")]
    ServeDemo(gander_demo::ServeArgs),
    /// Re-render the reports of a saved run directory and print its summary.
    Report {
        /// A run directory, e.g. reports/20261120-101500-salon-crm.
        dir: PathBuf,
    },
    /// Compare a saved run with a baseline run (or a set of runs); exit 1 on a regression.
    Compare(CompareArgs),
    /// Run a baseline and a candidate in one job, alternating in blocks; a paired verdict.
    Ab(Box<crate::commands::ab::AbArgs>),
    /// Merge the run directories of N segments (`gander run --segment i/N`) into one run
    /// directory, then judge and report it once: exit code as `gander run`.
    Merge(MergeArgs),
    /// Write a first scenario file from an OpenAPI document or a HAR recording.
    Import(ImportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub what: ImportWhat,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ImportWhat {
    /// One step per operation of an OpenAPI 3.0 or 3.1 document (JSON or YAML): examples
    /// fill parameters and bodies, detail routes take ids captured from their list route,
    /// and the login the security schemes call for runs once per user (on_start).
    Openapi(ImportOpenapiArgs),
    /// The requests of a recorded browser session (a HAR file), in order, with values the
    /// service handed out (tokens, ids, cookies) captured and sent back as ${var}.
    Har(ImportHarArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ImportOpenapiArgs {
    /// The document: a file, or an http:// URL such as http://127.0.0.1:8000/openapi.json.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Also import POST, PUT, PATCH and DELETE operations (by default only GET and HEAD).
    #[arg(long)]
    pub include_writes: bool,
    /// Write the scenario here (default: standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ImportHarArgs {
    /// The HAR file (the browser's Network tab: "Save all as HAR").
    pub file: PathBuf,
    /// Keep the requests to this host too (repeatable): host, host:port or http://host:port.
    /// By default only the host the recording starts on is kept.
    #[arg(long = "include-host", value_name = "HOST")]
    pub include_host: Vec<String>,
    /// Keep static assets (scripts, style sheets, images, fonts).
    #[arg(long)]
    pub include_static: bool,
    /// The longest recorded pause taken into the think time.
    #[arg(long, value_parser = parse_duration, default_value = "5s", value_name = "DURATION")]
    pub max_think: Duration,
    /// Write the scenario here (default: standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl ImportArgs {
    pub fn request(&self) -> ImportRequest {
        match &self.what {
            ImportWhat::Openapi(a) => ImportRequest {
                source: ImportSource::OpenApi {
                    source: a.source.clone(),
                    include_writes: a.include_writes,
                },
                output: a.output.clone(),
            },
            ImportWhat::Har(a) => ImportRequest {
                source: ImportSource::Har {
                    file: a.file.clone(),
                    include_hosts: a.include_host.clone(),
                    include_static: a.include_static,
                    max_think: a.max_think,
                },
                output: a.output.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Baseline runs, then the run to judge: BASE [BASE...] NEW. A BASE that is not a run
    /// directory is searched for the newest good runs of the same test.
    #[arg(required = true, num_args = 2.., value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// How many good runs to take from a directory of runs.
    #[arg(long, default_value_t = DEFAULT_BASELINE_LAST, value_name = "N")]
    pub baseline_last: usize,
    /// Regression limit for every figure, e.g. 20%; default: NEW's targets.regression, else 20%.
    #[arg(long, value_name = "PERCENT")]
    pub max_regression: Option<String>,
    /// How much figures move between runs of identical code, assumed for every figure
    /// when one baseline run cannot show it, e.g. 10%; default: gander's per-figure values.
    #[arg(long, value_name = "PERCENT")]
    pub run_to_run: Option<String>,
    /// Write comparison.json, comparison.md and (with profiles) flamegraph-diff.svg here.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Compare with a baseline of another plan (another test name, load model or set of
    /// requests) instead of refusing it; the comparison is then INVALID, for information.
    #[arg(long)]
    pub across_plans: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The segments' run directories, or directories holding them (e.g. the shared
    /// volume every segment wrote to).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// The merged run directory to create (new or empty).
    #[arg(long, short = 'o', value_name = "OUT")]
    pub output: PathBuf,
    /// Saved runs to compare the merged run with (see `gander run --help`).
    #[arg(long, value_name = "RUN_DIR")]
    pub baseline: Vec<PathBuf>,
    /// How many good runs to take from a --baseline directory of runs.
    #[arg(long, default_value_t = DEFAULT_BASELINE_LAST, value_name = "N")]
    pub baseline_last: usize,
    /// Wait up to this long for every segment to be there and finished, e.g. 15m
    /// (a merge started beside its segments, as the Kubernetes recipe does).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub wait: Option<Duration>,
    /// Print nothing but errors and the run directory.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl MergeArgs {
    pub fn request(&self) -> MergeRequest {
        MergeRequest {
            dirs: self.dirs.clone(),
            output: self.output.clone(),
            baseline: self.baseline.clone(),
            baseline_last: self.baseline_last,
            wait: self.wait,
            quiet: self.quiet,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The scenario file (YAML).
    pub file: PathBuf,
    /// Base URL of the system under test; replaces the file's `host`.
    #[arg(long)]
    pub host: Option<String>,
    /// Number of users (closed model); replaces the file's `load.users`.
    #[arg(long, short = 'u')]
    pub users: Option<u64>,
    /// How long to hold the full load, e.g. 30s; replaces the file's duration or iterations
    /// (not for a load with stages).
    #[arg(long, short = 'd', value_parser = parse_duration, conflicts_with = "iterations")]
    pub duration: Option<Duration>,
    /// Iterations per user (closed model); replaces the file's duration or iterations.
    #[arg(long, short = 'n')]
    pub iterations: Option<u64>,
    /// Time over which users start (or the open model's rate rises), e.g. 10s.
    #[arg(long, value_parser = parse_duration)]
    pub ramp_up: Option<Duration>,
    /// Profiler to run during the steady state, replacing the file's `profile`:
    /// pprof, pprof=URL_OR_PATH, py-spy, perf or none.
    #[arg(long, value_name = "PROFILER")]
    pub profile: Option<crate::scenario::ProfileChoice>,
    /// The SUT's process id: sampled for CPU and memory, and profiled by py-spy or perf.
    #[arg(long, value_name = "PID")]
    pub sut_pid: Option<u32>,
    /// A target laid over the file's, as KEY=VALUE in the terms of `targets:`, e.g.
    /// p95=200ms, error_rate=1%, "endpoints.list bookings.p95=150ms", sut.memory=512MiB,
    /// regression=20%, no_data=warn. Repeatable.
    #[arg(long = "target", short = 't', value_name = "KEY=VALUE")]
    pub target: Vec<String>,
    /// Saved runs to compare with (repeatable): regressions are judged against them
    /// (targets.regression), and a differential flame graph is drawn when both have a
    /// profile. A directory of runs stands for its newest good runs of this test.
    #[arg(long, value_name = "RUN_DIR")]
    pub baseline: Vec<PathBuf>,
    /// How many good runs to take from a --baseline directory of runs.
    #[arg(long, default_value_t = DEFAULT_BASELINE_LAST, value_name = "N")]
    pub baseline_last: usize,
    /// Compare with a --baseline of another plan instead of refusing it (exit 2); the
    /// comparison, and the run judged with it, are then INVALID.
    #[arg(long)]
    pub across_plans: bool,
    /// Where run directories are written.
    #[arg(long, short = 'o', default_value = "reports")]
    pub output: PathBuf,
    /// Print nothing but errors and the run directory.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// The HTTP version users speak, replacing the file's `http`: 1.1, 2 (HTTP/2 by TLS
    /// ALPN) or h2c (HTTP/2 over plain TCP).
    #[arg(long, value_name = "VERSION")]
    pub http: Option<crate::scenario::units::HttpVersion>,
    /// Do not verify servers' TLS certificates (tls.insecure; the report warns).
    #[arg(long)]
    pub insecure: bool,
    /// A PEM file of CA certificates to trust besides the system's (tls.ca).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// A PEM client certificate for mutual TLS (tls.client_cert); needs --client-key.
    #[arg(long, value_name = "FILE")]
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of --client-cert (tls.client_key).
    #[arg(long, value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// Run the I-th of N shares of the plan (I from 0), as one of N load generators:
    /// users, iterations and unique data rows split exactly; only segment 0 watches
    /// the SUT. Merge the N run directories with `gander merge`. With N above 1 it needs
    /// --start-at, and takes no --baseline (the merge does).
    #[arg(long, value_name = "I/N")]
    pub segment: Option<Segment>,
    /// Start the load at this instant: RFC 3339 (2026-05-01T12:00:00Z) or +30s from
    /// now. Segments of one run take the same time, computed once.
    #[arg(long, value_parser = parse_start_at, value_name = "TIME")]
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// After the load, drive each request name alone (the file's `cost:` settings,
    /// else 5s each with 2 users) and measure the SUT's CPU per request of each.
    #[arg(long)]
    pub cost: bool,
    #[command(flatten)]
    pub watch: WatchArgs,
}

/// `--live` and `--out`, for `gander run` and `gander demo`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Serve a live page of the run (the report's figures so far, updated every second)
    /// on 127.0.0.1 at a free port printed at the start, or at --live=ADDR:PORT. At the
    /// end it links to the report. See docs/live-and-out.md.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true,
          default_missing_value = "127.0.0.1:0")]
    pub live: Option<std::net::SocketAddr>,
    /// How long the live page keeps serving the report after the run, e.g. 5m
    /// (default: on a terminal until Ctrl-C, otherwise not at all).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", requires = "live")]
    pub live_linger: Option<Duration>,
    /// Send the run's series while it goes: prometheus=URL (Prometheus remote write 1.0,
    /// e.g. http://127.0.0.1:9090/api/v1/write). Repeatable. A slow or down receiver
    /// never slows the users; what it misses is counted in run.json.
    #[arg(long = "out", value_name = "KIND=URL")]
    pub out: Vec<crate::out::OutTarget>,
}

impl WatchArgs {
    pub fn watch(&self) -> crate::commands::run::Watch {
        crate::commands::run::Watch {
            live: self.live,
            live_linger: self.live_linger,
            out: self.out.clone(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How long to hold the full load (default: the scenario's, about a minute).
    #[arg(long, short = 'd', value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Number of users (default: the scenario's 50).
    #[arg(long, short = 'u')]
    pub users: Option<u64>,
    /// Run against the "before" SUT: no indexes, N+1 queries, no cache.
    #[arg(long)]
    pub unoptimized: bool,
    /// Run the Telegram homework bot (seed 002, scenarios/homework-bot.yaml): the demo's
    /// bot answers through the Bot API gander serves, and every reply is timed.
    #[arg(long)]
    pub bot: bool,
    /// Saved runs to judge regressions against (see `gander run --help`).
    #[arg(long, value_name = "RUN_DIR")]
    pub baseline: Vec<PathBuf>,
    /// A target laid over the demo scenario's, e.g. p95=150ms (repeatable).
    #[arg(long = "target", short = 't', value_name = "KEY=VALUE")]
    pub target: Vec<String>,
    /// Where run directories are written.
    #[arg(long, short = 'o', default_value = "reports")]
    pub output: PathBuf,
    /// Print nothing but errors and the run directory.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub watch: WatchArgs,
}

impl RunArgs {
    pub fn request(&self) -> RunRequest {
        RunRequest {
            file: self.file.clone(),
            overrides: Overrides {
                host: self.host.clone(),
                users: self.users,
                duration: self.duration,
                iterations: self.iterations,
                ramp_up: self.ramp_up,
                profile: self.profile.clone(),
                sut_pid: self.sut_pid,
                targets: self.target.clone(),
                http: self.http,
                tls: crate::scenario::TlsFlags {
                    insecure: self.insecure,
                    ca: self.ca.clone(),
                    client_cert: self.client_cert.clone(),
                    client_key: self.client_key.clone(),
                },
                segment: self.segment,
                cost: self.cost,
            },
            start_at: self.start_at,
            baseline: self.baseline.clone(),
            baseline_last: self.baseline_last,
            across_plans: self.across_plans,
            output: self.output.clone(),
            quiet: self.quiet,
            watch: self.watch.watch(),
        }
    }
}

impl CompareArgs {
    pub fn request(&self) -> CompareRequest {
        CompareRequest {
            runs: self.runs.clone(),
            baseline_last: self.baseline_last,
            max_regression: self.max_regression.clone(),
            run_to_run: self.run_to_run.clone(),
            output: self.output.clone(),
            across_plans: self.across_plans,
        }
    }
}

impl DemoArgs {
    pub fn request(&self) -> DemoRequest {
        DemoRequest {
            duration: self.duration,
            users: self.users,
            unoptimized: self.unoptimized,
            baseline: self.baseline.clone(),
            targets: self.target.clone(),
            output: self.output.clone(),
            quiet: self.quiet,
            bot: self.bot,
            watch: self.watch.watch(),
        }
    }
}

/// Parses `args` (including the program name) and runs the command. Errors
/// are printed to stderr; the return value is the process exit code.
pub fn main<I, T>(args: I) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // Users hold connections, each an open file: take all the process may.
    crate::rlimit::raise_nofile();
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
        Command::Run(args) => commands::run::run(&args.request()),
        Command::Compare(args) => commands::compare::compare_runs(&args.request()),
        Command::Ab(args) => commands::ab::ab(&args.request()?),
        Command::Merge(args) => commands::merge::merge_runs(&args.request()),
        Command::Import(args) => Ok(commands::import::run(&args.request())),
        Command::Check { files } => Ok(commands::check(&files)),
        Command::Schema { ab: true, .. } => commands::ab::print_schema(),
        Command::Schema { run, .. } => commands::print_schema(run),
        Command::Report { dir } => commands::rerender(&dir),
        Command::Demo(args) => commands::demo::run(&args.request()),
        #[cfg(feature = "demo")]
        Command::ServeDemo(args) => {
            gander_demo::serve(&args)?;
            Ok(Exit::Pass)
        }
    }
}
