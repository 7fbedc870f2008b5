//! `gander ab`'s command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{AbRequest, SideSpec};
use crate::scenario::Overrides;
use crate::scenario::units::parse_duration;

/// Judge a candidate against a baseline in one run: the same users alternate
/// between both in blocks (ABBA BAAB …); neighbouring blocks are paired, so
/// drift and noisy neighbours cancel. Exit 0 no regression · 1 regression ·
/// 2 usage · 3 invalid (a side died, too few pairs). See docs/ab.md.
#[derive(Debug, Clone, Args)]
pub struct AbArgs {
    /// The scenario file (its host is replaced by each side's).
    pub file: PathBuf,
    /// The baseline's URL, e.g. http://127.0.0.1:8081.
    #[arg(long, value_name = "URL")]
    pub baseline_host: String,
    /// The candidate's URL, e.g. http://127.0.0.1:8082.
    #[arg(long, value_name = "URL")]
    pub candidate_host: String,
    /// The baseline's root process: its tree's CPU per request is measured.
    #[arg(long, value_name = "PID", conflicts_with = "baseline_command")]
    pub baseline_pid: Option<u32>,
    /// The candidate's root process.
    #[arg(long, value_name = "PID", conflicts_with = "candidate_command")]
    pub candidate_pid: Option<u32>,
    /// A shell command that starts the baseline (stopped with its workers after the run).
    #[arg(long, value_name = "COMMAND")]
    pub baseline_command: Option<String>,
    /// A shell command that starts the candidate.
    #[arg(long, value_name = "COMMAND")]
    pub candidate_command: Option<String>,
    /// The path, below each host, that answers 2xx once a launched side is ready.
    #[arg(long, default_value = "/", value_name = "PATH")]
    pub ready: String,
    /// The length of one block (default 2s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub block: Option<Duration>,
    /// Both sides' warm-up before the first block (default: the ramp-up and two blocks).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub warm_up: Option<Duration>,
    /// A regression limit for every figure, e.g. 20% (default: the file's
    /// targets.regression, else 20%).
    #[arg(long, value_name = "PERCENT")]
    pub max_regression: Option<String>,
    /// Profile both sides (pprof, py-spy, perf, none; default: the file's
    /// `profile`): each side's flame graph, and the candidate's differential
    /// flame graph against the baseline's.
    #[arg(long, value_name = "PROFILER")]
    pub profile: Option<crate::scenario::ProfileChoice>,
    /// Users (the file's `load.users`).
    #[arg(long, short = 'u')]
    pub users: Option<u64>,
    /// The load after its ramp-up (the file's `load.duration`); the warm-up
    /// and the blocks share the ramp-up and this.
    #[arg(long, short = 'd', value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// The file's `load.ramp_up`.
    #[arg(long, value_parser = parse_duration)]
    pub ramp_up: Option<Duration>,
    /// Override a target, e.g. -t p95=200ms.
    #[arg(long = "target", short = 't', value_name = "KEY=VALUE")]
    pub target: Vec<String>,
    /// The HTTP version users speak: 1.1, 2 (by TLS ALPN) or h2c (the file's `http`)
    #[arg(long, value_name = "VERSION")]
    pub http: Option<crate::scenario::units::HttpVersion>,
    /// Do not verify TLS certificates (the file's `tls.insecure`): a throwaway test only
    #[arg(long)]
    pub insecure: bool,
    /// Where the run directory goes (it holds baseline/, candidate/, ab.json, ab.html)
    #[arg(long, short = 'o', default_value = "reports")]
    pub output: PathBuf,
    /// Print only errors and the verdict
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl AbArgs {
    /// The request; `Err` is a flag that does not parse.
    pub fn request(&self) -> anyhow::Result<AbRequest> {
        let max_regression =
            super::super::compare::percent("--max-regression", self.max_regression.as_deref())?;
        let ready = if self.ready.starts_with('/') {
            self.ready.clone()
        } else {
            format!("/{}", self.ready)
        };
        Ok(AbRequest {
            file: self.file.clone(),
            overrides: Overrides {
                users: self.users,
                duration: self.duration,
                ramp_up: self.ramp_up,
                profile: self.profile.clone(),
                targets: self.target.clone(),
                http: self.http,
                tls: crate::scenario::TlsFlags {
                    insecure: self.insecure,
                    ..Default::default()
                },
                ..Default::default()
            },
            baseline: SideSpec {
                host: self.baseline_host.clone(),
                pid: self.baseline_pid,
                command: self.baseline_command.clone(),
            },
            candidate: SideSpec {
                host: self.candidate_host.clone(),
                pid: self.candidate_pid,
                command: self.candidate_command.clone(),
            },
            block: self.block,
            warm_up: self.warm_up,
            ready,
            max_regression,
            output: self.output.clone(),
            quiet: self.quiet,
        })
    }
}
