//! Whether a run's figures describe the SUT at all. A run that was cut short,
//! never reached its planned users, fell behind its planned arrival rate, whose
//! requests mostly never reached the SUT, or whose load generator ran out of
//! CPU is invalid (exit 3), never a pass or a fail.

use crate::result::cost::CostMethod;
use crate::result::profile::ProfileStatus;
use crate::result::resources::{CPU, CPU_WAIT, SourceKind};
use crate::result::{ArrivalReport, MergedSegment, RunResult, RunStatus, ValidityCheck};

/// The generator is saturated when its load threads use this share of the cores it may use.
pub const SATURATED_SHARE: f64 = 0.90;
/// ... or starved when they wait for a CPU this share of the time they want one,
pub const STARVED_SHARE: f64 = 0.60;
/// ... and the waiting adds up to at least half a core (%). A light generator next to a
/// busy SUT waits often but briefly; its latencies are not distorted by much.
const STARVED_MIN_WAIT: f64 = 50.0;

/// A closed run's tail understates when correcting for the missing requests
/// raises its p99 by at least this factor.
const UNDERSTATED: f64 = 1.5;

pub fn check(result: &RunResult) -> Vec<ValidityCheck> {
    let mut checks = vec![completed(result)];
    checks.extend(sut_stayed_up(result));
    checks.extend(common_start(result));
    match &result.load.open {
        Some(open) => checks.extend([on_time(open), arrival_rate(result, open)]),
        None => checks.push(users(result)),
    }
    checks.extend(reached(result));
    checks.push(own_limits(result));
    checks.extend(comparable(result));
    checks.extend(machine(result));
    if result.provenance.segments.is_empty() {
        checks.extend(generator(result));
    } else {
        // Each generator was judged on its own CPU when its segment ran.
        checks.extend(result.provenance.segments.iter().map(segment));
    }
    checks
}

/// A load that began this long after `--start-at` no longer lines up with the
/// other segments': their first seconds ran with a share of the load missing.
pub const MAX_START_LATE_S: f64 = 1.0;

/// `--start-at`: the load began at the common start.
fn common_start(result: &RunResult) -> Option<ValidityCheck> {
    let start = result.provenance.start.as_ref()?;
    let (ok, detail) = match start.late_s {
        None => (
            false,
            format!("the load never began after the common start {}", start.at),
        ),
        Some(late) if late <= MAX_START_LATE_S => (
            true,
            format!(
                "the load began {late:.3} s after the common start {}",
                start.at
            ),
        ),
        Some(late) => (
            false,
            format!(
                "the load began {late:.1} s after the common start {} (more than the {} s \
                 allowed): the generators' loads did not overlap as planned; give a later \
                 --start-at, leaving time for every generator to be ready",
                start.at, MAX_START_LATE_S
            ),
        ),
    };
    Some(ValidityCheck {
        check: "common start".into(),
        ok,
        detail,
    })
}

/// A merged run: one segment's own validity, as judged when it ran.
fn segment(s: &MergedSegment) -> ValidityCheck {
    let failed: Vec<String> = s
        .validity
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.check, c.detail))
        .collect();
    let host = s.hostname.as_deref().unwrap_or("an unknown host");
    ValidityCheck {
        check: format!("segment {}", s.index),
        ok: failed.is_empty(),
        detail: if failed.is_empty() {
            format!("{} on {host}: valid", s.run_id)
        } else {
            format!("{} on {host} is INVALID: {}", s.run_id, failed.join("; "))
        },
    }
}

/// Most requests must have reached the SUT: refused connections are fast, and a
/// dead SUT would otherwise pass a latency target.
fn reached(result: &RunResult) -> Option<ValidityCheck> {
    let totals = result.totals.get(result.primary_phase());
    if totals.requests == 0 {
        return None;
    }
    let ok = totals.unreached * 2 <= totals.requests;
    let detail = if totals.unreached == 0 {
        format!("all {} requests reached the SUT", totals.requests)
    } else {
        format!(
            "{} of {} requests never reached the SUT (their connection failed){}",
            totals.unreached,
            totals.requests,
            if ok {
                ""
            } else {
                ": the figures describe no server; is it up at the host given?"
            }
        )
    };
    Some(ValidityCheck {
        check: "requests reached the SUT".into(),
        ok,
        detail,
    })
}

