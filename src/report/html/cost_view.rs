//! The page's "Cost per request" section: the SUT's CPU per request overall
//! and per request name, the method in words, and each name's flame graphs
//! (its labelled samples, its sweep alone, against the baseline).

use serde::Serialize;

use super::view::Cell;
use crate::format::{cpu_ms, ms};
use crate::report::cost_text;
use crate::result::RunResult;
use crate::result::cost::Cost;

/// The server header whose mean per request the section shows.
const SQL_HEADER: &str = "x-sql-queries";

#[derive(Serialize)]
pub struct CostView {
    /// The overall figure in words, or why there is none.
    pub overall: String,
    pub overall_measured: bool,
    pub total: Option<CostRow>,
    pub rows: Vec<CostRow>,
    /// The name of the `X-SQL-Queries` column, when that header was recorded.
    pub sql_header: Option<String>,
    /// A sweep ran: the p50 alone column.
    pub alone: bool,
    /// How to get per-name figures, when no name has one.
    pub how_to: Option<String>,
    /// The methods used, in words (a legend).
    pub methods: Vec<String>,
    /// One entry per request name with a flame graph.
    pub flames: Vec<NameFlames>,
}

#[derive(Serialize)]
pub struct CostRow {
    pub name: String,
    pub cpu: Cell,
    pub interval: String,
    pub method: String,
    pub share: Cell,
    pub sql: Cell,
    pub alone_p50: Cell,
    /// Why there is no figure.
    pub note: String,
}

#[derive(Serialize)]
pub struct NameFlames {
    pub name: String,
    /// `1.78ms CPU per request (labels)`, or why there is none.
    pub summary: String,
    pub graphs: Vec<FlameRef>,
}

/// A flame graph file of the run directory; the page embeds it by `id`.
#[derive(Serialize)]
pub struct FlameRef {
    pub id: String,
    pub title: String,
    pub file: String,
}

fn cell(value: Option<f64>, text: impl Fn(f64) -> String) -> Cell {
    match value {
        Some(v) => Cell {
            text: text(v),
            sort: v,
        },
        None => Cell {
            text: "–".into(),
            sort: -1.0,
        },
    }
}

fn row(name: &str, cost: Option<&Cost>, sql: Option<f64>, note: String) -> CostRow {
    CostRow {
        name: name.to_string(),
        cpu: cell(cost.map(|c| c.cpu_ms_per_request.value), cpu_ms),
        interval: cost
            .map(|c| {
                let i = c.cpu_ms_per_request;
                format!("{} – {}", cpu_ms(i.low), cpu_ms(i.high))
            })
            .unwrap_or_else(|| "–".into()),
        method: cost
            .map(|c| cost_text::method_short(c.method).to_string())
            .unwrap_or_default(),
        share: cell(cost.and_then(|c| c.cpu_share), |s| {
            format!("{:.1}%", s * 100.0)
        }),
        sql: cell(sql, |q| format!("{q:.1}")),
        alone_p50: cell(cost.and_then(|c| c.alone.as_ref()?.p50_ms), ms),
        note: if cost.is_some() { String::new() } else { note },
    }
}

pub fn build(result: &RunResult) -> CostView {
    let phase = result.primary_phase();
    let sql_of = |stats: &crate::result::Stats| {
        stats
            .server_headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(SQL_HEADER))
            .map(|(_, s)| s.mean)
    };
    let sql_header = result
        .totals
        .get(phase)
        .server_headers
        .keys()
        .find(|h| h.eq_ignore_ascii_case(SQL_HEADER))
        .cloned();
    let total = result.totals.steady.cost.as_ref();
    let overall = match total {
        Some(c) => format!(
            "All requests: {} of the SUT's CPU per request over {} requests of the steady state \
             (CPU from {}).",
            cost_text::figure(c),
            c.requests,
            c.cpu_source
        ),
        None => format!("All requests: {}.", cost_text::overall_missing(result)),
    };
    let endpoints = result.endpoints.iter().filter(|e| cost_text::measurable(e));
    let mut rows: Vec<CostRow> = endpoints
        .clone()
        .map(|e| {
            row(
                &e.name,
                e.cost.as_ref(),
                sql_of(e.stats.get(phase)),
                cost_text::name_missing(result, e),
            )
        })
        .collect();
    // Costliest first; names without a figure last, in the file's order.
    rows.sort_by(|a, b| b.cpu.sort.total_cmp(&a.cpu.sort));
    let mut methods: Vec<String> = Vec::new();
    for c in result.endpoints.iter().filter_map(|e| e.cost.as_ref()) {
        let words = cost_text::method_words(c.method).to_string();
        if !methods.contains(&words) {
            methods.push(words);
        }
    }
    let flames = endpoints
        .enumerate()
        .filter_map(|(i, e)| name_flames(result, i, e))
        .collect();
    CostView {
        overall,
        overall_measured: total.is_some(),
        total: total.map(|c| {
            row(
                "all requests",
                Some(c),
                sql_of(result.totals.get(phase)),
                String::new(),
            )
        }),
        rows,
        sql_header,
        alone: result
            .endpoints
            .iter()
            .any(|e| e.cost.as_ref().is_some_and(|c| c.alone.is_some())),
        how_to: (!cost_text::any_per_name(result))
            .then(|| format!("No per-request-name figure. {}", cost_text::HOW_TO)),
        methods,
        flames,
    }
}

/// A request name's flame graphs: its labelled samples, its sweep alone and
/// its labelled samples against the baseline's.
fn name_flames(
    result: &RunResult,
    i: usize,
    endpoint: &crate::result::EndpointResult,
) -> Option<NameFlames> {
    let labelled = result
        .profile
        .as_ref()
        .and_then(|p| p.by_request.iter().find(|r| r.name == endpoint.name));
    let mut graphs = Vec::new();
    let mut add = |kind: &str, title: String, file: Option<&String>| {
        if let Some(file) = file {
            graphs.push(FlameRef {
                id: format!("cost-flame-{i}-{kind}"),
                title,
                file: file.clone(),
            });
        }
    };
    if let Some(r) = labelled {
        add(
            "labels",
            format!("{} samples labelled {:?} by the SUT", r.samples, r.name),
            r.flamegraph.as_ref(),
        );
        add(
            "diff",
            "against the baseline, per request: red grew, blue shrank".into(),
            r.diff_flamegraph.as_ref(),
        );
    }
    let alone = endpoint.cost.as_ref().and_then(|c| c.alone.as_ref());
    if let Some(a) = alone {
        add(
            "alone",
            format!(
                "driven alone by {} users, {:.1}s – {:.1}s of the run",
                a.users, a.start_s, a.end_s
            ),
            a.flamegraph.as_ref(),
        );
        add(
            "alone-diff",
            "alone, against the baseline's sweep, per request: red grew, blue shrank".into(),
            a.diff_flamegraph.as_ref(),
        );
    }
    if graphs.is_empty() {
        return None;
    }
    let summary = match &endpoint.cost {
        Some(c) => format!(
            "{} CPU per request ({})",
            cpu_ms(c.cpu_ms_per_request.value),
            c.method.label()
        ),
        None => "no CPU figure".into(),
    };
    Some(NameFlames {
        name: endpoint.name.clone(),
        summary,
        graphs,
    })
}
