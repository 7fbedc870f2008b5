//! What the HTML page shows, computed from a `RunResult`: every figure already
//! formatted, every table already in rows. The template only lays it out, and
//! escapes every string (they come from the SUT and the scenario).

use serde::Serialize;

use crate::format::{comparison_sign, ms, value};
use crate::result::comparison::{Change, Comparison};
use crate::result::targets::TargetWindow;
use crate::result::{
    LatencySummary, RunResult, RunStatus, Stats, TargetOutcome, TargetResult, ValidityCheck,
    VerdictStatus,
};

/// Longest body excerpt shown with an error sample.
const BODY_EXCERPT: usize = 300;
/// Error samples shown per page.
const ERROR_SAMPLES: usize = 10;

#[derive(Serialize)]
pub struct View {
    pub title: String,
    pub run_id: String,
    pub banner: Banner,
    pub provenance: Vec<Fact>,
    pub validity: Vec<ValidityCheck>,
    pub targets: Vec<TargetRow>,
    /// Regression checks that could not be decided (warnings only), shown folded.
    pub undecided: Vec<TargetRow>,
    /// Regression checks that passed, folded into a count.
    pub passed_regressions: usize,
    pub notes: Vec<String>,
    pub phase: String,
    pub header_names: Vec<String>,
    /// The request tables have a protocol column.
    pub show_protocols: bool,
    /// What each request name's WebSockets did over the whole run.
    pub sockets: Vec<SocketRow>,
    pub totals: RequestRow,
    pub endpoints: Vec<RequestRow>,
    pub scenarios: Vec<RequestRow>,
    pub resources: Vec<ResourceRow>,
    pub comparison: Option<ComparisonView>,
    pub errors: ErrorsView,
    pub health: Option<HealthView>,
    pub profile: Option<ProfileView>,
    pub cost: super::cost_view::CostView,
}

#[derive(Serialize)]
pub struct Banner {
    /// CSS class: `pass`, `fail`, `invalid`, `interrupted` or `none`.
    pub class: &'static str,
    pub word: &'static str,
    pub lines: Vec<String>,
}

#[derive(Serialize)]
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

#[derive(Serialize)]
pub struct TargetRow {
    /// CSS class: `pass`, `fail`, `warn`.
    pub class: &'static str,
    pub outcome: &'static str,
    pub metric: String,
    pub scope: String,
    pub observed: String,
    pub limit: String,
    pub window: &'static str,
    pub detail: String,
}

/// A figure with the number the table sorts by.
#[derive(Serialize)]
pub struct Cell {
    pub text: String,
    pub sort: f64,
}

impl Cell {
    fn of(sort: f64, text: String) -> Cell {
        Cell { text, sort }
    }

    fn missing() -> Cell {
        Cell::of(-1.0, "–".into())
    }
}

#[derive(Serialize)]
pub struct RequestRow {
    pub name: String,
    pub method: String,
    /// The protocols answers came over (`HTTP/2`), when the table shows them.
    pub protocol: String,
    /// `count, req/s, errors, p50, p90, p95, p99, max`, then one per server header.
    pub cells: Vec<Cell>,
}

#[derive(Serialize)]
pub struct SocketRow {
    pub name: String,
    pub sockets: u64,
    pub dropped: u64,
    pub received: u64,
    pub sent: u64,
}

#[derive(Serialize)]
pub struct ResourceRow {
    pub source: String,
    pub series: String,
    pub samples: usize,
    pub avg: String,
    pub p95: String,
    pub max: String,
}

#[derive(Serialize)]
pub struct ComparisonView {
    pub baseline: Vec<String>,
    pub method: String,
    /// How many rows of each kind, e.g. `2 regressions`.
    pub counts: Vec<String>,
    /// Regressions, inconclusive rows and improvements.
    pub rows: Vec<ComparisonRowView>,
    /// Figures that did not move beyond the noise, shown folded.
    pub unchanged: Vec<ComparisonRowView>,
}

