use serde_json::{Value, json};

use super::super::{Input, Origin, self_check};
use super::*;

/// One HAR entry; the arguments are the fields of a recorded exchange, in order.
#[allow(clippy::too_many_arguments)]
fn entry(
    at_ms: i64,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
    status: i64,
    response_headers: &[(&str, &str)],
    response: (&str, &str),
) -> Value {
    let started = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00.000+00:00").unwrap()
        + chrono::Duration::milliseconds(at_ms);
    let nv = |list: &[(&str, &str)]| -> Vec<Value> {
        list.iter()
            .map(|(n, v)| json!({ "name": n, "value": v }))
            .collect()
    };
    let mut request = json!({ "method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": nv(headers),
                              "queryString": [], "cookies": [], "headersSize": -1, "bodySize": -1 });
    if let Some((mime, text)) = body {
        request["postData"] = json!({ "mimeType": mime, "text": text });
    }
    json!({
        "startedDateTime": started.to_rfc3339(),
        "time": 20.0,
        "request": request,
        "response": { "status": status, "statusText": "", "httpVersion": "HTTP/1.1", "headers": nv(response_headers),
                      "cookies": [], "content": { "size": response.1.len(), "mimeType": response.0, "text": response.1 },
                      "redirectURL": "", "headersSize": -1, "bodySize": -1 },
        "cache": {}, "timings": { "send": 0, "wait": 20, "receive": 0 }
    })
}

fn har(entries: Vec<Value>) -> Input {
    let doc = json!({ "log": { "version": "1.2", "creator": { "name": "test", "version": "1" }, "entries": entries } });
    Input {
        origin: Origin::File("session.har".into()),
        text: serde_json::to_string_pretty(&doc).unwrap(),
    }
}

