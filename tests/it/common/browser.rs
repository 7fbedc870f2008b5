//! A small headless-Chromium driver for integration tests, speaking the Chrome
//! DevTools Protocol over `--remote-debugging-pipe` (fd 3: commands into
//! Chrome, fd 4: messages from Chrome; each message is JSON followed by NUL).
//!
//! Include it with `#[path = "common/browser.rs"] mod browser;`. It only uses
//! std, `serde_json`, `libc`, `base64` and `tempfile`.
//!
//! It listens to every frame: the page's session auto-attaches (flattened) to
//! its child targets (out-of-process iframes, workers), enables Runtime, Log and
//! Network on each before letting it run, and collects what all of them say.
//! Frames that stay in the page's process report through the page's session.
//!
//! Every wait is bounded, errors carry the tail of Chrome's stderr, and the
//! driver never panics. Chrome runs in its own process group, gets SIGKILL
//! when the thread that called [`Page::open`] exits (PR_SET_PDEATHSIG), and
//! is closed and killed when the [`Page`] is dropped.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// Budget for [`Page::open`] up to the load event (the settle time comes on top).
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Budget for one [`Page::eval`].
pub const EVAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Budget for one [`Page::screenshot`].
pub const SCREENSHOT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `Drop` waits for Chrome to exit after `Browser.close` before SIGKILL.
pub const CLOSE_GRACE: Duration = Duration::from_secs(3);
/// Viewport set with `Emulation.setDeviceMetricsOverride`.
pub const VIEWPORT: (u32, u32) = (1280, 900);

const STDERR_TAIL_LINES: usize = 40;

/// What the page did, in arrival order.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// URL of every `Network.requestWillBeSent` (the document itself, sub-resources,
    /// fetch/XHR, blob: and data: URLs that go through the loader, redirect hops).
    pub requests: Vec<String>,
    /// `Runtime.exceptionThrown` (`"exception: Uncaught Error: bad\n    at ..."`),
    /// `Runtime.consoleAPICalled` of type error/assert (`"console.error: boom"`),
    /// `Log.entryAdded` with level error (`"log.network: Failed to load resource: ... <url>"`),
    /// from every frame and worker. What a child target said starts with its type
    /// and URL (`"[iframe data:image/svg+xml…] console.error: boom"`); a child
    /// target the driver could not listen to is an error here too (`"[driver] …"`).
    pub console_errors: Vec<String>,
    /// The same for warnings: `console.warn` and `Log.entryAdded` with level warning.
    pub console_warnings: Vec<String>,
    /// Every child target auto-attached, as `"<type> <url>"` (an out-of-process
    /// iframe is `"iframe data:…"`; a frame in the page's process is not here).
    pub attached: Vec<String>,
    /// Messages of `Page.javascriptDialogOpening` (alert/confirm/prompt/beforeunload);
    /// every dialog is dismissed automatically.
    pub dialogs: Vec<String>,
}

/// One headless Chromium with one page attached.
pub struct Page {
    child: Child,
    to_chrome: File,
    from_chrome: Receiver<Value>,
    session: String,
    /// The page target's id, which is also its main frame's id.
    target_id: String,
    /// Every session listened to (the page's and its auto-attached children),
    /// with what its messages are labelled with.
    sessions: HashMap<String, Listened>,
    /// Frames' default execution contexts, per session.
    contexts: Vec<FrameContext>,
    /// Commands sent to set up a child session, not yet answered: what they were.
    setup_calls: HashMap<u64, String>,
    /// `Log.entryAdded` entries already taken: frames sharing a renderer process
    /// report each other's entries (also when `Log.enable` replays them).
    log_entries: HashSet<String>,
    next_id: u64,
    seen: Seen,
    load_fired: bool,
    crashed: Option<String>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_done: Arc<AtomicBool>,
    // Dropped after `Drop::drop` has killed Chrome, so the profile can be removed.
    _profile: tempfile::TempDir,
}

/// A frame's main-world execution context, in the session that reports it.
#[derive(Debug, Clone)]
struct FrameContext {
    session: String,
    id: i64,
    frame_id: String,
}

