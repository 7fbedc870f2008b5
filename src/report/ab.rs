//! `gander ab`'s own reports: the verdict line, the console and Markdown
//! summaries (the comparison table is `gander compare`'s), and `ab.html`:
//! the sides side by side and the pairs over time.

use minijinja::{Environment, context};
use serde::Serialize;

use crate::result::VerdictStatus;
use crate::result::ab::{AbBlock, AbResult, SIDE_NAMES};
use crate::result::cost::{Cost, Interval};

const TEMPLATE: &str = include_str!("ab.html");

/// The verdict in one line.
pub fn summary(r: &AbResult) -> String {
    let kept = r.pairs.iter().filter(|p| p.kept).count();
    let word = match r.status {
        VerdictStatus::Invalid => {
            let failed: Vec<&str> = r
                .validity
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.detail.as_str())
                .collect();
            return format!("INVALID: {}", failed.join("; "));
        }
        VerdictStatus::Fail => "FAIL: regression",
        VerdictStatus::Pass | VerdictStatus::NoTargets => "PASS: no regression",
    };
    format!(
        "{word} ({}; {kept} pairs of {:.1} s blocks, {} blocks dropped)",
        r.comparison.tally(),
        r.block_s,
        r.dropped.blocks
    )
}

/// The console summary.
pub fn console(r: &AbResult) -> String {
    let mut out = format!(
        "\ngander ab: {} — candidate {} against baseline {}\n",
        r.name, r.sides[1].host, r.sides[0].host
    );
    out.push_str(&format!(
        "blocks: {} of {:.1} s after a {:.0} s warm-up; {} dropped, {} requests in flight at a \
         switch (neither side's)\n",
        r.blocks.len(),
        r.block_s,
        r.warm_up_s,
        r.dropped.blocks,
        r.dropped.in_flight_requests
    ));
    out.push_str(&super::console::comparison(&r.comparison));
    for c in r.validity.iter().filter(|c| !c.ok) {
        out.push_str(&format!("invalid: {}: {}\n", c.check, c.detail));
    }
    out.push_str(&format!("verdict: {}\n", r.summary));
    out
}

/// ab.md: the verdict and the comparison, for a pull request comment.
pub fn markdown(r: &AbResult) -> String {
    let mut out = format!(
        "## gander ab: {}\n\n**{}**\n\nCandidate `{}` against baseline `{}`: {} blocks of \
         {:.1} s (ABBA BAAB …) after a {:.0} s warm-up; {} blocks dropped, {} requests in \
         flight at a switch.\n\n",
        r.name,
        r.summary,
        r.sides[1].host,
        r.sides[0].host,
        r.blocks.len(),
        r.block_s,
        r.warm_up_s,
        r.dropped.blocks,
        r.dropped.in_flight_requests
    );
    for c in r.validity.iter().filter(|c| !c.ok) {
        out.push_str(&format!("- invalid: {}: {}\n", c.check, c.detail));
    }
    out.push_str(&super::markdown::comparison(&r.comparison));
    out.push_str(&cost_markdown(r));
    out
}

/// One row of the sides' costs: a scope, its method, and each side's CPU ms
/// per request with its interval.
#[derive(Serialize)]
struct CostRow {
    scope: String,
    method: &'static str,
    sides: [Option<Interval>; 2],
    /// Candidate over baseline.
    ratio: Option<f64>,
}

/// Each side's cost per request over the whole run: overall, then per request
/// name (names either side measured).
fn cost_rows(r: &AbResult) -> Vec<CostRow> {
    let row = |scope: &str, costs: [Option<&Cost>; 2]| {
        let method = costs.iter().flatten().next()?.method.label();
        let sides = costs.map(|c| c.map(|c| c.cpu_ms_per_request));
        let ratio = match sides {
            [Some(b), Some(c)] if b.value > 0.0 => Some(c.value / b.value),
            _ => None,
        };
        Some(CostRow {
            scope: scope.to_string(),
            method,
            sides,
            ratio,
        })
    };
    let mut rows: Vec<CostRow> = row(
        "all requests",
        [0, 1].map(|i| r.sides.get(i)?.cost.as_ref()),
    )
    .into_iter()
    .collect();
    let mut names: Vec<&str> = Vec::new();
    for side in &r.sides {
        for c in &side.cost_by_name {
            if !names.contains(&c.name.as_str()) {
                names.push(&c.name);
            }
        }
    }
    for name in names {
        let of = |i: usize| {
            r.sides
                .get(i)?
                .cost_by_name
                .iter()
                .find(|c| c.name == name)
                .map(|c| &c.cost)
        };
        rows.extend(row(name, [of(0), of(1)]));
    }
    rows
}

