//! The per-second series and the interval logs on the merged time axis:
//! each second's counts summed, its latency percentiles taken from the
//! segments' histograms of that second added together.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::SegmentRun;
use crate::hist::{interval_histograms, new_histogram, parse_header_tag};
use crate::record::stats::second_latencies;
use crate::result::{RunResult, TimePoint};

/// An interval log's histograms on the merged axis, by second and tag.
#[derive(Debug, Default)]
pub struct IntervalHists(BTreeMap<(u64, String), Histogram<u64>>);

impl IntervalHists {
    fn add_log(&mut self, log: &[u8], shift: u64) {
        for (t, tag, hist) in interval_histograms(log) {
            let slot = self.0.entry((t + shift, tag)).or_insert_with(new_histogram);
            let _ = slot.add(&hist);
        }
    }

    /// Every tag's histograms of each second, added.
    fn per_second(&self) -> BTreeMap<u64, Histogram<u64>> {
        let mut out: BTreeMap<u64, Histogram<u64>> = BTreeMap::new();
        for ((t, _), hist) in &self.0 {
            let _ = out.entry(*t).or_insert_with(new_histogram).add(hist);
        }
        out
    }

    /// The log, as the recorder writes it: `comment`, then each second's histograms.
    pub fn write(&self, comment: &str, start: SystemTime) -> Vec<u8> {
        let mut out = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        if let Ok(mut writer) = IntervalLogWriterBuilder::new()
            .add_comment(comment)
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut out, &mut serializer)
        {
            for ((t, tag), hist) in &self.0 {
                let at = Duration::from_secs(*t);
                let _ = writer.write_histogram(hist, at, Duration::from_secs(1), Tag::new(tag));
            }
        }
        out
    }
}

/// The segments' interval logs, merged; and how many server-header values
/// each segment saw per second and figure (what its per-second means weigh).
#[derive(Debug, Default)]
pub struct Logs {
    pub latency: IntervalHists,
    pub headers: IntervalHists,
    header_counts: Vec<BTreeMap<(u64, String), u64>>,
}

impl Logs {
    pub fn read(segments: &[SegmentRun], shifts: &[u64]) -> Logs {
        let mut logs = Logs::default();
        for (s, shift) in segments.iter().zip(shifts) {
            logs.latency.add_log(&s.interval_log, *shift);
            logs.headers.add_log(&s.header_log, *shift);
            let mut counts: BTreeMap<(u64, String), u64> = BTreeMap::new();
            for (t, tag, hist) in interval_histograms(&s.header_log) {
                if let Some((_, figure)) = parse_header_tag(&tag) {
                    *counts.entry((t + shift, figure)).or_default() += hist.len();
                }
            }
            logs.header_counts.push(counts);
        }
        logs
    }
}

fn empty_point(t: u64) -> TimePoint {
    TimePoint {
        t,
        requests: 0,
        errors: 0,
        bytes: 0,
        p50_ms: None,
        p95_ms: None,
        p99_ms: None,
        max_ms: None,
        users: 0,
        target: None,
        iterations: None,
        late: 0,
        headers: BTreeMap::new(),
        errors_by_name: BTreeMap::new(),
        cpu_ms_per_request: None,
    }
}

fn add_option<T: std::ops::Add<Output = T> + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// The segments' per-second series summed second by second on the merged axis.
pub fn timeseries(results: &[&RunResult], shifts: &[u64], logs: &Logs) -> Vec<TimePoint> {
    let mut points: BTreeMap<u64, TimePoint> = BTreeMap::new();
    // Per second and figure: the sum of the values and how many there were.
    let mut headers: BTreeMap<(u64, String), (f64, u64)> = BTreeMap::new();
    for (i, (r, shift)) in results.iter().zip(shifts).enumerate() {
        for p in &r.timeseries {
            let t = p.t + shift;
            let m = points.entry(t).or_insert_with(|| empty_point(t));
            m.requests += p.requests;
            m.errors += p.errors;
            m.bytes += p.bytes;
            m.users += p.users;
            m.target = add_option(m.target, p.target);
            m.iterations = add_option(m.iterations, p.iterations);
            m.late += p.late;
            for (name, n) in &p.errors_by_name {
                *m.errors_by_name.entry(name.clone()).or_default() += n;
            }
            for (figure, mean) in &p.headers {
                let key = (t, figure.clone());
                let n = logs.header_counts[i].get(&key).copied().unwrap_or(1);
                let slot = headers.entry(key).or_default();
                slot.0 += mean * n as f64;
                slot.1 += n;
            }
        }
    }
    for ((t, figure), (sum, n)) in headers {
        if let Some(p) = points.get_mut(&t) {
            p.headers.insert(figure, sum / n.max(1) as f64);
        }
    }
    for (t, hist) in logs.latency.per_second() {
        if let Some(p) = points.get_mut(&t) {
            [p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms] = second_latencies(&hist);
        }
    }
    points.into_values().collect()
}
