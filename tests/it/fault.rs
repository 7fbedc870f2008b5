//! Whose fault: a launched SUT that dies, the load generator's own limits
//! (file descriptors, ports), a busy neighbour, and comparisons of runs that
//! cannot be compared are never read as the SUT's figures.

use std::path::Path;

use crate::common::*;

/// A Python server that answers, then exits with status 3 (after writing a
/// last line to its log) `die_after` seconds after it started.
const DYING_SERVER: &str = r#"
import os, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

def die():
    time.sleep(float(sys.argv[2]))
    print("fatal: worker pool exhausted, giving up", flush=True)
    os._exit(3)

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("serving", flush=True)
threading.Thread(target=die, daemon=True).start()
server.serve_forever()
"#;

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn a_launched_sut_that_exits_mid_run_makes_the_run_invalid_in_every_output() {
    let ws = Workspace::new();
    let app = ws.write("dying.py", DYING_SERVER);
    let port = free_port();
    let scenario = format!(
        "name: dying\nhost: http://127.0.0.1:{port}\nload: {{ users: 2, duration: 6s }}\n\
         sut:\n  command: [python3, {}, \"{port}\", \"3\"]\n  ready: /\n\
         targets:\n  p95: 2s\n\
         scenarios:\n  - name: s\n    think_time: 50ms\n    steps:\n      - get: /\n",
        app.display()
    );
    // Not quiet: the console summary is one of the outputs.
    let out = ws.run(&scenario, &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let dir = out.run_dir();
    let run = out.json();
    assert_eq!(run["verdict"]["status"], "invalid", "{}", run["verdict"]);
    let check = run["verdict"]["validity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "SUT stayed up")
        .expect("a check that the SUT stayed up");
    assert_eq!(check["ok"], false);
    let launched = &run["resources"]["launched"];
    assert!(
        launched["exited_early"]
            .as_str()
            .unwrap()
            .contains("exit status: 3"),
        "{launched}"
    );
    assert!(
        launched["last_output"]
            .to_string()
            .contains("worker pool exhausted")
    );
    // The p95 target alone would have passed: the run is INVALID, not PASS.
    let p95 = &run["verdict"]["targets"][0];
    assert_eq!(p95["outcome"], "pass", "{p95}");
    // Every output says so, with the exit status and the SUT's last line.
    let outputs = [
        ("console", out.stdout.clone()),
        ("summary.txt", read(&dir, "summary.txt")),
        ("summary.md", read(&dir, "summary.md")),
        ("junit.xml", read(&dir, "junit.xml")),
        ("report.html", read(&dir, "report.html")),
        ("run.json", read(&dir, "run.json")),
    ];
    for (name, text) in outputs {
        assert!(
            text.contains("INVALID") || text.contains("\"invalid\""),
            "{name} does not say INVALID:\n{text}"
        );
        assert!(
            text.contains("exit status: 3"),
            "{name} has no exit status"
        );
        assert!(
            text.contains("worker pool exhausted"),
            "{name} has not the SUT's last output"
        );
    }
    assert!(
        read(&dir, "junit.xml").contains("validity: SUT stayed up"),
        "junit.xml has no failing case for it"
    );
}
