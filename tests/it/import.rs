//! `gander import`: scenarios written from a real FastAPI application's
//! OpenAPI document, from the demo SUT's own document, and from a HAR file
//! recorded from real requests, each checked and run with 50 users against a
//! live server; broken inputs exit 2 with the place and the fix.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use gander::DemoSut;

/// Runs gander with extra environment variables, bounded in time.
fn gander_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(gander_bin());
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    wait_bounded(
        command.spawn().expect("gander starts"),
        Duration::from_secs(120),
    )
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `gander import ARGS -o FILE`: the file's text; the import must succeed.
fn import(ws: &Workspace, args: &[&str], file: &str) -> (PathBuf, String) {
    let path = ws.path().join(file);
    let mut all: Vec<&str> = vec!["import"];
    all.extend(args);
    let p = path.display().to_string();
    all.extend(["-o", &p]);
    let out = gander_env(&all, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("passes gander check"), "{stderr}");
    let yaml = std::fs::read_to_string(&path).unwrap();
    (path, yaml)
}

/// `gander check FILE` exits 0.
fn assert_checks(path: &Path) {
    let out = gander_env(&["check", &path.display().to_string()], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(": ok ("), "{stdout}");
}

/// Iterations per user in the 50-user runs: every step runs exactly 50 × this.
const ITERATIONS: u64 = 2;

/// A bounded 50-user run of `file`, each user going through its steps
/// `ITERATIONS` times; its run.json.
fn run_50_users(ws: &Workspace, file: &Path, extra: &[&str], env: &[(&str, &str)]) -> Value {
    let reports = ws.reports().display().to_string();
    let f = file.display().to_string();
    let iterations = ITERATIONS.to_string();
    let mut args = vec![
        "run",
        &f,
        "--users",
        "50",
        "--ramp-up",
        "2s",
        "--iterations",
        &iterations,
        "-o",
        &reports,
        "--quiet",
    ];
    args.extend(extra);
    let out = RunOutput::new(gander_env(&args, env));
    if out.code != 0 {
        let why = std::panic::catch_unwind(|| out.json())
            .map(|run| format!("verdict: {}\nerrors: {}", run["verdict"], run["errors"]))
            .unwrap_or_default();
        panic!("exit {}\n{}\n{}\n{why}", out.code, out.stdout, out.stderr);
    }
    out.json()
}

/// The lines gander reads (comments dropped).
fn code(yaml: &str) -> String {
    yaml.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split("  # ").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `on_start:` part of a generated file.
fn on_start(yaml: &str) -> &str {
    let from = yaml.find("    on_start:").expect("an on_start block");
    let to = yaml.find("    steps:").expect("a steps block");
    &yaml[from..to]
}

fn requests(run: &Value, name: &str) -> u64 {
    u(endpoint(run, name), "/stats/all/requests")
}

fn failed(run: &Value, name: &str) -> u64 {
    let e = endpoint(run, name);
    u(e, "/stats/all/failed") + u(e, "/stats/all/not_sent")
}

// ---- a tiny HTTP/1.1 client, for readiness polls and for recording a HAR ----

struct Exchange {
    method: String,
    url: String,
    request_headers: Vec<(String, String)>,
    request_body: Option<(String, String)>,
    status: u16,
    response_headers: Vec<(String, String)>,
    response_body: String,
    started: chrono::DateTime<chrono::Utc>,
    millis: f64,
}

/// One request on its own connection (`Connection: close`), read to the end.
fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> std::io::Result<Exchange> {
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let mut request_headers = vec![("Host".to_string(), addr.to_string())];
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
        request_headers.push((k.to_string(), v.to_string()));
    }
    if let Some((mime, text)) = body {
        request.push_str(&format!(
            "Content-Type: {mime}\r\nContent-Length: {}\r\n",
            text.len()
        ));
        request_headers.push(("Content-Type".into(), mime.into()));
    }
    request.push_str("\r\n");
    if let Some((_, text)) = body {
        request.push_str(text);
    }
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let millis = clock.elapsed().as_secs_f64() * 1000.0;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut payload = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let response_headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = response_headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = payload.as_slice();
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16)
                .unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 2 + size + 2..];
        }
        payload = out;
    }
    Ok(Exchange {
        method: method.into(),
        url: format!("{base}{path}"),
        request_headers,
        request_body: body.map(|(m, t)| (m.to_string(), t.to_string())),
        status,
        response_headers,
        response_body: String::from_utf8_lossy(&payload).into_owned(),
        started,
        millis,
    })
}

