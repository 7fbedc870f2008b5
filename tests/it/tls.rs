//! HTTPS staging servers and HTTP/2: a self-signed server, a private CA,
//! mutual TLS, an HTTP/2-only server (ALPN h2) and h2c, all on 127.0.0.1 with
//! certificates made at test time.

use std::sync::atomic::Ordering;

use crate::common::tls::*;
use crate::common::*;

fn scenario(host: &str, extra: &str) -> String {
    format!(
        "host: {host}\nload: {{ users: 2, iterations: 3 }}\n{extra}\
         scenarios:\n  - name: s\n    steps:\n      - {{ name: hello, get: /hello }}\n"
    )
}

fn error_reasons(run: &serde_json::Value) -> Vec<String> {
    run["errors"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["reason"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tls_self_signed_server_fails_with_an_actionable_reason_and_passes_with_ca_or_insecure() {
    let cert = self_signed();
    let server = start_https(ServerTls {
        cert: cert.clone(),
        alpn: vec![b"http/1.1".to_vec()],
        client_ca: None,
    });
    let ws = Workspace::new();
    ws.write("server.pem", &cert.cert);

    // By default: every request fails, under one reason that says what to do.
    let out = ws.run(&scenario(&server.https(), ""), &["--quiet"]);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 6, "{}", out.stderr);
    let reasons = error_reasons(&run);
    assert_eq!(
        reasons.len(),
        1,
        "one reason for every connection: {reasons:?}"
    );
    let reason = &reasons[0];
    assert!(
        reason.starts_with("certificate for 127.0.0.1 is signed by an unknown authority")
            && reason.contains("self-signed")
            && reason.contains("tls.ca")
            && reason.contains("tls.insecure: true"),
        "{reason}"
    );
    assert!(
        !reason.contains("UnknownIssuer") && !reason.contains("https://"),
        "{reason}"
    );
    assert_eq!(server.seen.requests(), 0);
    let summary = std::fs::read_to_string(out.run_dir().join("summary.txt")).unwrap();
    assert!(
        summary.contains("signed by an unknown authority"),
        "{summary}"
    );

    // Trusting the server's certificate with tls.ca.
    let out = ws.run(
        &scenario(&server.https(), "tls: { ca: server.pem }\n"),
        &["--quiet"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(server.seen.requests(), 6);
    assert_eq!(run["plan"]["tls"]["ca"], "server.pem");
    assert_complete_run_dir(&out.run_dir());

    // The same from the command line.
    let ca = ws.path().join("server.pem");
    let out = ws.run(
        &scenario(&server.https(), ""),
        &["--quiet", "--ca", ca.to_str().unwrap()],
    );
    assert_eq!(u(&out.json(), "/totals/all/failed"), 0);
    assert_eq!(server.seen.requests(), 12);

    // Without verification: passes, and every report says it was not verified.
    let out = ws.run(&scenario(&server.https(), "tls: { insecure: true }\n"), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0);
    assert_eq!(server.seen.requests(), 18);
    let notes = run["verdict"]["notes"].to_string();
    assert!(notes.contains("NOT verified"), "{notes}");
    for file in ["summary.txt", "summary.md", "report.html"] {
        let text = std::fs::read_to_string(out.run_dir().join(file)).unwrap();
        assert!(text.contains("NOT verified"), "{file} does not warn");
    }
    assert!(out.stdout.contains("NOT verified"), "{}", out.stdout);
    let out = ws.run(&scenario(&server.https(), ""), &["--quiet", "--insecure"]);
    assert_eq!(u(&out.json(), "/totals/all/failed"), 0);
}

#[test]
fn tls_private_ca_and_mutual_tls_pass_with_the_client_certificate_and_fail_without() {
    let server_ca = TestCa::new("gander test server CA");
    let client_ca = TestCa::new("gander test client CA");
    let server = start_https(ServerTls {
        cert: server_ca.sign(&["127.0.0.1"]),
        alpn: vec![b"http/1.1".to_vec()],
        client_ca: Some(client_ca.pem()),
    });
    let ws = Workspace::new();
    ws.write("ca.pem", &server_ca.pem());
    let client = client_ca.sign(&["receptionist"]);
    ws.write("client.pem", &client.cert);
    ws.write("client.key", &client.key);
    let stranger = TestCa::new("someone else").sign(&["receptionist"]);
    ws.write("stranger.pem", &stranger.cert);
    ws.write("stranger.key", &stranger.key);

    let mutual = "tls: { ca: ca.pem, client_cert: client.pem, client_key: client.key }\n";
    let out = ws.run(&scenario(&server.https(), mutual), &["--quiet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(server.seen.requests(), 6);
    assert_eq!(run["plan"]["tls"]["client_cert"], "client.pem");
    // The key's contents are nowhere in what was written.
    let key_line = client.key.lines().nth(1).unwrap();
    for entry in std::fs::read_dir(out.run_dir()).unwrap() {
        let text = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&text).contains(key_line));
    }

    // Without a client certificate: refused, and the reason says what is missing.
    let out = ws.run(
        &scenario(&server.https(), "tls: { ca: ca.pem }\n"),
        &["--quiet"],
    );
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 6, "{}", out.stderr);
    let reasons = error_reasons(&run);
    // With TLS 1.3 the server's alert comes after the client's handshake, under
    // the first request: the reason is the error the connection ended with.
    let actionable = |r: &String| r.contains("client certificate") && r.contains("tls.client_cert");
    assert!(reasons.iter().all(actionable), "{reasons:?}");
    assert_eq!(server.seen.requests(), 6);

    // A certificate the server does not trust.
    let out = ws.run(
        &scenario(
            &server.https(),
            "tls: { ca: ca.pem, client_cert: stranger.pem, client_key: stranger.key }\n",
        ),
        &["--quiet"],
    );
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 6);
    let reasons = error_reasons(&run);
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("refused the client certificate")),
        "{reasons:?}"
    );
    assert_eq!(server.seen.requests(), 6);
}

