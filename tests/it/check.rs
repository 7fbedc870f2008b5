//! Bad scenario files: each gives a precise, located message and exit code 2,
//! and no input makes gander panic.

use std::path::Path;
use std::process::Command;

use crate::common::*;

const GOOD: &str = r#"name: good
host: http://127.0.0.1:8080
load: { users: 50, ramp_up: 5s, duration: 30s }
variables: { api: /api }
data:
  staff: { csv: staff.csv }
scenarios:
  - name: receptionist
    weight: 3
    think_time: 1s..2s
    on_start:
      - name: login
        post: "${api}/login"
        json: { username: "${staff.username}", password: "${staff.password}" }
        capture: { token: { json: /token } }
    steps:
      - get: "${api}/bookings?page=${random(1, 20)}"
        headers: { Authorization: "Bearer ${token}" }
        expect: { status: 200 }
targets: { p95: 200ms, error_rate: 1%, throughput: 30/s }
"#;

/// Runs `gander check scenario.yaml` in a directory holding `text`, a staff.csv,
/// and two data files no one should read: a FIFO (pipe.csv) and a sparse 1 GiB
/// file (huge.csv).
fn check(text: &str) -> (i32, String) {
    let ws = Workspace::new();
    ws.write("scenario.yaml", text);
    ws.write("staff.csv", "username,password\nann,pw1\nbob,pw2\n");
    make_fifo(&ws.path().join("pipe.csv"));
    sparse_file(&ws.path().join("huge.csv"), 1 << 30);
    check_in(ws.path(), "scenario.yaml")
}

fn make_fifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path inside the test's own directory.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}

