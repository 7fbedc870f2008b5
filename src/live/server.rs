//! A small HTTP/1.1 server for the live page, on its own thread: a bounded
//! number of browsers at a time (more are refused at once), a deadline on
//! reading a request, GET and HEAD only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, oneshot};

use super::{LivePage, REPORT_PATH};

/// Browsers (connections) served at once.
const MAX_CLIENTS: usize = 16;
/// The longest a client may take to send a request's headers.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "cannot serve the live page on {addr}: {source}; give --live another address, e.g. \
         --live 127.0.0.1:0 for a free port"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the live page's thread: {0}")]
    Thread(std::io::Error),
}

/// Serves the page until dropped.
pub struct LiveServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LiveServer {
    pub fn start(addr: SocketAddr, page: Arc<LivePage>) -> Result<LiveServer, LiveError> {
        let bind = |source| LiveError::Bind { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("gander-live".into())
            .spawn(move || serve(listener, page, stopped))
            .map_err(LiveError::Thread)?;
        Ok(LiveServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: std::net::TcpListener, page: Arc<LivePage>, stopped: oneshot::Receiver<()>) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        let clients = Arc::new(Semaphore::new(MAX_CLIENTS));
        tokio::pin!(stopped);
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
                _ = &mut stopped => return,
            };
            // Past the bound a browser is refused rather than queued.
            let Ok(permit) = clients.clone().try_acquire_owned() else {
                continue;
            };
            let page = page.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let page = page.clone();
                    async move { Ok::<_, Infallible>(answer(&page, &req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    });
}

fn answer(page: &LivePage, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only".into());
    }
    match req.uri().path() {
        "/" => match page.page() {
            Some(Ok(html)) => html_response(Bytes::from(html.as_bytes().to_vec())),
            Some(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            None => waiting(),
        },
        REPORT_PATH => match page.report() {
            Some(Ok(html)) => html_response(Bytes::from(html)),
            Some(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            None => text(StatusCode::NOT_FOUND, "the run has not ended yet".into()),
        },
        // A browser asks for one: no icon, and no error in its console.
        "/favicon.ico" => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        _ => text(StatusCode::NOT_FOUND, "not found: try /".into()),
    }
}

/// Before the first second: a page that asks again in a second (a page
/// like any other, not an error: the run is fine, it has no figures yet).
fn waiting() -> Response<Full<Bytes>> {
    html_response(Bytes::from_static(
        b"<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=1>\
          <title>gander</title><p>The run is starting.",
    ))
}

fn html_response(body: Bytes) -> Response<Full<Bytes>> {
    with_type(StatusCode::OK, "text/html; charset=utf-8", body)
}

fn text(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    with_type(status, "text/plain; charset=utf-8", Bytes::from(message))
}

fn with_type(status: StatusCode, kind: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(kind),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}
