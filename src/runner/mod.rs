//! Drives goose: one goose scenario per scenario in the plan, one transaction
//! per step, users recording every request into the recorder.

mod progress;
pub mod signals;
mod user;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::goose::{Scenario, Transaction, TransactionFunction};
use goose::prelude::GooseAttack;

use crate::record::clock::RunClock;
use crate::record::{Collected, Recorder, RecorderConfig};
use crate::scenario::RunPlan;
use crate::scenario::plan::{LoadEnd, RequestPlan};
use user::{RunShared, StepKind};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Point stdout at /dev/null while goose runs (the CLI does; tests do not).
    pub silence_stdout: bool,
    /// Draw the live progress line on stderr.
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("goose refused the load test: {0}")]
    Goose(String),
}

/// What the run produced, with how it ended.
pub struct Executed {
    pub collected: Collected,
    pub interrupted: Option<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: chrono::DateTime<chrono::Utc>,
}

/// Runs the plan's users to the end. `clock` is the run's time axis; the
/// profiler and the SUT monitor watch the same one.
pub fn execute(
    plan: Arc<RunPlan>,
    clock: Arc<RunClock>,
    options: &RunOptions,
) -> Result<Executed, RunError> {
    signals::install_logger();
    signals::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gander-user")
        .build()
        .map_err(RunError::Runtime)?;

    let recorder = Recorder::start(
        RecorderConfig {
            endpoints: plan.endpoints.iter().map(|e| e.name.clone()).collect(),
            scenarios: plan.scenarios.len(),
            header_labels: plan.server_header_labels.clone(),
            error_samples: plan.error_samples,
        },
        clock.clone(),
    );
    let shared = Arc::new(RunShared {
        plan: plan.clone(),
        samples: recorder.sender(),
        clock: clock.clone(),
    });

    let started_at = chrono::Utc::now();
    let done = Arc::new(AtomicBool::new(false));
    let progress = options
        .progress
        .then(|| progress::spawn(recorder.live.clone(), done.clone(), plan.load.users));

    let outcome = {
        let _silence = options
            .silence_stdout
            .then(signals::StdoutSilencer::new)
            .flatten();
        runtime.block_on(async {
            // goose resets its killswitch when a run starts: keep re-arming it
            // for as long as a signal has been seen.
            let watcher = tokio::spawn(async {
                loop {
                    if signals::interrupted() {
                        goose::trigger_killswitch(signals::INTERRUPT_REASON);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            let result = attack(&plan, shared.clone());
            let result = match result {
                Ok(attack) => attack
                    .execute()
                    .await
                    .map(|_| ())
                    .map_err(|e| RunError::Goose(e.to_string())),
                Err(e) => Err(e),
            };
            watcher.abort();
            result
        })
    };
    clock.mark_finished();
    done.store(true, Ordering::SeqCst);
    if let Some(handle) = progress {
        let _ = handle.join();
    }
    drop(shared);
    let collected = recorder.finish();
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome?;
    Ok(Executed {
        collected,
        interrupted: signals::interrupted().then(|| signals::INTERRUPT_REASON.to_string()),
        started_at,
        finished_at: chrono::Utc::now(),
    })
}

fn goose_config(plan: &RunPlan) -> GooseConfiguration {
    let mut config = GooseConfiguration::default();
    config.host = Some(plan.host.clone());
    config.no_telnet = true;
    config.no_websocket = true;
    config.quiet = 1;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    // gander records every request itself; goose's metrics would only cost time.
    config.no_metrics = true;
    let longest_timeout = plan
        .scenarios
        .iter()
        .flat_map(|s| s.on_start.iter().chain(&s.steps).chain(&s.on_stop))
        .map(|r| r.timeout)
        .max()
        .unwrap_or(crate::scenario::DEFAULT_TIMEOUT);
    config.timeout = Some(longest_timeout.as_secs().max(1).to_string());
    let users = plan.load.users;
    config.users = Some(users);
    // goose starts at most `increase_rate` users a second; "all at once" is a very high rate.
    let rate = if plan.load.ramp_up.is_zero() {
        (users as f64 * 1000.0).max(1000.0)
    } else {
        users as f64 / plan.load.ramp_up.as_secs_f64()
    };
    config.increase_rate = Some(format!("{rate}"));
    match plan.load.end {
        // goose counts run_time from the moment every user has started.
        LoadEnd::Duration(d) => config.run_time = Some(d.as_secs().to_string()),
        LoadEnd::Iterations(n) => config.iterations = Some(n as usize),
    }
    config
}

fn transaction(shared: &Arc<RunShared>, step: &Arc<RequestPlan>, kind: StepKind) -> Transaction {
    let shared = shared.clone();
    let step = step.clone();
    let function: TransactionFunction = Arc::new(move |user| {
        let shared = shared.clone();
        let step = step.clone();
        Box::pin(async move { user::run_step(user, &shared, &step, kind).await })
    });
    Transaction::new(function)
}

fn attack(plan: &RunPlan, shared: Arc<RunShared>) -> Result<GooseAttack, RunError> {
    let goose_err = |e: goose::GooseError| RunError::Goose(e.to_string());
    let mut attack = GooseAttack::initialize_with_config(goose_config(plan)).map_err(goose_err)?;
    for (index, sc) in plan.scenarios.iter().enumerate() {
        let mut scenario = Scenario::new(&sc.name)
            .set_weight(sc.weight)
            .map_err(goose_err)?;
        if let Some((min, max)) = sc.think_time
            && !max.is_zero()
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
            let kind = if i == 0 {
                StepKind::FirstStep
            } else {
                StepKind::Step
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
