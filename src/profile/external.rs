//! Profilers gander runs as child processes: py-spy, perf, and a user's
//! command. Arguments are passed as argv, never through a shell.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::folded::Folded;
use crate::bounded;
use crate::scenario::plan::{ProfileFormat, ProfileSource};
use crate::sut::child::Guarded;

/// Why an external profiler gave no profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfilerError {
    #[error("the profiler command is empty")]
    EmptyCommand,
    #[error("cannot create a temporary file: {0}")]
    TempFile(std::io::Error),
    #[error("{0}")]
    Stderr(std::io::Error),
    #[error("{program} is not installed (not found on PATH){hint}")]
    NotInstalled { program: String, hint: &'static str },
    #[error("cannot start {program}: {error}")]
    Start {
        program: String,
        error: std::io::Error,
    },
    #[error("{program} did not finish in time and was stopped")]
    Timeout { program: String },
    #[error("{program} failed ({status}){stderr}")]
    Failed {
        program: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{program} wrote a profile {error}")]
    TooLarge {
        program: String,
        error: bounded::ReadError,
    },
    #[error("{program} wrote no profile to {out} ({error}){stderr}")]
    NoProfile {
        program: String,
        out: String,
        error: bounded::ReadError,
        stderr: String,
    },
    #[error("{0}")]
    Decode(String),
    #[error("the profiler wrote binary data, not folded stacks")]
    Binary,
    #[error("cannot run perf script: {0}")]
    PerfScript(std::io::Error),
    #[error("perf script failed ({0})")]
    PerfScriptFailed(std::process::ExitStatus),
    #[error("cannot collapse perf output: {0}")]
    Collapse(std::io::Error),
}

/// What a profiler left behind.
pub struct Output {
    /// The profile as the profiler wrote it, and a file name for it.
    pub raw: (String, Vec<u8>),
    pub folded: Folded,
    pub unit: String,
    /// The stacks of the samples labelled `gander.request`, by its value
    /// (pprof profiles only; empty when the SUT labels nothing).
    pub by_request: std::collections::BTreeMap<String, Folded>,
}

/// The argv for `source`, writing to `out`.
pub fn argv(
    source: &ProfileSource,
    pids: &[u32],
    seconds: u64,
    rate: u32,
    out: &Path,
) -> Vec<String> {
    let pid = pids.first().copied().unwrap_or(0).to_string();
    let out_s = out.display().to_string();
    match source {
        ProfileSource::PySpy {
            subprocesses,
            native,
            blocking,
        } => {
            let mut a: Vec<String> = [
                "py-spy",
                "record",
                "--pid",
                &pid,
                "--duration",
                &seconds.to_string(),
                "--rate",
                &rate.to_string(),
                "--format",
                "raw",
                "--nolineno",
                "-o",
                &out_s,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if *subprocesses {
                a.push("--subprocesses".into());
            }
            if *native {
                a.push("--native".into());
            }
            // Unpaused: py-spy's pauses cost the SUT CPU (measured: +0.05 to
            // +0.15 ms per request on a quiet machine, several times that on a
            // busy one), which the cost per request would count as the SUT's.
            if !*blocking {
                a.push("--nonblocking".into());
            }
            a
        }
        ProfileSource::Perf { dwarf } => {
            // -p takes every process of the tree: -p alone does not follow
            // processes forked after attaching, but pre-fork workers exist already.
            let list: Vec<String> = pids.iter().map(u32::to_string).collect();
            let mut a: Vec<String> = vec![
                "perf".into(),
                "record".into(),
                "-F".into(),
                rate.to_string(),
                "-e".into(),
                "cpu-clock".into(),
            ];
            if *dwarf {
                a.extend(["--call-graph".into(), "dwarf".into()]);
            } else {
                a.push("-g".into());
            }
            a.extend([
                "-p".into(),
                list.join(","),
                "-o".into(),
                out_s,
                "--".into(),
                "sleep".into(),
                seconds.to_string(),
            ]);
            a
        }
        ProfileSource::Command { argv, .. } => argv
            .iter()
            .map(|arg| {
                arg.replace("{pid}", &pid)
                    .replace("{seconds}", &seconds.to_string())
                    .replace("{out}", &out_s)
            })
            .collect(),
        ProfileSource::Pprof { .. } => Vec::new(),
    }
}

/// Where a profiler writes, by source.
/// The largest profile file read from a profiler (perf's data, py-spy's and
/// a command's output); real ones are a few megabytes.
const PROFILE_FILE_LIMIT: u64 = 256 << 20;

pub fn out_name(source: &ProfileSource) -> &'static str {
    match source {
        ProfileSource::PySpy { .. } => "profile.py-spy.folded",
        ProfileSource::Perf { .. } => "profile.perf.data",
        ProfileSource::Command {
            format: ProfileFormat::Pprof,
            ..
        } => "profile.command.pb",
        ProfileSource::Command { .. } => "profile.command.folded",
        ProfileSource::Pprof { .. } => "profile.pb.gz",
    }
}

/// Runs the profiler to completion (or `deadline`); on a signal to gander it
/// asks the profiler to stop early with SIGINT, which py-spy and perf answer
/// by writing what they have.
// Long on purpose: spawn, wait (or stop early), read the bounded output and decode it per format, each step with its own message.
pub fn run(
    source: &ProfileSource,
    argv: &[String],
    out: &Path,
    deadline: Instant,
    stop_early: &dyn Fn() -> bool,
) -> Result<Output, ProfilerError> {
    let program = argv.first().ok_or(ProfilerError::EmptyCommand)?;
    let stderr_file = tempfile::tempfile().map_err(ProfilerError::TempFile)?;
    let mut command = Command::new(program);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file.try_clone().map_err(ProfilerError::Stderr)?);
    let mut child = Guarded::spawn(&mut command).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ProfilerError::NotInstalled {
            program: program.clone(),
            hint: install_hint(source),
        },
        _ => ProfilerError::Start {
            program: program.clone(),
            error: e,
        },
    })?;
    let mut asked_to_stop = false;
    let status = loop {
        if let Some(status) = child.exited() {
            break status;
        }
        if !asked_to_stop && stop_early() {
            child.signal_group(libc::SIGINT);
            asked_to_stop = true;
        }
        if Instant::now() >= deadline {
            child.stop(Duration::from_secs(2));
            return Err(ProfilerError::Timeout {
                program: program.clone(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr_file = stderr_file;
    let stderr = crate::sut::child::last_lines(&mut stderr_file, 3).join(" | ");
    if !status.success() && !asked_to_stop {
        return Err(ProfilerError::Failed {
            program: program.clone(),
            status,
            stderr: stderr_suffix(&stderr),
        });
    }
    let bytes = bounded::read_file(out, PROFILE_FILE_LIMIT).map_err(|error| match error {
        bounded::ReadError::TooLarge { .. } => ProfilerError::TooLarge {
            program: program.clone(),
            error,
        },
        error => ProfilerError::NoProfile {
            program: program.clone(),
            out: out.display().to_string(),
            error,
            stderr: stderr_suffix(&stderr),
        },
    })?;
    let (folded, unit) = match source {
        ProfileSource::Perf { .. } => (collapse_perf(out)?, "nanoseconds".to_string()),
        ProfileSource::Command {
            format: ProfileFormat::Pprof,
            ..
        } => {
            let d =
                super::pprof::decode(&bytes).map_err(|e| ProfilerError::Decode(e.to_string()))?;
            (d.folded, d.value_type)
        }
        _ => {
            let text = String::from_utf8(bytes.clone()).map_err(|_| ProfilerError::Binary)?;
            (
                Folded::parse(&text).map_err(|e| ProfilerError::Decode(e.to_string()))?,
                "samples".to_string(),
            )
        }
    };
    Ok(Output {
        by_request: Default::default(),
        raw: (out_name(source).to_string(), bytes),
        folded,
        unit,
    })
}

fn install_hint(source: &ProfileSource) -> &'static str {
    match source {
        ProfileSource::PySpy { .. } => ": pip install py-spy",
        ProfileSource::Perf { .. } => ": apt-get install linux-perf",
        _ => "",
    }
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        let short: String = stderr.chars().take(400).collect();
        format!(": {short}")
    }
}

/// `perf script` over the recorded data, collapsed by inferno.
fn collapse_perf(data: &Path) -> Result<Folded, ProfilerError> {
    use inferno::collapse::Collapse;
    // perf script's text is many times the size of perf.data: fold it as it
    // comes instead of holding it.
    let mut script = Command::new("perf")
        .args(["script", "-i"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(ProfilerError::PerfScript)?;
    let stdout = script.stdout.take().expect("stdout is piped");
    let mut folder =
        inferno::collapse::perf::Folder::from(inferno::collapse::perf::Options::default());
    let mut out = Vec::new();
    let collapsed = folder.collapse(std::io::BufReader::new(stdout), &mut out);
    let status = script.wait().map_err(ProfilerError::PerfScript)?;
    if !status.success() {
        return Err(ProfilerError::PerfScriptFailed(status));
    }
    collapsed.map_err(ProfilerError::Collapse)?;
    Folded::parse(&String::from_utf8_lossy(&out)).map_err(|e| ProfilerError::Decode(e.to_string()))
}
