//! Observing the SUT under load: profiles from real profilers (the sampler in the
//! demo SUT, Go's net/http/pprof, py-spy, perf), resource sampling of real
//! process trees, health polling, and SUTs that gander launches itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::*;
use gander::DemoSut;
use gander::sut::child::Guarded;

/// The Go fixture, built once per test binary into cargo's temporary directory.
fn go_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-pprof-sut");
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache");
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(fixtures().join("go-pprof"))
            .env("GOCACHE", cache)
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .status()
            .expect("go is installed (scripts/setup-test-deps installs golang-go)");
        assert!(status.success(), "go build failed");
        out
    })
}

fn start_go() -> (Guarded, String) {
    start_fixture(Command::new(go_binary()).args(["-addr", "127.0.0.1:0"]))
}

fn start_python(workers: u32, pid_file: &Path) -> (Guarded, String) {
    start_python_with(workers, pid_file, &[])
}

fn start_python_with(workers: u32, pid_file: &Path, extra: &[&str]) -> (Guarded, String) {
    start_fixture(
        Command::new("python3")
            .arg(fixtures().join("py-workers/app.py"))
            .args(["--port", "0", "--workers", &workers.to_string()])
            .arg("--pid-file")
            .arg(pid_file)
            .args(extra),
    )
}

fn read_pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// Resident memory of `pid` from /proc/PID/status, in bytes.
fn vm_rss(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024.0
}

/// A short closed-model run of `path` against `host`, plus the extra YAML.
fn scenario(host: &str, path: &str, users: u32, seconds: u32, extra: &str) -> String {
    format!(
        "name: observe\nhost: {host}\nload: {{ users: {users}, duration: {seconds}s }}\n\
         scenarios:\n  - name: load\n    think_time: 5ms\n    steps:\n      - name: work\n        get: {path}\n{extra}"
    )
}

/// The resource source of `kind` in `run.json`.
fn source<'a>(run: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    let sources = run["resources"]["sources"].as_array().unwrap();
    sources
        .iter()
        .find(|s| s["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} source in {sources:?}"))
}

/// One series of a resource source.
fn series<'a>(source: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    source["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no series {name} in {source}"))
}

fn profile_of(run: &serde_json::Value) -> &serde_json::Value {
    &run["profile"]
}

fn folded_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("profile.folded")).expect("profile.folded is written")
}

/// Parses the whole SVG with an XML reader: any malformed markup fails.
fn assert_valid_xml(svg: &[u8]) {
    let mut reader = quick_xml::Reader::from_reader(svg);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut elements = 0;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_)) => {
                elements += 1
            }
            Ok(_) => {}
            Err(e) => panic!("invalid XML at byte {}: {e}", reader.buffer_position()),
        }
        buf.clear();
    }
    assert!(elements > 10, "only {elements} elements");
}

/// How many samples have a frame containing `needle`.
fn samples_containing(folded: &str, needle: &str) -> u64 {
    folded
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(stack, _)| stack.contains(needle))
        .filter_map(|(_, count)| count.parse::<u64>().ok())
        .sum()
}

/// The functions in the hottest stacks, as one string to search.
fn hottest_stacks(folded: &str, n: usize) -> String {
    let mut lines: Vec<(u64, &str)> = folded
        .lines()
        .filter_map(|l| {
            let (stack, count) = l.rsplit_once(' ')?;
            Some((count.parse().ok()?, stack))
        })
        .collect();
    lines.sort_by_key(|l| std::cmp::Reverse(l.0));
    lines
        .iter()
        .take(n)
        .map(|(_, s)| *s)
        .collect::<Vec<_>>()
        .join("\n")
}

