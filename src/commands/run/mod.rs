//! `gander run`: load, launch, drive, observe, compare, judge, save.

pub(super) mod assemble;
mod sweep;
mod watch;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use super::print_scenario_error;
use crate::clock::{CommonStart, PlannedLoad, RunClock};
use crate::compare::{self, RunData};
use crate::record::{Collected, Recorder, RecorderConfig};
use crate::result::{RunResult, RunStatus};
use crate::scenario::plan::LoadEnd;
use crate::scenario::{Overrides, RunPlan};
use crate::{Exit, profile, record, report, runner, scenario, signals, store, sut, verdict};
use assemble::{RunMeta, assemble};
pub use watch::Watch;

/// How many good runs a directory of baseline runs stands for, unless told.
pub const DEFAULT_BASELINE_LAST: usize = 5;

/// One run of a scenario file, as the CLI, `gander demo` and the tests ask for it.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub file: PathBuf,
    /// Flags laid over the file (host, users, duration, profiler, targets, segment...).
    pub overrides: Overrides,
    /// Saved runs, or directories of runs, to compare with.
    pub baseline: Vec<PathBuf>,
    /// How many good runs to take from a baseline directory of runs.
    pub baseline_last: usize,
    /// Compare with a baseline of another plan instead of refusing it.
    pub across_plans: bool,
    /// Where run directories are written.
    pub output: PathBuf,
    /// Print nothing but errors and the run directory.
    pub quiet: bool,
    /// `--start-at`: start the load at this instant.
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `--live` and `--out`.
    pub watch: Watch,
}

impl RunRequest {
    /// A run of `file` with the file's own settings, written under `reports/`.
    pub fn new(file: impl Into<PathBuf>) -> Self {
        RunRequest {
            file: file.into(),
            overrides: Overrides::default(),
            baseline: Vec::new(),
            baseline_last: DEFAULT_BASELINE_LAST,
            across_plans: false,
            output: PathBuf::from("reports"),
            quiet: false,
            start_at: None,
            watch: Watch::default(),
        }
    }
}

/// Why a segment cannot run as asked, found before anything starts.
fn segment_problem(plan: &RunPlan, args: &RunRequest) -> Option<String> {
    let segment = plan.segment.as_ref()?.segment;
    if !segment.is_part() {
        return None;
    }
    if args.start_at.is_none() {
        return Some(format!(
            "--segment {segment} needs --start-at: every segment of a run starts its load at the \
             same instant, so their per-second series line up; give each the same time, e.g. \
             --start-at $(date -u -d +1min +%FT%TZ) computed once"
        ));
    }
    if !args.baseline.is_empty() {
        return Some(format!(
            "--segment {segment} takes no --baseline: a segment is a share of the load, not a \
             run to compare; give --baseline to `gander merge`, which judges the merged run"
        ));
    }
    None
}

/// Loads, runs, judges and saves one scenario file: prepare (plan, baseline,
/// network edge), open the run (directory, watchers, SUT), drive the load while
/// observing the SUT, then conclude (assemble, compare, judge, save).
pub fn run(args: &RunRequest) -> anyhow::Result<Exit> {
    let prepared = match prepare(args)? {
        Ok(prepared) => prepared,
        Err(exit) => return Ok(exit),
    };
    let Some(mut opened) = open_run(args, &prepared) else {
        return Ok(Exit::Usage);
    };
    let observed = drive_observed(args, &prepared, &mut opened);
    let (executed, mut collected, load) = observed.recorded?;
    let interval_log = std::mem::take(&mut collected.interval_log);
    let header_log = std::mem::take(&mut collected.header_log);
    let mut result = assemble(&prepared.plan, executed, collected, load, &observed.meta);
    result.resources = observed.resources;
    result.outputs = observed.outputs;
    summarize_observations(&mut result);
    let logs = Logs {
        interval: interval_log,
        header: header_log,
        sut: observed.sut_log,
    };
    let profiled = (observed.capture, observed.swept);
    Ok(conclude(args, &prepared, opened, result, logs, profiled))
}