#[derive(Serialize)]
pub struct ComparisonRowView {
    pub class: &'static str,
    pub figure: String,
    pub scope: String,
    pub base: String,
    pub new: String,
    pub change: String,
    pub interval: String,
    pub limit: String,
    pub verdict: String,
    pub note: String,
}

#[derive(Serialize)]
pub struct ErrorsView {
    pub total: u64,
    pub groups: Vec<ErrorGroupView>,
    pub truncated: bool,
    pub samples: Vec<ErrorSampleView>,
}

#[derive(Serialize)]
pub struct ErrorGroupView {
    pub endpoint: String,
    pub status: String,
    pub reason: String,
    pub count: u64,
}

#[derive(Serialize)]
pub struct ErrorSampleView {
    pub t: String,
    pub endpoint: String,
    pub status: String,
    pub reason: String,
    pub body: String,
}

#[derive(Serialize)]
pub struct HealthView {
    pub url: String,
    pub counts: Vec<Fact>,
    /// One span per run of equal states, placed in percent of the run.
    pub spans: Vec<HealthSpan>,
}

#[derive(Serialize)]
pub struct HealthSpan {
    pub state: &'static str,
    pub left: f64,
    pub width: f64,
    pub title: String,
}

#[derive(Serialize)]
pub struct ProfileView {
    pub ok: bool,
    pub source: String,
    pub target: String,
    pub reason: String,
    pub summary: String,
    pub top: Vec<TopRow>,
    pub baseline_run: String,
    /// The samples on each side of the differential, and why it is not painted.
    pub diff_summary: String,
    pub grew_most: Vec<GrewRow>,
}

#[derive(Serialize)]
pub struct TopRow {
    pub function: String,
    pub self_share: String,
    pub total_share: String,
}

#[derive(Serialize)]
pub struct GrewRow {
    pub function: String,
    pub baseline: String,
    pub current: String,
    pub delta: String,
}

pub fn build(result: &RunResult) -> View {
    let phase = result.primary_phase();
    let header_names: Vec<String> = result
        .totals
        .get(phase)
        .server_headers
        .keys()
        .cloned()
        .collect();
    let row = |name: &str, method: &str, stats: &Stats| RequestRow {
        name: name.to_string(),
        method: method.to_string(),
        protocol: crate::report::reach_text::protocols(stats),
        cells: request_cells(stats, &header_names),
    };
    let (shown, passed_regressions) = result.verdict.rows_to_show();
    let (undecided, decided): (Vec<_>, Vec<_>) =
        shown.into_iter().partition(|t| undecided_regression(t));
    // Misses first, then warnings, then passes; file order within each.
    let mut targets: Vec<TargetRow> = decided.into_iter().map(target_row).collect();
    targets.sort_by_key(|r| match r.class {
        "fail" => 0,
        "warn" => 1,
        _ => 2,
    });
    View {
        title: result.plan.name.clone(),
        run_id: result.run_id.clone(),
        banner: banner(result),
        provenance: provenance(result),
        validity: result.verdict.validity.clone(),
        targets,
        undecided: undecided.into_iter().map(target_row).collect(),
        passed_regressions,
        notes: result.verdict.notes.clone(),
        phase: phase.label().to_string(),
        totals: row("all requests", "", result.totals.get(phase)),
        endpoints: result
            .endpoints
            .iter()
            .map(|e| row(&e.name, &e.method, e.stats.get(phase)))
            .collect(),
        scenarios: if result.scenarios.len() > 1 {
            result
                .scenarios
                .iter()
                .map(|s| row(&s.name, "", s.stats.get(phase)))
                .collect()
        } else {
            Vec::new()
        },
        header_names,
        show_protocols: crate::report::reach_text::show_protocols(result),
        sockets: crate::report::reach_text::sockets(result, |s| &s.all)
            .into_iter()
            .map(|(name, w)| SocketRow {
                name: name.to_string(),
                sockets: w.sockets,
                dropped: w.dropped,
                received: w.messages_received,
                sent: w.messages_sent,
            })
            .collect(),
        resources: resources(result),
        comparison: result.comparison.as_ref().map(comparison),
        errors: errors(result),
        health: health(result),
        profile: profile(result),
        cost: super::cost_view::build(result),
    }
}

