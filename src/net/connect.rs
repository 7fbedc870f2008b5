//! Opening a connection: resolve, TCP (a connect timeout, Happy Eyeballs),
//! a proxy when the policy names one, TLS with the run's settings.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper::header::HeaderValue;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tower_service::Service;

use super::NetPlan;
use super::proxy::{Proxy, ProxyPolicy};
use super::tls::{Tls, TlsError, TlsPlan};

/// How long connecting may take (TCP, a proxy's tunnel and TLS together)
/// unless the file says otherwise (`defaults.connect_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the first address family is tried alone before the other one
/// joins (RFC 8305's suggestion is 250 ms; hyper-util's default 300 ms).
const HAPPY_EYEBALLS: Duration = Duration::from_millis(300);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a connection will carry, which decides the ALPN offered and how a
/// proxy is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speak {
    /// HTTP/1.1 (users by default, the observers, the probe, import).
    Http1,
    /// HTTP/2 by ALPN over TLS, HTTP/1.1 in clear or when the server declines.
    Http2,
    /// HTTP/2 with prior knowledge (`http: h2c`), ALPN `h2` only over TLS.
    H2c,
    /// A WebSocket handshake (HTTP/1.1, always tunnelled through a proxy).
    WebSocket,
}

impl Speak {
    fn alpn(self) -> &'static [&'static str] {
        match self {
            Speak::Http1 | Speak::WebSocket => &["http/1.1"],
            Speak::Http2 => &["h2", "http/1.1"],
            Speak::H2c => &["h2"],
        }
    }

    /// The ALPN protocols offered, as messages name them.
    pub fn offered(self) -> &'static str {
        match self {
            Speak::Http1 | Speak::WebSocket => "http/1.1",
            Speak::Http2 => "h2, http/1.1",
            Speak::H2c => "h2",
        }
    }
}

/// Where a connection goes: scheme (TLS or not), host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub tls: bool,
    /// The host as resolved: an IPv6 literal without its brackets.
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of a URL with an http(s) or ws(s) scheme.
    pub fn of(url: &url::Url) -> Option<Origin> {
        let tls = match url.scheme() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            _ => return None,
        };
        let host = url.host_str()?;
        Some(Origin {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: url.port_or_known_default()?,
        })
    }

    /// `host:port`, an IPv6 host in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Why no connection was opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Resolving, or TCP (refused, unreachable, the connect timeout).
    #[error("{0}")]
    Tcp(#[source] BoxError),
    #[error("no connection within {}s (defaults.connect_timeout)", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("through the proxy {proxy}: {source}")]
    Proxy {
        proxy: String,
        #[source]
        source: BoxError,
    },
    #[error(
        "the proxy {0} (from the *_PROXY environment) is not an http:// proxy, the only kind \
         gander speaks to: change it, or list the host in NO_PROXY"
    )]
    UnsupportedProxy(String),
    #[error("\"{0}\" is not a host name TLS can check: set tls.server_name")]
    BadName(String),
    #[error("{0}")]
    Tls(#[source] std::io::Error),
}

/// The byte stream of a connection, in clear or in TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// An open connection and what it was set up to speak.
pub struct Conn {
    pub stream: Stream,
    /// TLS chose `h2` by ALPN, or `h2c` asked for HTTP/2 in clear.
    pub h2: bool,
    /// Requests go to an HTTP proxy in absolute form, with this
    /// `Proxy-Authorization` (plain http only).
    pub forward: Option<Option<HeaderValue>>,
}

