//! Resampling for the within-run noise of a figure: a circular block bootstrap
//! over the seconds of each run's steady state, every run resampled on its own
//! (stratified), so a set of baseline runs keeps each run's share.
//!
//! Requests within one second are not independent draws (a GC pause or a
//! noisy neighbour slows all of them), and neither are neighbouring seconds;
//! resampling blocks of whole seconds keeps that correlation in the spread,
//! where resampling single requests would make it far too narrow. What runs
//! of identical code differ by beyond that (the run-to-run variation) is not
//! in the seconds of one run: `noise` adds it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How many resamples the spread of a pooled figure is drawn from.
pub const REPLICATES: usize = 1000;
/// How many resamples the spread of one baseline run's figure is drawn from
/// (only to tell its own noise from the spread between the baseline runs).
pub const RUN_REPLICATES: usize = 200;
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

/// `lens` with every run but those `keep` accepts zeroed.
pub fn only(lens: &[usize], keep: impl Fn(usize) -> bool) -> Vec<usize> {
    lens.iter()
        .enumerate()
        .map(|(i, &n)| if keep(i) { n } else { 0 })
        .collect()
}

/// `count` resamples of runs whose unit counts are `lens`: each run with units
/// contributes a block bootstrap of its own units.
pub fn draws(lens: &[usize], count: usize, salt: u64) -> Vec<Draw> {
    let mut rng = StdRng::seed_from_u64(SEED ^ salt);
    if lens.iter().all(|&n| n == 0) {
        return Vec::new();
    }
    (0..count)
        .map(|_| {
            let mut draw = Vec::with_capacity(lens.iter().sum());
            for (run, &n) in lens.iter().enumerate().filter(|(_, n)| **n > 0) {
                blocks(&mut rng, n, |i| draw.push((run, i)));
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

/// A robust standard deviation of resampled values: half the width of their
/// central 68 % (one standard deviation each side for a normal spread), so a
/// few extreme resamples do not set it. `None` when fewer than half are finite.
pub fn spread(values: &[f64], of: usize) -> Option<f64> {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < of.div_ceil(2) || finite.len() < 2 {
        return None;
    }
    finite.sort_by(f64::total_cmp);
    let at = |q: f64| finite[((finite.len() - 1) as f64 * q).round() as usize];
    Some((at(0.841_344_7) - at(0.158_655_3)) / 2.0)
}

/// Value counts over a fixed set of distinct values, for fast statistics of pooled seconds.
pub struct Pool {
    /// Distinct values, ascending.
    values: Vec<u64>,
    /// Per run, per second: `(index into values, count)`.
    seconds: Vec<Vec<Vec<(u32, u64)>>>,
}

impl Pool {
    /// `runs[r][s]`: the `(value, count)` pairs of second `s` of run `r`.
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

    /// How many values a draw holds, and how many of them at each distinct value.
    fn counts(&self, draw: &[(usize, usize)]) -> (u64, Vec<u64>) {
        let mut counts = vec![0u64; self.values.len()];
        let mut total = 0;
        for &(run, s) in draw {
            for &(i, c) in &self.seconds[run][s] {
                counts[i as usize] += c;
                total += c;
            }
        }
        (total, counts)
    }

    /// How many values a draw holds.
    pub fn count(&self, draw: &[(usize, usize)]) -> u64 {
        draw.iter()
            .map(|&(run, s)| self.seconds[run][s].iter().map(|(_, c)| c).sum::<u64>())
            .sum()
    }

    /// The quantiles `qs` (ascending) of a draw's values, defined as
    /// HdrHistogram's `value_at_quantile` is; `None` for an empty draw.
    pub fn quantiles(&self, draw: &[(usize, usize)], qs: &[f64]) -> Vec<Option<u64>> {
        let (total, counts) = self.counts(draw);
        if total == 0 {
            return vec![None; qs.len()];
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
            out.push(self.values.get(i).copied());
        }
        out
    }

    /// The mean of a draw's values with the lowest and highest `trim` share of
    /// them left out (0: the plain mean); NaN for an empty draw.
    pub fn trimmed_mean(&self, draw: &[(usize, usize)], trim: f64) -> f64 {
        let (total, counts) = self.counts(draw);
        if total == 0 {
            return f64::NAN;
        }
        let cut = (total as f64 * trim).floor();
        let (lo, hi) = (cut, total as f64 - cut);
        let (mut seen, mut sum, mut kept) = (0.0, 0.0, 0.0);
        for (&value, &count) in self.values.iter().zip(&counts) {
            let (from, to) = (seen, seen + count as f64);
            seen = to;
            // The part of this value's count inside the kept middle.
            let inside = (to.min(hi) - from.max(lo)).max(0.0);
            sum += inside * value as f64;
            kept += inside;
        }
        if kept > 0.0 { sum / kept } else { f64::NAN }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_keep_each_runs_size_and_stay_in_range() {
        let lens = [30, 12];
        let draws = draws(&lens, REPLICATES, 1);
        assert_eq!(draws.len(), REPLICATES);
        for d in &draws {
            // Stratified: each run contributes exactly its own number of seconds.
            let first = d.iter().filter(|&&(r, _)| r == 0).count();
            assert_eq!(first, 30);
            assert_eq!(d.len(), 42);
            assert!(d.iter().all(|&(r, i)| i < lens[r]));
        }
        assert_eq!(everything(&lens).len(), 42);
        assert!(super::draws(&[0, 0], 10, 1).is_empty());
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
        let all = everything(&pool.lens());
        assert_eq!(pool.count(&all), 1000);
        let q = pool.quantiles(&all, &[0.5, 0.95, 0.99]);
        for (got, quantile) in q.iter().zip([0.5, 0.95, 0.99]) {
            assert_eq!(got.unwrap(), h.value_at_quantile(quantile));
        }
    }

    #[test]
    fn a_trimmed_mean_ignores_the_tails_it_trims() {
        // 90 values of 10, 5 of 1 and 5 of 10,000: trimming 10 % leaves only the 10s.
        let second = vec![(1, 5), (10, 90), (10_000, 5)];
        let pool = Pool::new(&[vec![second]]);
        let all = everything(&pool.lens());
        assert_eq!(pool.trimmed_mean(&all, 0.1), 10.0);
        let mean = pool.trimmed_mean(&all, 0.0);
        assert!((mean - (5.0 + 900.0 + 50_000.0) / 100.0).abs() < 1e-9);
        // A cut through the middle of a value's count keeps the part inside.
        // 1, 1, 2, 4 without a quarter at each end: 1 and 2.
        let pool = Pool::new(&[vec![vec![(1, 2), (2, 1), (4, 1)]]]);
        let all = everything(&pool.lens());
        assert!((pool.trimmed_mean(&all, 0.25) - 1.5).abs() < 1e-9);
    }

    #[test]
    fn spread_is_one_standard_deviation_and_ignores_a_few_wild_values() {
        // Evenly spaced quantiles of a normal with standard deviation 2.
        let mut values: Vec<f64> = (1..=999)
            .map(|i| 2.0 * crate::compare::noise::normal_quantile(i as f64 / 1000.0))
            .collect();
        let sd = spread(&values, 999).unwrap();
        assert!((sd - 2.0).abs() < 0.02, "{sd}");
        values[0] = -1e9;
        values[1] = f64::INFINITY;
        let sd = spread(&values, 999).unwrap();
        assert!((sd - 2.0).abs() < 0.05, "{sd}");
        assert!(spread(&[1.0; 3], 10).is_none());
    }
}
