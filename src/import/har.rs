//! `gander import har`: the requests of a browser session, in order, as the
//! steps of one scenario. Static assets and other hosts are left out unless
//! asked for; the think time comes from the recorded gaps; and every value the
//! service handed out (a token or id in a JSON body, a response header, a
//! cookie) that the browser later sent back is captured where it first
//! appeared and sent as `${var}`, so the scenario works when the service hands
//! out new values (correlation).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::emit::{
    self, BodyOut, CaptureFrom, CaptureOut, Field, FlowOut, LeftOut, ScenarioOut, StepOut,
};
use super::{
    Generated, ImportError, Input, Located, Origin, find_loc, format_ms, is_password_field,
    parse_document, singular, variable_name,
};

/// What `gander import har` was asked for.
#[derive(Debug, Clone)]
pub struct HarOptions {
    /// Hosts besides the session's own to keep (`api.example.com` or `host:port`).
    pub include_hosts: Vec<String>,
    /// Keep images, scripts, style sheets and fonts.
    pub include_static: bool,
    /// The longest recorded pause taken as think time.
    pub max_think: Duration,
}

impl Default for HarOptions {
    fn default() -> Self {
        HarOptions {
            include_hosts: Vec::new(),
            include_static: false,
            max_think: Duration::from_secs(5),
        }
    }
}

/// Gaps shorter than this are the browser firing requests together, not a person thinking.
const BURST_MS: u64 = 100;

/// Response headers never correlated (they describe the response, not the session).
const PLAIN_RESPONSE_HEADERS: &[&str] = &[
    "date",
    "expires",
    "last-modified",
    "content-length",
    "content-type",
    "content-encoding",
    "server",
    "set-cookie",
    "vary",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "cache-control",
    "age",
    "etag",
    "accept-ranges",
    "strict-transport-security",
];

/// Request headers the browser manages or that would change what the server
/// answers (cache validators): not written into steps.
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "accept-encoding",
    "cookie",
    "user-agent",
    "upgrade-insecure-requests",
    "pragma",
    "cache-control",
    "if-none-match",
    "if-modified-since",
    "referer",
    "origin",
    "priority",
    "te",
    "dnt",
    "accept-language",
    "keep-alive",
    "proxy-connection",
    "purpose",
    "sec-purpose",
];

const STATIC_EXTENSIONS: &[&str] = &[
    "js", "mjs", "css", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "bmp", "woff",
    "woff2", "ttf", "otf", "eot", "map", "mp4", "webm", "mp3", "ogg", "wav", "wasm",
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(default)]
    started_date_time: String,
    #[serde(default)]
    time: Option<f64>,
    request: Request,
    response: Response,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<NameValue>,
    #[serde(default)]
    post_data: Option<PostData>,
}