/// What a run needs before anything is created: the plan, the baseline runs
/// and the network edge. `Err` is the exit of a usage error already said.
struct Prepared {
    plan: Arc<RunPlan>,
    baseline: Vec<(PathBuf, RunData)>,
    edge: Arc<crate::net::Edge>,
}

/// Loads the plan and the baseline and builds the network edge; says why not.
fn prepare(args: &RunRequest) -> anyhow::Result<Result<Prepared, Exit>> {
    let plan = match scenario::load(&args.file, &args.overrides) {
        Ok(plan) => Arc::new(plan),
        Err(e) => {
            print_scenario_error(&e);
            return Ok(Err(Exit::Usage));
        }
    };
    if let Some(problem) = segment_problem(&plan, args) {
        eprintln!("gander: error: {problem}");
        return Ok(Err(Exit::Usage));
    }
    // A baseline that cannot be read is a usage error, found before the run.
    let compare::Baselines {
        runs: baseline,
        notes: baseline_notes,
    } = compare::baseline_runs(&args.baseline, &plan.name, args.baseline_last)?;
    for note in &baseline_notes {
        eprintln!("gander: note: {note}");
    }
    if let Err(e) = other_plans(&plan, &baseline, args.across_plans) {
        eprintln!("gander: error: {e}");
        return Ok(Err(Exit::Usage));
    }
    // The probe, the monitor and the profiler's download connect as the users do.
    let Some(edge) = network_edge(&plan) else {
        return Ok(Err(Exit::Usage));
    };
    Ok(Ok(Prepared {
        plan,
        baseline,
        edge,
    }))
}

/// A run under way: its directory and lock, its watchers and its SUT.
struct Opened {
    started_at: chrono::DateTime<chrono::Utc>,
    dir: PathBuf,
    run_id: String,
    lock: store::RunLock,
    watching: watch::Watching,
    reserve: Option<store::Reserve>,
    launched: Option<sut::launch::Launched>,
    sut_pid: Option<Result<u32, sut::process::ProcessError>>,
}

/// Creates the run directory, starts the watchers and launches the SUT;
/// `None` after saying why not (a usage error, nothing left behind).
fn open_run(args: &RunRequest, prepared: &Prepared) -> Option<Opened> {
    let plan = &prepared.plan;
    // The run directory first: an unwritable --output is found before the SUT
    // starts or any request is sent, and a run killed outright still leaves
    // its figures there (saved as it goes).
    let started_at = chrono::Utc::now();
    let (dir, run_id, lock) = match open_run_dir(&args.output, &run_id(plan, started_at)) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("gander: error: {e}: give --output a directory gander can write to");
            return None;
        }
    };
    let Some(watching) = watch::Watching::start_or_say(&args.watch, plan, &dir, &run_id) else {
        drop(lock);
        let _ = std::fs::remove_dir_all(&dir);
        return None;
    };
    let reserve = store::Reserve::take(&dir);
    signals::install();
    let launched = match &plan.sut.launch {
        Some(launch) => {
            match sut::launch::Launched::start(launch, &prepared.edge, &signals::interrupted) {
                Ok(l) => {
                    if !args.quiet {
                        eprintln!("gander: SUT started (pid {})", l.pid());
                    }
                    Some(l)
                }
                Err(e) => {
                    eprintln!("gander: error: {e}");
                    drop((lock, reserve));
                    // Nothing was measured: leave no empty run behind.
                    let _ = std::fs::remove_dir(&dir);
                    return None;
                }
            }
        }
        None => None,
    };
    let sut_pid = resolve_sut_pid(plan, launched.as_ref());
    Some(Opened {
        started_at,
        dir,
        run_id,
        lock,
        watching,
        reserve,
        launched,
        sut_pid,
    })
}

/// The time axis of a run and how it is driven and shown.
struct Timing {
    start: Option<CommonStart>,
    options: runner::RunOptions,
    progress: Option<super::progress::Style>,
    clock: Arc<RunClock>,
}

