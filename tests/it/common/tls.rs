//! Certificates made at test time (rcgen) and HTTPS servers on 127.0.0.1:
//! self-signed or signed by a test CA, asking for client certificates or not,
//! offering HTTP/2 and HTTP/1.1 by ALPN or only one of them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::Version;
use axum::routing::get;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate and its key, as PEM.
#[derive(Clone)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A certificate authority that signs test certificates.
pub struct TestCa {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate for `names` (DNS names or IP addresses), signed by this CA.
    pub fn sign(&self, names: &[&str]) -> Pem {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A self-signed certificate for 127.0.0.1.
pub fn self_signed() -> Pem {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    Pem {
        cert: c.cert.pem(),
        key: c.signing_key.serialize_pem(),
    }
}

/// What an HTTPS test server saw.
#[derive(Default)]
pub struct TlsSeen {
    pub requests: AtomicU64,
    pub http2: AtomicU64,
    pub http1: AtomicU64,
    /// Connections whose TLS handshake failed on the server's side.
    pub refused: AtomicU64,
}

impl TlsSeen {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

pub struct ServerTls {
    pub cert: Pem,
    /// ALPN protocols the server accepts, e.g. `[b"h2"]` for an HTTP/2-only server.
    pub alpn: Vec<Vec<u8>>,
    /// Ask for (and require) a client certificate signed by this CA.
    pub client_ca: Option<String>,
}

pub struct RunningServer {
    pub addr: SocketAddr,
    pub seen: Arc<TlsSeen>,
}

impl RunningServer {
    pub fn https(&self) -> String {
        format!("https://{}", self.addr)
    }
    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn hello(State(seen): State<Arc<TlsSeen>>, version: Version) -> &'static str {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    match version {
        Version::HTTP_2 => seen.http2.fetch_add(1, Ordering::SeqCst),
        _ => seen.http1.fetch_add(1, Ordering::SeqCst),
    };
    "hello"
}

fn router(seen: Arc<TlsSeen>) -> Router {
    Router::new().route("/hello", get(hello)).with_state(seen)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

pub fn server_config(tls: &ServerTls) -> rustls::ServerConfig {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(tls.cert.cert.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(tls.cert.key.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = tls.alpn.clone();
    config
}

/// Accepts TCP connections and completes their TLS handshake; a failed
/// handshake is counted and the next connection taken.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    seen: Arc<TlsSeen>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            match self.acceptor.accept(tcp).await {
                Ok(tls) => return (tls, addr),
                Err(_) => {
                    self.seen.refused.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Serves `router` on 127.0.0.1 from a thread of its own, over TLS or not.
fn serve(tls: Option<ServerTls>, seen: Arc<TlsSeen>, app: Router) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(tcp.local_addr().unwrap()).unwrap();
            match tls {
                Some(tls) => {
                    let listener = TlsListener {
                        tcp,
                        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server_config(&tls))),
                        seen,
                    };
                    axum::serve(listener, app).await.unwrap();
                }
                None => axum::serve(tcp, app).await.unwrap(),
            }
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("test server started")
}

/// An HTTPS server answering `GET /hello`.
pub fn start_https(tls: ServerTls) -> RunningServer {
    let seen = Arc::new(TlsSeen::default());
    let addr = serve(Some(tls), seen.clone(), router(seen.clone()));
    RunningServer { addr, seen }
}

/// A plain-TCP server answering `GET /hello` over HTTP/1.1 or HTTP/2 with prior
/// knowledge (h2c).
pub fn start_h2c() -> RunningServer {
    let seen = Arc::new(TlsSeen::default());
    let addr = serve(None, seen.clone(), router(seen.clone()));
    RunningServer { addr, seen }
}

/// Serves any router over TLS (the WebSocket tests' wss://).
pub fn serve_router(tls: Option<ServerTls>, app: Router) -> SocketAddr {
    serve(tls, Arc::new(TlsSeen::default()), app)
}
