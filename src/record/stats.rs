//! Accumulators that samples are folded into, and their summaries.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::hist::{encode_recorded, new_histogram, record_latency};
use crate::result::{HeaderSummary, LatencySummary, SocketStats, Stats};
use crate::runner::sample::{HeaderMetric, Protocol, Sample};

/// Header values are recorded in 1/1024ths: whole numbers up to 2048 (query
/// counts, cache hits) and millisecond times with fractions stay exact at 3
/// significant digits, so a `max: 20` target sees 20, not 20.01.
pub const HEADER_SCALE: f64 = 1024.0;

/// A server-header value as its histograms record it (negative values as 0).
pub fn header_raw(value: f64) -> u64 {
    (value.max(0.0) * HEADER_SCALE).round() as u64
}

pub fn latency_summary(h: &Histogram<u64>) -> Option<LatencySummary> {
    if h.is_empty() {
        return None;
    }
    let ms = |us: u64| us as f64 / 1e3;
    Some(LatencySummary {
        min: ms(h.min()),
        mean: h.mean() / 1e3,
        stdev: h.stdev() / 1e3,
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p95: ms(h.value_at_quantile(0.95)),
        p99: ms(h.value_at_quantile(0.99)),
        p99_9: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    })
}

/// One second's p50, p95, p99 and max (ms) of the series, from its histogram.
pub fn second_latencies(h: &Histogram<u64>) -> [Option<f64>; 4] {
    if h.is_empty() {
        return [None; 4];
    }
    let q = |q: f64| Some(h.value_at_quantile(q) as f64 / 1e3);
    [q(0.5), q(0.95), q(0.99), Some(h.max() as f64 / 1e3)]
}

/// The closed model's measured and corrected latencies (see `PacingReport`):
/// the corrected figures never below the measured ones.
pub fn pacing_summaries(
    measured: &Histogram<u64>,
    corrected: &Histogram<u64>,
) -> (Option<LatencySummary>, Option<LatencySummary>) {
    let m = latency_summary(measured);
    let c = latency_summary(corrected).map(|c| m.map_or(c, |m| c.at_least(&m)));
    (m, c)
}

#[derive(Debug, Clone)]
pub struct HeaderAcc {
    hist: Histogram<u64>,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
    is_time: bool,
}

impl HeaderAcc {
    fn new(is_time: bool) -> Self {
        HeaderAcc {
            hist: new_histogram(),
            sum: 0.0,
            sum_sq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            is_time,
        }
    }
    fn add(&mut self, value: f64) {
        self.sum += value;
        self.sum_sq += value * value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        let _ = self.hist.record(header_raw(value));
    }
    /// The accumulator a saved summary (with its histogram) stands for.
    pub fn from_summary(s: &HeaderSummary) -> HeaderAcc {
        let count = s.count as f64;
        let hist = s
            .histogram
            .as_deref()
            .and_then(crate::hist::decode_histogram)
            .unwrap_or_else(new_histogram);
        // Saved extremes stand when anything was saved: a count of 0 beside
        // a non-empty histogram (a hand-edited file) must not leave ±inf,
        // which JSON cannot hold.
        let seen = s.count > 0 || !hist.is_empty();
        HeaderAcc {
            hist,
            sum: s.sum,
            sum_sq: count * (s.stdev * s.stdev + s.mean * s.mean),
            min: if seen { s.min } else { f64::INFINITY },
            max: if seen { s.max } else { f64::NEG_INFINITY },
            is_time: s.unit == "ms",
        }
    }

    pub fn merge(&mut self, other: &HeaderAcc) {
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        let _ = self.hist.add(&other.hist);
    }
    pub fn summary(&self) -> HeaderSummary {
        // The lowest value of each bucket, kept within the exact extremes.
        let q = |q: f64| {
            let raw = self.hist.lowest_equivalent(self.hist.value_at_quantile(q));
            // max/min, not clamp: a merged run.json may hold min > max.
            (raw as f64 / HEADER_SCALE).max(self.min).min(self.max)
        };
        let count = self.hist.len();
        HeaderSummary {
            unit: if self.is_time {
                "ms".into()
            } else {
                String::new()
            },
            count,
            sum: self.sum,
            mean: if count > 0 {
                self.sum / count as f64
            } else {
                0.0
            },
            stdev: if count > 0 {
                let mean = self.sum / count as f64;
                (self.sum_sq / count as f64 - mean * mean).max(0.0).sqrt()
            } else {
                0.0
            },
            min: if count > 0 { self.min } else { 0.0 },
            p50: if count > 0 { q(0.5) } else { 0.0 },
            p95: if count > 0 { q(0.95) } else { 0.0 },
            p99: if count > 0 { q(0.99) } else { 0.0 },
            max: if count > 0 { self.max } else { 0.0 },
            histogram: encode_recorded(&self.hist),
        }
    }
}

