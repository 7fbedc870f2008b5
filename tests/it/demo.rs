//! The bundled demo SUT and `gander demo`: real processes on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use gander::DemoSut;

fn scenarios_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
}

fn sut(unoptimized: bool) -> DemoSut {
    DemoSut::start(&demo_program(), unoptimized).expect("the demo SUT starts")
}

/// Runs a bundled scenario briefly against `url`.
fn run_bundled(name: &str, url: &str, ws: &Workspace, seconds: u32) -> RunOutput {
    let file = scenarios_dir().join(name);
    let out = gander(&[
        "run",
        file.to_str().unwrap(),
        "--host",
        url,
        "--duration",
        &format!("{seconds}s"),
        "--ramp-up",
        "1s",
        "-o",
        ws.reports().to_str().unwrap(),
        "--quiet",
    ]);
    RunOutput::new(out)
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

#[test]
fn every_bundled_scenario_runs_cleanly_against_the_demo() {
    let sut = sut(false);
    let ws = Workspace::new();
    for name in [
        "salon-crm.yaml",
        "homework-bot.yaml",
        "quiz-cache.yaml",
        "quiz-rate.yaml",
        "mentorhub-monitoring.yaml",
        "demo.yaml",
        "example.yaml",
    ] {
        let out = run_bundled(name, &sut.url, &ws, 6);
        assert!(
            out.code == 0 || out.code == 1,
            "{name}: exit {}\n{}",
            out.code,
            out.stderr
        );
        let run = out.json();
        assert_eq!(run["plan"]["users"], 50, "{name}");
        assert_eq!(
            u(&run, "/totals/all/failed"),
            0,
            "{name}: unexpected errors {}",
            run["errors"]
        );
        for e in run["endpoints"].as_array().unwrap() {
            assert!(
                u(e, "/stats/all/requests") > 0,
                "{name}: no samples for {}",
                e["name"]
            );
        }
    }
}

#[test]
fn the_unoptimized_sut_is_measurably_worse() {
    let (fast, slow) = (sut(false), sut(true));
    let ws = Workspace::new();
    let good = run_bundled("salon-crm.yaml", &fast.url, &ws, 4).json();
    let bad = run_bundled("salon-crm.yaml", &slow.url, &ws, 4).json();
    let list = |run: &serde_json::Value, pointer: &str| f(endpoint(run, "list bookings"), pointer);
    let p95_ratio =
        list(&bad, "/stats/all/latency_ms/p95") / list(&good, "/stats/all/latency_ms/p95");
    let sql = "/stats/all/server_headers/X-SQL-Queries/mean";
    let sql_ratio = list(&bad, sql) / list(&good, sql);
    assert!(p95_ratio >= 3.0, "list p95 ratio {p95_ratio:.1}");
    assert!(sql_ratio >= 10.0, "X-SQL-Queries ratio {sql_ratio:.1}");
    // The N+1 target from seed 001 fails before and holds after.
    let verdict_of = |run: &serde_json::Value| {
        run["verdict"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["metric"] == "max X-SQL-Queries")
            .unwrap()["outcome"]
            .clone()
    };
    assert_eq!(verdict_of(&good), "pass");
    assert_eq!(verdict_of(&bad), "fail");
    // The unoptimized SUT keeps 8 notifications sockets for 50 receptionists: the
    // rest drop (and reconnect), and the socket target catches it.
    let sockets = |run: &serde_json::Value| endpoint(run, "notifications")["stats"]["all"].clone();
    assert_eq!(u(&sockets(&good), "/websocket/dropped"), 0);
    assert!(
        u(&sockets(&good), "/websocket/messages_received") > 0,
        "bookings pushed"
    );
    assert!(
        u(&sockets(&bad), "/websocket/dropped") > 10,
        "{}",
        sockets(&bad)
    );
    let reasons = bad["errors"]["groups"].to_string();
    assert!(
        reasons.contains(
            "dropped: closed by the server (1013 try again later: too many notification sockets)"
        ),
        "{reasons}"
    );
    let socket_target = |run: &serde_json::Value| {
        run["verdict"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["scope"] == "notifications" && t["metric"] == "error_rate")
            .unwrap()["outcome"]
            .clone()
    };
    assert_eq!(socket_target(&good), "pass");
    assert_eq!(socket_target(&bad), "fail");
}

/// Reads `GET path` over a plain TCP connection; returns status and body.
/// Polls `ready` every 20 ms until it holds; fails the test after `limit`.
fn wait_for(limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "not ready within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn http_get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    http(addr, "GET", path, "", "")
}

/// One HTTP/1.1 request with `headers` (CRLF-terminated lines) and `body`.
fn http(addr: &str, method: &str, path: &str, headers: &str, body: &str) -> (u16, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head[9..12].parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

#[test]
fn bad_requests_get_json_4xx_and_the_server_stays_up() {
    let sut = sut(false);
    let addr = sut.url.trim_start_matches("http://").to_string();
    let (_, login) = http(
        &addr,
        "POST",
        "/api/login",
        "",
        r#"{"username":"staff1","password":"pass1"}"#,
    );
    let token: serde_json::Value = serde_json::from_slice(&login).unwrap();
    let auth = format!(
        "Authorization: Bearer {}\r\n",
        token["token"].as_str().unwrap()
    );
    let cases: Vec<(&str, &str, &str, &str, u16)> = vec![
        ("GET", "/api/bookings", "", "", 401),
        ("GET", "/api/bookings?page=abc", &auth, "", 400),
        ("GET", "/api/bookings?status=bogus", &auth, "", 400),
        ("GET", "/api/bookings/xyz", &auth, "", 400),
        ("GET", "/api/bookings/999999999", &auth, "", 404),
        ("POST", "/api/login", "", "{not json", 422),
        (
            "POST",
            "/api/login",
            "",
            r#"{"username":"staff1","password":"wrong"}"#,
            401,
        ),
        (
            "POST",
            "/api/bookings",
            &auth,
            r#"{"client_id":1,"master_id":1,"service_id":1,"date":"tomorrow","time":"10:00"}"#,
            400,
        ),
        (
            "POST",
            "/api/bookings",
            &auth,
            r#"{"client_id":-5,"master_id":1,"service_id":1,"date":"2026-01-01","time":"10:00"}"#,
            422,
        ),
        ("POST", "/bot/webhook", "", "{}", 422),
        (
            "POST",
            "/bot/webhook",
            "",
            r#"{"update_id":1,"message":{"chat":{"id":1},"text":"hi"}}"#,
            400,
        ),
        ("GET", "/api/v1/admin/metrics", "", "", 401),
        ("GET", "/api/quiz/questions/abc", "", "", 400),
        ("GET", "/api/quiz/questions?page=-1", "", "", 400),
        ("GET", "/debug/pprof/profile?seconds=abc", "", "", 400),
        ("GET", "/no/such/endpoint", "", "", 404),
    ];
    for (method, path, headers, body, expected) in cases {
        let (status, reply) = http(&addr, method, path, headers, body);
        assert_eq!(
            status,
            expected,
            "{method} {path}: {}",
            String::from_utf8_lossy(&reply)
        );
        let json: serde_json::Value = serde_json::from_slice(&reply).unwrap_or_else(|_| {
            panic!(
                "{method} {path}: not JSON: {}",
                String::from_utf8_lossy(&reply)
            )
        });
        assert!(json["error"].is_string(), "{method} {path}: {json}");
    }
    let (status, _) = http_get(&addr, "/api/v1/health/detailed");
    assert_eq!(status, 200, "the server is still up");
}

#[test]
fn the_pprof_endpoint_profiles_the_handlers_under_load() {
    let sut = sut(true);
    let addr = sut.url.trim_start_matches("http://").to_string();
    let ws = Workspace::new();
    let file = scenarios_dir().join("salon-crm.yaml");
    let load = Command::new(gander_bin())
        .args([
            "run",
            file.to_str().unwrap(),
            "--host",
            &sut.url,
            "--duration",
            "6s",
            "--ramp-up",
            "1s",
            // The file's own profile would hold the SUT's one profiler.
            "--profile",
            "none",
        ])
        .args(["-o", ws.reports().to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let health = |addr: &str| {
        let (_, body) = http_get(addr, "/api/v1/health/detailed");
        serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default()
    };
    // Under load once the SUT has answered requests.
    wait_for(Duration::from_secs(30), || {
        health(&addr)["metrics"]["total_requests"].as_u64() > Some(10)
    });
    let addr1 = addr.clone();
    let first = std::thread::spawn(move || http_get(&addr1, "/debug/pprof/profile?seconds=2"));
    // A second profile while one runs is refused, as Go's net/http/pprof does.
    wait_for(Duration::from_secs(10), || {
        health(&addr)["profiling"] == true
    });
    let (second_status, second_body) = http_get(&addr, "/debug/pprof/profile?seconds=1");
    let (status, body) = first.join().unwrap();
    let _ = wait_bounded(load, Duration::from_secs(60));
    assert_eq!(status, 200);
    assert_eq!(
        second_status,
        500,
        "{}",
        String::from_utf8_lossy(&second_body)
    );
    assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip, as the Go contract says");
    let profile = gander::profile::pprof::decode(&body).unwrap();
    assert!(profile.folded.total() > 0, "samples under load");
    let stacks = profile.folded.to_text();
    assert!(
        stacks.contains("gander_demo::api::bookings_n_plus_one"),
        "the N+1 handler is in the profile: {:?}",
        profile.folded.hottest(5)
    );
}

/// Starts `gander demo`, returns the child and the SUT's pid once it is ready.
fn start_demo(
    ws: &Workspace,
    duration: &str,
) -> (
    std::process::Child,
    u32,
    BufReader<std::process::ChildStderr>,
) {
    let mut child = Command::new(gander_bin())
        .args([
            "demo",
            "--duration",
            duration,
            "-o",
            ws.reports().to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(pid) = line.split("(pid ").nth(1) {
            return (
                child,
                pid.trim().trim_end_matches(')').parse().unwrap(),
                stderr,
            );
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("gander demo did not report a ready SUT (last line: {line:?})");
}

#[test]
fn gander_demo_writes_a_run_and_leaves_no_process() {
    let ws = Workspace::new();
    let (child, sut_pid, mut stderr) = start_demo(&ws, "3s");
    assert!(process_alive(sut_pid));
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    let out = RunOutput::new(wait_bounded(child, Duration::from_secs(120)));
    let _ = drain.join();
    assert!(
        out.code == 0 || out.code == 1,
        "exit {}: {}",
        out.code,
        out.stdout
    );
    assert_complete_run_dir(&out.run_dir());
    let run = out.json();
    assert_eq!(run["outcome"]["status"], "completed");
    assert!(u(&run, "/totals/steady/requests") > 0);
    assert!(!process_alive(sut_pid), "the demo SUT was stopped");
}

#[test]
fn an_interrupted_demo_stops_its_sut_and_keeps_the_run() {
    let ws = Workspace::new();
    let (child, sut_pid, stderr) = start_demo(&ws, "60s");
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let mut stderr = stderr;
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = RunOutput::new(wait_bounded(child, Duration::from_secs(60)));
    let _ = drain.join();
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert_eq!(out.json()["outcome"]["status"], "interrupted");
    assert!(!process_alive(sut_pid), "the demo SUT was stopped");
}

/// Runs `scenarios/demo.yaml` shortly against its own demo SUT, sampling the
/// SUT's process; `extra` adds flags (`--profile none`).
fn run_demo_scenario(ws: &Workspace, extra: &[&str]) -> RunOutput {
    let sut = sut(false);
    let pid = sut.pid().to_string();
    let file = scenarios_dir().join("demo.yaml");
    let reports = ws.reports();
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--host",
        &sut.url,
        "--sut-pid",
        &pid,
        "--duration",
        "8s",
        "--ramp-up",
        "2s",
        "-o",
        reports.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let out = RunOutput::new(gander(&args));
    assert!(
        out.code <= 1,
        "exit {}: {}\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    out
}

/// The SUT's largest resident memory, from /proc over its process tree.
fn sut_max_rss(run: &serde_json::Value) -> f64 {
    let sources = run["resources"]["sources"].as_array().unwrap();
    let process = sources
        .iter()
        .find(|s| s["kind"] == "process")
        .unwrap_or_else(|| panic!("no process source in {sources:?}"));
    let rss = process["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "rss_bytes")
        .unwrap();
    f(rss, "/summary/max")
}

/// Each whole second inside the steady state, with its p50, against the
/// steady state's p50: the seconds whose p50 is at least 10 times it.
fn stalled_seconds(run: &serde_json::Value) -> Vec<(u64, f64)> {
    let (start, end) = (
        f(run, "/phases/steady/start_s"),
        f(run, "/phases/steady/end_s"),
    );
    let p50 = f(run, "/totals/steady/latency_ms/p50");
    let seconds: Vec<(u64, f64)> = run["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            let t = p["t"].as_f64().unwrap();
            t >= start && t + 1.0 <= end
        })
        .filter_map(|p| Some((p["t"].as_u64()?, p["p50_ms"].as_f64()?)))
        .collect();
    assert!(seconds.len() >= 4, "{seconds:?} in {start}-{end}");
    seconds.into_iter().filter(|s| s.1 >= 10.0 * p50).collect()
}

#[test]
fn the_demo_measures_the_demo_not_its_profiler() {
    let ws = Workspace::new();
    let profiled_out = run_demo_scenario(&ws, &[]);
    let unprofiled = run_demo_scenario(&ws, &["--profile", "none"]).json();
    let profiled = profiled_out.json();
    assert_eq!(
        profiled["profile"]["status"], "ok",
        "{}",
        profiled["profile"]
    );
    assert!(unprofiled.get("profile").is_none_or(|p| p.is_null()));

    // The profiler may cost memory, not define it: within 2x either way.
    let (with, without) = (sut_max_rss(&profiled), sut_max_rss(&unprofiled));
    assert!(
        with <= 2.0 * without && without <= 2.0 * with,
        "SUT max RSS {:.0} MiB profiled, {:.0} MiB not",
        with / 1048576.0,
        without / 1048576.0
    );
    // No second of the steady state stalls (p50 10x the steady p50), with or
    // without the profile, nor when the profile ends and is built and sent.
    for (name, run) in [("profiled", &profiled), ("unprofiled", &unprofiled)] {
        let stalled = stalled_seconds(run);
        assert!(
            stalled.is_empty(),
            "{name}: seconds (t, p50 ms) at 10x the steady p50 of {} ms: {stalled:?}",
            f(run, "/totals/steady/latency_ms/p50")
        );
    }

    // The default profile stops before the steady state does, and the verdict says so.
    let window = &profiled["profile"]["window"];
    assert!(f(window, "/end_s") < f(&profiled, "/phases/steady/end_s"));
    let notes = |run: &serde_json::Value| -> Vec<String> {
        run["verdict"]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    let said: Vec<String> = notes(&profiled)
        .into_iter()
        .filter(|n| n.contains("mix profiled and unprofiled seconds"))
        .collect();
    assert_eq!(said.len(), 1, "{:?}", notes(&profiled));
    assert!(
        said[0].contains(&format!("{:.1}s", f(window, "/end_s"))),
        "{}",
        said[0]
    );
    assert!(
        !notes(&unprofiled).iter().any(|n| n.contains("profile")),
        "{:?}",
        notes(&unprofiled)
    );
    // ... in every report: the console summary, Markdown and HTML.
    let dir = profiled_out.run_dir();
    for file in ["summary.txt", "summary.md", "report.html"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(
            text.contains("mix profiled and unprofiled seconds"),
            "{file} lacks the note"
        );
    }
}