/// A file of `len` bytes that takes no disk space.
fn sparse_file(path: &Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

/// A file whose variables double 40 times: 2^44 bytes if expanded.
fn doubling_variables() -> String {
    let mut vars = String::from("variables:\n  v0: \"xxxxxxxxxxxxxxxx\"\n");
    for i in 1..=40 {
        vars.push_str(&format!("  v{i}: \"${{v{}}}${{v{}}}\"\n", i - 1, i - 1));
    }
    GOOD.replacen("variables: { api: /api }\n", &vars, 1)
        .replacen("${api}/login", "/login/${v40}", 1)
        .replace("${api}", "/api")
}

fn check_in(dir: &Path, file: &str) -> (i32, String) {
    let out = Command::new(gander_bin())
        .args(["check", file])
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_good_file_checks() {
    let ws = Workspace::new();
    ws.write("scenario.yaml", GOOD);
    ws.write("staff.csv", "username,password\nann,pw1\n");
    let out = Command::new(gander_bin())
        .args(["check", "scenario.yaml"])
        .current_dir(ws.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("scenario.yaml: ok (1 scenarios, 2 request names, 50 users)")
    );
}

/// Each broken file, by name: (what is wrong, the file).
fn broken_files() -> Vec<(&'static str, String)> {
    let with_step = |step: &str| GOOD.replacen("targets:", &format!("      {step}\ntargets:"), 1);
    let replace = |from: &str, to: &str| {
        assert!(GOOD.contains(from), "{from}");
        GOOD.replacen(from, to, 1)
    };
    vec![
        (
            "bad_yaml",
            replace("load: { users: 50", "load: { users: [50"),
        ),
        ("unknown_key", replace("think_time:", "thinktime:")),
        ("wrong_type", replace("users: 50", "users: many")),
        (
            "bad_duration",
            replace("duration: 30s", "duration: 30 parsecs"),
        ),
        (
            "undefined_variable",
            replace("Bearer ${token}", "Bearer ${tokn}"),
        ),
        ("missing_csv", replace("csv: staff.csv", "csv: people.csv")),
        (
            "empty_scenarios",
            format!(
                "{}scenarios: []\n",
                &GOOD[..GOOD.find("scenarios:").unwrap()]
            ),
        ),
        (
            "no_steps",
            replace(
                "    steps:\n      - get: \"${api}/bookings?page=${random(1, 20)}\"\n        headers: { Authorization: \"Bearer ${token}\" }\n        expect: { status: 200 }\n",
                "",
            ),
        ),
        (
            "duplicate_scenario",
            GOOD.replace(
                "targets:",
                "  - name: receptionist\n    steps: [ { get: / } ]\ntargets:",
            ),
        ),
        (
            "capture_used_too_early",
            replace(
                "capture: { token: { json: /token } }",
                "headers: { X-T: \"${late}\" }",
            )
            .replace(
                "expect: { status: 200 }",
                "expect: { status: 200 }\n        capture: { late: { header: X-Late } }",
            ),
        ),
        (
            "unknown_target_endpoint",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, endpoints: { \"GET /api/booking\": { p95: 1s } } }",
            ),
        ),
        (
            "percent_without_sign",
            replace("error_rate: 1%", "error_rate: 1"),
        ),
        (
            "two_methods",
            replace(
                "      - get: \"${api}/bookings",
                "      - post: /x\n        get: \"${api}/bookings",
            ),
        ),
        (
            "no_load",
            replace("load: { users: 50, ramp_up: 5s, duration: 30s }\n", ""),
        ),
        ("load_without_end", replace(", duration: 30s", "")),
        (
            "unknown_function",
            replace("${random(1, 20)}", "${randum(1, 20)}"),
        ),
        (
            "unset_env",
            replace(
                "host: http://127.0.0.1:8080",
                "host: ${env.GANDER_TEST_SURELY_UNSET}",
            ),
        ),
        (
            "bad_host",
            replace("host: http://127.0.0.1:8080", "host: localhost:8080"),
        ),
        (
            "unique_feeder_too_small",
            replace("csv: staff.csv }", "csv: staff.csv, mode: unique }"),
        ),
        (
            "bad_regex",
            replace("{ json: /token }", "{ regex: \"tok(en\" }"),
        ),
        (
            "unknown_column",
            replace("${staff.password}", "${staff.pasword}"),
        ),
        ("not_a_mapping", "- just\n- a list\n".to_string()),
        ("empty_file", String::new()),
        ("bad_status", replace("status: 200", "status: 999")),
        (
            "unknown_mode",
            replace("csv: staff.csv }", "csv: staff.csv, mode: cyclic }"),
        ),
        (
            "two_profilers",
            format!("{GOOD}profile: {{ pprof: /debug/pprof/profile, perf: {{}} }}\n"),
        ),
        (
            "py_spy_without_a_process",
            format!("{GOOD}profile: {{ py-spy: {{}} }}\n"),
        ),
        (
            "no_profiler",
            format!("{GOOD}profile: {{ seconds: 10s }}\n"),
        ),
        (
            "profile_longer_than_the_run",
            format!("{GOOD}profile: {{ pprof: /debug/pprof/profile, seconds: 60s }}\n"),
        ),
        (
            "command_without_out",
            format!(
                "{GOOD}sut: {{ pid: 1 }}\nprofile: {{ command: [my-profiler, \"{{pid}}\"] }}\n"
            ),
        ),
        (
            "empty_sut_command",
            format!("{GOOD}sut: {{ command: [] }}\n"),
        ),
        (
            "pid_and_command",
            format!("{GOOD}sut: {{ command: [./server], pid: 42 }}\n"),
        ),
        (
            "env_without_command",
            format!("{GOOD}sut: {{ pid: 42, env: {{ A: b }} }}\n"),
        ),
        (
            "pointer_without_slash",
            format!("{GOOD}sut: {{ json: {{ url: /metrics, cpu: system.cpu_percent }} }}\n"),
        ),
        (
            "bad_memory_unit",
            format!("{GOOD}sut: {{ json: {{ url: /m, memory: /mem, memory_unit: parsecs }} }}\n"),
        ),
        (
            "metrics_url_not_http",
            format!("{GOOD}sut: {{ prometheus: {{ url: \"ftp://x/metrics\" }} }}\n"),
        ),
        (
            "sut_targets_without_a_source",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, sut: { memory: 512MiB } }",
            ),
        ),
        (
            "unknown_target_scenario",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, scenarios: { receptionst: { p95: 1s } } }",
            ),
        ),
        (
            "sut_limits_per_request_name",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, endpoints: { login: { sut: { memory: 1GiB } } } }",
            ) + "sut: { pid: 1 }\n",
        ),
        (
            "slow_endpoints_bad_stat",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, slow_endpoints: { over: 500ms, stat: p97 } }",
            ),
        ),
        (
            "cache_ratio_unrecorded_header",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, cache_hit_ratio: { hits: X-Cache-Hits, misses: X-Miss, min: 70% } }",
            ),
        ),
        (
            "health_target_without_endpoint",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, sut: { health: never_error } }",
            ) + "sut: { pid: 1 }\n",
        ),
        (
            "regression_not_a_percentage",
            replace("throughput: 30/s }", "throughput: 30/s, regression: 20 }"),
        ),
        (
            "regression_unknown_figure",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, regression: { p96: 20% } }",
            ),
        ),
        (
            "no_data_policy_typo",
            replace("throughput: 30/s }", "throughput: 30/s, no_data: warm }"),
        ),
        (
            "bad_size",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, sut: { memory: 512 parsecs } }",
            ) + "sut: { pid: 1 }\n",
        ),
        (
            "users_and_rate",
            replace("load: { users: 50,", "load: { users: 50, rate: 40/s,"),
        ),
        (
            "open_with_iterations",
            replace(
                "load: { users: 50, ramp_up: 5s, duration: 30s }",
                "load: { rate: 40/s, iterations: 10 }",
            ),
        ),
        (
            "max_users_closed",
            replace("load: { users: 50,", "load: { users: 50, max_users: 80,"),
        ),
        (
            "stage_without_level",
            replace(
                "load: { users: 50, ramp_up: 5s, duration: 30s }",
                "load:\n  stages:\n    - { duration: 10s, users: 20 }\n    - { duration: 1m }",
            ),
        ),
        (
            "stages_mix_models",
            replace(
                "load: { users: 50, ramp_up: 5s, duration: 30s }",
                "load:\n  stages:\n    - { duration: 10s, users: 20 }\n    - { duration: 1m, rate: 40/s }",
            ),
        ),
        (
            "unknown_steady_stage",
            replace(
                "load: { users: 50, ramp_up: 5s, duration: 30s }",
                "load:\n  steady: plateu\n  stages:\n    - { name: warm-up, duration: 10s, users: 20 }\n    - { name: plateau, duration: 1m, users: 20 }",
            ),
        ),
        ("bare_time_target", replace("p95: 200ms", "p95: 100")),
        ("bare_duration", replace("duration: 30s", "duration: 30")),
        (
            "bare_think_time",
            replace("think_time: 1s..2s", "think_time: 2"),
        ),
        (
            "bare_size",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, sut: { memory: 512 } }",
            ) + "sut: { pid: 1 }\n",
        ),
        (
            "cpu_over_the_cores",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, sut: { cpu: 100000% } }",
            ) + "sut: { pid: 1 }\n",
        ),
        (
            "server_timing_without_a_unit",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, server: { Server-Timing db: { p95: 50 } } }",
            ) + "server_headers: [\"Server-Timing db\"]\n",
        ),
        (
            // A header name whose 14th byte falls inside a character: it
            // used to panic on slicing where Server-Timing is listed.
            "wide_header_name_with_server_timing",
            replace(
                "throughput: 30/s }",
                "throughput: 30/s, server: { サーバー処理時間: { p95: 50ms } } }",
            ) + "server_headers: [Server-Timing]\n",
        ),
        (
            "per_user_value_in_an_expectation",
            replace(
                "expect: { status: 200 }",
                "expect: { status: 200, body_contains: \"${token}\" }",
            ),
        ),
        ("quoted_users", replace("users: 50", "users: \"50\"")),
        (
            "jsonpath_capture",
            replace(
                "capture: { token: { json: /token } }",
                "capture: { token: { json: $.token } }",
            ),
        ),
        (
            "users_beyond_memory",
            replace("users: 50", "users: 1000000000000"),
        ),
        (
            "users_u64_max",
            replace("users: 50", "users: 18446744073709551615"),
        ),
        (
            "rate_1e308",
            replace("load: { users: 50, ramp_up: 5s,", "load: { rate: 1e308/s,"),
        ),
        (
            "rate_beyond_the_machine",
            replace(
                "load: { users: 50, ramp_up: 5s,",
                "load: { rate: 100000000/s,",
            ),
        ),
        (
            "max_users_beyond_memory",
            replace(
                "load: { users: 50, ramp_up: 5s,",
                "load: { rate: 10/s, max_users: 1000000000000,",
            ),
        ),
        (
            "stage_beyond_memory",
            replace(
                "load: { users: 50, ramp_up: 5s, duration: 30s }",
                "load:\n  stages:\n    - { duration: 10s, users: 20 }\n    - { duration: 1m, users: 1000000000 }",
            ),
        ),
        (
            "duration_over_a_year",
            replace("duration: 30s", "duration: 100000000000000h"),
        ),
        (
            "stages_overflow",
            replace(
                "load: { users: 50, ramp_up: 5s, duration: 30s }",
                "load:\n  stages:\n    - { duration: 5000000000000000h, users: 1 }\n    - { duration: 5000000000000000h, users: 1 }",
            ),
        ),
        ("huge_weight", replace("weight: 3", "weight: 1000000000000")),
        (
            "too_many_error_samples",
            format!("{GOOD}error_samples: 1000000000000000\n"),
        ),
        ("doubling_variables", doubling_variables()),
        (
            "feeder_is_a_device",
            replace("csv: staff.csv", "csv: /dev/zero"),
        ),
        (
            "feeder_is_a_fifo",
            replace("csv: staff.csv", "csv: pipe.csv"),
        ),
        (
            "feeder_too_large",
            replace("csv: staff.csv", "csv: huge.csv"),
        ),
        (
            "crlf_in_a_header",
            replace(
                "Authorization: \"Bearer ${token}\"",
                "Authorization: \"Bearer ${token}\", X-Note: \"a\\r\\nX-Injected: 1\"",
            ),
        ),
        (
            "line_break_from_a_variable",
            replace(
                "variables: { api: /api }",
                "variables: { api: /api, note: \"a\\nb\" }",
            )
            .replace(
                "Authorization: \"Bearer ${token}\"",
                "Authorization: \"Bearer ${token}\", X-Note: \"${note}\"",
            ),
        ),
        (
            "tls_ca_missing",
            format!("{GOOD}tls: {{ ca: missing.pem }}\n"),
        ),
        (
            "tls_ca_not_pem",
            format!("{GOOD}tls: {{ ca: staff.csv }}\n"),
        ),
        (
            "tls_ca_is_a_fifo",
            format!("{GOOD}tls: {{ ca: pipe.csv }}\n"),
        ),
        (
            "tls_client_cert_without_key",
            format!("{GOOD}tls:\n  client_cert: staff.csv\n"),
        ),
        (
            "tls_client_files_not_pem",
            format!("{GOOD}tls:\n  client_cert: staff.csv\n  client_key: staff.csv\n"),
        ),
        (
            "tls_bad_server_name",
            format!("{GOOD}tls: {{ server_name: \"not a name!\" }}\n"),
        ),
        (
            "tls_unknown_key",
            format!("{GOOD}tls: {{ verify: false }}\n"),
        ),
        ("http_3", format!("{GOOD}http: 3\n")),
        ("http_2_on_a_plain_host", format!("{GOOD}http: 2\n")),
        (
            "h2c_on_an_https_host",
            replace("host: http://", "host: https://") + "http: h2c\n",
        ),
        (
            "ws_and_get",
            with_step("- { name: socket, ws: /ws, get: /api/x }"),
        ),
        (
            "ws_with_an_http_body",
            with_step("- { ws: /ws, json: { a: 1 }, expect: { status: 101 } }"),
        ),
        (
            "ws_bad_scheme",
            with_step("- { ws: \"ftp://example.com/ws\" }"),
        ),
        (
            "ws_empty_message",
            with_step("- { ws: /ws, messages: [ { name: nothing } ] }"),
        ),
        (
            "ws_message_text_and_json",
            with_step("- { ws: /ws, messages: [ { send: hi, json: { a: 1 } } ] }"),
        ),
        (
            "ws_capture_a_header",
            with_step(
                "- { ws: /ws, messages: [ { send: hi, expect: { within: 1s }, capture: { t: { header: X-Token } } } ] }",
            ),
        ),
        (
            "ws_capture_without_expect",
            with_step("- { ws: /ws, messages: [ { send: hi, capture: { t: { json: /t } } } ] }"),
        ),
        (
            "ws_zero_within",
            with_step("- { ws: /ws, messages: [ { expect: { contains: x, within: 0s } } ] }"),
        ),
        (
            "ws_hold_and_background",
            with_step("- { ws: /ws, hold: 10s, background: true }"),
        ),
        (
            "ws_unknown_message_key",
            with_step("- { ws: /ws, messages: [ { text: hi } ] }"),
        ),
        (
            "hold_on_an_http_step",
            with_step("- { get: /api/x, hold: 10s }"),
        ),
        (
            "ws_message_uses_a_later_capture",
            with_step(
                "- { ws: /ws, messages: [ { send: \"${later}\" }, { expect: { within: 1s }, capture: { later: { json: /x } } } ] }",
            ),
        ),
        (
            "ready_timeout_zero",
            replace(
                "targets:",
                "sut: { command: [sleep, \"60\"], ready: /health, ready_timeout: 0s }\ntargets:",
            ),
        ),
        (
            "user_index_in_expect",
            replace(
                "expect: { status: 200 }",
                "expect: { status: 200, body_contains: \"user ${user_index}\" }",
            ),
        ),
        (
            "only_comments",
            "# a scenario, one day\n  # maybe\n".to_string(),
        ),
        ("two_documents", format!("{GOOD}---\nname: another\n")),
        ("billion_laughs", with_step(&billion_laughs())),
        (
            "stages_and_duration",
            replace(
                "load: { users: 50, ramp_up: 5s, duration: 30s }",
                "load:\n  duration: 30s\n  stages:\n    - { duration: 1m, rate: 10/s }",
            ),
        ),
    ]
}