/// Open model: iterations that could not start when due, because every user was busy.
fn on_time(open: &ArrivalReport) -> ValidityCheck {
    let percent = |f: f64| format!("{:.1}%", f * 100.0);
    let lag = open
        .start_lag_ms
        .map(|l| format!(" (start lag p99 {})", crate::format::ms(l.p99)))
        .unwrap_or_default();
    let ok = open.late_fraction <= open.max_late;
    let detail = if open.late + open.missed == 0 {
        format!("all {} iterations started when due{lag}", open.intended)
    } else {
        let verdict = if ok { "within" } else { "over" };
        format!(
            "{} of {} iterations started late and {} never started ({}, {verdict} the {} limit):              {} of {} users were busy at the peak{}",
            open.late,
            open.intended,
            open.missed,
            percent(open.late_fraction),
            percent(open.max_late),
            open.peak_busy,
            open.max_users,
            if ok {
                ""
            } else {
                "; raise load.max_users, or the SUT cannot take this rate"
            }
        )
    };
    ValidityCheck {
        check: "iterations on time".into(),
        ok,
        detail,
    }
}

/// Open model: the rate achieved in the steady state against the rate planned.
fn arrival_rate(result: &RunResult, open: &ArrivalReport) -> ValidityCheck {
    let len = result.phases.steady.map(|w| w.len_s()).unwrap_or(0.0);
    let per_s = |n: u64| if len > 0.0 { n as f64 / len } else { 0.0 };
    let ok = open.steady_intended > 0
        && open.steady_started as f64 >= open.steady_intended as f64 * (1.0 - open.max_late);
    let detail = if open.steady_intended == 0 {
        "no iteration was due in the steady state".to_string()
    } else {
        format!(
            "{:.1}/s of {:.1}/s planned in the steady state ({} of {} iterations)",
            per_s(open.steady_started),
            per_s(open.steady_intended),
            open.steady_started,
            open.steady_intended
        )
    };
    ValidityCheck {
        check: "arrival rate".into(),
        ok,
        detail,
    }
}

/// Closed model: says so when the users' pace fell behind enough that the
/// measured tail understates what users would see (coordinated omission).
/// Below this, a profile that stopped before the steady state ended is clock
/// jitter, not a part of the steady state run without the profiler.
const PROFILE_END_SLACK_S: f64 = 0.5;

/// A profile that stopped sampling before the steady state ended: the
/// steady-state figures then mix seconds under the profiler with seconds in
/// which the profile was being built and sent, and seconds without a profiler.
pub fn profile_note(result: &RunResult) -> Option<String> {
    let profile = result
        .profile
        .as_ref()
        .filter(|p| p.status == ProfileStatus::Ok)?;
    let (window, steady) = (profile.window?, result.phases.steady?);
    let after = steady.end_s - window.end_s;
    if after < PROFILE_END_SLACK_S || window.end_s <= steady.start_s {
        return None;
    }
    Some(format!(
        "the profile sampled {:.1}s-{:.1}s and the steady state ran {:.1}s-{:.1}s: the steady \
         state's last {:.1} s ran after sampling stopped (while {} built and sent the profile, \
         then with no profiler), so its figures mix profiled and unprofiled seconds",
        window.start_s,
        window.end_s,
        steady.start_s,
        steady.end_s,
        after,
        if profile.source == "pprof" {
            "the SUT"
        } else {
            "the profiler"
        }
    ))
}

/// The tick assumed when the run did not record one (a SUT elsewhere, an
/// unreadable kernel config): Debian's and Ubuntu's kernels use HZ=250.
const ASSUMED_TICK_MS: f64 = 4.0;

