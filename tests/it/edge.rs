//! The one network edge: every sender (users, observers, the readiness
//! probe, the profiler's download) uses the run's TLS, the environment's
//! proxies and the connect timeout; protocol mismatches are said. Against
//! real servers: Prometheus and gunicorn from Debian/PyPI, and in-test HTTPS
//! servers with certificates from a test CA.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::get;

use crate::common::edge::*;
use crate::common::tls::*;
use crate::common::*;

/// Runs `gander run` with `env` set and every proxy variable of this process
/// removed (so that the test says what the proxies are), bounded in time.
fn run_env(ws: &Workspace, scenario: &str, env: &[(&str, String)]) -> RunOutput {
    let file = ws.write("scenario.yaml", scenario);
    let mut command = Command::new(gander_bin());
    command
        .args(["run", file.to_str().unwrap(), "-o"])
        .arg(ws.reports())
        .arg("--quiet")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ] {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    RunOutput::new(wait_bounded(
        command.spawn().unwrap(),
        Duration::from_secs(120),
    ))
}

fn source<'a>(run: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    let sources = run["resources"]["sources"].as_array().unwrap();
    sources
        .iter()
        .find(|s| s["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} source in {sources:?}"))
}

fn reasons(run: &serde_json::Value) -> Vec<String> {
    run["errors"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["reason"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn observers_the_probe_and_the_profiler_use_the_runs_tls_against_a_private_ca_prometheus() {
    let ca = TestCa::new("gander edge CA");
    let cert = ca.sign(&["localhost", "127.0.0.1"]);
    let ws = Workspace::new();
    ws.write("ca.pem", &ca.pem());
    ws.write("cert.pem", &cert.cert);
    ws.write("key.pem", &cert.key);
    ws.write(
        "web.yml",
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
    );
    ws.write("prometheus.yml", "global: {}\n");
    let port = free_port();
    // Prometheus itself is the SUT: HTTPS with a private CA, its own /metrics,
    // health and readiness endpoints and Go's pprof.
    let scenario = format!(
        "host: https://localhost:{port}\ntls: {{ ca: ca.pem }}\n\
         load: {{ users: 2, duration: 5s }}\n\
         sut:\n  command: [prometheus, --config.file=prometheus.yml, --web.config.file=web.yml, \
         \"--web.listen-address=127.0.0.1:{port}\", --storage.tsdb.path=data]\n  \
         ready: /-/ready\n  prometheus: {{ url: /metrics }}\n  health: {{ url: /-/healthy }}\n  interval: 1s\n\
         profile: {{ pprof: /debug/pprof/profile, seconds: 2s }}\n\
         scenarios:\n  - name: s\n    think_time: 100ms\n    steps:\n      \
         - {{ name: ready, get: /-/ready }}\n"
    );
    let out = run_env(&ws, &scenario, &[]);
    // The probe reached https://localhost:PORT/-/ready through the run's TLS,
    // or the SUT would never have been ready (exit 2).
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert!(u(endpoint(&run, "ready"), "/stats/all/requests") > 0);
    let prometheus = source(&run, "prometheus");
    assert!(u(prometheus, "/samples") >= 3, "{prometheus}");
    assert_eq!(u(prometheus, "/failures"), 0, "{prometheus}");
    let health = &run["resources"]["health"];
    assert!(u(health, "/counts/healthy") >= 3, "{health}");
    // The profile came down over the same TLS (whether an idle Prometheus
    // spent enough CPU for samples in 2 s is not this test's business).
    let profile = &run["profile"];
    assert!(
        profile["status"] == "ok"
            || profile["reason"]
                .as_str()
                .unwrap()
                .contains("holds no samples"),
        "{profile}"
    );
    let raw = std::fs::read(out.run_dir().join("profile.pb.gz")).unwrap();
    assert!(raw.starts_with(&[0x1f, 0x8b]), "{profile}");
}

#[test]
fn the_readiness_probe_speaks_https_and_sends_the_urls_host() {
    use gander::net::proxy::ProxyPolicy;
    use gander::net::{Edge, NetPlan, fetch, tls};
    let ca = TestCa::new("gander probe CA");
    let hosts = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = hosts.clone();
    let app = Router::new().route(
        "/ready",
        get(move |headers: HeaderMap| async move {
            let host = headers
                .get(header::HOST)
                .map(|h| h.to_str().unwrap().to_string());
            seen.lock().unwrap().push(host.unwrap_or_default());
            "ready"
        }),
    );
    let addr = serve_router(
        Some(ServerTls {
            cert: ca.sign(&["localhost"]),
            alpn: vec![b"http/1.1".to_vec()],
            client_ca: None,
        }),
        app,
    );
    let url = format!("https://localhost:{}/ready", addr.port());
    let plan = tls::TlsPlan {
        ca: Some((
            "ca.pem".into(),
            tls::parse_certificates(ca.pem().as_bytes()).unwrap(),
        )),
        ..Default::default()
    };
    let edge = Edge::with_proxy(&plan, &NetPlan::default(), ProxyPolicy::none()).unwrap();
    assert_eq!(fetch::probe_with(&edge, &url), Some(200));
    assert_eq!(
        *hosts.lock().unwrap(),
        [format!("localhost:{}", addr.port())]
    );
    // Without the CA the certificate is refused: never ready.
    let untrusting = Edge::with_proxy(
        &Default::default(),
        &NetPlan::default(),
        ProxyPolicy::none(),
    )
    .unwrap();
    assert_eq!(fetch::probe_with(&untrusting, &url), None);
    assert_eq!(hosts.lock().unwrap().len(), 1);
}

/// A SUT on 127.0.0.1 with metrics, health and JSON figures, counting hellos.
fn observed_app(hellos: Arc<AtomicU64>) -> Router {
    Router::new()
        .route(
            "/hello",
            get(move || async move {
                hellos.fetch_add(1, Ordering::SeqCst);
                "hello"
            }),
        )
        .route(
            "/metrics",
            get(|| async {
                "process_cpu_seconds_total 1.5\nprocess_resident_memory_bytes 2.5e+07\n"
            }),
        )
        .route("/health", get(|| async { r#"{"status":"ok"}"# }))
        .route(
            "/stats.json",
            get(|| async { r#"{"cpu": 5, "memory": 100}"# }),
        )
}

#[test]
fn every_sender_goes_through_the_environments_proxy_and_no_proxy_is_respected() {
    let (proxy, carried) = start_proxy();
    let hellos = Arc::new(AtomicU64::new(0));
    let addr = serve_router(None, observed_app(hellos.clone()));
    let port = addr.port();
    let ws = Workspace::new();
    // sut.test resolves nowhere but in the proxy: what reaches it went through it.
    let scenario = format!(
        "host: http://sut.test:{port}\nload: {{ users: 2, duration: 3s }}\n\
         sut:\n  prometheus: {{ url: /metrics }}\n  health: {{ url: /health }}\n  \
         json: {{ url: \"http://direct.test:{port}/stats.json\", cpu: /cpu, memory: /memory }}\n  interval: 1s\n\
         hosts: {{ direct.test: 127.0.0.1 }}\n\
         scenarios:\n  - name: s\n    think_time: 100ms\n    steps:\n      - {{ name: hello, get: /hello }}\n"
    );
    let out = run_env(
        &ws,
        &scenario,
        &[
            (
                "HTTP_PROXY",
                format!("http://edge:proxy-secret@127.0.0.1:{}", proxy.port()),
            ),
            ("NO_PROXY", "direct.test".into()),
        ],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    let sent = u(endpoint(&run, "hello"), "/stats/all/requests");
    assert!(sent > 0);
    let origin = format!("http://sut.test:{port}");
    // Every user request, metrics poll and health poll came through the proxy...
    assert_eq!(carried.count(&format!("GET {origin}/hello")) as u64, sent);
    assert_eq!(hellos.load(Ordering::SeqCst), sent);
    let metrics = carried.count(&format!("GET {origin}/metrics"));
    let health = carried.count(&format!("GET {origin}/health"));
    assert!(metrics >= 2 && health >= 2, "{:?}", carried.lines());
    assert_eq!(u(source(&run, "prometheus"), "/failures"), 0);
    // ... with the proxy's credentials, which no file of the run holds ...
    let auth = carried.auth.lock().unwrap().clone();
    let expected = format!("Basic {}", b64("edge:proxy-secret"));
    assert!(auth.iter().all(|a| a.as_deref() == Some(expected.as_str())));
    let saved = std::fs::read_to_string(out.run_dir().join("run.json")).unwrap();
    assert!(!saved.contains("proxy-secret"));
    // ... and NO_PROXY's direct.test was read directly (resolved by hosts:).
    assert!(
        carried.lines().iter().all(|l| !l.contains("direct.test")),
        "{:?}",
        carried.lines()
    );
    let json = source(&run, "json");
    assert!(u(json, "/samples") >= 2, "{json}");
    assert_eq!(u(json, "/failures"), 0, "{json}");
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn https_goes_through_the_proxy_in_a_connect_tunnel_with_the_runs_tls() {
    let (proxy, carried) = start_proxy();
    let ca = TestCa::new("gander tunnel CA");
    let hellos = Arc::new(AtomicU64::new(0));
    let addr = serve_router(
        Some(ServerTls {
            cert: ca.sign(&["sut.test"]),
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            client_ca: None,
        }),
        observed_app(hellos.clone()),
    );
    let port = addr.port();
    let ws = Workspace::new();
    ws.write("ca.pem", &ca.pem());
    let scenario = format!(
        "host: https://sut.test:{port}\nhttp: 2\ntls: {{ ca: ca.pem }}\nload: {{ users: 2, iterations: 3 }}\n\
         sut:\n  prometheus: {{ url: /metrics }}\n  interval: 1s\n\
         scenarios:\n  - name: s\n    steps:\n      - {{ name: hello, get: /hello }}\n"
    );
    let out = run_env(
        &ws,
        &scenario,
        &[("HTTPS_PROXY", format!("http://127.0.0.1:{}", proxy.port()))],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(hellos.load(Ordering::SeqCst), 6);
    // One tunnel per user connection (kept for all its requests) and per
    // metrics poll: at least the 2 users' and one poll.
    let tunnels = carried.count(&format!("CONNECT sut.test:{port}"));
    let (users, polls) = (2, 1);
    assert!(tunnels >= users + polls, "{:?}", carried.lines());
    assert_eq!(carried.lines().len(), tunnels, "{:?}", carried.lines());
    assert_eq!(
        run["endpoints"][0]["stats"]["all"]["protocols"]["HTTP/2"],
        6
    );
}

#[test]
fn tls_server_name_is_sent_as_sni_and_a_wrong_one_is_said_without_debug_text() {
    let ca = TestCa::new("gander SNI CA");
    let (addr, names) = serve_recording_sni(
        ServerTls {
            cert: ca.sign(&["other.test"]),
            alpn: vec![b"http/1.1".to_vec()],
            client_ca: None,
        },
        Router::new().route("/hello", get(|| async { "hello" })),
    );
    let ws = Workspace::new();
    ws.write("ca.pem", &ca.pem());
    let scenario = |name: &str| {
        format!(
            "host: https://127.0.0.1:{}\ntls: {{ ca: ca.pem, server_name: {name} }}\n\
             load: {{ users: 1, iterations: 2 }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: hello, get: /hello }}\n",
            addr.port()
        )
    };
    let out = run_env(&ws, &scenario("other.test"), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(u(&out.json(), "/totals/all/failed"), 0);
    let sent = names.lock().unwrap().clone();
    assert!(!sent.is_empty());
    assert!(
        sent.iter().all(|n| n.as_deref() == Some("other.test")),
        "{sent:?}"
    );

    // A name the certificate does not hold: refused, said as a user writes names.
    let out = run_env(&ws, &scenario("wrong.test"), &[]);
    let run = out.json();
    let reasons = reasons(&run);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].contains("not valid for wrong.test (it names other.test)"),
        "{}",
        reasons[0]
    );
    assert!(!reasons[0].contains("DnsName"), "{}", reasons[0]);
    assert_eq!(
        names.lock().unwrap().last().unwrap().as_deref(),
        Some("wrong.test")
    );
}

#[test]
fn http_2_answered_over_http_1_1_is_said_in_the_verdict() {
    let server = start_https(ServerTls {
        cert: self_signed(),
        alpn: vec![b"http/1.1".to_vec()],
        client_ca: None,
    });
    let ws = Workspace::new();
    let out = run_env(
        &ws,
        &format!(
            "host: {}\nhttp: 2\ntls: {{ insecure: true }}\nload: {{ users: 1, iterations: 3 }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: hello, get: /hello }}\n",
            server.https()
        ),
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    assert_eq!(server.seen.http1.load(Ordering::SeqCst), 3);
    let notes = run["verdict"]["notes"].to_string();
    assert!(
        notes.contains("http: 2 was asked for, but 3 of 3 answers came over HTTP/1.1"),
        "{notes}"
    );
    let summary = std::fs::read_to_string(out.run_dir().join("summary.txt")).unwrap();
    assert!(summary.contains("came over HTTP/1.1"), "{summary}");
}

#[test]
fn h2c_against_an_http_1_1_only_gunicorn_stops_at_once_with_what_to_change() {
    let ws = Workspace::new();
    ws.write(
        "app.py",
        "def app(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'hello']\n",
    );
    let port = free_port();
    let mut command = Command::new("gunicorn");
    command
        .args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "1",
            "app:app",
        ])
        .current_dir(ws.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _gunicorn = gander::sut::child::Guarded::spawn(&mut command).expect("gunicorn starts");
    let url = format!("http://127.0.0.1:{port}/");
    let started = std::time::Instant::now();
    while gander::sut::launch::probe(&url) != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gunicorn never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = run_env(
        &ws,
        &format!(
            "host: http://127.0.0.1:{port}\nhttp: h2c\nload: {{ users: 4, duration: 30s }}\n\
             scenarios:\n  - name: s\n    steps:\n      - {{ name: hello, get: / }}\n"
        ),
        &[],
    );
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    let reason = run["outcome"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("answers HTTP/1.1, not HTTP/2") && reason.contains("set http: 1.1"),
        "{reason}"
    );
    assert_eq!(run["verdict"]["status"], "invalid");
    // Stopped on the first connections, not after reconnecting for the run:
    // a handful of failed requests, each user's first few at most.
    let failed = u(&run, "/totals/all/failed");
    assert!((1..=4 * 4).contains(&failed), "{failed} failed requests");
    assert_eq!(u(&run, "/totals/all/unreached"), failed);
    assert!(f(&run, "/phases/total/end_s") < 15.0, "{}", run["phases"]);
    let summary = std::fs::read_to_string(out.run_dir().join("summary.txt")).unwrap();
    assert!(
        summary.contains("INVALID") && summary.contains("set http: 1.1"),
        "{summary}"
    );
}

#[test]
fn hosts_and_connect_timeout_are_checked_with_located_messages() {
    let ws = Workspace::new();
    let file = ws.write(
        "scenario.yaml",
        "host: http://api.test:8080\nload: { users: 1, iterations: 1 }\n\
         hosts: { api.test: [127.0.0.1, not-an-ip] }\ndefaults: { connect_timeout: 0s }\n\
         scenarios:\n  - name: s\n    steps:\n      - get: /\n",
    );
    let out = gander(&["check", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("scenario.yaml:3:")
            && stderr.contains("hosts.api.test: \"not-an-ip\" is not an IP address"),
        "{stderr}"
    );
    assert!(
        stderr.contains("scenario.yaml:4:") && stderr.contains("a timeout must be above 0"),
        "{stderr}"
    );
    // Written right, the same file checks.
    let good = std::fs::read_to_string(&file)
        .unwrap()
        .replace(", not-an-ip", ", \"::1\"")
        .replace("0s", "2s");
    std::fs::write(&file, good).unwrap();
    let out = gander(&["check", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn websockets_go_through_the_proxy_in_a_tunnel() {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    let (proxy, carried) = start_proxy();
    let app = Router::new().route(
        "/ws",
        get(|upgrade: WebSocketUpgrade| async move {
            upgrade.on_upgrade(|mut socket| async move {
                while let Some(Ok(Message::Text(text))) = socket.recv().await {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
            })
        }),
    );
    let addr = serve_router(None, app);
    let port = addr.port();
    let ws = Workspace::new();
    let scenario = format!(
        "host: http://sut.test:{port}\nload: {{ users: 2, iterations: 2 }}\n\
         scenarios:\n  - name: s\n    steps:\n      - name: chat\n        ws: /ws\n        \
         messages:\n          - {{ name: hello, send: hello, expect: {{ contains: hello, within: 2s }} }}\n"
    );
    let out = run_env(
        &ws,
        &scenario,
        &[("HTTP_PROXY", format!("http://127.0.0.1:{}", proxy.port()))],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    // One tunnel per socket (a WebSocket is never sent to a proxy in absolute form).
    assert_eq!(carried.count(&format!("CONNECT sut.test:{port}")), 4);
    assert_eq!(carried.lines().len(), 4, "{:?}", carried.lines());
}
