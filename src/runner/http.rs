//! A user's HTTP client: its own connection to each origin it talks to, driven
//! through hyper directly, with its cookie jar, redirects and gzip.
//!
//! Why not reqwest: gander's per-request cost is the load generator's ceiling.
//! Through reqwest each request parsed its URL twice more (cookie layer and
//! response URL, with IDNA), cloned its connector and went through a pool and a
//! tower stack built for many users sharing one client. A gander user is one
//! sequential client: one connection per origin, a URL parsed once per step,
//! and nothing else on the path. `scripts/bench-overhead` measures the
//! difference (README, "Benchmarks").

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use url::Url;

use crate::net::{Origin, Speak};
use crate::runner::cookies::BoundedJar;
use crate::runner::fail::UrlError;
use crate::runner::transport::Transport;

/// Request bodies: whole, in memory (rendered or encoded once per step).
pub type Body = Full<Bytes>;

/// How many redirects one request follows before it fails.
const MAX_REDIRECTS: usize = 10;
/// The most origins one user keeps a connection open to; past it the least
/// recently opened is closed (a scenario spread over many hosts reconnects).
const MAX_ORIGINS: usize = 8;
/// What is read of a redirect's own body before it is dropped (to keep its
/// connection), and past which the connection is closed instead.
const REDIRECT_BODY: u64 = 64 << 10;
/// How long a user waits before failing again on a known protocol mismatch
/// (the run stops on the first one).
const MISMATCH_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);
/// How many times an HTTP/2 request the server refused (`REFUSED_STREAM`: it
/// did not process it) is sent again.
const REFUSED_RETRIES: usize = 2;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server does not speak the protocol asked for; the reason says
    /// what to change. The run stops on it.
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}")]
    Send(#[source] hyper::Error),
    /// An HTTP/2 server refused the stream (it did not process the request).
    #[error("the server refused the HTTP/2 stream (REFUSED_STREAM) {} times", REFUSED_RETRIES + 1)]
    Refused(#[source] hyper::Error),
    /// The connection ended under the request, for this reason (a TLS 1.3
    /// server refuses a client certificate only after the handshake).
    #[error("{0}")]
    Connection(#[source] hyper::Error),
    #[error("too many redirects (more than {MAX_REDIRECTS})")]
    TooManyRedirects,
    #[error("redirect to a bad location {0:?}")]
    BadRedirect(String),
}

impl HttpError {
    /// A short reason that groups well: no URLs, the root cause only, TLS
    /// failures explained.
    pub fn reason(&self, transport: &Transport) -> String {
        match self {
            HttpError::Connect(_) => transport.error_reason(self, "connection failed"),
            HttpError::Mismatch(reason) => reason.clone(),
            HttpError::Refused(_) => format!("transport error: {self}"),
            HttpError::Send(_) => transport.error_reason(self, "transport error"),
            HttpError::Connection(_) => transport.error_reason(self, "connection lost"),
            HttpError::TooManyRedirects | HttpError::BadRedirect(_) => {
                format!("transport error: {self}")
            }
        }
    }

    /// The server was never reached (refused, unresolved, TLS refused).
    pub fn unreached(&self) -> bool {
        matches!(self, HttpError::Connect(_) | HttpError::Mismatch(_))
    }

    /// The server does not speak what the file asks for: the run stops.
    pub fn stops_run(&self) -> bool {
        matches!(self, HttpError::Mismatch(_))
    }
}

/// Where a request goes, worked out once for a constant URL.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    origin: Origin,
    /// `path?query`, as HTTP/1.1 sends it.
    origin_form: Uri,
    /// The whole URL, as HTTP/2 sends it (scheme and authority as pseudo-headers).
    absolute: Uri,
    /// `host[:port]` as the URL writes it.
    host: HeaderValue,
    /// `Authorization: Basic` from the URL's userinfo, as browsers send it.
    basic_auth: Option<HeaderValue>,
}

impl Target {
    pub fn new(url: Url) -> Result<Target, UrlError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlError::Scheme(url.scheme().to_string()));
        }
        let origin = Origin::of(&url).ok_or(UrlError::NoHost)?;
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let path_and_query = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        let origin_form: Uri = path_and_query.parse()?;
        // Without the userinfo, which goes in a header.
        let absolute: Uri = format!("{}://{authority}{path_and_query}", url.scheme()).parse()?;
        Ok(Target {
            basic_auth: crate::net::fetch::basic_auth(&url),
            host: HeaderValue::from_str(&authority)?,
            origin,
            origin_form,
            absolute,
            url,
        })
    }

    /// The whole URL with the authority a step's own `Host` names (HTTP/2
    /// sends it as `:authority`; parsed only when a step sets one).
    fn absolute_for(&self, host: Option<&HeaderValue>) -> Uri {
        let authority = host.and_then(|h| hyper::http::uri::Authority::try_from(h.as_bytes()).ok());
        let Some(authority) = authority else {
            return self.absolute.clone();
        };
        let mut parts = self.absolute.clone().into_parts();
        parts.authority = Some(authority);
        Uri::from_parts(parts).unwrap_or_else(|_| self.absolute.clone())
    }
}

enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

/// What went out, enough to send it again after a redirect.
pub struct Outgoing {
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The answer, and the URL that gave it when redirects led elsewhere.
pub struct Answered {
    pub response: Response<Incoming>,
    pub redirected_to: Option<Url>,
}

/// An open connection: where to, how to send on it, and what ended it.
struct Open {
    origin: Origin,
    sender: Sender,
    /// The error the connection ended with, once it has.
    died: tokio::sync::oneshot::Receiver<hyper::Error>,
    /// Through an HTTP proxy: absolute-form targets, with this `Proxy-Authorization`.
    forward: Option<Option<HeaderValue>>,
    /// For HTTP/2 with prior knowledge: what the server's first bytes were.
    sniffed: Option<Arc<AtomicU8>>,
}

impl Open {
    /// Why a request on this connection failed with `e`: the connection's
    /// own error when it ended (it names the cause), else `e`. An h2c
    /// connection answered in HTTP/1.1 is a protocol mismatch.
    async fn why(self, transport: &Transport, e: hyper::Error) -> HttpError {
        if self.spoke_http1() {
            return HttpError::Mismatch(transport.found_mismatch(H2C_MISMATCH.to_string()));
        }
        if !self.sender.is_closed() {
            return HttpError::Send(e);
        }
        // The connection's task stores its error as it ends: a wait of nothing.
        match tokio::time::timeout(std::time::Duration::from_secs(1), self.died).await {
            Ok(Ok(ended)) => HttpError::Connection(ended),
            _ => HttpError::Send(e),
        }
    }

    fn spoke_http1(&self) -> bool {
        self.sniffed
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed) == SNIFF_HTTP1)
    }
}

/// What to say when `http: h2c` meets a server that answers in HTTP/1.1.
const H2C_MISMATCH: &str = "the server answers HTTP/1.1, not HTTP/2 in clear text (http: h2c): \
     set http: 1.1, or http: 2 with an https:// host that offers h2 by ALPN";

/// One user's connections, one per origin.
#[derive(Default)]
pub struct Connections {
    open: Vec<Open>,
    /// The local address its connections leave from (`source_addresses`).
    source: Option<IpAddr>,
}

/// A connection belongs to one user: a copy of a user's state (goose's session
/// data must be `Clone`) opens its own.
impl Clone for Connections {
    fn clone(&self) -> Self {
        Connections::leaving_from(self.source)
    }
}

impl Connections {
    /// A user's connections, bound to `source` before they connect when given.
    pub fn leaving_from(source: Option<IpAddr>) -> Connections {
        Connections {
            open: Vec::new(),
            source,
        }
    }

    /// Sends `out` to `target`, with the user's cookies, following up to 10
    /// redirects when `follow` (as browsers do: 303, and 301/302 after a POST,
    /// become a GET without body; credentials are not sent to another origin,
    /// and go on to the same one).
    pub async fn fetch(
        &mut self,
        transport: &Transport,
        jar: &BoundedJar,
        target: &Target,
        mut out: Outgoing,
        follow: bool,
    ) -> Result<Answered, HttpError> {
        // HTTP/2 may have to send a refused request again: keep what it was.
        let again = follow || transport.speak != Speak::Http1;
        let mut hop: Option<Target> = None;
        for _ in 0..=MAX_REDIRECTS {
            let at = hop.as_ref().unwrap_or(target);
            let mut refused = 0;
            let response = loop {
                let request = request(&mut out, at, jar, again);
                match self.send(transport, at, request).await {
                    Err(HttpError::Refused(_)) if refused < REFUSED_RETRIES => refused += 1,
                    sent => break sent?,
                }
            };
            store_cookies(jar, &response, &at.url);
            let next = if follow {
                redirect(&response, &at.url).transpose()?
            } else {
                None
            };
            let Some(next) = next else {
                return Ok(Answered {
                    redirected_to: hop.map(|t| t.url),
                    response,
                });
            };
            let status = response.status();
            drain(response).await;
            let mut next =
                Target::new(next.clone()).map_err(|_| HttpError::BadRedirect(next.into()))?;
            if !keeps_method(status, &out.method) {
                out.method = Method::GET;
                out.body = Bytes::new();
                for name in [
                    header::CONTENT_TYPE,
                    header::CONTENT_LENGTH,
                    header::CONTENT_ENCODING,
                ] {
                    out.headers.remove(name);
                }
            }
            if next.origin != at.origin {
                for name in [
                    header::AUTHORIZATION,
                    header::PROXY_AUTHORIZATION,
                    header::COOKIE,
                ] {
                    out.headers.remove(name);
                }
            } else if next.basic_auth.is_none() {
                // An absolute Location to the same origin names no userinfo:
                // the credentials go on, as curl and browsers send them.
                next.basic_auth = at.basic_auth.clone();
            }
            hop = Some(next);
        }
        Err(HttpError::TooManyRedirects)
    }

