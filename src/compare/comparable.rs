//! Whether two sides of a comparison can be compared at all: the same plan,
//! each run valid and complete, its latency log whole, and run on a machine
//! as quiet (or as busy) as the other. A comparison that fails any of these
//! is INVALID: its rows describe the difference between the conditions, not
//! between the code.

use crate::result::{RunResult, RunStatus, VerdictStatus};

use super::RunData;

/// What makes a run the same plan as another: its name, its load model and
/// the request names it sends. Targets, limits and sizes may differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanKey {
    pub name: String,
    pub model: String,
    /// Sorted.
    pub requests: Vec<String>,
}

impl PlanKey {
    pub fn new(name: &str, model: &str, requests: impl Iterator<Item = String>) -> PlanKey {
        let mut requests: Vec<String> = requests.collect();
        requests.sort();
        PlanKey {
            name: name.to_string(),
            model: model.to_string(),
            requests,
        }
    }

    pub fn of(result: &RunResult) -> PlanKey {
        PlanKey::new(
            &result.plan.name,
            &result.plan.model,
            result.endpoints.iter().map(|e| e.name.clone()),
        )
    }

    /// How `self` (a baseline's) differs from `new`'s, in words.
    pub fn difference(&self, new: &PlanKey) -> Option<String> {
        if self.name != new.name {
            return Some(format!(
                "it ran the plan \"{}\", this run \"{}\"",
                self.name, new.name
            ));
        }
        if self.model != new.model {
            return Some(format!(
                "it ran a {} model, this run a {} one",
                self.model, new.model
            ));
        }
        if self.requests != new.requests {
            let only = |x: &[String], y: &[String]| -> String {
                x.iter()
                    .filter(|e| !y.contains(e))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Some(format!(
                "it sends other requests (only in the baseline: [{}]; only in this run: [{}])",
                only(&self.requests, &new.requests),
                only(&new.requests, &self.requests)
            ));
        }
        None
    }
}

/// A baseline of another plan, given without `--across-plans`.
#[derive(Debug, thiserror::Error)]
#[error(
    "the baseline {dir} is not a run of this plan: {difference}; its figures measure other work. \
     Give a baseline run of the same scenario, or --across-plans to compare anyway (the \
     comparison is then INVALID, shown for information)"
)]
pub struct OtherPlan {
    pub dir: String,
    pub difference: String,
}

/// Refuses baselines of another plan than `new`'s, unless `across_plans`.
pub fn refuse_other_plans(
    base: &[(std::path::PathBuf, RunData)],
    new: &PlanKey,
    across_plans: bool,
) -> Result<(), OtherPlan> {
    if across_plans {
        return Ok(());
    }
    for (dir, run) in base {
        if let Some(difference) = PlanKey::of(&run.result).difference(new) {
            return Err(OtherPlan {
                dir: dir.display().to_string(),
                difference,
            });
        }
    }
    Ok(())
}

/// Why a side cannot stand in a comparison (`side`: "the baseline X", "this run").
fn side_problems(run: &RunData, side: &str) -> Vec<String> {
    let result = &run.result;
    let mut problems = Vec::new();
    if result.outcome.status != RunStatus::Completed {
        let how = match result.outcome.status {
            RunStatus::Interrupted => "was interrupted",
            RunStatus::Killed => "was killed",
            RunStatus::Running => "never finished (killed while running)",
            RunStatus::Completed => "",
        };
        problems.push(format!(
            "{side} {how}{}: its figures are partial",
            result
                .outcome
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
    } else if result.verdict.status == VerdictStatus::Invalid {
        let why: Vec<String> = result
            .verdict
            .validity
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.check, c.detail))
            .collect();
        problems.push(format!("{side} is INVALID ({})", why.join("; ")));
    }
    if let Some(missing) = run.log_missing() {
        problems.push(format!("{side}'s {missing}"));
    }
    problems
}

/// Every reason the comparison of `new` with `base` is INVALID (none: comparable).
pub fn problems(base: &[&RunData], new: &RunData) -> Vec<String> {
    let mut out = Vec::new();
    for b in base {
        if let Some(d) = PlanKey::of(&b.result).difference(&PlanKey::of(&new.result)) {
            out.push(format!(
                "across plans: the baseline {} is another plan ({d}); their figures measure \
                 different work",
                b.result.run_id
            ));
        }
        out.extend(side_problems(
            b,
            &format!("the baseline {}", b.result.run_id),
        ));
    }
    out.extend(side_problems(new, "this run"));
    out.extend(super::machine::different_load(base, new));
    out
}
