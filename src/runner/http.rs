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

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqwest::Url;
use reqwest::cookie::CookieStore;

use crate::runner::cookies::BoundedJar;
use crate::runner::transport::Transport;
use crate::scenario::plan::HttpVersion;

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

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}")]
    Send(#[source] hyper::Error),
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
            HttpError::Send(_) => transport.error_reason(self, "transport error"),
            HttpError::Connection(_) => transport.error_reason(self, "connection lost"),
            HttpError::TooManyRedirects | HttpError::BadRedirect(_) => {
                format!("transport error: {self}")
            }
        }
    }

    /// The server was never reached (refused, unresolved, TLS refused).
    pub fn unreached(&self) -> bool {
        matches!(self, HttpError::Connect(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    tls: bool,
    host: String,
    port: u16,
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
    pub fn new(url: Url) -> Result<Target, String> {
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(format!("scheme {other}: is not http or https")),
        };
        let host = url.host_str().ok_or("the URL has no host")?.to_string();
        let port = url.port_or_known_default().ok_or("the URL has no port")?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let path_and_query = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        let origin_form: Uri = path_and_query.parse().map_err(|e| format!("{e}"))?;
        // Without the userinfo, which goes in a header.
        let absolute: Uri = format!("{}://{authority}{path_and_query}", url.scheme())
            .parse()
            .map_err(|e| format!("{e}"))?;
        let basic_auth = (!url.username().is_empty() || url.password().is_some()).then(|| {
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
            .expect("base64 is a valid header value");
            value.set_sensitive(true);
            value
        });
        Ok(Target {
            basic_auth,
            host: HeaderValue::from_str(&authority).map_err(|e| e.to_string())?,
            origin: Origin {
                tls,
                // An IPv6 literal is written in brackets in a URL, not when connecting.
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port,
            },
            origin_form,
            absolute,
            url,
        })
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
}

impl Open {
    /// Why a request on this connection failed with `e`: the connection's
    /// own error when it ended (it names the cause), else `e`.
    async fn why(self, e: hyper::Error) -> HttpError {
        if !self.sender.is_closed() {
            return HttpError::Send(e);
        }
        // The connection's task stores its error as it ends: a wait of nothing.
        match tokio::time::timeout(std::time::Duration::from_secs(1), self.died).await {
            Ok(Ok(ended)) => HttpError::Connection(ended),
            _ => HttpError::Send(e),
        }
    }
}

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
    /// become a GET without body; credentials are not sent to another origin).
    pub async fn fetch(
        &mut self,
        transport: &Transport,
        jar: &BoundedJar,
        target: &Target,
        mut out: Outgoing,
        follow: bool,
    ) -> Result<Answered, HttpError> {
        let mut hop: Option<Target> = None;
        for _ in 0..=MAX_REDIRECTS {
            let at = hop.as_ref().unwrap_or(target);
            let request = request(&mut out, at, jar, follow);
            let response = self.send(transport, at, request).await?;
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
            let next =
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
            }
            hop = Some(next);
        }
        Err(HttpError::TooManyRedirects)
    }

    /// Sends `request` on this user's connection to the target's origin,
    /// opening one if there is none (or it was closed). A request that a
    /// reused connection could not take (the server closed it meanwhile) is
    /// sent once more on a new connection.
    async fn send(
        &mut self,
        transport: &Transport,
        target: &Target,
        mut request: Request<Body>,
    ) -> Result<Response<Incoming>, HttpError> {
        let mut reused = true;
        loop {
            let found = self
                .open
                .iter()
                .position(|o| o.origin == target.origin && !o.sender.is_closed());
            let slot = match found {
                Some(i) => i,
                None => {
                    self.open.retain(|o| o.origin != target.origin);
                    if self.open.len() >= MAX_ORIGINS {
                        self.open.remove(0);
                    }
                    let open = connect(transport, &target.origin, self.source).await?;
                    reused = false;
                    self.open.push(open);
                    self.open.len() - 1
                }
            };
            let sent = match &mut self.open[slot].sender {
                Sender::H1(s) => {
                    *request.uri_mut() = target.origin_form.clone();
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
                        Err(e) => return Err(self.open.remove(slot).why(e).await),
                    }
                }
                Sender::H2(s) => {
                    *request.uri_mut() = target.absolute.clone();
                    request.headers_mut().remove(header::HOST);
                    s.try_send_request(request).await
                }
            };
            match sent {
                Ok(response) => return Ok(response),
                Err(mut e) => {
                    let open = self.open.remove(slot);
                    match e.take_message() {
                        Some(unsent) if reused => {
                            request = unsent;
                            reused = false;
                        }
                        _ => return Err(open.why(e.into_error()).await),
                    }
                }
            }
        }
    }
}

/// Opens a connection to `origin`: TCP (each resolved address in turn), TLS
/// with the run's settings for https, then HTTP/2 when ALPN chose it (or
/// `http: h2c` asks for it in clear), else HTTP/1.1.
async fn connect(
    transport: &Transport,
    origin: &Origin,
    source: Option<IpAddr>,
) -> Result<Open, HttpError> {
    let tcp = tcp_connect(origin, source)
        .await
        .map_err(|e| HttpError::Connect(e.into()))?;
    let _ = tcp.set_nodelay(true);
    if origin.tls {
        let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
            .map_err(|e| HttpError::Connect(e.into()))?;
        let stream = transport
            .tls_connector()
            .connect(name, tcp)
            .await
            .map_err(|e| HttpError::Connect(e.into()))?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        handshake(stream, h2, origin).await
    } else {
        handshake(tcp, transport.version == HttpVersion::H2c, origin).await
    }
}

async fn tcp_connect(
    origin: &Origin,
    source: Option<IpAddr>,
) -> std::io::Result<tokio::net::TcpStream> {
    let addrs: Vec<SocketAddr> = match origin.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, origin.port)],
        Err(_) => tokio::net::lookup_host((origin.host.as_str(), origin.port))
            .await?
            .collect(),
    };
    let mut last = None;
    for addr in addrs {
        let connected = match source {
            // A source of the other family cannot reach this address.
            Some(ip) if ip.is_ipv4() != addr.is_ipv4() => continue,
            Some(ip) => super::source::connect_from(ip, addr).await,
            None => tokio::net::TcpStream::connect(addr).await,
        };
        match connected {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the host resolves to no address",
        )
    }))
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
