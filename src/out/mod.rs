//! `--out`: the run's figures sent while it goes, from the recorder's tick
//! (once a second, never per request). Prometheus remote write 1.0: protobuf,
//! snappy-compressed, every `SEND_EVERY` and once more at the end.
//!
//! Writes wait in a bounded queue for a thread of their own: a slow or dead
//! receiver never holds up the recorder or the users; what it misses is
//! dropped and counted (`OutputReport`).

mod native;
mod prometheus;
mod proto;
mod send;

use std::str::FromStr;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;

use crate::record::Tick;
use crate::result::outputs::OutputReport;
use crate::result::resources::ResourceReport;

pub use native::{SCHEMA as NATIVE_SCHEMA, bucket_growth};
pub use prometheus::RunLabels;

/// How often a write is sent.
pub const SEND_EVERY: Duration = Duration::from_secs(5);
/// Writes waiting to be sent; more are dropped.
const QUEUE: usize = 4;
/// The longest one write may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest the end of the run waits for the writes still queued.
const LAST_WRITES: Duration = Duration::from_secs(5);

/// Where `--out` sends, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutTarget {
    pub url: url::Url,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutError {
    #[error(
        "--out {0:?}: expected KIND=URL with KIND prometheus, e.g. \
         --out prometheus=http://127.0.0.1:9090/api/v1/write"
    )]
    Shape(String),
    #[error(
        "--out {kind}: gander sends only Prometheus remote write (prometheus=URL); OTLP is not \
         supported yet"
    )]
    Kind { kind: String },
    #[error("--out prometheus={url}: {why}")]
    Url { url: String, why: String },
}

impl FromStr for OutTarget {
    type Err = OutError;

    fn from_str(s: &str) -> Result<Self, OutError> {
        let (kind, url) = s.split_once('=').ok_or_else(|| OutError::Shape(s.into()))?;
        if kind != "prometheus" {
            return Err(OutError::Kind { kind: kind.into() });
        }
        let masked = crate::redact::url(url);
        let bad = |why: String| OutError::Url {
            url: masked.clone(),
            why,
        };
        let url = url::Url::parse(url).map_err(|e| bad(format!("not a URL ({e})")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(bad("give an http:// or https:// URL".into()));
        }
        if url.host_str().is_none() {
            return Err(bad("the URL has no host".into()));
        }
        Ok(OutTarget { url })
    }
}

/// Counts kept by the sending thread and the ticks.
#[derive(Default)]
struct Counts {
    writes_sent: u64,
    samples_sent: u64,
    dropped_queue_full: u64,
    dropped_failed: u64,
    last_error: Option<String>,
}

struct Write {
    body: Bytes,
    samples: u64,
}

/// Sends the run's series to one receiver until `finish`.
pub struct Exporter {
    url: url::Url,
    series: prometheus::PrometheusSeries,
    sut: Option<Arc<Mutex<ResourceReport>>>,
    queue: Option<SyncSender<Write>>,
    counts: Arc<Mutex<Counts>>,
    /// Set by `finish`: the writes still queued must be sent by then.
    deadline: Arc<Mutex<Option<Instant>>>,
    thread: Option<JoinHandle<()>>,
    last_sent: Option<Instant>,
    /// The last write's timestamp: each write's is later (a receiver refuses
    /// a second value at the same instant).
    last_ms: i64,
}

impl Exporter {
    /// Starts the sending thread; `sut` is the monitor's figures so far.
    pub fn start(
        target: &OutTarget,
        labels: RunLabels,
        sut: Option<Arc<Mutex<ResourceReport>>>,
    ) -> std::io::Result<Exporter> {
        let (queue, writes) = mpsc::sync_channel::<Write>(QUEUE);
        let counts = Arc::new(Mutex::new(Counts::default()));
        let deadline = Arc::new(Mutex::new(None));
        let url = target.url.clone();
        let thread = std::thread::Builder::new()
            .name("gander-out".into())
            .spawn({
                let (counts, deadline, url) = (counts.clone(), deadline.clone(), url.clone());
                move || send_loop(&url, &writes, &counts, &deadline)
            })?;
        Ok(Exporter {
            url,
            series: prometheus::PrometheusSeries::new(labels),
            sut,
            queue: Some(queue),
            counts,
            deadline,
            thread: Some(thread),
            last_sent: None,
            last_ms: 0,
        })
    }

