//! After the load: each side's run saved as an ordinary run, the blocks and
//! pairs, the paired comparison and the verdict, written as ab.json, ab.md
//! and ab.html.

use std::io::Write;
use std::path::Path;

use super::outcome::{self, BlockContext};
use super::sides::Side;
use super::{AbRequest, Measured};
use crate::result::RunResult;
use crate::result::ab::{AB_SCHEMA_VERSION, AbResult, AbSide, NamedCost, SIDE_NAMES};
use crate::result::cost::Cost;
use crate::result::targets::RegressionPlan;
use crate::scenario::RunPlan;
use crate::{Exit, compare, record, report, runner, store, verdict};

use super::super::run::assemble::{RunMeta, assemble};

/// Validity checks of a side's run that speak for the whole A/B run: each
/// side's reach, and (from the baseline's run: both watch the same threads)
/// the load generator's CPU.
fn speaks_for_the_run(index: usize, check: &str) -> bool {
    check == "requests reached the SUT" || (index == 0 && check == "load generator CPU")
}

/// Saves both sides' runs and judges the pairs.
pub fn conclude(
    args: &AbRequest,
    plan: &RunPlan,
    sides: &[Side; 2],
    m: Measured,
    meta: &RunMeta,
    dir: &Path,
) -> anyhow::Result<AbResult> {
    let Measured {
        executed,
        collected,
        resources,
        captures,
        tally,
        cpu_at,
        plan: block_plan,
        clock,
    } = m;
    let ended = clock.finished_at().unwrap_or_else(std::time::Instant::now);
    let saved = save_sides(
        plan,
        sides,
        SideParts {
            clock: &clock,
            executed: &executed,
            collected,
            resources,
            captures,
        },
        meta,
        dir,
    )?;
    let axis = |t| clock.seconds_since_start(t);
    let blocks = outcome::blocks(
        &tally,
        &BlockContext {
            plan: block_plan,
            ended,
            cpu_at: &cpu_at,
            names: &plan
                .endpoints
                .iter()
                .map(|e| e.name.clone())
                .collect::<Vec<_>>(),
            header_labels: &plan.server_header_labels,
            axis: &axis,
        },
    );
    let pairs = outcome::pairs(&blocks);
    let comparison = compare::paired::compare(
        &blocks,
        &pairs,
        &limits(args, plan),
        block_plan.len.as_secs_f64(),
    );
    let died: Vec<Option<String>> = sides.iter().map(|s| s.died.clone()).collect();
    let validity = outcome::validity(
        &died,
        executed.interrupted.as_deref(),
        &pairs,
        saved.generator,
    );
    let (regressions, failing) = comparison.failing(plan.target_policy);
    let status = outcome::status(&validity, regressions, failing);
    let dropped = outcome::dropped(&blocks, &pairs, &tally);
    let mut result = AbResult {
        schema_version: AB_SCHEMA_VERSION,
        run_id: meta.run_id.clone(),
        name: plan.name.clone(),
        sides: sides
            .iter()
            .zip(saved.costs)
            .map(|(s, (cost, cost_by_name))| AbSide {
                cost,
                cost_by_name,
                ..s.summary(&plan.secrets)
            })
            .collect(),
        block_s: block_plan.len.as_secs_f64(),
        warm_up_s: block_plan.warm_up.as_secs_f64(),
        blocks,
        pairs,
        dropped,
        comparison,
        validity,
        status,
        flame_diff: saved.flame_diff,
        summary: String::new(),
    };
    result.summary = report::ab::summary(&result);
    write_outputs(dir, &result)?;
    Ok(result)
}

/// The regression limits: `--max-regression` for every figure, else the
/// file's `targets.regression`, else 20 %.
fn limits(args: &AbRequest, plan: &RunPlan) -> RegressionPlan {
    match args.max_regression {
        Some(p) => RegressionPlan::uniform(p),
        None => plan
            .regression
            .clone()
            .unwrap_or(RegressionPlan::uniform(0.20)),
    }
}

/// ab.json, ab.md and ab.html.
fn write_outputs(dir: &Path, result: &AbResult) -> anyhow::Result<()> {
    store::write_file(dir, "ab.json", &serde_json::to_vec_pretty(result)?)?;
    store::write_file(dir, "ab.md", report::ab::markdown(result).as_bytes())?;
    store::write_file(dir, "ab.html", report::ab::html(result).as_bytes())?;
    Ok(())
}

/// What each side's run is made of.
struct SideParts<'a> {
    clock: &'a crate::clock::RunClock,
    executed: &'a runner::Executed,
    collected: [record::Collected; 2],
    resources: [crate::result::resources::ResourceReport; 2],
    captures: [Option<crate::profile::Capture>; 2],
}

/// What saving the sides tells the A/B result.
struct Saved {
    /// The validity checks of the sides' runs that speak for the whole run.
    generator: Vec<crate::result::ValidityCheck>,
    /// Where the candidate's differential flame graph is.
    flame_diff: Option<String>,
    /// Each side's cost per request, overall and per request name.
    costs: [(Option<Cost>, Vec<NamedCost>); 2],
}

