//! A file means what its reader thinks: the base path of `host`, `${…}` in
//! expectations, a SUT launched from a file named without `./`, CPU above one
//! core, and Server-Timing components as the README spells them.

use crate::common::*;

#[test]
fn a_path_in_host_is_the_base_of_every_step() {
    let server = start_server();
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: {}/app/\nload: {{ users: 2, iterations: 3 }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: fast, get: /fast }}\n",
            server.url()
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(server.seen.count("/app/fast"), 6);
    assert_eq!(server.seen.count("/fast"), 0);
    // The request keeps its name as written.
    assert_eq!(u(endpoint(&out.json(), "fast"), "/stats/all/requests"), 6);
}

#[test]
fn variables_in_expectations_are_filled_in_before_comparing() {
    let server = start_server();
    let ws = Workspace::new();
    let scenario = |word: &str| {
        format!(
            "host: {}\nvariables: {{ word: {word} }}\nload: {{ users: 1, iterations: 2 }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: fast, get: /fast, expect: {{ body_contains: \"${{word}}\" }} }}\n",
            server.url()
        )
    };
    let ok = ws.run(&scenario("ok"), &["--quiet"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(u(&ok.json(), "/totals/all/failed"), 0);
    let wrong = ws.run(&scenario("nope"), &["--quiet"]);
    let run = wrong.json();
    assert_eq!(u(&run, "/totals/all/failed"), 2);
    let reason = run["errors"]["groups"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("nope") && !reason.contains("${"),
        "{reason}"
    );
}

#[test]
fn a_sut_command_starts_from_the_files_folder_however_the_file_is_named() {
    let ws = Workspace::new();
    let demo = match demo_program() {
        gander::DemoProgram::Standalone(path) | gander::DemoProgram::Embedded(path) => path,
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    ws.write(
        "scenario.yaml",
        &format!(
            "host: http://127.0.0.1:{port}\nload: {{ users: 1, iterations: 2 }}\n\
             sut:\n  command: [\"{}\", \"--port\", \"{port}\"]\n  ready: /api/v1/health/detailed\n\
             scenarios:\n  - name: s\n    steps:\n      - get: /api/v1/health/detailed\n",
            demo.display()
        ),
    );
    // `gander run scenario.yaml` from its folder: no `./`, so the file's folder is "".
    let out = std::process::Command::new(gander_bin())
        .args(["run", "scenario.yaml", "-o", "reports", "--quiet"])
        .current_dir(ws.path())
        .output()
        .unwrap();
    let out = RunOutput::new(out);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path().join(out.run_dir()).join("run.json")).unwrap(),
    )
    .unwrap();
    assert!(run["resources"]["launched"]["pid"].as_u64().unwrap() > 0);
    assert_eq!(u(&run, "/totals/all/requests"), 2);
}

#[test]
fn cpu_limits_above_one_core_and_of_the_machine_are_read_as_written() {
    let server = start_server();
    let ws = Workspace::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let out = ws.run(
        &format!(
            "host: {}\nload: {{ users: 1, duration: 2s }}\nsut: {{ pid: {} }}\n\
             scenarios:\n  - name: s\n    think_time: 50ms\n    steps:\n      - get: /fast\n\
             targets: {{ sut: {{ cpu: \"{}%\", cpu_p95: \"50% of machine\" }} }}\n",
            server.url(),
            std::process::id(),
            cores * 90.0,
        ),
        &["--quiet"],
    );
    assert_ne!(out.code, 2, "{}", out.stderr);
    let targets = out.json()["plan"]["targets"].clone();
    let limit = |metric: &str| {
        targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["metric"] == metric)
            .unwrap()["limit"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(limit("sut_cpu"), cores * 90.0);
    assert_eq!(limit("sut_cpu_p95"), cores * 50.0);
}

#[test]
fn server_timing_components_are_listed_and_limited_as_the_readme_writes_them() {
    let sut = gander::DemoSut::start(&demo_program(), false).expect("the demo SUT starts");
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: {}\nload: {{ users: 2, iterations: 5 }}\nserver_headers: [\"Server-Timing db\"]\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: health, get: /api/v1/health/detailed }}\n\
             targets: {{ window: whole_run, server: {{ \"Server-Timing db\": {{ p95: 10s }} }} }}\n",
            sut.url
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    let db = &endpoint(&run, "health")["stats"]["all"]["server_headers"]["Server-Timing db"];
    assert_eq!(db["unit"], "ms", "{db}");
    assert_eq!(u(db, "/count"), 10);
    let target = &run["verdict"]["targets"][0];
    assert_eq!(target["outcome"], "pass", "{target}");
    assert_eq!(target["limit"].as_f64(), Some(10_000.0));
}
