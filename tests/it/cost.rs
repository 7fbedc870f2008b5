//! What each request costs the SUT: CPU per request measured against real
//! services whose endpoints burn a known CPU time (a Python service, threaded
//! and under gunicorn, by the sweep; a Go service labelling its samples from
//! the baggage header, by labels; the demo).

use crate::common::*;

/// A scenario against the cost fixture, launched by gander: `burn 1ms`,
/// `burn 4ms` and `sleep`, plus `extra` YAML.
fn python_scenario(port: u16, command: &str, extra: &str) -> String {
    format!(
        "name: cost\nhost: http://127.0.0.1:{port}\nload: {{ users: 2, duration: 3s }}\n\
         sut:\n  command: {command}\n  ready: /health\n{extra}\
         scenarios:\n  - name: mix\n    steps:\n      - name: burn 1ms\n        get: /burn1\n\
         \x20     - name: burn 4ms\n        get: /burn4\n      - name: sleep\n        get: /sleep\n"
    )
}

/// CPU ms per request of each request name, and its method.
fn costs(run: &serde_json::Value) -> Vec<(String, Option<f64>, Option<String>)> {
    run["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["cost"]["cpu_ms_per_request"]["value"].as_f64(),
                e["cost"]["method"].as_str().map(String::from),
            )
        })
        .collect()
}

fn cost_of(run: &serde_json::Value, name: &str) -> f64 {
    costs(run)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .and_then(|(_, v, _)| v)
        .unwrap_or_else(|| panic!("no cost for {name}: {}", run["endpoints"]))
}

/// By sweep: the two burning endpoints differ by 3 ms within 10 %, in order,
/// the sleeping one costs least; each name has its own flame graph.
fn assert_sweep_figures(out: &RunOutput) {
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    for (name, _, method) in costs(&run) {
        assert_eq!(
            method.as_deref(),
            Some("sweep"),
            "{name}: {}",
            run["endpoints"]
        );
    }
    let (one, four, sleep) = (
        cost_of(&run, "burn 1ms"),
        cost_of(&run, "burn 4ms"),
        cost_of(&run, "sleep"),
    );
    let diff = four - one;
    eprintln!("by sweep: burn 1ms {one:.3} ms, burn 4ms {four:.3} ms, sleep {sleep:.3} ms");
    assert!(
        (diff - 3.0).abs() <= 0.3,
        "burn 4ms - burn 1ms = {diff:.3} ms of CPU (truth 3 ms): {one:.3} and {four:.3}"
    );
    assert!(sleep < one && one < four, "{sleep} {one} {four}");
    // The sweep's latencies are kept apart from the steady state's.
    let e = &run["endpoints"][1];
    assert!(u(e, "/cost/alone/requests") >= 20, "{e}");
    assert!(run["totals"]["steady"]["cost"]["cpu_ms_per_request"]["value"].is_f64());
    assert!(out.stdout.contains("CPU/req"), "{}", out.stdout);
}

#[test]
fn sweep_measures_known_cpu_per_request_in_a_threaded_python_process() {
    let ws = Workspace::new();
    let port = free_port();
    let app = fixtures().join("cost-app/app.py");
    let command = format!("[python3, {}, --port, \"{port}\"]", app.display());
    let out = ws.run(
        &python_scenario(port, &command, "cost: { each: 5s, users: 2 }\n"),
        &[],
    );
    assert_sweep_figures(&out);
}

#[test]
fn sweep_measures_the_process_tree_of_gunicorn_workers_profiled_by_py_spy() {
    let ws = Workspace::new();
    let port = free_port();
    let dir = fixtures().join("cost-app");
    let command = format!(
        "[gunicorn, --chdir, {}, -w, \"2\", -b, \"127.0.0.1:{port}\", \"app:application\"]",
        dir.display()
    );
    let out = ws.run(
        &python_scenario(port, &command, "profile: { py-spy: {} }\n"),
        &["--cost"],
    );
    assert_sweep_figures(&out);
    let run = out.json();
    // py-spy profiled each name alone: the burning ones show the burn.
    let svg = run["endpoints"][1]["cost"]["alone"]["flamegraph"]
        .as_str()
        .unwrap_or_else(|| panic!("no flame graph alone: {}", run["endpoints"][1]));
    let text = std::fs::read_to_string(out.run_dir().join(svg)).unwrap();
    assert!(text.contains("burn"), "burn is not in {svg}");
}

/// The Go fixture that labels its samples, built once per test binary.
fn go_cost_binary() -> std::path::PathBuf {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let out = tmp.join("go-cost-sut");
        let status = std::process::Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(fixtures().join("go-cost"))
            .env("GOCACHE", tmp.join("go-cache"))
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .status()
            .expect("go is installed (scripts/setup-test-deps installs golang-go)");
        assert!(status.success(), "go build failed");
        out
    })
    .clone()
}