/// A session listened to.
#[derive(Debug, Clone, Default)]
struct Listened {
    /// What its messages start with (`""` for the page itself).
    label: String,
    /// Its target's id (a frame target's id is its frame's).
    target_id: String,
    /// Its place in [`Seen::attached`] (`None` for the page itself).
    attached: Option<usize>,
}

/// The auto-attach settings for the page and every child target: pause each new
/// target until its domains are enabled, so nothing it says early is missed.
fn auto_attach_params() -> Value {
    json!({ "autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true })
}

/// The Chromium binary: `$CHROMIUM` if set, else the first of the usual names
/// found on `PATH`.
pub fn chromium_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

impl Page {
    /// Starts headless Chromium with a fresh profile, attaches to a new page
    /// target, enables Page/Runtime/Log/Network, sets a 1280x900 viewport,
    /// navigates to `url`, waits for `Page.loadEventFired` (at most
    /// [`OPEN_TIMEOUT`] in total) and then keeps collecting events for `settle`.
    ///
    /// A Chromium that does not load the page in time is started once more: its
    /// first start on a fresh machine (font caches, a cold disk) can take that long.
    pub fn open(url: &str, settle: Duration) -> Result<Page, String> {
        Page::open_sized(url, settle, VIEWPORT)
    }

    /// [`Page::open`] with a viewport of `(width, height)` CSS pixels from the
    /// start (a narrow one lays the page out narrow before its scripts run).
    pub fn open_sized(url: &str, settle: Duration, viewport: (u32, u32)) -> Result<Page, String> {
        Page::open_once(url, settle, viewport).or_else(|first| {
            eprintln!("Chromium failed once ({first}); starting it again");
            Page::open_once(url, settle, viewport)
        })
    }

    fn open_once(url: &str, settle: Duration, viewport: (u32, u32)) -> Result<Page, String> {
        let deadline = Instant::now() + OPEN_TIMEOUT;
        let mut page = Page::launch()?;

        let created = page.call_browser(
            "Target.createTarget",
            json!({ "url": "about:blank" }),
            deadline,
        )?;
        page.target_id = match created["targetId"].as_str() {
            Some(t) => t.to_string(),
            None => return Err(page.fail(format!("Target.createTarget returned {created}"))),
        };
        let attached = page.call_browser(
            "Target.attachToTarget",
            json!({ "targetId": page.target_id, "flatten": true }),
            deadline,
        )?;
        page.session = match attached["sessionId"].as_str() {
            Some(s) => s.to_string(),
            None => return Err(page.fail(format!("Target.attachToTarget returned {attached}"))),
        };
        page.sessions
            .insert(page.session.clone(), Listened::default());

        for domain in ["Page", "Runtime", "Log", "Network"] {
            page.call(&format!("{domain}.enable"), json!({}), deadline)?;
        }
        page.call("Target.setAutoAttach", auto_attach_params(), deadline)?;
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": viewport.0,
                "height": viewport.1,
                "deviceScaleFactor": 1,
                "mobile": false,
            }),
            deadline,
        )?;

        page.load_fired = false;
        let nav = page.call("Page.navigate", json!({ "url": url }), deadline)?;
        if let Some(err) = nav["errorText"].as_str() {
            return Err(page.fail(format!("navigating to {url} failed: {err}")));
        }
        if !page.load_fired {
            let loaded = page.pump_until(deadline, |p, _| p.load_fired)?;
            if loaded.is_none() {
                return Err(page.fail(format!(
                    "no Page.loadEventFired for {url} within {OPEN_TIMEOUT:?}"
                )));
            }
        }
        page.settle(settle)?;
        Ok(page)
    }

    /// `Runtime.evaluate` with `returnByValue` and `awaitPromise`. Returns the
    /// value (`Null` for `undefined`); a thrown exception is an `Err`.
    pub fn eval(&mut self, expression: &str) -> Result<Value, String> {
        let deadline = Instant::now() + EVAL_TIMEOUT;
        let res = self.call(
            "Runtime.evaluate",
            json!({
                "expression": expression,
                "returnByValue": true,
                "awaitPromise": true,
            }),
            deadline,
        )?;
        if let Some(details) = res.get("exceptionDetails") {
            return Err(format!(
                "eval threw: {}\nexpression: {expression}",
                describe_exception(details)
            ));
        }
        Ok(res["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// [`Page::eval`] in every frame but the top one, whether the frame runs in
    /// the page's process or in its own (an out-of-process iframe): one value per
    /// frame, in the order the frames' documents were created.
    pub fn eval_in_frames(&mut self, expression: &str) -> Result<Vec<Value>, String> {
        let frames: Vec<FrameContext> = self
            .contexts
            .iter()
            .filter(|c| c.frame_id != self.target_id)
            .cloned()
            .collect();
        let mut values = Vec::with_capacity(frames.len());
        for frame in frames {
            let deadline = Instant::now() + EVAL_TIMEOUT;
            let res = self.call_in(
                Some(&frame.session),
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "contextId": frame.id,
                    "returnByValue": true,
                    "awaitPromise": true,
                }),
                deadline,
            )?;
            if let Some(details) = res.get("exceptionDetails") {
                return Err(format!(
                    "eval in frame {} threw: {}\nexpression: {expression}",
                    frame.frame_id,
                    describe_exception(details)
                ));
            }
            values.push(res["result"].get("value").cloned().unwrap_or(Value::Null));
        }
        Ok(values)
    }

    /// `Page.captureScreenshot` (PNG, whole page) written to `path`.
    pub fn screenshot(&mut self, path: &Path) -> Result<(), String> {
        self.capture(path, true)
    }

    /// A PNG of what the viewport shows now. Chrome does not paint cross-origin
    /// frames (the sandboxed flame graphs) outside the viewport, so scroll first.
    pub fn screenshot_viewport(&mut self, path: &Path) -> Result<(), String> {
        self.capture(path, false)
    }

    fn capture(&mut self, path: &Path, whole_page: bool) -> Result<(), String> {
        let deadline = Instant::now() + SCREENSHOT_TIMEOUT;
        let res = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": whole_page }),
            deadline,
        )?;
        let Some(data) = res["data"].as_str() else {
            return Err("Page.captureScreenshot returned no data".to_string());
        };
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("screenshot is not valid base64: {e}"))?;
        std::fs::write(path, png).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// Keeps collecting events (and dismissing dialogs) for `d`.
    pub fn settle(&mut self, d: Duration) -> Result<(), String> {
        self.pump_until(Instant::now() + d, |_, _| false)?;
        Ok(())
    }

    /// Events seen so far.
    pub fn seen(&self) -> &Seen {
        &self.seen
    }

    /// The last lines Chrome wrote to stderr (D-Bus noise filtered out).
    pub fn stderr_tail(&self) -> String {
        match self.stderr_tail.lock() {
            Ok(t) => t.iter().cloned().collect::<Vec<_>>().join("\n"),
            Err(_) => String::new(),
        }
    }

    fn launch() -> Result<Page, String> {
        let chrome = chromium_path().ok_or("chromium not found (set $CHROMIUM or PATH)")?;
        let profile = tempfile::Builder::new()
            .prefix("gander-chromium-")
            .tempdir()
            .map_err(|e| format!("creating a profile dir: {e}"))?;
        // Chrome (crashpad's "Crash Reports", dconf, fontconfig) also writes
        // below $HOME/.config and $HOME/.cache; keep all of it in the temp dir.
        let dir = |name: &str| -> Result<PathBuf, String> {
            let d = profile.path().join(name);
            std::fs::create_dir_all(&d).map_err(|e| format!("creating {}: {e}", d.display()))?;
            Ok(d)
        };
        let (user_data, xdg_config, xdg_cache, xdg_data) = (
            dir("user-data")?,
            dir("config")?,
            dir("cache")?,
            dir("data")?,
        );

        // Both pipes are O_CLOEXEC so no other child spawned meanwhile by
        // another test thread inherits them; pre_exec moves the child's ends
        // onto fds 3 and 4 (dup2 clears CLOEXEC on the copies).
        let (cmd_read, cmd_write) = pipe_cloexec().map_err(|e| format!("pipe2: {e}"))?;
        let (msg_read, msg_write) = pipe_cloexec().map_err(|e| format!("pipe2: {e}"))?;
        let child_in: RawFd = cmd_read.as_raw_fd();
        let child_out: RawFd = msg_write.as_raw_fd();
        let parent_pid = std::process::id() as libc::pid_t;

        let mut cmd = Command::new(&chrome);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            // No name resolves; 127.0.0.1 stays reachable for pages gander serves (--live).
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ])
        .arg(format!("--user-data-dir={}", user_data.display()))
        .env("XDG_CONFIG_HOME", &xdg_config)
        .env("XDG_CACHE_HOME", &xdg_cache)
        .env("XDG_DATA_HOME", &xdg_data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
        // SAFETY: only async-signal-safe calls (prctl, getppid, fcntl, dup2), no allocation.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() != parent_pid {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                // Move both ends out of the way first: either may itself be fd 3 or 4.
                let a = libc::fcntl(child_in, libc::F_DUPFD_CLOEXEC, 10);
                let b = libc::fcntl(child_out, libc::F_DUPFD_CLOEXEC, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", chrome.display()))?;
        drop(cmd_read);
        drop(msg_write);

        // Commands are written non-blocking so a stuck Chrome cannot hang us.
        // SAFETY: plain fcntl on an fd we own.
        unsafe {
            let fd = cmd_write.as_raw_fd();
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }

        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let stderr_done = Arc::new(AtomicBool::new(false));
        if let Some(stderr) = child.stderr.take() {
            let tail = Arc::clone(&stderr_tail);
            let done = Arc::clone(&stderr_done);
            let spawned = thread::Builder::new()
                .name("chromium-stderr".into())
                .spawn(move || read_stderr(stderr, &tail, &done));
            if spawned.is_err() {
                stderr_done.store(true, Ordering::SeqCst);
            }
        }

        let (tx, rx) = mpsc::channel();
        let from_chrome = File::from(msg_read);
        let reader = thread::Builder::new()
            .name("chromium-cdp".into())
            .spawn(move || read_messages(from_chrome, tx));

        let mut page = Page {
            child,
            to_chrome: File::from(cmd_write),
            from_chrome: rx,
            session: String::new(),
            target_id: String::new(),
            sessions: HashMap::new(),
            contexts: Vec::new(),
            setup_calls: HashMap::new(),
            log_entries: HashSet::new(),
            next_id: 0,
            seen: Seen::default(),
            load_fired: false,
            crashed: None,
            stderr_tail,
            stderr_done,
            _profile: profile,
        };
        if let Err(e) = reader {
            return Err(page.fail(format!("spawning the reader thread: {e}")));
        }
        Ok(page)
    }

    /// Sends a command to the page session and waits for its response.
    fn call(&mut self, method: &str, params: Value, deadline: Instant) -> Result<Value, String> {
        let session = self.session.clone();
        self.call_in(Some(&session), method, params, deadline)
    }

    /// Sends a browser-level command (no session) and waits for its response.
    fn call_browser(
        &mut self,
        method: &str,
        params: Value,
        deadline: Instant,
    ) -> Result<Value, String> {
        self.call_in(None, method, params, deadline)
    }

    fn call_in(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
        deadline: Instant,
    ) -> Result<Value, String> {
        let id = self.send(session, method, params, deadline)?;
        let Some(mut resp) = self.pump_until(deadline, |_, m| m["id"].as_u64() == Some(id))? else {
            return Err(self.fail(format!("no response to {method} in time")));
        };
        if let Some(err) = resp.get("error") {
            return Err(self.fail(format!("{method} failed: {err}")));
        }
        Ok(resp["result"].take())
    }

    fn send(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
        deadline: Instant,
    ) -> Result<u64, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        if let Err(e) = self.write_bounded(&bytes, deadline) {
            return Err(self.fail(format!("sending {method}: {e}")));
        }
        Ok(id)
    }

    fn write_bounded(&mut self, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.to_chrome.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                    let mut pfd = libc::pollfd {
                        fd: self.to_chrome.as_raw_fd(),
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    let ms = left.as_millis().clamp(1, 100) as libc::c_int;
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut pfd, 1, ms) };
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Handles incoming messages until `stop` says so (returns that message)
    /// or `deadline` passes (returns `None`).
    fn pump_until(
        &mut self,
        deadline: Instant,
        mut stop: impl FnMut(&Page, &Value) -> bool,
    ) -> Result<Option<Value>, String> {
        loop {
            if let Some(why) = self.crashed.clone() {
                return Err(self.fail(why));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match self.from_chrome.recv_timeout(left) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.fail("chromium closed the DevTools pipe".to_string()));
                }
            };
            self.handle_event(&msg);
            if stop(self, &msg) {
                return Ok(Some(msg));
            }
        }
    }

    fn handle_event(&mut self, msg: &Value) {
        let Some(session) = msg["sessionId"].as_str() else {
            return;
        };
        let Some(Listened {
            label,
            target_id,
            attached,
        }) = self.sessions.get(session).cloned()
        else {
            return;
        };
        if let Some(id) = msg["id"].as_u64() {
            if let Some(what) = self.setup_calls.remove(&id)
                && let Some(err) = msg.get("error")
            {
                self.seen
                    .console_errors
                    .push(format!("[driver] {label} {what} failed: {err}"));
            }
            return;
        }
        let Some(method) = msg["method"].as_str() else {
            return;
        };
        let params = &msg["params"];
        match method {
            "Target.attachedToTarget" => self.listen_to_child(params),
            "Target.detachedFromTarget" => {
                if let Some(child) = params["sessionId"].as_str() {
                    self.sessions.remove(child);
                    self.contexts.retain(|c| c.session != child);
                }
            }
            "Runtime.executionContextCreated" => {
                let context = &params["context"];
                let aux = &context["auxData"];
                if let (Some(id), Some(frame_id), Some(true)) = (
                    context["id"].as_i64(),
                    aux["frameId"].as_str(),
                    aux["isDefault"].as_bool(),
                ) {
                    self.contexts.push(FrameContext {
                        session: session.to_string(),
                        id,
                        frame_id: frame_id.to_string(),
                    });
                }
            }
            "Runtime.executionContextDestroyed" => {
                let id = params["executionContextId"].as_i64();
                self.contexts
                    .retain(|c| !(c.session == session && Some(c.id) == id));
            }
            "Runtime.executionContextsCleared" => self.contexts.retain(|c| c.session != session),
            "Network.requestWillBeSent" => {
                if let Some(url) = params["request"]["url"].as_str() {
                    self.seen.requests.push(url.to_string());
                }
            }
            "Runtime.exceptionThrown" => {
                let text = describe_exception(&params["exceptionDetails"]);
                self.seen
                    .console_errors
                    .push(format!("{label}exception: {text}"));
            }
            "Runtime.consoleAPICalled" => {
                let kind = params["type"].as_str().unwrap_or("");
                let args = || -> String {
                    let args: Vec<String> = params["args"]
                        .as_array()
                        .map(|a| a.iter().map(describe_remote_object).collect())
                        .unwrap_or_default();
                    args.join(" ")
                };
                match kind {
                    "error" | "assert" => self
                        .seen
                        .console_errors
                        .push(format!("{label}console.{kind}: {}", args())),
                    "warning" => self
                        .seen
                        .console_warnings
                        .push(format!("{label}console.warn: {}", args())),
                    _ => {}
                }
            }
            "Log.entryAdded" => {
                let entry = &params["entry"];
                let key = format!(
                    "{}|{}|{}|{}|{}",
                    entry["timestamp"],
                    entry["source"],
                    entry["level"],
                    entry["text"],
                    entry["url"]
                );
                if !self.log_entries.insert(key) {
                    return;
                }
                let source = entry["source"].as_str().unwrap_or("other");
                let mut line = format!(
                    "{label}log.{source}: {}",
                    entry["text"].as_str().unwrap_or("")
                );
                if let Some(url) = entry["url"].as_str() {
                    line.push(' ');
                    line.push_str(&shorten(url));
                }
                match entry["level"].as_str() {
                    Some("error") => self.seen.console_errors.push(line),
                    Some("warning") => self.seen.console_warnings.push(line),
                    _ => {}
                }
            }
            "Page.javascriptDialogOpening" => {
                let message = params["message"].as_str().unwrap_or("").to_string();
                self.seen.dialogs.push(message);
                // The response is not awaited; unknown ids are ignored by pump_until.
                let deadline = Instant::now() + Duration::from_secs(2);
                if let Err(e) = self.send(
                    Some(session),
                    "Page.handleJavaScriptDialog",
                    json!({ "accept": false }),
                    deadline,
                ) {
                    self.crashed = Some(format!("could not dismiss a dialog: {e}"));
                }
            }
            "Page.loadEventFired" if session == self.session => self.load_fired = true,
            // A child target attaches before its first navigation commits: name it then.
            "Page.frameNavigated" if params["frame"]["id"].as_str() == Some(&target_id) => {
                let url = shorten(params["frame"]["url"].as_str().unwrap_or(""));
                if let (Some(entry), Some(listened)) = (
                    attached.and_then(|i| self.seen.attached.get_mut(i)),
                    self.sessions.get_mut(session),
                ) {
                    let kind = entry.split(' ').next().unwrap_or("target").to_string();
                    *entry = format!("{kind} {url}");
                    listened.label = format!("[{kind} {url}] ");
                }
            }
            "Inspector.targetCrashed" => {
                self.crashed = Some(format!("{label}the page crashed"));
            }
            "Inspector.detached" if session == self.session => {
                let reason = params["reason"].as_str().unwrap_or("unknown reason");
                self.crashed = Some(format!("DevTools detached from the page: {reason}"));
            }
            _ => {}
        }
    }

    /// A child target was auto-attached, paused: enable what is collected from
    /// it, let it attach its own children, then let it run. The answers are not
    /// awaited (this runs inside [`Page::pump_until`]); a failed one is reported
    /// in [`Seen::console_errors`] unless its target went away meanwhile.
    fn listen_to_child(&mut self, params: &Value) {
        let (Some(child), info) = (params["sessionId"].as_str(), &params["targetInfo"]) else {
            return;
        };
        let kind = info["type"].as_str().unwrap_or("target");
        let url = info["url"].as_str().unwrap_or("");
        self.sessions.insert(
            child.to_string(),
            Listened {
                label: format!("[{kind} {}] ", shorten(url)),
                target_id: info["targetId"].as_str().unwrap_or("").to_string(),
                attached: Some(self.seen.attached.len()),
            },
        );
        self.seen.attached.push(format!("{kind} {}", shorten(url)));
        let is_frame = kind == "iframe" || kind == "page";
        let mut steps: Vec<(&str, Value)> = Vec::new();
        if is_frame {
            steps.push(("Page.enable", json!({})));
        }
        steps.push(("Runtime.enable", json!({})));
        steps.push(("Log.enable", json!({})));
        if is_frame {
            steps.push(("Network.enable", json!({})));
            steps.push(("Target.setAutoAttach", auto_attach_params()));
        }
        steps.push(("Runtime.runIfWaitingForDebugger", json!({})));
        let deadline = Instant::now() + Duration::from_secs(2);
        for (method, params) in steps {
            match self.send(Some(child), method, params, deadline) {
                Ok(id) => {
                    self.setup_calls.insert(id, method.to_string());
                }
                Err(e) => {
                    self.crashed = Some(format!("could not set up a child target: {e}"));
                    return;
                }
            }
        }
    }

    /// An error message with Chrome's exit status (if it exited) and stderr tail.
    fn fail(&mut self, what: String) -> String {
        let status = self.exit_status();
        if status.is_some() {
            // Give the stderr reader a moment to drain the last lines.
            let until = Instant::now() + Duration::from_millis(500);
            while !self.stderr_done.load(Ordering::SeqCst) && Instant::now() < until {
                thread::sleep(Duration::from_millis(10));
            }
        }
        let mut out = what;
        if let Some(s) = status {
            out.push_str(&format!(" (chromium {s})"));
        }
        let tail = self.stderr_tail();
        if !tail.is_empty() {
            out.push_str("\n--- chromium stderr (tail) ---\n");
            out.push_str(&tail);
        }
        out
    }

    /// How Chrome ended, without reaping it (so its pid, which is also its
    /// process group id, stays reserved until `Drop` has killed the group).
    fn exit_status(&self) -> Option<String> {
        // SAFETY: zeroed siginfo_t is a valid out-parameter for waitid.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let rc = libc::waitid(
                libc::P_PID,
                self.child.id() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            if rc != 0 {
                // ECHILD: already reaped.
                return Some("exited".to_string());
            }
            if info.si_pid() == 0 {
                return None;
            }
            let status = info.si_status();
            Some(match info.si_code {
                libc::CLD_EXITED => format!("exited with code {status}"),
                _ => format!("killed by signal {status}"),
            })
        }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // Ask politely, so Chrome stops writing to the profile dir...
        self.next_id += 1;
        let mut close = json!({ "id": self.next_id, "method": "Browser.close" }).to_string();
        close.push('\0');
        let _ = self.write_bounded(
            close.as_bytes(),
            Instant::now() + Duration::from_millis(500),
        );
        let until = Instant::now() + CLOSE_GRACE;
        while self.exit_status().is_none() && Instant::now() < until {
            thread::sleep(Duration::from_millis(20));
        }
        // ...then make sure nothing of it is left: the whole process group
        // (renderers, zygote, GPU/utility processes) and the browser itself.
        let pid = self.child.id() as libc::pid_t;
        if pid > 0 {
            // SAFETY: the child is not reaped yet, so its pgid cannot have been reused.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [libc::c_int; 2] = [-1, -1];
    // SAFETY: fds points at two c_ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Reader thread: NUL-separated JSON messages into the channel, until EOF.
fn read_messages(from_chrome: File, tx: mpsc::Sender<Value>) {
    let mut reader = BufReader::with_capacity(1 << 16, from_chrome);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(0, &mut buf) {
            Ok(0) => return,
            Ok(_) => {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn read_stderr(
    stderr: std::process::ChildStderr,
    tail: &Mutex<VecDeque<String>>,
    done: &AtomicBool,
) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                if line.is_empty() || is_noise(&line) {
                    continue;
                }
                if let Ok(mut t) = tail.lock() {
                    if t.len() == STDERR_TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    done.store(true, Ordering::SeqCst);
}

/// Lines Chrome prints on every start in a container (no session bus, no
/// cpufreq in /sys, a shell test in Debian's wrapper), hiding the useful ones.
fn is_noise(line: &str) -> bool {
    ["dbus", "D-Bus", "/cpufreq/", "unexpected operator"]
        .iter()
        .any(|n| line.contains(n))
}

/// `exceptionDetails` as "Uncaught Error: bad\n    at ...".
fn describe_exception(details: &Value) -> String {
    let text = details["text"].as_str().unwrap_or("exception");
    match details["exception"]["description"].as_str() {
        // "Uncaught" + "Error: bad\n    at ...", but a rejected promise's text
        // already is "Uncaught (in promise) Error: bad".
        Some(desc) => match desc.split_once('\n') {
            Some((first, stack)) if text.ends_with(first) => format!("{text}\n{stack}"),
            None if text.ends_with(desc) => text.to_string(),
            _ => format!("{text} {desc}"),
        },
        None => match details["exception"].get("value") {
            Some(v) => format!("{text} {v}"),
            None => {
                let url = details["url"].as_str().unwrap_or("");
                let line = details["lineNumber"].as_u64().unwrap_or(0) + 1;
                format!("{text} ({url}:{line})")
            }
        },
    }
}

/// A URL cut to 80 characters (a flame graph's data: URL is megabytes long).
fn shorten(url: &str) -> String {
    match url.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &url[..at]),
        None => url.to_string(),
    }
}

/// A console argument as the DevTools console would roughly print it.
fn describe_remote_object(arg: &Value) -> String {
    match arg.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => arg["unserializableValue"]
            .as_str()
            .or_else(|| arg["description"].as_str())
            .or_else(|| arg["type"].as_str())
            .unwrap_or("")
            .to_string(),
    }
}
