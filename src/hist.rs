//! The HDR histograms every latency is recorded in, and their saved form
//! (V2-deflate, base64) in `run.json`.

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

/// Latencies are recorded in microseconds from 1 µs to 1 hour, 3 significant digits.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;
pub fn new_histogram() -> Histogram<u64> {
    // Auto-resizing: memory grows with the largest value seen, not the 1 h bound.
    let mut h = Histogram::new_with_bounds(1, 2, 3).expect("static histogram bounds are valid");
    h.auto(true);
    h
}

pub fn record_latency(h: &mut Histogram<u64>, us: u64) {
    let _ = h.record(us.clamp(1, MAX_LATENCY_US));
}

pub fn encode_histogram(h: &Histogram<u64>) -> Option<String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut bytes).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `encode_histogram`, for a histogram that holds something.
pub fn encode_recorded(h: &Histogram<u64>) -> Option<String> {
    if h.is_empty() {
        None
    } else {
        encode_histogram(h)
    }
}

pub fn decode_histogram(text: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .ok()
}

/// Each histogram of an interval log: its start (whole seconds from the log's
/// base time), its tag and the histogram.
pub fn interval_histograms(log: &[u8]) -> impl Iterator<Item = (u64, String, Histogram<u64>)> + '_ {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    IntervalLogIterator::new(log).flatten().filter_map(|entry| {
        let LogEntry::Interval(h) = entry else {
            return None;
        };
        let tag = h.tag()?.as_str().to_string();
        let hist = decode_histogram(h.encoded_histogram())?;
        Some((h.start_timestamp().as_secs(), tag, hist))
    })
}

/// The interval-log tag of a server-header figure of request name `endpoint`:
/// `e<endpoint>:<figure>`, the figure percent-encoded (tags hold no spaces or commas).
pub fn header_tag(endpoint: u32, figure: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b',')
        .add(b'%')
        .add(b':');
    format!(
        "e{endpoint}:{}",
        percent_encoding::utf8_percent_encode(figure, SET)
    )
}

/// The request name index and figure of a tag written by `header_tag`.
pub fn parse_header_tag(tag: &str) -> Option<(usize, String)> {
    let (endpoint, figure) = tag.strip_prefix('e')?.split_once(':')?;
    let figure = percent_encoding::percent_decode_str(figure)
        .decode_utf8()
        .ok()?;
    Some((endpoint.parse().ok()?, figure.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_tags_hold_any_figure_name_and_read_back() {
        for figure in ["X-Request-Time", "Server-Timing db", "a,b:c%d", "ünï"] {
            let tag = header_tag(3, figure);
            assert!(
                hdrhistogram::serialization::interval_log::Tag::new(&tag).is_some(),
                "{tag}"
            );
            assert_eq!(parse_header_tag(&tag), Some((3, figure.to_string())));
        }
        assert_eq!(parse_header_tag("e3"), None);
    }
}
