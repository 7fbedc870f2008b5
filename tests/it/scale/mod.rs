//! Scale-out: N segment processes (`gander run --segment i/N` with one
//! `--start-at`) against one real server, merged with `gander merge` into one
//! exact result and one verdict.

mod kubernetes;
mod open;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::common::*;

/// A common start `secs` from now, as CI would compute it once.
pub fn start_at(secs: u64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::seconds(secs as i64))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Starts segment `index` of `count` of `file`, writing under `out`;
/// `pin` runs it under `taskset -c CPU`.
pub fn spawn_segment(
    file: &Path,
    index: usize,
    count: usize,
    at: &str,
    out: &Path,
    pin: Option<&str>,
) -> Child {
    let segment = format!("{index}/{count}");
    let mut command = match pin {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpu, gander_bin()]);
            c
        }
        None => Command::new(gander_bin()),
    };
    command
        .arg("run")
        .arg(file)
        .args(["--segment", &segment, "--start-at", at, "--quiet", "-o"])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gander starts")
}

/// Runs `count` segments of `file` at once and returns their run directories, by index.
pub fn run_segments(
    file: &Path,
    count: usize,
    out: &Path,
    pin: impl Fn(usize) -> Option<&'static str>,
) -> Vec<PathBuf> {
    let at = start_at(4);
    let children: Vec<Child> = (0..count)
        .map(|i| spawn_segment(file, i, count, &at, out, pin(i)))
        .collect();
    children
        .into_iter()
        .enumerate()
        .map(|(i, child)| {
            let out = RunOutput::new(wait_bounded(child, Duration::from_secs(120)));
            assert!(
                out.code == 0 || out.code == 3,
                "segment {i} exited {}:\n{}\n{}",
                out.code,
                out.stdout,
                out.stderr
            );
            out.run_dir()
        })
        .collect()
}

/// `gander merge ARGS...`.
pub fn merge(args: &[&Path], out: &Path, extra: &[&str]) -> RunOutput {
    let mut all: Vec<String> = vec!["merge".into()];
    all.extend(args.iter().map(|p| p.display().to_string()));
    all.extend(["-o".into(), out.display().to_string()]);
    all.extend(extra.iter().map(|s| s.to_string()));
    RunOutput::new(gander(&all))
}

pub fn read_json(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap()
}

/// Every latency histogram of a run's interval log, added into one.
fn interval_log_total(dir: &Path) -> Histogram<u64> {
    let log = std::fs::read(dir.join("latency.hlog")).unwrap();
    let mut total = gander::hist::new_histogram();
    for (_, _, h) in gander::hist::interval_histograms(&log) {
        total.add(&h).unwrap();
    }
    total
}

fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

const ROWS: usize = 150;

fn closed_scenario(host: &str) -> String {
    let me = std::process::id();
    format!(
        r#"name: scale
host: {host}
load: {{ users: 9, ramp_up: 1s, iterations: 12 }}
data:
  rows: {{ csv: rows.csv, mode: unique, per: iteration }}
sut: {{ pid: {me} }}
profile: {{ command: [sh, -c, "printf 'main;serve 7\nmain;idle 3\n' > {{out}}"], seconds: 1s }}
scenarios:
  - name: buyer
    weight: 2
    think_time: 80ms..120ms
    steps:
      - {{ name: row, get: "/value?v=row-${{rows.id}}" }}
      - {{ name: user, get: "/value?v=user-${{user_index}}" }}
  - name: browser
    think_time: 80ms..120ms
    steps:
      - {{ name: look, get: /scenario/browser }}
targets:
  error_rate: 1%
"#
    )
}

