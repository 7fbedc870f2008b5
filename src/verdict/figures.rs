//! The observed figure for each kind of target.

use crate::hist::decode_histogram;
use crate::result::profile::ProfileStatus;
use crate::result::resources::{CPU, HealthState, RSS};
use crate::result::targets::{LatencyStat, TargetMetric, TargetSpec};
use crate::result::{Phase, RunResult, Stats};

pub use crate::format::value as format_value;

/// What a target is compared with.
pub struct Figure {
    pub metric: String,
    pub scope: String,
    pub observed: Option<f64>,
    pub unit: &'static str,
    /// The limit is an upper bound (else a lower bound).
    pub upper: bool,
    pub detail: Option<String>,
}

impl Figure {
    fn new(
        metric: impl Into<String>,
        scope: &str,
        observed: Option<f64>,
        unit: &'static str,
    ) -> Self {
        Figure {
            metric: metric.into(),
            scope: scope.to_string(),
            observed,
            unit,
            upper: true,
            detail: None,
        }
    }
    fn lower_bound(mut self) -> Self {
        self.upper = false;
        self
    }
}

/// The stats a target's scope names, and how to call the scope.
fn scope_stats<'a>(
    result: &'a RunResult,
    target: &TargetSpec,
    phase: Phase,
) -> (String, Option<&'a Stats>) {
    if let Some(name) = &target.endpoint {
        let stats = result.endpoints.iter().find(|e| &e.name == name);
        return (name.clone(), stats.map(|e| e.stats.get(phase)));
    }
    if let Some(name) = &target.scenario {
        let stats = result.scenarios.iter().find(|s| &s.name == name);
        return (
            format!("scenario {name}"),
            stats.map(|s| s.stats.get(phase)),
        );
    }
    ("all requests".into(), Some(result.totals.get(phase)))
}

pub fn observe(result: &RunResult, target: &TargetSpec, phase: Phase) -> Figure {
    let (scope, stats) = scope_stats(result, target, phase);
    // Requests were made in this scope (figures of an idle scope are no data).
    let active = stats.filter(|s| s.requests + s.not_sent > 0);
    match &target.metric {
        TargetMetric::Latency(stat) => Figure::new(
            stat.label(),
            &scope,
            stats.and_then(|s| latency(s, *stat)),
            "ms",
        ),
        TargetMetric::ErrorRate => {
            Figure::new("error_rate", &scope, active.map(|s| s.error_rate), "ratio")
        }
        TargetMetric::SuccessRate => Figure::new(
            "success_rate",
            &scope,
            active.map(|s| 1.0 - s.error_rate),
            "ratio",
        )
        .lower_bound(),
        TargetMetric::Throughput => Figure::new(
            "throughput",
            &scope,
            stats.filter(|s| s.requests > 0).map(|s| s.rps),
            "req/s",
        )
        .lower_bound(),
        TargetMetric::SlowRequests { over_ms } => slow_requests(&scope, active, *over_ms),
        TargetMetric::SlowEndpoints { over_ms, stat } => {
            slow_endpoints(result, phase, *over_ms, *stat)
        }
        TargetMetric::TestDuration => Figure::new(
            "test duration",
            "the run",
            Some(result.phases.total.len_s()),
            "s",
        ),
        TargetMetric::CacheHitRatio { hits, misses } => {
            cache_hit_ratio(&scope, active, hits, misses)
        }
        TargetMetric::Header { header, stat } => header_figure(&scope, stats, header, stat),
        TargetMetric::SutMemory | TargetMetric::SutCpu | TargetMetric::SutCpuP95 => {
            sut_figure(result, &target.metric)
        }
        TargetMetric::Health { allow_degraded } => health(result, *allow_degraded, phase),
        TargetMetric::Profile => profile_samples(result),
        TargetMetric::CpuPerRequest => cpu_per_request(result, target, &scope),
    }
}

/// The SUT's CPU per request: overall, or a request name's (by labels or the
/// sweep); no data where neither measured it (docs/cost.md says how).
fn cpu_per_request(result: &RunResult, target: &TargetSpec, scope: &str) -> Figure {
    let cost = match &target.endpoint {
        // A scenario's share of the SUT's CPU is not measured.
        None if target.scenario.is_some() => None,
        None => result.totals.steady.cost.as_ref(),
        Some(name) => result
            .endpoints
            .iter()
            .find(|e| e.name == *name)
            .and_then(|e| e.cost.as_ref()),
    };
    let mut f = Figure::new(
        "cpu_per_request",
        scope,
        cost.map(|c| c.cpu_ms_per_request.value),
        "ms",
    );
    f.detail = Some(match cost {
        Some(c) => format!(
            "by {} (95% {:.3}..{:.3} ms), over {} requests",
            c.method.label(),
            c.cpu_ms_per_request.low,
            c.cpu_ms_per_request.high,
            c.requests
        ),
        None if target.endpoint.is_some() => crate::result::cost::missing_cost(
            target.endpoint.as_deref(),
            result.cost_sweep.as_ref(),
        ),
        None => "the SUT's CPU was not measured: give sut: { pid: ... }, a launched sut.command \
                 or a metrics endpoint (docs/cost.md)"
            .to_string(),
    });
    f
}

/// Requests in the scope slower than `over_ms`.
fn slow_requests(scope: &str, active: Option<&Stats>, over_ms: f64) -> Figure {
    let slow = active.and_then(|s| slower_than(s, over_ms));
    let mut f = Figure::new(
        format!("requests slower than {}", format_value(over_ms, "ms")),
        scope,
        slow.map(|n| n as f64),
        "",
    );
    if let (Some(n), Some(s)) = (slow, active) {
        f.detail = Some(format!("{n} of {} requests", s.requests));
    }
    f
}

