//! `summary.md`: the verdict, the targets, the requests and the comparison
//! with the baseline, as GitHub-flavoured Markdown for a CI step summary
//! (`$GITHUB_STEP_SUMMARY`) or a merge-request comment.

use std::io::Write;

use super::cost_text;
use super::{Exporter, ReportError};
use crate::format::{comparison_sign, cpu_ms, ms, value};
use crate::result::comparison::{Change, Comparison};
use crate::result::{RunResult, TargetOutcome, Verdict, VerdictStatus};

pub struct MarkdownSummary;

impl Exporter for MarkdownSummary {
    fn file_name(&self) -> &'static str {
        "summary.md"
    }

    fn export(&self, result: &RunResult, out: &mut dyn Write) -> Result<(), ReportError> {
        out.write_all(render(result).as_bytes())
            .map_err(super::io_error("summary.md"))
    }
}

/// Text shown as itself, safe inside a table cell: no pipes, no line breaks,
/// no HTML, and no Markdown, so a name or reason from the SUT cannot become
/// an image, a link or a forged row.
fn cell(text: &str) -> String {
    crate::redact::markdown(&text.replace('&', "&amp;"))
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out.push('\n');
}

/// The comment: its sections (headline, targets, requests, WebSockets) in the
/// order a reader sees them.
pub fn render(result: &RunResult) -> String {
    let v = &result.verdict;
    let mut out = headline(result);
    invalid(&mut out, v);
    targets(&mut out, v);
    requests(&mut out, result);
    out.push_str(&cost(result));
    websockets(&mut out, result);
    if let Some(c) = &result.comparison {
        out.push_str(&comparison(c));
    }
    for note in &v.notes {
        out.push_str(&format!("> {}\n", cell(note)));
    }
    out
}

/// The title line with the verdict, and the run's provenance.
fn headline(result: &RunResult) -> String {
    let v = &result.verdict;
    let (icon, word) = match v.status {
        VerdictStatus::Pass => ("✅", "PASS"),
        VerdictStatus::Fail => ("❌", "FAIL"),
        VerdictStatus::Invalid => ("⚠️", "INVALID"),
        VerdictStatus::NoTargets => ("ℹ️", "no targets"),
    };
    let mut out = format!("## {icon} gander: {} — {word}\n\n", cell(&result.plan.name));
    let p = &result.provenance;
    out.push_str(&format!(
        "`{}` · {} on {} · {} · started {}{}\n\n",
        cell(&result.run_id),
        cell(&super::load_text::model(&result.plan)),
        cell(&result.plan.host),
        v.judged_on
            .map(|ph| format!("judged on the {}", ph.label()))
            .unwrap_or_default(),
        cell(&p.started_at),
        p.git_revision
            .as_deref()
            .map(|g| format!(" · git {}", cell(g)))
            .unwrap_or_default(),
    ));
    out
}

/// The validity checks that failed, when the run is invalid.
fn invalid(out: &mut String, v: &Verdict) {
    let broken: Vec<_> = v.validity.iter().filter(|c| !c.ok).collect();
    if !broken.is_empty() {
        out.push_str("**The run is invalid:**\n\n");
        for c in broken {
            out.push_str(&format!("- {}: {}\n", cell(&c.check), cell(&c.detail)));
        }
        out.push('\n');
    }
}