#[derive(Debug, Clone, Deserialize)]
struct NameValue {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostData {
    #[serde(default)]
    mime_type: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    params: Vec<Param>,
}

#[derive(Debug, Deserialize)]
struct Param {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    status: i64,
    #[serde(default)]
    headers: Vec<NameValue>,
    #[serde(default)]
    content: Content,
    #[serde(default, rename = "redirectURL")]
    redirect_url: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    #[serde(default)]
    mime_type: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
}

/// A recorded request kept for the scenario.
struct Recorded {
    /// 1-based position in the recording, for comments.
    number: usize,
    method: String,
    url: reqwest::Url,
    start_ms: f64,
    end_ms: f64,
    request: Request,
    /// The response the client ends with (after following a recorded redirect).
    response: Response,
    /// The recorded status of the request itself.
    first_status: i64,
    redirected_to: Option<String>,
    /// `Set-Cookie` values of a redirect merged into this step.
    redirect_cookies: Vec<String>,
}

/// A value the service handed out, and where.
#[derive(Debug, Clone)]
struct Source {
    step: usize,
    from: CaptureFrom,
    hint: String,
}

/// Imports a HAR recording.
pub fn import(input: &Input, options: &HarOptions) -> Result<Generated, ImportError> {
    let value = parse_document(input)?;
    let entries = entries(input, &value)?;
    let total = entries.len();

    // Parse, then sort by start time (recordings usually are already).
    let mut recorded: Vec<Recorded> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let starts: Vec<Option<chrono::DateTime<chrono::FixedOffset>>> = entries
        .iter()
        .map(|e| chrono::DateTime::parse_from_rfc3339(&e.started_date_time).ok())
        .collect();
    let first_start = starts.iter().flatten().min().copied();
    for (i, (entry, start)) in entries.into_iter().zip(starts).enumerate() {
        let url = match reqwest::Url::parse(&entry.request.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                skipped.push("not an http(s) request".into());
                continue;
            }
        };
        let start_ms = match (start, first_start) {
            (Some(s), Some(f)) => (s - f).num_microseconds().unwrap_or(0) as f64 / 1000.0,
            _ => recorded.last().map_or(0.0, |r| r.end_ms),
        };
        let time = entry
            .time
            .filter(|t| t.is_finite() && *t >= 0.0)
            .unwrap_or(0.0);
        recorded.push(Recorded {
            number: i + 1,
            method: entry.request.method.to_ascii_uppercase(),
            url,
            start_ms,
            end_ms: start_ms + time,
            first_status: entry.response.status,
            request: entry.request,
            response: entry.response,
            redirected_to: None,
            redirect_cookies: Vec::new(),
        });
    }
    recorded.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));

    let Some(primary) = recorded.first().map(|r| origin_of(&r.url)) else {
        return Err(ImportError::NothingToImport(
            Located::new(
                input,
                format!("none of the {total} recorded requests is an http(s) request"),
            )
            .pointer("/log/entries")
            .help("record the session over http:// or https://"),
        ));
    };
    let include = |url: &reqwest::Url| {
        let origin = origin_of(url);
        let host = url.host_str().unwrap_or("");
        let host_port = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        origin == primary
            || options.include_hosts.iter().any(|h| {
                let h = h.trim_end_matches('/');
                h == host || h == host_port || h == origin
            })
    };

    let mut other_hosts: Vec<(String, usize)> = Vec::new();
    let mut kept: Vec<Recorded> = Vec::new();
    for r in recorded {
        let method_ok = matches!(
            r.method.as_str(),
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD"
        );
        if !method_ok {
            skipped.push(format!("{} requests (no such step)", r.method));
        } else if r.first_status <= 0 {
            skipped.push("requests without a response (blocked or cancelled)".into());
        } else if !include(&r.url) {
            let host = r.url.host_str().unwrap_or("").to_string();
            match other_hosts.iter_mut().find(|(h, _)| *h == host) {
                Some((_, n)) => *n += 1,
                None => other_hosts.push((host, 1)),
            }
        } else if !options.include_static && is_static(&r) {
            skipped.push("static assets (--include-static keeps them)".into());
        } else {
            kept.push(r);
        }
    }
    merge_redirects(&mut kept);
    if kept.is_empty() {
        let hosts: Vec<String> = other_hosts
            .iter()
            .map(|(h, n)| format!("{h} ({n})"))
            .collect();
        let help = if hosts.is_empty() {
            "add --include-static to keep static assets".to_string()
        } else {
            format!(
                "the recording starts on {primary}; --include-host HOST keeps another host (seen: {})",
                hosts.join(", ")
            )
        };
        return Err(ImportError::NothingToImport(
            Located::new(
                input,
                format!("all {total} recorded requests were left out"),
            )
            .pointer("/log/entries")
            .help(help),
        ));
    }

    let mut c = Correlator::new(&kept, &primary);
    let mut steps: Vec<StepOut> = Vec::new();
    for (k, r) in kept.iter().enumerate() {
        let step = c.step(k, r);
        c.learn(k, r);
        steps.push(step);
    }
    // Captures go on the steps whose responses first held the values.
    for (k, captures) in std::mem::take(&mut c.captures) {
        steps[k].captures = captures;
    }
    let login = c.login_step();
    let jar_note = c.jar_cookies.then(|| {
        "A cookie set by a redirect is sent back by the users' cookie jars, so no Cookie header is written.".to_string()
    });

    // Think time from the gaps between requests.
    let mut gaps = Vec::new();
    for (k, r) in kept.iter().enumerate().skip(1) {
        let gap = (r.start_ms - kept[k - 1].end_ms).max(0.0) as u64;
        let capped = gap.min(options.max_think.as_millis() as u64);
        steps[k].notes[0].push_str(&format!(" ({} after the previous response)", human_ms(gap)));
        if capped >= BURST_MS {
            gaps.push(capped);
        }
    }
    let think_time = think_time(&gaps, options.max_think);

    let (on_start, steps) = match login {
        Some(k) if k + 1 < steps.len() => {
            let mut steps = steps;
            let rest = steps.split_off(k + 1);
            (steps, rest)
        }
        _ => (Vec::new(), steps),
    };
    let on_start_note = if on_start.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "Once per user: the recorded requests up to the login (request {}).",
            kept[login.unwrap_or(0)].number
        )]
    };

    let mut left_notes: Vec<String> = Vec::new();
    let mut counted: Vec<(String, usize)> = Vec::new();
    for s in &skipped {
        match counted.iter_mut().find(|(t, _)| t == s) {
            Some((_, n)) => *n += 1,
            None => counted.push((s.clone(), 1)),
        }
    }
    for (what, n) in &counted {
        left_notes.push(format!("{n} {what}"));
    }
    if !other_hosts.is_empty() {
        let hosts: Vec<String> = other_hosts
            .iter()
            .map(|(h, n)| format!("{h} ({n})"))
            .collect();
        left_notes.push(format!(
            "requests to other hosts: {} (--include-host HOST keeps one)",
            hosts.join(", ")
        ));
    }
    let redirects = kept.iter().filter(|r| r.redirected_to.is_some()).count();
    if redirects > 0 {
        left_notes.push(format!(
            "{redirects} redirect targets: the client follows the redirect of the step before"
        ));
    }

    let mut summary = vec![format!(
        "{} steps from {total} recorded requests",
        kept.len()
    )];
    if !left_notes.is_empty() {
        summary.push(format!("left out: {}", left_notes.join("; ")));
    }
    let captured: Vec<String> = c.described_captures();
    if !captured.is_empty() {
        summary.push(format!("captured and sent back: {}", captured.join(", ")));
    }
    if !on_start.is_empty() {
        summary.push(format!(
            "on_start: the first {} requests, up to the login",
            on_start.len()
        ));
    }
    if c.hard_coded > 0 {
        summary.push(format!(
            "{} values stay as recorded: search the file for \"hard-coded\"",
            c.hard_coded
        ));
    }

    let name = match &input.origin {
        Origin::File(p) => p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recording".into()),
        Origin::Url(u) => u.path().to_string(),
    };
    let mut header = vec![
        format!(
            "Imported by `gander import har` from {}: {total} recorded requests, {} kept.",
            input.origin,
            kept.len()
        ),
        "Values the service handed out are captured where they first appeared and sent back as ${var}.".into(),
        "Check it with: gander check FILE    Run it with: gander run FILE".into(),
    ];
    for note in &left_notes {
        header.push(format!("Left out: {note}."));
    }
    header.extend(jar_note);
    let scenario = ScenarioOut {
        header,
        name: slug(&name),
        host: primary.clone(),
        host_note: Some("the host the recording started on".into()),
        variables: c.variables.clone(),
        flow: FlowOut {
            name: "recorded user".into(),
            think_time,
            on_start_note,
            on_start,
            steps,
            left_out: Vec::<LeftOut>::new(),
        },
        target_examples: vec![
            "Set the limits below from a first clean run, then uncomment them:".into(),
            "p95: 500ms                           # 95 % of requests faster than this".into(),
            "throughput: 20/s                     # at least this many requests per second".into(),
        ],
    };
    Ok(Generated {
        yaml: emit::render(&scenario),
        summary,
        todo: Vec::new(),
    })
}

