//! Cost per request per endpoint on the demo SUT, optimized and
//! `--unoptimized`: figures by the SUT's profile labels, the unoptimized list
//! endpoints several times costlier, each name's flame graph (and its
//! differential against the optimized run) in the report, opened in real
//! headless Chromium, and the figures in Markdown, JUnit and CSV.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::browser::Page;
use crate::common::*;
use gander::DemoSut;

/// The list endpoints the unoptimized demo makes costlier (no indexes, N+1
/// queries, no cache).
const LISTS: [&str; 3] = ["list bookings", "search bookings", "stats"];

/// The receptionist's list endpoints with a short think time (the load
/// generator stays light beside the SUT on a shared machine), profiled by the
/// demo's own sampler (its samples labelled per request name); `--host`
/// points it at the SUT the test starts.
const SCENARIO: &str = r#"name: demo-cost
host: http://127.0.0.1:9
load: { users: 3, ramp_up: 1s, duration: 15s }
server_headers: [X-SQL-Queries]
scenarios:
  - name: receptionist
    think_time: 50ms
    on_start:
      - name: login
        post: /api/login
        json: { username: staff1, password: pass1 }
        expect: { status: 200 }
        capture: { token: { json: /token } }
    steps:
      - name: list bookings
        get: /api/bookings?status=${choice(confirmed, pending, completed)}&page=${random(1, 20)}
        headers: { Authorization: "Bearer ${token}" }
        expect: { status: 200 }
      - name: search bookings
        get: /api/bookings?q=${choice(Anna, Petrov, manicure, Vera, coloring)}
        headers: { Authorization: "Bearer ${token}" }
        expect: { status: 200 }
      - name: stats
        get: /api/stats
        headers: { Authorization: "Bearer ${token}" }
        expect: { status: 200 }
profile:
  pprof: /debug/pprof/profile
"#;

/// One bounded run of the scenario against a fresh demo SUT whose process
/// gander samples.
fn run_demo(ws: &Workspace, unoptimized: bool, out: &str, extra: &[&str]) -> RunOutput {
    let sut = DemoSut::start(&demo_program(), unoptimized).expect("the demo SUT starts");
    let file = ws.write("cost.yaml", SCENARIO);
    let (pid, reports) = (sut.pid().to_string(), ws.path().join(out));
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--host",
        &sut.url,
        "--sut-pid",
        &pid,
        "-o",
        reports.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let out = RunOutput::new(gander(&args));
    let validity = std::fs::read_to_string(out.run_dir().join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|r| r["verdict"]["validity"].to_string());
    assert!(
        out.code <= 1,
        "exit {}: {}\n{}\nvalidity: {validity:?}",
        out.code,
        out.stdout,
        out.stderr
    );
    out
}

/// A request name's CPU ms per request; it must be measured by labels.
fn by_labels(run: &serde_json::Value, name: &str) -> f64 {
    let cost = &endpoint(run, name)["cost"];
    assert_eq!(cost["method"], "labels", "{name}: {cost}");
    let (low, value, high) = (
        f(cost, "/cpu_ms_per_request/low"),
        f(cost, "/cpu_ms_per_request/value"),
        f(cost, "/cpu_ms_per_request/high"),
    );
    assert!(low <= value && value <= high, "{name}: {cost}");
    value
}

/// The file a request name's labelled profile part names under `key`.
fn part_file(run: &serde_json::Value, name: &str, key: &str) -> String {
    run["profile"]["by_request"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r[key].as_str())
        .unwrap_or_else(|| panic!("no {key} for {name}: {}", run["profile"]["by_request"]))
        .to_string()
}

