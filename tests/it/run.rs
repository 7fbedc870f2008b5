//! End-to-end runs of the gander binary against an in-test HTTP server on 127.0.0.1.

use std::time::Duration;

use crate::common::*;

#[test]
fn fifty_users_record_exactly_what_the_server_received() {
    let server = start_server();
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: {}\nload: {{ users: 50, iterations: 20 }}\nscenarios:\n  - name: s\n    steps:\n      - get: /fast\n",
            server.url()
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // goose's console output does not leak: --quiet prints only where the run went.
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let run = out.json();
    let served = server.seen.count("/fast");
    assert_eq!(served, 50 * 20);
    assert_eq!(u(&run, "/totals/all/requests"), served);
    assert_eq!(
        u(endpoint(&run, "GET /fast"), "/stats/all/requests"),
        served
    );
    assert_eq!(u(&run, "/totals/all/failed"), 0);
    assert_eq!(u(&run, "/plan/scenarios/0/users_started"), 50);
    // Phases partition the run: nothing is dropped or counted twice.
    let phases: u64 = ["ramp_up", "steady", "ramp_down"]
        .iter()
        .map(|p| u(&run, &format!("/totals/{p}/requests")))
        .sum();
    assert_eq!(phases, served);
    // The per-second series adds up to the same count.
    let series: u64 = run["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(series, served);
}

#[test]
fn a_timed_run_counts_every_request_the_server_saw() {
    let server = start_server();
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: {}\nload: {{ users: 50, ramp_up: 1s, duration: 2s }}\nscenarios:\n  - name: s\n    think_time: 10ms..30ms\n    steps:\n      - get: /fast\n",
            server.url()
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    assert_eq!(
        u(&run, "/totals/all/requests"),
        server.seen.total.load(std::sync::atomic::Ordering::SeqCst)
    );
    assert!(u(&run, "/totals/steady/requests") > 0);
    assert!(
        u(&run, "/totals/ramp_up/requests") > 0,
        "ramp-up requests are kept"
    );
    let steady = &run["phases"]["steady"];
    assert!(f(steady, "/end_s") - f(steady, "/start_s") >= 1.5);
    assert!(f(&run, "/phases/ramp_up/end_s") <= f(steady, "/start_s"));
}

#[test]
fn latency_runs_to_the_last_body_byte() {
    let server = start_server();
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: {}\nload: {{ users: 4, iterations: 3 }}\nscenarios:\n  - name: s\n    steps:\n      - get: /slow-body\n",
            server.url()
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/requests"), 12);
    // The body arrives 100 ms after the headers; goose's own timer would say ~1 ms.
    assert!(
        f(&run, "/totals/all/latency_ms/min") >= 100.0,
        "{}",
        run["totals"]["all"]["latency_ms"]
    );
}

#[test]
fn weights_share_users_as_declared() {
    let server = start_server();
    let ws = Workspace::new();
    let scenario = format!(
        "host: {}
load: {{ users: 40, iterations: 2 }}
scenarios:
  - name: heavy
    weight: 3
    steps:
      - get: /scenario/heavy
  - name: light
    weight: 1
    steps:
      - get: /scenario/light
",
        server.url()
    );
    let out = ws.run(&scenario, &["--quiet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    let heavy = u(&run, "/plan/scenarios/0/users_started");
    let light = u(&run, "/plan/scenarios/1/users_started");
    assert_eq!(heavy + light, 40);
    assert_eq!(heavy, 3 * light);
    assert_eq!(server.seen.count("/scenario/heavy"), heavy * 2);
    assert_eq!(server.seen.count("/scenario/light"), light * 2);
}

#[test]
fn login_captures_a_token_and_cookie_per_user() {
    let server = start_server();
    let ws = Workspace::new();
    let users: Vec<String> = (0..10).map(|i| format!("user{i}")).collect();
    ws.write(
        "staff.csv",
        &format!(
            "username,password\n{}\n",
            users
                .iter()
                .map(|u| format!("{u},pw"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    );
    let scenario = format!(
        r#"host: {}
load: {{ users: 10, iterations: 3 }}
data:
  staff: {{ csv: staff.csv, mode: unique }}
scenarios:
  - name: receptionist
    on_start:
      - name: login
        post: /login
        json: {{ username: "${{staff.username}}", password: "${{staff.password}}" }}
        expect: {{ status: 200, json: [ {{ pointer: /token, exists: true }} ] }}
        capture:
          token: {{ json: /token }}
          sid: {{ cookie: sid }}
    steps:
      - name: me
        get: /me
        headers: {{ Authorization: "Bearer ${{token}}", X-Session: "${{sid}}" }}
        expect: {{ status: 200 }}
"#,
        server.url()
    );
    let out = ws.run(&scenario, &["--quiet"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(
        server
            .seen
            .unauthorised
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let mut authorised = server.seen.authorised.lock().unwrap().clone();
    assert_eq!(authorised.len(), 30);
    authorised.sort();
    authorised.dedup();
    assert_eq!(authorised, users, "each user used its own token and cookie");
    assert_eq!(u(endpoint(&run, "login"), "/stats/all/requests"), 10);
}

#[test]
fn feeders_hand_out_rows_as_declared() {
    let server = start_server();
    let ws = Workspace::new();
    ws.write("rows.csv", "v\na\nb\nc\n");
    // cycle, one row per user: 10 users over 3 rows.
    let scenario = |mode: &str, per: &str, users: u32, iterations: u32| {
        format!(
            "host: {}\nload: {{ users: {users}, iterations: {iterations} }}\ndata:\n  rows: {{ csv: rows.csv, mode: {mode}, per: {per} }}\nscenarios:\n  - name: s\n    steps:\n      - get: /value?v=${{rows.v}}\n",
            server.url()
        )
    };
    let out = ws.run(&scenario("cycle", "user", 10, 1), &["--quiet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let counts = |values: &[String]| {
        let mut c = std::collections::BTreeMap::new();
        for v in values {
            *c.entry(v.clone()).or_insert(0) += 1;
        }
        c.into_values().collect::<Vec<u32>>()
    };
    let values = std::mem::take(&mut *server.seen.values.lock().unwrap());
    assert_eq!(values.len(), 10);
    let mut c = counts(&values);
    c.sort();
    assert_eq!(c, vec![3, 3, 4]);

    // unique, per iteration: 3 rows, 1 user x 3 iterations: every row once.
    let out = ws.run(&scenario("unique", "iteration", 1, 3), &["--quiet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut values = std::mem::take(&mut *server.seen.values.lock().unwrap());
    values.sort();
    assert_eq!(values, vec!["a", "b", "c"]);

    // random: only values from the file.
    let out = ws.run(&scenario("random", "iteration", 2, 10), &["--quiet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let values = std::mem::take(&mut *server.seen.values.lock().unwrap());
    assert_eq!(values.len(), 20);
    assert!(values.iter().all(|v| ["a", "b", "c"].contains(&v.as_str())));
}

#[test]
fn failures_are_counted_with_their_reasons() {
    let server = start_server();
    let ws = Workspace::new();
    let scenario = format!(
        r#"host: {}
load: {{ users: 5, iterations: 4 }}
error_samples: 3
scenarios:
  - name: s
    steps:
      - name: broken
        get: /status/500
      - name: wrong body
        get: /fast
        expect: {{ body_contains: nope }}
      - name: wrong json
        get: /json
        expect: {{ json: [ {{ pointer: /status, equals: degraded }} ] }}
      - name: fine
        get: /json
        expect: {{ status: [200, 204], headers: [content-type], json: [ {{ pointer: /items/0/id, equals: 7 }} ] }}
"#,
        server.url()
    );
    let out = ws.run(&scenario, &["--quiet"]);
    assert_eq!(out.code, 0, "no targets: exit 0; {}", out.stderr);
    let run = out.json();
    assert_eq!(u(endpoint(&run, "broken"), "/stats/all/failed"), 20);
    assert_eq!(u(endpoint(&run, "broken"), "/stats/all/statuses/500"), 20);
    assert_eq!(u(endpoint(&run, "wrong body"), "/stats/all/failed"), 20);
    assert_eq!(u(endpoint(&run, "wrong json"), "/stats/all/failed"), 20);
    assert_eq!(u(endpoint(&run, "fine"), "/stats/all/failed"), 0);
    assert_eq!(u(&run, "/totals/all/failed"), 60);
    let groups = run["errors"]["groups"].as_array().unwrap();
    let reason = |name: &str| {
        groups
            .iter()
            .find(|g| g["endpoint"] == name)
            .map(|g| {
                (
                    g["reason"].as_str().unwrap().to_string(),
                    g["count"].as_u64().unwrap(),
                )
            })
            .unwrap()
    };
    assert_eq!(reason("broken"), ("HTTP 500".to_string(), 20));
    assert_eq!(
        reason("wrong body"),
        ("body does not contain \"nope\"".to_string(), 20)
    );
    assert_eq!(
        reason("wrong json"),
        (
            "JSON /status is \"healthy\", expected \"degraded\"".to_string(),
            20
        )
    );
    let samples = run["errors"]["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3, "error_samples caps the kept samples");
    let broken = samples.iter().find(|s| s["endpoint"] == "broken").unwrap();
    assert_eq!(broken["status"], 500);
    assert_eq!(broken["body"], "status 500 body");
}

#[test]
fn exit_code_follows_the_targets() {
    let server = start_server();
    let ws = Workspace::new();
    let scenario = |targets: &str| {
        format!(
            "host: {}\nload: {{ users: 5, iterations: 5 }}\nscenarios:\n  - name: s\n    steps:\n      - get: /fast\ntargets: {targets}\n",
            server.url()
        )
    };
    // Limits that are certain either way on any machine.
    let pass = ws.run(&scenario("{ p95: 60s, max: 60s, error_rate: 1%, throughput: 0.001/s, endpoints: { \"GET /fast\": { p99: 60s } } }"), &[]);
    assert_eq!(pass.code, 0, "{}", pass.stderr);
    // Without --quiet the summary is printed: the table and the verdict, nothing else.
    assert!(pass.stdout.starts_with("gander "), "{}", pass.stdout);
    assert!(
        pass.stdout.contains("GET /fast")
            && pass.stdout.contains("TOTAL")
            && pass.stdout.contains("verdict: PASS"),
        "{}",
        pass.stdout
    );
    let verdict = &pass.json()["verdict"];
    assert_eq!(verdict["status"], "pass");
    assert_eq!(verdict["targets"].as_array().unwrap().len(), 5);

    let fail = ws.run(&scenario("{ p95: 60s, p50: 1us }"), &["--quiet"]);
    assert_eq!(fail.code, 1, "{}", fail.stderr);
    let verdict = &fail.json()["verdict"];
    assert_eq!(verdict["status"], "fail");
    let rows = verdict["targets"].as_array().unwrap();
    let p50 = rows.iter().find(|r| r["metric"] == "p50").unwrap();
    assert_eq!(p50["outcome"], "fail");
    assert!(p50["observed"].as_f64().unwrap() > p50["limit"].as_f64().unwrap());
    assert_eq!(
        rows.iter().find(|r| r["metric"] == "p95").unwrap()["outcome"],
        "pass"
    );

    let slow = ws.run(&scenario("{ throughput: 1000000000/s }"), &["--quiet"]);
    assert_eq!(slow.code, 1);
    // `gander report` re-renders a saved run and gives the same exit code.
    let again = RunOutput::new(gander(&["report", slow.run_dir().to_str().unwrap()]));
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stdout.contains("FAIL"), "{}", again.stdout);
}

#[test]
fn server_headers_are_recorded_per_request_name() {
    let server = start_server();
    let ws = Workspace::new();
    let scenario = format!(
        "host: {}\nload: {{ users: 3, iterations: 4 }}\nserver_headers: [X-SQL-Queries, X-Request-Time, Server-Timing]\nscenarios:\n  - name: s\n    steps:\n      - get: /headers\n      - get: /fast\n",
        server.url()
    );
    let out = ws.run(&scenario, &["--quiet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    let h = &endpoint(&run, "GET /headers")["stats"]["all"]["server_headers"];
    assert_eq!(h["X-SQL-Queries"]["count"], 12);
    assert_eq!(h["X-SQL-Queries"]["sum"], 144.0);
    assert_eq!(h["X-SQL-Queries"]["unit"], "");
    assert_eq!(h["X-Request-Time"]["unit"], "ms");
    assert!((f(h, "/X-Request-Time/mean") - 123.0).abs() < 1e-9);
    assert!((f(h, "/Server-Timing db/mean") - 12.5).abs() < 1e-9);
    assert!((f(h, "/Server-Timing app/mean") - 3.0).abs() < 1e-9);
    assert!(
        endpoint(&run, "GET /fast")["stats"]["all"]
            .get("server_headers")
            .is_none()
    );
}

#[test]
fn the_interval_log_merges_back_to_the_recorded_count() {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let server = start_server();
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: {}\nload: {{ users: 8, iterations: 25 }}\nscenarios:\n  - name: s\n    steps:\n      - get: /fast\n      - get: /json\n",
            server.url()
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0);
    let log = std::fs::read(out.run_dir().join("latency.hlog")).unwrap();
    let mut merged: hdrhistogram::Histogram<u64> = hdrhistogram::Histogram::new(3).unwrap();
    let mut deserializer = hdrhistogram::serialization::Deserializer::new();
    for entry in IntervalLogIterator::new(&log) {
        if let Ok(LogEntry::Interval(h)) = entry {
            let bytes = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                h.encoded_histogram(),
            )
            .unwrap();
            let hist: hdrhistogram::Histogram<u64> =
                deserializer.deserialize(&mut bytes.as_slice()).unwrap();
            merged.add(&hist).unwrap();
        }
    }
    assert_eq!(merged.len(), 400);
    // The whole-run histogram in run.json is the same data.
    let run = out.json();
    let encoded = run["totals"]["all"]["histogram"].as_str().unwrap();
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded).unwrap();
    let total: hdrhistogram::Histogram<u64> =
        deserializer.deserialize(&mut bytes.as_slice()).unwrap();
    assert_eq!(total.len(), merged.len());
    assert_eq!(total.max(), merged.max());
}

#[test]
fn sigterm_leaves_a_complete_run_marked_interrupted() {
    interrupted_by_sigterm("{ users: 20, duration: 60s }");
}

#[test]
fn sigterm_stops_an_open_model_run_and_keeps_it() {
    let run = interrupted_by_sigterm("{ rate: 100/s, duration: 60s, max_users: 20 }");
    let open = &run["load"]["open"];
    // Every iteration handed out was sent; none was due after the signal.
    assert_eq!(open["started"], open["intended"], "{open}");
    assert_eq!(
        u(&run, "/totals/all/requests"),
        open["started"].as_u64().unwrap()
    );
}

/// Runs `load` against the test server, sends SIGTERM once it is under way and
/// checks the run stopped promptly and left a complete, interrupted run; returns run.json.
fn interrupted_by_sigterm(load: &str) -> serde_json::Value {
    let server = start_server();
    let ws = Workspace::new();
    let file = ws.write(
        "scenario.yaml",
        &format!(
            "host: {}\nload: {load}\nscenarios:\n  - name: s\n    think_time: 50ms\n    steps:\n      - get: /fast\n",
            server.url()
        ),
    );
    let child = std::process::Command::new(gander_bin())
        .args([
            "run",
            file.to_str().unwrap(),
            "-o",
            ws.reports().to_str().unwrap(),
            "--quiet",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) until the users are sending.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.seen.count("/fast") < 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.seen.count("/fast") >= 100, "the run never started");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let started = std::time::Instant::now();
    let out = RunOutput::new(wait_bounded(child, Duration::from_secs(30)));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped promptly"
    );
    assert_eq!(out.code, 3, "interrupted runs are invalid: {}", out.stderr);
    let run = out.json();
    assert_eq!(run["outcome"]["status"], "interrupted");
    assert_eq!(run["verdict"]["status"], "invalid");
    assert_eq!(u(&run, "/totals/all/requests"), server.seen.count("/fast"));
    assert_complete_run_dir(&out.run_dir());
    // The page a reviewer opens says so first, with the reason.
    let html = std::fs::read_to_string(out.run_dir().join("report.html")).unwrap();
    assert!(html.contains(r#"<header id="verdict" class="banner interrupted">"#));
    assert!(html.contains("Stopped early: interrupted by a signal (Ctrl-C or SIGTERM)."));
    run
}

#[test]
fn a_thousand_users_run_on_two_cores() {
    let server = start_server();
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: {}\nload: {{ users: 1000, ramp_up: 1s, iterations: 3 }}\nscenarios:\n  - name: s\n    think_time: 600ms..800ms\n    steps:\n      - get: /fast\n",
            server.url()
        ),
        &["--quiet"],
    );
    let run = out.json();
    assert_eq!(out.code, 0, "{}\n{}", out.stderr, run["verdict"]);
    assert_eq!(u(&run, "/plan/scenarios/0/users_started"), 1000);
    assert_eq!(u(&run, "/totals/all/requests"), 3000);
    assert_eq!(server.seen.count("/fast"), 3000);
    assert_eq!(u(&run, "/totals/all/failed"), 0);
    let peak = run["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["users"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(peak > 500, "many users ran at once (peak {peak})");
}

#[test]
fn a_dead_host_still_writes_the_run() {
    let ws = Workspace::new();
    let port = free_port();
    let out = ws.run(
        &format!("host: http://127.0.0.1:{port}\nload: {{ users: 3, iterations: 2 }}\nscenarios:\n  - name: s\n    steps:\n      - get: /fast\ntargets: {{ error_rate: 1% }}\n"),
        &["--quiet"],
    );
    // Nothing reached a server: the run is invalid, whatever its targets say.
    assert_eq!(out.code, 3, "{}", out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 6);
    assert_eq!(u(&run, "/totals/all/unreached"), 6);
    let reason = run["errors"]["groups"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("connection failed"), "{reason}");
    assert_complete_run_dir(&out.run_dir());
}

#[test]
fn a_sut_down_from_the_start_stops_the_run_early_and_never_passes_a_latency_target() {
    let ws = Workspace::new();
    let port = free_port();
    let out = ws.run(
        &format!(
            "host: http://127.0.0.1:{port}\nload: {{ users: 4, duration: 60s }}\n\
             scenarios:\n  - name: s\n    steps:\n      - get: /fast\ntargets: {{ p95: 100ms }}\n"
        ),
        &[],
    );
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    assert_eq!(run["outcome"]["status"], "interrupted");
    let reason = run["outcome"]["reason"].as_str().unwrap();
    assert!(reason.contains("failed to connect"), "{reason}");
    // Stopped after its first seconds, not the planned minute.
    assert!(f(&run, "/phases/total/end_s") < 30.0, "{}", run["phases"]);
    // No latency figure from refusals: the p95 target has no data, the verdict is INVALID.
    assert!(run["totals"]["all"]["latency_ms"].is_null());
    assert!(run["totals"]["all"]["failed_latency_ms"]["p95"].is_number());
    assert_eq!(run["verdict"]["status"], "invalid");
    assert!(
        out.stdout.contains("INVALID") && out.stdout.contains("failed to connect"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_sut_killed_mid_run_is_invalid_and_its_latencies_are_the_answered_requests() {
    let sut = gander::DemoSut::start(&demo_program(), false).expect("the demo SUT starts");
    let url = sut.url.clone();
    let addr = url.trim_start_matches("http://").to_string();
    let ws = Workspace::new();
    let file = ws.write(
        "scenario.yaml",
        &format!(
            "host: {url}\nload: {{ users: 4, ramp_up: 0s, duration: 12s }}\n\
             scenarios:\n  - name: s\n    think_time: 5ms\n    steps:\n      - {{ name: health, get: /api/v1/health/detailed }}\n\
             targets: {{ p95: 1s }}\n"
        ),
    );
    let child = std::process::Command::new(gander_bin())
        .args([
            "run",
            file.to_str().unwrap(),
            "-o",
            ws.reports().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the SUT once it has answered some requests: the rest of the run is refused.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answered = std::net::TcpStream::connect(&addr).ok().and_then(|mut s| {
            use std::io::{Read, Write};
            s.write_all(
                b"GET /api/v1/health/detailed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .ok()?;
            let mut text = String::new();
            s.read_to_string(&mut text).ok()?;
            let body = text.split("\r\n\r\n").nth(1)?;
            serde_json::from_str::<serde_json::Value>(body).ok()?["metrics"]["total_requests"]
                .as_u64()
        });
        if answered.is_some_and(|n| n > 100) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never reached the SUT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(sut);
    let out = RunOutput::new(child.wait_with_output().unwrap());
    let run = out.json();
    let all = &run["totals"]["all"];
    assert!(u(all, "/unreached") * 2 > u(all, "/requests"), "{all}");
    // The latency figures describe the answered requests only.
    let answered = u(all, "/requests") - u(all, "/failed");
    let histogram_count = gander::hist::decode_histogram(all["histogram"].as_str().unwrap())
        .unwrap()
        .len();
    assert_eq!(histogram_count, answered);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert_eq!(run["verdict"]["status"], "invalid");
    let check = run["verdict"]["validity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "requests reached the SUT")
        .unwrap();
    assert_eq!(check["ok"], false, "{check}");
}

#[test]
fn sigkill_leaves_the_seconds_measured_and_report_marks_the_run_killed() {
    let server = start_server();
    let ws = Workspace::new();
    let mut child = ws.spawn_run(&format!(
            "host: {}\nload: {{ users: 5, duration: 60s }}\ntargets: {{ p95: 10s }}\nscenarios:\n  - name: s\n    think_time: 20ms\n    steps:\n      - get: /fast\n",
            server.url()
        ));
    // Wait (bounded) for a checkpoint holding requests: run.json is
    // written at once, then again every few seconds while the run goes.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let run_json = loop {
        let found = std::fs::read_dir(ws.reports())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("run.json"))
            .find(|p| {
                std::fs::read_to_string(p)
                    .ok()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .is_some_and(|v| v["totals"]["all"]["requests"].as_u64() > Some(0))
            });
        if let Some(path) = found {
            break path;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run.json while running"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let dir = run_json.parent().unwrap().to_path_buf();
    child.kill().unwrap();
    child.wait().unwrap();
    let sent = server.seen.count("/fast");

    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
    assert_eq!(
        saved["outcome"]["status"], "running",
        "{}",
        saved["outcome"]
    );
    assert_eq!(saved["verdict"]["status"], "invalid");
    let recorded = u(&saved, "/totals/all/requests");
    assert!(recorded > 0 && recorded <= sent, "{recorded} of {sent}");
    // The interval log holds the seconds closed before the kill.
    let log = std::fs::read_to_string(dir.join("latency.hlog")).unwrap();
    assert!(
        log.lines().filter(|l| !l.starts_with('#')).count() >= 3,
        "{log}"
    );

    let out = gander(&["report", dir.to_str().unwrap()]);
    let out = RunOutput::new(out);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("KILLED: gander ended without finishing the run"),
        "{}",
        out.stdout
    );
    assert_complete_run_dir(&dir);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("KILLED"));
    let rendered: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
    assert_eq!(rendered["outcome"]["status"], "killed");
}

#[test]
fn sigkill_in_the_first_second_still_leaves_run_json() {
    let server = start_server();
    let ws = Workspace::new();
    let mut child = ws.spawn_run(&format!(
        "host: {}\nload: {{ users: 2, duration: 60s }}\nscenarios:\n  - name: s\n    think_time: 20ms\n    steps:\n      - get: /fast\n",
        server.url()
    ));
    // Killed as soon as the load has begun: long before the periodic checkpoint.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.seen.count("/fast") == 0 {
        assert!(std::time::Instant::now() < deadline, "no request sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let dir = std::fs::read_dir(ws.reports())
        .unwrap()
        .flatten()
        .next()
        .expect("a run directory")
        .path();
    let out = RunOutput::new(gander(&["report", dir.to_str().unwrap()]));
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("KILLED"), "{}", out.stdout);
    assert_complete_run_dir(&dir);
}

#[test]
fn an_unwritable_output_fails_before_any_request() {
    let server = start_server();
    let ws = Workspace::new();
    // A path below a regular file cannot be created, even by root.
    let blocker = ws.write("not-a-dir", "");
    let output = blocker.join("reports");
    let file = ws.write(
        "scenario.yaml",
        &format!(
            "host: {}\nload: {{ users: 2, iterations: 3 }}\nscenarios:\n  - name: s\n    steps:\n      - get: /fast\n",
            server.url()
        ),
    );
    let out = RunOutput::new(gander(&[
        "run",
        file.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]));
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("give --output a directory gander can write to"),
        "{}",
        out.stderr
    );
    assert_eq!(server.seen.count("/fast"), 0);
}

/// Starts `gander run` on `scenario`, waits (bounded) until `started` says the
/// run is under way, sends SIGTERM and returns the output and how long gander
/// took to exit after the signal.
fn sigterm_when(
    ws: &Workspace,
    scenario: &str,
    started: impl Fn() -> bool,
) -> (RunOutput, Duration) {
    let child = ws.spawn_run(scenario);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !started() {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let signalled = std::time::Instant::now();
    let out = RunOutput::new(wait_bounded(child, Duration::from_secs(60)));
    (out, signalled.elapsed())
}

/// The most a signal may wait for the end of a run (issue 14).
const PROMPT: Duration = Duration::from_secs(5);

#[test]
fn sigterm_while_ten_thousands_of_users_start_ends_the_run_promptly() {
    let server = start_server();
    let ws = Workspace::new();
    // As many users as the open-file limit lets start (each holds a connection;
    // `check` refuses more, see fault::users_beyond_the_open_file_limit_...).
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let users = (limit.rlim_max.min(100_000) as usize).saturating_sub(1_000);
    assert!(
        users >= 5_000,
        "an open-file limit of {} is too low for this test",
        limit.rlim_max
    );
    let scenario = format!(
        "host: {}\nload: {{ users: {users}, duration: 10m }}\nscenarios:\n  - name: s\n    think_time: 1s\n    steps:\n      - get: /fast\n",
        server.url()
    );
    let (out, took) = sigterm_when(&ws, &scenario, || server.seen.count("/fast") >= 50);
    eprintln!("gander ended {took:?} after SIGTERM");
    assert!(took < PROMPT, "gander took {took:?} to end after SIGTERM");
    assert_eq!(out.code, 3, "{}", out.stderr);
    let run = out.json();
    assert_eq!(run["outcome"]["status"], "interrupted");
    assert!(u(&run, "/totals/all/requests") <= server.seen.count("/fast"));
    assert_complete_run_dir(&out.run_dir());
}

#[test]
fn sigterm_with_an_hour_long_sut_interval_ends_the_run_promptly() {
    let server = start_server();
    let ws = Workspace::new();
    let scenario = format!(
        "host: {}\nload: {{ users: 5, duration: 10m }}\nsut:\n  pid: {}\n  prometheus: {{ url: /sleep/3600000 }}\n  interval: 1h\nscenarios:\n  - name: s\n    think_time: 50ms\n    steps:\n      - get: /fast\n",
        server.url(),
        std::process::id()
    );
    let (out, took) = sigterm_when(&ws, &scenario, || server.seen.count("/fast") >= 50);
    eprintln!("gander ended {took:?} after SIGTERM");
    assert!(took < PROMPT, "gander took {took:?} to end after SIGTERM");
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.json()["outcome"]["status"], "interrupted");
    assert_complete_run_dir(&out.run_dir());
}
