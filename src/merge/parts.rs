//! The parts of a merged run besides its series: where it came from, its
//! phases on the merged axis, its figures, errors, resources and profile.

use super::figures::phase_stats;
use super::{SegmentRun, load};
use crate::result::resources::{ResourceReport, SourceKind, SourceReport};
use crate::result::{
    EndpointResult, ErrorGroup, ErrorReport, MergedSegment, Outcome, Phases, PlanSummary,
    Provenance, RunResult, RunStatus, SCHEMA_VERSION, ScenarioResult, StartReport, Window,
};

/// Everything but the per-second series (see `series`), on the merged axis.
pub fn merged(
    results: &[&RunResult],
    shifts: &[u64],
    segments: &[SegmentRun],
    run_id: String,
) -> RunResult {
    let first = results[0];
    let shift0 = shifts[0] as f64;
    RunResult {
        schema_version: SCHEMA_VERSION,
        run_id,
        outcome: outcome(results),
        provenance: provenance(results, shifts, segments),
        plan: plan(results),
        phases: phases(results, shifts),
        totals: phase_stats(&results.iter().map(|r| &r.totals).collect::<Vec<_>>()),
        endpoints: first
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| EndpointResult {
                name: e.name.clone(),
                method: e.method.clone(),
                stats: phase_stats(&nth(results, |r| r.endpoints.get(i).map(|e| &e.stats))),
                cost: None,
            })
            .collect(),
        scenarios: first
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| ScenarioResult {
                name: s.name.clone(),
                stats: phase_stats(&nth(results, |r| r.scenarios.get(i).map(|s| &s.stats))),
            })
            .collect(),
        timeseries: Vec::new(),
        load: load::load(&results.iter().map(|r| &r.load).collect::<Vec<_>>(), shifts),
        errors: errors(results, shifts),
        resources: resources(results, shifts),
        profile: first.profile.clone().map(|mut p| {
            p.window = p.window.map(|w| shifted(w, shift0));
            p
        }),
        comparison: None,
        answers: None,
        outputs: Vec::new(),
        cost_sweep: None,
        verdict: Default::default(),
    }
}

fn nth<'a, T>(
    results: &[&'a RunResult],
    get: impl Fn(&'a RunResult) -> Option<&'a T>,
) -> Vec<&'a T> {
    results.iter().filter_map(|r| get(r)).collect()
}

fn shifted(w: Window, by: f64) -> Window {
    Window {
        start_s: w.start_s + by,
        end_s: w.end_s + by,
    }
}

/// Completed when every segment completed; else the first segment that did not.
fn outcome(results: &[&RunResult]) -> Outcome {
    let stopped = results
        .iter()
        .enumerate()
        .find(|(_, r)| !r.outcome.status.is_complete());
    match stopped {
        None => Outcome {
            status: RunStatus::Completed,
            reason: None,
        },
        Some((i, r)) => Outcome {
            status: r.outcome.status,
            reason: Some(format!(
                "segment {i} ({}): {}",
                r.run_id,
                r.outcome
                    .reason
                    .as_deref()
                    .unwrap_or("stopped before its end")
            )),
        },
    }
}

/// Segment 0's plan (they are all one), with the users every segment started.
fn plan(results: &[&RunResult]) -> PlanSummary {
    let mut plan = results[0].plan.clone();
    for (i, s) in plan.scenarios.iter_mut().enumerate() {
        s.users_started = results
            .iter()
            .filter_map(|r| r.plan.scenarios.get(i))
            .map(|s| s.users_started)
            .sum();
    }
    plan
}

fn provenance(results: &[&RunResult], shifts: &[u64], segments: &[SegmentRun]) -> Provenance {
    let first = &results[0].provenance;
    let start = first.start.as_ref().map(|s| StartReport {
        at: s.at.clone(),
        axis_from_s: results
            .iter()
            .filter_map(|r| r.provenance.start.as_ref())
            .map(|s| s.axis_from_s)
            .min()
            .unwrap_or(s.axis_from_s),
        late_s: results
            .iter()
            .filter_map(|r| r.provenance.start.as_ref()?.late_s)
            .reduce(f64::max),
    });
    Provenance {
        gander_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: results
            .iter()
            .map(|r| r.provenance.started_at.clone())
            .min()
            .unwrap_or_default(),
        finished_at: results
            .iter()
            .map(|r| r.provenance.finished_at.clone())
            .max()
            .unwrap_or_default(),
        command_line: Vec::new(),
        scenario_file: first.scenario_file.clone(),
        hostname: None,
        git_revision: first.git_revision.clone(),
        cores: results.iter().map(|r| r.provenance.cores).sum(),
        scenario_sha256: first.scenario_sha256.clone(),
        start,
        segment: None,
        segments: results
            .iter()
            .zip(shifts)
            .zip(segments)
            .enumerate()
            .map(|(index, ((r, shift), s))| MergedSegment {
                index,
                run_id: r.run_id.clone(),
                dir: s.dir.display().to_string(),
                hostname: r.provenance.hostname.clone(),
                started_at: r.provenance.started_at.clone(),
                finished_at: r.provenance.finished_at.clone(),
                cores: r.provenance.cores,
                status: r.outcome.status,
                shift_s: *shift,
                late_s: r.provenance.start.as_ref().and_then(|s| s.late_s),
                validity: r.verdict.validity.clone(),
            })
            .collect(),
    }
}

