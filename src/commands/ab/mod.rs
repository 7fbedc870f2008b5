//! `gander ab FILE --baseline-host URL --candidate-host URL`: the baseline
//! and the candidate in one run, the same plan and users alternating between
//! them in blocks (ABBA BAAB …), each side saved as an ordinary run, and a
//! paired verdict from neighbouring blocks.

mod args;
mod conclude;
mod outcome;
mod pace;
mod sides;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::print_scenario_error;
use super::run::assemble::RunMeta;
use crate::clock::RunClock;
use crate::compare;
use crate::profile::{self, Profiler};
use crate::record::blocks::{self, BlockPlan};
use crate::record::{Collected, Recorder, RecorderConfig};
use crate::result::ab::SIDE_NAMES;
use crate::runner::sides::Alternation;
use crate::scenario::plan::{LoadEnd, StepPlan};
use crate::scenario::{Overrides, RunPlan};
use crate::{Exit, record, runner, scenario, signals, store, sut};
pub use args::AbArgs;
pub use sides::SideSpec;
use sides::{Side, SideError};

/// The block length unless `--block` says: long enough for a few hundred
/// requests per block at the demo's load, short enough that a 2-minute run
/// holds 25 pairs (docs/ab.md, "Choosing the block").
pub const DEFAULT_BLOCK: Duration = Duration::from_secs(2);

/// `gander ab`, as the CLI and the tests ask for it.
#[derive(Debug, Clone)]
pub struct AbRequest {
    pub file: PathBuf,
    /// Flags laid over the file (users, duration, targets…); its host is the baseline's.
    pub overrides: Overrides,
    pub baseline: SideSpec,
    pub candidate: SideSpec,
    /// The length of one block.
    pub block: Option<Duration>,
    /// Both sides' warm-up before the first block (default: the ramp-up and two blocks).
    pub warm_up: Option<Duration>,
    /// The path (below each host) that answers 2xx once a launched side is ready.
    pub ready: String,
    /// A regression limit for every figure, e.g. `20%`.
    pub max_regression: Option<f64>,
    pub output: PathBuf,
    pub quiet: bool,
}

/// Why a plan cannot run as an A/B comparison, found before anything starts.
fn plan_problem(plan: &RunPlan, block: Duration, warm_up: Duration) -> Option<String> {
    let ws = plan
        .scenarios
        .iter()
        .flat_map(|s| s.all_steps())
        .any(|s| matches!(s, StepPlan::Ws(_)));
    if ws {
        return Some(
            "gander ab does not drive WebSocket steps yet (a socket cannot change sides between \
             blocks): run the HTTP steps in a scenario of their own"
                .into(),
        );
    }
    if !plan.answers.is_empty() {
        return Some(
            "gander ab does not serve sink: or telegram: yet (one server cannot tell which side \
             called it back): compare those steps with gander run --baseline"
                .into(),
        );
    }
    if plan.segment.is_some() {
        return Some("gander ab takes no --segment: run it on one generator".into());
    }
    let Some(total) = planned(plan) else {
        return Some(
            "gander ab needs a load of some duration (load.duration or --duration), not a count \
             of iterations: it alternates the sides in blocks of time"
                .into(),
        );
    };
    let blocks = total.saturating_sub(warm_up).as_secs_f64() / block.as_secs_f64();
    if blocks > blocks::MAX_BLOCKS as f64 {
        return Some(format!(
            "{total:?} of load holds {blocks:.0} blocks of {block:?}, more than the {} gander \
             ab keeps: give a longer --block",
            blocks::MAX_BLOCKS
        ));
    }
    let needed = 2 * compare::paired::MIN_PAIRS;
    (blocks < needed as f64).then(|| {
        format!(
            "{total:?} of load holds {blocks:.0} blocks of {block:?} after the {warm_up:?} \
             warm-up; a verdict needs at least {needed} ({} pairs): give a longer --duration \
             or a shorter --block",
            compare::paired::MIN_PAIRS
        )
    })
}

/// The longest request timeout of any step.
fn longest_timeout(plan: &RunPlan) -> Duration {
    plan.scenarios
        .iter()
        .flat_map(|s| s.all_steps())
        .map(StepPlan::timeout)
        .max()
        .unwrap_or(scenario::DEFAULT_TIMEOUT)
}

/// The planned length of the load: stages sum to `end`; a flat load ramps up first.
fn planned(plan: &RunPlan) -> Option<Duration> {
    match plan.load.end {
        LoadEnd::Duration(d) if plan.load.stages.is_empty() => Some(plan.load.ramp_up + d),
        LoadEnd::Duration(d) => Some(d),
        LoadEnd::Iterations(_) => None,
    }
}