/// Polls `url` until it answers 2xx, for at most 30 s.
fn wait_ready(base: &str, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(x) = http(base, "GET", path, &[], None)
            && (200..300).contains(&x.status)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base}{path} not ready within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A HAR 1.2 document of the exchanges, as a browser would save it.
fn har(exchanges: &[Exchange]) -> Value {
    let nv = |list: &[(String, String)]| -> Vec<Value> {
        list.iter()
            .map(|(n, v)| json!({ "name": n, "value": v }))
            .collect()
    };
    let entries: Vec<Value> = exchanges
        .iter()
        .map(|x| {
            let url = reqwest_free_query(&x.url);
            let mut request = json!({
                "method": x.method, "url": x.url, "httpVersion": "HTTP/1.1",
                "headers": nv(&x.request_headers), "queryString": url, "cookies": [],
                "headersSize": -1, "bodySize": x.request_body.as_ref().map_or(0, |(_, t)| t.len())
            });
            if let Some((mime, text)) = &x.request_body {
                request["postData"] = json!({ "mimeType": mime, "text": text });
            }
            let mime = x
                .response_headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            json!({
                "startedDateTime": x.started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "time": x.millis,
                "request": request,
                "response": {
                    "status": x.status, "statusText": "", "httpVersion": "HTTP/1.1",
                    "headers": nv(&x.response_headers), "cookies": [],
                    "content": { "size": x.response_body.len(), "mimeType": mime, "text": x.response_body },
                    "redirectURL": "", "headersSize": -1, "bodySize": x.response_body.len()
                },
                "cache": {},
                "timings": { "send": 0, "wait": x.millis, "receive": 0 }
            })
        })
        .collect();
    json!({ "log": {
        "version": "1.2",
        "creator": { "name": "gander tests", "version": "1" },
        "pages": [],
        "entries": entries
    } })
}

/// HAR's `queryString` list for a URL.
fn reqwest_free_query(url: &str) -> Vec<Value> {
    url.split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter_map(|p| p.split_once('='))
                .map(|(n, v)| json!({ "name": n, "value": v }))
                .collect()
        })
        .unwrap_or_default()
}

fn json_body(x: &Exchange) -> Value {
    serde_json::from_str(&x.response_body)
        .unwrap_or_else(|e| panic!("{} {}: {e}: {}", x.method, x.url, x.response_body))
}

// ---- OpenAPI: a real FastAPI application under uvicorn ----

