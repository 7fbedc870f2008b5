//! `report.html`: one self-contained page (CSS, JS, data and flame graphs
//! inline; nothing is fetched) rendered with minijinja, whose auto-escaping
//! covers every string that comes from the SUT or the scenario.
//!
//! Charts are drawn in the browser by uPlot (MIT, vendored in
//! `assets/vendor/uplot`): ~50 KB, fast on thousands of points, and it gives a
//! reviewer a shared cursor, values under it and drag-to-zoom across charts on
//! one time axis, which static SVG would not. Flame graphs are inferno's own
//! interactive SVGs (search, zoom), gzip-compressed into the page and shown in
//! sandboxed frames, so even a hostile symbol name cannot reach the page.

mod charts;
mod cost_view;
mod view;

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use minijinja::{Environment, context};

use super::{Exporter, ReportError};
use crate::result::RunResult;

const TEMPLATE: &str = include_str!("report.html");
const REPORT_CSS: &str = include_str!("report.css");
const REPORT_JS: &str = include_str!("report.js");
const UPLOT_JS: &str = include_str!("../../../assets/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../../assets/vendor/uplot/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../../../assets/vendor/uplot/LICENSE");

const LIVE_JS: &str = include_str!("live.js");

pub const FILE_NAME: &str = "report.html";

pub use charts::NameLatency;

/// What the live page shows beside the report's figures so far.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LiveView {
    pub elapsed_s: f64,
    /// Until the planned end, when the plan has one.
    pub left_s: Option<f64>,
    /// Set once the run has ended and its report is written.
    pub report_url: Option<String>,
    /// Each request name's latencies per second, aligned with the run's seconds.
    #[serde(skip)]
    pub by_name: Vec<NameLatency>,
}

/// Renders the page for the run saved in `dir` (the flame graphs are read from there).
pub struct HtmlReport {
    pub dir: PathBuf,
}

impl Exporter for HtmlReport {
    fn file_name(&self) -> &'static str {
        FILE_NAME
    }

    fn export(&self, result: &RunResult, out: &mut dyn Write) -> Result<(), ReportError> {
        let page = render(result, &self.dir)?;
        out.write_all(page.as_bytes())
            .map_err(super::io_error(FILE_NAME))
    }
}

pub fn render(result: &RunResult, dir: &Path) -> Result<String, ReportError> {
    render_page(result, dir, None)
}

/// The live page: the report of the figures so far, with the per-name charts,
/// a line on the time left and the script that fetches it again every second.
pub fn render_live(result: &RunResult, dir: &Path, live: &LiveView) -> Result<String, ReportError> {
    render_page(result, dir, Some(live))
}

fn render_page(
    result: &RunResult,
    dir: &Path,
    live: Option<&LiveView>,
) -> Result<String, ReportError> {
    let mut charts = charts::build(result);
    if let Some(live) = live {
        charts.by_name = live.by_name.clone();
    }
    let mut env = Environment::new();
    // The `.html` name turns on HTML auto-escaping for every `{{ }}`.
    env.add_template(FILE_NAME, TEMPLATE)
        .map_err(template_error)?;
    let profile = result.profile.as_ref();
    let flame = profile
        .and_then(|p| p.files.flamegraph.as_deref())
        .and_then(|name| embedded_svg(dir, name));
    let flame_diff = profile
        .and_then(|p| p.diff.as_ref())
        .and_then(|d| embedded_svg(dir, &d.flamegraph));
    let v = view::build(result);
    let cost_flames = embedded_cost_flames(&v.cost, dir);
    env.get_template(FILE_NAME)
        .and_then(|t| {
            t.render(context! {
                v => minijinja::value::Serde(v),
                cost_flames => cost_flames,
                charts => minijinja::value::Serde(charts),
                live => live.map(|l| context! {
                    elapsed_s => l.elapsed_s,
                    left_s => l.left_s,
                    report_url => l.report_url.clone(),
                    js => minijinja::Value::from_safe_string(LIVE_JS.to_string()),
                }),
                // base64 is markup-safe, and must reach the script element unescaped.
                flame => flame.map(minijinja::Value::from_safe_string),
                flame_diff => flame_diff.map(minijinja::Value::from_safe_string),
                assets => context! {
                    css => minijinja::Value::from_safe_string(format!("{UPLOT_CSS}\n{REPORT_CSS}")),
                    uplot => minijinja::Value::from_safe_string(UPLOT_JS.to_string()),
                    js => minijinja::Value::from_safe_string(REPORT_JS.to_string()),
                    uplot_license => UPLOT_LICENSE,
                },
            })
        })
        .map_err(template_error)
}

fn template_error(source: minijinja::Error) -> ReportError {
    ReportError::Template {
        what: FILE_NAME.to_string(),
        detail: format!("{source:#}"),
    }
}

/// At most this much of the page (base64) holds the per-name flame graphs;
/// past it a name's graph is named as a file of the run directory instead.
const COST_FLAMES_BUDGET: usize = 1024 * 1024;

/// Each request name's flame graphs, embedded by id, while the budget lasts.
fn embedded_cost_flames(
    cost: &cost_view::CostView,
    dir: &Path,
) -> std::collections::BTreeMap<String, minijinja::Value> {
    let mut out = std::collections::BTreeMap::new();
    let mut used = 0;
    for graph in cost.flames.iter().flat_map(|f| &f.graphs) {
        let Some(data) = embedded_svg(dir, &graph.file) else {
            continue;
        };
        used += data.len();
        if used > COST_FLAMES_BUDGET {
            break;
        }
        // base64 is markup-safe, and must reach the script element unescaped.
        out.insert(graph.id.clone(), minijinja::Value::from_safe_string(data));
    }
    out
}

/// A flame graph SVG from the run directory, gzip-compressed and base64-encoded
/// for the page to unpack. Only a plain file name inside `dir` is read.
fn embedded_svg(dir: &Path, name: &str) -> Option<String> {
    let file = Path::new(name).file_name()?;
    let svg = std::fs::read(dir.join(file)).ok()?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&svg).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(gz.finish().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inlined_assets_cannot_close_their_own_element() {
        for (name, text) in [
            ("uPlot", UPLOT_JS),
            ("report.js", REPORT_JS),
            ("live.js", LIVE_JS),
        ] {
            assert!(!text.to_lowercase().contains("</script"), "{name}");
        }
        for (name, text) in [("uPlot css", UPLOT_CSS), ("report.css", REPORT_CSS)] {
            assert!(!text.to_lowercase().contains("</style"), "{name}");
        }
    }
}