/// Loads the plan with the baseline's host; `Err` is the exit code.
fn load(args: &AbRequest) -> Result<(Arc<RunPlan>, Duration, Duration), Exit> {
    let mut overrides = args.overrides.clone();
    overrides.host = Some(args.baseline.host.clone());
    let plan = scenario::load(&args.file, &overrides).map_err(|e| {
        print_scenario_error(&e);
        Exit::Usage
    })?;
    if let Err(e) = url::Url::parse(&args.candidate.host) {
        eprintln!(
            "gander: error: --candidate-host {}: not a URL ({e}); give e.g. http://127.0.0.1:8081",
            plan.secrets.url(&args.candidate.host)
        );
        return Err(Exit::Usage);
    }
    let block = args.block.unwrap_or(DEFAULT_BLOCK);
    let warm_up = args.warm_up.unwrap_or(plan.load.ramp_up + 2 * block);
    if let Some(problem) = plan_problem(&plan, block, warm_up) {
        eprintln!("gander: error: {problem}");
        return Err(Exit::Usage);
    }
    Ok((Arc::new(plan), block, warm_up))
}

/// Starts both sides; a side that cannot start stops the other (by drop).
fn start_sides(
    args: &AbRequest,
    plan: &RunPlan,
    edge: Arc<crate::net::Edge>,
) -> Result<[Side; 2], SideError> {
    let ready = |host: &str| format!("{}{}", host.trim_end_matches('/'), args.ready);
    let baseline = Side::start(
        0,
        args.baseline.clone(),
        ready(&args.baseline.host),
        &plan.secrets,
        edge.clone(),
    )?;
    let candidate = Side::start(
        1,
        args.candidate.clone(),
        ready(&args.candidate.host),
        &plan.secrets,
        edge,
    )?;
    Ok([baseline, candidate])
}

/// `gander schema --ab`: the JSON Schema of ab.json.
pub fn print_schema() -> anyhow::Result<Exit> {
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::result::ab::json_schema())?
    );
    Ok(Exit::Pass)
}

/// Runs `gander ab`.
pub fn ab(args: &AbRequest) -> anyhow::Result<Exit> {
    let (plan, block, warm_up) = match load(args) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let started_at = chrono::Utc::now();
    let run_id = format!("{}-ab", super::run::run_id(&plan, started_at));
    let (dir, run_id, lock) = match super::run::open_run_dir(&args.output, &run_id) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("gander: error: {e}: give --output a directory gander can write to");
            return Ok(Exit::Usage);
        }
    };
    for side in SIDE_NAMES {
        std::fs::create_dir_all(dir.join(side))?;
    }
    signals::install();
    let Some(edge) = super::run::network_edge(&plan) else {
        return Ok(Exit::Usage);
    };
    let mut sides = match start_sides(args, &plan, edge) {
        Ok(sides) => sides,
        Err(e) => {
            eprintln!("gander: error: {e}");
            drop(lock);
            let _ = std::fs::remove_dir_all(&dir);
            return Ok(Exit::Usage);
        }
    };
    if !args.quiet {
        for side in &sides {
            if let Some(pid) = side.pid {
                eprintln!("gander: {} is pid {pid}", side.name());
            }
        }
    }
    let meta = RunMeta {
        run_id: run_id.clone(),
        git_revision: super::run::git_revision(&plan.source),
        scenario_sha256: scenario::files::sha256(&plan.source),
        start: None,
    };
    let measured = measure(&plan, &mut sides, &dir, &run_id, block, warm_up, args.quiet);
    let logs: Vec<Option<Vec<u8>>> = sides.iter_mut().map(Side::stop).collect();
    let measured = measured?;
    for (side, log) in SIDE_NAMES.iter().zip(logs) {
        if let Some(log) = log {
            store::write_file(&dir.join(side), sut::launch::LOG_FILE, &log)?;
        }
    }
    let result = conclude::conclude(args, &plan, &sides, measured, &meta, &dir)?;
    drop(lock);
    Ok(conclude::finish(&dir, &result, args.quiet))
}

/// What the measuring part of the run hands on.
struct Measured {
    executed: runner::Executed,
    collected: [Collected; 2],
    resources: [crate::result::resources::ResourceReport; 2],
    captures: [Option<profile::Capture>; 2],
    tally: blocks::Tally,
    cpu_at: pace::CpuAt,
    plan: BlockPlan,
    clock: Arc<RunClock>,
}