/// The sides' costs as a Markdown table, or nothing when neither side's CPU was measured.
fn cost_markdown(r: &AbResult) -> String {
    let rows = cost_rows(r);
    if rows.is_empty() {
        return String::new();
    }
    let ms = |i: &Option<Interval>| {
        i.map_or("–".to_string(), |i| {
            format!("{:.3} ({:.3} … {:.3})", i.value, i.low, i.high)
        })
    };
    let mut out = String::from(
        "\n### CPU per request, each side over the whole run\n\n\
         Not paired, so not judged: the paired row `cpu_per_request` of all requests above is the verdict.\n\n\
         | scope | method | baseline ms | candidate ms | candidate / baseline |\n|---|---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            row.scope,
            row.method,
            ms(&row.sides[0]),
            ms(&row.sides[1]),
            row.ratio.map_or("–".to_string(), |x| format!("{x:.2}"))
        ));
    }
    out
}

/// One scope's figures on one side: medians over its kept blocks.
#[derive(Serialize)]
struct SideFigures {
    scope: String,
    p50: [Option<f64>; 2],
    p95: [Option<f64>; 2],
    throughput: [Option<f64>; 2],
    error_rate: [Option<f64>; 2],
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

fn side_by_side(r: &AbResult) -> Vec<SideFigures> {
    let kept: Vec<&AbBlock> = r.blocks.iter().filter(|b| b.dropped.is_none()).collect();
    let scopes: Vec<String> = kept
        .first()
        .map(|b| b.endpoints.iter().map(|e| e.name.clone()).collect())
        .unwrap_or_default();
    let per_side = |scope: &str, f: &dyn Fn(&crate::result::ab::AbBlockEndpoint) -> Option<f64>| {
        SIDE_NAMES.map(|side| {
            median(
                kept.iter()
                    .filter(|b| b.side == side)
                    .filter_map(|b| b.endpoints.iter().find(|e| e.name == scope))
                    .filter_map(f)
                    .collect(),
            )
        })
    };
    scopes
        .iter()
        .map(|s| SideFigures {
            scope: s.clone(),
            p50: per_side(s, &|e| e.p50_ms),
            p95: per_side(s, &|e| e.p95_ms),
            throughput: per_side(s, &|e| Some(e.ok as f64 / r.block_s)),
            error_rate: per_side(s, &|e| {
                Some(e.errors as f64 / (e.ok + e.errors).max(1) as f64 * 100.0)
            }),
        })
        .collect()
}

/// The pairs over time: an SVG polyline per ratio, in a 600×200 box.
#[derive(Serialize)]
struct Chart {
    p95: String,
    cpu: String,
    /// The y of ratio 1.
    one: f64,
    max: f64,
}

fn chart(r: &AbResult) -> Chart {
    let kept: Vec<_> = r.pairs.iter().filter(|p| p.kept).collect();
    let max = kept
        .iter()
        .flat_map(|p| [p.p95_ratio, p.cpu_ratio])
        .flatten()
        .fold(1.5_f64, f64::max)
        .min(10.0);
    let n = kept.len().max(2) as f64 - 1.0;
    let line = |pick: &dyn Fn(&crate::result::ab::AbPair) -> Option<f64>| {
        kept.iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let y = pick(p)?.min(max);
                Some(format!(
                    "{:.1},{:.1}",
                    20.0 + 560.0 * i as f64 / n,
                    190.0 - 180.0 * y / max
                ))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    Chart {
        p95: line(&|p| p.p95_ratio),
        cpu: line(&|p| p.cpu_ratio),
        one: 190.0 - 180.0 / max,
        max,
    }
}

/// A comparison row as the page shows it.
#[derive(Serialize)]
struct RowView {
    figure: String,
    scope: String,
    base: String,
    new: String,
    worse_by: String,
    interval: String,
    limit: String,
    verdict: String,
    regression: bool,
}

fn rows(r: &AbResult) -> Vec<RowView> {
    use crate::result::comparison::Change;
    let shown = |x: f64, unit: &str| {
        if x.is_finite() {
            format!("{x:.3} {unit}").trim().to_string()
        } else {
            "–".into()
        }
    };
    r.comparison
        .rows
        .iter()
        .filter(|row| row.change != Change::TooFew)
        .map(|row| RowView {
            figure: row.figure.clone(),
            scope: row.scope.clone(),
            base: shown(row.base, &row.unit),
            new: shown(row.new, &row.unit),
            worse_by: row.show_change(row.worse_by),
            interval: row.show_interval(),
            limit: row.limit.map_or("–".into(), |l| row.show_change(l)),
            verdict: row.verdict(),
            regression: row.change == Change::Regression,
        })
        .collect()
}

/// ab.html.
pub fn html(r: &AbResult) -> String {
    let mut env = Environment::new();
    if env.add_template("ab.html", TEMPLATE).is_err() {
        return String::new();
    }
    env.get_template("ab.html")
        .and_then(|t| {
            t.render(context! {
                r => minijinja::value::Serde(r),
                sides => minijinja::value::Serde(side_by_side(r)),
                chart => minijinja::value::Serde(chart(r)),
                tally => r.comparison.tally(),
                rows => minijinja::value::Serde(rows(r)),
                costs => minijinja::value::Serde(cost_rows(r)),
            })
        })
        .unwrap_or_else(|e| format!("<p>cannot render the A/B report: {e}</p>"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::ValidityCheck;
    use crate::result::ab::{AbBlockEndpoint, AbDropped, AbPair, AbSide};
    use crate::result::comparison::Comparison;
    use crate::result::cost::CostMethod;

    fn block(index: usize, side: &str, p95: f64, cpu: Option<f64>) -> AbBlock {
        AbBlock {
            index,
            side: side.into(),
            start_s: index as f64,
            end_s: index as f64 + 1.0,
            dropped: None,
            ok: 100,
            errors: 0,
            unreached: 0,
            in_flight: 2,
            cpu_ms: cpu.map(|c| c * 100.0),
            cpu_ms_per_request: cpu,
            endpoints: vec![AbBlockEndpoint {
                name: "all requests".into(),
                ok: 100,
                errors: 0,
                p50_ms: Some(p95 / 2.0),
                p95_ms: Some(p95),
                p99_ms: None,
            }],
            server_headers: Vec::new(),
        }
    }

    /// Every part of the page renders, with and without optional figures.
    #[test]
    fn the_page_renders_the_sides_the_pairs_and_the_blocks() {
        let blocks = vec![
            block(0, "baseline", 10.0, Some(0.5)),
            block(1, "candidate", 12.0, None),
        ];
        let result = AbResult {
            schema_version: 1,
            run_id: "x".into(),
            name: "t <b>".into(),
            sides: SIDE_NAMES
                .iter()
                .zip([0.25, 0.5])
                .map(|(s, ms)| AbSide {
                    name: s.to_string(),
                    host: "http://h".into(),
                    pid: None,
                    command: None,
                    died: None,
                    cost: Some(cost(ms, CostMethod::Total)),
                    cost_by_name: vec![crate::result::ab::NamedCost {
                        name: "quiz question".into(),
                        cost: cost(ms * 2.0, CostMethod::Labels),
                    }],
                })
                .collect(),
            block_s: 1.0,
            warm_up_s: 2.0,
            pairs: vec![AbPair {
                baseline_block: 0,
                candidate_block: 1,
                kept: true,
                p95_ratio: Some(1.2),
                cpu_ratio: None,
            }],
            blocks,
            dropped: AbDropped::default(),
            comparison: Comparison {
                baseline: vec!["baseline".into()],
                invalid: Vec::new(),
                method: "m".into(),
                error_budget: 0.05,
                judged: 0,
                rows: Vec::new(),
                notes: Vec::new(),
            },
            validity: vec![ValidityCheck {
                check: "pairs".into(),
                ok: false,
                detail: "1 of 1".into(),
            }],
            status: VerdictStatus::Invalid,
            flame_diff: None,
            summary: "INVALID".into(),
        };
        let page = html(&result);
        assert!(!page.contains("cannot render"), "{page}");
        assert!(page.contains("t &lt;b&gt;"));
        assert!(page.contains("10.00") && page.contains("12.00"), "{page}");
        assert!(page.contains("0.500") && page.contains("invalid: pairs"));
        // Each side's whole-run cost: overall, then per name, with the ratio.
        assert!(page.contains("id=\"costs\""), "{page}");
        let md = markdown(&result);
        assert!(
            md.contains(
                "| all requests | total | 0.250 (0.225 … 0.275) | 0.500 (0.450 … 0.550) | 2.00 |"
            ),
            "{md}"
        );
        assert!(md.contains("| quiz question | labels | 0.500"), "{md}");
    }

    fn cost(ms: f64, method: CostMethod) -> Cost {
        Cost {
            cpu_ms_per_request: Interval {
                value: ms,
                low: ms * 0.9,
                high: ms * 1.1,
            },
            method,
            requests: 100,
            cpu_s: ms / 10.0,
            cpu_share: None,
            cpu_source: "process".into(),
            alone: None,
        }
    }
}
