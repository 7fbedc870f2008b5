//! The HTML report: rendered from real runs, opened in real headless Chromium
//! (driven over the DevTools protocol), checked for its verdict, its sections,
//! silence on the network and in the console, and for escaping what a hostile
//! SUT or scenario puts into it. Screenshots land in `target/test-artifacts/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::browser::Page;
use crate::common::*;

const SECTIONS: [&str; 12] = [
    "verdict",
    "targets",
    "requests",
    "cost",
    "charts",
    "distribution",
    "profile",
    "comparison",
    "errors",
    "health",
    "resources",
    "provenance",
];

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// Opens a report and checks what every page must satisfy: nothing requested
/// but the page itself (and the data: URLs it makes for the flame graphs), no
/// console error, no dialog.
fn open_report(report: &Path) -> Page {
    let url = file_url(report);
    let page = Page::open(&url, Duration::from_millis(1500)).expect("Chromium opens the report");
    let seen = page.seen();
    let foreign: Vec<&String> = seen
        .requests
        .iter()
        .filter(|r| **r != url && !r.starts_with("data:"))
        .collect();
    assert!(foreign.is_empty(), "the page requested {foreign:?}");
    assert!(seen.requests.contains(&url), "{:?}", seen.requests);
    assert!(
        seen.console_errors.is_empty(),
        "console errors: {:?}",
        seen.console_errors
    );
    assert!(seen.dialogs.is_empty(), "dialogs: {:?}", seen.dialogs);
    page
}

fn eval_u64(page: &mut Page, js: &str) -> u64 {
    page.eval(js)
        .unwrap_or_else(|e| panic!("{js}: {e}"))
        .as_u64()
        .unwrap_or_else(|| panic!("{js} is not a count"))
}

fn eval_str(page: &mut Page, js: &str) -> String {
    page.eval(js)
        .unwrap_or_else(|e| panic!("{js}: {e}"))
        .as_str()
        .unwrap_or_else(|| panic!("{js} is not a string"))
        .to_string()
}

