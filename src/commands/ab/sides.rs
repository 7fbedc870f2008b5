//! The two sides of `gander ab`: their hosts, their processes (launched like
//! `sut.command`, or given by pid), their CPU meters, and whether they still
//! live. A launched side is stopped with its workers when its `Side` is
//! stopped or dropped, on every path.

use std::path::PathBuf;
use std::time::Duration;

use crate::result::ab::{AbSide, SIDE_NAMES};
use crate::scenario::plan::LaunchPlan;
use crate::sut::launch::{LaunchError, Launched};
use crate::sut::process::TreeCpu;

/// How long a launched side may take to answer its readiness URL.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A side as the command line gives it.
#[derive(Debug, Clone, Default)]
pub struct SideSpec {
    pub host: String,
    /// `--baseline-pid` / `--candidate-pid`: the side's root process.
    pub pid: Option<u32>,
    /// `--baseline-command` / `--candidate-command`: a shell command gander starts.
    pub command: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SideError {
    #[error("the {side}: {source}")]
    Launch {
        side: &'static str,
        source: LaunchError,
    },
    #[error("the {side}: no process has pid {pid} (--{side}-pid)")]
    NoPid { side: &'static str, pid: u32 },
}

/// One side while the run goes.
pub struct Side {
    pub index: usize,
    pub spec: SideSpec,
    pub launched: Option<Launched>,
    pub pid: Option<u32>,
    pub cpu: Option<TreeCpu>,
    /// How its probe, monitor and profiler reach it: the run's TLS and proxies.
    pub edge: std::sync::Arc<crate::net::Edge>,
    /// Why the side stopped answering for itself: its process ended.
    pub died: Option<String>,
}

impl Side {
    pub fn name(&self) -> &'static str {
        SIDE_NAMES[self.index]
    }

    /// Launches the side (if it has a command) and waits until `ready` answers 2xx.
    pub fn start(
        index: usize,
        spec: SideSpec,
        ready: String,
        secrets: &crate::redact::Secrets,
        edge: std::sync::Arc<crate::net::Edge>,
    ) -> Result<Side, SideError> {
        let side = SIDE_NAMES[index];
        let launched = match &spec.command {
            Some(command) => {
                let plan = LaunchPlan {
                    argv: vec!["sh".into(), "-c".into(), format!("exec {command}")],
                    cwd: PathBuf::from("."),
                    env: Vec::new(),
                    ready: Some(ready),
                    ready_timeout: READY_TIMEOUT,
                    secrets: secrets.clone(),
                };
                Some(
                    Launched::start(&plan, &edge, &crate::signals::interrupted)
                        .map_err(|source| SideError::Launch { side, source })?,
                )
            }
            None => None,
        };
        let pid = match (&launched, spec.pid) {
            (Some(l), _) => Some(l.pid()),
            (None, Some(pid)) if std::path::Path::new(&format!("/proc/{pid}")).exists() => {
                Some(pid)
            }
            (None, Some(pid)) => return Err(SideError::NoPid { side, pid }),
            (None, None) => None,
        };
        let mut cpu = pid.map(TreeCpu::new);
        if let Some(meter) = cpu.as_mut() {
            let _ = meter.read();
        }
        Ok(Side {
            index,
            spec,
            launched,
            pid,
            cpu,
            edge,
            died: None,
        })
    }

    /// The tree's CPU ns so far, if it has a process.
    pub fn cpu_ns(&mut self) -> Option<u64> {
        self.cpu.as_mut()?.read().ok()
    }

    /// Checks the side still lives; the first time it does not, says why.
    pub fn check_alive(&mut self) -> Option<String> {
        if self.died.is_some() {
            return None;
        }
        let name = self.name();
        let died = match (&mut self.launched, self.pid) {
            (Some(l), _) => l.exited().map(|status| {
                format!(
                    "the {name} (pid {}) exited during the run ({status})",
                    l.pid()
                )
            }),
            (None, Some(pid)) => (!std::path::Path::new(&format!("/proc/{pid}")).exists())
                .then(|| format!("the {name} (pid {pid}) ended during the run")),
            (None, None) => None,
        };
        self.died = died.clone();
        died
    }

    /// Stops a launched side with its workers; its output, if launched.
    pub fn stop(&mut self) -> Option<Vec<u8>> {
        let launched = self.launched.take()?;
        let (report, log) = launched.stop();
        if self.died.is_none() {
            self.died = report.exited_early;
        }
        Some(log)
    }

    /// What ab.json says of the side.
    pub fn summary(&self, secrets: &crate::redact::Secrets) -> AbSide {
        AbSide {
            name: self.name().into(),
            host: secrets.url(&self.spec.host),
            pid: self.pid,
            command: self.spec.command.as_ref().map(|c| secrets.message(c)),
            died: self.died.clone(),
            cost: None,
            cost_by_name: Vec::new(),
        }
    }
}