/// The recording's entries, or a located reason it is not a HAR recording.
fn entries(input: &Input, value: &Value) -> Result<Vec<Entry>, ImportError> {
    let top = Some(crate::scenario::spanned::Loc { line: 1, column: 1 });
    let help =
        "export the recording from the browser's developer tools: Network tab, \"Save all as HAR\"";
    let Some(log) = value.get("log") else {
        let hint = if value.get("openapi").is_some() || value.get("swagger").is_some() {
            "this is an OpenAPI document: use gander import openapi FILE".to_string()
        } else {
            help.to_string()
        };
        return Err(ImportError::NotHar(
            Located::new(
                input,
                "not a HAR recording: no \"log\" object at the top level",
            )
            .at(top)
            .help(hint),
        ));
    };
    let Some(list) = log.get("entries") else {
        return Err(ImportError::NotHar(
            Located::new(input, "not a HAR recording: \"log\" has no \"entries\"")
                .at(find_loc(&input.text, "\"log\"").or(top))
                .pointer("/log")
                .help(help),
        ));
    };
    let Some(list) = list.as_array() else {
        return Err(ImportError::NotHar(
            Located::new(input, "not a HAR recording: \"log.entries\" is not a list")
                .at(find_loc(&input.text, "\"entries\"").or(top))
                .pointer("/log/entries")
                .help(help),
        ));
    };
    if list.is_empty() {
        return Err(ImportError::EmptyHar(
            Located::new(input, "the recording has no entries: it holds no requests")
                .at(find_loc(&input.text, "\"entries\"").or(top))
                .pointer("/log/entries")
                .help("record again: open the Network tab before using the site, then \"Save all as HAR (with content)\""),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let entry: Entry = serde_json::from_value(e.clone()).map_err(|err| {
            ImportError::NotHar(
                Located::new(input, format!("entry {i} is not a HAR entry: {err}"))
                    .pointer(format!("/log/entries/{i}"))
                    .help("each entry needs request { method, url } and response { status }; export the recording again"),
            )
        })?;
        out.push(entry);
    }
    Ok(out)
}

fn origin_of(url: &reqwest::Url) -> String {
    let mut origin = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        origin.push_str(&format!(":{port}"));
    }
    origin
}

fn is_static(r: &Recorded) -> bool {
    let mime = r.response.content.mime_type.to_ascii_lowercase();
    let by_type = mime.starts_with("image/")
        || mime.starts_with("font/")
        || mime.starts_with("audio/")
        || mime.starts_with("video/")
        || mime.starts_with("text/css")
        || mime.contains("javascript")
        || mime.contains("wasm");
    let ext = r
        .url
        .path()
        .rsplit('/')
        .next()
        .and_then(|last| last.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    by_type || ext.is_some_and(|e| STATIC_EXTENSIONS.contains(&e.as_str()))
}

/// A recorded redirect and the request that followed it become one step (the
/// client follows redirects): the follow-up's response is the step's.
fn merge_redirects(kept: &mut Vec<Recorded>) {
    let mut k = 0;
    while k + 1 < kept.len() {
        let r = &kept[k];
        let location = (300..400).contains(&r.response.status).then(|| {
            header(&r.response.headers, "location")
                .map(str::to_string)
                .or_else(|| {
                    (!r.response.redirect_url.is_empty()).then(|| r.response.redirect_url.clone())
                })
        });
        let target = location.flatten().and_then(|l| r.url.join(&l).ok());
        match target {
            Some(t) if kept[k + 1].url == t && kept[k + 1].method == "GET" => {
                let next = kept.remove(k + 1);
                let r = &mut kept[k];
                r.redirected_to = Some(next.url.to_string());
                r.end_ms = next.end_ms;
                r.redirect_cookies = r
                    .response
                    .headers
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case("set-cookie"))
                    .map(|h| h.value.clone())
                    .collect();
                r.response = next.response;
            }
            _ => k += 1,
        }
    }
}

fn header<'a>(headers: &'a [NameValue], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Finds the values each request sends back and writes the steps.
struct Correlator<'r> {
    kept: &'r [Recorded],
    primary: String,
    /// Values seen first in a response, by text.
    sources: HashMap<String, Source>,
    /// Values the client sent before any response held them: never correlated.
    sent: HashSet<String>,
    /// value -> variable, once a value has been sent back.
    vars: HashMap<String, String>,
    taken: Vec<String>,
    captures: HashMap<usize, Vec<CaptureOut>>,
    variables: Vec<Field>,
    /// Requests holding a password (the login), by step.
    password_steps: Vec<usize>,
    /// Steps whose captured values are sent back as credentials (auth header or cookie).
    auth_sources: Vec<usize>,
    /// Text (HTML...) responses by step, searched for values sent back later.
    texts: Vec<(usize, String)>,
    /// Cookies set by a redirect: the cookie jar must carry cookies.
    jar_cookies: bool,
    hard_coded: usize,
}

