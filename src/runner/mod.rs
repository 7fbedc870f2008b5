//! Drives goose: one goose scenario per scenario in the plan, one transaction
//! per step, users recording every request into the recorder.

mod answers;
mod arrivals;
pub mod baggage;
mod body_scan;
mod cookies;
mod fail;
mod http;
pub mod pacing;
mod quiet;
pub mod sample;
pub mod schedule;
pub mod sides;
mod sse;
mod telegram;
mod transport;
mod user;
mod ws;

use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{Scenario, Transaction, TransactionFunction};
use goose::prelude::GooseAttack;

use crate::clock::RunClock;
use crate::scenario::RunPlan;
use crate::scenario::plan::{LoadEnd, LoadModel, StepPlan};
use crate::scenario::segment::Segment;
use crate::signals;
use arrivals::Arrivals;
pub use arrivals::Tally;
use sample::SampleSender;
use schedule::Schedule;
use user::{Prepared, RunShared, StepKind};

/// Why an open run's users stop: the schedule is over.
const SCHEDULE_ENDED: &str = "the arrival schedule ended";
/// How long an open run waits for its whole pool to log in before the schedule starts anyway.
const POOL_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long goose may take to stop its users after a signal.
const STOP_GRACE: Duration = Duration::from_secs(1);
/// How long background WebSockets may take to close when the run ends.
const SOCKETS_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Point stdout at /dev/null while goose runs (the CLI does; tests do not).
    pub silence_stdout: bool,
    /// `--start-at`: the load starts at this instant (the closed model's first
    /// user, the open model's schedule), not before.
    pub start_at: Option<Instant>,
    /// `gander ab`: a second origin, and which side new iterations go to.
    pub alternation: Option<Arc<sides::Alternation>>,
    /// The run's id, named in the `baggage` header (when the plan sends it);
    /// under `gander ab` the baseline's (the candidate's is in `alternation`).
    pub run_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("goose refused the load test: {0}")]
    Goose(String),
    #[error("the host {host} is not a URL: {reason}")]
    Host { host: String, reason: String },
    #[error("cannot set up TLS: {0}")]
    Tls(crate::net::tls::TlsError),
    #[error(transparent)]
    Sink(#[from] crate::sink::BindError),
}

/// How the run went, apart from the samples (those went to the recorder).
pub struct Executed {
    /// Open model: what happened to the scheduled iterations.
    pub arrivals: Option<Tally>,
    pub interrupted: Option<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: chrono::DateTime<chrono::Utc>,
    /// When the load began: the first user's start, or the schedule's first dispatch.
    pub load_started: Option<Instant>,
    /// What the servers gander served saw, and the event streams read.
    pub answers: Option<crate::result::answers::AnswersReport>,
}

/// Runs the plan's users to the end. `clock` is the run's time axis; the
/// profiler and the SUT monitor watch the same one.
pub fn execute(
    plan: Arc<RunPlan>,
    clock: Arc<RunClock>,
    samples: SampleSender,
    options: &RunOptions,
) -> Result<Executed, RunError> {
    quiet::install_logger();
    signals::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gander-user")
        .build()
        .map_err(RunError::Runtime)?;

    let arrivals = open_arrivals(&plan, &clock);
    let shared = share(&plan, &clock, samples, options, &arrivals, &runtime)?;

    let started_at = chrono::Utc::now();

    let outcome = {
        let _silence = options
            .silence_stdout
            .then(quiet::StdoutSilencer::new)
            .flatten();
        runtime.block_on(drive_users(&plan, &clock, options, &shared, &arrivals))
    };
    clock.mark_finished();
    let answers = shared.answers.report(&plan);
    // The users' sample senders go with `shared`: the recorder can then finish.
    drop(shared);
    runtime.shutdown_timeout(Duration::from_millis(500));
    let (arrivals, dispatched) = outcome?;
    Ok(Executed {
        arrivals,
        interrupted: signals::interrupt_reason(),
        started_at,
        finished_at: chrono::Utc::now(),
        load_started: dispatched.or_else(|| clock.origin()),
        answers,
    })
}

