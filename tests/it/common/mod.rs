//! Shared test support: an in-test HTTP server on 127.0.0.1 that counts what
//! it receives, and helpers to run the real `gander` binary.
#![allow(dead_code)]

pub mod browser;
pub mod edge;
pub mod tls;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// What the server saw.
#[derive(Default)]
pub struct Seen {
    pub total: AtomicU64,
    pub by_path: Mutex<HashMap<String, u64>>,
    /// Values of `?v=` on /value, in arrival order.
    pub values: Mutex<Vec<String>>,
    /// Users whose /me call carried a matching token and cookie.
    pub authorised: Mutex<Vec<String>>,
    pub unauthorised: AtomicU64,
    /// The first /stall request: the stall schedule counts from it.
    pub stall_epoch: std::sync::OnceLock<std::time::Instant>,
    /// The client addresses /peer and /close requests came from, one per connection.
    pub peers: Mutex<std::collections::HashSet<SocketAddr>>,
}

/// /stall holds every response arriving in [STALL_AT, STALL_AT + STALL) of each
/// STALL_EVERY, counted from its first request, until that window ends: the
/// server pauses (a GC pause, a lock) for STALL once every STALL_EVERY.
pub const STALL: Duration = Duration::from_secs(1);
pub const STALL_EVERY: Duration = Duration::from_secs(10);
pub const STALL_AT: Duration = Duration::from_secs(4);

impl Seen {
    pub fn count(&self, path: &str) -> u64 {
        self.by_path.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// How many connections /peer and /close requests came on.
    pub fn connections(&self) -> usize {
        self.peers.lock().unwrap().len()
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn count(State(seen): State<Arc<Seen>>, uri: axum::http::Uri) -> Arc<Seen> {
    seen.total.fetch_add(1, Ordering::SeqCst);
    *seen
        .by_path
        .lock()
        .unwrap()
        .entry(uri.path().to_string())
        .or_default() += 1;
    seen
}

/// Starts the server on a free loopback port in its own thread and runtime.
pub fn start_server() -> TestServer {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/", get(fast))
        .route("/fast", get(fast))
        .route("/app/fast", get(fast))
        .route("/cookies/set", get(set_cookie_and_redirect))
        .route("/user-agent", get(user_agent))
        .route("/slow-body", get(slow_body))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/status/{code}", get(status))
        .route("/headers", get(server_headers))
        .route("/value", get(value))
        .route("/json", get(json))
        .route("/inject", get(inject))
        .route("/echo", get(echo))
        .route("/scenario/{name}", get(fast))
        .route("/profile/{kind}", get(bad_profile))
        .route("/stall", get(stall))
        .route("/sleep/{ms}", get(sleep))
        .route("/peer", get(peer))
        .route("/close", get(close))
        .route("/gzip", get(gzipped))
        .with_state(seen.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("test server started");
    TestServer { addr, seen }
}

async fn stall(State(seen): State<Arc<Seen>>, uri: axum::http::Uri) -> &'static str {
    let seen = count(State(seen), uri).await;
    let epoch = *seen.stall_epoch.get_or_init(std::time::Instant::now);
    let phase = epoch.elapsed().as_secs_f64() % STALL_EVERY.as_secs_f64();
    let (from, to) = (STALL_AT.as_secs_f64(), (STALL_AT + STALL).as_secs_f64());
    if (from..to).contains(&phase) {
        tokio::time::sleep(Duration::from_secs_f64(to - phase)).await;
    }
    "ok"
}

async fn sleep(
    State(seen): State<Arc<Seen>>,
    UrlPath(ms): UrlPath<u64>,
    uri: axum::http::Uri,
) -> &'static str {
    count(State(seen), uri).await;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "ok"
}

async fn fast(State(seen): State<Arc<Seen>>, uri: axum::http::Uri) -> &'static str {
    count(State(seen), uri).await;
    "ok"
}

/// Counts the connection the request came on.
async fn peer(
    State(seen): State<Arc<Seen>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    uri: axum::http::Uri,
) -> &'static str {
    seen.peers.lock().unwrap().insert(from);
    fast(State(seen), uri).await
}