/// The phases on the merged axis: the steady state is when every segment was steady.
fn phases(results: &[&RunResult], shifts: &[u64]) -> Phases {
    let end_s = results
        .iter()
        .zip(shifts)
        .map(|(r, s)| r.phases.total.end_s + *s as f64)
        .fold(0.0, f64::max);
    let steady = results
        .iter()
        .zip(shifts)
        .map(|(r, s)| r.phases.steady.map(|w| shifted(w, *s as f64)))
        .reduce(|a, b| match (a, b) {
            (Some(a), Some(b)) => Some(Window {
                start_s: a.start_s.max(b.start_s),
                end_s: a.end_s.min(b.end_s),
            }),
            _ => None,
        })
        .flatten()
        .filter(|w| w.start_s < w.end_s);
    let total = Window {
        start_s: 0.0,
        end_s,
    };
    Phases {
        ramp_up: Some(Window {
            start_s: 0.0,
            end_s: steady.map_or(end_s, |w| w.start_s),
        }),
        steady,
        ramp_down: steady.map(|w| Window {
            start_s: w.end_s,
            end_s,
        }),
        total,
    }
}

/// Every segment's error groups added up; the first failures of all, in order.
fn errors(results: &[&RunResult], shifts: &[u64]) -> ErrorReport {
    let mut groups: Vec<ErrorGroup> = Vec::new();
    let mut samples = Vec::new();
    for (r, shift) in results.iter().zip(shifts) {
        for g in &r.errors.groups {
            let same = |m: &&mut ErrorGroup| {
                m.endpoint == g.endpoint && m.status == g.status && m.reason == g.reason
            };
            match groups.iter_mut().find(same) {
                Some(m) => m.count += g.count,
                None => groups.push(g.clone()),
            }
        }
        samples.extend(r.errors.samples.iter().cloned().map(|mut s| {
            s.t_s += *shift as f64;
            s
        }));
    }
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.endpoint.cmp(&b.endpoint))
    });
    samples.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    let kept = results
        .iter()
        .map(|r| r.errors.samples.len())
        .max()
        .unwrap_or(0);
    samples.truncate(kept);
    // Each segment's own faults, added up by kind (the first seen kept).
    let mut generator: Vec<crate::result::GeneratorFaultReport> = Vec::new();
    for (r, shift) in results.iter().zip(shifts) {
        for g in &r.errors.generator {
            match generator.iter_mut().find(|m| m.kind == g.kind) {
                Some(m) => m.count += g.count,
                None => generator.push(crate::result::GeneratorFaultReport {
                    first_s: g.first_s + *shift as f64,
                    ..g.clone()
                }),
            }
        }
    }
    ErrorReport {
        groups,
        samples,
        groups_truncated: results.iter().any(|r| r.errors.groups_truncated),
        generator,
    }
}

fn shift_source(mut source: SourceReport, by: f64) -> SourceReport {
    for series in &mut source.series {
        for point in &mut series.points {
            point[0] += by;
        }
    }
    source
}

/// The SUT's figures from segment 0 (only it watched the SUT); each segment's
/// own load-generator figures, named by segment.
fn resources(results: &[&RunResult], shifts: &[u64]) -> ResourceReport {
    let first = &results[0].resources;
    let shift0 = shifts[0] as f64;
    let mut sources: Vec<SourceReport> = first
        .sources
        .iter()
        .filter(|s| s.kind != SourceKind::LoadGenerator)
        .map(|s| shift_source(s.clone(), shift0))
        .collect();
    for (i, (r, shift)) in results.iter().zip(shifts).enumerate() {
        for s in r.resources.sources.iter() {
            if s.kind == SourceKind::LoadGenerator {
                let mut s = shift_source(s.clone(), *shift as f64);
                s.target = format!("segment {i}: {}", s.target);
                sources.push(s);
            }
        }
    }
    ResourceReport {
        interval_s: first.interval_s,
        sources,
        health: first.health.clone().map(|mut h| {
            for p in &mut h.timeline {
                p.t_s += shift0;
            }
            h
        }),
        launched: None,
    }
}