fn banner(result: &RunResult) -> Banner {
    let v = &result.verdict;
    let mut lines = Vec::new();
    if let Some(reason) = &result.outcome.reason
        && result.outcome.status != RunStatus::Running
    {
        lines.push(format!("Stopped early: {reason}."));
    }
    for c in v.validity.iter().filter(|c| !c.ok) {
        lines.push(format!("Invalid run — {}: {}.", c.check, c.detail));
    }
    let decisive_misses: Vec<_> = v
        .targets
        .iter()
        .filter(|t| t.outcome != TargetOutcome::Pass && t.decisive)
        .collect();
    let warnings = v
        .targets
        .iter()
        .filter(|t| t.outcome != TargetOutcome::Pass && !t.decisive)
        .count();
    match v.status {
        VerdictStatus::Pass if warnings > 0 => lines.push(format!(
            "No target missed: {} met, {warnings} could not be decided (warning only).",
            v.targets.len() - warnings
        )),
        VerdictStatus::Pass => lines.push(format!("All {} targets met.", v.targets.len())),
        VerdictStatus::Fail => {
            lines.push(format!(
                "{} of {} targets missed:",
                decisive_misses.len(),
                v.targets.len()
            ));
            for t in decisive_misses.iter().take(5) {
                let row = target_row(t);
                let observed = if t.observed.is_some() {
                    row.observed
                } else {
                    row.outcome.to_string()
                };
                lines.push(format!(
                    "{} of {}: {observed} (limit {})",
                    row.metric, row.scope, row.limit
                ));
            }
            if decisive_misses.len() > 5 {
                lines.push(format!("…and {} more.", decisive_misses.len() - 5));
            }
        }
        VerdictStatus::NoTargets => lines.push("The scenario states no targets.".into()),
        VerdictStatus::Invalid => {}
    }
    if warnings > 0 && v.status != VerdictStatus::Pass {
        lines.push(format!(
            "{warnings} target{} could not be decided (warning only).",
            if warnings == 1 { "" } else { "s" }
        ));
    }
    let (class, word) = match (result.outcome.status, v.status) {
        (RunStatus::Interrupted, _) => ("interrupted", "INTERRUPTED"),
        (RunStatus::Running, _) => ("interrupted", "RUNNING"),
        (RunStatus::Killed, _) => ("interrupted", "KILLED"),
        (_, VerdictStatus::Pass) => ("pass", "PASS"),
        (_, VerdictStatus::Fail) => ("fail", "FAIL"),
        (_, VerdictStatus::Invalid) => ("invalid", "INVALID"),
        (_, VerdictStatus::NoTargets) => ("none", "NO TARGETS"),
    };
    Banner { class, word, lines }
}

fn provenance(result: &RunResult) -> Vec<Fact> {
    let p = &result.provenance;
    let plan = &result.plan;
    let fact = |label, value: String| Fact { label, value };
    let mut facts = vec![
        fact("scenario", plan.name.clone()),
        fact("file", p.scenario_file.clone()),
        fact("host", plan.host.clone()),
        fact("load", {
            let shape = crate::report::load_text::shape(plan);
            let model = crate::report::load_text::model(plan);
            if shape.is_empty() {
                model
            } else {
                format!("{model}; {shape}")
            }
        }),
        fact("started", p.started_at.clone()),
        fact("finished", p.finished_at.clone()),
        fact("length", value(result.phases.total.len_s(), "s")),
    ];
    if let Some(pace) = crate::report::load_text::pace(&result.load) {
        facts.push(fact("pace", pace));
    }
    if let Some(transport) = crate::report::reach_text::transport(plan) {
        facts.push(fact("transport", transport));
    }
    if let Some(steady) = result.phases.steady {
        facts.push(fact(
            "steady state",
            format!("{:.1}s – {:.1}s", steady.start_s, steady.end_s),
        ));
    }
    facts.extend([
        fact("gander", p.gander_version.clone()),
        fact(
            "git revision",
            p.git_revision.clone().unwrap_or_else(|| "unknown".into()),
        ),
        fact(
            "host machine",
            format!(
                "{} · {} cores for gander",
                p.hostname.clone().unwrap_or_else(|| "unknown".into()),
                p.cores
            ),
        ),
        fact("command", p.command_line.join(" ")),
        fact("run", result.run_id.clone()),
    ]);
    facts
}

