//! The HTML report: rendered from real runs, opened in real headless Chromium
//! (driven over the DevTools protocol), checked for its verdict, its sections,
//! silence on the network and in the console, and for escaping what a hostile
//! SUT or scenario puts into it. Screenshots land in `target/test-artifacts/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::browser::Page;
use crate::common::*;

const SECTIONS: [&str; 11] = [
    "verdict",
    "targets",
    "requests",
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
    assert!(base.code <= 1, "{}\n{}", base.stdout, base.stderr);
    let base_dir = base.run_dir();
    let new = demo_run(
        &ws.path().join("new"),
        &["--baseline", base_dir.to_str().unwrap()],
    );
    assert!(new.code <= 1, "{}\n{}", new.stdout, new.stderr);
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
    assert_eq!(new.code, if expected == "PASS" { 0 } else { 1 });

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

    // The flame graph and the differential one are unpacked into their frames.
    assert_eq!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('iframe.flame[data-loaded=yes]').length"
        ),
        2
    );
    assert!(
        eval_u64(
            &mut page,
            "document.querySelectorAll('#grew-table tbody tr').length"
        ) > 0
    );
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
}