#[test]
fn labels_split_a_go_services_cpu_by_request_name_without_a_sweep() {
    let ws = Workspace::new();
    let port = free_port();
    let command = format!(
        "[{}, -addr, \"127.0.0.1:{port}\"]",
        go_cost_binary().display()
    );
    let scenario = python_scenario(port, &command, "profile: { pprof: /debug/pprof/profile }\n")
        .replace("duration: 3s", "duration: 20s");
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    for (name, _, method) in costs(&run) {
        assert_eq!(
            method.as_deref(),
            Some("labels"),
            "{name}: {}",
            run["endpoints"]
        );
    }
    let (one, four, sleep) = (
        cost_of(&run, "burn 1ms"),
        cost_of(&run, "burn 4ms"),
        cost_of(&run, "sleep"),
    );
    eprintln!("by labels: burn 1ms {one:.3} ms, burn 4ms {four:.3} ms, sleep {sleep:.3} ms");
    assert!(sleep < one && one < four, "{sleep} {one} {four}");
    // Together the two burning names hold what they burn (5 ms), within
    // sampling error; how it splits between them moves with the kernel's tick
    // (below): burn 4ms gains what burn 1ms loses (4.1..4.4 ms measured).
    assert!(
        (one + four - 5.0).abs() <= 0.5,
        "burn 1ms + burn 4ms = {:.3} ms of CPU per request by labels (they burn 5 ms)",
        one + four
    );
    assert!(
        (four - 4.0).abs() <= 0.8,
        "burn 4ms = {four:.3} ms (it burns 4 ms)"
    );
    assert!(
        (0.5..=1.2).contains(&one),
        "burn 1ms = {one:.3} ms (it burns 1 ms)"
    );
    // Go's profiler samples at the kernel's ticks: a name shorter than a tick
    // reads low (burn 1ms: 0.7 of its 1.07 ms measured alone), and the run says so.
    let tick = run["profile"]["tick_ms"].as_f64().unwrap_or(4.0);
    let notes = run["verdict"]["notes"].to_string();
    if one < tick {
        assert!(
            notes.contains("cost by labels may read low for burn 1ms"),
            "{notes}"
        );
        assert!(
            out.stdout.contains("cost by labels may read low"),
            "{}",
            out.stdout
        );
    }
    // One flame graph per labelled request name, the burn in the burning ones.
    let by_request = run["profile"]["by_request"].as_array().unwrap();
    let four_svg = by_request
        .iter()
        .find(|r| r["name"] == "burn 4ms")
        .and_then(|r| r["flamegraph"].as_str())
        .unwrap_or_else(|| panic!("{by_request:?}"));
    let text = std::fs::read_to_string(out.run_dir().join(four_svg)).unwrap();
    assert!(text.contains("main.burn"), "main.burn is not in {four_svg}");
}