/// Runs `gander demo` for a short steady state into `out`, bounded in time.
fn demo_run(out: &Path, extra: &[&str]) -> RunOutput {
    let mut args = vec!["demo", "-d", "5s", "-q", "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    RunOutput::new(gander(&args))
}

#[test]
fn the_report_of_a_real_run_shows_every_section_offline() {
    let ws = Workspace::new();
    let base = demo_run(&ws.path().join("base"), &[]);
    assert!(
        base.code <= 1,
        "exit {}: {}\n{}",
        base.code,
        base.stdout,
        base.stderr
    );
    let base_dir = base.run_dir();
    let new = demo_run(
        &ws.path().join("new"),
        &["--baseline", base_dir.to_str().unwrap()],
    );
    new.assert_judged_or_busy_neighbour(1);
    let dir = new.run_dir();
    // The fullest run.json there is (profile, resources, health, baseline comparison)
    // matches the published schema, as every complete run directory in the tests does.
    assert_matches_run_schema(&dir);
    let run = new.json();
    let report = dir.join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();

    // `gander report` renders the same page from the saved run.
    std::fs::remove_file(&report).unwrap();
    let rerendered = gander(&["report", dir.to_str().unwrap()]);
    assert_eq!(
        rerendered.status.code(),
        Some(new.code),
        "{}",
        String::from_utf8_lossy(&rerendered.stderr)
    );
    let again = std::fs::read_to_string(&report).unwrap();
    let differ = html.bytes().zip(again.bytes()).position(|(a, b)| a != b);
    assert!(
        html == again,
        "the re-rendered page differs (lengths {} and {}) from byte {differ:?}: {:?}",
        html.len(),
        again.len(),
        differ.map(|at| &again
            [again.floor_char_boundary(at.saturating_sub(80))..again.floor_char_boundary(at + 80)])
    );

    let mut page = open_report(&report);
    page.screenshot(&artifacts().join("report-demo.png"))
        .expect("screenshot");
    let png = std::fs::read(artifacts().join("report-demo.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));

    // The banner says what run.json says, and the exit code agrees.
    let word = eval_str(
        &mut page,
        "document.querySelector('#verdict .word').textContent",
    );
    let expected = match run["verdict"]["status"].as_str().unwrap() {
        "pass" => "PASS",
        "fail" => "FAIL",
        "invalid" => "INVALID",
        other => panic!("unexpected verdict {other}"),
    };
    assert_eq!(word, expected);
    let code = match expected {
        "PASS" => 0,
        "FAIL" => 1,
        _ => 3,
    };
    assert_eq!(new.code, code, "{}", new.stdout);

    for id in SECTIONS {
        let visible = page
            .eval(&format!(
                "(() => {{ const e = document.getElementById('{id}'); return !!e && e.offsetHeight > 0; }})()"
            ))
            .unwrap();
        assert_eq!(visible, serde_json::json!(true), "section #{id}");
    }

    // Every target row of run.json is in a table: undecided regression checks
    // in their own, passing ones folded into a count.
    let targets = run["verdict"]["targets"].as_array().unwrap();
    let regression = |passed: bool| {
        targets
            .iter()
            .filter(|t| t["regression"] == true && (t["outcome"] == "pass") == passed)
            .filter(|t| passed || t["decisive"] == false)
            .count() as u64
    };
    let (passed, undecided) = (regression(true), regression(false));
    assert_eq!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('#targets-table tbody tr').length"
        ),
        targets.len() as u64 - passed - undecided
    );
    assert_eq!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('#undecided-table tbody tr').length"
        ),
        undecided
    );

    // The charts: one drawn chart per placeholder, on the time axis and the distribution.
    let placeholders = eval_u64(
        &mut page,
        "document.querySelectorAll('[data-chart]').length",
    );
    assert!(
        placeholders >= 7,
        "latency, throughput, users, cpu, memory, headers, histogram"
    );
    assert_eq!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('[data-chart] .uplot canvas').length"
        ),
        placeholders
    );
    // The ramp-up, steady and profile windows are shaded.
    let shaded = page
        .eval("JSON.parse(document.getElementById('chart-data').textContent).windows.map(w => w.kind)")
        .unwrap();
    for kind in ["ramp", "steady", "profile"] {
        assert!(
            shaded.as_array().unwrap().contains(&kind.into()),
            "{shaded}"
        );
    }

    assert_axes_speak_their_units(&mut page, &run);
    assert_latency_lines_stay_apart(&mut page);
    assert_overlapping_windows_stay_visible(&mut page, &run);
    page.eval("document.getElementById('charts').scrollIntoView()")
        .unwrap();
    page.screenshot_viewport(&artifacts().join("report-demo-charts.png"))
        .expect("screenshot");

    // The flame graph and the differential one are unpacked into their frames.
    assert_eq!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('iframe.flame[data-loaded=yes]').length"
        ),
        2
    );
    // The samples behind the differential are said beside it; the functions
    // that grew are listed unless the profiles are too thin to compare (the
    // demo's 5 s window often is), which is then said instead.
    let diff_note = eval_str(
        &mut page,
        "document.getElementById('diff-samples').textContent",
    );
    let diff = &run["profile"]["diff"];
    let grew_rows = eval_u64(
        &mut page,
        "document.querySelectorAll('#grew-table tbody tr').length",
    );
    if diff.get("too_few").is_some() {
        assert!(
            diff_note.starts_with("too few samples to compare"),
            "{diff_note}"
        );
        assert_eq!(grew_rows, 0);
    } else {
        assert!(
            diff_note.contains(&format!("{} in this run", diff["samples"])),
            "{diff_note}"
        );
        assert!(grew_rows > 0);
    }
    // Scrolled into view, then two animation frames: the frame has painted.
    let painted = page
        .eval(
            "new Promise(done => { const f = document.querySelector('iframe.flame'); \
             f.scrollIntoView(); requestAnimationFrame(() => requestAnimationFrame(() => { \
             const r = f.getBoundingClientRect(); done(r.top < innerHeight && r.bottom > 0); })); })",
        )
        .unwrap();
    assert_eq!(
        painted,
        serde_json::json!(true),
        "the flame graph is in view"
    );
    page.screenshot_viewport(&artifacts().join("report-demo-flamegraph.png"))
        .expect("screenshot");
    // Baseline comparison rows, one per row of run.json; unchanged ones and those
    // with too few values folded.
    let rows = run["comparison"]["rows"].as_array().unwrap();
    let unchanged = rows
        .iter()
        .filter(|r| r["change"] == "unchanged" || r["change"] == "too_few")
        .count() as u64;
    assert_eq!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('#comparison-table tbody tr').length"
        ),
        rows.len() as u64 - unchanged
    );
    assert_eq!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('#unchanged-table tbody tr').length"
        ),
        unchanged
    );
    // Health polls drawn as a timeline.
    assert!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('#health .timeline .state').length"
        ) > 0
    );

    // The endpoint table has every request name and sorts by a clicked column.
    let endpoints = run["endpoints"].as_array().unwrap().len() as u64;
    assert_eq!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('#endpoints-table tbody tr').length"
        ),
        endpoints
    );
    let sorted = page
        .eval(
            "(() => { const t = document.getElementById('endpoints-table');
               const col = Array.from(t.tHead.rows[0].cells).findIndex(c => c.textContent === 'p95');
               t.tHead.rows[0].cells[col].click();
               return Array.from(t.tBodies[0].rows).map(r => parseFloat(r.cells[col].dataset.sort)); })()",
        )
        .unwrap();
    let p95s: Vec<f64> = serde_json::from_value(sorted).unwrap();
    assert_eq!(p95s.len() as u64, endpoints);
    assert!(p95s.windows(2).all(|w| w[0] >= w[1]), "{p95s:?}");

    // Provenance names the run and the gander that made it.
    let provenance = eval_str(
        &mut page,
        "document.getElementById('provenance').textContent",
    );
    assert!(provenance.contains(run["run_id"].as_str().unwrap()));
    assert!(provenance.contains(env!("CARGO_PKG_VERSION")));
}