/// Like /peer, and closes the connection after answering (`Connection: close`).
async fn close(
    State(seen): State<Arc<Seen>>,
    from: ConnectInfo<SocketAddr>,
    uri: axum::http::Uri,
) -> Response {
    let body = peer(State(seen), from, uri).await;
    ([(header::CONNECTION, "close")], body).into_response()
}

/// A gzip-compressed JSON body, as a server with compression on sends it.
async fn gzipped(State(seen): State<Arc<Seen>>, uri: axum::http::Uri) -> Response {
    use std::io::Write;
    count(State(seen), uri).await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"greeting":"hello from a gzipped body"}"#)
        .unwrap();
    (
        [
            (header::CONTENT_ENCODING, "gzip"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        gz.finish().unwrap(),
    )
        .into_response()
}

/// Sets the cookie `k=v` on a 302 to /fast, as httpbin's /cookies/set does.
async fn set_cookie_and_redirect(State(seen): State<Arc<Seen>>, uri: axum::http::Uri) -> Response {
    count(State(seen), uri).await;
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, "/fast")
        .header(header::SET_COOKIE, "k=v; Path=/")
        .body(Body::empty())
        .unwrap()
}

/// The request's User-Agent, as the body.
async fn user_agent(headers: HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Headers at once, the body 100 ms later.
async fn slow_body(State(seen): State<Arc<Seen>>, uri: axum::http::Uri) -> Response {
    count(State(seen), uri).await;
    let stream = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, Infallible>(Bytes::from_static(b"finally"))
    });
    Response::builder()
        .status(200)
        .body(Body::from_stream(stream))
        .unwrap()
}

#[derive(serde::Deserialize)]
struct LoginBody {
    username: String,
}

async fn login(
    State(seen): State<Arc<Seen>>,
    uri: axum::http::Uri,
    body: axum::Json<LoginBody>,
) -> Response {
    count(State(seen), uri).await;
    let user = &body.username;
    (
        [(
            header::SET_COOKIE,
            format!("sid=sid-{user}; Path=/; HttpOnly"),
        )],
        axum::Json(serde_json::json!({ "token": format!("tok-{user}"), "user": user })),
    )
        .into_response()
}

/// 200 only when the bearer token and the cookie belong to the same user.
async fn me(State(seen): State<Arc<Seen>>, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    let seen = count(State(seen), uri).await;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer tok-"))
        .map(str::to_string);
    let cookie_user = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').find_map(|c| c.trim().strip_prefix("sid=sid-")))
        .map(str::to_string);
    match (token, cookie_user) {
        (Some(t), Some(c)) if t == c => {
            seen.authorised.lock().unwrap().push(t.clone());
            axum::Json(serde_json::json!({ "user": t })).into_response()
        }
        _ => {
            seen.unauthorised.fetch_add(1, Ordering::SeqCst);
            (StatusCode::UNAUTHORIZED, "who are you?").into_response()
        }
    }
}

async fn status(
    State(seen): State<Arc<Seen>>,
    uri: axum::http::Uri,
    UrlPath(code): UrlPath<u16>,
) -> Response {
    count(State(seen), uri).await;
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (code, format!("status {} body", code.as_u16())).into_response()
}

async fn server_headers(State(seen): State<Arc<Seen>>, uri: axum::http::Uri) -> Response {
    count(State(seen), uri).await;
    (
        [
            ("X-SQL-Queries", "12"),
            ("X-Request-Time", "0.123s"),
            ("Server-Timing", "db;dur=12.5, app;dur=3;desc=\"render\""),
        ],
        "ok",
    )
        .into_response()
}

