//! The SUT's figures read over HTTP: a Prometheus text endpoint, a JSON
//! metrics endpoint, and a health endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::header::{HeaderMap, HeaderValue};

use crate::bounded;
use crate::net::{Edge, fetch};
use crate::result::resources::HealthState;
use crate::scenario::plan::HttpSource;

/// Sums each named metric over its label sets, from Prometheus text format.
pub fn parse_prometheus(text: &str, names: &[&str]) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
        let name = &line[..name_end];
        if !names.contains(&name) {
            continue;
        }
        // Label values may hold spaces and braces, but the value follows the last '}'.
        let rest = if line[name_end..].starts_with('{') {
            line.rfind('}').map_or("", |i| &line[i + 1..])
        } else {
            &line[name_end..]
        };
        let value = rest.split_whitespace().next().and_then(|v| match v {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            v => v.parse::<f64>().ok(),
        });
        if let Some(v) = value.filter(|v| v.is_finite()) {
            *out.entry(name.to_string()).or_insert(0.0) += v;
        }
    }
    out
}

/// A number at a JSON pointer (numbers, or strings holding one).
pub fn json_number(doc: &serde_json::Value, pointer: &str) -> Option<f64> {
    match doc.pointer(pointer)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Classifies a health answer: the status word at `pointer` when there is one
/// (`healthy`/`ok`/`up`/`pass`, `degraded`/`warn`), else the HTTP status.
pub fn classify(status: u16, body: &[u8], pointer: Option<&str>) -> (HealthState, Option<String>) {
    let word = pointer.and_then(|p| {
        let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
        doc.pointer(p)?.as_str().map(str::to_ascii_lowercase)
    });
    match word.as_deref() {
        Some("healthy" | "ok" | "up" | "pass" | "green") if (200..300).contains(&status) => {
            (HealthState::Healthy, None)
        }
        Some("degraded" | "warn" | "warning" | "yellow") => (HealthState::Degraded, word.clone()),
        Some(other) => (
            HealthState::Error,
            Some(format!("status \"{other}\" (HTTP {status})")),
        ),
        None if (200..300).contains(&status) => (HealthState::Healthy, None),
        None => (HealthState::Error, Some(format!("HTTP {status}"))),
    }
}

/// An HTTP reader for the monitor's endpoints, through the run's network
/// edge (its TLS and proxies).
pub struct Fetcher {
    edge: Arc<Edge>,
    timeout: Duration,
}

/// Why an observed endpoint gave nothing to read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{url}: {reason}")]
    Url {
        url: String,
        reason: url::ParseError,
    },
    #[error("{url}: header {name} is not a valid value")]
    Header { url: String, name: String },
    #[error("{url}: {reason}")]
    Get {
        url: String,
        reason: crate::net::fetch::FetchError,
    },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
}

impl Fetcher {
    pub fn new(edge: Arc<Edge>, timeout: Duration) -> Fetcher {
        Fetcher { edge, timeout }
    }

    /// Status, body and how long the answer took.
    pub async fn get(&self, source: &HttpSource) -> Result<(u16, Vec<u8>, Duration), SourceError> {
        let started = Instant::now();
        let url = url::Url::parse(&source.url).map_err(|reason| SourceError::Url {
            url: source.url.clone(),
            reason,
        })?;
        let mut headers = HeaderMap::new();
        for (name, value) in &source.headers {
            let value = HeaderValue::from_str(value).map_err(|_| SourceError::Header {
                url: source.url.clone(),
                name: name.to_string(),
            })?;
            headers.insert(name.clone(), value);
        }
        let got = fetch::get(
            &self.edge,
            &url,
            &headers,
            bounded::OBSERVED_LIMIT,
            self.timeout,
        )
        .await
        .map_err(|reason| SourceError::Get {
            url: source.url.clone(),
            reason,
        })?;
        Ok((got.status, got.body, started.elapsed()))
    }

    /// The body of a 2xx answer; anything else is an error saying what came.
    pub async fn get_ok(&self, source: &HttpSource) -> Result<Vec<u8>, SourceError> {
        match self.get(source).await? {
            (status, body, _) if (200..300).contains(&status) => Ok(body),
            (status, _, _) => Err(SourceError::Status {
                url: source.url.clone(),
                status,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_sums_label_sets_and_skips_comments() {
        let text = "# HELP process_cpu_seconds_total CPU\n\
            # TYPE process_cpu_seconds_total counter\n\
            process_cpu_seconds_total 12.5\n\
            process_resident_memory_bytes 1.048576e+08\n\
            http_requests_total{path=\"/a b}\",code=\"200\"} 10 1700000000\n\
            http_requests_total{path=\"/c\",code=\"500\"} 5\n\
            http_requests_total_other 99\n";
        let v = parse_prometheus(
            text,
            &[
                "process_cpu_seconds_total",
                "process_resident_memory_bytes",
                "http_requests_total",
            ],
        );
        assert_eq!(v["process_cpu_seconds_total"], 12.5);
        assert_eq!(v["process_resident_memory_bytes"], 104_857_600.0);
        assert_eq!(v["http_requests_total"], 15.0);
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn health_words_and_statuses() {
        let p = Some("/status");
        assert_eq!(
            classify(200, br#"{"status":"healthy"}"#, p).0,
            HealthState::Healthy
        );
        assert_eq!(
            classify(200, br#"{"status":"degraded"}"#, p).0,
            HealthState::Degraded
        );
        assert_eq!(
            classify(503, br#"{"status":"error"}"#, p).0,
            HealthState::Error
        );
        assert_eq!(classify(503, b"down", p).0, HealthState::Error);
        assert_eq!(classify(204, b"", None).0, HealthState::Healthy);
        assert_eq!(
            json_number(&serde_json::json!({"a": {"b": "4.5"}}), "/a/b"),
            Some(4.5)
        );
    }
}
