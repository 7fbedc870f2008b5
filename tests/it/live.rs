//! `--live` and `--out`: the live page watched in real headless Chromium while
//! a real demo run goes, and remote write into a real Prometheus (Debian's
//! package, remote-write receiver and native histograms on), queried back over
//! its HTTP API; and a receiver that is down.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::browser::Page;
use crate::common::*;

/// Waits (bounded) for `what` to hold, polling.
fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The live page's URL from gander's stderr; the rest of stderr is kept.
fn live_url(child: &mut Child) -> (String, std::sync::mpsc::Receiver<String>) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("gander prints the live page's address");
        if let Some(url) = line.strip_prefix("gander: live page: ") {
            return (url.trim().to_string(), rx);
        }
    }
}

fn eval(page: &mut Page, js: &str) -> Value {
    page.eval(js).unwrap_or_else(|e| panic!("{js}: {e}"))
}

/// The request table's rows as text: name, method and every figure.
const TABLE_ROWS: &str = r##"Array.from(document.querySelectorAll("#endpoints-table tbody tr, #endpoints-table tfoot tr"))
  .map((r) => Array.from(r.cells).map((c) => c.textContent.trim()).join(" | "))"##;

/// What the live page showed, watched from its first update to the run's end.
struct Watched {
    names: Vec<String>,
    live_rows: Value,
    live_word: Value,
    report_link: Value,
    served_report: Value,
    seen: crate::common::browser::Seen,
}

/// Opens the live page, checks that it updates and charts every request
/// name, and waits for the run's end.
fn watch(url: &str) -> Watched {
    let mut page = Page::open(url, Duration::from_millis(500)).expect("Chromium opens the page");
    wait_for(Duration::from_secs(60), "the live script", || {
        page.eval("typeof window.ganderLive === 'object'").ok() == Some(Value::Bool(true))
    });
    // It updates: the counter of swaps and the seconds charted both grow.
    let seconds = |page: &mut Page| {
        eval(
            page,
            "JSON.parse(document.getElementById('chart-data').textContent).t.length",
        )
        .as_u64()
        .unwrap()
    };
    let (updates0, seconds0) = (
        eval(&mut page, "window.ganderLive.updates"),
        seconds(&mut page),
    );
    wait_for(Duration::from_secs(30), "two more updates", || {
        eval(&mut page, "window.ganderLive.updates").as_u64() >= updates0.as_u64().map(|u| u + 2)
    });
    if !eval(&mut page, "window.ganderLive.done").as_bool().unwrap() {
        assert!(seconds(&mut page) > seconds0, "the charts did not grow");
    }
    // Every request name: a row in the table and a chart of its own.
    let names: Vec<String> = serde_json::from_value(eval(
        &mut page,
        "JSON.parse(document.getElementById('chart-data').textContent).by_name.map((n) => n.name)",
    ))
    .unwrap();
    let charted = eval(
        &mut page,
        "document.querySelectorAll('[data-chart^=\"name-\"] .uplot').length",
    );
    assert_eq!(
        charted.as_u64(),
        Some(names.len() as u64),
        "a chart per request name"
    );
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    page.screenshot(&artifacts.join("live-page.png")).unwrap();

    wait_for(Duration::from_secs(90), "the end of the run", || {
        eval(&mut page, "window.ganderLive.done") == Value::Bool(true)
    });
    let live_rows = eval(&mut page, TABLE_ROWS);
    let live_word = eval(
        &mut page,
        "document.querySelector('#verdict .word').textContent",
    );
    let report_link = eval(&mut page, "document.getElementById('report-link').href");
    let served_report = eval(&mut page, "fetch('/report').then((r) => r.text())");
    let seen = page.seen().clone();
    Watched {
        names,
        live_rows,
        live_word,
        report_link,
        served_report,
        seen,
    }
}