/// Request names costed by labels whose CPU per request is shorter than the
/// kernel's tick: Go's profiler takes its samples only at ticks, so each
/// sample lands on whatever runs at the first tick after it was due, and
/// work shorter than a tick loses samples to the work after it. Measured on
/// the Go fixture at HZ=250: a 1 ms handler read 30-35 % low, a 4 ms one
/// 2-6 % high.
pub fn labels_tick_note(result: &RunResult) -> Option<String> {
    let profile = result.profile.as_ref().filter(|p| p.source == "pprof")?;
    let tick = profile.tick_ms.unwrap_or(ASSUMED_TICK_MS);
    let short: Vec<&str> = result
        .endpoints
        .iter()
        .filter_map(|e| Some((e.name.as_str(), e.cost.as_ref()?)))
        .filter(|(_, c)| c.method == CostMethod::Labels && c.cpu_ms_per_request.value < tick)
        .map(|(name, _)| name)
        .collect();
    if short.is_empty() {
        return None;
    }
    let tick_source = match profile.tick_ms {
        Some(_) => format!("{tick:.1} ms on this kernel"),
        None => format!(
            "{tick:.0} ms assumed, as on Debian's and Ubuntu's kernels: gander reads the tick \
             only of a SUT on this machine"
        ),
    };
    Some(format!(
        "cost by labels may read low for {}: each uses less CPU per request than one kernel \
         tick ({tick_source}), and a SIGPROF profiler such as Go's takes samples only at \
         ticks, so work shorter than a tick loses samples to the work that follows it on \
         the same thread. For exact figures, measure each name alone: cost: {{ each: 5s }}",
        listed(&short, NAMES_LISTED)
    ))
}

/// Request names a note lists before "and N more".
const NAMES_LISTED: usize = 5;

/// `names` joined, the first `shown` of them, then how many more.
fn listed(names: &[&str], shown: usize) -> String {
    match names.len().checked_sub(shown) {
        Some(more) if more > 0 => format!("{} and {more} more", names[..shown].join(", ")),
        _ => names.join(", "),
    }
}

/// What the reader should know of how the run went: the closed model's
/// pacing, the protocol the answers came over, the profile.
pub fn run_notes(result: &RunResult) -> impl Iterator<Item = String> {
    pacing_note(result)
        .into_iter()
        .chain(protocol_note(result))
        .chain(profile_note(result))
        .chain(labels_tick_note(result))
}

/// `http: 2` asked for and answers came over HTTP/1.1: the server (or a proxy
/// in between) did not choose `h2` by ALPN, and the figures are HTTP/1.1's.
pub fn protocol_note(result: &RunResult) -> Option<String> {
    if result.plan.http != "2" {
        return None;
    }
    let (mut http1, mut all) = (0u64, 0u64);
    for e in &result.endpoints {
        for (protocol, n) in &e.stats.all.protocols {
            if protocol != "WebSocket" {
                all += n;
                http1 += if protocol.starts_with("HTTP/1") {
                    *n
                } else {
                    0
                };
            }
        }
    }
    (http1 > 0).then(|| {
        format!(
            "http: 2 was asked for, but {http1} of {all} answers came over HTTP/1.1: the server \
             (or a proxy in between) did not choose h2 by ALPN, so these figures are HTTP/1.1's. \
             Enable HTTP/2 on the server, or set http: 1.1 to say what is measured"
        )
    })
}

pub fn pacing_note(result: &RunResult) -> Option<String> {
    let pacing = result.load.closed.as_ref()?;
    let (measured, corrected) = (pacing.measured?, pacing.corrected?);
    if pacing.late == 0 || corrected.p99 < measured.p99 * UNDERSTATED {
        return None;
    }
    Some(format!(
        "closed model: responses held users back, so {} requests their pace called for were never sent (users fell up to {} behind); corrected for them the p99 is {}, not {}. \
         An open model (load.rate) measures this directly",
        pacing.late,
        crate::format::ms(pacing.worst_delay_ms),
        crate::format::ms(corrected.p99),
        crate::format::ms(measured.p99)
    ))
}