/// The network settings every sender of one run shares: its TLS, its proxy
/// rules and its connect timeout.
pub struct Edge {
    tcp: HttpConnector<Resolver>,
    proxy: ProxyPolicy,
    timeout: Duration,
    /// One TLS connector per ALPN offer (they share one verifier).
    h1: tokio_rustls::TlsConnector,
    h2: tokio_rustls::TlsConnector,
    h2_only: tokio_rustls::TlsConnector,
    /// `tls.server_name`: sent as SNI and checked instead of the host.
    server_name: Option<ServerName<'static>>,
    client_cert: bool,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("timeout", &self.timeout)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Edge {
    /// The edge of a run: its TLS, its connect timeout and host names, the
    /// environment's proxies.
    pub fn new(tls: &TlsPlan, net: &NetPlan) -> Result<Edge, TlsError> {
        Edge::with_proxy(tls, net, ProxyPolicy::from_env())
    }

    /// With the system's trust store, the environment's proxies and the default timeout.
    pub fn plain() -> Edge {
        Edge::new(&TlsPlan::default(), &NetPlan::default())
            .expect("the default TLS configuration builds")
    }

    pub fn with_proxy(plan: &TlsPlan, net: &NetPlan, proxy: ProxyPolicy) -> Result<Edge, TlsError> {
        let connect_timeout = net.connect_timeout;
        let tls = Tls::new(plan);
        let connector = |speak: Speak| -> Result<tokio_rustls::TlsConnector, TlsError> {
            Ok(tokio_rustls::TlsConnector::from(Arc::new(
                tls.config(speak.alpn())?,
            )))
        };
        let mut tcp = HttpConnector::new_with_resolver(Resolver {
            hosts: Arc::new(net.hosts.clone()),
            system: GaiResolver::new(),
        });
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_happy_eyeballs_timeout(Some(HAPPY_EYEBALLS));
        Ok(Edge {
            tcp,
            proxy,
            timeout: connect_timeout,
            h1: connector(Speak::Http1)?,
            h2: connector(Speak::Http2)?,
            h2_only: connector(Speak::H2c)?,
            server_name: plan
                .server_name
                .as_deref()
                .and_then(|n| ServerName::try_from(n.to_string()).ok()),
            client_cert: plan.client.is_some(),
        })
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.timeout
    }

    /// Opens a connection to `origin` that will carry `speak`.
    pub async fn connect(&self, origin: &Origin, speak: Speak) -> Result<Conn, ConnectError> {
        self.connect_from(origin, speak, None).await
    }

    /// Opens a connection to `origin` that will carry `speak`, leaving from
    /// the local address `source` when given (`source_addresses`: one address
    /// has one range of ephemeral ports, several spread a load past it).
    pub async fn connect_from(
        &self,
        origin: &Origin,
        speak: Speak,
        source: Option<IpAddr>,
    ) -> Result<Conn, ConnectError> {
        // Resolving and TCP have the timeout per attempt (hyper-util shares it
        // among the addresses); a proxy's answer and TLS are bounded here.
        let opening = self.open(origin, speak, self.tcp_from(source));
        match tokio::time::timeout(self.timeout, opening).await {
            Ok(done) => done,
            Err(_) => Err(ConnectError::Timeout(self.timeout)),
        }
    }

    /// The TCP connector, bound to `source` when given (an address of the
    /// other family than the destination's is not used for it).
    fn tcp_from(&self, source: Option<IpAddr>) -> HttpConnector<Resolver> {
        let mut tcp = self.tcp.clone();
        if source.is_some() {
            tcp.set_local_address(source);
        }
        tcp
    }

    async fn open(
        &self,
        origin: &Origin,
        speak: Speak,
        tcp: HttpConnector<Resolver>,
    ) -> Result<Conn, ConnectError> {
        let proxy = self.proxy.for_origin(origin.tls, &origin.host, origin.port);
        if let Some(p) = &proxy
            && !p.supported()
        {
            return Err(ConnectError::UnsupportedProxy(p.shown()));
        }
        // Plain HTTP goes to a proxy as absolute-form requests, as curl sends
        // it; anything else is tunnelled.
        let forward = !origin.tls && matches!(speak, Speak::Http1 | Speak::Http2);
        let scheme = if origin.tls { "https" } else { "http" };
        let dst: Uri = format!("{scheme}://{}/", origin.authority())
            .parse()
            .map_err(|e| ConnectError::Tcp(Box::new(e)))?;
        let tcp = match &proxy {
            None => Self::tcp(tcp, dst).await.map_err(ConnectError::Tcp)?,
            Some(p) if forward => {
                Self::tcp(tcp, p.uri.clone())
                    .await
                    .map_err(|source| ConnectError::Proxy {
                        proxy: p.shown(),
                        source,
                    })?
            }
            Some(p) => Self::tunnel(tcp, p, dst).await?,
        };
        if !origin.tls {
            return Ok(Conn {
                stream: Stream::Plain(tcp),
                h2: speak == Speak::H2c,
                forward: proxy.filter(|_| forward).map(|p| p.auth),
            });
        }
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => ServerName::try_from(origin.host.clone())
                .map_err(|_| ConnectError::BadName(origin.host.clone()))?,
        };
        let connector = match speak {
            Speak::Http1 | Speak::WebSocket => &self.h1,
            Speak::Http2 => &self.h2,
            Speak::H2c => &self.h2_only,
        };
        let stream = connector
            .connect(name, tcp)
            .await
            .map_err(ConnectError::Tls)?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(Conn {
            stream: Stream::Tls(Box::new(stream)),
            h2,
            forward: None,
        })
    }