#[test]
fn the_live_page_shows_every_request_name_updates_and_ends_on_the_reports_figures() {
    let ws = Workspace::new();
    let mut child = Command::new(gander_bin())
        .args(["demo", "-d", "8s", "-u", "10", "-q", "-o"])
        .arg(ws.reports())
        .args(["--live", "--live-linger", "90s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gander starts");
    let (url, _stderr) = live_url(&mut child);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let Watched {
        names,
        live_rows,
        live_word,
        report_link,
        served_report,
        seen,
    } = watch(&url);

    // Done with the page: Ctrl-C ends the linger, and gander exits as the run decided.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let run = RunOutput::new(wait_bounded(child, Duration::from_secs(60)));
    // 3 (invalid) when a busy machine starves gander: the figures checked here hold anyway.
    assert!(
        matches!(run.code, 0 | 1 | 3),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let dir = run.run_dir();
    let json = run.json();
    assert_eq!(json["outcome"]["status"], "completed", "{}", run.stderr);
    let endpoints: Vec<String> = json["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, endpoints, "the live page charts every request name");

    // The final figures are the report's: the same table, the same verdict.
    let report = dir.join("report.html");
    let mut saved = Page::open(
        &format!("file://{}", report.canonicalize().unwrap().display()),
        Duration::from_millis(500),
    )
    .expect("Chromium opens the report");
    assert_eq!(eval(&mut saved, TABLE_ROWS), live_rows);
    assert_eq!(
        eval(
            &mut saved,
            "document.querySelector('#verdict .word').textContent"
        ),
        live_word
    );
    for name in &endpoints {
        assert!(
            live_rows.to_string().contains(name.as_str()),
            "{name} missing from {live_rows}"
        );
    }
    assert_eq!(report_link, Value::String(format!("{url}report")));
    assert_eq!(
        served_report.as_str().unwrap(),
        std::fs::read_to_string(&report).unwrap(),
        "/report serves the report written in the run directory"
    );
    // Nothing but the live server was asked for anything.
    let foreign: Vec<&String> = seen
        .requests
        .iter()
        .filter(|r| !r.starts_with(&url) && !r.starts_with("data:"))
        .collect();
    assert!(foreign.is_empty(), "the page requested {foreign:?}");
    assert!(seen.console_errors.is_empty(), "{:?}", seen.console_errors);
}

/// A Prometheus server with its remote-write receiver and native histograms on,
/// on a free port with a temporary store; killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _store: tempfile::TempDir,
}

impl Prometheus {
    fn start() -> Prometheus {
        let bin = Path::new("/usr/bin/prometheus");
        assert!(
            bin.is_file(),
            "no {} : run scripts/setup-test-deps",
            bin.display()
        );
        let store = tempfile::tempdir().unwrap();
        let config = store.path().join("prometheus.yml");
        std::fs::write(&config, "global: {}\n").unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                store.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args([
                "--web.enable-remote-write-receiver",
                "--enable-feature=native-histograms",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        let p = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _store: store,
        };
        wait_for(Duration::from_secs(60), "Prometheus to be ready", || {
            http_get(&format!("{}/-/ready", p.url)).is_some_and(|(status, _)| status == 200)
        });
        p
    }

    /// One instant query's result vector.
    fn query(&self, promql: &str) -> Vec<Value> {
        let q: String = url::form_urlencoded::byte_serialize(promql.as_bytes()).collect();
        let (status, body) =
            http_get(&format!("{}/api/v1/query?query={q}", self.url)).expect("Prometheus answers");
        assert_eq!(status, 200, "{promql}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"].as_array().unwrap().clone()
    }

    /// A query's single value.
    fn value(&self, promql: &str) -> f64 {
        let result = self.query(promql);
        assert_eq!(result.len(), 1, "{promql}: {result:?}");
        result[0]["value"][1].as_str().unwrap().parse().unwrap()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET on 127.0.0.1: the status and body.
fn http_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

fn scenario(server: &TestServer) -> String {
    format!(
        "host: {}\nload: {{ users: 4, duration: 7s }}\nscenarios:\n  - name: shop\n    steps:\n      \
         - name: fast\n        get: /fast\n      - name: sleepy\n        get: /sleep/3\n      \
         - name: teapot\n        get: /status/418\n",
        server.url()
    )
}

/// Every query of the Grafana dashboard finds the run's series.
fn assert_dashboard_finds(prometheus: &Prometheus, run_id: &str) {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/gander-dashboard.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$run_id", run_id)
                .replace("$request", ".*")
                .replace("$__rate_interval", "1m");
            let result = prometheus.query(&expr);
            assert!(
                !result.is_empty(),
                "panel {}: {expr} found nothing",
                panel["title"]
            );
            queries += 1;
        }
    }
    assert!(queries >= 9, "{queries} queries");
}

/// The factor between a native bucket's edges (schema 5).
const BUCKET_GROWTH: f64 = 1.021_897_148_654_116_7;

#[test]
fn prometheus_gets_every_request_and_the_reports_p95_within_a_bucket() {
    let prometheus = Prometheus::start();
    let server = start_server();
    let ws = Workspace::new();
    let write = format!("prometheus={}/api/v1/write", prometheus.url);
    let run = ws.run(&scenario(&server), &["--out", &write]);
    // 3 (invalid) when a busy machine starves gander: the figures checked here hold anyway.
    assert!(
        matches!(run.code, 0 | 1 | 3),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let json = run.json();
    assert_eq!(json["outcome"]["status"], "completed", "{}", run.stderr);
    let run_id = json["run_id"].as_str().unwrap();
    let out = &json["outputs"][0];
    assert_eq!(u(out, "/samples_dropped"), 0, "{out}");
    assert!(u(out, "/writes_sent") >= 2, "{out}");
    assert!(run.stdout.contains("0 dropped"), "{}", run.stdout);

    let requests = u(&json, "/totals/all/requests");
    assert!(requests > 0);
    let sum = prometheus.value(&format!(
        "sum(gander_requests_total{{run_id=\"{run_id}\"}})"
    ));
    assert_eq!(sum, requests as f64, "every request counted once");
    let teapots = prometheus.value(&format!(
        "sum(gander_requests_total{{run_id=\"{run_id}\",request=\"teapot\",status=\"418\",scenario=\"shop\"}})"
    ));
    assert_eq!(teapots, u(&json, "/endpoints/2/stats/all/requests") as f64);

    for (i, name) in ["fast", "sleepy"].iter().enumerate() {
        let stats = &json["endpoints"][i]["stats"]["all"];
        let selector =
            format!("gander_request_duration_seconds{{run_id=\"{run_id}\",request=\"{name}\"}}");
        // The histogram holds every successful request...
        let count = prometheus.value(&format!("histogram_count(sum({selector}))"));
        assert_eq!(
            count,
            (u(stats, "/requests") - u(stats, "/failed")) as f64,
            "{name}"
        );
        // ...and its p95 lies in the native bucket of the report's.
        let p95 = prometheus.value(&format!("histogram_quantile(0.95, sum({selector}))"));
        let report_p95 = f(stats, "/latency_ms/p95") / 1e3;
        assert!(
            p95 <= report_p95 * BUCKET_GROWTH * 1.000_001
                && p95 >= report_p95 / BUCKET_GROWTH / 1.000_001,
            "{name}: Prometheus p95 {p95} s, the report's {report_p95} s"
        );
    }
    // The users and the SUT monitor's figures (gander itself here) arrive too.
    assert!(
        !prometheus
            .query(&format!("gander_users{{run_id=\"{run_id}\"}}"))
            .is_empty()
    );
    assert!(
        !prometheus
            .query(&format!("gander_sut_memory_bytes{{run_id=\"{run_id}\"}}"))
            .is_empty()
    );
    assert_dashboard_finds(&prometheus, run_id);
}

#[test]
fn a_receiver_that_is_down_leaves_the_run_whole_and_counts_the_drops() {
    let server = start_server();
    let ws = Workspace::new();
    let write = format!("prometheus=http://127.0.0.1:{}/api/v1/write", free_port());
    let run = ws.run(&scenario(&server), &["--out", &write]);
    // 3 (invalid) when a busy machine starves gander: the figures checked here hold anyway.
    assert!(
        matches!(run.code, 0 | 1 | 3),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let json = run.json();
    assert_eq!(json["outcome"]["status"], "completed", "{}", run.stderr);
    let out = &json["outputs"][0];
    assert_eq!(u(out, "/samples_sent"), 0, "{out}");
    assert!(u(out, "/samples_dropped") > 0, "{out}");
    assert_eq!(
        u(out, "/samples_dropped"),
        u(out, "/dropped_queue_full") + u(out, "/dropped_failed"),
        "{out}"
    );
    assert!(
        out["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{out}"
    );
    assert!(run.stdout.contains("dropped"), "{}", run.stdout);
    // The run's own figures: every request the server saw, none failed but the teapots.
    let requests = u(&json, "/totals/all/requests");
    assert_eq!(
        requests,
        server.seen.total.load(std::sync::atomic::Ordering::SeqCst)
    );
    assert_eq!(
        u(&json, "/totals/all/failed"),
        u(&json, "/endpoints/2/stats/all/requests")
    );
    assert_eq!(u(&json, "/endpoints/0/stats/all/failed"), 0);
    assert_matches_run_schema(&run.run_dir());
}

#[test]
fn a_live_address_in_use_is_a_usage_error_before_any_request() {
    let server = start_server();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ws = Workspace::new();
    let live = format!("--live={}", taken.local_addr().unwrap());
    let run = ws.run(&scenario(&server), &[live.as_str()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot serve the live page"),
        "{}",
        run.stderr
    );
    assert_eq!(
        server.seen.total.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let left = std::fs::read_dir(ws.reports())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "no run directory is left behind");
}