    /// Sends `request` on this user's connection to the target's origin,
    /// opening one if there is none (or it was closed). A request that a
    /// reused connection could not take (the server closed it meanwhile) is
    /// sent once more on a new connection; one that went out is never sent
    /// again (a POST is not repeated), unless HTTP/2 says it was refused.
    async fn send(
        &mut self,
        transport: &Transport,
        target: &Target,
        mut request: Request<Body>,
    ) -> Result<Response<Incoming>, HttpError> {
        let mut reused = true;
        loop {
            let slot = match self.find(target) {
                Some(i) => i,
                None => {
                    self.open
                        .push(connect(transport, &target.origin, self.source).await?);
                    reused = false;
                    self.open.len() - 1
                }
            };
            let open = &mut self.open[slot];
            let sent = match &mut open.sender {
                Sender::H1(s) => {
                    *request.uri_mut() = match &open.forward {
                        Some(auth) => {
                            if let Some(auth) = auth {
                                request
                                    .headers_mut()
                                    .insert(header::PROXY_AUTHORIZATION, auth.clone());
                            }
                            target.absolute.clone()
                        }
                        None => target.origin_form.clone(),
                    };
                    if !request.headers().contains_key(header::HOST) {
                        request
                            .headers_mut()
                            .insert(header::HOST, target.host.clone());
                    }
                    match s.ready().await {
                        Ok(()) => s.try_send_request(request).await,
                        Err(_) if reused => {
                            self.open.remove(slot);
                            reused = false;
                            continue;
                        }
                        Err(e) => return Err(self.open.remove(slot).why(transport, e).await),
                    }
                }
                Sender::H2(s) => {
                    // A step's own Host is the request's :authority.
                    let host = request.headers_mut().remove(header::HOST);
                    *request.uri_mut() = target.absolute_for(host.as_ref());
                    s.try_send_request(request).await
                }
            };
            let mut e = match sent {
                Ok(response) => return Ok(response),
                Err(e) => e,
            };
            let unsent = e.take_message();
            if let Sender::H2(s) = &self.open[slot].sender
                && !s.is_closed()
                && !self.open[slot].spoke_http1()
            {
                // A stream's error ends that stream, not the connection.
                let e = e.into_error();
                return Err(if refused_stream(&e) {
                    HttpError::Refused(e)
                } else {
                    HttpError::Send(e)
                });
            }
            let open = self.open.remove(slot);
            match unsent {
                Some(unsent) if reused => {
                    request = unsent;
                    reused = false;
                }
                _ => return Err(open.why(transport, e.into_error()).await),
            }
        }
    }

    /// This user's open connection to `target`'s origin, if it has one.
    fn find(&mut self, target: &Target) -> Option<usize> {
        let found = self
            .open
            .iter()
            .position(|o| o.origin == target.origin && !o.sender.is_closed());
        if found.is_none() {
            self.open.retain(|o| o.origin != target.origin);
            if self.open.len() >= MAX_ORIGINS {
                self.open.remove(0);
            }
        }
        found
    }
}

/// Whether an HTTP/2 server refused the stream: it did not process the
/// request, which may then be sent again (RFC 9113, 8.7).
fn refused_stream(e: &hyper::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        next = err.source();
    }
    false
}

