//! Secrets stay out of what gander writes and prints, and text from the SUT
//! is shown, never obeyed, on the terminal and in Markdown.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// A value from the environment, used in a variable, headers, a path, an
/// expectation and the SUT's argv.
const ENV_SECRET: &str = "envtoken-s3cr3t-value";
/// The password of `--host http://user:PASS@…`.
const HOST_SECRET: &str = "hostpass-s3cr3t";
/// A query value written in the file.
const QUERY_SECRET: &str = "query-s3cr3t";
/// A credential header's value written in the file.
const HEADER_SECRET: &str = "apikey-s3cr3t-literal";
/// The passwords of metrics and profile URLs.
const URL_SECRET: &str = "urlpass-s3cr3t";

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn no_secret_reaches_the_run_directory_or_the_console() {
    let server = start_server();
    let closed = free_port();
    let ws = Workspace::new();
    let scenario = format!(
        r#"name: secrets
host: http://127.0.0.1:1
load: {{ users: 2, iterations: 3 }}
variables:
  token: "${{env.GANDER_TEST_SECRET}}"
scenarios:
  - name: s
    steps:
      - name: with credentials
        get: "/fast?key={QUERY_SECRET}&t=${{token}}"
        headers: {{ Authorization: "Bearer ${{env.GANDER_TEST_SECRET}}", X-Api-Key: "{HEADER_SECRET}" }}
      - name: echoed
        get: "/echo?key={QUERY_SECRET}"
        headers: {{ X-Api-Key: "{HEADER_SECRET}", X-Token: "${{token}}" }}
      - name: bad url
        get: "http://127.0.0.1:99999/x?key={QUERY_SECRET}&t=${{token}}"
      - get: "/fast/${{token}}"
      - name: expectation
        get: /fast
        expect: {{ body_contains: "${{env.GANDER_TEST_SECRET}}" }}
sut:
  command: [sh, -c, "sleep 60", "${{env.GANDER_TEST_SECRET}}"]
  prometheus: {{ url: "http://user:{URL_SECRET}@127.0.0.1:{closed}/metrics?token=${{token}}" }}
  health: {{ url: "http://127.0.0.1:{closed}/health?key={QUERY_SECRET}" }}
profile:
  pprof: "http://user:{URL_SECRET}@127.0.0.1:{closed}/debug/pprof/profile?key={QUERY_SECRET}"
"#
    );
    let file = ws.write("scenario.yaml", &scenario);
    let host = format!("http://user:{HOST_SECRET}@{}", server.addr);
    let out = Command::new(gander_bin())
        .args(["run", file.to_str().unwrap(), "--host", &host, "-o"])
        .arg(ws.reports())
        .env("GANDER_TEST_SECRET", ENV_SECRET)
        .output()
        .unwrap();
    let out = RunOutput::new(out);
    assert!(
        [0, 1, 3].contains(&out.code),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    // The requests were made, and failed as planned.
    assert!(server.seen.count("/fast") >= 6, "{}", out.stdout);
    assert!(server.seen.count("/echo") >= 6);

    let secrets = [
        ENV_SECRET,
        HOST_SECRET,
        QUERY_SECRET,
        HEADER_SECRET,
        URL_SECRET,
    ];
    let dir = out.run_dir();
    let all = files(&dir);
    assert!(all.len() >= 8, "{all:?}");
    for (path, bytes) in &all {
        for secret in secrets {
            assert!(!contains(bytes, secret), "{secret} in {path}");
        }
    }
    for secret in secrets {
        assert!(
            !out.stdout.contains(secret),
            "{secret} on stdout:\n{}",
            out.stdout
        );
        assert!(
            !out.stderr.contains(secret),
            "{secret} on stderr:\n{}",
            out.stderr
        );
    }

    // The texts that held them are there, masked.
    let run = out.json();
    let text = serde_json::to_string(&run).unwrap();
    assert!(
        run["plan"]["host"]
            .as_str()
            .unwrap()
            .starts_with("http://***@127.0.0.1:")
    );
    assert!(
        run["provenance"]["command_line"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().starts_with("http://***@127.0.0.1:")),
        "{}",
        run["provenance"]
    );
    assert_eq!(
        run["resources"]["launched"]["command"],
        serde_json::json!(["sh", "-c", "sleep 60", "***"])
    );
    for needle in [
        "bad URL \\\"http://127.0.0.1:99999/x?key=***&t=***\\\"",
        "body does not contain \\\"***\\\"",
        // The Basic credential of --host's userinfo, echoed.
        "authorization: Basic ***",
        "x-api-key: ***",
        "x-token: ***",
        "GET /fast/***",
        "http://***@127.0.0.1:",
        "/metrics?token=***",
        "/health?key=***",
    ] {
        assert!(
            text.contains(needle),
            "{needle} not in run.json: {} {}",
            run["errors"],
            run["resources"]
        );
    }
    assert!(
        run["profile"]["target"]
            .as_str()
            .unwrap()
            .ends_with("/debug/pprof/profile?key=***"),
        "{}",
        run["profile"]
    );
}

/// A saved run whose SUT-controlled texts carry terminal escapes and Markdown:
/// `gander report` shows them as text in summary.txt, on stdout and in summary.md.
#[test]
fn hostile_text_is_shown_not_obeyed() {
    let ws = Workspace::new();
    let dir = ws.path().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/run.json");
    let mut run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let forged = "\u{1b}[2J\u{1b}[32mall good\r\nverdict: PASS ![pwn](http://evil/x.png)";
    run["errors"]["groups"] = serde_json::json!([
        { "endpoint": "login", "status": 500, "reason": forged, "count": 3 }
    ]);
    run["profile"]["top"][0]["function"] = "evil\u{1b}]0;owned\u{7}fn\u{202e}".into();
    let endpoints = run["endpoints"].as_array_mut().unwrap();
    let last = endpoints.len() - 1;
    endpoints[last]["name"] = "![pwn](http://evil/x.png) [click](http://evil) <b>x</b>".into();
    std::fs::write(dir.join("run.json"), run.to_string()).unwrap();

    let out = gander(&["report", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.code().is_some_and(|c| c <= 3), "{stdout}");
    let summary = std::fs::read_to_string(dir.join("summary.txt")).unwrap();
    for text in [&stdout, &summary] {
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\r'));
        assert!(!text.contains('\u{202e}'));
        assert!(
            text.contains("\\x1b[2J\\x1b[32mall good\\r\\nverdict: PASS"),
            "{text}"
        );
        assert!(text.contains("evil\\x1b]0;owned\\x07fn\\u{202e}"), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("verdict: PASS")));
    }
    let markdown = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        !markdown.contains("![pwn]") && !markdown.contains("[click](") && !markdown.contains("<b>")
    );
    assert!(
        markdown
            .contains("!\\[pwn\\](http://evil/x.png) \\[click\\](http://evil) \\<b\\>x\\</b\\>"),
        "{markdown}"
    );
}

#[test]
fn a_secret_written_in_the_sut_command_line_stays_out_of_the_run() {
    let ws = Workspace::new();
    let port = free_port();
    let secret = "s3cr3t-in-argv-8c1f";
    let scenario = format!(
        "host: http://127.0.0.1:{port}\nload: {{ users: 1, iterations: 3 }}\n\
         sut:\n  command: [sh, -c, \"exec python3 -m http.server $0 --bind 127.0.0.1\", \"{port}\", \"--token={secret}\", --password, \"{secret}-2\"]\n  ready: /\n\
         scenarios:\n  - name: s\n    steps:\n      - get: /\n"
    );
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let dir = out.run_dir();
    let run = std::fs::read_to_string(dir.join("run.json")).unwrap();
    assert!(run.contains("--token="), "the command line is recorded");
    for (what, text) in [
        ("run.json", run),
        ("stdout", out.stdout.clone()),
        ("stderr", out.stderr.clone()),
        (
            "report.html",
            std::fs::read_to_string(dir.join("report.html")).unwrap(),
        ),
    ] {
        assert!(!text.contains(secret), "the secret is in {what}");
    }
}