/// The targets' table.
fn targets(out: &mut String, v: &Verdict) {
    let (shown, passed_regressions) = v.rows_to_show();
    if !v.targets.is_empty() {
        let rows: Vec<Vec<String>> = shown
            .into_iter()
            .map(|t| {
                let mark = match (t.outcome, t.decisive) {
                    (TargetOutcome::Pass, _) => "✅",
                    (_, false) => "⚠️",
                    _ => "❌",
                };
                vec![
                    format!("{mark} {}", t.outcome.label()),
                    cell(&format!("{} of {}", t.metric, t.scope)),
                    t.observed
                        .map(|o| value(o, &t.unit))
                        .unwrap_or_else(|| "–".into()),
                    format!(
                        "{} {}",
                        comparison_sign(&t.comparison),
                        value(t.limit, &t.unit)
                    ),
                    t.detail.as_deref().map(cell).unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str("### Targets\n\n");
        table(out, &["", "target", "observed", "limit", "detail"], &rows);
        if passed_regressions > 0 {
            out.push_str(&format!(
                "…and {passed_regressions} regression checks against the baseline passed.\n\n"
            ));
        }
    }
}

/// Every request name's figures in the primary phase.
fn requests(out: &mut String, result: &RunResult) {
    let phase = result.primary_phase();
    let protocol = super::reach_text::show_protocols(result);
    let mut rows = Vec::new();
    // `name` is Markdown already.
    let mut add = |name: String, s: &crate::result::Stats| {
        let lat = |f: fn(&crate::result::LatencySummary) -> f64| {
            s.latency_ms
                .as_ref()
                .map(|l| ms(f(l)))
                .unwrap_or_else(|| "–".into())
        };
        let mut row = vec![
            name,
            (s.requests + s.not_sent).to_string(),
            format!("{:.1}", s.rps),
            format!("{:.2}%", s.error_rate * 100.0),
            lat(|l| l.p50),
            lat(|l| l.p95),
            lat(|l| l.p99),
            lat(|l| l.max),
        ];
        if protocol {
            row.push(cell(&super::reach_text::protocols(s)));
        }
        rows.push(row);
    };
    add("**all requests**".into(), result.totals.get(phase));
    for e in &result.endpoints {
        add(cell(&e.name), e.stats.get(phase));
    }
    out.push_str(&format!("### Requests ({})\n\n", phase.label()));
    if let Some(transport) = super::reach_text::transport(&result.plan) {
        out.push_str(&format!("Transport: {}\n\n", cell(&transport)));
    }
    let mut header = vec![
        "request", "count", "req/s", "errors", "p50", "p95", "p99", "max",
    ];
    if protocol {
        header.push("protocol");
    }
    table(out, &header, &rows);
}

/// The WebSockets' counts over the whole run, when there were any.
fn websockets(out: &mut String, result: &RunResult) {
    let sockets = super::reach_text::sockets(result, |s| &s.all);
    if !sockets.is_empty() {
        out.push_str("### WebSockets (whole run)\n\n");
        let rows: Vec<Vec<String>> = sockets
            .into_iter()
            .map(|(name, w)| {
                vec![
                    cell(name),
                    w.sockets.to_string(),
                    w.dropped.to_string(),
                    w.messages_received.to_string(),
                    w.messages_sent.to_string(),
                ]
            })
            .collect();
        table(
            out,
            &[
                "socket",
                "sockets",
                "dropped",
                "messages received",
                "messages sent",
            ],
            &rows,
        );
    }
}

/// The SUT's CPU per request, overall and per request name with its method;
/// nothing for a run that measured none (older runs included).
fn cost(result: &RunResult) -> String {
    let total = result.totals.steady.cost.as_ref();
    if total.is_none() && !cost_text::any_per_name(result) {
        return String::new();
    }
    let mut out = String::from("### Cost per request (the SUT's CPU)\n\n");
    match total {
        Some(c) => out.push_str(&format!(
            "All requests: {} over {} requests of the steady state (CPU from {}).\n\n",
            cost_text::figure(c),
            c.requests,
            cell(&c.cpu_source)
        )),
        None => out.push_str(&format!(
            "All requests: {}.\n\n",
            cell(&cost_text::overall_missing(result))
        )),
    }
    if !cost_text::any_per_name(result) {
        out.push_str(&format!("{}\n\n", cell(cost_text::HOW_TO)));
        return out;
    }
    let rows: Vec<Vec<String>> = result
        .endpoints
        .iter()
        .filter(|e| cost_text::measurable(e))
        .map(|e| match &e.cost {
            Some(c) => {
                let i = c.cpu_ms_per_request;
                vec![
                    cell(&e.name),
                    cpu_ms(i.value),
                    format!("{}–{}", cpu_ms(i.low), cpu_ms(i.high)),
                    cost_text::method_short(c.method).to_string(),
                    c.cpu_share
                        .map(|s| format!("{:.1}%", s * 100.0))
                        .unwrap_or_else(|| "–".into()),
                ]
            }
            None => vec![
                cell(&e.name),
                "–".into(),
                "–".into(),
                cell(&cost_text::name_missing(result, e)),
                "–".into(),
            ],
        })
        .collect();
    table(
        &mut out,
        &[
            "request",
            "CPU per request",
            "95% interval",
            "method",
            "share of the SUT's CPU",
        ],
        &rows,
    );
    out
}

/// The comparison with the baseline as a Markdown section (also `gander compare`'s).
pub fn comparison(c: &Comparison) -> String {
    let mut out = format!(
        "### Compared with {} baseline run{}\n\n",
        c.baseline.len(),
        if c.baseline.len() == 1 { "" } else { "s" }
    );
    out.push_str(&format!("{}\n\n", cell(&c.tally())));
    let rows: Vec<Vec<String>> = c
        .rows_to_show()
        .into_iter()
        .map(|r| {
            let pct = |x: f64| r.show_change(x);
            let mark = match r.change {
                Change::Regression => "❌",
                Change::Improvement => "🟢",
                Change::Inconclusive => "❔",
                Change::Unchanged | Change::Changed | Change::TooFew => "",
            };
            vec![
                cell(&r.figure),
                cell(&r.scope),
                value(r.base, &r.unit),
                value(r.new, &r.unit),
                pct(r.worse_by),
                r.show_interval(),
                r.limit.map(pct).unwrap_or_else(|| "–".into()),
                format!("{mark} {}", r.verdict()).trim().to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("No figure changed beyond the noise.\n\n");
    } else {
        table(
            &mut out,
            &[
                "figure", "scope", "baseline", "this run", "worse by", "interval", "limit",
                "verdict",
            ],
            &rows,
        );
    }
    let too_few = c.too_few();
    if !too_few.is_empty() {
        out.push_str(&format!(
            "Too few to compare: {}.\n\n",
            cell(&too_few.join("; "))
        ));
    }
    for note in &c.notes {
        out.push_str(&format!("> {}\n\n", cell(note)));
    }
    for why in &c.invalid {
        out.push_str(&format!("> **INVALID comparison:** {}\n\n", cell(why)));
    }
    out.push_str(&format!("<sub>{}</sub>\n\n", cell(&c.method)));
    out
}