/// The open model's arrivals, one schedule per scenario by weight; none for
/// the closed model.
fn open_arrivals(plan: &RunPlan, clock: &Arc<RunClock>) -> Vec<Arc<Arrivals>> {
    match plan.load.model {
        LoadModel::Closed => Vec::new(),
        LoadModel::Open => {
            // A segment dispatches its stripe of the whole plan's schedule.
            let (stages, segment) = match &plan.segment {
                Some(s) => (&s.whole.stages, s.segment),
                None => (&plan.load.stages, Segment::WHOLE),
            };
            let weights: usize = plan.scenarios.iter().map(|s| s.weight).sum();
            plan.scenarios
                .iter()
                .map(|s| {
                    let share = s.weight as f64 / weights.max(1) as f64;
                    let schedule = Schedule::new(stages, share);
                    Arc::new(Arrivals::new(schedule, segment, clock.clone()))
                })
                .collect()
        }
    }
}

/// What every user shares: the hosts, the transport, the bound answer sinks.
fn share(
    plan: &Arc<RunPlan>,
    clock: &Arc<RunClock>,
    samples: SampleSender,
    options: &RunOptions,
    arrivals: &[Arc<Arrivals>],
    runtime: &tokio::runtime::Runtime,
) -> Result<Arc<RunShared>, RunError> {
    let base = url::Url::parse(&plan.host).map_err(|e| RunError::Host {
        host: plan.host.clone(),
        reason: e.to_string(),
    })?;
    let transport = transport::Transport::new(plan).map_err(RunError::Tls)?;
    // Bound before the first user starts: a port in use fails the run now.
    let sinks = if plan.answers.is_empty() {
        None
    } else {
        let _inside = runtime.enter();
        Some(crate::sink::Sinks::start(&plan.answers)?)
    };
    let candidate_base = match &options.alternation {
        Some(a) => Some(
            url::Url::parse(&a.candidate_host).map_err(|e| RunError::Host {
                host: a.candidate_host.clone(),
                reason: e.to_string(),
            })?,
        ),
        None => None,
    };
    Ok(Arc::new(RunShared {
        plan: plan.clone(),
        samples,
        clock: clock.clone(),
        arrivals: arrivals.to_vec(),
        base,
        candidate_base,
        alternation: options.alternation.clone(),
        transport,
        sockets: ws::RunSockets::default(),
        next_user: plan
            .scenarios
            .iter()
            .map(|_| std::sync::atomic::AtomicUsize::new(0))
            .collect(),
        answers: answers::RunAnswers {
            sinks,
            streams: Default::default(),
        },
        baggage_run: options.run_id.clone().filter(|_| plan.baggage),
    }))
}

