//! One GET and its whole answer, through the edge: what the SUT monitor's
//! metrics, JSON and health reads, the pprof download, the readiness probe and
//! `gander import` need. A new HTTP/1.1 connection per fetch (they come
//! seconds apart), the URL's userinfo as basic auth, a gzip answer decoded,
//! the body refused past a limit, all within one timeout.

use std::sync::OnceLock;
use std::time::Duration;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use url::Url;

use super::connect::{Edge, Origin, Speak};
use crate::bounded;

/// An answer, read to its end.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why a fetch got no whole answer. The texts name no URL: callers say which.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("not an http:// or https:// URL")]
    BadUrl,
    #[error("no answer in time (within {}s)", .0.as_secs_f64())]
    Timeout(Duration),
    /// Never reached: refused, unresolved, TLS refused (the reason explains).
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Send(String),
    #[error("the answer is {0}, decoded")]
    TooLarge(bounded::ReadError),
    #[error("the answer broke off: {0}")]
    Body(String),
}

impl FetchError {
    /// The server was never reached.
    pub fn unreached(&self) -> bool {
        matches!(self, FetchError::Connect(_))
    }
}

/// GETs `url` with `headers`, reads at most `limit` bytes (decoded) of the
/// answer, all within `timeout`.
pub async fn get(
    edge: &Edge,
    url: &Url,
    headers: &HeaderMap,
    limit: u64,
    timeout: Duration,
) -> Result<Got, FetchError> {
    match tokio::time::timeout(timeout, exchange(edge, url, headers, limit)).await {
        Ok(done) => done,
        Err(_) => Err(FetchError::Timeout(timeout)),
    }
}

async fn exchange(
    edge: &Edge,
    url: &Url,
    headers: &HeaderMap,
    limit: u64,
) -> Result<Got, FetchError> {
    let origin = Origin::of(url)
        .filter(|_| matches!(url.scheme(), "http" | "https"))
        .ok_or(FetchError::BadUrl)?;
    let conn = edge
        .connect(&origin, Speak::Http1)
        .await
        .map_err(|e| FetchError::Connect(edge.reason(&e, "connection failed", Speak::Http1)))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<
        _,
        http_body_util::Empty<bytes::Bytes>,
    >(TokioIo::new(conn.stream))
    .await
    .map_err(|e| FetchError::Connect(edge.reason(&e, "connection failed", Speak::Http1)))?;
    tokio::spawn(connection);
    let mut request = Request::new(http_body_util::Empty::new());
    *request.uri_mut() = target(url, conn.forward.is_some()).ok_or(FetchError::BadUrl)?;
    let h = request.headers_mut();
    h.insert(header::HOST, host_header(url).ok_or(FetchError::BadUrl)?);
    h.insert(
        header::USER_AGENT,
        HeaderValue::from_static(concat!("gander/", env!("CARGO_PKG_VERSION"))),
    );
    if let Some(auth) = basic_auth(url) {
        h.insert(header::AUTHORIZATION, auth);
    }
    if let Some(Some(auth)) = conn.forward {
        h.insert(header::PROXY_AUTHORIZATION, auth);
    }
    for (name, value) in headers {
        h.insert(name.clone(), value.clone());
    }
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| FetchError::Send(edge.reason(&e, "transport error", Speak::Http1)))?;
    let (head, incoming) = response.into_parts();
    let gzip = head
        .headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let keep = usize::try_from(limit).unwrap_or(usize::MAX);
    let body = bounded::read_incoming(incoming, gzip, keep, limit)
        .await
        .map_err(|e| match e {
            e @ bounded::ReadError::TooLarge { .. } => FetchError::TooLarge(e),
            bounded::ReadError::Http(e) => {
                FetchError::Body(edge.reason(&e, "transport error", Speak::Http1))
            }
            e => FetchError::Body(e.to_string()),
        })?;
    Ok(Got {
        status: head.status.as_u16(),
        headers: head.headers,
        body: body.kept,
    })
}

/// The request target: `path?query`, or the whole URL (without its
/// userinfo and fragment) for a proxy.
fn target(url: &Url, absolute: bool) -> Option<Uri> {
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let text = if absolute {
        format!("{}://{}{path}", url.scheme(), authority(url)?)
    } else {
        path
    };
    text.parse().ok()
}

/// `host[:port]` as the URL writes it (the port when it is not the scheme's).
fn authority(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// The `Host` header of a request for `url`: its host and port, never the
/// socket address it resolved to.
pub fn host_header(url: &Url) -> Option<HeaderValue> {
    HeaderValue::from_str(&authority(url)?).ok()
}

/// `Authorization: Basic` from the URL's userinfo, as browsers and curl send it.
pub fn basic_auth(url: &Url) -> Option<HeaderValue> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    use base64::Engine;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let pair = format!(
        "{}:{}",
        decode(url.username()),
        decode(url.password().unwrap_or(""))
    );
    let mut value = HeaderValue::try_from(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))
    .ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// How long the readiness probe waits for one answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The status of a GET on `url` through `edge`, if an answer came within
/// 2 s (its body is read, up to 8 MiB). Blocking: for the start-up loops.
pub fn probe_with(edge: &Edge, url: &str) -> Option<u16> {
    let url = Url::parse(url).ok()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        let got = get(edge, &url, &HeaderMap::new(), 8 << 20, PROBE_TIMEOUT).await;
        got.ok().map(|got| got.status)
    })
}

/// `probe_with` through an edge with default settings (plain http, the
/// system's trust store, the environment's proxies).
pub fn probe(url: &str) -> Option<u16> {
    static PLAIN: OnceLock<Edge> = OnceLock::new();
    probe_with(PLAIN.get_or_init(Edge::plain), url)
}
