//! Servers for the network-edge tests: a forward proxy that counts what it
//! carries, HTTPS that records the SNI it was asked for, a listener that never
//! accepts, and a runtime of their own for each.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::tls::{ServerTls, server_config};

/// Runs `serve` (given a bound listener on 127.0.0.1) on a runtime in its own
/// thread; returns the listener's address.
pub fn spawn_on_runtime<F, Fut>(serve: F) -> SocketAddr
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    spawn_at("127.0.0.1:0".parse().unwrap(), serve)
}

/// `spawn_on_runtime` on a given address.
pub fn spawn_at<F, Fut>(at: SocketAddr, serve: F) -> SocketAddr
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let tcp = TcpListener::bind(at).await.unwrap();
            tx.send(tcp.local_addr().unwrap()).unwrap();
            serve(tcp).await;
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("test server started")
}

/// What the proxy carried: one line per request (`GET http://…`) or tunnel
/// (`CONNECT host:port`), and the `Proxy-Authorization` each came with.
#[derive(Default)]
pub struct ProxySeen {
    pub lines: Mutex<Vec<String>>,
    pub auth: Mutex<Vec<Option<String>>>,
}

impl ProxySeen {
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
    pub fn count(&self, prefix: &str) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

/// A forward HTTP proxy on 127.0.0.1: absolute-form requests are sent on
/// (one per connection, `Connection: close`), `CONNECT` opens a tunnel. It
/// resolves `*.test` names to 127.0.0.1 itself: a request for one that
/// arrives went through it.
pub fn start_proxy() -> (SocketAddr, Arc<ProxySeen>) {
    let seen = Arc::new(ProxySeen::default());
    let counted = seen.clone();
    let addr = spawn_on_runtime(move |tcp| async move {
        loop {
            let Ok((client, _)) = tcp.accept().await else {
                continue;
            };
            tokio::spawn(proxy_one(client, counted.clone()));
        }
    });
    (addr, seen)
}

fn upstream_addr(authority: &str) -> String {
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "80"));
    let host = if host.ends_with(".test") {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{port}")
}

async fn proxy_one(client: TcpStream, seen: Arc<ProxySeen>) {
    let mut reader = BufReader::new(client);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let Some(request_line) = head.first().cloned() else {
        return;
    };
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let header = |name: &str| {
        head.iter().skip(1).find_map(|h| {
            let (n, v) = h.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    seen.lines
        .lock()
        .unwrap()
        .push(format!("{method} {target}"));
    seen.auth
        .lock()
        .unwrap()
        .push(header("proxy-authorization"));
    if method == "CONNECT" {
        let Ok(mut upstream) = TcpStream::connect(upstream_addr(target)).await else {
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
                .await;
            return;
        };
        let mut client = reader.into_inner();
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }
    // Absolute form: http://host:port/path.
    let rest = target.strip_prefix("http://").unwrap_or(target);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Ok(mut upstream) = TcpStream::connect(upstream_addr(authority)).await else {
        return;
    };
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for h in head.iter().skip(1) {
        let name = h.split(':').next().unwrap_or("").to_ascii_lowercase();
        if !matches!(
            name.as_str(),
            "proxy-authorization" | "proxy-connection" | "connection"
        ) {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).await.is_err() {
        return;
    }
    if upstream.write_all(out.as_bytes()).await.is_err() || upstream.write_all(&body).await.is_err()
    {
        return;
    }
    let mut client = reader.into_inner();
    let _ = tokio::io::copy(&mut upstream, &mut client).await;
    let _ = client.shutdown().await;
}

/// Serves `app` over TLS, recording the SNI name of every handshake
/// (`None` when the client sent none, as for an IP address).
pub fn serve_recording_sni(
    tls: ServerTls,
    app: Router,
) -> (SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    let names = Arc::new(Mutex::new(Vec::new()));
    let recorded = names.clone();
    let config = Arc::new(server_config(&tls));
    let addr = spawn_on_runtime(move |tcp| async move {
        let listener = SniListener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            names: recorded,
        };
        axum::serve(listener, app).await.unwrap();
    });
    (addr, names)
}

struct SniListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    names: Arc<Mutex<Vec<Option<String>>>>,
}

impl axum::serve::Listener for SniListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // The name is in the ClientHello: recorded even when the handshake fails.
            let Ok(start) =
                tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
                    .await
            else {
                continue;
            };
            let sni = start.client_hello().server_name().map(str::to_string);
            self.names.lock().unwrap().push(sni);
            let config = self.acceptor.config().clone();
            if let Ok(tls) = start.into_stream(config).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// A listening socket that never accepts, its queue already full: a
/// connection to it is neither accepted nor refused (a black hole). Held
/// open as long as the value lives.
pub struct BlackHole {
    pub addr: SocketAddr,
    _listener: std::net::TcpListener,
    _queued: Vec<std::net::TcpStream>,
}

impl BlackHole {
    pub fn on(addr: SocketAddr) -> BlackHole {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind(addr).unwrap();
        // SAFETY: listen(2) on a socket this function owns: a queue of one.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let addr = listener.local_addr().unwrap();
        // Fill the accept queue; later connections then hang.
        let mut queued = Vec::new();
        for _ in 0..4 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => queued.push(s),
                Err(_) => break,
            }
        }
        assert!(
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(),
            "the black hole accepts"
        );
        BlackHole {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }
}

/// Serves `app` in clear on `at`.
pub fn serve_at(at: SocketAddr, app: Router) -> SocketAddr {
    spawn_at(at, move |tcp| async move {
        axum::serve(tcp, app).await.unwrap();
    })
}