/// The YAML without comments: what gander reads.
fn code(yaml: &str) -> String {
    yaml.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split("  # ").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

const TOKEN: &str = "tok_9f8e7d6c5b4a3921";
const SID: &str = "s3ss10n-42abc";
const CSRF: &str = "c5rf0a1b2c3d4e5f6a7b";

/// A recorded session: the login page, its assets, the login, then the API.
fn session() -> Vec<Value> {
    let html = format!(
        "<html><form><input type=\"hidden\" name=\"csrf_token\" value=\"{CSRF}\"></form></html>"
    );
    let mut entries = vec![
        entry(
            0,
            "GET",
            "http://127.0.0.1:8080/login",
            &[],
            None,
            200,
            &[],
            ("text/html", &html),
        ),
        entry(
            30,
            "GET",
            "http://127.0.0.1:8080/static/app.js",
            &[],
            None,
            200,
            &[],
            ("application/javascript", "x()"),
        ),
        entry(
            35,
            "GET",
            "https://fonts.example.net/font.woff2",
            &[],
            None,
            200,
            &[],
            ("font/woff2", ""),
        ),
        entry(
            2000,
            "POST",
            "http://127.0.0.1:8080/api/login",
            &[
                ("Content-Type", "application/json"),
                ("X-CSRF-Token", CSRF),
                ("User-Agent", "Mozilla"),
            ],
            Some((
                "application/json",
                r#"{"username":"staff1","password":"pa$${ss"}"#,
            )),
            200,
            &[
                ("Set-Cookie", &format!("sid={SID}; Path=/; HttpOnly")),
                ("Content-Type", "application/json"),
            ],
            (
                "application/json",
                &format!(r#"{{"token":"{TOKEN}","token_type":"bearer"}}"#),
            ),
        ),
    ];
    entries.extend(after_login());
    entries
}

/// The session after the login: a preflight, a list, a detail and a write.
fn after_login() -> Vec<Value> {
    vec![
        entry(
            4000,
            "OPTIONS",
            "http://127.0.0.1:8080/api/bookings",
            &[],
            None,
            204,
            &[],
            ("text/plain", ""),
        ),
        entry(
            4100,
            "GET",
            "http://127.0.0.1:8080/api/bookings?status=confirmed&page=1",
            &[
                ("Authorization", &format!("Bearer {TOKEN}")),
                ("Cookie", &format!("sid={SID}; theme=dark")),
            ],
            None,
            200,
            &[],
            (
                "application/json",
                r#"{"items":[{"id":4711,"status":"confirmed"},{"id":4712,"status":"confirmed"}],"page":1}"#,
            ),
        ),
        entry(
            9000,
            "GET",
            "http://127.0.0.1:8080/api/bookings/4711",
            &[
                ("Authorization", &format!("Bearer {TOKEN}")),
                ("Cookie", &format!("sid={SID}; theme=dark")),
            ],
            None,
            200,
            &[],
            ("application/json", r#"{"id":4711,"client":"Anna"}"#),
        ),
        entry(
            9500,
            "POST",
            "http://127.0.0.1:8080/api/bookings",
            &[
                ("Authorization", &format!("Bearer {TOKEN}")),
                ("Content-Type", "application/json"),
            ],
            Some(("application/json", r#"{"booking":4711,"note":"again"}"#)),
            201,
            &[],
            ("application/json", r#"{"id":5000}"#),
        ),
    ]
}

#[test]
fn a_session_keeps_its_own_requests_and_captures_what_it_sends_back() {
    let g = import(&har(session()), &HarOptions::default()).unwrap();
    self_check(&g.yaml).unwrap_or_else(|e| panic!("{e}\n{}", g.yaml));
    let y = &g.yaml;
    let c = code(y);
    // No handed-out value is hard-coded.
    for value in [TOKEN, SID, CSRF, "/api/bookings/4711"] {
        assert!(!c.contains(value), "{value} is hard-coded:\n{y}");
    }
    // Where each was first seen.
    assert!(c.contains("token: { json: \"/token\" }"), "{y}");
    assert!(c.contains("sid: { cookie: \"sid\" }"), "{y}");
    assert!(c.contains("csrf_token: { regex: "), "{y}");
    assert!(c.contains("booking_id: { json: \"/items/0/id\" }"), "{y}");
    // And how it goes back.
    assert!(c.contains("Authorization: \"Bearer ${token}\""), "{y}");
    assert!(c.contains("Cookie: \"sid=${sid}; theme=dark\""), "{y}");
    assert!(c.contains("X-CSRF-Token: \"${csrf_token}\""), "{y}");
    assert!(c.contains("get: \"/api/bookings/${booking_id}\""), "{y}");
    // A cookie no response set stays as recorded, and says so.
    assert!(
        y.contains("hard-coded: theme not set by a recorded response"),
        "{y}"
    );
    // A number in a JSON body is not replaced (it would be sent as a string).
    assert!(c.contains("booking: 4711"), "{y}");
    assert!(y.contains("hard-coded: the numbers at /booking"), "{y}");
    // Static assets, other hosts and the preflight are left out; the browser's headers too.
    assert!(
        !c.contains("app.js") && !c.contains("fonts.example.net") && !c.contains("User-Agent"),
        "{y}"
    );
    assert!(y.contains("fonts.example.net (1)"), "{y}");
    // The login and what came before it run once per user; the password is a variable.
    let on_start = y.find("on_start:").unwrap();
    let steps = y.find("    steps:").unwrap();
    assert!(y[on_start..steps].contains("post: \"/api/login\""), "{y}");
    assert!(c.contains("password: \"${password}\""), "{y}");
    assert!(c.contains("password: \"pa$$${ss\""), "{y}");
    // Think time from the recorded pauses (0.48 s to 4.88 s, rounded down to 100 ms).
    assert!(c.contains("think_time: 400ms..4800ms"), "{y}");
    assert!(c.contains("expect: { status: 201 }"), "{y}");

    let plan = super::super::super::scenario::load(
        &{
            let dir = tempfile::tempdir().unwrap().keep();
            let p = dir.join("s.yaml");
            std::fs::write(&p, y).unwrap();
            p
        },
        &Default::default(),
    )
    .unwrap();
    assert_eq!(plan.scenarios[0].on_start.len(), 2);
    assert_eq!(plan.scenarios[0].steps.len(), 3);
}

#[test]
fn include_host_and_include_static_keep_more() {
    let options = HarOptions {
        include_hosts: vec!["https://fonts.example.net/".into()],
        include_static: true,
        ..HarOptions::default()
    };
    let g = import(&har(session()), &options).unwrap();
    self_check(&g.yaml).unwrap();
    let c = code(&g.yaml);
    assert!(c.contains("get: \"/static/app.js\""), "{}", g.yaml);
    assert!(
        c.contains("get: \"https://fonts.example.net/font.woff2\""),
        "{}",
        g.yaml
    );
}

#[test]
fn a_value_the_client_sent_first_is_not_correlated() {
    let entries = vec![
        entry(
            0,
            "GET",
            "http://h/api/search?q=ab12cd34",
            &[],
            None,
            200,
            &[],
            ("application/json", r#"{"q":"ab12cd34"}"#),
        ),
        entry(
            500,
            "GET",
            "http://h/api/search?q=ab12cd34&page=2",
            &[],
            None,
            200,
            &[],
            ("application/json", "{}"),
        ),
    ];
    let g = import(&har(entries), &HarOptions::default()).unwrap();
    assert!(!g.yaml.contains("capture:"), "{}", g.yaml);
    assert!(code(&g.yaml).contains("q=ab12cd34&page=2"), "{}", g.yaml);
}

#[test]
fn a_redirect_and_its_target_are_one_step() {
    let entries = vec![
        entry(
            0,
            "POST",
            "http://h/login",
            &[],
            Some(("application/x-www-form-urlencoded", "user=ann&password=pw1")),
            302,
            &[
                ("Location", "/home"),
                ("Set-Cookie", "sid=abcdef123456; Path=/"),
            ],
            ("text/html", ""),
        ),
        entry(
            50,
            "GET",
            "http://h/home",
            &[("Cookie", "sid=abcdef123456")],
            None,
            200,
            &[],
            ("text/html", "<p>hi</p>"),
        ),
        entry(
            900,
            "GET",
            "http://h/account",
            &[("Cookie", "sid=abcdef123456")],
            None,
            200,
            &[],
            ("text/html", "<p>me</p>"),
        ),
    ];
    let g = import(&har(entries), &HarOptions::default()).unwrap();
    self_check(&g.yaml).unwrap();
    let c = code(&g.yaml);
    assert!(!c.contains("/home"), "{}", g.yaml);
    assert!(!c.contains("Cookie"), "{}", g.yaml);
    assert!(g.yaml.contains("cookie jar"), "{}", g.yaml);
    assert!(c.contains("password: \"${password}\""), "{}", g.yaml);
    assert!(c.contains("expect: { status: 200 }"), "{}", g.yaml);
}

#[test]
fn recordings_that_are_not_usable_say_why() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "log": { "version": "1.2", "entries": [] } }),
            "has no entries",
            "Network tab",
        ),
        (
            json!({ "log": { "version": "1.2" } }),
            "\"log\" has no \"entries\"",
            "Save all as HAR",
        ),
        (
            json!({ "openapi": "3.1.0" }),
            "no \"log\"",
            "gander import openapi",
        ),
        (
            json!({ "log": { "entries": [{ "request": {} }] } }),
            "entry 0 is not a HAR entry",
            "request { method, url }",
        ),
    ];
    for (doc, message, help) in cases {
        let input = Input {
            origin: Origin::File("rec.har".into()),
            text: serde_json::to_string_pretty(&doc).unwrap(),
        };
        let e = import(&input, &HarOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("rec.har"), "{e}");
        assert!(e.contains(message), "{message}: {e}");
        assert!(e.contains(help), "{help}: {e}");
    }
    // Every request left out: the help names the hosts that were seen.
    let entries = vec![entry(
        0,
        "GET",
        "http://h/a.css",
        &[],
        None,
        200,
        &[],
        ("text/css", "a{}"),
    )];
    let e = import(&har(entries), &HarOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("left out") && e.contains("--include-static"),
        "{e}"
    );
}

/// A token handed out by a request that is left out (an identity provider on
/// another host) is hard-coded, and the comment names that request and the fix;
/// a token nothing handed out says so.
#[test]
fn a_hard_coded_token_says_which_response_handed_it_out() {
    let api_call = |at: i64, token: &str| {
        entry(
            at,
            "GET",
            "http://127.0.0.1:8080/api/me",
            &[("Authorization", &format!("Bearer {token}"))],
            None,
            200,
            &[],
            ("application/json", r#"{"name":"Anna"}"#),
        )
    };
    let entries = vec![
        entry(
            0,
            "GET",
            "http://127.0.0.1:8080/",
            &[],
            None,
            200,
            &[],
            ("text/html", "<html></html>"),
        ),
        entry(
            100,
            "POST",
            "https://auth.example.net/token",
            &[],
            Some(("application/json", r#"{"username":"ann"}"#)),
            200,
            &[],
            (
                "application/json",
                &format!(r#"{{"access_token":"{TOKEN}"}}"#),
            ),
        ),
        api_call(300, TOKEN),
        api_call(600, "never_handed_out_42x"),
    ];
    let g = import(&har(entries.clone()), &HarOptions::default()).unwrap();
    let y = &g.yaml;
    assert!(
        y.contains("hard-coded: request 2 (POST https://auth.example.net/token) handed this value out, but it is left out; --include-host auth.example.net keeps it"),
        "{y}"
    );
    assert_eq!(
        y.matches("hard-coded: no recorded response handed this value out")
            .count(),
        1,
        "{y}"
    );
    // With the host kept, the token is captured instead.
    let options = HarOptions {
        include_hosts: vec!["auth.example.net".into()],
        ..HarOptions::default()
    };
    let g = import(&har(entries), &options).unwrap();
    assert!(
        code(&g.yaml).contains("Bearer ${access_token}"),
        "{}",
        g.yaml
    );
}

/// A recording larger than the 16 MiB an API document may weigh is read (as a
/// stream); one larger than `MAX_HAR` is refused with a hint for HAR files.
#[test]
fn large_recordings_are_read_and_too_large_ones_refused_with_a_har_hint() {
    let dir = tempfile::tempdir().unwrap();
    let big = "x".repeat(24 * 1024 * 1024);
    let mut entries = session();
    entries[0]["response"]["content"]["text"] = Value::String(big);
    let doc = json!({ "log": { "version": "1.2", "entries": entries } });
    let path = dir.path().join("big.har");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > super::super::MAX_INPUT as u64);
    let g = import_file(&path, &HarOptions::default()).unwrap();
    self_check(&g.yaml).unwrap();
    assert!(
        g.summary[0].starts_with("5 steps from 8 recorded requests"),
        "{:?}",
        g.summary
    );

    let huge = dir.path().join("huge.har");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(MAX_HAR + 1).unwrap(); // sparse: no disk used
    let e = import_file(&huge, &HarOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("huge.har is larger than 512 MiB"), "{e}");
    assert!(e.contains("HAR (sanitized)") && !e.contains("$ref"), "{e}");
}
