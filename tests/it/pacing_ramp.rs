//! The closed model's "late" count belongs to the server, not to the ramp-up:
//! against a server that answers one request at a time (its latency grows as
//! users arrive), a multi-step flow run with ramp-ups of 0, 5 and 15 s counts
//! the same late sends within noise (the pace is re-learnt as the run goes,
//! not fixed from the first answers of a server not yet loaded).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;

use crate::common::*;

/// A server with one worker: each request holds the lock for `ms`.
fn start_serial() -> String {
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let app = Router::new()
        .route(
            "/serial/{ms}",
            get(
                |State(lock): State<Arc<tokio::sync::Mutex<()>>>, Path(ms): Path<u64>| async move {
                    let _held = lock.lock().await;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    "ok"
                },
            ),
        )
        .with_state(lock);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    format!("http://{addr}")
}

/// (late, requests timed against a pace) in the steady state of one run.
fn late_with_ramp_up(url: &str, ramp_up: u64) -> (u64, u64) {
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "name: flow\nhost: {url}\n\
             load: {{ users: 10, ramp_up: {ramp_up}s, duration: 4s }}\n\
             scenarios:\n  - name: s\n    steps:\n\
             \x20     - {{ name: list, get: /serial/1 }}\n\
             \x20     - {{ name: show, get: /serial/2 }}\n\
             \x20     - {{ name: save, get: /serial/3 }}\n"
        ),
        &["--quiet"],
    );
    let run = out.json();
    let pacing = &run["load"]["closed"];
    eprintln!("ramp-up {ramp_up} s: {pacing}");
    (u(pacing, "/late"), u(pacing, "/requests"))
}

#[test]
fn the_late_count_does_not_depend_on_the_ramp_up() {
    let url = start_serial();
    let runs: Vec<(u64, u64, u64)> = [0, 5, 15]
        .into_iter()
        .map(|r| {
            let (late, requests) = late_with_ramp_up(&url, r);
            (r, late, requests)
        })
        .collect();
    for &(ramp_up, late, requests) in &runs {
        assert!(requests >= 100, "ramp-up {ramp_up} s: {requests} requests");
        // The server never stalls: at most a blip of scheduling on a busy
        // machine holds a user now and then, never a multiple of the sends.
        assert!(
            late * 20 <= requests,
            "ramp-up {ramp_up} s: {late} late of {requests}: {runs:?}"
        );
    }
}