#[test]
fn http2_only_server_passes_with_http_2_and_its_answers_are_recorded_as_http2() {
    let ca = TestCa::new("gander test CA");
    let server = start_https(ServerTls {
        cert: ca.sign(&["127.0.0.1"]),
        alpn: vec![b"h2".to_vec()],
        client_ca: None,
    });
    let ws = Workspace::new();
    ws.write("ca.pem", &ca.pem());

    let out = ws.run(
        &scenario(&server.https(), "http: 2\ntls: { ca: ca.pem }\n"),
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(server.seen.http2.load(Ordering::SeqCst), 6);
    assert_eq!(
        u(endpoint(&run, "hello"), "/stats/all/protocols/HTTP~12"),
        6
    );
    assert_eq!(u(&run, "/totals/all/protocols/HTTP~12"), 6);
    assert_eq!(run["plan"]["http"], "2");
    assert!(out.stdout.contains("HTTP/2"), "{}", out.stdout);
    let md = std::fs::read_to_string(out.run_dir().join("summary.md")).unwrap();
    assert!(md.contains("| protocol |") && md.contains("HTTP/2"), "{md}");
    let csv = std::fs::read_to_string(out.run_dir().join("endpoints.csv")).unwrap();
    assert!(csv.contains("HTTP/2=6"), "{csv}");
    let junit = std::fs::read_to_string(out.run_dir().join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"name="protocols" value="HTTP/2=6""#)
            && junit.contains(r#"name="http" value="2""#),
        "{junit}"
    );
    let html = std::fs::read_to_string(out.run_dir().join("report.html")).unwrap();
    assert!(
        html.contains("<th data-type=\"text\">protocol</th>"),
        "no protocol column"
    );
    assert_complete_run_dir(&out.run_dir());

    // HTTP/1.1 (the default) is refused by ALPN: the reason names the fix.
    let out = ws.run(
        &scenario(&server.https(), "tls: { ca: ca.pem }\n"),
        &["--quiet"],
    );
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 6);
    let reasons = error_reasons(&run);
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("ALPN") && r.contains("http: 2")),
        "{reasons:?}"
    );

    // A server offering both: `http: 2` gets HTTP/2, the default stays on HTTP/1.1.
    let both = start_https(ServerTls {
        cert: ca.sign(&["127.0.0.1"]),
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        client_ca: None,
    });
    let out = ws.run(
        &scenario(&both.https(), "tls: { ca: ca.pem }\n"),
        &["--quiet"],
    );
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/protocols/HTTP~11.1"), 6);
    assert_eq!(both.seen.http1.load(Ordering::SeqCst), 6);
    let out = ws.run(
        &scenario(&both.https(), "tls: { ca: ca.pem }\n"),
        &["--quiet", "--http", "2"],
    );
    assert_eq!(u(&out.json(), "/totals/all/protocols/HTTP~12"), 6);
    assert_eq!(both.seen.http2.load(Ordering::SeqCst), 6);
}

#[test]
fn h2c_server_passes_with_http_h2c() {
    let server = start_h2c();
    let ws = Workspace::new();
    let out = ws.run(&scenario(&server.http(), "http: h2c\n"), &["--quiet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = out.json();
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(server.seen.http2.load(Ordering::SeqCst), 6);
    assert_eq!(
        u(endpoint(&run, "hello"), "/stats/all/protocols/HTTP~12"),
        6
    );
    assert_eq!(run["plan"]["http"], "h2c");
    // Unchanged by default: HTTP/1.1.
    let out = ws.run(&scenario(&server.http(), ""), &["--quiet"]);
    assert_eq!(u(&out.json(), "/totals/all/protocols/HTTP~11.1"), 6);
    assert_eq!(server.seen.http1.load(Ordering::SeqCst), 6);
}