/// A step whose JSON body is the "billion laughs": each anchor's list repeats
/// the previous one nine times, so ten levels expand to 9^10 values.
fn billion_laughs() -> String {
    let mut step = String::from(
        "- post: /laughs\n        json:\n          a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
    );
    for level in b'b'..=b'j' {
        let (prev, cur) = ((level - 1) as char, level as char);
        let refs = vec![format!("*{prev}"); 9].join(", ");
        step.push_str(&format!("\n          {cur}: &{cur} [{refs}]"));
    }
    step
}

#[test]
fn broken_files_give_located_messages_and_exit_2() {
    let mut all = String::new();
    for (name, text) in broken_files() {
        let (code, stderr) = check(&text);
        assert_eq!(code, 2, "{name}: exit code\n{stderr}");
        assert!(!stderr.contains("panicked"), "{name} panicked:\n{stderr}");
        assert!(
            stderr.starts_with("scenario.yaml:"),
            "{name}: message starts with file:line:col\n{stderr}"
        );
        all.push_str(&format!("=== {name}\n{}\n", machine_independent(&stderr)));
    }
    insta::assert_snapshot!("broken_files", all);
}

/// The message names this machine's cores and memory; the snapshot holds any machine's.
fn machine_independent(message: &str) -> String {
    let rules = [
        (
            r"machine's \d+ cores can use \(at most \d+%\)",
            "machine's N cores can use (at most N00%)",
        ),
        (
            r"its [\d.]+ [KMG]iB of memory hold about [\d,]+ users",
            "its N GiB of memory hold about N users",
        ),
        (r"[\d,]+/s on its \d+ cores", "N/s on its N cores"),
    ];
    let mut text = message.to_string();
    for (pattern, replacement) in rules {
        text = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
    text
}

#[test]
fn a_file_that_is_not_utf8_names_the_line_and_column_of_its_first_bad_byte() {
    let ws = Workspace::new();
    let mut bytes = GOOD.replacen("name: good", "name: caf", 1).into_bytes();
    let at = bytes.windows(3).position(|w| w == b"caf").unwrap() + 3;
    bytes.insert(at, 0xe9);
    let path = ws.path().join("scenario.yaml");
    std::fs::write(&path, &bytes).unwrap();
    let out = gander(&["check", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("scenario.yaml:1:10: error: byte 0xe9 is not UTF-8"),
        "{stderr}"
    );
    assert!(stderr.contains("save the file as UTF-8"), "{stderr}");
}

#[test]
fn messages_say_what_was_expected() {
    let expect = |name: &str, needles: &[&str]| {
        let (_, text) = broken_files()
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap();
        let (_, stderr) = check(&text);
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{name}: expected {needle:?} in\n{stderr}"
            );
        }
    };
    expect(
        "unknown_key",
        &[
            "scenario.yaml:10:5:",
            "unknown key \"thinktime\", did you mean \"think_time\"?",
        ],
    );
    expect(
        "undefined_variable",
        &["undefined variable \"tokn\", did you mean \"token\"?"],
    );
    expect("bad_duration", &["\"parsecs\" is not a time unit"]);
    expect("missing_csv", &["people.csv"]);
    expect("empty_scenarios", &["no scenarios"]);
    expect(
        "capture_used_too_early",
        &["variable \"late\" is used before the step that captures it"],
    );
    expect(
        "unknown_target_endpoint",
        &[
            "no request is named \"GET /api/booking\"",
            "did you mean \"GET /api/bookings\"?",
        ],
    );
    expect(
        "unique_feeder_too_small",
        &["has 2 rows but mode unique needs 50"],
    );
    expect(
        "unknown_mode",
        &["unknown value \"cyclic\"", "did you mean \"cycle\"?"],
    );
    expect(
        "unknown_steady_stage",
        &[
            "no stage is named \"plateu\", did you mean \"plateau\"?",
            "the stages are: warm-up, plateau",
        ],
    );
    expect("users_and_rate", &["load has both users and rate"]);
    expect(
        "stages_mix_models",
        &["this stage sets rate but the first sets users"],
    );
}