#[test]
fn three_segments_merge_into_one_exact_result_and_verdict() {
    let server = start_server();
    let ws = Workspace::new();
    let rows: String = (0..ROWS).map(|i| format!("{i}\n")).collect();
    ws.write("rows.csv", &format!("id\n{rows}"));
    let file = ws.write("scale.yaml", &closed_scenario(&server.url()));
    let segs = ws.path().join("segments");
    let dirs = run_segments(&file, 3, &segs, |_| None);
    let merged_dir = ws.path().join("merged");
    let out = merge(&[&segs], &merged_dir, &["--quiet"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_complete_run_dir(&merged_dir);
    let merged = read_json(&merged_dir);
    let parts: Vec<Value> = dirs.iter().map(|d| read_json(d)).collect();

    // One generator would send users x iterations x steps: 6 buyers (2 steps)
    // and 3 browsers (1 step), as goose deals 9 users at 2:1.
    let planned = (6 * 2 + 3) * 12;
    assert_eq!(u(&merged, "/totals/all/requests"), planned);
    assert_eq!(
        server.seen.total.load(std::sync::atomic::Ordering::SeqCst),
        planned
    );
    assert_eq!(u(&merged, "/totals/all/failed"), 0);
    let started: Vec<u64> = (0..2)
        .map(|i| u(&merged, &format!("/plan/scenarios/{i}/users_started")))
        .collect();
    assert_eq!(started, [6, 3]);
    assert_eq!(server.seen.count("/scenario/browser"), 3 * 12);

    // Percentiles are those of one histogram of every segment's requests.
    let mut all = gander::hist::new_histogram();
    for d in &dirs {
        all.add(interval_log_total(d)).unwrap();
    }
    assert_eq!(all.len(), planned);
    let lat = &merged["totals"]["all"]["latency_ms"];
    for (key, q) in [
        ("p50", 0.5),
        ("p90", 0.9),
        ("p95", 0.95),
        ("p99", 0.99),
        ("p99.9", 0.999),
    ] {
        assert_eq!(
            lat[key].as_f64().unwrap(),
            ms(all.value_at_quantile(q)),
            "{key}"
        );
    }
    assert_eq!(lat["max"].as_f64().unwrap(), ms(all.max()));
    assert_eq!(lat["min"].as_f64().unwrap(), ms(all.min()));
    assert_eq!(
        interval_log_total(&merged_dir),
        all,
        "the merged interval log holds them all"
    );

    // The per-second series add up on the common time axis.
    let mut expected: BTreeMap<u64, u64> = BTreeMap::new();
    for (i, part) in parts.iter().enumerate() {
        let shift = u(&merged, &format!("/provenance/segments/{i}/shift_s"));
        for p in part["timeseries"].as_array().unwrap() {
            *expected.entry(u(p, "/t") + shift).or_default() += u(p, "/requests");
        }
    }
    let series: BTreeMap<u64, u64> = merged["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (u(p, "/t"), u(p, "/requests")))
        .collect();
    assert_eq!(series, expected);
    assert_eq!(series.values().sum::<u64>(), planned);

    // Unique rows: each used once across the segments; user_index is global.
    let values = server.seen.values.lock().unwrap().clone();
    let used: Vec<&String> = values.iter().filter(|v| v.starts_with("row-")).collect();
    let distinct: std::collections::BTreeSet<&&String> = used.iter().collect();
    assert_eq!(
        (used.len(), distinct.len()),
        (6 * 12, 6 * 12),
        "a row used twice"
    );
    let mut users: BTreeMap<String, usize> = BTreeMap::new();
    for v in values.iter().filter_map(|v| v.strip_prefix("user-")) {
        *users.entry(v.to_string()).or_default() += 1;
    }
    // Launched one by one, goose gives users 1, 4 and 7 of 9 the second scenario at 2:1.
    let buyers: Vec<&str> = users.keys().map(String::as_str).collect();
    assert_eq!(buyers, ["0", "2", "3", "5", "6", "8"]);
    assert!(users.values().all(|n| *n == 12), "{users:?}");

    // Only segment 0 watched the SUT: its profile and series are the merged run's.
    for (i, part) in parts.iter().enumerate() {
        let kinds: Vec<&str> = part["resources"]["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["kind"].as_str().unwrap())
            .collect();
        assert_eq!(part["provenance"]["segment"]["index"], i);
        if i == 0 {
            assert_eq!(part["profile"]["status"], "ok", "{}", part["profile"]);
            assert!(kinds.contains(&"process"), "{kinds:?}");
        } else {
            assert!(part.get("profile").is_none(), "segment {i} profiled");
            // Its own generator and its machine's load (a busy neighbour is
            // each generator's), nothing of the SUT's.
            assert_eq!(kinds, ["load_generator", "machine"], "segment {i}");
        }
        // A segment's own verdict judges only whether it measured the SUT.
        assert!(part["verdict"]["targets"].as_array().unwrap().is_empty());
    }
    assert_eq!(merged["profile"]["status"], "ok");
    assert!(merged_dir.join("flamegraph.svg").is_file());
    assert!(
        merged["resources"]["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "process")
    );
    assert_eq!(
        merged["provenance"]["segments"].as_array().unwrap().len(),
        3
    );
    assert_eq!(merged["verdict"]["status"], "pass");
    assert_eq!(merged["verdict"]["targets"][0]["metric"], "error_rate");

    // The merged run is a run: report and compare take it.
    let report = RunOutput::new(gander(&["report", merged_dir.to_str().unwrap()]));
    assert_eq!(report.code, 0, "{}", report.stderr);
    let cmp = ws.path().join("cmp");
    let compared = RunOutput::new(gander(&[
        "compare",
        merged_dir.to_str().unwrap(),
        merged_dir.to_str().unwrap(),
        "-o",
        cmp.to_str().unwrap(),
    ]));
    assert_eq!(compared.code, 0, "{}\n{}", compared.stdout, compared.stderr);

    refusals(&ws, &dirs);
}

/// `gander merge` refuses what is not one run, exit 2, saying what to give.
fn refusals(ws: &Workspace, dirs: &[PathBuf]) {
    let out = |name: &str| ws.path().join(name);
    let refused = |args: &[&Path], needle: &str| {
        let r = merge(args, &out("refused"), &[]);
        assert_eq!(r.code, 2, "{needle}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(!out("refused").exists(), "a refused merge left a directory");
    };
    refused(&[&dirs[0], &dirs[2]], "segment 1 of 3 missing");
    let twice = out("twice");
    copy_dir(&dirs[1], &twice);
    refused(
        &[&dirs[0], &dirs[1], &twice, &dirs[2]],
        "segment 1 is given twice",
    );
    let other = out("other-plan");
    copy_dir(&dirs[2], &other);
    edit_json(&other, |v| v["plan"]["users"] = 10.into());
    refused(
        &[&dirs[0], &dirs[1], &other],
        "plan.users is 10 there and 9 here",
    );
    let other_file = out("other-file");
    copy_dir(&dirs[2], &other_file);
    edit_json(&other_file, |v| {
        v["provenance"]["scenario_sha256"] = "0".into()
    });
    refused(&[&dirs[0], &dirs[1], &other_file], "another scenario file");
    let late = out("other-start");
    copy_dir(&dirs[2], &late);
    edit_json(&late, |v| {
        v["provenance"]["start"]["at"] = "2020-01-01T00:00:00Z".into()
    });
    refused(&[&dirs[0], &dirs[1], &late], "share one --start-at");
    let merged = out("merged");
    refused(&[&merged], "not a segment run");
    refused(&[&out("nowhere")], "cannot read");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn edit_json(dir: &Path, edit: impl Fn(&mut Value)) {
    let mut v = read_json(dir);
    edit(&mut v);
    std::fs::write(dir.join("run.json"), serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn a_merged_run_whose_segment_1_was_starved_is_invalid_and_names_it() {
    let server = start_server();
    let ws = Workspace::new();
    let file = ws.write(
        "hammer.yaml",
        &format!(
            "name: hammer\nhost: {}\nload: {{ users: 12, ramp_up: 1s, duration: 4s }}\nscenarios:\n  - name: s\n    think_time: 1ms\n    steps:\n      - {{ name: ok, get: /fast }}\ntargets:\n  error_rate: 1%\n",
            server.url()
        ),
    );
    let segs = ws.path().join("segments");
    // Segment 1 may run on CPU 0 only, where sixteen busy loops hog it: it
    // waits for a CPU about sixteen times as long as it runs. The others (and
    // the server) keep CPU 1; their users pause 1 ms, so it is theirs enough.
    let hogs = Hogs::on_cpu0(16);
    let dirs = run_segments(&file, 3, &segs, |i| (i == 1).then_some("0"));
    drop(hogs);
    let merged_dir = ws.path().join("merged");
    let out = merge(&[&dirs[0], &dirs[1], &dirs[2]], &merged_dir, &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let merged = read_json(&merged_dir);
    assert_eq!(merged["verdict"]["status"], "invalid");
    let checks = merged["verdict"]["validity"].as_array().unwrap();
    let check = |name: &str| {
        checks
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no {name} check: {checks:?}"))
    };
    assert_eq!(check("segment 1")["ok"], false, "{checks:#?}");
    for fed in ["segment 0", "segment 2"] {
        assert_eq!(
            check(fed)["ok"],
            true,
            "only segment 1 starved: {checks:#?}"
        );
    }
    let detail = check("segment 1")["detail"].as_str().unwrap();
    assert!(detail.contains("load generator CPU"), "{detail}");
    assert!(out.stdout.contains("segment 1"), "{}", out.stdout);
    let md = std::fs::read_to_string(merged_dir.join("summary.md")).unwrap();
    assert!(md.contains("INVALID") && md.contains("segment 1"), "{md}");
    let junit = std::fs::read_to_string(merged_dir.join("junit.xml")).unwrap();
    assert!(junit.contains("segment 1"), "{junit}");
}

#[test]
fn a_segment_without_a_common_start_or_with_a_bad_share_is_refused() {
    let ws = Workspace::new();
    let file = ws.write(
        "s.yaml",
        "host: http://127.0.0.1:9\nload: { users: 2, iterations: 1 }\nscenarios:\n  - name: s\n    steps: [ { get: / } ]\n",
    );
    let f = file.to_str().unwrap();
    for (args, needle) in [
        (vec!["--segment", "1/3"], "needs --start-at"),
        (
            vec!["--segment", "2/3", "--start-at", "+5s"],
            "starts 2 users, fewer than 3",
        ),
        (
            vec!["--segment", "3/3", "--start-at", "+5s"],
            "--segment 2/3",
        ),
        (vec!["--segment", "one of three"], "expected I/N"),
        (vec!["--start-at", "noon"], "RFC 3339"),
        (
            vec!["--segment", "0/2", "--start-at", "+5s", "--baseline", "x"],
            "takes no --baseline",
        ),
    ] {
        let mut all = vec!["run", f, "-o", ws.path().to_str().unwrap()];
        all.extend(args);
        let out = RunOutput::new(gander(&all));
        assert_eq!(out.code, 2, "{all:?}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(needle), "{all:?}: {}", out.stderr);
    }
}
