//! Load models against a real server on 127.0.0.1: the open model's arrival
//! rate and honest tails under a stall, the closed model's late-start report,
//! stages, and an open run too short of users being invalid.

use serde_json::Value;

use crate::common::*;

fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn validity<'a>(json: &'a Value, check: &str) -> &'a Value {
    json["verdict"]["validity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no validity check {check}: {}", json["verdict"]))
}

/// The tail a 1 s stall once every 10 s leaves in a steady window of `steady_s`
/// holding one stall: requests arriving in it wait U(0, 1 s), so P(latency > x)
/// = (1 s / steady_s) · (1 − x/1 s) and the p99 is 1 s · (1 − 0.01 · steady_s / 1 s).
fn implied_p99_ms(steady_s: f64) -> f64 {
    let stall = STALL.as_secs_f64();
    1e3 * stall * (1.0 - 0.01 * steady_s / stall)
}

#[test]
fn a_stall_shows_in_the_open_models_tail_and_in_the_closed_models_late_report() {
    let steady = 12.0;
    // Open: 40 iterations a second whatever the server does.
    let server = start_server();
    let ws = Workspace::new();
    let open = ws.run(
        &format!(
            "name: stall-open\nhost: {}\n\
             load: {{ rate: 40/s, duration: {steady}s, max_users: 100 }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: stall, get: /stall }}\n",
            server.url()
        ),
        &[],
    );
    let o = open.json();
    assert_eq!(o["plan"]["model"], "open", "{}", open.stdout);
    let (o_p50, o_p99, o_max) = {
        let l = &o["totals"]["steady"]["latency_ms"];
        (ms(&l["p50"]), ms(&l["p99"]), ms(&l["max"]))
    };
    let implied = implied_p99_ms(steady);
    eprintln!("open: p50 {o_p50} ms, p99 {o_p99} ms (implied {implied:.0}), max {o_max} ms");
    // The stall is in the tail: the p99 is of the stall's order, not the server's.
    assert!(
        o_p99 >= implied / 2.0,
        "open p99 {o_p99} ms, implied {implied:.0} ms"
    );
    assert!(
        o_p99 <= STALL.as_millis() as f64 * 1.5,
        "open p99 {o_p99} ms beyond the stall"
    );
    assert!(
        o_max >= STALL.as_millis() as f64 * 0.8,
        "open max {o_max} ms"
    );
    assert!(
        o_p99 > 10.0 * o_p50,
        "p99 {o_p99} vs p50 {o_p50}: an order of magnitude apart"
    );
    // The per-second series shows when: one second holds the stall's slowest requests.
    let stalled_seconds = o["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["max_ms"].as_f64().unwrap_or(0.0) >= STALL.as_millis() as f64 * 0.8)
        .count();
    assert!(stalled_seconds >= 1, "no second holds the stall");
    let open_report = &o["load"]["open"];
    assert_eq!(open_report["missed"], 0, "{open_report}");
    assert_eq!(
        validity(&o, "iterations on time")["ok"],
        true,
        "{}",
        o["verdict"]
    );
    assert_eq!(open.code, 0, "{}\n{}", open.stdout, open.stderr);

    // Closed: 5 users with 20 ms think time; during the stall they just wait.
    let server = start_server();
    let ws = Workspace::new();
    let closed = ws.run(
        &format!(
            "name: stall-closed\nhost: {}\n\
             load: {{ users: 5, duration: {steady}s }}\n\
             scenarios:\n  - name: s\n    think_time: 20ms\n    steps:\n      - {{ name: stall, get: /stall }}\n",
            server.url()
        ),
        &[],
    );
    let c = closed.json();
    assert_eq!(c["plan"]["model"], "closed");
    let pacing = &c["load"]["closed"];
    let late = pacing["late"].as_u64().unwrap();
    let c_p99 = ms(&pacing["measured"]["p99"]);
    let corrected_p99 = ms(&pacing["corrected"]["p99"]);
    eprintln!(
        "closed: {late} late of {} requests, worst delay {} ms, p99 {c_p99} ms, corrected {corrected_p99} ms",
        pacing["requests"], pacing["worst_delay_ms"]
    );
    // Each of the 5 users sat out most of the stall, during which its ~20 ms pace
    // called for dozens of requests.
    assert!(late >= 5 * 10, "late {late}");
    assert!(ms(&pacing["worst_delay_ms"]) >= STALL.as_millis() as f64 / 2.0);
    // The closed tail understates; corrected, it tells the same story as the open model's.
    assert!(
        c_p99 < o_p99 / 2.0,
        "closed p99 {c_p99} ms vs open {o_p99} ms"
    );
    assert!(
        corrected_p99 >= implied / 2.0,
        "corrected p99 {corrected_p99} ms"
    );
    let late_series: u64 = c["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["late"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        late_series >= late,
        "per-second late {late_series} vs steady {late}"
    );
    let notes = c["verdict"]["notes"].to_string();
    assert!(
        notes.contains("closed model") && notes.contains("open model"),
        "{notes}"
    );
    assert!(closed.stdout.contains("never sent"), "{}", closed.stdout);
}

#[test]
fn an_open_model_keeps_its_rate() {
    let server = start_server();
    let ws = Workspace::new();
    let (rate, secs) = (200.0, 10.0);
    let run = ws.run(
        &format!(
            "name: rate\nhost: {}\nload: {{ rate: {rate}/s, duration: {secs}s }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: fast, get: /fast }}\n",
            server.url()
        ),
        &[],
    );
    let json = run.json();
    let planned = rate * secs;
    let steady = &json["totals"]["steady"];
    let achieved = steady["requests"].as_f64().unwrap();
    let open = &json["load"]["open"];
    eprintln!(
        "planned {planned}, achieved {achieved}, lag {}",
        open["start_lag_ms"]
    );
    assert!(
        (achieved - planned).abs() <= planned * 0.03,
        "achieved {achieved} of {planned}"
    );
    assert_eq!(
        server.seen.count("/fast") as f64,
        achieved,
        "every iteration reached the server"
    );
    assert_eq!(open["intended"], open["started"]);
    assert_eq!(
        json["phases"]["steady"]["end_s"].as_f64().unwrap()
            - json["phases"]["steady"]["start_s"].as_f64().unwrap(),
        secs
    );
    assert_eq!(
        validity(&json, "arrival rate")["ok"],
        true,
        "{}",
        json["verdict"]
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // Every report says which model ran.
    assert!(run.stdout.contains("open model: 200/s"), "{}", run.stdout);
    for file in ["summary.md", "report.html", "summary.txt"] {
        let text = std::fs::read_to_string(run.run_dir().join(file)).unwrap();
        assert!(text.contains("open model: 200"), "{file}");
    }
}

/// Per second of `json`'s series whose whole second lies inside one flat stage:
/// (planned level, observed value).
fn flat_seconds(json: &Value, observed: &str) -> Vec<(f64, f64)> {
    let stages = json["load"]["stages"].as_array().unwrap();
    json["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let t = p["t"].as_f64().unwrap();
            let stage = stages.iter().find(|s| {
                ms(&s["start_s"]) <= t && t + 1.0 <= ms(&s["end_s"]) && s["from"] == s["to"]
            })?;
            Some((ms(&stage["to"]), p[observed].as_f64().unwrap_or(0.0)))
        })
        .collect()
}

#[test]
fn stages_shape_the_closed_models_users_and_the_open_models_rate() {
    let server = start_server();
    let ws = Workspace::new();
    let closed = ws.run(
        &format!(
            "name: staged-closed\nhost: {}\n\
             load:\n  steady: plateau\n  stages:\n\
             \x20   - {{ duration: 2s, users: 4 }}\n\
             \x20   - {{ name: plateau, duration: 3s, users: 4 }}\n\
             \x20   - {{ duration: 1s, users: 8 }}\n\
             \x20   - {{ name: spike, duration: 3s, users: 8 }}\n\
             \x20   - {{ duration: 2s, users: 2 }}\n\
             scenarios:\n  - name: s\n    think_time: 50ms\n    steps:\n      - {{ name: fast, get: /fast }}\n",
            server.url()
        ),
        &[],
    );
    let c = closed.json();
    assert_eq!(c["plan"]["steady_stage"], "plateau", "{}", closed.stdout);
    let stages = c["load"]["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 5);
    let plateau = &stages[1];
    let steady = &c["phases"]["steady"];
    for edge in ["start_s", "end_s"] {
        assert!(
            (ms(&steady[edge]) - ms(&plateau[edge])).abs() < 1e-6,
            "{steady} vs {plateau}"
        );
    }
    let flat = flat_seconds(&c, "users");
    eprintln!("closed (planned, users): {flat:?}");
    assert!(flat.len() >= 3, "{flat:?}");
    for (planned, users) in &flat {
        assert!((users - planned).abs() <= 1.0, "{flat:?}");
    }
    let series: Vec<f64> = c["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["users"].as_f64().unwrap())
        .collect();
    let peak = series.iter().cloned().fold(0.0, f64::max);
    assert_eq!(peak, 8.0, "{series:?}");
    // The planned level rides along the series, ramps included.
    let targets: Vec<f64> = c["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["target"].as_f64())
        .collect();
    assert!(
        targets.len() >= 10 && targets.iter().any(|t| *t > 4.0 && *t < 8.0),
        "{targets:?}"
    );
    assert_eq!(closed.code, 0, "{}\n{}", closed.stdout, closed.stderr);

    let open = ws.run(
        &format!(
            "name: staged-open\nhost: {}\n\
             load:\n  steady: peak\n  stages:\n\
             \x20   - {{ duration: 1s, rate: 20/s }}\n\
             \x20   - {{ name: base, duration: 3s, rate: 20/s }}\n\
             \x20   - {{ duration: 2s, rate: 60/s }}\n\
             \x20   - {{ name: peak, duration: 3s, rate: 60/s }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: fast, get: /fast }}\n",
            server.url()
        ),
        &[],
    );
    let o = open.json();
    let flat = flat_seconds(&o, "iterations");
    eprintln!("open (planned, iterations): {flat:?}");
    assert!(flat.len() >= 4, "{flat:?}");
    for (planned, started) in &flat {
        assert!((started - planned).abs() <= 1.0, "{flat:?}");
    }
    let report = &o["load"]["open"];
    // 20/s ramp over 1 s, 3 s at 20/s, a ramp to 60/s over 2 s, 3 s at 60/s.
    assert_eq!(report["intended"], 10 + 60 + 80 + 180, "{report}");
    assert_eq!(report["steady_intended"], 180, "{report}");
    let total: u64 = o["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["iterations"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(Some(total), report["started"].as_u64());
    assert_eq!(open.code, 0, "{}\n{}", open.stdout, open.stderr);
}

#[test]
fn an_open_model_short_of_users_is_invalid() {
    let server = start_server();
    let ws = Workspace::new();
    // 40 iterations a second of 200 ms each need 8 users; 2 are allowed. The
    // backlog may drain for one request timeout after the schedule.
    let run = ws.run(
        &format!(
            "name: short\nhost: {}\nload: {{ rate: 40/s, duration: 3s, max_users: 2 }}\n\
             defaults: {{ timeout: 2s }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: sleep, get: /sleep/200 }}\n\
             targets: {{ p95: 10s }}\n",
            server.url()
        ),
        &[],
    );
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    let check = validity(&json, "iterations on time");
    assert_eq!(check["ok"], false);
    assert!(
        check["detail"].as_str().unwrap().contains("max_users"),
        "{check}"
    );
    let open = &json["load"]["open"];
    assert!(
        open["late"].as_u64().unwrap() + open["missed"].as_u64().unwrap() > 0,
        "{open}"
    );
    assert_eq!(open["peak_busy"], 2, "{open}");
    // The late iterations are timed from when they were due: the queue shows in the latency.
    let p95 = ms(&json["totals"]["steady"]["latency_ms"]["p95"]);
    assert!(p95 > 400.0, "p95 {p95} ms with a queue of due iterations");
    assert!(
        run.stdout.contains("INVALID") || run.stdout.contains("invalid"),
        "{}",
        run.stdout
    );
}

/// Every figure of the corrected closed-model tail against the measured one.
fn assert_corrected_at_least_measured(pacing: &Value) {
    for stat in ["p50", "p90", "p95", "p99", "p99.9", "max"] {
        let (measured, corrected) = (
            ms(&pacing["measured"][stat]),
            ms(&pacing["corrected"][stat]),
        );
        assert!(
            corrected >= measured,
            "corrected {stat} {corrected} ms below the measured {measured} ms: {pacing}"
        );
    }
}

#[test]
fn a_flow_of_fast_and_slow_steps_without_think_time_sends_nothing_late() {
    // 8 users, no think time, steps that always take about 0, 0, 300 and 20 ms against a
    // server that never stalls: the 300 ms step is that step's usual self, not a stall.
    let server = start_server();
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "name: flow\nhost: {}\n\
             load: {{ users: 8, duration: 6s }}\n\
             scenarios:\n  - name: s\n    steps:\n\
             \x20     - {{ name: a, get: /fast }}\n\
             \x20     - {{ name: b, get: /fast }}\n\
             \x20     - {{ name: report, get: /sleep/300 }}\n\
             \x20     - {{ name: d, get: /sleep/20 }}\n",
            server.url()
        ),
        &[],
    );
    let run = out.json();
    let pacing = &run["load"]["closed"];
    let requests = pacing["requests"].as_u64().unwrap();
    let late = pacing["late"].as_u64().unwrap();
    assert!(requests >= 40, "{pacing}");
    // No stall, so (next to) nothing held back: a blip of scheduling on a busy
    // 2-core machine may hold one user once, never hundreds of sends.
    assert!(late * 20 <= requests, "{late} of {requests} late: {pacing}");
    assert_corrected_at_least_measured(pacing);
    assert!(!out.stdout.contains("never sent") || late > 0);
}

#[test]
fn a_zero_think_hammer_counts_late_sends_only_within_what_its_pace_allows() {
    let server = start_server();
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "name: hammer\nhost: {}\nload: {{ users: 4, duration: 5s }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: fast, get: /fast }}\n",
            server.url()
        ),
        &[],
    );
    let run = out.json();
    let pacing = &run["load"]["closed"];
    let late = pacing["late"].as_u64().unwrap();
    let sent = run["totals"]["steady"]["requests"].as_u64().unwrap();
    // Without think time the users' pace is their own response time: the sends it
    // called for while a response stalled cannot outnumber the sends made
    // (the old per-name pace reported 6 times as many "never sent" as sent).
    eprintln!("hammer: {late} late for {sent} sent: {pacing}");
    assert!(late <= sent, "{late} late for {sent} sent: {pacing}");
    assert_corrected_at_least_measured(pacing);
}