/// 8 logged-in receptionists listing bookings on the demo SUT for 5 s (without
/// the token every answer would be a 401 before any query runs).
fn bookings_scenario(host: &str, extra: &str) -> String {
    format!(
        "name: observe\nhost: {host}\nload: {{ users: 8, duration: 5s }}\n\
         scenarios:\n  - name: load\n    think_time: 5ms\n    on_start:\n      - name: login\n        \
         post: /api/login\n        json: {{ username: staff1, password: pass1 }}\n        \
         expect: {{ status: 200 }}\n        capture: {{ token: {{ json: /token }} }}\n    steps:\n      \
         - name: work\n        get: /api/bookings?page=3\n        \
         headers: {{ Authorization: \"Bearer ${{token}}\" }}\n        expect: {{ status: 200 }}\n{extra}"
    )
}

#[test]
fn demo_pprof_profile_names_its_handlers_and_the_sut_is_sampled_four_ways() {
    // A baseline profile from the optimized SUT, for the differential below.
    let ws = Workspace::new();
    let baseline = {
        let sut = DemoSut::start(&demo_program(), false).expect("demo SUT starts");
        let extra = "profile: { pprof: /debug/pprof/profile, seconds: 3s }\n";
        let out = ws.run(&bookings_scenario(&sut.url, extra), &["--quiet"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.run_dir()
    };
    let sut = DemoSut::start(&demo_program(), true).expect("demo SUT starts");
    let extra = "sut:\n  prometheus: { url: /metrics }\n  json:\n    url: /api/v1/admin/metrics\n    \
                 headers: { Authorization: Bearer demo-admin-token }\n    cpu: /system/cpu_percent\n    \
                 memory: /system/memory_used_mb\n    memory_unit: mib\n  health: { url: /api/v1/health/detailed }\n\
                 profile: { pprof: /debug/pprof/profile, seconds: 3s }\n\
                 targets: { sut: { memory: 64GiB } }\n";
    let pid = sut.pid().to_string();
    let out = ws.run(
        &bookings_scenario(&sut.url, extra),
        &[
            "--quiet",
            "--sut-pid",
            &pid,
            "--baseline",
            baseline.to_str().unwrap(),
        ],
    );
    out.assert_judged_or_busy_neighbour(0);
    let dir = out.run_dir();
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    let p = profile_of(&run);
    assert_eq!(p["status"], "ok", "{p}");
    assert_eq!(p["source"], "pprof");
    assert!(u(p, "/samples") > 0);
    assert!(u(p, "/requests_in_window") > 0);
    let window = &p["window"];
    assert!(f(window, "/start_s") >= f(&run, "/phases/steady/start_s") - 0.01);
    assert!(f(window, "/end_s") > f(window, "/start_s"));

    // The unoptimized bookings list (N+1 queries) is where the SUT's own code
    // spends its CPU. Idle runtime stacks are one folded line each while the
    // handler's time spreads over many SQLite stacks, so compare sums, not lines.
    let folded = folded_text(&dir);
    let api = samples_containing(&folded, "gander_demo::api");
    let demo = samples_containing(&folded, "gander_demo::");
    assert!(
        api > 0 && api * 2 > demo,
        "api {api} of {demo} demo samples; hottest stacks:\n{}",
        hottest_stacks(&folded, 5)
    );
    let top: Vec<&str> = p["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["function"].as_str().unwrap())
        .collect();
    assert!(!top.is_empty());
    assert!(
        std::fs::read(dir.join("profile.pb.gz"))
            .unwrap()
            .starts_with(&[0x1f, 0x8b])
    );
    let svg = std::fs::read(dir.join("flamegraph.svg")).unwrap();
    assert_valid_xml(&svg);
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("observe: CPU flame graph"));
    assert!(svg.contains(&format!("{} samples/count", u(p, "/samples"))));

    // Resources: gander itself, the process tree, Prometheus and JSON all sampled.
    for kind in ["load_generator", "process", "prometheus", "json"] {
        let s = source(&run, kind);
        assert!(u(s, "/samples") >= 3, "{kind}: {s}");
        assert_eq!(u(s, "/failures"), 0, "{kind}: {s}");
        let rss = series(s, "rss_bytes");
        assert!(f(rss, "/summary/max") > 1e6, "{kind}: {rss}");
    }
    // The same process seen from /proc and from its own Prometheus figures.
    let rss_of = |kind: &str| f(series(source(&run, kind), "rss_bytes"), "/summary/max");
    let (proc_rss, prom_rss) = (rss_of("process"), rss_of("prometheus"));
    assert!(
        (proc_rss - prom_rss).abs() / proc_rss < 0.2,
        "{proc_rss} vs {prom_rss}"
    );
    let health = &run["resources"]["health"];
    assert!(u(health, "/counts/healthy") >= 3, "{health}");
    let memory = run["verdict"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["metric"] == "max memory")
        .unwrap();
    assert_eq!(memory["outcome"], "pass");
    assert_eq!(f(memory, "/observed"), proc_rss);
    let csv = std::fs::read_to_string(dir.join("resources.csv")).unwrap();
    assert!(csv.starts_with("t_s,source,target,series,unit,value"));
    assert!(
        csv.lines()
            .any(|l| l.contains(",process,") && l.contains(",rss_bytes,"))
    );
    assert_complete_run_dir(&dir);
}

#[test]
fn go_pprof_profile_decodes_and_shows_the_hot_function() {
    let (_go, url) = start_go();
    let ws = Workspace::new();
    let out = ws.run(
        &scenario(
            &url,
            "/work",
            4,
            4,
            "profile: { pprof: /debug/pprof/profile }\n",
        ),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    let p = profile_of(&run);
    assert_eq!(p["status"], "ok", "{p}");
    assert_eq!(p["unit"], "samples/count");
    // The default window: the 4 s steady state minus a 1 s margin.
    assert_eq!(f(p, "/requested_s"), 3.0);
    assert_eq!(
        p["top"][0]["function"], "main.hotSpinPrimes",
        "{}",
        p["top"]
    );
    assert!(f(&p["top"][0], "/self_share") > 0.2);
    assert_valid_xml(&std::fs::read(out.run_dir().join("flamegraph.svg")).unwrap());
}

#[test]
fn perf_profiles_a_process_by_pid() {
    let (go, url) = start_go();
    let ws = Workspace::new();
    let extra = format!(
        "sut: {{ pid: {} }}\nprofile: {{ perf: {{}}, seconds: 2s }}\n",
        go.pid()
    );
    let out = ws.run(&scenario(&url, "/work", 4, 3, &extra), &["--quiet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    let p = profile_of(&run);
    assert_eq!(p["status"], "ok", "{p}");
    assert_eq!(p["source"], "perf");
    assert!(
        folded_text(&out.run_dir()).contains("main.hotSpinPrimes"),
        "perf did not see the hot function"
    );
    assert!(out.run_dir().join("profile.perf.data").exists());
}

#[test]
fn py_spy_finds_the_hot_function_and_resources_sum_over_the_workers() {
    let ws = Workspace::new();
    let pid_file = ws.path().join("pids");
    let (app, url) = start_python(3, &pid_file);
    let pids = read_pids(&pid_file);
    assert_eq!(pids.len(), 4, "parent and 3 workers");
    let extra = "profile: { py-spy: {} }\n";
    // Three users keep the three workers busy, about 1.2 cores with the think
    // time: six starved gander of CPU on 2 cores (an INVALID run) when
    // py-spy and a neighbour test ran too.
    let out = ws.run(
        &scenario(&url, "/work", 3, 5, extra),
        &["--quiet", "--sut-pid", &app.pid().to_string()],
    );
    // What /proc says now, while the processes still run.
    let proc_sum: f64 = pids.iter().map(|&p| vm_rss(p)).sum();
    let parent = vm_rss(pids[0]);
    assert_eq!(out.code, 0, "{}\n{}", out.stderr, out.json()["verdict"]);
    let run = out.json();
    let p = profile_of(&run);
    assert_eq!(p["status"], "ok", "{p}");
    let folded = folded_text(&out.run_dir());
    assert!(
        hottest_stacks(&folded, 10).contains("hot_loop"),
        "hot_loop not among the hottest stacks:\n{}",
        hottest_stacks(&folded, 10)
    );
    // Samples from more than one worker process.
    let workers_seen = pids[1..]
        .iter()
        .filter(|w| folded.contains(&format!("process {w}:")))
        .count();
    assert!(workers_seen >= 2, "py-spy saw {workers_seen} workers");

    let process = source(&run, "process");
    assert_eq!(f(series(process, "processes"), "/summary/max"), 4.0);
    let rss = series(process, "rss_bytes");
    let last = rss["points"].as_array().unwrap().last().unwrap()[1]
        .as_f64()
        .unwrap();
    assert!(
        (last - proc_sum).abs() / proc_sum < 0.15,
        "sampled {last} vs /proc sum {proc_sum}"
    );
    assert!(
        last > 2.0 * parent,
        "the sum covers the workers: {last} vs parent {parent}"
    );
    // The workers burn CPU; the supervising parent alone would show ~0.
    assert!(f(series(process, "cpu_percent"), "/summary/avg") > 10.0);
}

/// `flamegraph-diff.folded` as (stack, baseline share, current share): each
/// side's samples per request as a share of that side's total.
fn diff_shares(dir: &Path, run: &serde_json::Value) -> Vec<(String, f64, f64)> {
    let file = run["profile"]["diff"]["folded"]
        .as_str()
        .unwrap_or_else(|| panic!("no differential in {}", run["profile"]));
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let rows: Vec<(String, f64, f64)> = text
        .lines()
        .map(|l| {
            let mut parts = l.rsplitn(3, ' ');
            let after: f64 = parts.next().unwrap().parse().unwrap();
            let before: f64 = parts.next().unwrap().parse().unwrap();
            (parts.next().unwrap().to_string(), before, after)
        })
        .collect();
    let before: f64 = rows.iter().map(|r| r.1).sum();
    let after: f64 = rows.iter().map(|r| r.2).sum();
    assert!(before > 0.0 && after > 0.0, "{text}");
    rows.into_iter()
        .map(|(s, b, a)| (s, b / before, a / after))
        .collect()
}

/// The baseline's whole cost per 1000 requests, from the differential (per million).
fn baseline_per_1k(dir: &Path, run: &serde_json::Value) -> f64 {
    let file = run["profile"]["diff"]["folded"].as_str().unwrap();
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.lines()
        .map(|l| l.rsplit(' ').nth(1).unwrap().parse::<f64>().unwrap())
        .sum::<f64>()
        / 1000.0
}

#[test]
fn py_spy_differentials_match_processes_by_role_and_find_the_slower_function() {
    // Three runs, each against its own pre-fork server (new pids, new command
    // lines): the baseline, the same code again, and hot_loop doing 4x the work.
    let ws = Workspace::new();
    let run = |name: &str, hot_iterations: u32, baseline: Option<&Path>| -> RunOutput {
        let pid_file = ws.path().join(format!("pids-{name}"));
        let iterations = hot_iterations.to_string();
        let (app, url) = start_python_with(2, &pid_file, &["--hot-iterations", &iterations]);
        let pid = app.pid().to_string();
        let mut args = vec!["--quiet", "--sut-pid", &pid];
        if let Some(b) = baseline {
            args.extend(["--baseline", b.to_str().unwrap()]);
        }
        // Two users for two workers, so that the CPU is not all the workers'.
        let out = ws.run(
            &scenario(&url, "/work", 2, 5, "profile: { py-spy: {} }\n"),
            &args,
        );
        // Other work on the machine can starve gander's load threads of CPU:
        // that voids the run's latencies (exit 3), not the SUT's profile.
        let run = out.json();
        let validity = &run["verdict"]["validity"];
        let failed = failed_checks(&run);
        assert!(
            out.code == 0
                || (out.code == 3 && failed.iter().all(|c| c["check"] == "load generator CPU")),
            "{name}: exit {}: {}\n{validity}",
            out.code,
            out.stderr
        );
        assert_eq!(profile_of(&out.json())["status"], "ok", "{name}");
        out
    };
    let base = run("base", 40_000, None).run_dir();
    let same = run("same", 40_000, Some(&base));
    let slower = run("slower", 160_000, Some(&base));

    // Same code: the stacks of the two profiles are the same stacks. Bounds:
    // at least 70 % of each profile lies on stacks the two hold in common
    // (measured 85-91 % here; 0 % while py-spy's process frames kept their
    // pids), and no stack's share of its profile moves by more than 20
    // percentage points (hot_loop's moved by up to 11 under other builds' load).
    let (dir, json) = (same.run_dir(), same.json());
    let shares = diff_shares(&dir, &json);
    let common: f64 = shares.iter().map(|(_, b, a)| b.min(*a)).sum();
    assert!(
        common >= 0.70,
        "only {:.0} % of the profiles is on common stacks",
        common * 100.0
    );
    for (stack, b, a) in &shares {
        assert!(
            (a - b).abs() <= 0.20,
            "{stack}: {:.1} % of the baseline, {:.1} % now",
            b * 100.0,
            a * 100.0
        );
        let pid_frame = stack.split(';').any(|frame| {
            frame
                .strip_prefix("process ")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        });
        assert!(!pid_frame, "a process frame with its pid: {stack}");
    }
    assert!(
        shares
            .iter()
            .any(|(s, ..)| s.starts_with("process root;process child;"))
    );
    // Enough samples to compare (py-spy sampled fast enough for the window),
    // said beside the graph, and identical code paints no saturated colour.
    let diff = &json["profile"]["diff"];
    assert!(diff.get("too_few").is_none(), "{diff}");
    for side in ["/baseline_samples", "/samples"] {
        assert!(
            u(diff, side) >= gander::profile::folded::MIN_DIFF_SAMPLES,
            "{diff}"
        );
    }
    // (Its colours are not asserted here: on a machine busy with other builds the
    // same code's per-request samples moved by up to +72 % on hot_loop, a real
    // difference in what py-spy saw, not sampling noise; the unit tests of
    // `profile::folded` draw the same distribution twice.)
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains(&format!(
            "{} samples in the baseline",
            u(diff, "/baseline_samples")
        )),
        "no sample count beside the differential"
    );
    // Per request, no function grew by more than half the baseline's whole cost.
    let whole = baseline_per_1k(&dir, &json);
    for g in json["profile"]["diff"]["grew_most"].as_array().unwrap() {
        assert!(
            f(g, "/delta_per_1k") <= 0.5 * whole,
            "{g} grew by more than half of {whole:.0} samples per 1000 requests"
        );
    }

    // hot_loop doing 4x the work: the top grower, by more than its baseline cost.
    let json = slower.json();
    let grew = &json["profile"]["diff"]["grew_most"];
    assert_eq!(grew[0]["function"], "hot_loop (app.py)", "{grew}");
    assert!(
        f(&grew[0], "/current_per_1k") >= 2.0 * f(&grew[0], "/baseline_per_1k"),
        "{}",
        grew[0]
    );
    let shares = diff_shares(&slower.run_dir(), &json);
    let top = shares
        .iter()
        .max_by(|x, y| (x.2 - x.1).total_cmp(&(y.2 - y.1)))
        .unwrap();
    assert!(top.0.ends_with("hot_loop (app.py)"), "{top:?}");
    let svg = std::fs::read(slower.run_dir().join("flamegraph-diff.svg")).unwrap();
    let chroma = max_chroma(&svg);
    assert!(chroma >= 60, "4x the work painted at chroma {chroma}");
}

/// The most colourful fill of an SVG: 0 for white and greys, 155 for inferno's
/// full red or blue.
fn max_chroma(svg: &[u8]) -> u8 {
    let text = String::from_utf8_lossy(svg);
    text.match_indices("fill=\"rgb(")
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let rgb: Vec<u8> = rest[..rest.find(')')?]
                .split(',')
                .filter_map(|v| v.trim().parse().ok())
                .collect();
            Some(rgb.iter().max()? - rgb.iter().min()?)
        })
        .max()
        .unwrap_or(0)
}

fn launched_scenario(url_port: u16, pid_file: &Path, seconds: u32, extra: &str) -> String {
    let app = fixtures().join("py-workers/app.py");
    format!(
        "name: launched\nhost: http://127.0.0.1:{url_port}\nload: {{ users: 4, duration: {seconds}s }}\n\
         sut:\n  command: [python3, {}, --port, \"{url_port}\", --workers, \"2\", --pid-file, {}]\n  \
         ready: /health\n  env: {{ PYTHONUNBUFFERED: \"1\" }}\n{extra}\
         scenarios:\n  - name: load\n    steps:\n      - get: /work\n",
        app.display(),
        pid_file.display()
    )
}

#[test]
fn sut_command_is_launched_sampled_profiled_and_stopped() {
    let ws = Workspace::new();
    let pid_file = ws.path().join("pids");
    let port = free_port();
    let out = ws.run(
        &launched_scenario(port, &pid_file, 4, "profile: { py-spy: {} }\n"),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    let pids = read_pids(&pid_file);
    assert_eq!(pids.len(), 3);
    let launched = &run["resources"]["launched"];
    assert_eq!(u(launched, "/pid"), pids[0] as u64);
    assert!(launched.get("exited_early").is_none(), "{launched}");
    assert!(out.run_dir().join("sut.log").exists());
    assert_eq!(u(&run, "/totals/all/failed"), 0);
    let p = profile_of(&run);
    assert_eq!(p["status"], "ok", "{p}");
    assert_eq!(p["target"], format!("pid {}", pids[0]));
    assert!(folded_text(&out.run_dir()).contains("hot_loop"));
    let process = source(&run, "process");
    assert!(
        process["target"]
            .as_str()
            .unwrap()
            .starts_with(&format!("pid {}", pids[0]))
    );
    for pid in pids {
        assert!(!alive(pid), "process {pid} outlived the run");
    }
}

#[test]
fn a_launched_sut_is_stopped_after_sigterm_and_the_run_is_kept() {
    let ws = Workspace::new();
    let pid_file = ws.path().join("pids");
    let file = ws.write(
        "scenario.yaml",
        &launched_scenario(free_port(), &pid_file, 60, ""),
    );
    let child = Command::new(gander_bin())
        .args(["run", file.to_str().unwrap(), "--quiet", "-o"])
        .arg(ws.reports())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let gander_pid = child.id() as i32;
    wait_for(|| pid_file.exists() && read_pids(&pid_file).len() == 3);
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(gander_pid, libc::SIGTERM) };
    let out = RunOutput::new(wait_bounded(child, Duration::from_secs(60)));
    assert_eq!(out.code, 3, "{}", out.stderr);
    let run = out.json();
    assert_eq!(run["outcome"]["status"], "interrupted");
    assert!(u(&run, "/totals/all/requests") > 0);
    assert_complete_run_dir(&out.run_dir());
    for pid in read_pids(&pid_file) {
        assert!(!alive(pid), "process {pid} outlived the interrupted run");
    }
}

fn wait_for(condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_sut_that_never_gets_ready_is_a_clear_error() {
    let ws = Workspace::new();
    let text = "name: never\nhost: http://127.0.0.1:9\nload: { users: 1, iterations: 1 }\n\
                sut: { command: [sh, -c, \"echo booting; sleep 30\"], ready: /health, ready_timeout: 1s }\n\
                scenarios:\n  - name: s\n    steps:\n      - get: /\n";
    let out = ws.run(text, &["--quiet"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("not ready within 1s"), "{}", out.stderr);
    assert!(
        out.stderr.contains("booting"),
        "the SUT's output is shown: {}",
        out.stderr
    );
}

#[test]
fn profiler_failures_leave_a_complete_run_with_the_reason() {
    let server = start_server();
    let me = std::process::id();
    let cases: &[(&str, String, &str)] = &[
        ("404", "pprof: /profile/missing".into(), "404"),
        (
            "timeout",
            "pprof: /profile/slow, seconds: 1s, grace: 1s".into(),
            "in time",
        ),
        (
            "truncated gzip",
            "pprof: /profile/truncated".into(),
            "truncated",
        ),
        (
            "not a profile",
            "pprof: /profile/garbage".into(),
            "not a pprof",
        ),
        (
            "refused",
            "pprof: http://127.0.0.1:9/debug/pprof/profile".into(),
            "cannot fetch",
        ),
        (
            "no binary",
            "command: [gander-no-such-profiler, \"{out}\"]".into(),
            "not installed",
        ),
        (
            "garbage folded",
            "command: [sh, -c, \"printf 'not folded at all' > {out}\"]".into(),
            "not a folded stack",
        ),
        (
            "profiler exits 1",
            "command: [sh, -c, \"echo profiler broke >&2; exit 1\", \"{out}\"]".into(),
            "profiler broke",
        ),
    ];
    for (name, profile, reason) in cases {
        let ws = Workspace::new();
        let extra = format!("sut: {{ pid: {me} }}\nprofile: {{ {profile} }}\n");
        let out = ws.run(
            &scenario(&server.url(), "/fast", 2, 2, &extra),
            &["--quiet"],
        );
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let run = out.json();
        let p = profile_of(&run);
        assert_eq!(p["status"], "missing", "{name}: {p}");
        let why = p["reason"].as_str().unwrap();
        assert!(
            why.contains(reason),
            "{name}: reason {why:?} lacks {reason:?}"
        );
        assert!(u(&run, "/totals/all/requests") > 0, "{name}");
        assert_complete_run_dir(&out.run_dir());
        let summary = std::fs::read_to_string(out.run_dir().join("summary.txt")).unwrap();
        assert!(summary.contains("MISSING"), "{name}: {summary}");
    }

    // Asked for, a missing profile fails the run.
    let ws = Workspace::new();
    let extra = "profile: { pprof: /profile/missing, required: true }\n";
    let out = ws.run(&scenario(&server.url(), "/fast", 2, 2, extra), &["--quiet"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let run = out.json();
    let row = &run["verdict"]["targets"][0];
    assert_eq!(row["metric"], "profile samples");
    assert_eq!(row["outcome"], "fail");
}

#[test]
fn a_launched_sut_tree_dies_with_a_sigkilled_gander() {
    let ws = Workspace::new();
    let port = free_port();
    let pidfile = ws.path().join("server.pid");
    let scenario = format!(
        r#"host: http://127.0.0.1:{port}
load: {{ users: 2, duration: 10m }}
sut:
  command: [bash, -c, "python3 -m http.server {port} --bind 127.0.0.1 & echo $! > {pid}; wait"]
  ready: /
scenarios:
  - name: s
    think_time: 50ms
    steps:
      - get: /
"#,
        pid = pidfile.display()
    );
    let mut gander = ws.spawn_run(&scenario);
    // The server (bash's background job) is up and the load under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let server = loop {
        let pid = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        if let Some(pid) = pid
            && gander::sut::launch::probe(&format!("http://127.0.0.1:{port}/")) == Some(200)
        {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the SUT never came up"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(500));
    gander.kill().unwrap();
    gander.wait().unwrap();

    // The watchdog stops the whole tree: SIGTERM, then SIGKILL 2 s later.
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.split(") ").nth(1).unwrap_or("").starts_with('Z'))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive(server) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !alive(server),
        "the SUT's background server {server} outlived gander"
    );
    assert_eq!(
        gander::sut::launch::probe(&format!("http://127.0.0.1:{port}/")),
        None
    );
}

#[test]
fn a_sut_whose_port_is_taken_is_refused_before_it_starts() {
    let ws = Workspace::new();
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    let marker = ws.path().join("started");
    let scenario = format!(
        r#"host: http://127.0.0.1:{port}
load: {{ users: 1, iterations: 1 }}
sut:
  command: [touch, "{marker}"]
  ready: /
scenarios:
  - name: s
    steps:
      - get: /
"#,
        marker = marker.display()
    );
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("already answers before the SUT was started"),
        "{}",
        out.stderr
    );
    assert!(!marker.exists(), "the SUT command ran");
}
