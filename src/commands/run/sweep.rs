//! The cost sweep (`--cost`, `cost:` in the file): after the load, each
//! request name is driven alone by a few users, and the SUT's CPU (its process
//! tree, read at whole seconds of the sweep's own clock) is divided by the
//! requests of that name completed over exactly those seconds. Nothing of it
//! enters the steady state's figures; its latencies are kept apart as the
//! name's latency alone. With a profiler set, each name gets its own profile.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::RunClock;
use crate::compare::cost::{Unit, per_request};
use crate::profile::folded::Folded;
use crate::record::{Recorder, RecorderConfig};
use crate::result::cost::{Alone, Cost, CostMethod};
use crate::scenario::RunPlan;
use crate::scenario::plan::{CostPlan, ProfilePlan};
use crate::{profile, record, runner, signals, sut};

/// Why one request name could not be measured alone.
#[derive(Debug, thiserror::Error)]
enum SweepError {
    #[error("cannot start a recorder: {0}")]
    Recorder(std::io::Error),
    #[error("cannot start the CPU reader: {0}")]
    Reader(std::io::Error),
    #[error("{0}")]
    Run(runner::RunError),
    #[error("too few requests alone to measure (fewer than 20 in the measured seconds)")]
    TooFew,
}

/// The first second after the users started that counts: the steps before the
/// swept one (a login) run in it.
const SKIP: Duration = Duration::from_secs(1);

/// How one request name's time alone is laid out, counted from when its
/// users started: its CPU is read over `SKIP .. each`, then, when a profiler
/// is set, it is profiled for a while more. A profiler costs the SUT CPU too
/// (py-spy's reads and pauses, a sampler's signals: measured +0.1 ms per 4 ms
/// request under py-spy), which must not be counted as the request's.
#[derive(Clone, Copy)]
struct Windows {
    /// The CPU is read over `SKIP .. SKIP + measured`.
    measured: Duration,
    /// Then the profile, this long (zero without a profiler).
    profiled: Duration,
}

/// The shortest profile of a name alone.
const MIN_PROFILE: Duration = Duration::from_secs(2);

impl Windows {
    fn of(each: Duration, profiled: bool) -> Windows {
        let measured = each.saturating_sub(SKIP).max(SKIP);
        let profile = if profiled {
            (measured / 2).max(MIN_PROFILE)
        } else {
            Duration::ZERO
        };
        Windows {
            measured,
            profiled: profile,
        }
    }

    /// When the profile starts, counted from when the users started.
    fn profile_after(self) -> Duration {
        SKIP + self.measured
    }

    /// How long the name is driven alone.
    fn run(self) -> Duration {
        self.profile_after() + self.profiled
    }
}

/// What the sweep found.
#[derive(Default)]
pub struct Swept {
    pub costs: BTreeMap<String, Cost>,
    /// Each name's profile alone, when a profiler was set.
    pub profiles: BTreeMap<String, Folded>,
    /// Why a name has no figure.
    pub notes: Vec<String>,
}

/// What the sweep needs from the run.
pub struct Setup<'a> {
    pub plan: &'a RunPlan,
    pub cost: CostPlan,
    pub sut_pid: Option<u32>,
    pub profile: Option<ProfilePlan>,
    pub run_id: String,
    pub quiet: bool,
    /// How the profiler reaches a pprof endpoint: the run's TLS and proxies.
    pub edge: Arc<crate::net::Edge>,
}

/// The sweep the plan asks for, unless the run was interrupted.
pub fn after_load(
    plan: &RunPlan,
    sut_pid: Option<Result<u32, crate::sut::process::ProcessError>>,
    run_id: &str,
    quiet: bool,
    edge: Arc<crate::net::Edge>,
) -> Option<Swept> {
    let cost = plan.cost.filter(|_| !signals::interrupted())?;
    Some(run(&Setup {
        plan,
        cost,
        sut_pid: sut_pid.and_then(Result::ok),
        profile: plan.profile.clone(),
        run_id: run_id.to_string(),
        quiet,
        edge,
    }))
}

/// Drives each HTTP request name alone, in the plan's order.
pub fn run(setup: &Setup) -> Swept {
    let mut swept = Swept::default();
    let Some(pid) = setup.sut_pid else {
        swept.notes.push(
            "cost sweep not run: it reads the SUT's CPU from its process tree; give sut: { pid: \
             ... } or --sut-pid"
                .into(),
        );
        return swept;
    };
    for (index, endpoint) in setup.plan.endpoints.iter().enumerate() {
        if signals::interrupted() {
            swept.notes.push("cost sweep interrupted".into());
            break;
        }
        let windows = Windows::of(setup.cost.each, setup.profile.is_some());
        let cost = CostPlan {
            each: windows.run(),
            ..setup.cost
        };
        let Some(alone) = setup.plan.alone(index, cost) else {
            continue;
        };
        if !setup.quiet {
            eprintln!(
                "gander: cost sweep: {} alone for {:.0} s",
                endpoint.name,
                windows.run().as_secs_f64()
            );
        }
        match one(setup, Arc::new(alone), index, pid, windows) {
            Ok((cost, folded)) => {
                if let Some(f) = folded.filter(|f| !f.is_empty()) {
                    swept.profiles.insert(endpoint.name.clone(), f);
                }
                swept.costs.insert(endpoint.name.clone(), cost);
            }
            Err(why) => swept.notes.push(format!("{}: {why}", endpoint.name)),
        }
    }
    swept
}