fn start_fastapi() -> (gander::sut::child::Guarded, String) {
    let have = Command::new("python3")
        .args(["-c", "import fastapi, uvicorn, python_multipart"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        have,
        "fastapi, uvicorn and python-multipart are not installed: run scripts/setup-test-deps"
    );
    let (child, url) = start_fixture(
        Command::new("python3")
            .arg(fixtures().join("fastapi-app/app.py"))
            .args(["--port", "0"]),
    );
    wait_ready(&url, "/health");
    (child, url)
}

#[test]
fn import_openapi_from_a_fastapi_app_runs_50_users_without_errors() {
    let (_app, url) = start_fastapi();
    let ws = Workspace::new();
    let doc = format!("{url}/openapi.json");

    // By default only reads: the POST is written commented out.
    let (_, reads) = import(&ws, &["openapi", &doc], "reads.yaml");
    assert!(!code(&reads).contains("create_item"), "{reads}");
    assert!(
        reads.contains("# - name: \"create_item_items_post\""),
        "{reads}"
    );

    let (file, yaml) = import(&ws, &["openapi", &doc, "--include-writes"], "pantry.yaml");
    assert_checks(&file);
    let c = code(&yaml);
    // The OAuth2 password login, once per user, its token sent as a bearer token.
    let login = on_start(&yaml);
    assert!(login.contains("post: \"/token\""), "{yaml}");
    assert!(
        login.contains("token: { json: \"/access_token\" }"),
        "{yaml}"
    );
    assert!(c.contains("Authorization: \"Bearer ${token}\""), "{yaml}");
    // Detail routes fed from their list routes: an array at the root, and one under "results".
    assert!(c.contains("item_id: { json: \"/0/id\" }"), "{yaml}");
    assert!(c.contains("get: \"/items/${item_id}\""), "{yaml}");
    assert!(
        c.contains("order_id: { json: \"/results/0/order_id\" }"),
        "{yaml}"
    );
    assert!(c.contains("get: \"/orders/${order_id}\""), "{yaml}");
    // The POST with a body made from the pydantic schema.
    assert!(c.contains("post: \"/items\""), "{yaml}");
    assert!(c.contains("expect: { status: 201 }"), "{yaml}");
    assert!(yaml.contains("guess:"), "{yaml}");

    // The document gives no example login: the credentials come from the environment.
    let env = [("API_USERNAME", "alice"), ("API_PASSWORD", "wonderland")];
    let run = run_50_users(&ws, &file, &[], &env);
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(u(&run, "/totals/all/not_sent"), 0, "{}", run["errors"]);
    assert_eq!(requests(&run, "login_token_post"), 50);
    for name in [
        "list_items_items_get",
        "get_item_items__item_id__get",
        "list_orders_orders_get",
        "get_order_orders__order_id__get",
        "create_item_items_post",
    ] {
        assert_eq!(requests(&run, name), 50 * ITERATIONS, "{name}");
        assert_eq!(failed(&run, name), 0, "{name}");
    }

    // What the application saw: one new token per user, no error answered, and
    // every detail request asked for an id its list had returned.
    let counts = json_body(&http(&url, "GET", "/_counts", &[], None).unwrap());
    let seen = counts["requests"].as_object().unwrap();
    let count = |key: &str| seen.get(key).and_then(Value::as_u64).unwrap_or(0);
    assert_eq!(count("POST /token 200"), 50, "{counts}");
    assert_eq!(counts["tokens_issued"], 50, "{counts}");
    let errors: Vec<&String> = seen
        .keys()
        .filter(|k| {
            k.rsplit(' ')
                .next()
                .is_some_and(|s| s.starts_with('4') || s.starts_with('5'))
        })
        .collect();
    assert!(
        errors.is_empty(),
        "the application answered errors: {counts}"
    );
    assert_eq!(
        count("GET /items/{item_id} 200"),
        50 * ITERATIONS,
        "{counts}"
    );
    assert_eq!(
        count("GET /orders/{order_id} 200"),
        50 * ITERATIONS,
        "{counts}"
    );
    assert_eq!(count("POST /items 201"), 50 * ITERATIONS, "{counts}");
    let known: Vec<u64> = counts["item_ids"]
        .as_array()
        .unwrap()
        .iter()
        .chain(counts["order_ids"].as_array().unwrap())
        .filter_map(Value::as_u64)
        .collect();
    let details = counts["detail_ids"].as_object().unwrap();
    assert!(!details.is_empty());
    for key in details.keys() {
        let id: u64 = key.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(known.contains(&id), "{key} was never listed: {counts}");
    }
}

// ---- OpenAPI: the demo SUT's own document ----

#[test]
fn import_openapi_from_the_demo_runs_50_users_without_errors() {
    let sut = DemoSut::start(&demo_program(), false).expect("demo SUT starts");
    let ws = Workspace::new();
    let (file, yaml) = import(
        &ws,
        &["openapi", &format!("{}/openapi.json", sut.url)],
        "demo.yaml",
    );
    assert_checks(&file);
    let c = code(&yaml);
    let login = on_start(&yaml);
    assert!(login.contains("post: \"/api/login\""), "{yaml}");
    assert!(login.contains("token: { json: \"/token\" }"), "{yaml}");
    assert!(
        c.contains("booking_id: { json: \"/items/0/id\" }"),
        "{yaml}"
    );
    assert!(c.contains("get: \"/api/bookings/${booking_id}\""), "{yaml}");
    assert!(
        c.contains("question_id: { json: \"/items/0/id\" }"),
        "{yaml}"
    );
    // The profiler endpoint is marked x-internal and the writes are left out.
    assert!(
        !c.contains("/debug/pprof") && !c.contains("post: \"/api/bookings\""),
        "{yaml}"
    );
    // The admin API's token is not something a login hands out: it comes from the environment.
    assert!(
        c.contains("admin_token: \"${env.ADMIN_TOKEN:-}\""),
        "{yaml}"
    );

    let run = run_50_users(&ws, &file, &[], &[("ADMIN_TOKEN", "demo-admin-token")]);
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(u(&run, "/totals/all/not_sent"), 0, "{}", run["errors"]);
    assert_eq!(requests(&run, "login"), 50);
    for name in [
        "listBookings",
        "getBooking",
        "listQuizQuestions",
        "getQuizQuestion",
        "adminMetrics",
    ] {
        assert_eq!(requests(&run, name), 50 * ITERATIONS, "{name}");
        assert_eq!(failed(&run, name), 0, "{name}");
    }
}

// ---- HAR: a session recorded from real requests ----

/// Logs in to the demo SUT and browses as a receptionist would, recording each exchange.
fn record_demo_session(base: &str) -> (Vec<Exchange>, String) {
    let mut out = Vec::new();
    let pause = || std::thread::sleep(Duration::from_millis(150));
    let login = http(
        base,
        "POST",
        "/api/login",
        &[("Accept", "application/json")],
        Some((
            "application/json",
            r#"{"username":"staff3","password":"pass3"}"#,
        )),
    )
    .unwrap();
    assert_eq!(login.status, 200, "{}", login.response_body);
    let token = json_body(&login)["token"].as_str().unwrap().to_string();
    out.push(login);
    pause();
    let auth = format!("Bearer {token}");
    let list = http(
        base,
        "GET",
        "/api/bookings?status=confirmed&page=2",
        &[("Authorization", &auth)],
        None,
    )
    .unwrap();
    assert_eq!(list.status, 200);
    let id = json_body(&list)["items"][0]["id"].as_i64().unwrap();
    out.push(list);
    // The browser also fetches the page's script: a static asset.
    out.push(http(base, "GET", "/static/app.js", &[], None).unwrap());
    pause();
    let detail = http(
        base,
        "GET",
        &format!("/api/bookings/{id}"),
        &[("Authorization", &auth)],
        None,
    )
    .unwrap();
    assert_eq!(detail.status, 200);
    out.push(detail);
    pause();
    out.push(http(base, "GET", "/api/stats", &[("Authorization", &auth)], None).unwrap());
    pause();
    // Page 3: ids of three digits (one-digit numbers are too common to be taken for ids).
    let questions = http(
        base,
        "GET",
        "/api/quiz/questions?category=physics&page=3",
        &[],
        None,
    )
    .unwrap();
    let qid = json_body(&questions)["items"][0]["id"].as_i64().unwrap();
    out.push(questions);
    out.push(
        http(
            base,
            "GET",
            &format!("/api/quiz/questions/{qid}"),
            &[],
            None,
        )
        .unwrap(),
    );
    (out, token)
}

#[test]
fn import_har_recorded_from_the_demo_captures_the_session_token() {
    let ws = Workspace::new();
    let (exchanges, recorded_token) = {
        let sut = DemoSut::start(&demo_program(), false).expect("demo SUT starts");
        record_demo_session(&sut.url)
    };
    let har_path = ws.write(
        "session.har",
        &serde_json::to_string_pretty(&har(&exchanges)).unwrap(),
    );
    let (file, yaml) = import(
        &ws,
        &["har", &har_path.display().to_string()],
        "recorded.yaml",
    );
    assert_checks(&file);
    let c = code(&yaml);
    // The token is captured where the login handed it out, never written down.
    assert!(
        !c.contains(&recorded_token),
        "the recorded token is hard-coded:\n{yaml}"
    );
    let login = on_start(&yaml);
    assert!(login.contains("post: \"/api/login\""), "{yaml}");
    assert!(login.contains("token: { json: \"/token\" }"), "{yaml}");
    assert_eq!(
        c.matches("Authorization: \"Bearer ${token}\"").count(),
        3,
        "{yaml}"
    );
    // The detail ids come from the list responses.
    assert!(
        c.contains("booking_id: { json: \"/items/0/id\" }"),
        "{yaml}"
    );
    assert!(c.contains("get: \"/api/bookings/${booking_id}\""), "{yaml}");
    assert!(
        c.contains("question_id: { json: \"/items/0/id\" }"),
        "{yaml}"
    );
    assert!(
        c.contains("get: \"/api/quiz/questions/${question_id}\""),
        "{yaml}"
    );
    // The static asset is left out; the think time comes from the recorded pauses.
    assert!(!c.contains("app.js"), "{yaml}");
    assert!(yaml.contains("1 static assets"), "{yaml}");
    assert!(c.contains("think_time: "), "{yaml}");

    // A fresh SUT hands out other tokens: the recorded one is refused there...
    let fresh = DemoSut::start(&demo_program(), false).expect("demo SUT starts");
    let stale = http(
        &fresh.url,
        "GET",
        "/api/stats",
        &[("Authorization", &format!("Bearer {recorded_token}"))],
        None,
    )
    .unwrap();
    assert_eq!(stale.status, 401);
    // ...and the imported scenario runs clean against it.
    let run = run_50_users(&ws, &file, &["--host", &fresh.url], &[]);
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(u(&run, "/totals/all/not_sent"), 0, "{}", run["errors"]);
    assert_eq!(requests(&run, "POST /api/login"), 50);
    assert_eq!(
        requests(&run, "GET /api/bookings/${booking_id}"),
        50 * ITERATIONS
    );
    assert_eq!(
        requests(&run, "GET /api/quiz/questions/${question_id}"),
        50 * ITERATIONS
    );
}

#[test]
fn import_har_turns_a_session_cookie_into_a_capture() {
    // The in-test server: /login sets a cookie and returns a token; /me wants both.
    let server = start_server();
    let base = server.url();
    let login = http(
        &base,
        "POST",
        "/login",
        &[],
        Some(("application/json", r#"{"username":"annabelle12"}"#)),
    )
    .unwrap();
    assert_eq!(login.status, 200);
    std::thread::sleep(Duration::from_millis(120));
    let me = http(
        &base,
        "GET",
        "/me",
        &[
            ("Authorization", "Bearer tok-annabelle12"),
            ("Cookie", "sid=sid-annabelle12"),
        ],
        None,
    )
    .unwrap();
    assert_eq!(me.status, 200);
    let ws = Workspace::new();
    let har_path = ws.write("cookie.har", &har(&[login, me]).to_string());
    let (file, yaml) = import(
        &ws,
        &["har", &har_path.display().to_string()],
        "cookie.yaml",
    );
    let c = code(&yaml);
    assert!(c.contains("sid: { cookie: \"sid\" }"), "{yaml}");
    assert!(c.contains("token: { json: \"/token\" }"), "{yaml}");
    assert!(c.contains("Cookie: \"sid=${sid}\""), "{yaml}");
    assert!(c.contains("Authorization: \"Bearer ${token}\""), "{yaml}");
    assert!(
        !c.contains("sid-annabelle12") && !c.contains("tok-annabelle12"),
        "{yaml}"
    );

    let unauthorised = server
        .seen
        .unauthorised
        .load(std::sync::atomic::Ordering::SeqCst);
    let authorised = server.seen.authorised.lock().unwrap().len() as u64;
    let run = run_50_users(&ws, &file, &[], &[]);
    assert_eq!(u(&run, "/totals/all/failed"), 0, "{}", run["errors"]);
    assert_eq!(
        server
            .seen
            .unauthorised
            .load(std::sync::atomic::Ordering::SeqCst),
        unauthorised
    );
    assert_eq!(
        server.seen.authorised.lock().unwrap().len() as u64,
        authorised + 50 * ITERATIONS
    );
}

// ---- broken inputs: exit 2, the place and the fix ----

fn import_fails(args: &[&str]) -> String {
    let mut all = vec!["import"];
    all.extend(args);
    let out = gander_env(&all, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    stderr
}

#[test]
fn import_rejects_broken_inputs_with_the_place_and_the_fix() {
    let ws = Workspace::new();

    let not_openapi = ws.write(
        "notes.json",
        "{\n  \"title\": \"my notes\",\n  \"items\": []\n}\n",
    );
    let e = import_fails(&["openapi", &not_openapi.display().to_string()]);
    assert!(
        e.contains("notes.json:1:1: error: not an OpenAPI document"),
        "{e}"
    );
    assert!(e.contains("(it has: title, items)"), "{e}");
    assert!(e.contains("/openapi.json"), "{e}");

    let broken_ref = ws.write(
        "api.yaml",
        "openapi: 3.1.0\ninfo: { title: t, version: '1' }\npaths:\n  /items:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: { $ref: '#/components/schemas/Itme' }\ncomponents:\n  schemas:\n    Item: { type: object }\n",
    );
    let e = import_fails(&["openapi", &broken_ref.display().to_string()]);
    assert!(e.contains("api.yaml:11:"), "{e}");
    assert!(
        e.contains("$ref \"#/components/schemas/Itme\" points nowhere"),
        "{e}"
    );
    assert!(e.contains("#/components/schemas has no \"Itme\""), "{e}");
    assert!(
        e.contains("/paths/~1items/get/responses/200/content/application~1json/schema"),
        "{e}"
    );
    assert!(
        e.contains("did you mean \"#/components/schemas/Item\"?"),
        "{e}"
    );

    let not_yaml = ws.write("api2.yaml", "openapi: 3.1.0\npaths:\n  /a: [unclosed\n");
    let e = import_fails(&["openapi", &not_yaml.display().to_string()]);
    assert!(e.contains("api2.yaml:"), "{e}");
    assert!(e.contains("not valid YAML or JSON"), "{e}");

    let empty_har = ws.write(
        "empty.har",
        "{\"log\": {\"version\": \"1.2\", \"entries\": []}}",
    );
    let e = import_fails(&["har", &empty_har.display().to_string()]);
    assert!(e.contains("empty.har:1:"), "{e}");
    assert!(e.contains("the recording has no entries"), "{e}");
    assert!(e.contains("Network tab"), "{e}");

    let e = import_fails(&["har", &not_openapi.display().to_string()]);
    assert!(e.contains("not a HAR recording"), "{e}");

    let e = import_fails(&[
        "openapi",
        &ws.path().join("missing.json").display().to_string(),
    ]);
    assert!(
        e.contains("cannot read") && e.contains("missing.json"),
        "{e}"
    );

    // Nothing listens on port 1.
    let e = import_fails(&["openapi", "http://127.0.0.1:1/openapi.json"]);
    assert!(
        e.contains("cannot fetch http://127.0.0.1:1/openapi.json"),
        "{e}"
    );
    assert!(e.contains("is the service running"), "{e}");
}

#[test]
fn import_help_names_both_sources() {
    let out = gander_env(&["import", "--help"], &[]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout.contains("openapi") && stdout.contains("har"),
        "{stdout}"
    );
    let out = gander_env(&["import", "openapi", "--help"], &[]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("--include-writes"), "{stdout}");
    let out = gander_env(&["import", "har", "--help"], &[]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("--include-host") && stdout.contains("--max-think"),
        "{stdout}"
    );
}
