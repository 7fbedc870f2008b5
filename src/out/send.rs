//! The one place `--out` meets the network: one HTTP POST of one body. At the
//! merge with the network edge (`net`), this function is the one to repoint.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

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
    url: &url::Url,
    headers: &[(&'static str, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<(), SendError> {
    match tokio::time::timeout(timeout, post_now(url, headers, body)).await {
        Ok(result) => result,
        Err(_) => Err(SendError::Timeout(timeout)),
    }
}

async fn post_now(
    url: &url::Url,
    headers: &[(&'static str, String)],
    body: Bytes,
) -> Result<(), SendError> {
    let host = url.host_str().unwrap_or("localhost");
    let addr = format!("{host}:{}", url.port_or_known_default().unwrap_or(80));
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|source| SendError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut request = Request::post(path).header(hyper::header::HOST, &addr);
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
