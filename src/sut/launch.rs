//! A SUT that gander starts itself (`sut: { command: [...] }`): started before
//! the load, waited for until `ready` answers, stopped (with every worker it
//! forked) after the run on every path. Its output goes to `sut.log`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::child::Guarded;
use crate::net::fetch::probe_with;
use crate::net::{Edge, Origin};
use crate::result::resources::LaunchReport;
use crate::scenario::plan::LaunchPlan;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot start the SUT ({program}): {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cannot start the SUT: its working directory {} is not a directory (sut.cwd is relative to the scenario file's folder)", dir.display())]
    Cwd { dir: std::path::PathBuf },
    #[error("cannot create the SUT's log file: {0}")]
    Log(std::io::Error),
    #[error("the SUT exited during start-up ({status}); its last output:\n{log}")]
    Exited { status: String, log: String },
    #[error(
        "the SUT was not ready within {seconds}s ({url} never answered 2xx); its last output:\n{log}"
    )]
    NotReady {
        url: String,
        seconds: u64,
        log: String,
    },
    #[error("interrupted while waiting for the SUT to start")]
    Interrupted,
    #[error(
        "{url} already answers before the SUT was started: another process holds its port \
         (an earlier SUT still running?); stop it, or give the SUT another port"
    )]
    PortTaken { url: String },
}

pub const LOG_FILE: &str = "sut.log";
/// How many of its last lines of output a SUT that exited early leaves in the run's outputs.
const EXIT_LINES: usize = 10;

pub struct Launched {
    child: Guarded,
    log: std::fs::File,
    command: Vec<String>,
    ready_after: Duration,
    secrets: crate::redact::Secrets,
}

impl Launched {
    pub fn start(
        plan: &LaunchPlan,
        edge: &Edge,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<Launched, LaunchError> {
        let log = tempfile::tempfile().map_err(LaunchError::Log)?;
        let mut command = Command::new(&plan.argv[0]);
        command
            .args(&plan.argv[1..])
            .current_dir(&plan.cwd)
            .envs(plan.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(LaunchError::Log)?)
            .stderr(log.try_clone().map_err(LaunchError::Log)?);
        if !plan.cwd.is_dir() {
            return Err(LaunchError::Cwd {
                dir: plan.cwd.clone(),
            });
        }
        // Whoever answers now is not the SUT about to start: its readiness
        // check would pass and the run would measure someone else.
        if let Some(url) = &plan.ready
            && listening(edge, url)
        {
            return Err(LaunchError::PortTaken {
                url: plan.secrets.url(url),
            });
        }
        let child = Guarded::spawn(&mut command).map_err(|source| LaunchError::Spawn {
            program: plan.secrets.message(&plan.argv[0]),
            source,
        })?;
        let started = Instant::now();
        let mut launched = Launched {
            child,
            log,
            command: plan.argv.iter().map(|a| plan.secrets.message(a)).collect(),
            ready_after: Duration::ZERO,
            secrets: plan.secrets.clone(),
        };
        let deadline = started + plan.ready_timeout;
        loop {
            if let Some(status) = launched.child.exited() {
                return Err(LaunchError::Exited {
                    status: status.to_string(),
                    log: launched.log_tail(),
                });
            }
            if interrupted() {
                return Err(LaunchError::Interrupted);
            }
            let ready = match &plan.ready {
                Some(url) => probe_with(edge, url).is_some_and(|s| (200..300).contains(&s)),
                // Without a ready URL, a process that stays up for a moment is ready.
                None => started.elapsed() >= Duration::from_millis(500),
            };
            if ready {
                launched.ready_after = started.elapsed();
                return Ok(launched);
            }
            if Instant::now() >= deadline {
                return Err(LaunchError::NotReady {
                    url: plan.secrets.url(plan.ready.as_deref().unwrap_or_default()),
                    seconds: plan.ready_timeout.as_secs(),
                    log: launched.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// How the SUT ended, if it has exited (without stopping it).
    pub fn exited(&mut self) -> Option<String> {
        self.child.exited().map(|s| s.to_string())
    }

    fn log_tail(&mut self) -> String {
        let tail = super::child::last_lines(&mut self.log, 15).join("\n");
        self.secrets.message(&tail)
    }

    /// Stops the SUT and its workers; the report and the SUT's output.
    pub fn stop(mut self) -> (LaunchReport, Vec<u8>) {
        let exited_early = self
            .child
            .exited()
            .map(|s| format!("the SUT exited during the run ({s}) before gander stopped it"));
        let last_output = match exited_early {
            Some(_) => super::child::last_lines(&mut self.log, EXIT_LINES)
                .iter()
                .map(|l| self.secrets.message(l))
                .collect(),
            None => Vec::new(),
        };
        self.child.stop(Duration::from_secs(5));
        let log = self.secrets.bytes(&super::child::read_back(&mut self.log));
        (
            LaunchReport {
                command: self.command.clone(),
                pid: self.child.pid(),
                ready_after_s: self.ready_after.as_secs_f64(),
                exited_early,
                last_output,
                log_file: LOG_FILE.to_string(),
            },
            log,
        )
    }
}

/// Whether something accepts connections at `url`'s origin (through the
/// run's edge: a proxy in the way is asked for it).
fn listening(edge: &Edge, url: &str) -> bool {
    let Some(origin) = url::Url::parse(url).ok().as_ref().and_then(Origin::of) else {
        return false;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return false;
    };
    runtime.block_on(async {
        let plain = Origin {
            tls: false,
            ..origin
        };
        tokio::time::timeout(
            Duration::from_secs(2),
            edge.connect(&plain, crate::net::Speak::WebSocket),
        )
        .await
        .is_ok_and(|c| c.is_ok())
    })
}

/// The status of a GET on `url` (http or https, the default TLS and the
/// environment's proxies), if an answer came within 2 s.
pub use crate::net::fetch::probe;
