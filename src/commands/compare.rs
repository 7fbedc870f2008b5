//! `gander compare BASE... NEW`: judge a saved run against saved baseline runs.

use anyhow::Context;
use serde::Deserialize;
use serde::de::value::StrDeserializer;

use crate::compare::{self, RunData, newest_with_profile};
use crate::profile::{self, folded::Folded};
use crate::result::targets::{RegressionPlan, TargetPolicy};
use crate::scenario::units::Percent;
use crate::{Exit, report, store};

/// `gander compare`, as the CLI asks for it.
#[derive(Debug, Clone)]
pub struct CompareRequest {
    /// Baseline runs (or directories of runs), then the run to judge.
    pub runs: Vec<std::path::PathBuf>,
    /// How many good runs to take from a directory of runs.
    pub baseline_last: usize,
    /// A regression limit for every figure, e.g. `20%`.
    pub max_regression: Option<String>,
    /// The run-to-run variation to assume, e.g. `10%`.
    pub run_to_run: Option<String>,
    /// Where comparison.json, comparison.md and the differential flame graph go.
    pub output: Option<std::path::PathBuf>,
    /// Compare with a baseline of another plan instead of refusing it.
    pub across_plans: bool,
}

/// A percentage flag, e.g. `20%`, as a fraction.
pub(super) fn percent(flag: &str, text: Option<&str>) -> anyhow::Result<Option<f64>> {
    text.map(|text| {
        Percent::deserialize(StrDeserializer::<serde::de::value::Error>::new(text))
            .map(|p| p.0)
            .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
    })
    .transpose()
}

// Long on purpose: the command's linear pipeline (read the runs, compare, judge, write, print), as hyperfine's run().
pub fn compare_runs(args: &CompareRequest) -> anyhow::Result<Exit> {
    let (new_dir, base_dirs) = args
        .runs
        .split_last()
        .context("give at least one baseline run and the run to judge")?;
    let max = percent("--max-regression", args.max_regression.as_deref())?;
    let run_to_run = percent("--run-to-run", args.run_to_run.as_deref())?;
    let new = RunData::read(new_dir)?;
    let compare::Baselines { runs: base, notes } =
        compare::baseline_runs(base_dirs, &new.result.plan.name, args.baseline_last)?;
    if base.is_empty() {
        anyhow::bail!("no baseline run to compare with: {}", notes.join("; "));
    }
    compare::comparable::refuse_other_plans(
        &base,
        &compare::comparable::PlanKey::of(&new.result),
        args.across_plans,
    )?;
    let mut limits = match max {
        Some(p) => RegressionPlan::uniform(p),
        // The seeds' "degradation under 20 %" when the run's file sets no limits.
        None => new
            .result
            .plan
            .regression
            .clone()
            .unwrap_or(RegressionPlan::uniform(0.20)),
    };
    if run_to_run.is_some() {
        limits.run_to_run = run_to_run;
    }
    let runs: Vec<&RunData> = base.iter().map(|(_, r)| r).collect();
    let comparison = compare::compare(&runs, &new, Some(&limits));

    print!("{}", report::console::comparison(&comparison));
    if let Some(out) = &args.output {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        store::write_file(
            out,
            "comparison.json",
            &serde_json::to_vec_pretty(&comparison)?,
        )?;
        store::write_file(
            out,
            "comparison.md",
            report::markdown::comparison(&comparison).as_bytes(),
        )?;
        if let (Some((base_dir, base_result)), Some(report)) =
            (newest_with_profile(&base), new.result.profile.as_ref())
        {
            let file = report
                .files
                .folded
                .as_deref()
                .unwrap_or(profile::FOLDED_FILE);
            if let Some(folded) = std::fs::read_to_string(new_dir.join(file))
                .ok()
                .and_then(|t| Folded::parse(&t).ok())
                && let Some(diff) =
                    compare::profile_diff::against(base_dir, base_result, &folded, report, out)?
            {
                println!(
                    "differential flame graph: {}",
                    out.join(&diff.flamegraph).display()
                );
            }
        }
        if let Some(base) = newest_with_profile(&base) {
            request_diffs(base, (new_dir, &new.result), out)?;
        }
        println!("comparison written to {}", out.display());
    }

    Ok(verdict(&comparison, new.result.plan.target_policy))
}

/// Each request name's differential flame graphs (labelled profiles in both
/// runs, and profiles alone when both swept), written into `out` and named on
/// stdout.
fn request_diffs(
    base: (&std::path::Path, &crate::result::RunResult),
    (new_dir, new): (&std::path::Path, &crate::result::RunResult),
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let parts: Vec<&str> = new
        .profile
        .iter()
        .flat_map(|p| &p.by_request)
        .map(|r| r.name.as_str())
        .collect();
    for (i, file) in compare::profile_diff::by_request(base, (new_dir, new), out)? {
        println!(
            "differential flame graph of {}: {}",
            crate::redact::control(parts.get(i).copied().unwrap_or_default()),
            out.join(file).display()
        );
    }
    for (i, file) in compare::profile_diff::alone_diffs(base, (new_dir, new), out)? {
        println!(
            "differential flame graph of {} alone: {}",
            crate::redact::control(&new.endpoints[i].name),
            out.join(file).display()
        );
    }
    Ok(())
}

/// Prints the comparison's verdict as its last line; the exit code.
fn verdict(comparison: &crate::result::comparison::Comparison, policy: TargetPolicy) -> Exit {
    if !comparison.invalid.is_empty() {
        println!(
            "verdict: INVALID: the runs cannot be compared: {}",
            comparison.invalid.join("; ")
        );
        return Exit::Invalid;
    }
    let (regressions, failing_inconclusive) = comparison.failing(policy);
    let (code, word) = match (regressions, failing_inconclusive) {
        (0, 0) => (Exit::Pass, "PASS: no regression"),
        (0, _) => (
            Exit::TargetFailed,
            "FAIL: inconclusive (targets.inconclusive: fail)",
        ),
        _ => (Exit::TargetFailed, "FAIL: regression"),
    };
    println!("verdict: {word} ({})", comparison.tally());
    code
}
