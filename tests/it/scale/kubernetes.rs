//! The Kubernetes recipe (deploy/kubernetes): its manifests validate against
//! the API's schemas offline, and its Jobs' container command lines, read
//! from the manifests, run end to end here as the cluster would run them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{read_json, start_at};
use crate::common::*;

fn recipe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

fn manifest(name: &str) -> Value {
    let text = std::fs::read_to_string(recipe().join(name)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_kubernetes_manifests_validate_offline() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(recipe())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(&files)
        .output()
        .expect("kubernetes-validate is installed: run scripts/setup-test-deps");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(text.contains(&format!("{name} passed")), "{name}: {text}");
    }
}

/// A container of a Job manifest: its argv and env.
struct Container {
    argv: Vec<String>,
    env: Vec<Value>,
    mounts: Vec<(String, String)>,
}

fn container(job: &Value) -> Container {
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let mut argv = strings(&c["command"]);
    argv.extend(strings(&c["args"]));
    Container {
        argv,
        env: c["env"].as_array().cloned().unwrap_or_default(),
        mounts: c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().into(),
                    m["mountPath"].as_str().unwrap().into(),
                )
            })
            .collect(),
    }
}

/// Kubernetes' `$(VAR)` expansion of a container's arguments.
fn expand(arg: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = arg.to_string();
    for (k, v) in env {
        out = out.replace(&format!("$({k})"), v);
    }
    assert!(!out.contains("$("), "{arg}: an undefined variable");
    out
}

/// The container's environment as the cluster gives it: values, the run
/// ConfigMap's keys, the completion index.
fn environment(
    c: &Container,
    run: &BTreeMap<String, String>,
    index: usize,
    overrides: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for e in &c.env {
        let name = e["name"].as_str().unwrap().to_string();
        let value = if let Some(v) = e["value"].as_str() {
            v.to_string()
        } else if let Some(key) = e["valueFrom"]["configMapKeyRef"]["key"].as_str() {
            assert_eq!(e["valueFrom"]["configMapKeyRef"]["name"], "gander-run");
            run[key].clone()
        } else {
            let path = e["valueFrom"]["fieldRef"]["fieldPath"].as_str().unwrap();
            assert!(path.contains("job-completion-index"), "{path}");
            index.to_string()
        };
        env.insert(name, value);
    }
    for (k, v) in overrides {
        assert!(env.contains_key(*k), "the manifest sets no {k}");
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// Starts `argv` as the container would, its mounts at `mounts`' local folders.
fn start(
    c: &Container,
    env: &BTreeMap<String, String>,
    mounts: &BTreeMap<String, PathBuf>,
) -> Child {
    let argv: Vec<String> = c
        .argv
        .iter()
        .map(|a| {
            let a = expand(a, env);
            c.mounts
                .iter()
                .fold(a, |a, (name, path)| match a.strip_prefix(path.as_str()) {
                    Some(rest) => format!("{}{rest}", mounts[name].display()),
                    None => a,
                })
        })
        .collect();
    assert_eq!(argv[0], "gander", "the image's gander");
    Command::new(gander_bin())
        .args(&argv[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gander starts")
}

#[test]
fn the_jobs_command_lines_run_end_to_end_here() {
    let server = start_server();
    let ws = Workspace::new();
    // The scenario ConfigMap, mounted where the Jobs read it.
    let scenario = manifest("scenario-configmap.yaml");
    let scenario_dir = ws.path().join("scenario");
    std::fs::create_dir_all(&scenario_dir).unwrap();
    std::fs::write(
        scenario_dir.join("scenario.yaml"),
        scenario["data"]["scenario.yaml"].as_str().unwrap(),
    )
    .unwrap();
    let results = ws.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    let mounts = BTreeMap::from([
        ("scenario".to_string(), scenario_dir),
        ("results".to_string(), results.clone()),
    ]);
    // The run ConfigMap as CI writes it for each run.
    let mut run: BTreeMap<String, String> =
        serde_json::from_value(manifest("run-configmap.yaml")["data"].clone()).unwrap();
    run.insert("start-at".into(), start_at(5));
    run.insert("run-id".into(), "ci-run-1".into());

    let segments = manifest("segments-job.yaml");
    let spec = &segments["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().unwrap() as usize;
    assert_eq!(spec["parallelism"].as_u64(), Some(n as u64));
    let seg = container(&segments);
    assert!(
        seg.argv
            .iter()
            .any(|a| a == &format!("$(JOB_COMPLETION_INDEX)/{n}")),
        "{:?}",
        seg.argv
    );
    let merge_job = manifest("merge-job.yaml");
    let merger = container(&merge_job);

    // The cluster starts the merge beside the segments: it waits for them.
    let url = server.url();
    let merging = start(&merger, &environment(&merger, &run, 0, &[]), &mounts);
    let pods: Vec<Child> = (0..n)
        .map(|i| {
            start(
                &seg,
                &environment(&seg, &run, i, &[("SUT_HOST", &url)]),
                &mounts,
            )
        })
        .collect();
    for (i, pod) in pods.into_iter().enumerate() {
        let out = RunOutput::new(wait_bounded(pod, Duration::from_secs(120)));
        assert_eq!(out.code, 0, "segment {i}: {}\n{}", out.stdout, out.stderr);
    }
    let merged = RunOutput::new(wait_bounded(merging, Duration::from_secs(60)));
    assert_eq!(
        merged.code, 0,
        "the merge Job's exit code: {}\n{}",
        merged.stdout, merged.stderr
    );
    let dir = results.join("ci-run-1/merged");
    assert_eq!(merged.run_dir(), std::path::absolute(&dir).unwrap());
    assert_complete_run_dir(&dir);
    let run = read_json(&dir);
    assert_eq!(run["provenance"]["segments"].as_array().unwrap().len(), n);
    assert_eq!(u(&run, "/plan/users"), 30);
    assert_eq!(run["plan"]["scenarios"][0]["users_started"], 30);
    assert_eq!(
        u(&run, "/totals/all/requests"),
        server.seen.total.load(std::sync::atomic::Ordering::SeqCst)
    );
    assert_eq!(run["verdict"]["status"], "pass", "{}", run["verdict"]);
}
