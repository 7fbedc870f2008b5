//! `gander ab`'s blocks: when each begins, which side it serves (ABBA BAAB …),
//! and a splitter between the users and the two sides' recorders that also
//! tallies every request into its block.
//!
//! A request belongs to the block it started in when it went to that block's
//! side. Requests of an iteration begun on the other side before the switch
//! (in flight at it) belong to neither block: they are counted as such.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::runner::sample::{HeaderMetric, Msg, SampleSender};

/// The order of sides over eight blocks: every pair (0-1, 2-3, …) has one
/// block of each side, and which side goes first alternates, so a steady
/// drift favours neither.
const PATTERN: [u8; 8] = [0, 1, 1, 0, 1, 0, 0, 1];

/// When the blocks are.
#[derive(Debug, Clone, Copy)]
pub struct BlockPlan {
    /// The first block's start (after the warm-up).
    pub start: Instant,
    pub len: Duration,
    /// The warm-up before `start`: the first half on the baseline, the second
    /// on the candidate.
    pub warm_up: Duration,
}

impl BlockPlan {
    /// The side block `k` serves.
    pub fn side(k: usize) -> u8 {
        PATTERN[k % PATTERN.len()]
    }

    /// The block `t` falls in; `None` during the warm-up.
    pub fn block_at(&self, t: Instant) -> Option<usize> {
        let since = t.checked_duration_since(self.start)?;
        Some((since.as_nanos() / self.len.as_nanos().max(1)) as usize)
    }

    /// When block `k` begins.
    pub fn begins(&self, k: usize) -> Instant {
        self.start + self.len * k as u32
    }

    /// The side the users should be sent to at `t`.
    pub fn side_at(&self, t: Instant) -> u8 {
        match self.block_at(t) {
            Some(k) => Self::side(k),
            None if t + self.warm_up / 2 < self.start => 0,
            None => 1,
        }
    }
}

/// One request name's figures in one block.
#[derive(Debug)]
pub struct NameTally {
    pub ok: u64,
    pub errors: u64,
    pub unreached: u64,
    /// Latencies of the successful requests (µs, 2 significant digits: a block
    /// holds few requests and many blocks are kept).
    pub hist: Histogram<u64>,
}

impl NameTally {
    fn new() -> NameTally {
        let mut hist = Histogram::new_with_bounds(1, 2, 2).expect("static histogram bounds");
        hist.auto(true);
        NameTally {
            ok: 0,
            errors: 0,
            unreached: 0,
            hist,
        }
    }

    /// The `q` quantile in ms, if any request succeeded.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.hist.is_empty()).then(|| self.hist.value_at_quantile(q) as f64 / 1e3)
    }
}

/// What one block saw.
#[derive(Debug)]
pub struct BlockTally {
    /// Per request name of the plan (`None` until one starts in the block).
    pub names: Vec<Option<NameTally>>,
    pub all: NameTally,
    /// Requests of the other side's iterations in flight at the switch.
    pub in_flight: u64,
    /// Per listed server header: sum and count of its values.
    pub headers: Vec<(f64, u64)>,
}

impl BlockTally {
    fn new(names: usize, headers: usize) -> BlockTally {
        BlockTally {
            names: (0..names).map(|_| None).collect(),
            all: NameTally::new(),
            in_flight: 0,
            headers: vec![(0.0, 0); headers],
        }
    }
}

/// Everything the splitter counted.
#[derive(Debug, Default)]
pub struct Tally {
    pub blocks: Vec<BlockTally>,
    /// Requests per side during the warm-up.
    pub warm_up: [u64; 2],
}

/// At most this many blocks are tallied (a week of 1 s blocks is far more than a run holds).
const MAX_BLOCKS: usize = 100_000;

/// Starts the splitter: the users send to the returned sender; each sample
/// goes on to its side's recorder (`sinks`) after being counted in its block.
pub fn split(
    plan: BlockPlan,
    names: usize,
    headers: usize,
    sinks: [SampleSender; 2],
) -> std::io::Result<(SampleSender, JoinHandle<Tally>)> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let handle = std::thread::Builder::new()
        .name("gander-ab-split".into())
        .spawn(move || {
            let mut tally = Tally::default();
            // Ends when every user's sender is gone.
            while let Ok(msg) = rx.recv() {
                let Msg::Sample(sample) = msg else { continue };
                let side = usize::from(sample.side.min(1));
                count(&mut tally, &plan, names, headers, &sample);
                sinks[side].send(sample);
            }
            tally
        })?;
    Ok((SampleSender::new(tx), handle))
}

fn count(
    tally: &mut Tally,
    plan: &BlockPlan,
    names: usize,
    headers: usize,
    s: &crate::runner::sample::Sample,
) {
    let side = usize::from(s.side.min(1));
    let Some(k) = plan.block_at(s.started) else {
        tally.warm_up[side] += 1;
        return;
    };
    if k >= MAX_BLOCKS {
        return;
    }
    while tally.blocks.len() <= k {
        tally.blocks.push(BlockTally::new(names, headers));
    }
    let block = &mut tally.blocks[k];
    if BlockPlan::side(k) != s.side {
        block.in_flight += 1;
        return;
    }
    let endpoint = s.endpoint as usize;
    if endpoint >= names {
        return;
    }
    let name = block.names[endpoint].get_or_insert_with(NameTally::new);
    for t in [name, &mut block.all] {
        match (&s.failure, s.latency) {
            (Some(f), _) if f.unreached => t.unreached += 1,
            (Some(_), _) | (None, None) => t.errors += 1,
            (None, Some(latency)) => {
                t.ok += 1;
                let _ = t.hist.record((latency.as_micros() as u64).max(1));
            }
        }
    }
    if s.failure.is_none() {
        for h in &s.headers {
            if let HeaderMetric::Listed(i) = h.metric
                && let Some(slot) = block.headers.get_mut(i as usize)
            {
                slot.0 += h.value;
                slot.1 += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_has_one_block_per_side_and_the_first_side_alternates() {
        let firsts: Vec<u8> = (0..8).step_by(2).map(BlockPlan::side).collect();
        for k in (0..64).step_by(2) {
            assert_ne!(BlockPlan::side(k), BlockPlan::side(k + 1), "pair at {k}");
        }
        assert_eq!(firsts.iter().filter(|&&s| s == 0).count(), 2);
        let start = Instant::now() + Duration::from_secs(4);
        let plan = BlockPlan {
            start,
            len: Duration::from_secs(2),
            warm_up: Duration::from_secs(4),
        };
        assert_eq!(plan.block_at(start - Duration::from_millis(1)), None);
        assert_eq!(plan.side_at(start - Duration::from_secs(3)), 0);
        assert_eq!(plan.side_at(start - Duration::from_secs(1)), 1);
        assert_eq!(plan.block_at(start + Duration::from_millis(4100)), Some(2));
        assert_eq!(plan.begins(3), start + Duration::from_secs(6));
    }
}