#[test]
fn the_demo_costs_each_request_name_by_labels_and_the_report_shows_it() {
    let ws = Workspace::new();
    let good = run_demo(&ws, false, "optimized", &[]);
    let good_dir = good.run_dir();
    let bad = run_demo(
        &ws,
        true,
        "unoptimized",
        &["--baseline", good_dir.to_str().unwrap()],
    );
    let (g, b) = (good.json(), bad.json());
    for name in LISTS {
        let (before, after) = (by_labels(&g, name), by_labels(&b, name));
        eprintln!("{name}: {before:.3} ms optimized, {after:.3} ms unoptimized");
        // Hand-measured: 1.6 → 11, 4.1 → 17, 5.0 → 33 ms: at least twice is robust.
        assert!(after >= 2.0 * before, "{name}: {before} → {after} ms");
        // Where: the N+1 loop is in the unoptimized list's flame graph only.
        let svg = |run: &serde_json::Value, dir: &Path| {
            std::fs::read_to_string(dir.join(part_file(run, name, "flamegraph"))).unwrap()
        };
        if name == "list bookings" {
            assert!(svg(&b, &bad.run_dir()).contains("bookings_n_plus_one"));
            assert!(!svg(&g, &good_dir).contains("bookings_n_plus_one"));
        }
        let diff = part_file(&b, name, "diff_flamegraph");
        assert!(bad.run_dir().join(&diff).is_file(), "{diff}");
    }
    let overall = |run: &serde_json::Value| f(run, "/totals/steady/cost/cpu_ms_per_request/value");
    assert!(overall(&b) >= 2.0 * overall(&g));
    assert_exports_carry_the_cost(&bad.run_dir(), &b);
    // `gander compare -o` draws the same per-name differentials.
    let out = ws.path().join("compared");
    let compared = gander(&[
        "compare",
        good_dir.to_str().unwrap(),
        bad.run_dir().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&compared.stdout);
    for name in LISTS {
        let file = part_file(&b, name, "diff_flamegraph");
        assert!(out.join(&file).is_file(), "{file}: {stdout}");
        assert!(
            stdout.contains(&format!("differential flame graph of {name}: ")),
            "{stdout}"
        );
    }
    assert_report_shows_the_cost(&bad.run_dir(), &b);
}

/// summary.md, junit.xml and endpoints.csv carry each name's figure and method.
fn assert_exports_carry_the_cost(dir: &Path, run: &serde_json::Value) {
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.contains("### Cost per request"), "{md}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&junit).expect("junit.xml parses");
    let properties = &report.test_suites[0].properties;
    let csv = std::fs::read_to_string(dir.join("endpoints.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().unwrap().clone();
    let column = |n: &str| header.iter().position(|h| h == n).unwrap();
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    for name in LISTS {
        let value = by_labels(run, name);
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")) && l.contains("profile labels"))
            .unwrap_or_else(|| panic!("no cost row for {name} in summary.md:\n{md}"));
        assert!(row.contains(&gander::format::cpu_ms(value)), "{row}");
        let property = properties
            .iter()
            .find(|p| p.name.as_str() == format!("cpu_per_request: {name}"))
            .unwrap_or_else(|| panic!("no property for {name}: {properties:?}"));
        assert!(property.value.contains("method labels"), "{property:?}");
        let steady = records
            .iter()
            .find(|r| &r[0] == name && &r[1] == "steady")
            .unwrap();
        let csv_value: f64 = steady[column("cpu_ms_per_request")].parse().unwrap();
        assert!((csv_value - value).abs() < 1e-9 * value.max(1.0));
        assert_eq!(&steady[column("cost_method")], "labels");
    }
    assert!(
        properties
            .iter()
            .any(|p| p.name.as_str() == "cpu_per_request")
    );
}

/// The page's Cost per request section, in real Chromium: a row per request
/// name with its figure and method in words, and each labelled name's flame
/// graph and differential drawn when its part is opened.
fn assert_report_shows_the_cost(dir: &Path, run: &serde_json::Value) {
    let report = dir.join("report.html");
    let url = format!("file://{}", report.canonicalize().unwrap().display());
    let mut page =
        Page::open(&url, Duration::from_millis(1500)).expect("Chromium opens the report");
    assert!(
        page.seen().console_errors.is_empty(),
        "{:?}",
        page.seen().console_errors
    );
    let eval = |page: &mut Page, js: &str| page.eval(js).unwrap_or_else(|e| panic!("{js}: {e}"));
    let visible = eval(
        &mut page,
        "document.getElementById('cost').offsetHeight > 0",
    );
    assert_eq!(visible, serde_json::json!(true));
    let rows = eval(
        &mut page,
        "Array.from(document.querySelectorAll('#cost-table tbody tr')).map(r => \
         Array.from(r.cells).map(c => c.textContent))",
    );
    let rows: Vec<Vec<String>> = serde_json::from_value(rows).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    for e in run["endpoints"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    for name in LISTS {
        let row = rows.iter().find(|r| r[0] == name).unwrap();
        assert_eq!(
            row[1],
            gander::format::cpu_ms(by_labels(run, name)),
            "{row:?}"
        );
        assert_eq!(row[3], "profile labels", "{row:?}");
    }
    // Costliest first.
    let stats = names.iter().position(|n| *n == "stats").unwrap();
    let list = names.iter().position(|n| *n == "list bookings").unwrap();
    assert!(stats < list, "{names:?}");
    // Nothing drawn until opened; then each labelled name's two graphs.
    let parts = eval(
        &mut page,
        "Array.from(document.querySelectorAll('details.cost-flame')).map(d => d.dataset.name)",
    );
    let parts: Vec<String> = serde_json::from_value(parts).unwrap();
    for name in LISTS {
        assert!(parts.iter().any(|p| p == name), "{name}: {parts:?}");
    }
    let drawn = eval(
        &mut page,
        "new Promise(done => { \
           const slots = document.querySelectorAll('details.cost-flame .flame-slot').length; \
           const loaded = () => document.querySelectorAll('details.cost-flame iframe[data-loaded=yes]').length; \
           const before = document.querySelectorAll('details.cost-flame iframe').length; \
           document.querySelectorAll('details.cost-flame').forEach(d => d.open = true); \
           const t0 = Date.now(); \
           (function wait() { \
             if (loaded() === slots || Date.now() - t0 > 10000) done([before, loaded(), slots]); \
             else setTimeout(wait, 50); })(); })",
    );
    let [before, loaded, frames]: [u64; 3] = serde_json::from_value(drawn).unwrap();
    assert_eq!(before, 0, "per-name frames wait to be opened");
    assert!(
        frames >= 2 * LISTS.len() as u64,
        "a labelled and a differential graph per list name: {frames}"
    );
    assert_eq!(loaded, frames);
    page.eval("document.getElementById('cost').scrollIntoView()")
        .unwrap();
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    page.screenshot_viewport(&artifacts.join("report-cost.png"))
        .expect("screenshot");
}

/// Two segments against one demo, merged: the merged run has the cost of
/// every segment's requests, per name by the labels of segment 0's profile,
/// and each name's flame graph beside it.
#[test]
fn a_merged_run_keeps_the_cost_per_request_name_and_its_flame_graphs() {
    let ws = Workspace::new();
    let sut = DemoSut::start(&demo_program(), false).expect("the demo SUT starts");
    let scenario = SCENARIO
        .replace("host: http://127.0.0.1:9", &format!("host: {}", sut.url))
        .replace("duration: 15s", "duration: 8s")
        .replace(
            "profile:\n",
            &format!("sut: {{ pid: {} }}\nprofile:\n", sut.pid()),
        );
    let file = ws.write("cost.yaml", &scenario);
    let segments = crate::scale::run_segments(&file, 2, &ws.path().join("segments"), |_| None);
    let first = crate::scale::read_json(&segments[0]);
    let merged_dir = ws.path().join("merged");
    let paths: Vec<&Path> = segments.iter().map(PathBuf::as_path).collect();
    let out = crate::scale::merge(&paths, &merged_dir, &["--quiet"]);
    assert!(
        out.code <= 1,
        "exit {}: {}\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    let merged = crate::scale::read_json(&merged_dir);
    // Overall: over the requests of both segments, more than segment 0's.
    let requests = |run: &serde_json::Value| u(run, "/totals/steady/cost/requests");
    assert!(
        requests(&merged) > requests(&first),
        "{} vs {}",
        merged["totals"],
        first["totals"]
    );
    for name in LISTS {
        by_labels(&merged, name);
        let svg = part_file(&merged, name, "flamegraph");
        assert!(merged_dir.join(&svg).is_file(), "{name}: {svg} not copied");
    }
}