async fn value(
    State(seen): State<Arc<Seen>>,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
) -> &'static str {
    let seen = count(State(seen), uri).await;
    if let Some(v) = q.get("v") {
        seen.values.lock().unwrap().push(v.clone());
    }
    "ok"
}

async fn json(State(seen): State<Arc<Seen>>, uri: axum::http::Uri) -> Response {
    count(State(seen), uri).await;
    axum::Json(serde_json::json!({ "status": "healthy", "items": [{ "id": 7 }] })).into_response()
}

async fn inject(State(seen): State<Arc<Seen>>, uri: axum::http::Uri) -> Response {
    count(State(seen), uri).await;
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("X-SQL-Queries", "<script>alert(1)</script>")],
        "<script>alert('body')</script>",
    )
        .into_response()
}

/// A 500 whose body repeats the request's credentials, as some debug pages do.
async fn echo(State(seen): State<Arc<Seen>>, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    count(State(seen), uri).await;
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "authorization: {}\nx-api-key: {}\nx-token: {}\n",
            get("authorization"),
            get("x-api-key"),
            get("x-token")
        ),
    )
        .into_response()
}

/// Profile endpoints that go wrong in each way a profiler can.
async fn bad_profile(UrlPath(kind): UrlPath<String>) -> Response {
    match kind.as_str() {
        "slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "too late".into_response()
        }
        "truncated" => {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&[0x0a; 4096]).unwrap();
            let bytes = gz.finish().unwrap();
            bytes[..bytes.len() / 2].to_vec().into_response()
        }
        "garbage" => "<html><body>this is not a profile</body></html>".into_response(),
        _ => (StatusCode::NOT_FOUND, "404 page not found").into_response(),
    }
}

/// A temporary directory holding a scenario file and the run output.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn reports(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    /// Starts `gander run` on `scenario` (written as scenario.yaml) with
    /// `-o reports --quiet`, output piped, for tests that signal or kill it.
    pub fn spawn_run(&self, scenario: &str) -> std::process::Child {
        let file = self.write("scenario.yaml", scenario);
        Command::new(gander_bin())
            .args(["run", file.to_str().unwrap(), "-o"])
            .arg(self.reports())
            .arg("--quiet")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("gander starts")
    }

    /// Runs `gander run FILE -o reports --quiet`, bounded in time.
    pub fn run(&self, scenario: &str, extra: &[&str]) -> RunOutput {
        let file = self.write("scenario.yaml", scenario);
        let mut args = vec![
            "run".to_string(),
            file.display().to_string(),
            "-o".into(),
            self.reports().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let output = gander(&args);
        RunOutput::new(output)
    }
}

pub struct RunOutput {
    pub output: Output,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    pub fn new(output: Output) -> Self {
        RunOutput {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            output,
        }
    }

