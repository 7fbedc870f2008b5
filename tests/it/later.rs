//! Answers that come later, against real programs: a Python service that
//! calls back, a real aiogram bot whose Bot API is gander, a FastAPI app
//! streaming server-sent events.

use std::process::Command;

use crate::common::*;

/// How long the callback service holds each order before calling back.
const HOLD_MS: u64 = 300;

#[test]
fn callbacks_are_timed_from_the_request_to_their_arrival_and_a_lost_one_fails() {
    let (_app, host) =
        start_fixture(Command::new("python3").arg(fixtures().join("callback-app/app.py")));
    let sink = free_port();
    let ws = Workspace::new();
    let scenario = format!(
        r#"host: {host}
load: {{ users: 4, iterations: 6 }}
sink: {{ listen: 127.0.0.1:{sink} }}
scenarios:
  - name: shop
    weight: 3
    steps:
      - name: order
        post: /orders
        json: {{ order_id: "o-${{user_index}}-${{iteration}}", callback: "http://127.0.0.1:{sink}/callback/o-${{user_index}}-${{iteration}}", delay_ms: {HOLD_MS} }}
        expect: {{ status: 202 }}
        capture: {{ order_id: {{ json: /order_id }} }}
      - name: order done
        await: {{ path: "/callback/${{order_id}}", within: 5s, contains: done }}
        capture: {{ held: {{ json: /held_ms }} }}
  - name: lost
    weight: 1
    steps:
      - name: lost order
        post: /orders
        json: {{ order_id: "l-${{user_index}}-${{iteration}}", callback: "http://127.0.0.1:{sink}/callback/l", lost: true }}
      - name: lost callback
        await: {{ path: "/callback/l-${{user_index}}", within: 1s }}
"#
    );
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    // Three users order, one loses its orders: every await is counted once.
    let done = endpoint(&run, "order done");
    assert_eq!(u(done, "/stats/all/requests"), 18);
    assert_eq!(u(done, "/stats/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(done["method"], "AWAIT");
    let lost = endpoint(&run, "lost callback");
    assert_eq!(u(lost, "/stats/all/requests"), 6);
    assert_eq!(u(lost, "/stats/all/failed"), 6);
    let groups = run["errors"]["groups"].as_array().unwrap();
    assert!(
        groups.iter().any(|g| g["endpoint"] == "lost callback"
            && g["reason"] == "no callback within 1s"
            && g["count"] == 6),
        "{groups:?}"
    );
    // The latency runs from the order's send to the callback's arrival: never
    // less than the hold, and close to it (the service's own overhead and two
    // loopback requests on top).
    let min = f(done, "/stats/all/latency_ms/min");
    let p50 = f(done, "/stats/all/latency_ms/p50");
    assert!(min >= HOLD_MS as f64, "min {min} ms < hold {HOLD_MS} ms");
    eprintln!("callback latency: min {min:.1} ms, p50 {p50:.1} ms against a hold of {HOLD_MS} ms");
    assert!(
        p50 < HOLD_MS as f64 + 50.0,
        "p50 {p50} ms: far from the hold"
    );
    let sink = &run["answers"]["sink"];
    assert_eq!(u(sink, "/arrived"), 18);
    assert_eq!(u(sink, "/claimed"), 18);
    assert_eq!(u(sink, "/dropped_full") + u(sink, "/dropped_per_key"), 0);
    assert_complete_run_dir(&out.run_dir());
}
