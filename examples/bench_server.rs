//! A tiny, fast HTTP server for `scripts/bench-overhead`.
//!
//! Usage: `bench_server [PORT]` (default 0: pick a free port). Binds 127.0.0.1 only,
//! prints `listening on 127.0.0.1:PORT` as its first stdout line, then serves
//! `GET /fast` (200, a 64-byte text body) until killed.

use std::io::Write;

use axum::{Router, routing::get};

/// 64 bytes of text.
const BODY: &str = "gander bench-overhead: a small, constant 64-byte response body.\n";

async fn fast() -> &'static str {
    BODY
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad port {arg:?}: {e}"),
            )
        })?,
        None => 0,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {addr}")?;
    stdout.flush()?;
    drop(stdout);

    let app = Router::new().route("/fast", get(fast));
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn body_is_64_bytes() {
        assert_eq!(super::BODY.len(), 64);
    }
}