/// The sizes the issue found crashing `run`: each is refused by `check`, at its
/// place in the file, whatever this machine has.
#[test]
fn absurd_sizes_are_refused_at_check_time() {
    for (load, place) in [
        ("load: { users: 1000000000000, duration: 30s }", "3:16:"),
        (
            "load: { users: 18446744073709551615, duration: 30s }",
            "3:16:",
        ),
        ("load: { rate: 1e308/s, duration: 30s }", "3:15:"),
        ("load: { rate: 1000000/s, duration: 30s }", "3:15:"),
        (
            "load:\n  stages:\n    - { duration: 30s, users: 1000000000 }",
            "5:31:",
        ),
    ] {
        let text = format!(
            "name: t\nhost: http://127.0.0.1:9\n{load}\nscenarios:\n  - name: s\n    steps: [ {{ get: / }} ]\n"
        );
        let (code, stderr) = check(&text);
        assert_eq!(code, 2, "{load}\n{stderr}");
        assert!(
            stderr.starts_with(&format!("scenario.yaml:{place} error:")),
            "{load}\n{stderr}"
        );
        assert!(stderr.contains("than this machine can"), "{stderr}");
    }
}

#[test]
fn doubling_variables_are_refused_at_once() {
    let started = std::time::Instant::now();
    let (code, stderr) = check(&doubling_variables());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("expands to more than 16.0 MiB"), "{stderr}");
    // Generous: the check takes a fraction of a second; expanding would take hours.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// A scenario file that is not a regular file, or is too large, is refused