    /// The run directory printed on the last line.
    pub fn run_dir(&self) -> PathBuf {
        let line = self
            .stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("run directory: "))
            .unwrap_or_else(|| {
                panic!(
                    "no run directory in output:\n{}\n{}",
                    self.stdout, self.stderr
                )
            });
        PathBuf::from(line.trim())
    }

    pub fn json(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.run_dir().join("run.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// A run against a baseline that ended with an exit code up to `max`, or
    /// that gander declared INVALID only because the rest of the machine was
    /// busier on one side (on a shared CI machine, quick tests run beside
    /// this one). For tests whose point is what the comparison draws or
    /// writes, not its verdict.
    pub fn assert_judged_or_busy_neighbour(&self, max: i32) {
        if self.code <= max {
            return;
        }
        assert_eq!(self.code, 3, "{}\n{}", self.stdout, self.stderr);
        let run = self.json();
        let failed = failed_checks(&run);
        let neighbour = |c: &&serde_json::Value| {
            c["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("busy neighbour"))
        };
        assert!(
            !failed.is_empty() && failed.iter().all(neighbour),
            "INVALID for more than a busy neighbour: {failed:?}\n{}",
            self.stdout
        );
    }
}

/// The validity checks of a run's verdict that failed.
pub fn failed_checks(run: &serde_json::Value) -> Vec<&serde_json::Value> {
    run["verdict"]["validity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect()
}

/// Busy loops pinned to CPU 0 (to starve a gander pinned there too), killed on drop.
pub struct Hogs(Vec<std::process::Child>);

impl Hogs {
    pub fn on_cpu0(n: usize) -> Hogs {
        Hogs(
            (0..n)
                .map(|_| {
                    Command::new("taskset")
                        .args(["-c", "0", "sh", "-c", "while :; do :; done"])
                        .stdout(std::process::Stdio::null())
                        .spawn()
                        .expect("taskset (util-linux) is installed")
                })
                .collect(),
        )
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A port nothing listens on: bound, then released. Taken below Linux's
/// ephemeral range (32768-60999), from which every outgoing connection of
/// the tests running beside this one takes its source port: a port found
/// free up there can be taken by one of them before the SUT binds it. Each
/// test process walks the range from its own random place, so two calls in
/// one test never return the same port.
pub fn free_port() -> u16 {
    use rand::Rng;
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let start = rand::rng().random_range(0..SPAN);
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN)
}

/// The fixture servers under tests/fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Starts a fixture server that prints `listening on URL` first; it is
/// stopped (with its process group) when the guard is dropped.
pub fn start_fixture(command: &mut Command) -> (gander::sut::child::Guarded, String) {
    use std::io::{BufRead, BufReader};
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    let mut child = gander::sut::child::Guarded::spawn(command).expect("the fixture starts");
    let stdout = child.child_mut().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the fixture says where it listens");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, url)
}

/// The `gander-demo` binary beside `gander`: the tests build the workspace.
pub fn demo_program() -> gander::DemoProgram {
    let path = Path::new(gander_bin()).with_file_name("gander-demo");
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo nextest run --workspace` (scripts/test does)",
        path.display()
    );
    gander::DemoProgram::Standalone(path)
}

pub fn gander_bin() -> &'static str {
    env!("CARGO_BIN_EXE_gander")
}

/// Runs the gander binary with a hard time limit (the child is killed past it).
pub fn gander<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    let child = Command::new(gander_bin())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gander starts");
    wait_bounded(child, Duration::from_secs(120))
}

pub fn wait_bounded(child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            // SAFETY: sending SIGKILL to our own child process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("gander did not finish within {limit:?}");
        }
    }
}

/// Every file a run directory must hold.
pub fn assert_complete_run_dir(dir: &Path) {
    for file in [
        "run.json",
        "latency.hlog",
        "headers.hlog",
        "endpoints.csv",
        "timeseries.csv",
        "summary.txt",
        "summary.md",
        "junit.xml",
        "report.html",
    ] {
        assert!(
            dir.join(file).exists(),
            "{file} missing in {}",
            dir.display()
        );
    }
    assert_matches_run_schema(dir);
}

/// Validates `dir/run.json` against the published schema (`docs/run.schema.json`).
pub fn assert_matches_run_schema(dir: &Path) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/run.schema.json");
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("run.schema.json", schema)
        .expect("the published schema loads");
    let index = compiler
        .compile("run.schema.json", &mut schemas)
        .expect("the published schema compiles");
    if let Err(e) = schemas.validate(&run, index) {
        panic!(
            "{}/run.json does not match docs/run.schema.json:\n{e:#}",
            dir.display()
        );
    }
}

/// Reads `path` from a run.json value as u64.
pub fn u(v: &serde_json::Value, pointer: &str) -> u64 {
    v.pointer(pointer)
        .and_then(|x| x.as_u64())
        .unwrap_or_else(|| panic!("{pointer} missing in run.json"))
}

pub fn f(v: &serde_json::Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(|x| x.as_f64())
        .unwrap_or_else(|| panic!("{pointer} missing in run.json"))
}

/// The run.json entry for one request name.
pub fn endpoint<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no endpoint {name} in run.json"))
}