/// Request names whose `stat` is over `over_ms`, named in the detail.
fn slow_endpoints(result: &RunResult, phase: Phase, over_ms: f64, stat: LatencyStat) -> Figure {
    let slow: Vec<String> = result
        .endpoints
        .iter()
        .filter(|e| latency(e.stats.get(phase), stat).is_some_and(|v| v > over_ms))
        .map(|e| e.name.clone())
        .collect();
    let mut f = Figure::new(
        format!(
            "request names with {} over {}",
            stat.label(),
            format_value(over_ms, "ms")
        ),
        "the run",
        Some(slow.len() as f64),
        "",
    );
    if !slow.is_empty() {
        f.detail = Some(slow.join(", "));
    }
    f
}

/// `sum(hits) / (sum(hits) + sum(misses))` of two counting headers.
fn cache_hit_ratio(scope: &str, active: Option<&Stats>, hits: &str, misses: &str) -> Figure {
    let sum = |name: &str| {
        active?
            .server_headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(name))
            .map(|(_, h)| h.sum)
    };
    let ratio = match (sum(hits), sum(misses)) {
        (Some(h), Some(m)) if h + m > 0.0 => Some(h / (h + m)),
        _ => None,
    };
    let mut f = Figure::new("cache hit ratio", scope, ratio, "ratio").lower_bound();
    if let (Some(h), Some(m)) = (sum(hits), sum(misses)) {
        f.detail = Some(format!("{h:.0} hits, {m:.0} misses"));
    }
    f
}

/// A statistic of a server header in the scope.
fn header_figure(scope: &str, stats: Option<&Stats>, header: &str, stat: &str) -> Figure {
    let summary = stats.and_then(|s| {
        s.server_headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(header))
            .map(|(_, h)| h)
    });
    let value = summary.and_then(|h| match stat {
        "mean" => Some(h.mean),
        "p50" => Some(h.p50),
        "p95" => Some(h.p95),
        "p99" => Some(h.p99),
        "max" => Some(h.max),
        _ => None,
    });
    let unit = if summary.is_some_and(|h| h.unit == "ms") {
        "ms"
    } else {
        ""
    };
    Figure::new(format!("{stat} {header}"), scope, value, unit)
}

/// The SUT's memory or CPU over the judged window.
fn sut_figure(result: &RunResult, metric: &TargetMetric) -> Figure {
    let summary = |name: &str| result.resources.sut_series(name).and_then(|s| s.summary);
    let (label, observed, unit) = match metric {
        TargetMetric::SutMemory => ("max memory", summary(RSS).map(|s| s.max), "bytes"),
        TargetMetric::SutCpuP95 => ("p95 cpu", summary(CPU).map(|s| s.p95), "%"),
        _ => ("avg cpu", summary(CPU).map(|s| s.avg), "%"),
    };
    Figure::new(label, "SUT", observed, unit)
}

/// The samples of a profile that was taken (0 when it is missing).
fn profile_samples(result: &RunResult) -> Figure {
    let samples = result
        .profile
        .as_ref()
        .filter(|p| p.status == ProfileStatus::Ok)
        .map_or(0.0, |p| p.samples as f64);
    Figure::new("profile samples", "SUT", Some(samples), "").lower_bound()
}

/// Health polls in the judged window worse than allowed.
fn health(result: &RunResult, allow_degraded: bool, phase: Phase) -> Figure {
    let window = result.window(phase);
    let label = if allow_degraded {
        "health polls in error or down"
    } else {
        "health polls not healthy"
    };
    let Some(report) = &result.resources.health else {
        return Figure::new(label, "SUT", None, "");
    };
    let polls: Vec<_> = report
        .timeline
        .iter()
        .filter(|p| p.t_s >= window.start_s && p.t_s <= window.end_s)
        .collect();
    let bad: Vec<_> = polls
        .iter()
        .filter(|p| match p.state {
            HealthState::Healthy => false,
            HealthState::Degraded => !allow_degraded,
            HealthState::Error | HealthState::Down => true,
        })
        .collect();
    let mut f = Figure::new(
        label,
        "SUT",
        (!polls.is_empty()).then_some(bad.len() as f64),
        "",
    );
    if let Some(first) = bad.first() {
        f.detail = Some(format!(
            "{} of {} polls, first at {:.0}s ({})",
            bad.len(),
            polls.len(),
            first.t_s,
            first.state.label()
        ));
    }
    f
}

/// Requests slower than `over_ms`, from the phase's HDR histogram (to its 3 significant digits).
fn slower_than(stats: &Stats, over_ms: f64) -> Option<u64> {
    if stats.requests == 0 {
        return Some(0);
    }
    let h = decode_histogram(stats.histogram.as_ref()?)?;
    let threshold = (over_ms * 1e3) as u64;
    Some(h.len() - h.count_between(0, threshold))
}

fn latency(stats: &Stats, stat: LatencyStat) -> Option<f64> {
    let l = stats.latency_ms.as_ref()?;
    Some(match stat {
        LatencyStat::P50 => l.p50,
        LatencyStat::P90 => l.p90,
        LatencyStat::P95 => l.p95,
        LatencyStat::P99 => l.p99,
        LatencyStat::P99_9 => l.p99_9,
        LatencyStat::Max => l.max,
        LatencyStat::Mean => l.mean,
    })
}