/// Opens a connection to `origin` through the run's edge (a proxy, TLS with
/// the run's settings for https), then HTTP/2 when ALPN chose it (or `http:
/// h2c` asks for it in clear), else HTTP/1.1. Once the server was found not
/// to speak h2c, fails at once with that. `source`: the local address to
/// leave from (`source_addresses`).
async fn connect(
    transport: &Transport,
    origin: &Origin,
    source: Option<IpAddr>,
) -> Result<Open, HttpError> {
    if let Some(reason) = transport.mismatch() {
        // The run is stopping on it: no storm of instant failures meanwhile.
        tokio::time::sleep(MISMATCH_PAUSE).await;
        return Err(HttpError::Mismatch(reason.to_string()));
    }
    let conn = transport
        .edge
        .connect_from(origin, transport.speak, source)
        .await
        .map_err(|e| HttpError::Connect(e.into()))?;
    let forward = conn.forward;
    if conn.h2 && !origin.tls {
        // Prior knowledge: watch what the server says first.
        let sniffed = Arc::new(AtomicU8::new(SNIFF_UNKNOWN));
        let io = Sniffed {
            inner: conn.stream,
            seen: sniffed.clone(),
        };
        let mut open = handshake(io, true, origin).await?;
        open.sniffed = Some(sniffed);
        return Ok(open);
    }
    let mut open = handshake(conn.stream, conn.h2, origin).await?;
    open.forward = forward;
    Ok(open)
}

const SNIFF_UNKNOWN: u8 = 0;
const SNIFF_HTTP1: u8 = 1;
const SNIFF_OTHER: u8 = 2;

/// A stream that notes whether the peer's first bytes were an HTTP/1.x
/// status line (`HTTP/1.`): an HTTP/1.1 server answering the HTTP/2 preface.
struct Sniffed<S> {
    inner: S,
    seen: Arc<AtomicU8>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniffed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.seen.load(Ordering::Relaxed) == SNIFF_UNKNOWN {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                let http1 = new.starts_with(b"HTTP/1.") || b"HTTP/1.".starts_with(new);
                let seen = if http1 { SNIFF_HTTP1 } else { SNIFF_OTHER };
                this.seen.store(seen, Ordering::Relaxed);
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniffed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

async fn handshake<IO>(io: IO, h2: bool, origin: &Origin) -> Result<Open, HttpError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let (tell, died) = tokio::sync::oneshot::channel();
    // The connection is driven by its own task; it ends when the user drops
    // its sender (or the server closes it), and leaves its error behind.
    let sender = if h2 {
        let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| HttpError::Connect(e.into()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                let _ = tell.send(e);
            }
        });
        Sender::H2(sender)
    } else {
        let (sender, connection) = http1::handshake(io)
            .await
            .map_err(|e| HttpError::Connect(e.into()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                let _ = tell.send(e);
            }
        });
        Sender::H1(sender)
    };
    Ok(Open {
        origin: origin.clone(),
        sender,
        died,
        forward: None,
        sniffed: None,
    })
}

/// The request for `target`: the method, headers and body of `out` (its
/// headers copied only when a redirect may need them again), with the user's
/// cookies unless the step sets its own.
fn request(out: &mut Outgoing, target: &Target, jar: &BoundedJar, again: bool) -> Request<Body> {
    let mut request = Request::new(Full::new(out.body.clone()));
    *request.method_mut() = out.method.clone();
    *request.headers_mut() = if again {
        out.headers.clone()
    } else {
        std::mem::take(&mut out.headers)
    };
    if !request.headers().contains_key(header::COOKIE)
        && let Some(cookies) = jar.cookies(&target.url)
    {
        request.headers_mut().insert(header::COOKIE, cookies);
    }
    if let Some(auth) = &target.basic_auth
        && !request.headers().contains_key(header::AUTHORIZATION)
    {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, auth.clone());
    }
    request
}

fn store_cookies(jar: &BoundedJar, response: &Response<Incoming>, url: &Url) {
    let mut set = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .peekable();
    if set.peek().is_some() {
        jar.set_cookies(&mut set, url);
    }
}

/// Where a redirect answer sends the request next, if it is one.
fn redirect(response: &Response<Incoming>, from: &Url) -> Option<Result<Url, HttpError>> {
    if !matches!(
        response.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    ) {
        return None;
    }
    let location = response.headers().get(header::LOCATION)?;
    let text = String::from_utf8_lossy(location.as_bytes());
    Some(
        from.join(&text)
            .map_err(|_| HttpError::BadRedirect(text.into_owned())),
    )
}

/// Reads a redirect's own body to its end (a few KiB at most) so that its
/// connection can carry the next request; a larger one is dropped with it.
async fn drain(response: Response<Incoming>) {
    let mut body = response.into_body();
    let mut read = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        read += frame.data_ref().map_or(0, |d| d.len() as u64);
        if read > REDIRECT_BODY {
            return;
        }
    }
}

/// Whether a request with `method` stays what it was after a redirect with
/// `status`; otherwise it becomes a GET without body.
fn keeps_method(status: StatusCode, method: &Method) -> bool {
    match status {
        StatusCode::SEE_OTHER => *method == Method::HEAD,
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => *method != Method::POST,
        _ => true,
    }
}