/// Lays the time axis (from now, or on the common start) and says when the
/// load starts.
fn timing(args: &RunRequest, plan: &RunPlan, run_id: &str) -> Timing {
    let interactive = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    // The time axis: from now, or laid on the common start.
    let start = args.start_at.map(CommonStart::new);
    let options = runner::RunOptions {
        silence_stdout: true,
        start_at: start.map(|s| s.instant),
        alternation: None,
        run_id: Some(run_id.to_string()),
    };
    if let (Some(s), false) = (start, args.quiet) {
        eprintln!(
            "gander: the load starts at {} (in {:.1} s)",
            s.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            s.instant
                .saturating_duration_since(std::time::Instant::now())
                .as_secs_f64()
        );
    }
    let progress = (!args.quiet).then_some(if interactive {
        super::progress::Style::Terminal
    } else {
        super::progress::Style::Log
    });
    let clock = Arc::new(RunClock::for_load(
        &planned_load(plan),
        start
            .as_ref()
            .map_or_else(std::time::Instant::now, |s| s.t0),
    ));
    Timing {
        start,
        options,
        progress,
        clock,
    }
}

/// What the load and the observers gave, the SUT stopped.
struct Observed {
    recorded: anyhow::Result<(runner::Executed, Collected, crate::result::LoadReport)>,
    meta: RunMeta,
    outputs: Vec<crate::result::outputs::OutputReport>,
    capture: Option<profile::Capture>,
    resources: crate::result::resources::ResourceReport,
    swept: Option<sweep::Swept>,
    sut_log: Option<Vec<u8>>,
}

/// Drives the load with the monitor and the profiler watching the SUT, then
/// stops them, sweeps the SUT's cost and stops a launched SUT, in that order.
fn drive_observed(args: &RunRequest, prepared: &Prepared, opened: &mut Opened) -> Observed {
    let (plan, edge) = (&prepared.plan, &prepared.edge);
    let (dir, run_id, sut_pid) = (&opened.dir, &opened.run_id, &opened.sut_pid);
    let Timing {
        start,
        options,
        progress,
        clock,
    } = timing(args, plan, run_id);
    let monitor = sut::Monitor::start(
        sut::MonitorSetup {
            plan: plan.sut.clone(),
            pid: sut_pid.clone(),
            sut_unplaced: !matches!(sut_pid, Some(Ok(_)))
                && crate::net::proxy::is_loopback_url(&plan.host),
            edge: edge.clone(),
            so_far: opened.watching.sut_so_far(),
        },
        clock.clone(),
    );
    let profiler = plan.profile.clone().map(|p| {
        let root = sut_pid
            .clone()
            .unwrap_or(Err(sut::process::ProcessError::Unknown));
        let edge = edge.clone();
        profile::Profiler::start(p, profile::Target { root, edge }, clock.clone())
    });
    let meta = RunMeta {
        run_id: run_id.clone(),
        git_revision: git_revision(&plan.source),
        scenario_sha256: scenario::files::sha256(&plan.source),
        start,
    };
    let checkpoint = Checkpoint {
        plan: plan.clone(),
        clock: clock.clone(),
        dir: dir.clone(),
        started_at: opened.started_at,
        meta: meta.clone(),
    };
    let saving = record::Saving {
        interval_log: live_file(dir, store::INTERVAL_LOG),
        header_log: live_file(dir, store::HEADER_LOG),
        every_second: opened.watching.ticker(checkpoint.clone()),
        checkpoint: Some(checkpointer(checkpoint)),
    };
    let recorded = drive(plan, clock, &options, progress, saving);
    let outputs = opened.watching.finish_outputs();
    let capture = profiler.map(profile::Profiler::finish);
    let mut resources = monitor.finish();
    // The sweep after the load, with the SUT still up and no other profile running.
    let swept = (recorded.is_ok())
        .then(|| sweep::after_load(plan, sut_pid.clone(), run_id, args.quiet, edge.clone()))
        .flatten();
    let sut_log = opened.launched.take().map(|l| {
        let (report, log) = l.stop();
        resources.launched = Some(report);
        log
    });
    Observed {
        recorded,
        meta,
        outputs,
        capture,
        resources,
        swept,
        sut_log,
    }
}