    /// Takes one tick; queues a write every `SEND_EVERY` and at the last tick.
    pub fn tick(&mut self, tick: &Tick) {
        self.series.add_seconds(&tick.seconds);
        let due = self.last_sent.is_none_or(|t| t.elapsed() >= SEND_EVERY);
        if !(due || tick.last) {
            return;
        }
        self.last_sent = Some(Instant::now());
        let sut = self.sut.as_ref().and_then(|s| s.lock().ok());
        self.last_ms = chrono::Utc::now().timestamp_millis().max(self.last_ms + 1);
        let request = self
            .series
            .write_request(&tick.collected, sut.as_deref(), self.last_ms);
        drop(sut);
        let samples = prometheus::samples_in(&request);
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .unwrap_or_default();
        let Some(queue) = &self.queue else { return };
        let write = Write {
            body: Bytes::from(body),
            samples,
        };
        if let Err(TrySendError::Full(w) | TrySendError::Disconnected(w)) = queue.try_send(write)
            && let Ok(mut c) = self.counts.lock()
        {
            c.dropped_queue_full += w.samples;
        }
    }

    /// Sends what is queued (within `LAST_WRITES`) and says what arrived.
    pub fn finish(mut self) -> OutputReport {
        if let Ok(mut d) = self.deadline.lock() {
            *d = Some(Instant::now() + LAST_WRITES);
        }
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let c = self.counts.lock().map(|c| Counts {
            last_error: c.last_error.clone(),
            ..*c
        });
        let c = c.unwrap_or_default();
        OutputReport {
            kind: "prometheus".into(),
            url: crate::redact::url(self.url.as_str()),
            interval_s: SEND_EVERY.as_secs_f64(),
            writes_sent: c.writes_sent,
            samples_sent: c.samples_sent,
            samples_dropped: c.dropped_queue_full + c.dropped_failed,
            dropped_queue_full: c.dropped_queue_full,
            dropped_failed: c.dropped_failed,
            last_error: c
                .last_error
                .map(|e| crate::redact::urls_in(&e).into_owned()),
        }
    }
}

/// The headers of a remote write, and basic auth from the URL's userinfo.
fn headers(url: &url::Url) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("content-type", "application/x-protobuf".to_string()),
        ("content-encoding", "snappy".to_string()),
        ("x-prometheus-remote-write-version", "0.1.0".to_string()),
        (
            "user-agent",
            format!("gander/{}", env!("CARGO_PKG_VERSION")),
        ),
    ];
    if !url.username().is_empty() {
        use base64::Engine;
        let user = percent_encoding::percent_decode_str(url.username()).decode_utf8_lossy();
        let pass = url
            .password()
            .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy())
            .unwrap_or_default();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        h.push(("authorization", format!("Basic {token}")));
    }
    h
}

fn send_loop(
    url: &url::Url,
    writes: &mpsc::Receiver<Write>,
    counts: &Mutex<Counts>,
    deadline: &Mutex<Option<Instant>>,
) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let headers = headers(url);
    let edge = crate::net::Edge::plain();
    while let Ok(write) = writes.recv() {
        let until = deadline.lock().ok().and_then(|d| *d);
        let timeout = match until {
            Some(until) => WRITE_TIMEOUT.min(until.saturating_duration_since(Instant::now())),
            None => WRITE_TIMEOUT,
        };
        let result = if timeout.is_zero() {
            Err("the run ended before this write could be sent".to_string())
        } else {
            runtime
                .block_on(send::post(&edge, url, &headers, write.body, timeout))
                .map_err(|e| e.to_string())
        };
        let Ok(mut c) = counts.lock() else { return };
        match result {
            Ok(()) => {
                c.writes_sent += 1;
                c.samples_sent += write.samples;
            }
            Err(e) => {
                c.dropped_failed += write.samples;
                c.last_error = Some(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_or_say_what_to_give() {
        let t: OutTarget = "prometheus=http://127.0.0.1:9090/api/v1/write"
            .parse()
            .unwrap();
        assert_eq!(t.url.port(), Some(9090));
        assert!(matches!(
            "prometheus".parse::<OutTarget>(),
            Err(OutError::Shape(_))
        ));
        assert!(matches!(
            "otlp=http://x/v1/metrics".parse::<OutTarget>(),
            Err(OutError::Kind { .. })
        ));
        let e = "prometheus=ftp://u:secret@h/api?token=abc"
            .parse::<OutTarget>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("http:// or https://"), "{e}");
        assert!(!e.contains("secret") && !e.contains("abc"), "{e}");
    }
}
