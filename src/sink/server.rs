//! A small HTTP/1.1 server on hyper for what gander serves during a run: each
//! request's body read up to a cap, handed to a handler with the instant its
//! head arrived, and answered. Connections are capped; past the cap they are
//! closed at once and counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The most connections open at once to one server.
const MAX_CONNECTIONS: usize = 4096;

/// A request as a handler sees it: its head, its whole body, and when its head came.
pub struct Arrived {
    pub head: hyper::http::request::Parts,
    pub body: Bytes,
    pub at: Instant,
}

/// What answers one server's requests.
pub trait Handler: Send + Sync + 'static {
    /// The largest body read; a longer one is answered 413 and counted.
    fn max_body(&self) -> usize;
    fn handle(&self, request: Arrived) -> impl Future<Output = Response<Full<Bytes>>> + Send;
    /// A body over `max_body` (or broken) was refused.
    fn refused(&self);
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({what}): {source}; give a free port")]
pub struct BindError {
    pub addr: SocketAddr,
    pub what: &'static str,
    #[source]
    pub source: std::io::Error,
}

/// Connections turned away at the cap, over every server of the run.
pub static TURNED_AWAY: AtomicU64 = AtomicU64::new(0);

/// Binds `addr` now (a port in use is an error before the load), then serves
/// in the background until the returned handle is aborted.
pub fn serve<H: Handler>(
    addr: SocketAddr,
    what: &'static str,
    handler: Arc<H>,
) -> Result<tokio::task::JoinHandle<()>, BindError> {
    let bind = |source| BindError { addr, what, source };
    let std_listener = std::net::TcpListener::bind(addr).map_err(bind)?;
    std_listener.set_nonblocking(true).map_err(bind)?;
    let listener = TcpListener::from_std(std_listener).map_err(bind)?;
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                TURNED_AWAY.fetch_add(1, Ordering::Relaxed);
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&*handler, req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    }))
}

async fn answer<H: Handler>(handler: &H, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let at = Instant::now();
    let (head, body) = req.into_parts();
    match Limited::new(body, handler.max_body()).collect().await {
        Ok(body) => {
            handler
                .handle(Arrived {
                    head,
                    body: body.to_bytes(),
                    at,
                })
                .await
        }
        Err(_) => {
            handler.refused();
            json(
                StatusCode::PAYLOAD_TOO_LARGE,
                r#"{"ok":false,"error_code":413,"description":"Request Entity Too Large"}"#,
            )
        }
    }
}

/// A JSON answer.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