/// A side's recorder, saving its logs in the side's folder.
fn recorder(plan: &RunPlan, clock: &Arc<RunClock>, dir: &Path) -> std::io::Result<Recorder> {
    let saving = record::Saving {
        interval_log: std::fs::File::create(dir.join(store::INTERVAL_LOG)).ok(),
        header_log: std::fs::File::create(dir.join(store::HEADER_LOG)).ok(),
        checkpoint: None,
        every_second: None,
    };
    Recorder::start(
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
}

/// The side's process, sampled as `sut.pid` would be.
fn monitor(side: &Side, clock: &Arc<RunClock>, plan: &RunPlan) -> sut::Monitor {
    let pid = side.pid;
    sut::Monitor::start(
        sut::MonitorSetup {
            plan: crate::scenario::plan::SutPlan {
                process: pid.map(crate::scenario::plan::ProcessSelector::Pid),
                interval: plan.sut.interval,
                secrets: plan.secrets.clone(),
                ..Default::default()
            },
            pid: pid.map(Ok),
            // Both sides run here: neither side's CPU may count as a neighbour's.
            sut_unplaced: pid.is_none(),
            edge: side.edge.clone(),
            so_far: None,
        },
        clock.clone(),
    )
}

/// The file's profiler on one side's process; a pprof URL moved to the
/// candidate's host when `host` is given.
fn profiler(
    plan: &RunPlan,
    side: &Side,
    clock: &Arc<RunClock>,
    host: Option<&str>,
) -> Option<Profiler> {
    let mut p = plan.profile.clone()?;
    if let (Some(host), crate::scenario::plan::ProfileSource::Pprof { url }) = (host, &mut p.source)
        && let Some(path) = url.strip_prefix(plan.host.trim_end_matches('/'))
    {
        *url = format!("{}{path}", host.trim_end_matches('/'));
    }
    let root = side.pid.ok_or(crate::sut::process::ProcessError::Unknown);
    Some(Profiler::start(
        p,
        profile::Target {
            root,
            edge: side.edge.clone(),
        },
        clock.clone(),
    ))
}

/// Drives the users over both sides, pacing the blocks, until the load ends.
fn measure(
    plan: &Arc<RunPlan>,
    sides: &mut [Side; 2],
    dir: &Path,
    run_id: &str,
    block: Duration,
    warm_up: Duration,
    quiet: bool,
) -> anyhow::Result<Measured> {
    let clock = Arc::new(RunClock::for_load(
        &super::run::planned_load(plan),
        std::time::Instant::now(),
    ));
    let recorders = [
        recorder(plan, &clock, &dir.join(SIDE_NAMES[0]))?,
        recorder(plan, &clock, &dir.join(SIDE_NAMES[1]))?,
    ];
    let monitors = [
        monitor(&sides[0], &clock, plan),
        monitor(&sides[1], &clock, plan),
    ];
    let block_plan = BlockPlan {
        start: Instant::now() + warm_up,
        len: block,
        warm_up,
    };
    let (users, splitter) = blocks::split(
        block_plan,
        (plan.endpoints.len(), plan.server_header_labels.len()),
        longest_timeout(plan),
        [recorders[0].sender(), recorders[1].sender()],
    )?;
    let alternation = Arc::new(Alternation::new(
        sides[1].spec.host.clone(),
        Some(conclude::side_run_id(run_id, sides[1].name())),
    ));
    let options = runner::RunOptions {
        // Each side's requests name that side's run in their `baggage` header.
        run_id: Some(conclude::side_run_id(run_id, sides[0].name())),
        silence_stdout: true,
        start_at: None,
        alternation: Some(alternation.clone()),
    };
    if !quiet {
        eprintln!(
            "gander: warming both sides up for {:.0} s, then blocks of {:.1} s (ABBA BAAB …)",
            warm_up.as_secs_f64(),
            block.as_secs_f64()
        );
    }
    let (runner_plan, runner_clock) = (plan.clone(), clock.clone());
    let profilers = [
        profiler(plan, &sides[0], &clock, None),
        profiler(plan, &sides[1], &clock, Some(&sides[1].spec.host)),
    ];
    let users_thread = std::thread::Builder::new()
        .name("gander-ab-users".into())
        .spawn(move || runner::execute(runner_plan, runner_clock, users, &options))?;
    let cpu_at = pace::pace(
        &block_plan,
        &alternation,
        sides,
        &|| users_thread.is_finished(),
        quiet,
    );
    let executed = users_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the users' thread panicked"))??;
    let tally = splitter
        .join()
        .map_err(|_| anyhow::anyhow!("the splitter thread panicked"))?;
    let [r0, r1] = recorders;
    let [m0, m1] = monitors;
    let [p0, p1] = profilers;
    Ok(Measured {
        captures: [p0.map(Profiler::finish), p1.map(Profiler::finish)],
        executed,
        collected: [r0.finish(), r1.finish()],
        resources: [m0.finish(), m1.finish()],
        tally,
        cpu_at,
        plan: block_plan,
        clock,
    })
}
