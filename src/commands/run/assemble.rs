//! Puts a run's plan, what was recorded and where it came from into one
//! `RunResult`. A segment's `plan` is the whole plan (the same in every
//! segment, which is how a merge knows they belong together); its share is in
//! `provenance.segment`.

use crate::clock::CommonStart;
use crate::record::Collected;
use crate::result::{
    LoadReport, PlanSummary, PlannedStage, Provenance, RunResult, RunStatus, SCHEMA_VERSION,
    ScenarioResult, ScenarioSummary, SegmentReport, StartReport,
};
use crate::runner;
use crate::scenario::RunPlan;
use crate::scenario::plan::{LoadEnd, LoadModel};

/// Where a run came from, beside its plan.
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub run_id: String,
    pub git_revision: Option<String>,
    pub scenario_sha256: Option<String>,
    /// `--start-at`.
    pub start: Option<CommonStart>,
}

/// The plan, the recorded figures and where they came from, as one result.
pub fn assemble(
    plan: &RunPlan,
    executed: runner::Executed,
    c: Collected,
    load: LoadReport,
    meta: &RunMeta,
) -> RunResult {
    RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: meta.run_id.clone(),
        outcome: crate::result::Outcome {
            status: if executed.interrupted.is_some() {
                RunStatus::Interrupted
            } else {
                RunStatus::Completed
            },
            reason: executed.interrupted.clone(),
        },
        provenance: provenance(plan, &executed, meta),
        plan: plan_summary(plan, &c.users_by_scenario),
        phases: c.phases,
        totals: c.totals,
        endpoints: plan
            .endpoints
            .iter()
            .zip(c.endpoints)
            .map(|(e, stats)| crate::result::EndpointResult {
                name: e.name.clone(),
                method: e.method.to_string(),
                stats,
                cost: None,
            })
            .collect(),
        scenarios: plan
            .scenarios
            .iter()
            .zip(c.scenarios)
            .map(|(s, stats)| ScenarioResult {
                name: s.name.clone(),
                stats,
            })
            .collect(),
        timeseries: c.timeseries,
        load,
        errors: c.errors,
        resources: Default::default(),
        profile: None,
        comparison: None,
        answers: executed.answers.clone(),
        outputs: Vec::new(),
        cost_sweep: None,
        verdict: Default::default(),
    }
}

fn provenance(plan: &RunPlan, executed: &runner::Executed, meta: &RunMeta) -> Provenance {
    Provenance {
        gander_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: executed.started_at.to_rfc3339(),
        finished_at: executed.finished_at.to_rfc3339(),
        command_line: std::env::args_os()
            .map(|a| plan.secrets.message(&a.to_string_lossy()))
            .collect(),
        scenario_file: plan.source.display().to_string(),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string()),
        git_revision: meta.git_revision.clone(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        scenario_sha256: meta.scenario_sha256.clone(),
        start: meta.start.map(|s| StartReport {
            at: s.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            axis_from_s: s.axis_from_s,
            late_s: executed.load_started.map(|began| s.late_s(began)),
        }),
        segment: plan.segment.as_ref().map(|s| SegmentReport {
            index: s.segment.index,
            count: s.segment.count,
            users: plan.load.users,
            users_by_scenario: s.users_by_scenario.clone(),
        }),
        segments: Vec::new(),
    }
}

/// The whole plan as run (a segment's too), with the users each scenario started here.
fn plan_summary(plan: &RunPlan, users_by_scenario: &[usize]) -> PlanSummary {
    let load = plan.whole_load();
    let (duration_s, iterations) = match load.end {
        LoadEnd::Duration(d) => (Some(d.as_secs_f64()), None),
        LoadEnd::Iterations(n) => (None, Some(n)),
    };
    PlanSummary {
        name: plan.name.clone(),
        host: plan.secrets.url(&plan.host),
        model: load.model.label().into(),
        users: load.users,
        rate: (load.model == LoadModel::Open).then(|| load.peak_level()),
        stages: load
            .stages
            .iter()
            .map(|s| PlannedStage {
                name: s.name.clone(),
                duration_s: s.duration.as_secs_f64(),
                written_s: s.written.as_secs_f64(),
                target: s.target,
            })
            .collect(),
        steady_stage: load.steady_stage.map(|i| load.stages[i].name.clone()),
        ramp_up_s: load.ramp_up.as_secs_f64(),
        duration_s,
        iterations,
        scenarios: plan
            .scenarios
            .iter()
            .zip(users_by_scenario)
            .map(|(s, users)| ScenarioSummary {
                name: s.name.clone(),
                weight: s.weight,
                users_started: *users,
            })
            .collect(),
        server_headers: plan.server_header_labels.clone(),
        targets: plan.targets.clone(),
        target_policy: plan.target_policy,
        regression: plan.regression.clone(),
        http: plan.http.label().into(),
        tls: (!plan.tls.is_default()).then(|| crate::result::TlsSummary {
            insecure: plan.tls.insecure,
            ca: plan.tls.ca.as_ref().map(|(file, _)| file.clone()),
            client_cert: plan.tls.client.as_ref().map(|c| c.cert_file.clone()),
            server_name: plan.tls.server_name.clone(),
        }),
    }
}