#[test]
fn cpu_per_request_targets_judge_overall_and_per_name() {
    let ws = Workspace::new();
    let port = free_port();
    let app = fixtures().join("cost-app/app.py");
    let command = format!("[python3, {}, --port, \"{port}\"]", app.display());
    // burn 4ms costs more than 3 ms and burn 1ms less: one target fails, one passes.
    let targets = "cost: { each: 4s }\ntargets:\n  cpu_per_request: 1s\n  endpoints:\n    \
                   burn 4ms: { cpu_per_request: 3ms }\n    burn 1ms: { cpu_per_request: 3ms }\n";
    let out = ws.run(&python_scenario(port, &command, targets), &[]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    let rows = run["verdict"]["targets"].as_array().unwrap();
    let outcome = |scope: &str| {
        rows.iter()
            .find(|t| t["metric"] == "cpu_per_request" && t["scope"] == scope)
            .unwrap_or_else(|| panic!("no cpu_per_request row for {scope}: {rows:?}"))["outcome"]
            .clone()
    };
    assert_eq!(outcome("all requests"), "pass");
    assert_eq!(outcome("burn 4ms"), "fail");
    assert_eq!(outcome("burn 1ms"), "pass");
}

/// The sweep's users take a `unique` feeder's rows from the first again: the
/// load's users used every row, and the sweep still sends and measures (it
/// used to find none left and spin on requests it could not build).
#[test]
fn the_sweep_takes_unique_rows_again_after_the_load_used_them_all() {
    let ws = Workspace::new();
    ws.write("users.csv", "id\n1\n2\n");
    let port = free_port();
    let app = fixtures().join("cost-app/app.py");
    let scenario = format!(
        "name: unique-sweep\nhost: http://127.0.0.1:{port}\nload: {{ users: 2, duration: 2s }}\n\
         sut:\n  command: [python3, {}, --port, \"{port}\"]\n  ready: /health\n\
         data:\n  who: {{ csv: users.csv, mode: unique }}\n\
         cost: {{ each: 4s, users: 2 }}\n\
         scenarios:\n  - name: mix\n    steps:\n      - name: burn 1ms\n        get: /burn1?user=${{who.id}}\n",
        app.display()
    );
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    let burn = run["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "burn 1ms")
        .unwrap();
    assert_eq!(burn["cost"]["method"], "sweep", "{burn}");
    assert!(u(&burn["cost"], "/alone/requests") > 0, "{burn}");
    assert_eq!(u(&burn["cost"], "/alone/failed"), 0, "{burn}");
}

/// A sweep that ran but could not measure a name says so, in run.json and on
/// the console, and never "no sweep ran".
#[test]
fn a_sweep_that_measures_too_few_requests_says_why_and_not_that_none_ran() {
    let ws = Workspace::new();
    let port = free_port();
    let app = fixtures().join("cost-app/app.py");
    // `each: 2s` leaves at most one measured second (the sweep counts from one
    // second after its users start), and one user waiting 400 ms between
    // requests sends a few in it: fewer than the 20 a figure needs.
    let scenario = format!(
        "name: too-few\nhost: http://127.0.0.1:{port}\nload: {{ users: 1, duration: 2s }}\n\
         sut:\n  command: [python3, {}, --port, \"{port}\"]\n  ready: /health\n\
         cost: {{ each: 2s, users: 1 }}\n\
         scenarios:\n  - name: mix\n    think_time: 400ms\n    steps:\n      - name: burn 1ms\n        get: /burn1\n",
        app.display()
    );
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    assert_eq!(run["cost_sweep"]["measured"], 0, "{}", run["cost_sweep"]);
    let notes = run["cost_sweep"]["notes"].to_string();
    assert!(
        notes.contains("burn 1ms: too few requests alone"),
        "{notes}"
    );
    let verdict = run["verdict"]["notes"].to_string();
    assert!(
        verdict.contains("cost sweep: burn 1ms: too few"),
        "{verdict}"
    );
    assert!(!out.stdout.contains("no sweep ran"), "{}", out.stdout);
    assert!(
        out.stdout.contains("cost sweep: burn 1ms: too few"),
        "{}",
        out.stdout
    );
}

/// With a baseline that also swept, each name's profile alone is drawn
/// against the baseline's alone, per request.
#[test]
fn a_sweep_against_a_baseline_draws_each_names_differential_alone() {
    let ws = Workspace::new();
    let port = free_port();
    let app = fixtures().join("cost-app/app.py");
    let command = format!("[python3, {}, --port, \"{port}\"]", app.display());
    let scenario = python_scenario(
        port,
        &command,
        "profile: { py-spy: {} }\ncost: { each: 3s, users: 2 }\n",
    );
    let first = ws.run(&scenario, &[]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let base = first.run_dir();
    let second = ws.run(&scenario, &["--baseline", base.to_str().unwrap()]);
    second.assert_judged_or_busy_neighbour(0);
    let run = second.json();
    let burn = &run["endpoints"][1];
    assert_eq!(burn["name"], "burn 4ms");
    let svg = burn["cost"]["alone"]["diff_flamegraph"]
        .as_str()
        .unwrap_or_else(|| panic!("no differential alone: {burn}"));
    let text = std::fs::read_to_string(second.run_dir().join(svg)).unwrap();
    assert!(text.contains("burn"), "burn is not in {svg}");
    // `gander compare` draws the same into its -o directory.
    let out = ws.path().join("compared");
    let new = second.run_dir();
    let args = [base.to_str().unwrap(), new.to_str().unwrap()];
    let compared = RunOutput::new(gander(&[
        "compare",
        args[0],
        args[1],
        "-o",
        out.to_str().unwrap(),
    ]));
    // The same comparison: INVALID only for the same busy neighbour, if at all.
    let neighbour = compared.code == 3
        && compared
            .stdout
            .contains("INVALID comparison: busy neighbour");
    assert!(
        compared.code <= 1 || neighbour,
        "{}\n{}",
        compared.stdout,
        compared.stderr
    );
    assert!(
        compared
            .stdout
            .contains("differential flame graph of burn 4ms alone"),
        "{}",
        compared.stdout
    );
    assert!(out.join(svg).is_file(), "{svg} not in {}", out.display());
}