/// The load generator's own limits (files, ports, buffers) failed no request:
/// a request it could not make says nothing of the SUT, at any fraction, and
/// the load the SUT saw was not the load planned.
fn own_limits(result: &RunResult) -> ValidityCheck {
    let faults = &result.errors.generator;
    ValidityCheck {
        check: "load generator limits".into(),
        ok: faults.is_empty(),
        detail: if faults.is_empty() {
            "no request failed for a limit of the load generator's own (files, ports)".into()
        } else {
            faults
                .iter()
                .map(|f| {
                    format!(
                        "{} requests could not be made from {:.1} s on ({}): {}; they are in \
                         none of the SUT's figures",
                        f.count, f.first_s, f.example, f.cause
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        },
    }
}

/// How busy the rest of the machine was: said in every run (a single run is
/// not judged on it; a comparison of runs under unlike load is).
fn machine(result: &RunResult) -> Option<ValidityCheck> {
    let load = result.resources.machine_load()?;
    Some(ValidityCheck {
        check: "machine load".into(),
        ok: true,
        detail: format!("over the steady state, {}", load.describe()),
    })
}

/// The machine's load, as a note every output shows.
pub fn machine_note(result: &RunResult) -> Option<String> {
    let load = result.resources.machine_load()?;
    Some(format!("machine load: {}", load.describe()))
}

/// A comparison with a baseline must compare like with like.
fn comparable(result: &RunResult) -> Option<ValidityCheck> {
    let comparison = result.comparison.as_ref()?;
    Some(ValidityCheck {
        check: "comparable with the baseline".into(),
        ok: comparison.invalid.is_empty(),
        detail: if comparison.invalid.is_empty() {
            "same plan, both sides complete and valid, under alike machine load".into()
        } else {
            comparison.invalid.join("; ")
        },
    })
}

/// A SUT gander launched must still run when gander stops it: after it exited,
/// requests met no server (or another one), whatever the targets say.
fn sut_stayed_up(result: &RunResult) -> Option<ValidityCheck> {
    let launched = result.resources.launched.as_ref()?;
    let (ok, detail) = match &launched.exited_early {
        None => (
            true,
            "the launched SUT ran until gander stopped it".to_string(),
        ),
        Some(exit) => {
            let said = match launched.last_output.as_slice() {
                [] => format!("; it wrote nothing to {}", launched.log_file),
                lines => format!(
                    "; the last lines of {}: {}",
                    launched.log_file,
                    lines.join(" ⏎ ")
                ),
            };
            (
                false,
                format!(
                    "{exit}: the requests after it describe no SUT, so no target can pass{said}"
                ),
            )
        }
    };
    Some(ValidityCheck {
        check: "SUT stayed up".into(),
        ok,
        detail,
    })
}

fn completed(result: &RunResult) -> ValidityCheck {
    let reason = result
        .outcome
        .reason
        .as_deref()
        .unwrap_or("no reason given");
    let detail = match result.outcome.status {
        RunStatus::Completed => "ran to its planned end".into(),
        RunStatus::Interrupted => format!("interrupted ({reason}): the figures are partial"),
        RunStatus::Running => format!("still running ({reason}): the figures are partial"),
        RunStatus::Killed => format!("killed ({reason}): the figures are partial"),
    };
    ValidityCheck {
        check: "run completed".into(),
        ok: result.outcome.status.is_complete(),
        detail,
    }
}

fn users(result: &RunResult) -> ValidityCheck {
    let planned = result.planned_users();
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

#[cfg(test)]
mod tests {
    use super::listed;

    #[test]
    fn a_long_list_of_names_ends_with_how_many_more() {
        let names = ["a", "b", "c", "d", "e", "f", "g"];
        assert_eq!(listed(&names[..2], 5), "a, b");
        assert_eq!(listed(&names[..5], 5), "a, b, c, d, e");
        assert_eq!(listed(&names, 5), "a, b, c, d, e and 2 more");
    }
}
