//! `gander run`: load, launch, drive, observe, compare, judge, save.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use super::print_scenario_error;
use crate::clock::RunClock;
use crate::compare::{self, RunData};
use crate::record::{Collected, Recorder, RecorderConfig};
use crate::result::{
    PlanSummary, PlannedStage, Provenance, RunResult, RunStatus, SCHEMA_VERSION, ScenarioResult,
    ScenarioSummary,
};
use crate::scenario::plan::{LoadEnd, LoadModel};
use crate::scenario::{Overrides, RunPlan};
use crate::{Exit, profile, record, report, runner, scenario, signals, store, sut, verdict};

/// How many good runs a directory of baseline runs stands for, unless told.
pub const DEFAULT_BASELINE_LAST: usize = 5;

/// One run of a scenario file, as the CLI, `gander demo` and the tests ask for it.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub file: PathBuf,
    /// Flags laid over the file (host, users, duration, profiler, targets...).
    pub overrides: Overrides,
    /// Saved runs, or directories of runs, to compare with.
    pub baseline: Vec<PathBuf>,
    /// How many good runs to take from a baseline directory of runs.
    pub baseline_last: usize,
    /// Where run directories are written.
    pub output: PathBuf,
    /// Print nothing but errors and the run directory.
    pub quiet: bool,
}

impl RunRequest {
    /// A run of `file` with the file's own settings, written under `reports/`.
    pub fn new(file: impl Into<PathBuf>) -> Self {
        RunRequest {
            file: file.into(),
            overrides: Overrides::default(),
            baseline: Vec::new(),
            baseline_last: DEFAULT_BASELINE_LAST,
            output: PathBuf::from("reports"),
            quiet: false,
        }
    }
}