/// A regression check whose noise left it open and that does not fail the run.
fn undecided_regression(t: &TargetResult) -> bool {
    t.regression && !t.decisive && t.outcome != TargetOutcome::Pass
}

fn target_row(t: &TargetResult) -> TargetRow {
    let class = match (t.outcome, t.decisive) {
        (TargetOutcome::Pass, _) => "pass",
        (_, false) => "warn",
        _ => "fail",
    };
    TargetRow {
        class,
        outcome: t.outcome.label(),
        metric: t.metric.clone(),
        scope: t.scope.clone(),
        observed: t
            .observed
            .map(|o| value(o, &t.unit))
            .unwrap_or_else(|| "–".into()),
        limit: format!(
            "{} {}",
            comparison_sign(&t.comparison),
            value(t.limit, &t.unit)
        ),
        window: if t.regression {
            "vs baseline"
        } else {
            match t.window {
                TargetWindow::Steady => "steady state",
                TargetWindow::WholeRun => "whole run",
            }
        },
        detail: t.detail.clone().unwrap_or_default(),
    }
}

fn request_cells(s: &Stats, header_names: &[String]) -> Vec<Cell> {
    let lat = |f: fn(&LatencySummary) -> f64| {
        s.latency_ms
            .as_ref()
            .map(|l| Cell::of(f(l), ms(f(l))))
            .unwrap_or_else(Cell::missing)
    };
    let count = s.requests + s.not_sent;
    let mut cells = vec![
        Cell::of(count as f64, count.to_string()),
        Cell::of(s.rps, format!("{:.1}", s.rps)),
        Cell::of(s.error_rate, format!("{:.2}%", s.error_rate * 100.0)),
        lat(|l| l.p50),
        lat(|l| l.p90),
        lat(|l| l.p95),
        lat(|l| l.p99),
        lat(|l| l.max),
    ];
    cells.extend(header_names.iter().map(|h| {
        s.server_headers
            .get(h)
            .map(|hs| {
                Cell::of(
                    hs.mean,
                    format!(
                        "{} (max {})",
                        value(hs.mean, &hs.unit),
                        value(hs.max, &hs.unit)
                    ),
                )
            })
            .unwrap_or_else(Cell::missing)
    }));
    cells
}

fn resources(result: &RunResult) -> Vec<ResourceRow> {
    let mut rows = Vec::new();
    for source in &result.resources.sources {
        for series in &source.series {
            let Some(s) = &series.summary else { continue };
            rows.push(ResourceRow {
                source: source.label(),
                series: series.name.clone(),
                samples: s.samples,
                avg: value(s.avg, &series.unit),
                p95: value(s.p95, &series.unit),
                max: value(s.max, &series.unit),
            });
        }
    }
    rows
}

fn comparison(c: &Comparison) -> ComparisonView {
    let unchanged = c
        .rows
        .iter()
        .filter(|r| matches!(r.change, Change::Unchanged | Change::TooFew));
    ComparisonView {
        baseline: c.baseline.clone(),
        method: c.method.clone(),
        counts: vec![c.tally()],
        rows: c.rows_to_show().into_iter().map(comparison_row).collect(),
        unchanged: unchanged.map(comparison_row).collect(),
    }
}

fn comparison_row(r: &crate::result::comparison::ComparisonRow) -> ComparisonRowView {
    ComparisonRowView {
        class: match r.change {
            Change::Regression => "fail",
            Change::Improvement => "pass",
            Change::Inconclusive => "warn",
            Change::Unchanged | Change::Changed | Change::TooFew => "same",
        },
        figure: r.figure.clone(),
        scope: r.scope.clone(),
        base: value(r.base, &r.unit),
        new: value(r.new, &r.unit),
        change: r.show_change(r.worse_by),
        interval: r.show_interval(),
        limit: r
            .limit
            .map(|l| format!("≤ {}", r.show_change(l)))
            .unwrap_or_else(|| "–".into()),
        verdict: r.verdict(),
        note: r.note.clone().unwrap_or_default(),
    }
}

