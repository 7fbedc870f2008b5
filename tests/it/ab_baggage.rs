//! `gander ab` names each request to each side in the W3C `baggage` header,
//! as `gander run` does, with that side's own run id: a SUT that labels its
//! profile's samples by it (the demo does) works under ab too. Two in-test
//! servers, one per side, record every `baggage` value they are sent.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;

use crate::common::{Workspace, gander};

/// Two request names (one with characters the header must encode) in one scenario.
const FILE: &str = r#"
name: ab-baggage
host: http://127.0.0.1:1
load: { users: 2, ramp_up: 1s, duration: 12s }
scenarios:
  - name: reader, at home
    think_time: 20ms..40ms
    steps:
      - name: list things
        get: /things
        expect: { status: 200 }
      - name: one thing
        get: /things/${random(1, 9)}
        expect: { status: 200 }
"#;

/// Distinct `baggage` values (and how often each came); `None` for requests
/// without one. A handful of distinct values: bounded.
type Baggage = Arc<Mutex<BTreeMap<Option<String>, u64>>>;

async fn record(State(seen): State<Baggage>, headers: HeaderMap) -> &'static str {
    let value = headers
        .get("baggage")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    *seen.lock().unwrap().entry(value).or_default() += 1;
    "ok"
}

/// A server on a free loopback port that answers 200 to everything.
fn start() -> (SocketAddr, Baggage) {
    let seen = Baggage::default();
    let app = Router::new().fallback(record).with_state(seen.clone());
    let addr = crate::common::tls::serve_router(None, app);
    (addr, seen)
}

#[test]
fn each_side_is_sent_baggage_naming_the_request_scenario_and_its_own_run() {
    let ws = Workspace::new();
    let file = ws.write("ab.yaml", FILE);
    let (baseline, candidate) = (start(), start());
    let out = gander(&[
        "ab",
        file.to_str().unwrap(),
        "--baseline-host",
        &format!("http://{}", baseline.0),
        "--candidate-host",
        &format!("http://{}", candidate.0),
        "--block",
        "1s",
        "--warm-up",
        "2s",
        "-q",
        "-o",
        ws.reports().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "exit {:?}: {}\n{stderr}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    );
    let dir = std::fs::read_dir(ws.reports())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();

    for ((_, seen), side) in [(baseline, "baseline"), (candidate, "candidate")] {
        // The side's run id, as its run.json says it.
        let run: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(side).join("run.json")).unwrap())
                .unwrap();
        let run_id = run["run_id"].as_str().unwrap();
        assert!(run_id.ends_with(&format!("-{side}")), "{run_id}");
        let seen = seen.lock().unwrap().clone();
        let expected: Vec<Option<String>> = ["list%20things", "one%20thing"]
            .iter()
            .map(|request| {
                Some(format!(
                    "gander.request={request},gander.scenario=reader%2C%20at%20home,gander.run={run_id}"
                ))
            })
            .collect();
        // Every request came with one of the two values, and both came.
        assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), expected, "{side}");
        assert!(seen.values().all(|&n| n > 0), "{side}: {seen:?}");
    }
}