/// Loads, runs, judges and saves one scenario file.
pub fn run(args: &RunRequest) -> anyhow::Result<Exit> {
    let plan = match scenario::load(&args.file, &args.overrides) {
        Ok(plan) => Arc::new(plan),
        Err(e) => {
            print_scenario_error(&e);
            return Ok(Exit::Usage);
        }
    };
    // A baseline that cannot be read is a usage error, found before the run.
    let compare::Baselines {
        runs: baseline,
        notes: baseline_notes,
    } = compare::baseline_runs(&args.baseline, &plan.name, args.baseline_last)?;
    for note in &baseline_notes {
        eprintln!("gander: note: {note}");
    }
    // The run directory first: an unwritable --output is found before the SUT
    // starts or any request is sent, and a run killed outright still leaves
    // its figures there (saved as it goes).
    let started_at = chrono::Utc::now();
    let run_id = format!(
        "{}-{}",
        started_at.format("%Y%m%d-%H%M%S"),
        slug(&plan.name)
    );
    let (dir, run_id, lock) = match open_run_dir(&args.output, &run_id) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("gander: error: {e}: give --output a directory gander can write to");
            return Ok(Exit::Usage);
        }
    };
    signals::install();
    let launched = match &plan.sut.launch {
        Some(launch) => match sut::launch::Launched::start(launch, &signals::interrupted) {
            Ok(l) => {
                if !args.quiet {
                    eprintln!("gander: SUT started (pid {})", l.pid());
                }
                Some(l)
            }
            Err(e) => {
                eprintln!("gander: error: {e}");
                drop(lock);
                // Nothing was measured: leave no empty run behind.
                let _ = std::fs::remove_dir(&dir);
                return Ok(Exit::Usage);
            }
        },
        None => None,
    };
    let sut_pid = resolve_sut_pid(&plan, launched.as_ref());

    let interactive = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let options = runner::RunOptions {
        silence_stdout: true,
    };
    let progress = (!args.quiet).then_some(if interactive {
        super::progress::Style::Terminal
    } else {
        super::progress::Style::Log
    });
    let clock = Arc::new(RunClock::for_plan(&plan));
    let monitor = sut::Monitor::start(
        sut::MonitorSetup {
            plan: plan.sut.clone(),
            pid: sut_pid.clone(),
        },
        clock.clone(),
    );
    let profiler = plan.profile.clone().map(|p| {
        let root = sut_pid
            .clone()
            .unwrap_or_else(|| Err("no SUT process is known".into()));
        profile::Profiler::start(p, profile::Target { root }, clock.clone())
    });
    let revision = git_revision(&plan.source);
    let saving = record::Saving {
        interval_log: std::fs::File::create(dir.join(store::INTERVAL_LOG)).ok(),
        header_log: std::fs::File::create(dir.join(store::HEADER_LOG)).ok(),
        checkpoint: Some(checkpointer(Checkpoint {
            plan: plan.clone(),
            clock: clock.clone(),
            dir: dir.clone(),
            run_id: run_id.clone(),
            started_at,
            revision: revision.clone(),
        })),
    };
    let recorded = drive(&plan, clock, &options, progress, saving);
    let capture = profiler.map(profile::Profiler::finish);
    let mut resources = monitor.finish();
    let sut_log = launched.map(|l| {
        let (report, log) = l.stop();
        resources.launched = Some(report);
        log
    });
    let (executed, mut collected, load) = recorded?;

    let interval_log = std::mem::take(&mut collected.interval_log);
    let header_log = std::mem::take(&mut collected.header_log);
    let mut result = assemble(&plan, executed, collected, load, run_id, revision);
    result.resources = resources;
    summarize_observations(&mut result);
    if let Some(log) = sut_log {
        store::write_file(&dir, sut::launch::LOG_FILE, &log)?;
    }
    if let Some(capture) = capture {
        let base_profile = compare::newest_with_profile(&baseline);
        result.profile = Some(save_profile(&dir, capture, &result, base_profile)?);
    }
    if !baseline.is_empty() {
        let runs: Vec<&RunData> = baseline.iter().map(|(_, run)| run).collect();
        let new = RunData::new(result, &interval_log, &header_log);
        let comparison = compare::compare(&runs, &new, plan.regression.as_ref());
        result = new.result;
        result.comparison = Some(comparison);
    }
    result.verdict = verdict::judge(&result);

    store::write_file(&dir, store::INTERVAL_LOG, &interval_log)?;
    store::write_file(&dir, store::HEADER_LOG, &header_log)?;
    report::write_reports(&dir, &result)?;
    drop(lock);
    if !args.quiet {
        print!("{}", report::console::render(&result));
    }
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    if !args.quiet {
        println!("report: {}", dir.join("report.html").display());
    }
    println!("run directory: {}", dir.display());
    let _ = std::io::stdout().flush();
    Ok(Exit::from_verdict(result.verdict.status))
}

/// Runs the users with the recorder listening, and returns how the run went,
/// what was recorded and how the load held.
fn drive(
    plan: &Arc<RunPlan>,
    clock: Arc<RunClock>,
    options: &runner::RunOptions,
    progress: Option<super::progress::Style>,
    saving: record::Saving,
) -> anyhow::Result<(runner::Executed, Collected, crate::result::LoadReport)> {
    let recorder = Recorder::start(
        RecorderConfig {
            endpoints: plan.endpoints.iter().map(|e| e.name.clone()).collect(),
            scenarios: plan.scenarios.len(),
            header_labels: plan.server_header_labels.clone(),
            error_samples: plan.error_samples,
            load: plan.load.clone(),
            secrets: plan.secrets.clone(),
        },
        clock.clone(),
        saving,
    )
    .context("cannot start the recorder thread")?;
    // The planned length: stages sum to `end`; a flat load ramps up first.
    let planned = match plan.load.end {
        LoadEnd::Duration(d) if plan.load.stages.is_empty() => Some(plan.load.ramp_up + d),
        LoadEnd::Duration(d) => Some(d),
        LoadEnd::Iterations(_) => None,
    };
    let progress = progress.map(|style| {
        super::progress::Progress::start(recorder.live.clone(), plan.load.users, planned, style)
    });
    let executed = runner::execute(plan.clone(), clock.clone(), recorder.sender(), options);
    drop(progress);
    // Every sender is gone with the users: the recorder has all there is.
    let mut collected = recorder.finish();
    let executed = executed?;
    let load = record::load_report::finish(
        &plan.load,
        &clock,
        executed.arrivals.as_ref(),
        &mut collected,
    );
    Ok((executed, collected, load))
}

