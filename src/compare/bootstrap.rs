//! Resampling for confidence intervals: a circular block bootstrap over the
//! seconds of the steady state, nested in a bootstrap over runs when the
//! baseline is a set of runs.
//!
//! Requests within one second are not independent draws (a GC pause or a
//! noisy neighbour slows all of them), and neither are neighbouring seconds;
//! resampling blocks of whole seconds keeps that correlation in the interval,
//! where resampling single requests would make it far too narrow. Drawing the
//! runs first adds the run-to-run variation a set of baseline runs shows.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How many resamples each interval is drawn from.
pub const REPLICATES: usize = 1000;
/// A fixed seed: comparing the same runs twice gives the same answer.
const SEED: u64 = 0x6761_6e64_6572;

/// A draw: which (run, unit) pairs make up one resample, with repeats.
pub type Draw = Vec<(usize, usize)>;

/// The identity draw: every unit of every run once (for point estimates).
pub fn everything(lens: &[usize]) -> Draw {
    lens.iter()
        .enumerate()
        .flat_map(|(run, &n)| (0..n).map(move |i| (run, i)))
        .collect()
}

/// `lens` of the baseline runs followed by the new run, split into two masks:
/// the baseline runs alone (the new run's count zeroed) and the new run alone.
pub fn split_last(lens: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let last = lens.len().saturating_sub(1);
    let keep = |new: bool| {
        lens.iter()
            .enumerate()
            .map(|(i, &n)| if (i == last) == new { n } else { 0 })
            .collect()
    };
    (keep(false), keep(true))
}

/// `REPLICATES` resamples of runs whose unit counts are `lens`.
pub fn draws(lens: &[usize], salt: u64) -> Vec<Draw> {
    let mut rng = StdRng::seed_from_u64(SEED ^ salt);
    let runs: Vec<usize> = (0..lens.len()).filter(|&r| lens[r] > 0).collect();
    if runs.is_empty() {
        return Vec::new();
    }
    (0..REPLICATES)
        .map(|_| {
            let mut draw = Vec::new();
            for _ in 0..runs.len() {
                let run = if runs.len() == 1 {
                    runs[0]
                } else {
                    runs[rng.random_range(0..runs.len())]
                };
                blocks(&mut rng, lens[run], |i| draw.push((run, i)));
            }
            draw
        })
        .collect()
}

/// Block length for `n` units: about the cube root, the usual rate for a
/// block bootstrap of a mean, and at least 2 so adjacent seconds stay together.
fn block_len(n: usize) -> usize {
    ((n as f64).cbrt().round() as usize).clamp(2, n.max(2))
}

/// Circular block bootstrap: `n` indices in blocks of consecutive units.
fn blocks(rng: &mut StdRng, n: usize, mut take: impl FnMut(usize)) {
    let b = block_len(n);
    let mut taken = 0;
    while taken < n {
        let start = rng.random_range(0..n);
        for k in 0..b.min(n - taken) {
            take((start + k) % n);
        }
        taken += b.min(n - taken);
    }
}

/// The `lo` and `hi` quantiles of `values` (percentile interval).
pub fn interval(mut values: Vec<f64>, lo: f64, hi: f64) -> Option<(f64, f64)> {
    values.retain(|v| v.is_finite());
    if values.len() < REPLICATES / 2 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Some((at(lo), at(hi)))
}

/// Latency counts over a fixed set of distinct values, for fast quantiles of pooled seconds.
pub struct Pool {
    /// Distinct latencies (µs), ascending.
    values: Vec<u64>,
    /// Per run, per second: `(index into values, count)`.
    seconds: Vec<Vec<Vec<(u32, u64)>>>,
}

impl Pool {
    /// `runs[r][s]`: the `(latency µs, count)` pairs of second `s` of run `r`.
    pub fn new(runs: &[Vec<Vec<(u64, u64)>>]) -> Pool {
        let mut values: Vec<u64> = runs.iter().flatten().flatten().map(|(v, _)| *v).collect();
        values.sort_unstable();
        values.dedup();
        let seconds = runs
            .iter()
            .map(|run| {
                run.iter()
                    .map(|second| {
                        second
                            .iter()
                            .map(|(v, c)| (values.binary_search(v).unwrap_or(0) as u32, *c))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Pool { values, seconds }
    }

    pub fn lens(&self) -> Vec<usize> {
        self.seconds.iter().map(Vec::len).collect()
    }

    /// Request count and the latency quantiles `qs` (ms, ascending `qs`) of a draw,
    /// defined as HdrHistogram's `value_at_quantile` is.
    pub fn quantiles(&self, draw: &[(usize, usize)], qs: &[f64]) -> (u64, Vec<Option<f64>>) {
        let mut counts = vec![0u64; self.values.len()];
        let mut total = 0;
        for &(run, s) in draw {
            for &(i, c) in &self.seconds[run][s] {
                counts[i as usize] += c;
                total += c;
            }
        }
        if total == 0 {
            return (0, vec![None; qs.len()]);
        }
        let mut out = Vec::with_capacity(qs.len());
        let mut cumulative = 0;
        let mut i = 0;
        for &q in qs {
            let wanted = ((q * total as f64).ceil() as u64).max(1);
            while i < counts.len() {
                if cumulative + counts[i] >= wanted {
                    break;
                }
                cumulative += counts[i];
                i += 1;
            }
            out.push(self.values.get(i).map(|&us| us as f64 / 1e3));
        }
        (total, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_keep_each_runs_size_and_stay_in_range() {
        let lens = [30, 12];
        let draws = draws(&lens, 1);
        assert_eq!(draws.len(), REPLICATES);
        for d in &draws {
            // Two runs drawn with replacement: two runs' worth of seconds.
            let total: usize = d.iter().map(|&(r, _)| if r == 0 { 1 } else { 0 }).sum();
            assert!(d.iter().all(|&(r, i)| i < lens[r]));
            assert!(
                total.is_multiple_of(30),
                "run 0 contributes whole copies: {total}"
            );
        }
        assert_eq!(everything(&lens).len(), 42);
    }

    #[test]
    fn pool_quantiles_match_hdr_histogram() {
        let mut h = crate::hist::new_histogram();
        let mut seconds = Vec::new();
        for s in 0..10u64 {
            let mut pairs = std::collections::BTreeMap::new();
            for i in 0..100u64 {
                let us = 1000 + (s * 977 + i * 7919) % 50_000;
                crate::hist::record_latency(&mut h, us);
                *pairs.entry(h.highest_equivalent(us)).or_insert(0u64) += 1;
            }
            seconds.push(pairs.into_iter().collect::<Vec<_>>());
        }
        let pool = Pool::new(&[seconds]);
        let (n, q) = pool.quantiles(&everything(&pool.lens()), &[0.5, 0.95, 0.99]);
        assert_eq!(n, 1000);
        for (got, quantile) in q.iter().zip([0.5, 0.95, 0.99]) {
            assert_eq!(got.unwrap(), h.value_at_quantile(quantile) as f64 / 1e3);
        }
    }

    #[test]
    fn intervals_cover_the_middle() {
        let values: Vec<f64> = (0..REPLICATES).map(|i| i as f64).collect();
        let (lo, hi) = interval(values, 0.025, 0.975).unwrap();
        assert!(lo < 50.0 && hi > 940.0 && lo < hi);
    }
}
