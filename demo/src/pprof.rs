//! `GET /debug/pprof/profile?seconds=N`: the Go contract (gzip-compressed
//! `profile.proto`) served by pprof-rs. One profile at a time, as Go does.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pprof::protos::Message;
use serde::Deserialize;

use super::api::{App, Params};

#[derive(Deserialize)]
pub struct ProfileQuery {
    seconds: Option<u64>,
}

/// The kernel's 250 Hz tick caps SIGPROF sampling; asking for more under-reports CPU time.
const FREQUENCY: i32 = 100;

pub async fn profile(State(app): State<Arc<App>>, Params(q): Params<ProfileQuery>) -> Response {
    let seconds = q.seconds.unwrap_or(30).clamp(1, 600);
    if app.profiling.swap(true, Ordering::SeqCst) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cpu profiling already in use\n",
        )
            .into_response();
    }
    let result = tokio::task::spawn_blocking(move || collect(seconds)).await;
    app.profiling.store(false, Ordering::SeqCst);
    match result {
        Ok(Ok(bytes)) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("profiling failed: {e}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("profiling failed: {e}\n"),
        )
            .into_response(),
    }
}

fn collect(seconds: u64) -> Result<Vec<u8>, String> {
    // No blocklist: the usual libc/pthread one hides every sample in a syscall.
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .build()
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(seconds));
    let report = guard.report().build().map_err(|e| e.to_string())?;
    drop(guard);
    let profile = report.pprof().map_err(|e| e.to_string())?;
    let mut encoded = Vec::new();
    profile.encode(&mut encoded).map_err(|e| e.to_string())?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&encoded).map_err(|e| e.to_string())?;
    gz.finish().map_err(|e| e.to_string())
}
