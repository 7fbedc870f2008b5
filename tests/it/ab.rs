//! `gander ab`: two real services launched by command (the demo, one slowed
//! with `--slowdown`, both profiled; a pre-fork Python server, one doing more work per
//! request), alternating in blocks; a side killed mid-run; a SIGTERM; no
//! process left behind; usage errors found before anything starts.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// A scenario of two request names against the demo's quiz API.
const QUIZ: &str = r#"
name: ab-quiz
host: http://127.0.0.1:1
load: { users: 8, ramp_up: 1s, duration: 14s }
scenarios:
  - name: reader
    think_time: 5ms..20ms
    steps:
      - name: quiz questions
        get: /api/quiz/questions?category=${choice(math, physics, history)}&page=${random(1, 10)}
        expect: { status: 200 }
      - name: quiz question
        get: /api/quiz/questions/${random(1, 500)}
        expect: { status: 200 }
targets:
  regression: 20%
"#;

/// The pre-fork Python server's CPU-bound route.
const WORK: &str = r#"
name: ab-work
host: http://127.0.0.1:1
load: { users: 2, ramp_up: 1s, duration: 14s }
scenarios:
  - name: worker
    think_time: 10ms..20ms
    steps:
      - name: work
        get: /work
        expect: { status: 200 }
targets:
  regression: 20%
"#;

/// Short blocks so a bounded run holds enough pairs.
const BLOCKS: [&str; 4] = ["--block", "1s", "--warm-up", "2s"];

fn demo_command(port: u16, extra: &str) -> String {
    let gander_demo = Path::new(gander_bin()).with_file_name("gander-demo");
    format!("{} --port {port} {extra}", gander_demo.display())
}

fn side_args(ports: [u16; 2], commands: [String; 2], ready: &str) -> Vec<String> {
    vec![
        "--baseline-host".into(),
        format!("http://127.0.0.1:{}", ports[0]),
        "--candidate-host".into(),
        format!("http://127.0.0.1:{}", ports[1]),
        "--baseline-command".into(),
        commands[0].clone(),
        "--candidate-command".into(),
        commands[1].clone(),
        "--ready".into(),
        ready.into(),
    ]
}

fn ab_args(ws: &Workspace, file: &Path, sides: Vec<String>) -> Vec<String> {
    let mut args: Vec<String> = vec!["ab".into(), file.display().to_string()];
    args.extend(sides);
    args.extend(BLOCKS.map(String::from));
    args.extend(["-o".into(), ws.reports().display().to_string()]);
    args
}

/// The one run directory gander ab wrote.
fn ab_dir(ws: &Workspace) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(ws.reports())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every side's process is gone once gander ab has returned.
fn assert_no_side_left(ab: &Value) {
    for side in ab["sides"].as_array().unwrap() {
        let pid = side["pid"].as_u64().expect("a launched side has a pid");
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the {} (pid {pid}) outlived gander ab",
            side["name"]
        );
    }
}

/// ab.json matches the published schema, which is what `gander schema --ab` prints.
fn assert_matches_ab_schema(ab: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ab.schema.json");
    let published: Value = read_json(&path);
    let printed = gander(&["schema", "--ab"]);
    let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(
        published, printed,
        "regenerate docs/ab.schema.json with gander schema --ab"
    );
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource("ab.schema.json", published).unwrap();
    let index = compiler.compile("ab.schema.json", &mut schemas).unwrap();
    if let Err(e) = schemas.validate(ab, index) {
        panic!("ab.json does not match docs/ab.schema.json:\n{e:#}");
    }
}

fn row<'a>(ab: &'a Value, figure: &str, scope: &str) -> &'a Value {
    ab["comparison"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["figure"] == figure && r["scope"] == scope)
        .unwrap_or_else(|| panic!("no {figure} row for {scope}"))
}

/// Every request is counted once: in the warm-up, in a block of its side, or
/// in flight at a switch; the two sides' runs hold them all between them.
fn assert_every_request_counted(dir: &Path, ab: &Value) {
    let blocks = ab["blocks"].as_array().unwrap();
    let in_blocks: u64 = blocks
        .iter()
        .map(|b| u(b, "/ok") + u(b, "/errors") + u(b, "/unreached") + u(b, "/in_flight"))
        .sum();
    let counted = in_blocks + u(ab, "/dropped/warm_up_requests");
    let runs: u64 = ["baseline", "candidate"]
        .iter()
        .map(|side| {
            let run = read_json(&dir.join(side).join("run.json"));
            u(&run, "/totals/all/requests") + u(&run, "/totals/all/not_sent")
        })
        .sum();
    assert_eq!(counted, runs);
    // ABBA BAAB: each pair has one block of each side.
    for pair in ab["pairs"].as_array().unwrap() {
        let (b, c) = (u(pair, "/baseline_block"), u(pair, "/candidate_block"));
        assert_eq!(blocks[b as usize]["side"], "baseline");
        assert_eq!(blocks[c as usize]["side"], "candidate");
        assert_eq!(b / 2, c / 2, "a pair is two neighbouring blocks");
    }
}