/// before gander reads it: `check /dev/zero` must not read forever.
#[test]
fn scenario_files_that_are_not_files_are_refused() {
    let ws = Workspace::new();
    make_fifo(&ws.path().join("pipe.yaml"));
    sparse_file(&ws.path().join("huge.yaml"), 1 << 30);
    for (file, message) in [
        (
            "/dev/zero",
            "cannot read scenario file /dev/zero: it is a character device, not a regular file",
        ),
        (
            "pipe.yaml",
            "cannot read scenario file pipe.yaml: it is a FIFO, not a regular file",
        ),
        (
            "huge.yaml",
            "cannot read scenario file huge.yaml: it is larger than 16.0 MiB, the most gander reads",
        ),
        (
            ".",
            "cannot read scenario file .: it is a directory, not a regular file",
        ),
    ] {
        let (code, stderr) = check_in(ws.path(), file);
        assert_eq!(code, 2, "{file}: {stderr}");
        assert_eq!(stderr.trim(), message);
        let out = Command::new(gander_bin())
            .args(["run", file])
            .current_dir(ws.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "run {file}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(message));
    }
}

#[test]
fn data_files_have_a_row_limit() {
    let ws = Workspace::new();
    let mut csv = String::from("n\n");
    for i in 0..=1_000_000 {
        csv.push_str(&format!("{i}\n"));
    }
    ws.write("many.csv", &csv);
    ws.write(
        "scenario.yaml",
        "host: http://127.0.0.1:9\nload: { users: 1, duration: 1s }\ndata: { d: { csv: many.csv } }\nscenarios:\n  - name: s\n    steps: [ { get: \"/${d.n}\" } ]\n",
    );
    let (code, stderr) = check_in(ws.path(), "scenario.yaml");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with("scenario.yaml:3:19: error: CSV file ")
            && stderr.contains("many.csv has more than 1,000,000 rows"),
        "{stderr}"
    );
}