impl<'r> Correlator<'r> {
    fn new(kept: &'r [Recorded], primary: &str) -> Self {
        // A capture reads the final response of a step, so a cookie set by a
        // redirect on the way cannot be captured: the cookie jar carries it.
        let jar_cookies = kept.iter().any(|r| !r.redirect_cookies.is_empty());
        Correlator {
            kept,
            primary: primary.to_string(),
            sources: HashMap::new(),
            sent: HashSet::new(),
            vars: HashMap::new(),
            taken: Vec::new(),
            captures: HashMap::new(),
            variables: Vec::new(),
            password_steps: Vec::new(),
            auth_sources: Vec::new(),
            texts: Vec::new(),
            jar_cookies,
            hard_coded: 0,
        }
    }

    /// `${var}` for `value` when an earlier response handed it out; else
    /// `None`, and the value counts as sent by the client.
    fn sink(
        &mut self,
        value: &str,
        step: usize,
        place: &str,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        if value.is_empty() {
            return None;
        }
        let source = match self.sources.get(value).cloned() {
            Some(s) => s,
            None => match self.text_source(value) {
                Some(s) => {
                    self.sources.insert(value.to_string(), s.clone());
                    s
                }
                None => {
                    self.sent.insert(value.to_string());
                    return None;
                }
            },
        };
        if source.step >= step {
            return None;
        }
        let var = match self.vars.get(value) {
            Some(v) => v.clone(),
            None => {
                let var = variable_name(&source.hint, &mut self.taken);
                self.vars.insert(value.to_string(), var.clone());
                let what = match &source.from {
                    CaptureFrom::Json(p) => format!("JSON {p}"),
                    CaptureFrom::Header(h) => format!("header {h}"),
                    CaptureFrom::Cookie(c) => format!("cookie {c}"),
                    CaptureFrom::Regex(r) => format!("regex {r}"),
                };
                self.captures
                    .entry(source.step)
                    .or_default()
                    .push(CaptureOut {
                        var: var.clone(),
                        from: source.from.clone(),
                        note: Some(format!(
                            "recorded {}: handed out here ({what}), sent back by request {}",
                            preview(value),
                            self.kept[step].number
                        )),
                    });
                var
            }
        };
        notes.push(format!(
            "{place}: ${{{var}}} (recorded {}), captured from request {}",
            preview(value),
            self.kept[source.step].number
        ));
        Some(var)
    }

