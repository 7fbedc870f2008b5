//! Plain goose 0.19 load test: the baseline for `scripts/bench-overhead`.
//!
//! Usage: `bare_goose HOST USERS SECONDS`, e.g. `bare_goose http://127.0.0.1:8080 50 10`.
//!
//! Every user loops over one transaction, `GET /fast`, reading the whole body as
//! gander does. All users start at once and goose's own metrics stay on, as a goose
//! user would run it. Prints one line:
//! `bare-goose requests=N seconds=S rps=R`.
//!
//! Steady state: goose resets its metrics once every user has started (the default,
//! kept here), so the request counts in the returned `GooseMetrics` cover only the
//! steady state. `GooseMetrics::duration` is the same window but rounded to whole
//! seconds, too coarse for a 5 s run, so the window is taken from the test-plan
//! history instead: from the `Maintaining` step (all users started, metrics reset)
//! to the next step (`Decreasing`/`Canceling`/`Finished`, run_time elapsed). The
//! count also includes the few requests (at most one per user) that complete while
//! users shut down; at thousands of requests a second that is well under 1 %.
//! If the history lacks those steps, `duration` is used.

use goose::config::GooseConfiguration;
use goose::prelude::*;
use goose::test_plan::TestPlanStepAction;

async fn fast(user: &mut GooseUser) -> TransactionResult {
    let goose = user.get("/fast").await?;
    let _body = goose.response?.bytes().await?;
    Ok(())
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> Result<T, String> {
    let raw = args
        .get(i)
        .ok_or_else(|| format!("missing {name}; usage: bare_goose HOST USERS SECONDS"))?;
    raw.parse().map_err(|_| format!("bad {name}: {raw:?}"))
}

/// Seconds of the steady state (see the module comment).
fn steady_seconds(metrics: &GooseMetrics) -> f64 {
    let history = &metrics.history;
    let start = history
        .iter()
        .position(|h| matches!(h.action, TestPlanStepAction::Maintaining));
    if let Some(i) = start
        && let Some(end) = history.get(i + 1)
        && let Some(micros) = (end.timestamp - history[i].timestamp).num_microseconds()
        && micros > 0
    {
        return micros as f64 / 1e6;
    }
    metrics.duration as f64
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let host: String = arg(&args, 1, "HOST")?;
    let users: usize = arg(&args, 2, "USERS")?;
    let seconds: u64 = arg(&args, 3, "SECONDS")?;

    let mut config = GooseConfiguration::default();
    config.host = Some(host);
    config.users = Some(users);
    // goose starts at most `increase_rate` users a second: start them all at once.
    config.increase_rate = Some(format!("{}", (users as f64 * 1000.0).max(1000.0)));
    // goose counts run_time from the moment every user has started.
    config.run_time = Some(seconds.to_string());
    config.no_telnet = true;
    config.no_websocket = true;
    config.quiet = 1;
    config.no_print_metrics = true;

    let metrics = GooseAttack::initialize_with_config(config)?
        .register_scenario(scenario!("fast").register_transaction(transaction!(fast)))
        .execute()
        .await?;

    let requests: usize = metrics
        .requests
        .values()
        .map(|r| r.success_count + r.fail_count)
        .sum();
    let failed: usize = metrics.requests.values().map(|r| r.fail_count).sum();
    let seconds = steady_seconds(&metrics);
    let rps = if seconds > 0.0 {
        requests as f64 / seconds
    } else {
        0.0
    };
    if failed > 0 {
        eprintln!("bare-goose: {failed} of {requests} requests failed");
    }
    println!("bare-goose requests={requests} seconds={seconds:.3} rps={rps:.1}");
    Ok(())
}