/// Everything recorded for one request name (or all) in one phase.
#[derive(Debug, Clone)]
pub struct Acc {
    pub requests: u64,
    pub failed: u64,
    pub not_sent: u64,
    pub bytes: u64,
    /// Failed because the connection failed.
    pub unreached: u64,
    pub statuses: BTreeMap<u16, u64>,
    /// Latencies of the successful requests: the ones latency figures describe.
    pub hist: Histogram<u64>,
    /// Latencies of the failed requests, shown apart.
    pub failed_hist: Histogram<u64>,
    pub headers: BTreeMap<HeaderMetric, HeaderAcc>,
    /// Answers per protocol, in the order of `Protocol::ANSWERED`.
    pub protocols: [u64; Protocol::ANSWERED.len()],
    pub sockets: SocketStats,
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            requests: 0,
            failed: 0,
            not_sent: 0,
            unreached: 0,
            bytes: 0,
            statuses: BTreeMap::new(),
            hist: new_histogram(),
            failed_hist: new_histogram(),
            headers: BTreeMap::new(),
            protocols: [0; Protocol::ANSWERED.len()],
            sockets: SocketStats::default(),
        }
    }
}

impl Acc {
    /// `is_time(metric)` tells whether a header's values are times (shown in ms).
    pub fn add(&mut self, s: &Sample, header_is_time: impl Fn(&HeaderMetric) -> bool) {
        let Some(latency) = s.latency else {
            self.not_sent += 1;
            return;
        };
        self.requests += 1;
        let us = latency.as_micros() as u64;
        if let Some(f) = &s.failure {
            self.failed += 1;
            self.unreached += u64::from(f.unreached);
        }
        match (&s.socket, &s.failure) {
            // A socket's life is no latency: counted, never in a histogram.
            (Some(end), _) => {
                self.sockets.sockets += 1;
                self.sockets.dropped += u64::from(end.dropped);
                self.sockets.messages_sent += end.sent;
                self.sockets.messages_received += end.received;
            }
            (None, Some(_)) => record_latency(&mut self.failed_hist, us),
            (None, None) => record_latency(&mut self.hist, us),
        }
        self.bytes += s.bytes;
        // A WebSocket message or socket has no HTTP status.
        if s.protocol != Protocol::WebSocket {
            *self.statuses.entry(s.status).or_default() += 1;
        }
        if let Some(i) = Protocol::ANSWERED.iter().position(|p| *p == s.protocol) {
            self.protocols[i] += 1;
        }
        for h in &s.headers {
            self.headers
                .entry(h.metric.clone())
                .or_insert_with(|| HeaderAcc::new(header_is_time(&h.metric)))
                .add(h.value);
        }
    }

    pub fn merge(&mut self, other: &Acc) {
        self.requests += other.requests;
        self.failed += other.failed;
        self.not_sent += other.not_sent;
        self.unreached += other.unreached;
        self.bytes += other.bytes;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        for (mine, theirs) in self.protocols.iter_mut().zip(other.protocols) {
            *mine += theirs;
        }
        self.sockets.sockets += other.sockets.sockets;
        self.sockets.dropped += other.sockets.dropped;
        self.sockets.messages_sent += other.sockets.messages_sent;
        self.sockets.messages_received += other.sockets.messages_received;
        let _ = self.hist.add(&other.hist);
        let _ = self.failed_hist.add(&other.failed_hist);
        for (metric, acc) in &other.headers {
            match self.headers.get_mut(metric) {
                Some(mine) => mine.merge(acc),
                None => {
                    self.headers.insert(metric.clone(), acc.clone());
                }
            }
        }
    }