    /// Writes step `k` from its recorded request, sending back captured values.
    fn step(&mut self, k: usize, r: &Recorded) -> StepOut {
        let mut notes = vec![format!(
            "{}. {} {} at +{}",
            r.number,
            r.method,
            shorten(r.url.as_str()),
            human_ms(r.start_ms as u64)
        )];

        // The URL: path segments and query values may be captured values.
        let mut url = if origin_of(&r.url) == self.primary {
            String::new()
        } else {
            emit::literal(&origin_of(&r.url))
        };
        let segments: Vec<String> = r.url.path().split('/').map(str::to_string).collect();
        for (i, seg) in segments.iter().enumerate() {
            if i > 0 {
                url.push('/');
            }
            let decoded = percent_encoding::percent_decode_str(seg)
                .decode_utf8_lossy()
                .into_owned();
            match self.sink(&decoded, k, "path", &mut notes) {
                Some(var) => url.push_str(&format!("${{{var}}}")),
                None => url.push_str(&emit::literal(seg)),
            }
        }
        if let Some(query) = r.url.query() {
            url.push('?');
            let mut parts = Vec::new();
            for pair in query.split('&') {
                let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
                let decoded = percent_encoding::percent_decode_str(&raw.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned();
                let place = format!("query {key}");
                match self.sink(&decoded, k, &place, &mut notes) {
                    Some(var) => parts.push(format!("{}=${{{var}}}", emit::literal(key))),
                    None => parts.push(emit::literal(pair)),
                }
            }
            url.push_str(&parts.join("&"));
        }
        let method: &'static str = match r.method.as_str() {
            "POST" => "post",
            "PUT" => "put",
            "PATCH" => "patch",
            "DELETE" => "delete",
            "HEAD" => "head",
            _ => "get",
        };
        let mut step = StepOut::new(method, url);

        // Headers: credentials and custom headers; the browser's own are dropped.
        let post_mime = r
            .request
            .post_data
            .as_ref()
            .map(|p| p.mime_type.to_ascii_lowercase())
            .unwrap_or_default();
        let structured_body =
            post_mime.contains("json") || post_mime.contains("x-www-form-urlencoded");
        for h in &r.request.headers {
            let lower = h.name.to_ascii_lowercase();
            if lower.starts_with(':')
                || lower.starts_with("sec-")
                || DROPPED_REQUEST_HEADERS.contains(&lower.as_str())
                || (lower == "content-type" && structured_body)
                || (lower == "accept" && h.value == "*/*")
            {
                continue;
            }
            let place = format!("header {}", h.name);
            let value = match self.sink(&h.value, k, &place, &mut notes) {
                Some(var) => Some(format!("${{{var}}}")),
                None => h.value.split_once(' ').and_then(|(scheme, token)| {
                    let scheme_ok = scheme.chars().all(|c| c.is_ascii_alphabetic());
                    if !scheme_ok {
                        return None;
                    }
                    self.sink(token.trim(), k, &place, &mut notes)
                        .map(|var| format!("{} ${{{var}}}", emit::literal(scheme)))
                }),
            };
            let is_auth =
                lower == "authorization" || lower.contains("token") || lower.contains("api-key");
            match value {
                Some(v) => {
                    if is_auth {
                        self.mark_auth_source(&h.value);
                    }
                    step.headers.push(Field::new(h.name.clone(), v));
                }
                None => {
                    if is_auth {
                        self.hard_coded += 1;
                        step.headers.push(
                            Field::new(h.name.clone(), emit::literal(&h.value))
                                .note("hard-coded: no recorded response handed this value out"),
                        );
                    } else {
                        step.headers
                            .push(Field::new(h.name.clone(), emit::literal(&h.value)));
                    }
                }
            }
        }
        if let Some(cookie) = header(&r.request.headers, "cookie")
            && !self.jar_cookies
        {
            let mut pairs = Vec::new();
            let mut fixed = Vec::new();
            for pair in cookie.split(';') {
                let pair = pair.trim();
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let place = format!("cookie {name}");
                match self.sink(value, k, &place, &mut notes) {
                    Some(var) => {
                        self.mark_auth_source(value);
                        pairs.push(format!("{}=${{{var}}}", emit::literal(name)));
                    }
                    None => {
                        fixed.push(name.to_string());
                        pairs.push(emit::literal(pair));
                    }
                }
            }
            let mut field = Field::new("Cookie", pairs.join("; "));
            if !fixed.is_empty() {
                self.hard_coded += 1;
                field = field.note(format!(
                    "hard-coded: {} not set by a recorded response",
                    fixed.join(", ")
                ));
            }
            step.headers.push(field);
        }

        // The body.
        if let Some(post) = &r.request.post_data {
            self.body(k, post, &mut step, &mut notes);
        }

        // The status the recording got (a 304 came from the browser's cache validators).
        let status = r.response.status;
        if r.redirected_to.is_some() {
            notes.push(format!(
                "the recorded {} redirect to {} is followed by the client",
                r.first_status,
                shorten(r.redirected_to.as_deref().unwrap_or(""))
            ));
        }
        match status {
            304 => {
                step.expect_status = Some(200);
                step.expect_note =
                    Some("recorded 304 (a browser cache hit); a fresh request gets 200".into());
            }
            300..=399 => {
                step.expect_note = Some(format!(
                    "recorded {status}, a redirect the recording did not follow: any status below 400 passes"
                ));
            }
            s if (100..600).contains(&s) => {
                step.expect_status = Some(s as u16);
                step.expect_note = Some(if s >= 400 {
                    format!("recorded {s}: the session got an error here too")
                } else {
                    "the recorded status".into()
                });
            }
            _ => {}
        }
        step.notes = notes;
        step
    }

