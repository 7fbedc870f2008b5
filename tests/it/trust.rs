//! A file means what its reader thinks: the base path of `host`, `${…}` in
//! expectations, a SUT launched from a file named without `./`, CPU above one
//! core, Server-Timing components as the README spells them, and each user
//! a client of its own (one kept-alive connection, gzip decoded).

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
    let port = free_port();
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

#[test]
fn redirects_are_followed_by_default_kept_when_asked_and_their_cookies_are_the_users() {
    let server = start_server();
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: {}\nload: {{ users: 2, iterations: 2 }}\n\
             scenarios:\n  - name: s\n    steps:\n\
             \x20     - name: followed\n        get: /cookies/set\n        expect: {{ status: 200, body_contains: ok }}\n\
             \x20       capture: {{ k: {{ cookie: k }} }}\n\
             \x20     - name: kept\n        get: /cookies/set\n        follow_redirects: false\n\
             \x20       expect: {{ status: 302, headers: [Location] }}\n\
             \x20     - name: cookie sent back\n        get: \"/value?v=${{k}}\"\n",
            server.url()
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    // Followed: /cookies/set then /fast, twice per user; kept: /cookies/set alone.
    assert_eq!(server.seen.count("/cookies/set"), 8);
    assert_eq!(server.seen.count("/fast"), 4);
    // The cookie set on the redirect hop was captured and sent on.
    assert_eq!(
        server
            .seen
            .values
            .lock()
            .unwrap()
            .iter()
            .filter(|v| *v == "v")
            .count(),
        4
    );
}

#[test]
fn gander_names_itself_and_a_file_can_name_it_otherwise() {
    let server = start_server();
    let ws = Workspace::new();
    let run = |defaults: &str, expected: &str| {
        ws.run(
            &format!(
                "host: {}\nload: {{ users: 1, iterations: 1 }}\n{defaults}\
                 scenarios:\n  - name: s\n    steps:\n      - {{ get: /user-agent, expect: {{ body_contains: \"{expected}\" }} }}\n",
                server.url()
            ),
            &["--quiet"],
        )
    };
    let own = run("", &format!("gander/{}", env!("CARGO_PKG_VERSION")));
    assert_eq!(own.code, 0, "{}", own.json()["errors"]);
    let set = run(
        "defaults: { headers: { User-Agent: my-tests/2 } }\n",
        "my-tests/2",
    );
    assert_eq!(set.code, 0, "{}", set.json()["errors"]);
}

#[test]
fn the_console_closes_the_loop_in_a_ci_log() {
    let server = start_server();
    let ws = Workspace::new();
    // No terminal here: progress comes as a line every 10 s.
    let out = ws.run(
        &format!(
            "host: {}\nload: {{ users: 1, duration: 11s }}\n\
             scenarios:\n  - name: s\n    think_time: 100ms\n    steps:\n      - get: /fast\n\
             targets: {{ p95: 0ms }}\n",
            server.url()
        ),
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    // One line per missed target, observed against the limit.
    assert!(
        out.stdout.contains("  missed: p95 of all requests: ")
            && out.stdout.contains("(limit <= 0"),
        "{}",
        out.stdout
    );
    // The page to open, by its absolute path.
    let report = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .expect("a report line");
    assert!(std::path::Path::new(report).is_absolute() && report.ends_with("report.html"));
    assert!(std::path::Path::new(report).is_file());
    let progress: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("gander: "))
        .collect();
    assert!(
        progress
            .iter()
            .any(|l| l.contains("s/11s") && l.contains("req/s") && l.contains("p95")),
        "{}",
        out.stderr
    );
}

#[test]
fn each_user_keeps_one_connection_reconnects_when_the_server_closes_it_and_reads_gzip() {
    let server = start_server();
    let ws = Workspace::new();
    let out = ws.run(
        &format!(
            "host: {}\nload: {{ users: 2, iterations: 10 }}\n\
             scenarios:\n  - name: s\n    steps:\n\
             \x20     - {{ name: kept, get: /peer }}\n\
             \x20     - {{ name: gzip, get: /gzip, expect: {{ json: [ {{ pointer: /greeting, equals: hello from a gzipped body }} ] }} }}\n",
            server.url()
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(server.seen.count("/peer"), 20);
    assert_eq!(server.seen.count("/gzip"), 20);
    // Keep-alive: 20 requests from 2 users came on 2 connections.
    assert_eq!(server.seen.connections(), 2);

    // A server that closes the connection after every answer: each request
    // after the first finds its connection closed and opens another; none fails.
    let server = start_server();
    let out = ws.run(
        &format!(
            "host: {}\nload: {{ users: 2, iterations: 10 }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: closed, get: /close }}\n",
            server.url()
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        u(&out.json(), "/totals/all/failed"),
        0,
        "{}",
        out.json()["errors"]
    );
    assert_eq!(server.seen.count("/close"), 20);
    assert_eq!(server.seen.connections(), 20);
}
