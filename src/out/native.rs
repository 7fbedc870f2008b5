//! HDR histograms (µs) folded into a Prometheus native histogram (seconds):
//! exponential buckets of schema `SCHEMA`, bucket `i` holding the values in
//! `(2^((i-1)/2^SCHEMA), 2^(i/2^SCHEMA)]`. Fed once a second with that
//! second's histogram; it only grows by one bucket per distinct band seen.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::proto;

/// 2^(1/32) ≈ 1.0219: neighbouring bucket edges 2.2 % apart.
pub const SCHEMA: i32 = 5;

/// The factor between a bucket's upper and lower edge.
pub fn bucket_growth() -> f64 {
    2f64.powf(2f64.powi(-SCHEMA))
}

/// The bucket a value (seconds, above zero) falls in.
pub fn bucket_of(seconds: f64) -> i32 {
    (seconds.log2() * f64::from(1 << SCHEMA)).ceil() as i32
}

/// A run's latencies so far, as counts per native bucket.
#[derive(Debug, Default, Clone)]
pub struct Native {
    buckets: BTreeMap<i32, u64>,
    count: u64,
    sum_s: f64,
}

impl Native {
    /// Adds every value of `h` (µs), each at its HDR bucket's highest value,
    /// as the report's percentiles take it.
    pub fn add(&mut self, h: &Histogram<u64>) {
        for v in h.iter_recorded() {
            let n = v.count_at_value();
            let seconds = v.value_iterated_to().max(1) as f64 / 1e6;
            *self.buckets.entry(bucket_of(seconds)).or_default() += n;
            self.count += n;
            self.sum_s += seconds * n as f64;
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The histogram as remote write carries it: spans of adjacent buckets,
    /// counts as deltas.
    pub fn to_proto(&self, timestamp: i64) -> proto::Histogram {
        let mut spans: Vec<proto::BucketSpan> = Vec::new();
        let mut deltas = Vec::with_capacity(self.buckets.len());
        let (mut previous_index, mut previous_count): (Option<i32>, i64) = (None, 0);
        for (&index, &count) in &self.buckets {
            match (previous_index, spans.last_mut()) {
                (Some(p), Some(span)) if index == p + 1 => span.length += 1,
                (Some(p), _) => spans.push(proto::BucketSpan {
                    offset: index - p - 1,
                    length: 1,
                }),
                (None, _) => spans.push(proto::BucketSpan {
                    offset: index,
                    length: 1,
                }),
            }
            deltas.push(count as i64 - previous_count);
            previous_count = count as i64;
            previous_index = Some(index);
        }
        proto::Histogram {
            count_int: self.count,
            sum: self.sum_s,
            schema: SCHEMA,
            zero_threshold: 0.0,
            zero_count_int: 0,
            positive_spans: spans,
            positive_deltas: deltas,
            reset_hint: 2,
            timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_lies_within_its_bucket() {
        let growth = bucket_growth();
        for us in [1u64, 7, 99, 100, 1_000, 12_345, 999_999, 3_600_000_000] {
            let s = us as f64 / 1e6;
            let i = bucket_of(s);
            let upper = 2f64.powf(f64::from(i) / f64::from(1 << SCHEMA));
            assert!(s <= upper * (1.0 + 1e-12), "{us}: {s} above {upper}");
            assert!(
                s > upper / growth * (1.0 - 1e-12),
                "{us}: {s} below bucket {i}"
            );
        }
    }

    #[test]
    fn spans_and_deltas_give_back_every_count() {
        let mut h = crate::hist::new_histogram();
        for (us, n) in [
            (100u64, 3u64),
            (101, 1),
            (5_000, 7),
            (5_100, 2),
            (900_000, 1),
        ] {
            h.record_n(us, n).unwrap();
        }
        let mut native = Native::default();
        native.add(&h);
        let p = native.to_proto(0);
        // Walk the spans back into (index, count) pairs.
        let mut index = 0;
        let mut count = 0i64;
        let mut deltas = p.positive_deltas.iter();
        let mut back = BTreeMap::new();
        // The first offset is the first bucket's index; later ones count
        // from the end of the span before.
        for span in &p.positive_spans {
            index += span.offset;
            for _ in 0..span.length {
                count += deltas.next().unwrap();
                back.insert(index, count as u64);
                index += 1;
            }
        }
        assert_eq!(back, native.buckets);
        assert_eq!(p.count_int, 14);
        assert_eq!(back.values().sum::<u64>(), 14);
    }
}