/// One request name alone: its cost, and its profile.
fn one(
    setup: &Setup,
    plan: Arc<RunPlan>,
    index: usize,
    pid: u32,
    windows: Windows,
) -> Result<(Cost, Option<Folded>), SweepError> {
    let clock = Arc::new(RunClock::for_load(
        &super::planned_load(&plan),
        std::time::Instant::now(),
    ));
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
        record::Saving::default(),
    )
    .map_err(SweepError::Recorder)?;
    let reader = {
        let clock = clock.clone();
        std::thread::Builder::new()
            .name("gander-cost".into())
            .spawn(move || read_cpu(pid, &clock, windows.measured))
            .map_err(SweepError::Reader)?
    };
    let profiler = setup.profile.clone().map(|mut p| {
        p.after = windows.profile_after();
        p.seconds = Some(windows.profiled);
        profile::Profiler::start(
            p,
            profile::Target {
                root: Ok(pid),
                edge: setup.edge.clone(),
            },
            clock.clone(),
        )
    });
    let options = runner::RunOptions {
        silence_stdout: true,
        start_at: None,
        run_id: Some(setup.run_id.clone()),
        alternation: None,
    };
    let executed = runner::execute(plan.clone(), clock.clone(), recorder.sender(), &options);
    let collected = recorder.finish();
    let readings = reader.join().unwrap_or_default();
    let capture = profiler.map(profile::Profiler::finish);
    executed.map_err(SweepError::Run)?;
    let profile_window = capture.as_ref().and_then(|c| c.report.window);
    let cost = measured_cost(&plan, index, &collected, &readings, profile_window)?;
    Ok((cost, capture.and_then(|c| c.folded)))
}

/// One request name's cost alone: its CPU readings over its requests in the
/// same seconds, its latency alone, and its requests in `profile_window`.
fn measured_cost(
    plan: &RunPlan,
    index: usize,
    collected: &record::Collected,
    readings: &[(f64, f64)],
    profile_window: Option<crate::result::Window>,
) -> Result<Cost, SweepError> {
    let name = &plan.endpoints[index].name;
    let requests = requests_per_second(collected, index, name);
    let units: Vec<Unit> = readings
        .windows(2)
        .map(|w| Unit {
            cpu_s: w[1].1,
            requests: requests.get(&(w[0].0 as u64)).copied().unwrap_or(0) as f64,
        })
        .collect();
    let figure = per_request(&units).ok_or(SweepError::TooFew)?;
    let stats = &collected.endpoints[index].all;
    let profiled_requests = profile_window.map(|w| {
        requests
            .range(w.start_s.floor() as u64..w.end_s.ceil() as u64)
            .map(|(_, n)| n)
            .sum()
    });
    Ok(Cost {
        cpu_ms_per_request: figure,
        method: CostMethod::Sweep,
        requests: units.iter().map(|u| u.requests).sum::<f64>() as u64,
        cpu_s: units.iter().map(|u| u.cpu_s).sum(),
        cpu_share: None,
        cpu_source: "process".into(),
        alone: Some(Alone {
            start_s: readings.first().map_or(0.0, |r| r.0),
            end_s: readings.last().map_or(0.0, |r| r.0),
            users: plan.load.users,
            requests: stats.requests,
            failed: stats.failed,
            p50_ms: stats.latency_ms.map(|l| l.p50),
            p95_ms: stats.latency_ms.map(|l| l.p95),
            flamegraph: None,
            folded: None,
            profiled_requests,
            diff_flamegraph: None,
        }),
    })
}

/// Requests of request name `index` completed in each second of the sweep:
/// answered well (the interval log) and failed (the series).
fn requests_per_second(
    collected: &record::Collected,
    index: usize,
    name: &str,
) -> BTreeMap<u64, u64> {
    let tag = format!("e{index}");
    let mut out: BTreeMap<u64, u64> = BTreeMap::new();
    for (t, found, hist) in crate::hist::interval_histograms(&collected.interval_log) {
        if found == tag {
            *out.entry(t).or_default() += hist.len();
        }
    }
    for p in &collected.timeseries {
        if let Some(n) = p.errors_by_name.get(name) {
            *out.entry(p.t).or_default() += n;
        }
    }
    out
}

/// The SUT's CPU seconds in each whole second of the sweep's clock, from one
/// second after every user started to `measured` later (or the last whole
/// second before the load ended): `(second, CPU seconds since the previous
/// reading)`, the first 0.
fn read_cpu(pid: u32, clock: &RunClock, measured: Duration) -> Vec<(f64, f64)> {
    let mut sampler = sut::process::TreeSampler::new(pid, true);
    let started = loop {
        if let (Some(start), _) = clock.steady() {
            break start;
        }
        if clock.finished() {
            return Vec::new();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let ends = clock
        .planned_duration()
        .map(|d| started + d.min(SKIP + measured))
        .unwrap_or_else(Instant::now);
    let first = (clock.seconds_since_start(started + SKIP)).ceil() as u64;
    let mut readings = Vec::new();
    let mut second = first;
    let mut last: Option<Instant> = None;
    loop {
        let at = clock.t0 + Duration::from_secs(second);
        if at > ends || clock.finished() {
            break;
        }
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        let Ok(sample) = sampler.sample() else { break };
        let now = Instant::now();
        // The first reading only sets the starting point.
        let cpu_s = match (sample.cpu_percent, last) {
            (Some(p), Some(then)) => p / 100.0 * (now - then).as_secs_f64(),
            _ => 0.0,
        };
        last = Some(now);
        readings.push((second as f64, cpu_s));
        second += 1;
    }
    readings
}