    /// Summarises over a window of `seconds`; `label` names header metrics.
    pub fn stats(&self, seconds: f64, label: impl Fn(&HeaderMetric) -> String) -> Stats {
        let attempts = self.requests + self.not_sent;
        Stats {
            requests: self.requests,
            failed: self.failed,
            not_sent: self.not_sent,
            unreached: self.unreached,
            error_rate: if attempts > 0 {
                (self.failed + self.not_sent) as f64 / attempts as f64
            } else {
                0.0
            },
            rps: if seconds > 0.0 {
                self.requests as f64 / seconds
            } else {
                0.0
            },
            bytes_received: self.bytes,
            statuses: self
                .statuses
                .iter()
                .map(|(status, n)| {
                    let key = if *status == 0 {
                        "none".to_string()
                    } else {
                        status.to_string()
                    };
                    (key, *n)
                })
                .collect(),
            latency_ms: latency_summary(&self.hist),
            failed_latency_ms: latency_summary(&self.failed_hist),
            histogram: encode_recorded(&self.hist),
            failed_histogram: encode_recorded(&self.failed_hist),
            server_headers: self
                .headers
                .iter()
                .map(|(metric, acc)| (label(metric), acc.summary()))
                .collect(),
            protocols: Protocol::ANSWERED
                .iter()
                .zip(self.protocols)
                .filter(|(_, n)| *n > 0)
                .map(|(p, n)| (p.label().to_string(), n))
                .collect(),
            websocket: (self.sockets.sockets > 0).then_some(self.sockets),
            cost: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::decode_histogram;
    use std::time::{Duration, Instant};

    /// A saved summary that says 0 values beside a histogram that holds
    /// some (a hand-edited run.json): its merge has finite figures.
    #[test]
    fn a_summary_whose_count_disagrees_with_its_histogram_stays_finite() {
        let mut acc = HeaderAcc::new(true);
        for v in [2.0, 3.0, 5.0] {
            acc.add(v);
        }
        let mut saved = acc.summary();
        saved.count = 0;
        let back = HeaderAcc::from_summary(&saved).summary();
        for figure in [back.min, back.max, back.p50, back.p95, back.p99, back.mean] {
            assert!(figure.is_finite(), "{back:?}");
        }
        assert_eq!(back.count, 3);
    }

    fn sample(ms: u64, failed: bool) -> Sample {
        Sample {
            endpoint: 0,
            scenario: 0,
            started: Instant::now(),
            pace: None,
            latency: Some(Duration::from_millis(ms)),
            status: if failed { 500 } else { 200 },
            bytes: 10,
            failure: failed.then(|| {
                Box::new(crate::runner::sample::Failure {
                    reason: "x".into(),
                    ..Default::default()
                })
            }),
            headers: vec![],
            protocol: Protocol::Http11,
            socket: None,
            side: 0,
        }
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut both) = (Acc::default(), Acc::default(), Acc::default());
        for i in 1..=100 {
            let s = sample(i, i % 10 == 0);
            if i % 2 == 0 {
                a.add(&s, |_| false)
            } else {
                b.add(&s, |_| false)
            }
            both.add(&s, |_| false);
        }
        a.merge(&b);
        assert_eq!(a.requests, both.requests);
        assert_eq!(a.failed, 10);
        assert_eq!(a.hist, both.hist);
        let stats = a.stats(10.0, |_| String::new());
        assert_eq!(stats.rps, 10.0);
        assert!((stats.error_rate - 0.1).abs() < 1e-9);
        // Latency figures describe the 90 successful requests; the 10 failed ones are apart.
        let decoded = decode_histogram(stats.histogram.as_deref().unwrap()).unwrap();
        assert_eq!(decoded.len(), 90);
        assert_eq!(a.failed_hist.len(), 10);
        assert_eq!(a.failed_hist, both.failed_hist);
        let failed = stats.failed_latency_ms.unwrap();
        // To the histogram's 3 significant digits.
        assert!((failed.min - 10.0).abs() < 0.01 && (failed.max - 100.0).abs() < 0.1);
        assert!(stats.latency_ms.unwrap().max < 100.0);
    }
}
