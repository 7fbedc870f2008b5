//! The run's figures as remote-write series: cumulative request counters per
//! request name, scenario and status, a native histogram of latencies per
//! request name, the users, and the CPU and memory the SUT monitor reads, all
//! labelled with the run's id.

use crate::record::{ClosedSecond, Collected};
use crate::result::Stats;
use crate::result::resources::{CPU, RSS, ResourceReport};

use super::native::Native;
use super::proto::{Label, Sample, TimeSeries, WriteRequest};

/// What the series are named after, fixed for the run.
pub struct RunLabels {
    pub run_id: String,
    /// Request names, in the plan's order.
    pub requests: Vec<String>,
    /// The scenario(s) each request name belongs to.
    pub scenarios: Vec<String>,
}

/// The cumulative latencies per request name, fed once a second.
pub struct PrometheusSeries {
    labels: RunLabels,
    latencies: Vec<Native>,
}

impl PrometheusSeries {
    pub fn new(labels: RunLabels) -> Self {
        let latencies = vec![Native::default(); labels.requests.len()];
        PrometheusSeries { labels, latencies }
    }

    /// Folds closed seconds' latencies into the histograms.
    pub fn add_seconds(&mut self, seconds: &[ClosedSecond]) {
        for second in seconds {
            for (endpoint, hist) in &second.by_endpoint {
                if let Some(native) = self.latencies.get_mut(*endpoint as usize) {
                    native.add(hist);
                }
            }
        }
    }

    /// Every series as it stands at `now_ms`.
    pub fn write_request(
        &self,
        collected: &Collected,
        sut: Option<&ResourceReport>,
        now_ms: i64,
    ) -> WriteRequest {
        let mut out = Vec::new();
        for (i, stats) in collected.endpoints.iter().enumerate() {
            self.request_series(i, &stats.all, now_ms, &mut out);
        }
        let run_id = &self.labels.run_id;
        if let Some(users) = collected.timeseries.last().map(|p| p.users) {
            out.push(sample("gander_users", &[], run_id, users as f64, now_ms));
        }
        if let Some(report) = sut {
            sut_series(report, run_id, now_ms, &mut out);
        }
        WriteRequest { timeseries: out }
    }

    /// One request name's counters and latency histogram.
    fn request_series(&self, i: usize, all: &Stats, now_ms: i64, out: &mut Vec<TimeSeries>) {
        let run_id = &self.labels.run_id;
        let request = self.labels.requests[i].as_str();
        let scenario = self.labels.scenarios[i].as_str();
        let count = |status: &str, n: u64| {
            let pairs = [
                ("request", request),
                ("scenario", scenario),
                ("status", status),
            ];
            sample("gander_requests_total", &pairs, run_id, n as f64, now_ms)
        };
        // Every request once: by status, and WebSocket rows (no status) apart.
        let counted: u64 = all.statuses.values().sum();
        out.extend(all.statuses.iter().map(|(status, n)| count(status, *n)));
        if all.requests > counted {
            out.push(count("ws", all.requests - counted));
        }
        let pairs = [("request", request), ("scenario", scenario)];
        if all.not_sent > 0 {
            let name = "gander_requests_not_sent_total";
            out.push(sample(name, &pairs, run_id, all.not_sent as f64, now_ms));
        }
        if self.latencies[i].count() > 0 {
            out.push(TimeSeries {
                labels: labels("gander_request_duration_seconds", &pairs, run_id),
                samples: Vec::new(),
                histograms: vec![self.latencies[i].to_proto(now_ms)],
            });
        }
    }
}

/// The last CPU and memory reading of each source the SUT monitor reads.
fn sut_series(report: &ResourceReport, run_id: &str, now_ms: i64, out: &mut Vec<TimeSeries>) {
    for source in &report.sources {
        let label = source.label();
        for (series, metric) in [
            (CPU, "gander_sut_cpu_percent"),
            (RSS, "gander_sut_memory_bytes"),
        ] {
            let last = source
                .series
                .iter()
                .find(|s| s.name == series)
                .and_then(|s| s.points.last());
            if let Some([_, value]) = last {
                out.push(sample(
                    metric,
                    &[("source", &label)],
                    run_id,
                    *value,
                    now_ms,
                ));
            }
        }
    }
}

/// A sample's count: histograms count one each.
pub fn samples_in(w: &WriteRequest) -> u64 {
    w.timeseries
        .iter()
        .map(|t| (t.samples.len() + t.histograms.len()) as u64)
        .sum()
}

fn sample(name: &str, pairs: &[(&str, &str)], run_id: &str, value: f64, now_ms: i64) -> TimeSeries {
    TimeSeries {
        labels: labels(name, pairs, run_id),
        samples: vec![Sample {
            value,
            timestamp: now_ms,
        }],
        histograms: Vec::new(),
    }
}

/// `__name__`, the pairs and `run_id`, sorted by name as remote write wants.
fn labels(name: &str, pairs: &[(&str, &str)], run_id: &str) -> Vec<Label> {
    let mut labels: Vec<Label> = [("__name__", name), ("run_id", run_id)]
        .iter()
        .chain(pairs)
        .map(|(n, v)| Label {
            name: (*n).to_string(),
            value: (*v).to_string(),
        })
        .collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels
}
