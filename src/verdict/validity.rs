//! Whether a run's figures describe the SUT at all. A run that was cut short,
//! never reached its planned users, or whose load generator ran out of CPU is
//! invalid (exit 3), never a pass or a fail: its latencies include gander's own
//! queueing.

use crate::record::result::{RunResult, RunStatus, ValidityCheck};
use crate::sut::{CPU, CPU_WAIT, SourceKind};

/// The generator is saturated when its load threads use this share of the cores it may use.
pub const SATURATED_SHARE: f64 = 0.90;
/// ... or starved when they wait for a CPU this share of the time they want one,
pub const STARVED_SHARE: f64 = 0.60;
/// ... and the waiting adds up to at least half a core (%). A light generator next to a
/// busy SUT waits often but briefly; its latencies are not distorted by much.
const STARVED_MIN_WAIT: f64 = 50.0;

pub fn check(result: &RunResult) -> Vec<ValidityCheck> {
    let mut checks = vec![completed(result), users(result)];
    checks.extend(generator(result));
    checks
}

fn completed(result: &RunResult) -> ValidityCheck {
    let interrupted = result.outcome.status == RunStatus::Interrupted;
    ValidityCheck {
        check: "run completed".into(),
        ok: !interrupted,
        detail: if interrupted {
            format!(
                "interrupted ({}): the figures are partial",
                result
                    .outcome
                    .reason
                    .as_deref()
                    .unwrap_or("no reason given")
            )
        } else {
            "ran to its planned end".into()
        },
    }
}

fn users(result: &RunResult) -> ValidityCheck {
    let planned = result.plan.users;
    let started: usize = result.plan.scenarios.iter().map(|s| s.users_started).sum();
    let duration_run = result.plan.duration_s.is_some();
    let reached = started >= planned && (!duration_run || result.phases.steady.is_some());
    ValidityCheck {
        check: "planned users".into(),
        ok: reached,
        detail: if reached {
            format!("{started} of {planned} users started")
        } else if started < planned {
            format!("only {started} of {planned} users started: the load fell short of the plan")
        } else {
            format!("all {planned} users started, but never all at once")
        },
    }
}

/// The load generator's own CPU over the steady state.
fn generator(result: &RunResult) -> Option<ValidityCheck> {
    let source = result.resources.source(SourceKind::LoadGenerator)?;
    let avg = |name: &str| {
        source
            .series
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.summary)
            .map(|s| s.avg)
    };
    let cpu = avg(CPU)?;
    let wait = avg(CPU_WAIT).unwrap_or(0.0);
    let cores = result.provenance.cores.max(1) as f64;
    let share = cpu / (100.0 * cores);
    let waiting = if cpu + wait > 0.0 {
        wait / (cpu + wait)
    } else {
        0.0
    };
    let plural = if cores == 1.0 { "" } else { "s" };
    let seen = format!(
        "load threads used {cpu:.0}% of one core ({:.0}% of the {cores} core{plural} they may \
         use) and waited for a CPU {:.0}% of the time they were runnable",
        share * 100.0,
        waiting * 100.0
    );
    let (ok, detail) = if share >= SATURATED_SHARE {
        (false, format!("saturated: {seen}"))
    } else if waiting >= STARVED_SHARE && wait >= STARVED_MIN_WAIT {
        (false, format!("starved of CPU: {seen}"))
    } else {
        (true, seen)
    };
    Some(ValidityCheck {
        check: "load generator CPU".into(),
        ok,
        detail,
    })
}