/// The logs of a run, taken out of what was recorded.
struct Logs {
    interval: Vec<u8>,
    header: Vec<u8>,
    sut: Option<Vec<u8>>,
}

/// Profiles, compares, judges and saves the assembled run, then prints its
/// summary and closes the live page.
fn conclude(
    args: &RunRequest,
    prepared: &Prepared,
    opened: Opened,
    mut result: RunResult,
    logs: Logs,
    profiled: (Option<profile::Capture>, Option<sweep::Swept>),
) -> Exit {
    let Opened {
        dir,
        lock,
        watching,
        reserve,
        ..
    } = opened;
    let baseline = &prepared.baseline;
    // From here a file that cannot be written (a full disk) is said, and the
    // others are still written and the summary still printed.
    let mut unwritten = Unwritten::default();
    if let Some(log) = logs.sut {
        unwritten.note(store::write_file(&dir, sut::launch::LOG_FILE, &log));
    }
    let base_profile = compare::newest_with_profile(baseline);
    profile_and_cost(
        &dir,
        profiled,
        base_profile,
        &logs.interval,
        &mut result,
        &mut unwritten,
    );
    if !baseline.is_empty() {
        let runs: Vec<&RunData> = baseline.iter().map(|(_, run)| run).collect();
        let new = RunData::new(result, &logs.interval, &logs.header);
        let comparison = compare::compare(&runs, &new, prepared.plan.regression.as_ref());
        result = new.result;
        result.comparison = Some(comparison);
    }
    result.verdict = verdict::judge(&result);

    // run.json and the summaries first, in the space held for them.
    drop(reserve);
    unwritten.write_last(&dir, &result, [&logs.interval, &logs.header]);
    drop(lock);
    let exit = finish(&dir, &result, args.quiet);
    watching.finish_page(&result, &dir, args.watch.live_linger);
    unwritten.report(exit)
}

/// The files of a run that could not be written.
#[derive(Default)]
pub(super) struct Unwritten(Vec<String>);

impl Unwritten {
    /// An error naming every write that failed, if any did (for a caller
    /// that stops at the first failure, as `gander ab` does).
    pub(super) fn into_result(self) -> std::io::Result<()> {
        match self.0.is_empty() {
            true => Ok(()),
            false => Err(std::io::Error::other(self.0.join("; "))),
        }
    }

    /// Keeps the reason of a write that failed; the value of one that did not.
    fn note<T>(&mut self, written: Result<T, impl std::fmt::Display>) -> Option<T> {
        written.map_err(|e| self.0.push(e.to_string())).ok()
    }

    /// Writes the run's last files: run.json and the summaries first (small,
    /// and they say the most), then the interval logs (latency, headers).
    fn write_last(&mut self, dir: &Path, result: &RunResult, logs: [&[u8]; 2]) {
        for e in report::write_reports_keep_going(dir, result) {
            self.note::<()>(Err(e));
        }
        for (name, log) in [store::INTERVAL_LOG, store::HEADER_LOG]
            .into_iter()
            .zip(logs)
        {
            self.note(store::write_file(dir, name, log));
        }
    }

    /// Says what could not be written after the summary; an IO error (exit 2) if anything.
    fn report(self, exit: Exit) -> Exit {
        if self.0.is_empty() {
            return exit;
        }
        for reason in &self.0 {
            eprintln!("gander: error: {reason}");
        }
        eprintln!(
            "gander: error: {} file(s) of the run directory could not be written (the summary \
             above is complete; what was written is kept): free space on the disk, then \
             `gander report DIR` renders the reports again from run.json",
            self.0.len()
        );
        Exit::Usage
    }
}

/// A file the recorder appends to as the run goes; said when it cannot be
/// created (out of file descriptors, a full disk): the run then keeps it in
/// memory only, and writes it at the end.
fn live_file(dir: &Path, name: &str) -> Option<std::fs::File> {
    std::fs::File::create(dir.join(name))
        .inspect_err(|e| {
            eprintln!(
                "gander: warning: cannot write {name} as the run goes ({e}): a run killed \
                 outright would lose it"
            )
        })
        .ok()
}