/// Creates the run directory under `output` and takes its lock.
fn open_run_dir(
    output: &Path,
    run_id: &str,
) -> Result<(PathBuf, String, store::RunLock), store::StoreError> {
    let (dir, run_id) = store::create(output, run_id)?;
    let lock = store::RunLock::take(&dir)?;
    Ok((dir, run_id, lock))
}

/// What a checkpoint needs to write run.json while the run goes.
struct Checkpoint {
    plan: Arc<RunPlan>,
    clock: Arc<RunClock>,
    dir: PathBuf,
    run_id: String,
    started_at: chrono::DateTime<chrono::Utc>,
    revision: Option<String>,
}

/// Writes run.json from what the recorder collected so far, marked `running`
/// and judged INVALID: a run killed outright leaves it (and `gander report`
/// then marks it `killed`).
fn checkpointer(c: Checkpoint) -> Box<dyn FnMut(Collected) + Send> {
    let mut warned = false;
    Box::new(move |mut collected: Collected| {
        let load = record::load_report::finish(&c.plan.load, &c.clock, None, &mut collected);
        let executed = runner::Executed {
            arrivals: None,
            interrupted: None,
            started_at: c.started_at,
            finished_at: chrono::Utc::now(),
        };
        let mut result = assemble(
            &c.plan,
            executed,
            collected,
            load,
            c.run_id.clone(),
            c.revision.clone(),
        );
        result.outcome = crate::result::Outcome {
            status: RunStatus::Running,
            reason: Some(format!(
                "saved {:.0} s into the run",
                result.phases.total.end_s
            )),
        };
        result.verdict = verdict::judge(&result);
        if let Err(e) = report::write_run_json(&c.dir, &result)
            && !warned
        {
            eprintln!("gander: warning: cannot save the run as it goes: {e}");
            warned = true;
        }
    })
}

/// The SUT's root process: launched, given by pid, or found by name.
fn resolve_sut_pid(
    plan: &RunPlan,
    launched: Option<&sut::launch::Launched>,
) -> Option<Result<u32, String>> {
    use scenario::plan::ProcessSelector;
    Some(match plan.sut.process.as_ref()? {
        ProcessSelector::Launched => launched
            .map(|l| l.pid())
            .ok_or_else(|| "the SUT was not launched".to_string()),
        ProcessSelector::Pid(pid) => {
            if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                Ok(*pid)
            } else {
                Err(format!("no process has pid {pid}"))
            }
        }
        ProcessSelector::Name(name) => sut::process::find_by_name(name),
    })
}

/// Steady-state summaries of the resource series, on the window targets use.
fn summarize_observations(result: &mut RunResult) {
    let window = result.window(result.primary_phase());
    result.resources.summarize(window);
}

/// Writes the profile's files and completes its report.
fn save_profile(
    dir: &Path,
    capture: profile::Capture,
    result: &RunResult,
    baseline: Option<(&Path, &RunResult)>,
) -> anyhow::Result<profile::ProfileReport> {
    let svg = capture.flamegraph(&result.plan.name);
    let mut report = capture.report;
    if let Some(window) = report.window {
        report.requests_in_window = requests_within(result, window);
    }
    if let Some((name, bytes)) = &capture.raw {
        store::write_file(dir, name, bytes)?;
        report.files.raw = Some(name.clone());
    }
    if let Some(folded) = capture.folded.as_ref().filter(|f| !f.is_empty()) {
        store::write_file(dir, profile::FOLDED_FILE, folded.to_text().as_bytes())?;
        report.files.folded = Some(profile::FOLDED_FILE.into());
    }
    if let Some(svg) = svg {
        store::write_file(dir, profile::FLAMEGRAPH_FILE, &svg)?;
        report.files.flamegraph = Some(profile::FLAMEGRAPH_FILE.into());
    }
    if let (Some(current), Some((base_dir, base))) = (capture.folded.as_ref(), baseline) {
        report.diff = compare::profile_diff::against(base_dir, base, current, &report, dir)?;
    }
    Ok(report)
}