/// What uPlot drew on each chart: per axis its title, its tick positions (in
/// the data's unit) and the tick labels it printed, and the data and scales.
fn drawn_charts(page: &mut Page) -> Vec<serde_json::Value> {
    let charts = page
        .eval(
            "window.ganderCharts.map(c => ({
               chart: c.chart,
               axes: c.u.axes.map(a => ({ label: a.label, scale: a.scale,
                 splits: (a._splits || []).map(Number), ticks: (a._values || []).map(String) })),
               scales: Object.fromEntries(Object.entries(c.u.scales).map(([k, s]) => [k, [s.min, s.max]])),
               series: c.u.series.map((s, i) => ({ label: s.label, stroke: i ? s.stroke(c.u, i) : null,
                 dash: s.dash || null, width: s.width })),
               data: c.u.data.map(d => Array.from(d).filter(v => v != null)),
             }))",
        )
        .unwrap();
    let charts = charts.as_array().unwrap().clone();
    assert!(charts.len() >= 7, "{} charts drawn", charts.len());
    charts
}

/// The unit an axis title names, `latency (ms)` -> `ms`, and how many of the
/// data's base unit (ms, s, %, bytes, or a count) one of it is.
fn title_unit(label: &str) -> (String, f64) {
    let unit = label
        .strip_suffix(')')
        .and_then(|l| l.rsplit_once(" ("))
        .map(|(_, u)| u.to_string())
        .unwrap_or_default();
    let factor = match unit.as_str() {
        "" | "ms" | "s" | "%" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("axis title {label:?} names an unknown unit {other:?}"),
    };
    (unit, factor)
}