    fn body(&mut self, k: usize, post: &PostData, step: &mut StepOut, notes: &mut Vec<String>) {
        let mime = post.mime_type.to_ascii_lowercase();
        let text = post.text.clone().unwrap_or_default();
        if mime.contains("json")
            && let Ok(value) = serde_json::from_str::<Value>(&text)
        {
            let mut numbers = Vec::new();
            let body = self.json_sinks(k, &value, &mut String::new(), notes, &mut numbers);
            if !numbers.is_empty() {
                self.hard_coded += 1;
                step.body_note = Some(format!(
                    "hard-coded: the numbers at {} match values from earlier responses, but a captured value is sent as a string",
                    numbers.join(", ")
                ));
            }
            step.body = BodyOut::Json(body);
        } else if mime.contains("x-www-form-urlencoded") {
            let pairs: Vec<(String, String)> = if !post.params.is_empty() {
                post.params
                    .iter()
                    .map(|p| (p.name.clone(), p.value.clone().unwrap_or_default()))
                    .collect()
            } else {
                text.split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        let d = |s: &str| {
                            percent_encoding::percent_decode_str(&s.replace('+', " "))
                                .decode_utf8_lossy()
                                .into_owned()
                        };
                        (d(k), d(v))
                    })
                    .collect()
            };
            let mut fields = Vec::new();
            for (name, value) in pairs {
                if is_password_field(&name) {
                    self.password_steps.push(k);
                    let var = self.password_variable(&value);
                    fields.push(Field::new(name, format!("${{{var}}}")));
                    continue;
                }
                let place = format!("form {name}");
                match self.sink(&value, k, &place, notes) {
                    Some(var) => fields.push(Field::new(name, format!("${{{var}}}"))),
                    None => fields.push(Field::new(name, emit::literal(&value))),
                }
            }
            step.body = BodyOut::Form(fields);
        } else if !text.is_empty() {
            let mut body = emit::literal(&text);
            let mut replaced = Vec::new();
            for (value, _) in self.sources.clone() {
                if value.len() >= 8 && text.contains(&value) {
                    let place = "body";
                    if let Some(var) = self.sink(&value, k, place, notes) {
                        body = body.replace(&emit::literal(&value), &format!("${{{var}}}"));
                        replaced.push(var);
                    }
                }
            }
            if !post.mime_type.is_empty() {
                step.headers
                    .push(Field::new("Content-Type", emit::literal(&post.mime_type)));
            }
            step.body = BodyOut::Raw(body);
        }
    }

    /// A JSON request body with captured values sent back; `numbers` collects
    /// the pointers of numbers that match captured values.
    fn json_sinks(
        &mut self,
        k: usize,
        value: &Value,
        pointer: &mut String,
        notes: &mut Vec<String>,
        numbers: &mut Vec<String>,
    ) -> Value {
        match value {
            Value::String(s) => {
                let key = pointer.rsplit('/').next().unwrap_or("");
                if is_password_field(key) {
                    self.password_steps.push(k);
                    let var = self.password_variable(s);
                    return Value::String(format!("${{{var}}}"));
                }
                let place = format!("JSON {pointer}");
                match self.sink(s, k, &place, notes) {
                    Some(var) => Value::String(format!("${{{var}}}")),
                    None => Value::String(emit::literal(s)),
                }
            }
            Value::Number(n) => {
                let text = n.to_string();
                if self.sources.get(&text).is_some_and(|s| s.step < k) {
                    numbers.push(pointer.clone());
                } else {
                    self.sent.insert(text);
                }
                value.clone()
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let len = pointer.len();
                        pointer.push_str(&format!("/{i}"));
                        let out = self.json_sinks(k, v, pointer, notes, numbers);
                        pointer.truncate(len);
                        out
                    })
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, v)| {
                        let len = pointer.len();
                        pointer.push('/');
                        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                        let out = self.json_sinks(k, v, pointer, notes, numbers);
                        pointer.truncate(len);
                        (key.clone(), out)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The variable holding a recorded password (one per distinct password).
    fn password_variable(&mut self, recorded: &str) -> String {
        let key = format!("\u{0}password:{recorded}");
        if let Some(v) = self.vars.get(&key) {
            return v.clone();
        }
        let var = variable_name("password", &mut self.taken);
        self.vars.insert(key, var.clone());
        self.variables
            .push(Field::new(var.clone(), emit::literal(recorded)).note(
                "recorded in the HAR file; consider ${env.NAME} instead of keeping a password here",
            ));
        var
    }

    fn mark_auth_source(&mut self, value: &str) {
        let token = value.split_once(' ').map_or(value, |(_, t)| t.trim());
        for v in [value, token] {
            if let Some(s) = self.sources.get(v) {
                self.auth_sources.push(s.step);
            }
        }
    }

    /// A value an earlier text response (an HTML form's hidden field, say)
    /// holds: captured with a regular expression anchored on the text before
    /// it, checked to find exactly this value in that response.
    fn text_source(&self, value: &str) -> Option<Source> {
        let simple = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~+/=:".contains(c));
        if self.sent.contains(value) || !token_like(value) || !simple {
            return None;
        }
        let field = regex::Regex::new(r#"(?:name|id)=["']([^"']+)["']"#).ok()?;
        for (step, text) in &self.texts {
            let Some(at) = text.find(value) else {
                continue;
            };
            for width in [16usize, 32, 64] {
                let mut start = at.saturating_sub(width);
                while !text.is_char_boundary(start) {
                    start += 1;
                }
                let prefix = &text[start..at];
                let prefix = prefix.rsplit('\n').next().unwrap_or(prefix);
                if prefix.trim().is_empty() {
                    break;
                }
                let pattern = format!("{}([A-Za-z0-9_\\-.~+/=:]+)", regex::escape(prefix));
                let Ok(re) = regex::Regex::new(&pattern) else {
                    break;
                };
                let found = re.captures(text).and_then(|c| c.get(1)).map(|m| m.as_str());
                if found == Some(value) {
                    // Name it after the form field or element it sits in.
                    let mut from = at.saturating_sub(160);
                    while !text.is_char_boundary(from) {
                        from += 1;
                    }
                    let hint = field
                        .captures_iter(&text[from..at])
                        .last()
                        .and_then(|c| c.get(1))
                        .map(|m| m.as_str().to_string())
                        .unwrap_or_else(|| "token".into());
                    return Some(Source {
                        step: *step,
                        from: CaptureFrom::Regex(pattern),
                        hint,
                    });
                }
            }
        }
        None
    }

    /// Records the values step `k`'s response handed out.
    fn learn(&mut self, k: usize, r: &Recorded) {
        let mut found: Vec<(String, CaptureFrom, String)> = Vec::new();
        for h in &r.response.headers {
            let lower = h.name.to_ascii_lowercase();
            if lower == "set-cookie" {
                let pair = h.value.split(';').next().unwrap_or("");
                if let Some((name, value)) = pair.split_once('=') {
                    let (name, value) = (name.trim(), value.trim());
                    if !value.is_empty() {
                        found.push((
                            value.to_string(),
                            CaptureFrom::Cookie(name.to_string()),
                            name.to_string(),
                        ));
                    }
                }
            } else if !PLAIN_RESPONSE_HEADERS.contains(&lower.as_str()) && h.value.len() >= 8 {
                found.push((
                    h.value.clone(),
                    CaptureFrom::Header(h.name.clone()),
                    h.name.clone(),
                ));
            }
        }
        let json = response_json(&r.response);
        if json.is_none()
            && let Some(text) = response_text(&r.response)
        {
            self.texts.push((k, text));
        }
        if let Some(json) = json {
            let resource = r
                .url
                .path_segments()
                .and_then(|mut s| {
                    s.rfind(|seg| !seg.is_empty() && !seg.chars().all(|c| c.is_ascii_digit()))
                })
                .map(singular)
                .unwrap_or_default();
            let mut budget = 5000;
            json_values(
                &json,
                &mut String::new(),
                &resource,
                &mut found,
                &mut budget,
            );
        }
        for (value, from, hint) in found {
            if self.sent.contains(&value) || self.sources.contains_key(&value) {
                continue;
            }
            self.sources.insert(
                value,
                Source {
                    step: k,
                    from,
                    hint,
                },
            );
        }
    }

    /// The step that logs in: the first that sends a password, else the first
    /// whose response handed out a credential sent back later.
    fn login_step(&self) -> Option<usize> {
        self.password_steps
            .iter()
            .min()
            .copied()
            .or_else(|| self.auth_sources.iter().min().copied())
    }

    fn described_captures(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut steps: Vec<&usize> = self.captures.keys().collect();
        steps.sort();
        for k in steps {
            for c in &self.captures[k] {
                let from = match &c.from {
                    CaptureFrom::Json(p) => format!("JSON {p}"),
                    CaptureFrom::Header(h) => format!("header {h}"),
                    CaptureFrom::Cookie(n) => format!("cookie {n}"),
                    CaptureFrom::Regex(r) => format!("regex {r}"),
                };
                out.push(format!(
                    "{} ({from} of request {})",
                    c.var, self.kept[*k].number
                ));
            }
        }
        out
    }
}

/// A text response body (HTML, XML, plain text) to search for values, up to 2 MiB.
fn response_text(response: &Response) -> Option<String> {
    let content = &response.content;
    let mime = content.mime_type.to_ascii_lowercase();
    let textual = mime.starts_with("text/") || mime.contains("html") || mime.contains("xml");
    let text = content.text.as_deref()?;
    if !textual || content.encoding.as_deref() == Some("base64") || text.len() > 2 * 1024 * 1024 {
        return None;
    }
    Some(text.to_string())
}

/// Long enough and random-looking enough to be a handed-out value, not a word.
fn token_like(value: &str) -> bool {
    let n = value.chars().count();
    (8..=4096).contains(&n)
        && !value.chars().any(char::is_whitespace)
        && (value.chars().any(|c| c.is_ascii_digit()) || n >= 16)
}

/// The response body as JSON, when it is JSON.
fn response_json(response: &Response) -> Option<Value> {
    let content = &response.content;
    let text = content.text.as_deref()?;
    let bytes = if content.encoding.as_deref() == Some("base64") {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    } else {
        text.as_bytes().to_vec()
    };
    let looks_json = content.mime_type.contains("json")
        || bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{' || *b == b'[');
    if !looks_json || bytes.len() > super::MAX_INPUT {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// The leaves of a JSON response that look like handed-out values: strings
/// of 4 to 4096 characters without spaces that hold a digit or are 16+
/// characters long (tokens, ids, UUIDs), and integers of two digits or more.
fn json_values(
    value: &Value,
    pointer: &mut String,
    resource: &str,
    out: &mut Vec<(String, CaptureFrom, String)>,
    budget: &mut usize,
) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    let hint = |pointer: &str| -> String {
        let segs: Vec<&str> = pointer.split('/').skip(1).collect();
        let named: Vec<&str> = segs
            .iter()
            .copied()
            .filter(|s| !s.chars().all(|c| c.is_ascii_digit()))
            .collect();
        let container = |name: &str| {
            [
                "items", "data", "results", "records", "rows", "content", "entries", "list",
                "values", "objects", "elements", "hits", "nodes",
            ]
            .contains(&name)
        };
        match named.as_slice() {
            [] => resource.to_string(),
            [.., parent, last] if last.eq_ignore_ascii_case("id") && !container(parent) => {
                format!("{}_id", singular(parent))
            }
            [.., last] if last.eq_ignore_ascii_case("id") && !resource.is_empty() => {
                format!("{resource}_id")
            }
            [.., last] => last.to_string(),
        }
    };
    match value {
        Value::String(s) => {
            let n = s.chars().count();
            let token_like = (4..=4096).contains(&n)
                && !s.chars().any(char::is_whitespace)
                && (s.chars().any(|c| c.is_ascii_digit()) || n >= 16);
            if token_like {
                out.push((s.clone(), CaptureFrom::Json(pointer.clone()), hint(pointer)));
            }
        }
        Value::Number(num) => {
            if let Some(i) = num.as_i64().filter(|i| i.unsigned_abs() >= 10) {
                out.push((
                    i.to_string(),
                    CaptureFrom::Json(pointer.clone()),
                    hint(pointer),
                ));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                json_values(v, pointer, resource, out, budget);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                json_values(v, pointer, resource, out, budget);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// `min..max` of the recorded pauses, each capped.
fn think_time(gaps: &[u64], cap: Duration) -> Option<(String, String)> {
    let min = *gaps.iter().min()?;
    let max = *gaps.iter().max()?;
    let round = |ms: u64| (ms / 100).max(1) * 100;
    let (lo, hi) = (round(min), round(max));
    let text = if lo == hi {
        format_ms(lo)
    } else {
        format!("{}..{}", format_ms(lo), format_ms(hi))
    };
    Some((
        text,
        format!(
            "the recorded pauses between requests ({} of them, each capped at {}; --max-think changes the cap)",
            gaps.len(),
            format_ms(cap.as_millis() as u64)
        ),
    ))
}

fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// A value for a comment: short ones whole, long ones cut.
fn preview(value: &str) -> String {
    let n = value.chars().count();
    if n <= 24 {
        format!("\"{value}\"")
    } else {
        let head: String = value.chars().take(12).collect();
        format!("\"{head}...\" ({n} characters)")
    }
}

fn shorten(url: &str) -> String {
    if url.chars().count() > 120 {
        let head: String = url.chars().take(117).collect();
        format!("{head}...")
    } else {
        url.to_string()
    }
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "recording".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests;
