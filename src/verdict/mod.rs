//! The verdict: a pure function of a run's results and its targets.

use crate::record::result::{
    Phase, RunResult, RunStatus, Stats, TargetOutcome, TargetResult, Verdict, VerdictStatus,
};
use crate::scenario::plan::{LatencyStat, TargetMetric, TargetSpec};

/// Judges every target on the primary phase (the steady state when there was one).
pub fn judge(result: &RunResult) -> Verdict {
    let phase = result.primary_phase();
    let mut notes = Vec::new();
    if phase != Phase::Steady {
        notes.push(
            "the run never had all users running at once: targets judged on the whole run"
                .to_string(),
        );
    }
    let targets: Vec<TargetResult> = result
        .plan
        .targets
        .iter()
        .map(|t| judge_one(result, t, phase))
        .collect();
    let status = if result.outcome.status == RunStatus::Interrupted {
        notes.push(format!(
            "the run was interrupted ({}): its figures are partial and decide nothing",
            result
                .outcome
                .reason
                .as_deref()
                .unwrap_or("no reason given")
        ));
        VerdictStatus::Invalid
    } else if targets.is_empty() {
        VerdictStatus::NoTargets
    } else if targets.iter().any(|t| t.outcome != TargetOutcome::Pass) {
        VerdictStatus::Fail
    } else {
        VerdictStatus::Pass
    };
    Verdict {
        status,
        judged_on: Some(phase),
        targets,
        notes,
    }
}

fn judge_one(result: &RunResult, target: &TargetSpec, phase: Phase) -> TargetResult {
    let (scope, stats) = match &target.endpoint {
        None if matches!(
            target.metric,
            TargetMetric::SutMemory | TargetMetric::SutCpu | TargetMetric::Profile
        ) =>
        {
            ("SUT".to_string(), None)
        }
        None => ("all requests".to_string(), Some(result.totals.get(phase))),
        Some(name) => (
            name.clone(),
            result
                .endpoints
                .iter()
                .find(|e| &e.name == name)
                .map(|e| e.stats.get(phase)),
        ),
    };
    let (metric, observed, unit, upper) = match &target.metric {
        TargetMetric::Latency(stat) => (
            stat.label().to_string(),
            stats.and_then(|s| latency(s, *stat)),
            "ms",
            true,
        ),
        TargetMetric::ErrorRate => (
            "error_rate".to_string(),
            stats
                .filter(|s| s.requests + s.not_sent > 0)
                .map(|s| s.error_rate),
            "ratio",
            true,
        ),
        TargetMetric::Throughput => (
            "throughput".to_string(),
            stats.filter(|s| s.requests > 0).map(|s| s.rps),
            "req/s",
            false,
        ),
        TargetMetric::Header { header, stat } => {
            let summary = stats.and_then(|s| {
                s.server_headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(header))
                    .map(|(_, h)| h)
            });
            let value = summary.and_then(|h| match stat.as_str() {
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
            (format!("{stat} {header}"), value, unit, true)
        }
        TargetMetric::SutMemory => (
            "max memory".to_string(),
            result
                .resources
                .sut_series(crate::sut::RSS)
                .and_then(|s| s.summary)
                .map(|s| s.max),
            "bytes",
            true,
        ),
        TargetMetric::SutCpu => (
            "avg cpu".to_string(),
            result
                .resources
                .sut_series(crate::sut::CPU)
                .and_then(|s| s.summary)
                .map(|s| s.avg),
            "%",
            true,
        ),
        TargetMetric::Profile => (
            "profile samples".to_string(),
            Some(result.profile.as_ref().map_or(0.0, |p| {
                if p.status == crate::profile::ProfileStatus::Ok {
                    p.samples as f64
                } else {
                    0.0
                }
            })),
            "",
            false,
        ),
    };
    let outcome = match observed {
        None => TargetOutcome::NoData,
        Some(v) if (upper && v <= target.limit) || (!upper && v >= target.limit) => {
            TargetOutcome::Pass
        }
        Some(_) => TargetOutcome::Fail,
    };
    TargetResult {
        metric,
        scope,
        comparison: if upper { "<=" } else { ">=" }.to_string(),
        limit: target.limit,
        observed,
        unit: unit.to_string(),
        outcome,
    }
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