/// Saves each side as an ordinary run (its profile and cost too, and the
/// candidate's differential flame graph against the baseline's).
fn save_sides(
    plan: &RunPlan,
    sides: &[Side; 2],
    parts: SideParts,
    meta: &RunMeta,
    dir: &Path,
) -> anyhow::Result<Saved> {
    let mut generator = Vec::new();
    let mut costs: [(Option<Cost>, Vec<NamedCost>); 2] = Default::default();
    let mut base: Option<(std::path::PathBuf, RunResult)> = None;
    let mut flame_diff = None;
    let each = parts
        .collected
        .into_iter()
        .zip(parts.resources)
        .zip(parts.captures);
    for (index, ((mut collected, resources), capture)) in each.enumerate() {
        let side_dir = dir.join(SIDE_NAMES[index]);
        let interval_log = std::mem::take(&mut collected.interval_log);
        let header_log = std::mem::take(&mut collected.header_log);
        store::write_file(&side_dir, store::INTERVAL_LOG, &interval_log)?;
        store::write_file(&side_dir, store::HEADER_LOG, &header_log)?;
        let side = &sides[index];
        let mut result = side_run(
            plan,
            parts.clock,
            parts.executed,
            collected,
            resources,
            meta,
            side,
        );
        // The side's profile, its cost per request overall and, when the side
        // labels its samples (the baggage header), per request name: whole-run
        // figures beside the paired verdict, as in an ordinary run.
        let against = base.as_ref().map(|(d, r)| (d.as_path(), r));
        let mut unwritten = super::super::run::Unwritten::default();
        super::super::run::profile_and_cost(
            &side_dir,
            (capture, None),
            against,
            &interval_log,
            &mut result,
            &mut unwritten,
        );
        unwritten.into_result()?;
        if let Some(diff) = result.profile.as_ref().and_then(|p| p.diff.as_ref()) {
            flame_diff = Some(format!("{}/{}", SIDE_NAMES[index], diff.flamegraph));
        }
        result.verdict = verdict::judge(&result);
        mark_died(&mut result, side);
        costs[index] = side_costs(&result);
        report::write_reports(&side_dir, &result)?;
        generator.extend(
            result
                .verdict
                .validity
                .iter()
                .filter(|c| speaks_for_the_run(index, &c.check))
                .cloned()
                .map(|mut c| {
                    c.check = format!("{}: {}", SIDE_NAMES[index], c.check);
                    c
                }),
        );
        base = Some((side_dir, result));
    }
    Ok(Saved {
        generator,
        flame_diff,
        costs,
    })
}

/// A side run's cost per request, overall and per request name.
fn side_costs(result: &RunResult) -> (Option<Cost>, Vec<NamedCost>) {
    let by_name = result
        .endpoints
        .iter()
        .filter_map(|e| {
            e.cost.clone().map(|cost| NamedCost {
                name: e.name.clone(),
                cost,
            })
        })
        .collect();
    (result.totals.steady.cost.clone(), by_name)
}

/// A side that died is never a valid run.
fn mark_died(result: &mut RunResult, side: &Side) {
    if let Some(why) = &side.died {
        result.verdict.status = crate::result::VerdictStatus::Invalid;
        result.verdict.notes.push(why.clone());
    }
}

/// One side's requests as an ordinary run of the plan against its host.
fn side_run(
    plan: &RunPlan,
    clock: &crate::clock::RunClock,
    executed: &runner::Executed,
    mut c: record::Collected,
    resources: crate::result::resources::ResourceReport,
    meta: &RunMeta,
    side: &Side,
) -> RunResult {
    let load = record::load_report::finish(&plan.load, clock, None, &mut c);
    let executed = runner::Executed {
        arrivals: executed.arrivals.clone(),
        interrupted: executed.interrupted.clone(),
        started_at: executed.started_at,
        finished_at: executed.finished_at,
        load_started: executed.load_started,
        answers: None,
    };
    let mut meta = meta.clone();
    meta.run_id = side_run_id(&meta.run_id, side.name());
    let mut result = assemble(plan, executed, c, load, &meta);
    result.plan.host = plan.secrets.url(&side.spec.host);
    result.resources = resources;
    let window = result.window(result.primary_phase());
    result.resources.summarize(window);
    result.verdict = verdict::judge(&result);
    mark_died(&mut result, side);
    result
}

/// Prints the summary and where the run directory is; the exit code.
pub fn finish(dir: &Path, result: &AbResult, quiet: bool) -> Exit {
    if !quiet {
        print!("{}", report::ab::console(result));
    }
    let dir = std::path::absolute(dir).unwrap_or(dir.to_path_buf());
    if !quiet {
        println!("report: {}", dir.join("ab.html").display());
    }
    println!("run directory: {}", dir.display());
    let _ = std::io::stdout().flush();
    Exit::from_verdict(result.status)
}

/// A side's run id: the A/B run's, then the side's name (`…-ab-baseline`). Its
/// run.json says it, and its requests' `baggage` header names it.
pub(super) fn side_run_id(ab_run_id: &str, side: &str) -> String {
    format!("{ab_run_id}-{side}")
}
