//! Merged figures equal the figures of everything recorded in one place.

use std::time::{Duration, Instant};

use super::figures;
use crate::hist::decode_histogram;
use crate::record::stats::Acc;
use crate::runner::sample::{Failure, HeaderMetric, HeaderValue, Protocol, Sample};

fn sample(i: u64) -> Sample {
    Sample {
        endpoint: 0,
        scenario: 0,
        started: Instant::now(),
        pace: None,
        // Spread over four orders of magnitude, so percentiles fall in different buckets.
        latency: Some(Duration::from_micros(37 + i * i * 13 % 90_000)),
        status: if i.is_multiple_of(17) { 500 } else { 200 },
        bytes: i,
        failure: i.is_multiple_of(17).then(|| {
            Box::new(Failure {
                reason: "boom".into(),
                ..Default::default()
            })
        }),
        headers: vec![HeaderValue {
            metric: HeaderMetric::Listed(0),
            value: (i % 23) as f64 + 0.5,
            is_time: false,
        }],
        protocol: Protocol::Http11,
        socket: None,
        side: 0,
    }
}

#[test]
fn merged_stats_are_the_stats_of_all_samples_together() {
    let label = |_: &HeaderMetric| "X-Queries".to_string();
    let mut parts = [Acc::default(), Acc::default(), Acc::default()];
    let mut whole = Acc::default();
    for i in 0..3000u64 {
        // Uneven shares, as segments of different speed would record.
        parts[(i * i % 7 % 3) as usize].add(&sample(i), |_| false);
        whole.add(&sample(i), |_| false);
    }
    let stats: Vec<_> = parts.iter().map(|a| a.stats(10.0, label)).collect();
    let merged = figures::stats(&stats.iter().collect::<Vec<_>>());
    let single = whole.stats(10.0, label);
    assert_eq!(merged.requests, 3000);
    assert_eq!(merged.latency_ms, single.latency_ms, "exact percentiles");
    assert_eq!(merged.failed_latency_ms, single.failed_latency_ms);
    let decoded = |s: &crate::result::Stats| s.histogram.as_deref().and_then(decode_histogram);
    assert_eq!(
        decoded(&merged),
        decoded(&single),
        "the same counts at the same values"
    );
    assert_eq!(merged.statuses, single.statuses);
    assert_eq!(merged.bytes_received, single.bytes_received);
    assert_eq!(merged.error_rate, single.error_rate);
    // Three segments each at their own rate over 10 s: the rates add.
    assert_eq!(merged.rps, single.rps);
    let (m, s) = (
        &merged.server_headers["X-Queries"],
        &single.server_headers["X-Queries"],
    );
    assert_eq!(
        (m.count, m.min, m.max, m.p50, m.p95, m.p99),
        (s.count, s.min, s.max, s.p50, s.p95, s.p99)
    );
    assert!((m.sum - s.sum).abs() < 1e-6 && (m.stdev - s.stdev).abs() < 1e-6);
}