fn errors(result: &RunResult) -> ErrorsView {
    let e = &result.errors;
    ErrorsView {
        total: e.groups.iter().map(|g| g.count).sum(),
        groups: e
            .groups
            .iter()
            .map(|g| ErrorGroupView {
                endpoint: g.endpoint.clone(),
                status: status_text(g.status),
                reason: g.reason.clone(),
                count: g.count,
            })
            .collect(),
        truncated: e.groups_truncated,
        samples: e
            .samples
            .iter()
            .take(ERROR_SAMPLES)
            .map(|s| ErrorSampleView {
                t: format!("{:.1}s", s.t_s),
                endpoint: s.endpoint.clone(),
                status: status_text(s.status),
                reason: s.reason.clone(),
                body: s.body.as_deref().map(excerpt).unwrap_or_default(),
            })
            .collect(),
    }
}

/// `0` is a request that got no response at all.
fn status_text(status: u16) -> String {
    if status == 0 {
        "no response".into()
    } else {
        status.to_string()
    }
}

fn excerpt(body: &str) -> String {
    match body.char_indices().nth(BODY_EXCERPT) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_string(),
    }
}

fn health(result: &RunResult) -> Option<HealthView> {
    let h = result.resources.health.as_ref()?;
    let total = result.phases.total.len_s().max(1e-9);
    let mut spans: Vec<HealthSpan> = Vec::new();
    for (i, p) in h.timeline.iter().enumerate() {
        let end = h
            .timeline
            .get(i + 1)
            .map(|n| n.t_s)
            .unwrap_or(result.phases.total.end_s);
        let state = p.state.label();
        match spans.last_mut() {
            Some(last) if last.state == state => {
                last.width = (end / total * 100.0 - last.left).max(0.0);
            }
            _ => spans.push(HealthSpan {
                state,
                left: p.t_s / total * 100.0,
                width: ((end - p.t_s) / total * 100.0).max(0.0),
                title: format!(
                    "{state} from {:.1}s{}",
                    p.t_s,
                    p.detail
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
            }),
        }
    }
    Some(HealthView {
        url: h.url.clone(),
        counts: h
            .counts
            .iter()
            .map(|(state, n)| Fact {
                label: state.label(),
                value: n.to_string(),
            })
            .collect(),
        spans,
    })
}

fn profile(result: &RunResult) -> Option<ProfileView> {
    let p = result.profile.as_ref()?;
    let ok = p.status == crate::result::profile::ProfileStatus::Ok;
    let summary = match p.window {
        Some(w) if ok => format!(
            "{} {} over {:.1}s – {:.1}s of the run, while {} requests completed",
            p.samples, p.unit, w.start_s, w.end_s, p.requests_in_window
        ),
        _ => String::new(),
    };
    Some(ProfileView {
        ok,
        source: p.source.clone(),
        target: p.target.clone(),
        reason: p.reason.clone().unwrap_or_default(),
        summary,
        top: p
            .top
            .iter()
            .map(|f| TopRow {
                function: f.function.clone(),
                self_share: format!("{:.1}%", f.self_share * 100.0),
                total_share: format!("{:.1}%", f.total_share * 100.0),
            })
            .collect(),
        baseline_run: p
            .diff
            .as_ref()
            .map(|d| d.baseline_run.clone())
            .unwrap_or_default(),
        diff_summary: p
            .diff
            .as_ref()
            .map(crate::report::console::diff_summary)
            .unwrap_or_default(),
        grew_most: p
            .diff
            .iter()
            .flat_map(|d| &d.grew_most)
            .map(|f| GrewRow {
                function: f.function.clone(),
                baseline: format!("{:.1}", f.baseline_per_1k),
                current: format!("{:.1}", f.current_per_1k),
                delta: format!("{:+.1}", f.delta_per_1k),
            })
            .collect(),
    })
}