/// Requests completed within `window`, from the per-second series (a second
/// partly inside counts in proportion).
fn requests_within(result: &RunResult, window: crate::result::Window) -> u64 {
    result
        .timeseries
        .iter()
        .map(|p| {
            let (a, b) = (p.t as f64, p.t as f64 + 1.0);
            let overlap = (b.min(window.end_s) - a.max(window.start_s)).max(0.0);
            p.requests as f64 * overlap
        })
        .sum::<f64>()
        .round() as u64
}

/// A file-name-safe form of the test's name.
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "run".into()
    } else {
        s.chars().take(40).collect()
    }
}

/// Puts the plan, the recorded figures and where they came from into one result.
fn assemble(
    plan: &RunPlan,
    executed: runner::Executed,
    c: Collected,
    load: crate::result::LoadReport,
    run_id: String,
    git_revision: Option<String>,
) -> RunResult {
    let (duration_s, iterations) = match plan.load.end {
        LoadEnd::Duration(d) => (Some(d.as_secs_f64()), None),
        LoadEnd::Iterations(n) => (None, Some(n)),
    };
    RunResult {
        schema_version: SCHEMA_VERSION,
        run_id,
        outcome: crate::result::Outcome {
            status: if executed.interrupted.is_some() {
                RunStatus::Interrupted
            } else {
                RunStatus::Completed
            },
            reason: executed.interrupted,
        },
        provenance: Provenance {
            gander_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: executed.started_at.to_rfc3339(),
            finished_at: executed.finished_at.to_rfc3339(),
            command_line: std::env::args().map(|a| plan.secrets.message(&a)).collect(),
            scenario_file: plan.source.display().to_string(),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string()),
            git_revision,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
        plan: PlanSummary {
            name: plan.name.clone(),
            host: plan.secrets.url(&plan.host),
            model: plan.load.model.label().into(),
            users: plan.load.users,
            rate: (plan.load.model == LoadModel::Open).then(|| plan.load.peak_level()),
            stages: plan
                .load
                .stages
                .iter()
                .map(|s| PlannedStage {
                    name: s.name.clone(),
                    duration_s: s.duration.as_secs_f64(),
                    written_s: s.written.as_secs_f64(),
                    target: s.target,
                })
                .collect(),
            steady_stage: plan
                .load
                .steady_stage
                .map(|i| plan.load.stages[i].name.clone()),
            ramp_up_s: plan.load.ramp_up.as_secs_f64(),
            duration_s,
            iterations,
            scenarios: plan
                .scenarios
                .iter()
                .zip(&c.users_by_scenario)
                .map(|(s, users)| ScenarioSummary {
                    name: s.name.clone(),
                    weight: s.weight,
                    users_started: *users,
                })
                .collect(),
            server_headers: plan.server_header_labels.clone(),
            targets: plan.targets.clone(),
            target_policy: plan.target_policy,
            regression: plan.regression.clone(),
            http: plan.http.label().into(),
            tls: (!plan.tls.is_default()).then(|| crate::result::TlsSummary {
                insecure: plan.tls.insecure,
                ca: plan.tls.ca.as_ref().map(|(file, _)| file.clone()),
                client_cert: plan.tls.client.as_ref().map(|c| c.cert_file.clone()),
                server_name: plan.tls.server_name.clone(),
            }),
        },
        phases: c.phases,
        totals: c.totals,
        endpoints: plan
            .endpoints
            .iter()
            .zip(c.endpoints)
            .map(|(e, stats)| crate::result::EndpointResult {
                name: e.name.clone(),
                method: e.method.to_string(),
                stats,
            })
            .collect(),
        scenarios: plan
            .scenarios
            .iter()
            .zip(c.scenarios)
            .map(|(s, stats)| ScenarioResult {
                name: s.name.clone(),
                stats,
            })
            .collect(),
        timeseries: c.timeseries,
        load,
        errors: c.errors,
        resources: Default::default(),
        profile: None,
        comparison: None,
        verdict: Default::default(),
    }
}

/// The git revision of the repository holding the scenario file, if any.
fn git_revision(scenario: &Path) -> Option<String> {
    let dir = scenario
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}