fn values(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Every axis of every chart is titled with one unit and prints bare numbers
/// in it: a tick label times the unit is the tick's position in the data's
/// own unit, and the ticks and the data lie in the same range. The latency
/// charts are in ms (as run.json's `*_ms`), memory in bytes, time in seconds.
fn assert_axes_speak_their_units(page: &mut Page, run: &serde_json::Value) {
    let max_ms: Vec<f64> = run["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["max_ms"].as_f64())
        .collect();
    for chart in drawn_charts(page) {
        let name = chart["chart"].as_str().unwrap().to_string();
        for axis in chart["axes"].as_array().unwrap() {
            let label = axis["label"].as_str().unwrap();
            let (unit, factor) = title_unit(label);
            let splits = values(&axis["splits"]);
            let ticks: Vec<&str> = axis["ticks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            assert_eq!(splits.len(), ticks.len(), "{name} {label:?}");
            let printed: Vec<(f64, f64)> = splits
                .iter()
                .zip(&ticks)
                .filter(|(_, t)| !t.is_empty())
                .map(|(split, t)| {
                    let n: f64 = t.replace(',', "").parse().unwrap_or_else(|_| {
                        panic!(
                            "{name}: tick {t:?} on the axis {label:?} is not a number in {unit:?}"
                        )
                    });
                    (*split, n)
                })
                .collect();
            assert!(printed.len() >= 2, "{name} {label:?}: ticks {ticks:?}");
            for (split, n) in &printed {
                assert!(
                    (n * factor - split).abs() <= 0.01 * split.abs().max(1e-9),
                    "{name}: tick {n} on {label:?} stands at {split} data units, not {}",
                    n * factor
                );
            }
            // The ticks span the scale the data is drawn on.
            let key = axis["scale"].as_str().unwrap();
            let range = values(&chart["scales"][key]);
            for (split, _) in &printed {
                assert!(
                    *split >= range[0] - 1e-9 && *split <= range[1] + 1e-9,
                    "{name} {label:?}: tick at {split} outside {range:?}"
                );
            }
            let axis_series: Vec<Vec<f64>> = if key == "x" {
                vec![values(&chart["data"][0])]
            } else {
                chart["data"].as_array().unwrap()[1..]
                    .iter()
                    .map(values)
                    .collect()
            };
            for v in axis_series.iter().flatten() {
                assert!(
                    *v >= range[0] - 1e-6 && *v <= range[1] + 1e-6,
                    "{name} {label:?}: data {v} outside the axis {range:?}"
                );
            }
        }
        // Charts whose data unit is known: the axis names it, the data are it.
        let y_label = chart["axes"][1]["label"].as_str().unwrap();
        let x_label = chart["axes"][0]["label"].as_str().unwrap();
        match name.as_str() {
            "latency" => {
                assert_eq!(title_unit(y_label).0, "ms", "{y_label}");
                let max = chart["series"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .position(|s| s["label"] == "max")
                    .unwrap();
                assert_eq!(
                    values(&chart["data"][max]),
                    max_ms,
                    "the max line is run.json's max_ms"
                );
            }
            "histogram" => assert_eq!(title_unit(x_label).0, "ms", "{x_label}"),
            "memory" => assert!(
                ["B", "KiB", "MiB", "GiB"].contains(&title_unit(y_label).0.as_str()),
                "{y_label}"
            ),
            "cpu" => assert_eq!(title_unit(y_label).0, "%", "{y_label}"),
            _ => {}
        }
        if name != "histogram" {
            assert_eq!(title_unit(x_label).0, "s", "{name}: {x_label}");
        }
    }
}

/// p50, p95, p99 and max each have their own colour, and max (thin, dashed)
/// is drawn before p99, so a p99 that meets max is not hidden under it.
fn assert_latency_lines_stay_apart(page: &mut Page) {
    let charts = drawn_charts(page);
    let latency = charts.iter().find(|c| c["chart"] == "latency").unwrap();
    let series = latency["series"].as_array().unwrap();
    let at = |label: &str| series.iter().position(|s| s["label"] == label).unwrap();
    let strokes: std::collections::BTreeSet<&str> = ["p50", "p95", "p99", "max"]
        .iter()
        .map(|l| series[at(l)]["stroke"].as_str().unwrap())
        .collect();
    assert_eq!(strokes.len(), 4, "{series:?}");
    assert!(at("max") < at("p99"), "max is drawn over p99: {series:?}");
    assert!(series[at("max")]["dash"].is_array(), "{series:?}");
    assert!(
        series[at("max")]["width"].as_f64() < series[at("p99")]["width"].as_f64(),
        "{series:?}"
    );
}

/// Where the profile overlaps the steady state, the steady state's tint is
/// as it is where no profile runs, and the profile shows in its own lane.
fn assert_overlapping_windows_stay_visible(page: &mut Page, run: &serde_json::Value) {
    let (profile_start, profile_end) = (
        f(run, "/profile/window/start_s"),
        f(run, "/profile/window/end_s"),
    );
    let steady_end = f(run, "/phases/steady/end_s");
    assert!(
        steady_end - profile_end > 0.5,
        "no unprofiled steady seconds to compare with"
    );
    let js = format!(
        "(() => {{
           const u = window.ganderCharts.find(c => c.chart === 'latency').u;
           const b = u.bbox, lane = 8 * (window.devicePixelRatio || 1);
           const column = (t, y0, y1) => {{
             const x = Math.round(u.valToPos(t, 'x', true));
             // Five columns wide: a vertical grid line is one of them at most.
             const px = u.ctx.getImageData(x - 2, y0, 5, y1 - y0).data;
             const counts = {{}};
             for (let i = 0; i < px.length; i += 4) {{
               const c = px[i] + ',' + px[i + 1] + ',' + px[i + 2];
               counts[c] = (counts[c] || 0) + 1;
             }}
             return Object.entries(counts).sort((a, b) => b[1] - a[1])[0][0];
           }};
           const inside = ({} + {}) / 2, after = ({} + {}) / 2;
           const body = [Math.round(b.top + lane + 2), Math.round(b.top + b.height - 1)];
           return {{
             profiled: column(inside, body[0], body[1]),
             unprofiled: column(after, body[0], body[1]),
             lane: column(inside, Math.round(b.top + 1), Math.round(b.top + lane - 1)),
           }};
         }})()",
        profile_start, profile_end, profile_end, steady_end
    );
    let colours = page.eval(&js).unwrap();
    assert_eq!(
        colours["profiled"], colours["unprofiled"],
        "the steady state looks different under the profile window: {colours}"
    );
    assert_ne!(colours["lane"], colours["profiled"], "{colours}");
    assert_ne!(
        colours["profiled"], "255,255,255",
        "the steady state is tinted: {colours}"
    );
}

#[test]
fn a_ten_minute_run_with_flame_graphs_stays_under_two_megabytes() {
    // A real short run, its per-second and resource series stretched to 600 s:
    // the page grows with the series, the flame graphs stay as they are.
    let ws = Workspace::new();
    let run = demo_run(&ws.path().join("r"), &[]);
    assert!(run.code <= 1, "{}\n{}", run.stdout, run.stderr);
    let dir = run.run_dir();
    let mut value = run.json();
    let points = value["timeseries"].as_array().unwrap().clone();
    let stretched: Vec<serde_json::Value> = (0..600)
        .map(|t| {
            let mut p = points[t % points.len()].clone();
            p["t"] = t.into();
            p
        })
        .collect();
    value["timeseries"] = stretched.into();
    for source in value["resources"]["sources"].as_array_mut().unwrap() {
        for series in source["series"].as_array_mut().unwrap() {
            let pts = series["points"].as_array().unwrap().clone();
            if pts.is_empty() {
                continue;
            }
            series["points"] = (0..1200)
                .map(|i| serde_json::json!([i as f64 * 0.5, pts[i % pts.len()][1]]))
                .collect::<Vec<_>>()
                .into();
        }
    }
    value["phases"]["total"]["end_s"] = 600.0.into();
    std::fs::write(dir.join("run.json"), value.to_string()).unwrap();
    let out = gander(&["report", dir.to_str().unwrap()]);
    assert!(out.status.code().unwrap() <= 1);
    let size = std::fs::metadata(dir.join("report.html")).unwrap().len();
    let flame = std::fs::metadata(dir.join("flamegraph.svg")).unwrap().len();
    eprintln!("report.html: {size} bytes for 600 s (flamegraph.svg alone: {flame} bytes)");
    assert!(size < 2 * 1024 * 1024, "{size} bytes");
}

#[test]
fn a_hostile_sut_and_scenario_cannot_script_the_report() {
    let server = start_server();
    let ws = Workspace::new();
    // Every string the page shows from the scenario and the SUT carries a payload.
    let scenario = format!(
        r#"name: "inject <script>alert('scenario')</script>"
host: {url}
load: {{ users: 2, iterations: 3 }}
server_headers: [X-SQL-Queries]
scenarios:
  - name: "reader <img src=x onerror=alert('scenario-name')>"
    steps:
      - name: "<script>alert('request')</script>"
        get: "/inject?q=<svg/onload=alert('url')>"
        expect: {{ status: 500, body_contains: "<script>alert('expected')</script>" }}
targets:
  error_rate: 1%
  endpoints:
    "<script>alert('request')</script>": {{ p95: 10s }}
"#,
        url = server.url()
    );
    let out = ws.run(&scenario, &["--quiet"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let dir = out.run_dir();
    let report = dir.join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();

    // No payload survives unescaped in the markup.
    for raw in [
        "<script>alert(",
        "<img src=x",
        "<svg/onload",
        "</script><script>",
    ] {
        assert!(!html.contains(raw), "{raw} appears unescaped");
    }
    assert!(html.contains("&lt;script&gt;alert(&#x27;body&#x27;)&lt;&#x2f;script&gt;"));

    let mut page = open_report(&report);
    page.screenshot(&artifacts().join("report-injection.png"))
        .expect("screenshot");
    // Only the page's own four scripts exist: chart data, uPlot, the report's.
    assert_eq!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('script:not([type=\"application/octet-stream\"])').length"
        ),
        3
    );
    assert_eq!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('img, svg[onload]').length"
        ),
        0
    );
    // The payloads are shown as text, exactly as the SUT and the file wrote them.
    let body = eval_str(
        &mut page,
        "document.querySelector('#errors ol.samples pre').textContent",
    );
    assert_eq!(body, "<script>alert('body')</script>");
    let title = eval_str(
        &mut page,
        "document.querySelector('#verdict h1').textContent",
    );
    assert_eq!(title, "inject <script>alert('scenario')</script>");
    let reason = eval_str(
        &mut page,
        "document.querySelector('#errors-table tbody tr').textContent",
    );
    assert!(
        reason.contains("body does not contain \"<script>alert('expected')</script>\""),
        "{reason}"
    );
    let request = eval_str(
        &mut page,
        "document.querySelector('#endpoints-table tbody td').textContent",
    );
    assert_eq!(request, "<script>alert('request')</script>");
    assert_eq!(
        eval_str(
            &mut page,
            "document.querySelector('#verdict .word').textContent"
        ),
        "FAIL"
    );
}

/// The non-visual parts of the page, from a fixed run: changes to what the
/// verdict and the tables say are reviewed as snapshot diffs.
#[test]
fn verdict_and_tables_snapshot() {
    let ws = Workspace::new();
    let dir = ws.path().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/run.json"),
        dir.join("run.json"),
    )
    .unwrap();
    let out = gander(&["report", dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let part = |start: &str, end: &str| -> String {
        let from = html
            .find(start)
            .unwrap_or_else(|| panic!("{start} missing"));
        let to = from + html[from..].find(end).unwrap() + end.len();
        html[from..to].to_string()
    };
    insta::assert_snapshot!("banner", part("<header id=\"verdict\"", "</header>"));
    insta::assert_snapshot!(
        "targets_table",
        part("<table id=\"targets-table\"", "</table>")
    );
    insta::assert_snapshot!(
        "endpoints_table",
        part("<table id=\"endpoints-table\"", "</table>")
    );
    // A run from before cost per request: the section says it was not
    // measured and how to measure it; the Markdown leaves it out.
    insta::assert_snapshot!("cost_section", part("<section id=\"cost\"", "</section>"));
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(!md.contains("Cost per request"), "{md}");
}
