//! `gander demo`: starts the demo SUT as a child process on a free loopback
//! port, runs the bundled demo scenario against it, and stops the child on
//! every path (success, failure, Ctrl-C, or gander dying).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::Exit;
use crate::cli::RunArgs;
use crate::sut::child::Guarded;
use crate::sut::launch::probe;

/// The bundled demo scenario and its data, embedded so `gander demo` works from any directory.
const DEMO_SCENARIO: &str = include_str!("../../scenarios/demo.yaml");
const DEMO_STAFF: &str = include_str!("../../scenarios/data/demo-staff.csv");

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// How long to hold the full load (default: the scenario's, about a minute).
    #[arg(long, short = 'd', value_parser = crate::scenario::units::parse_duration)]
    pub duration: Option<Duration>,
    /// Number of users (default: the scenario's 50).
    #[arg(long, short = 'u')]
    pub users: Option<u64>,
    /// Run against the "before" SUT: no indexes, N+1 queries, no cache.
    #[arg(long)]
    pub unoptimized: bool,
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
}

/// A running demo SUT; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct DemoSut {
    child: Guarded,
    pub url: String,
}

impl DemoSut {
    /// Starts `gander serve-demo` from this executable.
    pub fn start(unoptimized: bool) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the gander executable")?;
        Self::start_with(&exe, unoptimized)
    }

    /// Starts `serve-demo` from the gander executable at `exe` (tests pass the built binary).
    pub fn start_with(exe: &std::path::Path, unoptimized: bool) -> anyhow::Result<Self> {
        let mut command = Command::new(exe);
        command.arg("serve-demo").arg("--port").arg("0");
        if unoptimized {
            command.arg("--unoptimized");
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = Guarded::spawn(&mut command).context("cannot start the demo SUT")?;
        let stdout = child
            .child_mut()
            .stdout
            .take()
            .context("no stdout from the demo SUT")?;
        let mut sut = DemoSut {
            child,
            url: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("the demo SUT did not say where it listens")?;
        sut.url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_string)
            .with_context(|| format!("unexpected first line from the demo SUT: {line:?}"))?;
        sut.wait_ready(Duration::from_secs(60))?;
        Ok(sut)
    }

    /// Polls the health endpoint until it answers 200.
    fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let health = format!("{}/api/v1/health/detailed", self.url);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.exited() {
                bail!("the demo SUT exited during start-up ({status})");
            }
            if probe(&health) == Some(200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the demo SUT was not ready within {limit:?}")
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }
}

pub fn run(args: &DemoArgs) -> anyhow::Result<Exit> {
    crate::runner::signals::install();
    let workdir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let scenario = workdir.path().join("demo.yaml");
    std::fs::create_dir_all(workdir.path().join("data"))?;
    std::fs::write(&scenario, DEMO_SCENARIO)?;
    std::fs::write(workdir.path().join("data/demo-staff.csv"), DEMO_STAFF)?;

    if !args.quiet {
        eprintln!(
            "gander demo: starting the {} demo SUT...",
            if args.unoptimized {
                "unoptimized"
            } else {
                "optimized"
            }
        );
    }
    let sut = DemoSut::start(args.unoptimized)?;
    if crate::runner::signals::interrupted() {
        bail!("interrupted before the run started");
    }
    if !args.quiet {
        eprintln!("gander demo: SUT ready at {} (pid {})", sut.url, sut.pid());
    }
    let run = RunArgs {
        file: scenario,
        host: Some(sut.url.clone()),
        users: args.users,
        duration: args.duration,
        iterations: None,
        ramp_up: None,
        profile: None,
        sut_pid: Some(sut.pid()),
        target: args.target.clone(),
        baseline: args.baseline.clone(),
        baseline_last: 5,
        output: args.output.clone(),
        quiet: args.quiet,
    };
    let code = crate::commands::run::run_file(&run);
    drop(sut);
    code
}