/// A baseline of another plan, refused unless `across_plans`.
fn other_plans(
    plan: &RunPlan,
    baseline: &[(PathBuf, RunData)],
    across_plans: bool,
) -> Result<(), compare::comparable::OtherPlan> {
    let key = compare::comparable::PlanKey::new(
        &plan.name,
        plan.load.model.label(),
        plan.endpoints.iter().map(|e| e.name.clone()),
    );
    compare::comparable::refuse_other_plans(baseline, &key, across_plans)
}

/// Prints the summary and where the run directory is; the exit code.
pub(super) fn finish(dir: &Path, result: &RunResult, quiet: bool) -> Exit {
    if !quiet {
        print!("{}", report::console::render(result));
    }
    let dir = std::path::absolute(dir).unwrap_or(dir.to_path_buf());
    if !quiet {
        println!("report: {}", dir.join("report.html").display());
    }
    println!("run directory: {}", dir.display());
    let _ = std::io::stdout().flush();
    Exit::from_verdict(result.verdict.status)
}

/// `<start time>-<test name>`, and `-seg<i>of<N>` for a segment.
pub(super) fn run_id(plan: &RunPlan, started_at: chrono::DateTime<chrono::Utc>) -> String {
    let segment = match plan.segment.as_ref().map(|s| s.segment) {
        Some(s) if s.is_part() => format!("-seg{}of{}", s.index, s.count),
        _ => String::new(),
    };
    format!(
        "{}-{}{segment}",
        started_at.format("%Y%m%d-%H%M%S"),
        store::slug(&plan.name)
    )
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
pub(super) fn open_run_dir(
    output: &Path,
    run_id: &str,
) -> Result<(PathBuf, String, store::RunLock), store::StoreError> {
    let (dir, run_id) = store::create(output, run_id)?;
    let lock = store::RunLock::take(&dir)?;
    Ok((dir, run_id, lock))
}

/// What a checkpoint needs to write run.json while the run goes.
#[derive(Clone)]
struct Checkpoint {
    plan: Arc<RunPlan>,
    clock: Arc<RunClock>,
    dir: PathBuf,
    started_at: chrono::DateTime<chrono::Utc>,
    meta: RunMeta,
}

/// Writes run.json from what the recorder collected so far, marked `running`
/// and judged INVALID: a run killed outright leaves it (and `gander report`
/// then marks it `killed`).
fn checkpointer(c: Checkpoint) -> Box<dyn FnMut(Collected) + Send> {
    let mut warned = false;
    Box::new(move |collected: Collected| {
        let mut result = partial_result(&c, collected);
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

/// The run so far, from what the recorder collected.
fn partial_result(c: &Checkpoint, mut collected: Collected) -> RunResult {
    let load = record::load_report::finish(&c.plan.load, &c.clock, None, &mut collected);
    let executed = runner::Executed {
        arrivals: None,
        interrupted: None,
        started_at: c.started_at,
        finished_at: chrono::Utc::now(),
        load_started: c.clock.origin(),
        answers: None,
    };
    let mut result = assemble(&c.plan, executed, collected, load, &c.meta);
    result.outcome.reason = Some(format!("{:.0} s into the run", result.phases.total.end_s));
    result
}

/// The SUT's root process: launched, given by pid, or found by name.
fn resolve_sut_pid(
    plan: &RunPlan,
    launched: Option<&sut::launch::Launched>,
) -> Option<Result<u32, sut::process::ProcessError>> {
    use scenario::plan::ProcessSelector;
    Some(match plan.sut.process.as_ref()? {
        ProcessSelector::Launched => launched
            .map(|l| l.pid())
            .ok_or(sut::process::ProcessError::NotLaunched),
        ProcessSelector::Pid(pid) => {
            if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                Ok(*pid)
            } else {
                Err(sut::process::ProcessError::NoSuchPid(*pid))
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
pub(super) fn save_profile(
    dir: &Path,
    capture: profile::Capture,
    result: &RunResult,
    baseline: Option<(&Path, &RunResult)>,
    unwritten: &mut Unwritten,
) -> profile::ProfileReport {
    let svg = capture.flamegraph(&result.plan.name);
    let mut report = capture.report;
    if let Some(window) = report.window {
        report.requests_in_window = result.requests_within(window);
    }
    if let Some((name, bytes)) = &capture.raw
        && unwritten
            .note(store::write_file(dir, name, bytes))
            .is_some()
    {
        report.files.raw = Some(name.clone());
    }
    if let Some(folded) = capture.folded.as_ref().filter(|f| !f.is_empty()) {
        let text = folded.to_text();
        if unwritten
            .note(store::write_file(
                dir,
                profile::FOLDED_FILE,
                text.as_bytes(),
            ))
            .is_some()
        {
            report.files.folded = Some(profile::FOLDED_FILE.into());
        }
    }
    if let Some(svg) = svg
        && unwritten
            .note(store::write_file(dir, profile::FLAMEGRAPH_FILE, &svg))
            .is_some()
    {
        report.files.flamegraph = Some(profile::FLAMEGRAPH_FILE.into());
    }
    if let (Some(current), Some((base_dir, base))) = (capture.folded.as_ref(), baseline) {
        let diff = compare::profile_diff::against(base_dir, base, current, &report, dir);
        report.diff = unwritten.note(diff).flatten();
    }
    report
}

/// Saves the profile (and each labelled name's part of it) and fills the
/// cost figures: overall, per second, per name by labels or by the sweep.
pub(super) fn profile_and_cost(
    dir: &Path,
    (capture, swept): (Option<profile::Capture>, Option<sweep::Swept>),
    base_profile: Option<(&Path, &RunResult)>,
    interval_log: &[u8],
    result: &mut RunResult,
    unwritten: &mut Unwritten,
) {
    let mut labels = None;
    if let Some(mut capture) = capture {
        let by_request = std::mem::take(&mut capture.by_request);
        let mut report = save_profile(dir, capture, result, base_profile, unwritten);
        labels = cost_labels(&by_request, &report, result, interval_log);
        let requests = labels.as_ref().map(|(_, r)| r);
        report.by_request = unwritten
            .note(request_profiles(dir, &by_request, requests, result))
            .unwrap_or_default();
        result.profile = Some(report);
        if let Some(base) = base_profile {
            unwritten.note(compare::profile_diff::fill_by_request(base, dir, result));
        }
    }
    compare::cost::fill(result, labels.as_ref().map(|(s, r)| (s, r)));
    if let Some(swept) = swept {
        unwritten.note(apply_sweep(dir, swept, result));
        if let Some(base) = base_profile {
            unwritten.note(compare::profile_diff::fill_alone(base, dir, result));
        }
    }
}

/// What a profile labelled by request name says, and each name's requests
/// in the profile's window; `None` when no sample carried the label.
fn cost_labels(
    by_request: &std::collections::BTreeMap<String, profile::folded::Folded>,
    report: &profile::ProfileReport,
    result: &RunResult,
    interval_log: &[u8],
) -> Option<(
    compare::cost::LabelShares,
    std::collections::BTreeMap<String, u64>,
)> {
    if by_request.is_empty() || report.samples == 0 {
        return None;
    }
    let shares = compare::cost::LabelShares {
        samples: by_request
            .iter()
            .map(|(name, f)| (name.clone(), f.total()))
            .collect(),
        total: report.samples,
    };
    let requests = compare::cost::requests_by_name(result, interval_log, report.window?);
    Some((shares, requests))
}

/// The sweep's figures on each request name (they replace figures by labels:
/// the sweep was asked for), its profiles saved as flame graphs.
fn apply_sweep(dir: &Path, swept: sweep::Swept, result: &mut RunResult) -> anyhow::Result<()> {
    for note in &swept.notes {
        eprintln!("gander: note: cost sweep: {note}");
    }
    result.cost_sweep = Some(crate::result::cost::CostSweep {
        measured: swept.costs.len(),
        notes: swept.notes.clone(),
    });
    let steady_cpu_s = result.totals.steady.cost.as_ref().map(|c| c.cpu_s);
    for (i, endpoint) in result.endpoints.iter_mut().enumerate() {
        let Some(mut cost) = swept.costs.get(&endpoint.name).cloned() else {
            continue;
        };
        cost.cpu_share = steady_cpu_s.filter(|c| *c > 0.0).map(|cpu| {
            cost.cpu_ms_per_request.value / 1e3 * endpoint.stats.steady.requests as f64 / cpu
        });
        if let (Some(folded), Some(alone)) = (swept.profiles.get(&endpoint.name), &mut cost.alone) {
            let stem = format!("alone-{i}-{}", store::slug(&endpoint.name));
            store::write_file(dir, &format!("{stem}.folded"), folded.to_text().as_bytes())?;
            alone.folded = Some(format!("{stem}.folded"));
            if let Ok(svg) = folded.flamegraph(
                &format!("{}: {} alone", result.plan.name, endpoint.name),
                "the cost sweep: this request name driven alone",
                "samples",
            ) {
                let file = format!("flamegraph-{stem}.svg");
                store::write_file(dir, &file, &svg)?;
                alone.flamegraph = Some(file);
            }
        }
        endpoint.cost = Some(cost);
    }
    Ok(())
}

/// Each labelled request name's folded stacks and flame graph, saved.
fn request_profiles(
    dir: &Path,
    by_request: &std::collections::BTreeMap<String, profile::folded::Folded>,
    requests: Option<&std::collections::BTreeMap<String, u64>>,
    result: &RunResult,
) -> anyhow::Result<Vec<crate::result::profile::RequestProfile>> {
    let run_name = &result.plan.name;
    let mut out = Vec::new();
    // Only the plan's request names: labels the SUT made up get no files.
    let known = by_request
        .iter()
        .filter(|(name, _)| result.endpoints.iter().any(|e| e.name == **name));
    for (i, (name, folded)) in known.enumerate() {
        let stem = format!("request-{i}-{}", store::slug(name));
        let folded_file = format!("{stem}.folded");
        store::write_file(dir, &folded_file, folded.to_text().as_bytes())?;
        let svg_file = format!("flamegraph-{stem}.svg");
        let svg = folded
            .flamegraph(
                &format!("{run_name}: {name}"),
                "samples labelled gander.request by the SUT",
                "samples",
            )
            .ok();
        if let Some(svg) = &svg {
            store::write_file(dir, &svg_file, svg)?;
        }
        out.push(crate::result::profile::RequestProfile {
            name: name.clone(),
            samples: folded.total(),
            requests: requests.and_then(|r| r.get(name)).copied().unwrap_or(0),
            folded: Some(folded_file),
            flamegraph: svg.map(|_| svg_file),
            diff_flamegraph: None,
        });
    }
    Ok(out)
}

/// The git revision of the repository holding the scenario file, if any.
pub(super) fn git_revision(scenario: &Path) -> Option<String> {
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

/// The run's network edge (its TLS, connect timeout, hosts and the
/// environment's proxies); `None` once the error is said.
pub(super) fn network_edge(plan: &RunPlan) -> Option<Arc<crate::net::Edge>> {
    match crate::net::Edge::new(&plan.tls, &plan.net) {
        Ok(edge) => Some(Arc::new(edge)),
        Err(e) => {
            eprintln!("gander: error: TLS: {e}");
            None
        }
    }
}

/// What the run's clock needs of the plan's load.
pub(super) fn planned_load(plan: &crate::scenario::RunPlan) -> PlannedLoad {
    let load = &plan.load;
    PlannedLoad {
        users: load.users,
        steady_length: load.steady_length(),
        steady_window: load.steady_window(),
        open: load.model == crate::scenario::plan::LoadModel::Open,
        scenarios: plan.scenarios.len(),
    }
}
