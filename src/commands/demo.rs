//! `gander demo`: starts the demo SUT as a child process on a free loopback
//! port, runs the bundled demo scenario against it, and stops the child on
//! every path (success, failure, Ctrl-C, or gander dying).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::run::RunRequest;
use crate::scenario::Overrides;
use crate::sut::child::Guarded;
use crate::sut::launch::probe;
use crate::{Exit, signals};

/// The bundled demo scenario and its data, embedded so `gander demo` works from any directory.
const DEMO_SCENARIO: &str = include_str!("../../scenarios/demo.yaml");
const HOMEWORK_SCENARIO: &str = include_str!("../../scenarios/homework-bot.yaml");
/// Where `homework-bot.yaml` has gander answer the Bot API; `--bot` moves it to a free port.
const HOMEWORK_BOT_API: &str = "127.0.0.1:8081";
const DEMO_STAFF: &str = include_str!("../../scenarios/data/demo-staff.csv");

/// `gander demo`, as the CLI asks for it.
#[derive(Debug, Clone, Default)]
pub struct DemoRequest {
    pub duration: Option<Duration>,
    pub users: Option<u64>,
    /// Against the "before" SUT: no indexes, N+1 queries, no cache.
    pub unoptimized: bool,
    pub baseline: Vec<PathBuf>,
    pub targets: Vec<String>,
    pub output: PathBuf,
    pub quiet: bool,
    /// Run the homework bot (seed 002) in bot mode instead of the salon demo.
    pub bot: bool,
    /// `--live` and `--out`.
    pub watch: super::run::Watch,
}

/// The program that serves the demo SUT.
#[derive(Debug, Clone)]
pub enum DemoProgram {
    /// The `gander-demo` binary.
    Standalone(PathBuf),
    /// A gander built with the `demo` feature, as `gander serve-demo`.
    Embedded(PathBuf),
}

impl DemoProgram {
    /// `gander-demo` beside this executable, else this gander's own
    /// `serve-demo` (with the `demo` feature, as `cargo install` builds it).
    pub fn find() -> anyhow::Result<DemoProgram> {
        let exe = std::env::current_exe().context("cannot find the gander executable")?;
        let standalone = exe.with_file_name("gander-demo");
        if standalone.is_file() {
            return Ok(DemoProgram::Standalone(standalone));
        }
        if cfg!(feature = "demo") {
            return Ok(DemoProgram::Embedded(exe));
        }
        bail!(
            "no demo SUT: {} does not exist and this gander was built without the `demo` \
             feature; build it with `cargo build -p gander-demo` or install gander with its \
             default features",
            standalone.display()
        )
    }

    fn command(&self) -> Command {
        match self {
            DemoProgram::Standalone(path) => Command::new(path),
            DemoProgram::Embedded(path) => {
                let mut command = Command::new(path);
                command.arg("serve-demo");
                command
            }
        }
    }
}

/// A running demo SUT; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct DemoSut {
    child: Guarded,
    pub url: String,
}

impl DemoSut {
    /// Starts the demo SUT on a free port and waits until it is healthy.
    pub fn start(program: &DemoProgram, unoptimized: bool) -> anyhow::Result<Self> {
        Self::start_with(program, unoptimized, &[])
    }

    /// Starts the demo with more arguments (e.g. `--bot-api URL`).
    pub fn start_with(
        program: &DemoProgram,
        unoptimized: bool,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let mut command = program.command();
        command.arg("--port").arg("0").args(extra);
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

pub fn run(args: &DemoRequest) -> anyhow::Result<Exit> {
    signals::install();
    let workdir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let scenario = workdir.path().join("demo.yaml");
    std::fs::create_dir_all(workdir.path().join("data"))?;
    // --bot: the homework bot answers through a Bot API gander serves on a free port.
    let bot_api = match args.bot {
        true => Some(free_local_port()?),
        false => None,
    };
    let text = match &bot_api {
        Some(addr) => HOMEWORK_SCENARIO.replace(HOMEWORK_BOT_API, addr),
        None => DEMO_SCENARIO.to_string(),
    };
    std::fs::write(&scenario, text)?;
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
    let extra: Vec<String> = match &bot_api {
        Some(addr) => vec!["--bot-api".into(), format!("http://{addr}")],
        None => Vec::new(),
    };
    let sut = DemoSut::start_with(&DemoProgram::find()?, args.unoptimized, &extra)?;
    if signals::interrupted() {
        bail!("interrupted before the run started");
    }
    if !args.quiet {
        eprintln!("gander demo: SUT ready at {} (pid {})", sut.url, sut.pid());
    }
    let run = RunRequest {
        overrides: Overrides {
            host: Some(sut.url.clone()),
            users: args.users,
            duration: args.duration,
            sut_pid: Some(sut.pid()),
            targets: args.targets.clone(),
            ..Overrides::default()
        },
        baseline: args.baseline.clone(),
        output: args.output.clone(),
        quiet: args.quiet,
        watch: args.watch.clone(),
        ..RunRequest::new(scenario)
    };
    let code = super::run::run(&run);
    drop(sut);
    code
}

/// `127.0.0.1:PORT` with a port nothing listens on now.
fn free_local_port() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free port")?;
    Ok(listener.local_addr()?.to_string())
}
