//! The verdict: a pure function of a run's results, its targets, its
//! comparison with a baseline and the checks that it measured the SUT at all.

mod answers;
mod figures;
mod validity;

use crate::result::comparison::{Change, Scale};
use crate::result::targets::{Policy, TargetSpec, TargetWindow};
use crate::result::{Phase, RunResult, TargetOutcome, TargetResult, Verdict, VerdictStatus};

/// Judges every target, every regression limit and the run's validity.
// Long on purpose: notes, targets, regressions and validity judged in the order the verdict lists them.
pub fn judge(result: &RunResult) -> Verdict {
    let primary = result.primary_phase();
    let policy = result.plan.target_policy;
    let mut notes = Vec::new();
    if primary != Phase::Steady {
        notes.push(match &result.plan.steady_stage {
            Some(stage) => format!(
                "the run never reached its steady stage \"{stage}\": targets judged on the whole run"
            ),
            None => "the run never had all users running at once: targets judged on the whole run"
                .to_string(),
        });
    }
    if result.plan.tls.as_ref().is_some_and(|t| t.insecure) {
        notes.push(
            "TLS certificates were NOT verified (tls.insecure): the answers came from whatever \
             server held the address; fine for a throwaway test, not for a gate"
                .into(),
        );
    }
    // The pace, the protocol and the profile's window.
    notes.extend(validity::run_notes(result));
    notes.extend(answers::notes(result));
    notes.extend(validity::machine_note(result));
    if let Some(sweep) = &result.cost_sweep {
        notes.extend(sweep.notes.iter().map(|n| format!("cost sweep: {n}")));
    }
    let mut targets: Vec<TargetResult> = Vec::new();
    if let Some(segment) = result.provenance.segment.as_ref().filter(|s| s.count > 1) {
        // A throughput target, say, is the whole plan's: a share of the load cannot meet it.
        notes.push(format!(
            "segment {} of {}: this run is one share of the load; its targets are judged once, \
             on the merged run (gander merge)",
            segment.index, segment.count
        ));
    } else {
        targets.extend(
            result
                .plan
                .targets
                .iter()
                .map(|t| judge_one(result, t, primary)),
        );
    }
    targets.extend(regressions(result));
    if result.plan.regression.is_some() && result.comparison.is_none() {
        notes.push("targets.regression is set but there was no baseline run: not checked".into());
    }
    for t in &mut targets {
        t.decisive = match t.outcome {
            TargetOutcome::Pass | TargetOutcome::Fail => true,
            TargetOutcome::NoData => policy.no_data == Policy::Fail,
            TargetOutcome::Inconclusive => policy.inconclusive == Policy::Fail,
        };
    }
    notes.extend(warnings(&targets));
    notes.extend(too_few_to_compare(result));
    if let Some(c) = &result.comparison {
        notes.extend(c.notes.iter().cloned());
    }
    let validity = validity::check(result);
    let status = if validity.iter().any(|c| !c.ok) {
        notes.push(
            "the run is INVALID: its figures describe the load generator or a partial run, \
             not the SUT, and decide nothing"
                .into(),
        );
        VerdictStatus::Invalid
    } else if targets.is_empty() {
        VerdictStatus::NoTargets
    } else if targets
        .iter()
        .any(|t| t.decisive && t.outcome != TargetOutcome::Pass)
    {
        VerdictStatus::Fail
    } else {
        VerdictStatus::Pass
    };
    Verdict {
        status,
        judged_on: Some(primary),
        targets,
        validity,
        notes,
    }
}

fn judge_one(result: &RunResult, target: &TargetSpec, primary: Phase) -> TargetResult {
    let phase = match target.window {
        TargetWindow::Steady => primary,
        TargetWindow::WholeRun => Phase::All,
    };
    let figure = figures::observe(result, target, phase);
    let outcome = match figure.observed {
        None => TargetOutcome::NoData,
        Some(v) if (figure.upper && v <= target.limit) || (!figure.upper && v >= target.limit) => {
            TargetOutcome::Pass
        }
        Some(_) => TargetOutcome::Fail,
    };
    TargetResult {
        metric: figure.metric,
        scope: figure.scope,
        comparison: if figure.upper { "<=" } else { ">=" }.to_string(),
        limit: target.limit,
        observed: figure.observed,
        unit: figure.unit.to_string(),
        outcome,
        window: target.window,
        regression: false,
        decisive: true,
        detail: figure.detail,
    }
}

/// One note per kind of undecided row that only warns, naming the rows.
fn warnings(targets: &[TargetResult]) -> Vec<String> {
    [
        (TargetOutcome::NoData, "had no data", "no_data"),
        (
            TargetOutcome::Inconclusive,
            "were inconclusive",
            "inconclusive",
        ),
    ]
    .into_iter()
    .filter_map(|(outcome, said, key)| {
        let rows: Vec<String> = targets
            .iter()
            .filter(|t| !t.decisive && t.outcome == outcome)
            .map(|t| format!("{} of {}", t.metric, t.scope))
            .collect();
        (!rows.is_empty()).then(|| {
            format!(
                "{} {said}, a warning only (targets.{key}: warn): {}",
                count(rows.len(), "target"),
                rows.join("; ")
            )
        })
    })
    .collect()
}

/// The request names (and scopes) whose figures had too few values to compare, once.
fn too_few_to_compare(result: &RunResult) -> Option<String> {
    let scopes = result.comparison.as_ref()?.too_few();
    (!scopes.is_empty()).then(|| format!("too few to compare: {}", scopes.join("; ")))
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// One row per compared figure that has a regression limit.
fn regressions(result: &RunResult) -> Vec<TargetResult> {
    let Some(comparison) = &result.comparison else {
        return Vec::new();
    };
    comparison
        .rows
        .iter()
        // Rows with too few values are listed once in the notes, not judged.
        .filter(|row| row.change != Change::TooFew)
        .filter_map(|row| {
            let limit = row.limit?;
            // Fractions shown as percent, or percentage points for absolute figures.
            let factor = 100.0;
            let unit = match row.scale {
                Scale::Relative => "%",
                Scale::Absolute => "points",
            };
            let interval = row
                .interval
                .map(|[lo, hi]| {
                    format!(", interval {:+.1}..{:+.1} {unit}", lo * factor, hi * factor)
                })
                .unwrap_or_default();
            let note = row
                .note
                .as_deref()
                .map(|n| format!("; {n}"))
                .unwrap_or_default();
            Some(TargetResult {
                metric: format!("{} regression", row.figure),
                scope: row.scope.clone(),
                comparison: "<=".into(),
                limit: limit * factor,
                observed: Some(row.worse_by * factor).filter(|v| v.is_finite()),
                unit: unit.into(),
                outcome: match row.change {
                    Change::Regression => TargetOutcome::Fail,
                    Change::Inconclusive => TargetOutcome::Inconclusive,
                    Change::Improvement | Change::Unchanged | Change::Changed => {
                        TargetOutcome::Pass
                    }
                    Change::TooFew => TargetOutcome::NoData,
                },
                window: TargetWindow::Steady,
                regression: true,
                decisive: true,
                detail: Some(format!(
                    "{}: baseline {} → {}{interval}{note}",
                    row.change.label(),
                    figures::format_value(row.base, &row.unit),
                    figures::format_value(row.new, &row.unit),
                )),
            })
        })
        .collect()
}
