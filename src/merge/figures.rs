//! A request name's (or all requests') figures in one phase, merged: counts
//! summed, histograms added and summarised again, so a merged percentile is
//! the percentile of all the segments' requests together.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::hist::{decode_histogram, encode_recorded, new_histogram};
use crate::record::stats::{HeaderAcc, latency_summary};
use crate::result::{PhaseStats, SocketStats, Stats};

/// Each phase's figures, merged.
pub fn phase_stats(parts: &[&PhaseStats]) -> PhaseStats {
    let merged =
        |get: fn(&PhaseStats) -> &Stats| stats(&parts.iter().map(|p| get(p)).collect::<Vec<_>>());
    PhaseStats {
        ramp_up: merged(|p| &p.ramp_up),
        steady: merged(|p| &p.steady),
        ramp_down: merged(|p| &p.ramp_down),
        all: merged(|p| &p.all),
    }
}

/// The sum of saved histograms (base64 V2), as one histogram.
pub fn add_histograms<'a>(encoded: impl IntoIterator<Item = Option<&'a str>>) -> Histogram<u64> {
    let mut sum = new_histogram();
    for h in encoded.into_iter().flatten().filter_map(decode_histogram) {
        let _ = sum.add(&h);
    }
    sum
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (key, n) in from {
        *into.entry(key.clone()).or_default() += n;
    }
}

/// One phase's figures of several segments as one. The rate is the sum of
/// the segments' rates, each over its own window.
pub fn stats(parts: &[&Stats]) -> Stats {
    let sum = |get: fn(&Stats) -> u64| parts.iter().map(|s| get(s)).sum::<u64>();
    let (requests, failed, not_sent) =
        (sum(|s| s.requests), sum(|s| s.failed), sum(|s| s.not_sent));
    let mut statuses = BTreeMap::new();
    let mut protocols = BTreeMap::new();
    for s in parts {
        add_counts(&mut statuses, &s.statuses);
        add_counts(&mut protocols, &s.protocols);
    }
    let ok = add_histograms(parts.iter().map(|s| s.histogram.as_deref()));
    let failed_hist = add_histograms(parts.iter().map(|s| s.failed_histogram.as_deref()));
    let attempts = requests + not_sent;
    Stats {
        requests,
        failed,
        not_sent,
        unreached: sum(|s| s.unreached),
        error_rate: if attempts > 0 {
            (failed + not_sent) as f64 / attempts as f64
        } else {
            0.0
        },
        rps: parts.iter().map(|s| s.rps).sum(),
        bytes_received: sum(|s| s.bytes_received),
        statuses,
        latency_ms: latency_summary(&ok),
        failed_latency_ms: latency_summary(&failed_hist),
        histogram: encode_recorded(&ok),
        failed_histogram: encode_recorded(&failed_hist),
        server_headers: server_headers(parts),
        protocols,
        websocket: sockets(parts),
        cost: None,
    }
}

fn server_headers(parts: &[&Stats]) -> BTreeMap<String, crate::result::HeaderSummary> {
    let mut accs: BTreeMap<&str, HeaderAcc> = BTreeMap::new();
    for s in parts {
        for (label, summary) in &s.server_headers {
            let acc = HeaderAcc::from_summary(summary);
            match accs.get_mut(label.as_str()) {
                Some(mine) => mine.merge(&acc),
                None => {
                    accs.insert(label, acc);
                }
            }
        }
    }
    accs.into_iter()
        .map(|(label, acc)| (label.to_string(), acc.summary()))
        .collect()
}

fn sockets(parts: &[&Stats]) -> Option<SocketStats> {
    let mut total: Option<SocketStats> = None;
    for w in parts.iter().filter_map(|s| s.websocket) {
        let t = total.get_or_insert_with(SocketStats::default);
        t.sockets += w.sockets;
        t.dropped += w.dropped;
        t.messages_sent += w.messages_sent;
        t.messages_received += w.messages_received;
    }
    total
}
