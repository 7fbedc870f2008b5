//! The one place `--out` meets the network: one HTTP POST of one body,
//! through the network edge (`net`: the environment's proxies, the system's
//! trust store for https, the connect timeout).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

use crate::net::{Edge, Origin, Speak};

/// Why a write did not arrive.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP failed: {0}")]
    Http(#[from] hyper::Error),
    #[error("the receiver answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot build the request: {0}")]
    Request(#[from] hyper::http::Error),
}

/// One POST to `url` (http://) with `headers`, within `timeout`: a new
/// connection each time (a write every few seconds; nothing to keep alive
/// past a receiver's restart).
pub async fn post(
    edge: &Edge,
    url: &url::Url,
    headers: &[(&'static str, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<(), SendError> {
    match tokio::time::timeout(timeout, post_now(edge, url, headers, body)).await {
        Ok(result) => result,
        Err(_) => Err(SendError::Timeout(timeout)),
    }
}

async fn post_now(
    edge: &Edge,
    url: &url::Url,
    headers: &[(&'static str, String)],
    body: Bytes,
) -> Result<(), SendError> {
    let origin = Origin::of(url).ok_or_else(|| SendError::Connect {
        addr: crate::redact::url(url.as_str()),
        source: std::io::Error::other("not an http:// or https:// URL"),
    })?;
    let addr = origin.authority();
    let conn = edge
        .connect(&origin, Speak::Http1)
        .await
        .map_err(|e| SendError::Connect {
            addr: addr.clone(),
            source: std::io::Error::other(edge.reason(&e, "connection failed", Speak::Http1)),
        })?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(conn.stream)).await?;
    let connection = tokio::spawn(connection);
    let mut path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut proxy_auth = None;
    if let Some(auth) = conn.forward {
        // Through an HTTP proxy: the absolute form (without userinfo), as a proxy expects.
        path = format!("{}://{addr}{path}", url.scheme());
        proxy_auth = auth;
    }
    let mut request = Request::post(path).header(hyper::header::HOST, &addr);
    if let Some(auth) = proxy_auth {
        request = request.header(hyper::header::PROXY_AUTHORIZATION, auth);
    }
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = sender.send_request(request.body(Full::new(body))?).await?;
    let status = response.status();
    // A short excerpt of a refusal says why (Prometheus names the problem);
    // what a receiver sends back is read up to a bound.
    let body = http_body_util::Limited::new(response.into_body(), 64 * 1024)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    connection.abort();
    if status.is_success() {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
        Err(SendError::Status {
            status: status.as_u16(),
            body: text.trim().to_string(),
        })
    }
}