    async fn tcp(mut tcp: HttpConnector<Resolver>, dst: Uri) -> Result<TcpStream, BoxError> {
        std::future::poll_fn(|cx| tcp.poll_ready(cx)).await?;
        Ok(tcp.call(dst).await?.into_inner())
    }

    async fn tunnel(
        tcp: HttpConnector<Resolver>,
        proxy: &Proxy,
        dst: Uri,
    ) -> Result<TcpStream, ConnectError> {
        let mut tunnel = Tunnel::new(proxy.uri.clone(), tcp);
        if let Some(auth) = &proxy.auth {
            tunnel = tunnel.with_auth(auth.clone());
        }
        let failed = |source: BoxError| ConnectError::Proxy {
            proxy: proxy.shown(),
            source,
        };
        std::future::poll_fn(|cx| tunnel.poll_ready(cx))
            .await
            .map_err(|e| failed(e.into()))?;
        let tcp = tunnel.call(dst).await.map_err(|e| failed(e.into()))?;
        Ok(tcp.into_inner())
    }

    /// A short reason for any transport error met with `speak`: TLS
    /// explained, a timeout named, else `kind: root cause`.
    pub fn reason(
        &self,
        e: &(dyn std::error::Error + 'static),
        kind: &str,
        speak: Speak,
    ) -> String {
        if let Some(reason) = super::tls::failure_reason(e, speak.offered(), self.client_cert) {
            return reason;
        }
        let mut root: &dyn std::error::Error = e;
        let mut proxy = None;
        let mut timed_out = false;
        let mut next = Some(e);
        while let Some(err) = next {
            if let Some(ConnectError::Proxy { proxy: p, .. }) = err.downcast_ref::<ConnectError>() {
                proxy = Some(p.clone());
            }
            if let Some(ConnectError::Timeout(_)) = err.downcast_ref::<ConnectError>() {
                return format!("{kind}: {err}");
            }
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            {
                timed_out = true;
            }
            root = err;
            next = err.source();
        }
        let text = if timed_out {
            format!(
                "no connection within {}s (defaults.connect_timeout)",
                self.timeout.as_secs_f64()
            )
        } else {
            root.to_string()
        };
        match proxy {
            Some(p) => format!("{kind}: through the proxy {p}: {text}"),
            None => format!("{kind}: {text}"),
        }
    }
}

/// Name resolution: the file's `hosts:` first (as curl's `--resolve` and
/// k6's `hosts`), else the system's resolver (getaddrinfo, off the runtime).
#[derive(Clone)]
struct Resolver {
    hosts: Arc<Vec<(String, Vec<std::net::IpAddr>)>>,
    system: GaiResolver,
}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Resolving {
        let given = self
            .hosts
            .iter()
            .find(|(host, _)| host.eq_ignore_ascii_case(name.as_str()));
        if let Some((_, ips)) = given {
            // Port 0: the connector puts the URL's port in.
            let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
            return Box::pin(std::future::ready(Ok(addrs.into_iter())));
        }
        let resolving = self.system.call(name);
        Box::pin(async move { Ok(resolving.await?.collect::<Vec<_>>().into_iter()) })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}