#[test]
fn a_slowed_demo_route_is_a_regression_and_the_other_route_is_not() {
    let ws = Workspace::new();
    let file = ws.write("quiz.yaml", QUIZ);
    let ports = [free_port(), free_port()];
    let commands = [
        demo_command(ports[0], ""),
        demo_command(ports[1], "--slowdown 'GET /api/quiz/questions/{id}=20ms'"),
    ];
    let mut args = ab_args(
        &ws,
        &file,
        side_args(ports, commands, "/api/v1/health/detailed"),
    );
    // Both sides profiled by the demo's own pprof endpoint.
    args.extend(["--profile".into(), "pprof".into()]);
    let out = gander(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let dir = ab_dir(&ws);
    let ab = read_json(&dir.join("ab.json"));
    assert_no_side_left(&ab);
    assert_eq!(row(&ab, "p95", "quiz question")["change"], "regression");
    for figure in ["p50", "p95"] {
        assert_ne!(row(&ab, figure, "quiz questions")["change"], "regression");
    }
    assert_eq!(ab["status"], "fail");
    assert!(stdout.contains("FAIL: regression"), "{stdout}");
    assert_every_request_counted(&dir, &ab);
    // Both sides are ordinary runs of the same plan, each on its own host.
    for (side, port) in ["baseline", "candidate"].iter().zip(ports) {
        let run = read_json(&dir.join(side).join("run.json"));
        assert_eq!(run["plan"]["host"], format!("http://127.0.0.1:{port}"));
        assert!(dir.join(side).join("report.html").is_file());
        assert!(dir.join(side).join("sut.log").is_file());
        assert!(u(&run, "/totals/all/requests") > 0);
        assert_matches_run_schema(&dir.join(side));
    }
    assert_matches_ab_schema(&ab);
    let html = std::fs::read_to_string(dir.join("ab.html")).unwrap();
    assert!(html.contains("id=\"pairs\"") && html.contains("baseline/report.html"));
    // Both profiles, and the candidate's differential against the baseline's.
    for side in ["baseline", "candidate"] {
        let run = read_json(&dir.join(side).join("run.json"));
        assert_eq!(run["profile"]["status"], "ok", "{side}: {}", run["profile"]);
        assert!(u(&run, "/profile/requests_in_window") > 0);
        // The side's requests named themselves in the `baggage` header: the
        // demo labelled its samples by request name, and only by this plan's.
        let names: Vec<&str> = run["profile"]["by_request"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            !names.is_empty()
                && names
                    .iter()
                    .all(|n| ["quiz questions", "quiz question"].contains(n)),
            "{side}: {}",
            run["profile"]["by_request"]
        );
    }
    // Each side's cost per request name by labels, as its run.json has it.
    for (i, side) in ["baseline", "candidate"].iter().enumerate() {
        let run = read_json(&dir.join(side).join("run.json"));
        let by_name = ab["sides"][i]["cost_by_name"].as_array().unwrap();
        assert!(!by_name.is_empty(), "{side}: {}", ab["sides"][i]);
        for c in by_name {
            assert_eq!(c["cost"]["method"], "labels", "{c}");
            let endpoint = run["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == c["name"])
                .unwrap();
            assert_eq!(endpoint["cost"], c["cost"]);
        }
    }
    let diff = ab["flame_diff"]
        .as_str()
        .expect("a differential flame graph");
    assert!(dir.join(diff).is_file(), "{diff}");
    assert!(html.contains("id=\"flame-diff\""));
    assert!(
        std::fs::read_to_string(dir.join("ab.md"))
            .unwrap()
            .contains("regression")
    );
}

#[test]
fn python_workers_doing_more_work_cost_more_cpu_per_request() {
    let ws = Workspace::new();
    let file = ws.write("work.yaml", WORK);
    let ports = [free_port(), free_port()];
    let app = fixtures().join("py-workers/app.py");
    let command = |port: u16, iterations: u32| {
        format!(
            "python3 {} --port {port} --workers 2 --ballast-mb 1 --hot-iterations {iterations}",
            app.display()
        )
    };
    let commands = [command(ports[0], 10_000), command(ports[1], 40_000)];
    let out = gander(&ab_args(&ws, &file, side_args(ports, commands, "/health")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let dir = ab_dir(&ws);
    let ab = read_json(&dir.join("ab.json"));
    assert_no_side_left(&ab);
    assert_every_request_counted(&dir, &ab);
    // The workers are children of the launched process: their CPU is in its tree.
    let kept: Vec<&Value> = ab["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["dropped"].is_null())
        .collect();
    assert!(kept.iter().all(|b| f(b, "/cpu_ms_per_request") > 0.0));
    let cpu = row(&ab, "cpu_per_request", "all requests");
    assert!(f(cpu, "/new") > f(cpu, "/base"), "{cpu}");
    assert_eq!(cpu["change"], "regression", "{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    // Each side's whole-run cost, as its own run.json has it, shown beside the verdict.
    let whole_run: Vec<f64> = (0..2)
        .map(|i| {
            let side = &ab["sides"][i];
            let run = read_json(&dir.join(side["name"].as_str().unwrap()).join("run.json"));
            assert_eq!(side["cost"], run["totals"]["steady"]["cost"], "{side}");
            assert_eq!(side["cost"]["method"], "total");
            f(side, "/cost/cpu_ms_per_request/value")
        })
        .collect();
    assert!(whole_run[1] > whole_run[0], "{whole_run:?}");
    let md = std::fs::read_to_string(dir.join("ab.md")).unwrap();
    assert!(
        md.contains("CPU per request, each side over the whole run"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.join("ab.html")).unwrap();
    assert!(html.contains("id=\"costs\""));
}

/// Starts `gander ab` in the background; returns it and the pids it printed.
fn spawn_ab(args: &[String]) -> (std::process::Child, [u32; 2]) {
    let mut child = Command::new(gander_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut pids = [0u32; 2];
    for line in lines.by_ref() {
        let line = line.unwrap();
        for (i, side) in ["baseline", "candidate"].iter().enumerate() {
            if let Some(pid) = line.strip_prefix(&format!("gander: {side} is pid ")) {
                pids[i] = pid.trim().parse().unwrap();
            }
        }
        if line.contains("warming both sides up") {
            break;
        }
    }
    // Keep draining stderr so gander never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    assert!(pids.iter().all(|&p| p > 0), "{pids:?}");
    (child, pids)
}

#[test]
fn a_side_killed_mid_run_makes_the_run_invalid_and_names_it() {
    let ws = Workspace::new();
    let file = ws.write("quiz.yaml", QUIZ);
    let ports = [free_port(), free_port()];
    let commands = [demo_command(ports[0], ""), demo_command(ports[1], "")];
    let args = ab_args(
        &ws,
        &file,
        side_args(ports, commands, "/api/v1/health/detailed"),
    );
    let (child, pids) = spawn_ab(&args);
    // Into the blocks (warm-up 2 s), then the candidate dies.
    std::thread::sleep(Duration::from_secs(5));
    // SAFETY: killing the candidate gander launched for this test.
    unsafe { libc::kill(pids[1] as i32, libc::SIGKILL) };
    let out = wait_bounded(child, Duration::from_secs(90));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("INVALID"), "{stdout}");
    let ab = read_json(&ab_dir(&ws).join("ab.json"));
    assert_eq!(ab["status"], "invalid");
    let died = ab["sides"][1]["died"]
        .as_str()
        .expect("the candidate's death");
    assert!(
        died.contains("candidate") && died.contains(&pids[1].to_string()),
        "{died}"
    );
    assert!(ab["sides"][0]["died"].is_null());
    let check = ab["validity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "candidate alive")
        .unwrap();
    assert_eq!(check["ok"], false);
    assert_no_side_left(&ab);
}

#[test]
fn sigterm_stops_both_sides_and_leaves_an_invalid_run() {
    let ws = Workspace::new();
    let file = ws.write("quiz.yaml", QUIZ);
    let ports = [free_port(), free_port()];
    let commands = [demo_command(ports[0], ""), demo_command(ports[1], "")];
    let args = ab_args(
        &ws,
        &file,
        side_args(ports, commands, "/api/v1/health/detailed"),
    );
    let (child, pids) = spawn_ab(&args);
    std::thread::sleep(Duration::from_secs(4));
    // SAFETY: signalling the gander this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = wait_bounded(child, Duration::from_secs(90));
    assert_eq!(out.status.code(), Some(3));
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} left"
        );
    }
    let ab = read_json(&ab_dir(&ws).join("ab.json"));
    assert_eq!(ab["status"], "invalid");
}

#[test]
fn plans_ab_cannot_run_are_refused_before_anything_starts() {
    let ws = Workspace::new();
    let short = ws.write("short.yaml", &QUIZ.replace("duration: 14s", "duration: 3s"));
    let counted = ws.write(
        "counted.yaml",
        &QUIZ.replace("duration: 14s", "iterations: 50"),
    );
    let hosts = [
        "--baseline-host",
        "http://127.0.0.1:1",
        "--candidate-host",
        "http://127.0.0.1:2",
    ];
    for (file, expected) in [(&short, "--duration"), (&counted, "duration")] {
        let mut args = vec!["ab".to_string(), file.display().to_string()];
        args.extend(hosts.map(String::from));
        args.extend(["-o".into(), ws.reports().display().to_string()]);
        let out = gander(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
    let mut args = vec!["ab".to_string(), short.display().to_string()];
    args.extend(
        [
            "--baseline-host",
            "http://127.0.0.1:1",
            "--candidate-host",
            "not a url",
        ]
        .map(String::from),
    );
    let out = gander(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--candidate-host"));
    assert!(!ws.reports().exists() || std::fs::read_dir(ws.reports()).unwrap().count() == 0);
}
