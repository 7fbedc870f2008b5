//! One p95 per run: the figure the targets judge and the one the comparison
//! shows are the same computation (the steady state's histogram), even when
//! the steady state starts and ends mid-second.

use crate::common::*;

fn scenario(url: &str) -> String {
    format!(
        "name: one-p95\nhost: {url}\n\
         load: {{ users: 6, ramp_up: 1500ms, duration: 5s }}\n\
         targets: {{ p95: 60s, regression: 50% }}\n\
         scenarios:\n  - name: s\n    steps:\n\
         \x20     - {{ name: quick, get: /sleep/2 }}\n\
         \x20     - {{ name: slow, get: /sleep/9 }}\n"
    )
}

fn target_p95(run: &serde_json::Value) -> f64 {
    let row = run["verdict"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "p95")
        .unwrap_or_else(|| panic!("{}", run["verdict"]));
    f(row, "/observed")
}

#[test]
fn the_targets_and_the_comparison_show_the_same_p95() {
    let server = start_server();
    let ws = Workspace::new();
    let base = ws.run(&scenario(&server.url()), &["--quiet"]);
    let base_dir = base.run_dir();
    let new = ws.run(
        &scenario(&server.url()),
        &["--quiet", "--baseline", base_dir.to_str().unwrap()],
    );
    let (base_run, new_run) = (base.json(), new.json());
    let row = new_run["comparison"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["figure"] == "p95" && r["scope"] == "all requests")
        .unwrap_or_else(|| panic!("{}", new_run["comparison"]));
    assert_eq!(f(row, "/new"), target_p95(&new_run), "{row}");
    assert_eq!(f(row, "/base"), target_p95(&base_run), "{row}");
    // The steady state's own summary says the same.
    assert_eq!(
        f(&new_run, "/totals/steady/latency_ms/p95"),
        target_p95(&new_run)
    );
}