#[test]
fn several_problems_are_reported_together() {
    let text = GOOD
        .replace("${token}", "${tokn}")
        .replace("${staff.password}", "${staff.pasword}");
    let (code, stderr) = check(&text);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("tokn") && stderr.contains("pasword"),
        "{stderr}"
    );
}

#[test]
fn unreadable_files_are_usage_errors() {
    let ws = Workspace::new();
    std::fs::write(ws.path().join("binary.yaml"), [0xff, 0xfe, 0x00, 0x9f]).unwrap();
    let (code, stderr) = check_in(ws.path(), "binary.yaml");
    assert_eq!(code, 2);
    assert!(
        stderr.contains("binary.yaml:1:1: error: byte 0xff is not UTF-8"),
        "{stderr}"
    );
    let (code, stderr) = check_in(ws.path(), "missing.yaml");
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.yaml"), "{stderr}");
    // A usage error from the command line is exit 2 as well.
    let out = Command::new(gander_bin()).args(["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Random edits of a good file never make the loader panic.
#[test]
fn mangled_files_never_panic() {
    use rand::{Rng, SeedableRng};
    let ws = Workspace::new();
    ws.write("staff.csv", "username,password\nann,pw1\n");
    let path = ws.path().join("scenario.yaml");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let alphabet: Vec<char> = "{}[]:,-\"'$ \n\t#&*!|>%@`\\0123456789abcxyz"
        .chars()
        .collect();
    let (mut ok, mut rejected) = (0, 0);
    for _ in 0..400 {
        let mut chars: Vec<char> = GOOD.chars().collect();
        for _ in 0..rng.random_range(1..6) {
            let at = rng.random_range(0..chars.len());
            match rng.random_range(0..3) {
                0 => {
                    chars.remove(at);
                }
                1 => chars.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
                _ => chars[at] = alphabet[rng.random_range(0..alphabet.len())],
            }
        }
        std::fs::write(&path, chars.iter().collect::<String>()).unwrap();
        match gander::scenario::load(&path, &Default::default()) {
            Ok(_) => ok += 1,
            Err(e) => {
                let message = e.to_string();
                assert!(!message.trim().is_empty());
                rejected += 1;
            }
        }
    }
    assert_eq!(ok + rejected, 400);
    assert!(
        rejected > 100,
        "most random edits break something ({rejected} rejected)"
    );
}

#[test]
fn the_schema_describes_the_format() {
    let out = Command::new(gander_bin()).arg("schema").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "host",
        "load",
        "variables",
        "data",
        "scenarios",
        "server_headers",
        "targets",
    ] {
        assert!(props.contains_key(key), "schema lacks {key}");
    }
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown keys are errors in editors too"
    );
}