/// Runs goose (and the open model's schedule) until the load ends or a
/// signal stops it; gives the schedule's tally and when it dispatched first.
async fn drive_users(
    plan: &RunPlan,
    clock: &Arc<RunClock>,
    options: &RunOptions,
    shared: &Arc<RunShared>,
    arrivals: &[Arc<Arrivals>],
) -> Result<(Option<Tally>, Option<Instant>), RunError> {
    // goose resets its killswitch when a run starts: keep re-arming it
    // for as long as a signal has been seen.
    let watcher = tokio::spawn(async {
        loop {
            if let Some(reason) = signals::interrupt_reason() {
                goose::trigger_killswitch(&reason);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let schedule = (!arrivals.is_empty()).then(|| {
        tokio::spawn(run_schedule(
            arrivals.to_vec(),
            clock.clone(),
            plan.load.users,
            longest_timeout(plan),
            options.start_at,
        ))
    });
    // The closed model's users start at the common start.
    if schedule.is_none()
        && let Some(at) = options.start_at
    {
        wait_until(at).await;
    }
    let result = attack(plan, shared.clone());
    let result = match result {
        Ok(attack) => tokio::select! {
            done = attack.execute() => done
                .map(|_| ())
                .map_err(|e| RunError::Goose(e.to_string())),
            () = signalled_for(STOP_GRACE) => Ok(()),
        },
        Err(e) => Err(e),
    };
    watcher.abort();
    // Background WebSockets close and report before the recorder stops.
    shared.sockets.close_all(SOCKETS_GRACE).await;
    let tally = match schedule {
        Some(handle) => {
            // goose can end on its own (an error): the schedule must not outlive it.
            if !goose::is_killswitch_triggered() {
                goose::trigger_killswitch(SCHEDULE_ENDED);
            }
            handle.await.ok()
        }
        None => None,
    };
    result.map(|()| tally.unzip())
}

/// Sleeps until `at`, or until a signal ends the run.
async fn wait_until(at: Instant) {
    while !signals::interrupted() {
        let now = Instant::now();
        if now >= at {
            break;
        }
        tokio::time::sleep((at - now).min(Duration::from_millis(100))).await;
    }
}

/// Resolves once a signal has been seen for `grace`. goose stops its users one
/// by one (thousands took a minute); past the grace gander leaves the users
/// behind (the runtime drops them) and keeps what they recorded.
async fn signalled_for(grace: Duration) {
    while !signals::interrupted() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(grace).await;
}

/// The open model's schedule: waits for the pool to be ready, hands out every
/// scenario's iterations, lets the last ones finish, then ends the run.
/// With `start_at` the schedule starts then, the pool ready or not (late
/// iterations then show as late). Returns the tally and when dispatching began.
async fn run_schedule(
    arrivals: Vec<Arc<Arrivals>>,
    clock: Arc<RunClock>,
    pool: usize,
    drain: Duration,
    start_at: Option<Instant>,
) -> (Tally, Instant) {
    let over = || goose::is_killswitch_triggered() || signals::interrupted();
    // Every user started and through its on_start steps (logins), or a minute gone.
    let waiting = Instant::now();
    while !over()
        && waiting.elapsed() < POOL_READY_TIMEOUT
        && (clock.started_users() < pool
            || arrivals.iter().map(|a| a.idle_users()).sum::<usize>() < pool)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // On time, the schedule counts from the common start itself, so segments'
    // schedules line up; late, from now (a late start is recorded, not rushed).
    let early = start_at.filter(|at| Instant::now() < *at);
    if let Some(at) = early {
        wait_until(at).await;
    }
    let dispatched = Instant::now();
    let origin = early.unwrap_or(dispatched);
    clock.set_origin(origin);
    futures::future::join_all(arrivals.iter().map(|a| a.dispatch(origin, over))).await;
    // Let the iterations in flight and in the backlog finish, up to one request timeout.
    let draining = Instant::now();
    while !over() && draining.elapsed() < drain && !arrivals.iter().all(|a| a.drained()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut tally = Tally::new();
    for a in &arrivals {
        tally.merge(&a.close());
    }
    goose::trigger_killswitch(SCHEDULE_ENDED);
    (tally, dispatched)
}

fn longest_timeout(plan: &RunPlan) -> Duration {
    plan.scenarios
        .iter()
        .flat_map(|s| s.all_steps())
        .map(StepPlan::timeout)
        .max()
        .unwrap_or(crate::scenario::DEFAULT_TIMEOUT)
}

/// goose's configuration; `staged` when goose's test plan sets the users and time.
fn goose_config(plan: &RunPlan, staged: bool) -> GooseConfiguration {
    let mut config = GooseConfiguration::default();
    config.host = Some(plan.host.clone());
    config.no_telnet = true;
    config.no_websocket = true;
    config.quiet = 1;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    // gander records every request itself; goose's metrics would only cost time.
    config.no_metrics = true;
    config.timeout = Some(longest_timeout(plan).as_secs().max(1).to_string());
    let load = &plan.load;
    if staged {
        return config;
    }
    let users = load.users;
    config.users = Some(users);
    // goose starts at most `increase_rate` users a second; "all at once" is a very high rate.
    let rate = if load.ramp_up.is_zero() {
        (users as f64 * 1000.0).max(1000.0)
    } else {
        users as f64 / load.ramp_up.as_secs_f64()
    };
    config.increase_rate = Some(format!("{rate}"));
    match (load.model, load.end) {
        // The open model's schedule ends the run (`run_schedule`).
        (LoadModel::Open, _) => {}
        // goose counts run_time from the moment every user has started.
        (LoadModel::Closed, LoadEnd::Duration(d)) => {
            config.run_time = Some(d.as_secs().to_string())
        }
        (LoadModel::Closed, LoadEnd::Iterations(n)) => config.iterations = Some(n as usize),
    }
    config
}

/// A staged closed load as goose's test plan: each step ramps linearly to its
/// users over its whole seconds; a final step stops whoever is left.
fn test_plan(plan: &RunPlan) -> Option<String> {
    let load = &plan.load;
    if load.model != LoadModel::Closed || load.stages.is_empty() {
        return None;
    }
    let mut steps: Vec<String> = load
        .stages
        .iter()
        .map(|s| format!("{},{}", s.target as usize, s.written.as_secs()))
        .collect();
    if load.stages.last().is_some_and(|s| s.target > 0.0) {
        steps.push("0,0".into());
    }
    Some(steps.join(";"))
}

fn transaction(shared: &Arc<RunShared>, step: &StepPlan, kind: StepKind) -> Transaction {
    let shared = shared.clone();
    let baggage_of = |run: Option<&str>| match (step, run) {
        (StepPlan::Http(r), Some(run)) => baggage::value(
            &shared.plan.endpoints[r.endpoint].name,
            &shared.plan.scenarios[r.scenario].name,
            run,
        ),
        _ => None,
    };
    let baggage = baggage_of(shared.baggage_run.as_deref());
    // One preparation per side: choosing a side is an index, not a parse.
    let mut sides = vec![Prepared::prepare(step, &shared.base, baggage.clone())];
    if let Some(base) = &shared.candidate_base {
        // `gander ab`: the candidate's requests name the candidate's run.
        let candidate_run = (shared.alternation.as_ref())
            .and_then(|a| a.candidate_run_id.as_deref())
            .filter(|_| shared.baggage_run.is_some());
        let baggage = candidate_run.map_or(baggage, |run| baggage_of(Some(run)));
        sides.push(Prepared::prepare(step, base, baggage));
    }
    let step: Arc<[Prepared]> = sides.into();
    let function: TransactionFunction = Arc::new(move |user| {
        let shared = shared.clone();
        let step = step.clone();
        Box::pin(async move { user::run_step(user, &shared, &step, kind).await })
    });
    Transaction::new(function)
}

fn attack(plan: &RunPlan, shared: Arc<RunShared>) -> Result<GooseAttack, RunError> {
    let goose_err = |e: goose::GooseError| RunError::Goose(e.to_string());
    let steps = test_plan(plan);
    // gander sends through each user's own clients (`user::Clients`): goose's
    // users share one client they never use, instead of building one each
    // before the first user starts (200k users took minutes and gigabytes,
    // deaf to SIGTERM all along).
    let mut attack = GooseAttack::initialize_with_config(goose_config(plan, steps.is_some()))
        .map_err(goose_err)?
        .set_client_builder_without_cookies(
            goose::client::GooseClientBuilder::new().without_cookies(),
        )
        .map_err(goose_err)?;
    if let Some(steps) = steps {
        attack = *attack
            .set_default(GooseDefault::TestPlan, steps.as_str())
            .map_err(goose_err)?;
    }
    // The open model's users think between the steps of an iteration only (in `user`).
    let goose_waits = plan.load.model == LoadModel::Closed;
    for (index, sc) in plan.scenarios.iter().enumerate() {
        // A segment's goose deals each scenario exactly its share of users.
        let weight = match &plan.segment {
            Some(s) if s.segment.is_part() => s.users_by_scenario[index],
            _ => sc.weight,
        };
        if weight == 0 {
            continue;
        }
        let mut scenario = Scenario::new(&sc.name)
            .set_weight(weight)
            .map_err(goose_err)?;
        if let Some((min, max)) = sc.think_time
            && !max.is_zero()
            && goose_waits
        {
            scenario = scenario.set_wait_time(min, max).map_err(goose_err)?;
        }
        let start_shared = shared.clone();
        let start: TransactionFunction = Arc::new(move |user| {
            let shared = start_shared.clone();
            Box::pin(async move { user::start_user(user, &shared, index).await })
        });
        scenario =
            scenario.register_transaction(Transaction::new(start).set_on_start().set_sequence(1));
        for (i, step) in sc.on_start.iter().enumerate() {
            scenario = scenario.register_transaction(
                transaction(&shared, step, StepKind::OnStart)
                    .set_on_start()
                    .set_sequence(i + 2),
            );
        }
        for (i, step) in sc.steps.iter().enumerate() {
            let kind = match (i == 0, i + 1 == sc.steps.len()) {
                (true, true) => StepKind::OnlyStep,
                (true, false) => StepKind::FirstStep,
                (false, true) => StepKind::LastStep,
                (false, false) => StepKind::Step,
            };
            scenario =
                scenario.register_transaction(transaction(&shared, step, kind).set_sequence(i + 1));
        }
        for (i, step) in sc.on_stop.iter().enumerate() {
            scenario = scenario.register_transaction(
                transaction(&shared, step, StepKind::OnStop)
                    .set_on_stop()
                    .set_sequence(i + 1),
            );
        }
        attack = attack.register_scenario(scenario);
    }
    Ok(attack)
}
