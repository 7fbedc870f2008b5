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
    /// Latencies of the successful requests (µs, 2 significant digits), while
    /// the block is open; `None` once it is summed up in `quantiles`.
    hist: Option<Histogram<u64>>,
    /// p50, p95 and p99 (ms) once the block is closed (`None`: no success).
    quantiles: Option<[f64; 3]>,
}

impl NameTally {
    fn new() -> NameTally {
        let mut hist = Histogram::new_with_bounds(1, 2, 2).expect("static histogram bounds");
        hist.auto(true);
        NameTally {
            ok: 0,
            errors: 0,
            unreached: 0,
            hist: Some(hist),
            quantiles: None,
        }
    }

    fn record(&mut self, us: u64) {
        if let Some(h) = self.hist.as_mut() {
            let _ = h.record(us.max(1));
        }
    }

    /// Keeps the percentiles and lets the histogram go: memory stays bounded
    /// by the blocks still open, however long the run.
    fn close(&mut self) {
        if let Some(h) = self.hist.take().filter(|h| !h.is_empty()) {
            self.quantiles = Some(QUANTILES.map(|q| h.value_at_quantile(q) as f64 / 1e3));
        }
    }

    /// p50, p95 and p99 in ms, if any request succeeded.
    pub fn quantiles_ms(&self) -> Option<[f64; 3]> {
        match &self.hist {
            Some(h) if !h.is_empty() => {
                Some(QUANTILES.map(|q| h.value_at_quantile(q) as f64 / 1e3))
            }
            _ => self.quantiles,
        }
    }
}

/// The percentiles a block keeps.
const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

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

/// At most this many blocks are tallied (11 hours of 2 s blocks); `gander ab`
/// refuses a plan with more before it starts.
pub const MAX_BLOCKS: usize = 20_000;
/// A block is closed (its histograms summed up) this long after its end plus
/// the longest request timeout: a request started in it has ended by then.
const CLOSE_AFTER: Duration = Duration::from_secs(1);
/// How often the splitter looks for blocks to close while no sample comes.
const POLL: Duration = Duration::from_millis(200);

/// Starts the splitter: the users send to the returned sender; each sample
/// goes on to its side's recorder (`sinks`) after being counted in its block.
pub fn split(
    plan: BlockPlan,
    (names, headers): (usize, usize),
    timeout: Duration,
    sinks: [SampleSender; 2],
) -> std::io::Result<(SampleSender, JoinHandle<Tally>)> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let handle = std::thread::Builder::new()
        .name("gander-ab-split".into())
        .spawn(move || {
            let mut tally = Tally::default();
            let mut closed = 0;
            loop {
                match rx.recv_timeout(POLL) {
                    Ok(Msg::Sample(sample)) => {
                        let side = usize::from(sample.side.min(1));
                        count(&mut tally, &plan, names, headers, &sample);
                        sinks[side].send(sample);
                    }
                    Ok(Msg::Finish) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                    // Every user's sender is gone: every block is complete.
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        tally.blocks.iter_mut().for_each(close);
                        break;
                    }
                }
                let now = Instant::now();
                while closed < tally.blocks.len()
                    && plan.begins(closed + 1) + timeout + CLOSE_AFTER < now
                {
                    close(&mut tally.blocks[closed]);
                    closed += 1;
                }
            }
            tally
        })?;
    Ok((SampleSender::new(tx), handle))
}

fn close(block: &mut BlockTally) {
    block.all.close();
    for name in block.names.iter_mut().flatten() {
        name.close();
    }
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
                t.record(latency.as_micros() as u64);
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

    /// Samples go to their side's sink; each is counted in its block, or as in
    /// flight when its side is not the block's; a closed block keeps its
    /// percentiles without its histograms, and a sample arriving after its
    /// block closed (a second past its end, timeout 0 here) still counts.
    #[test]
    fn samples_are_split_by_side_and_counted_in_their_blocks() {
        use crate::runner::sample::Sample;
        let start = Instant::now() - Duration::from_millis(1500);
        let plan = BlockPlan {
            start,
            len: Duration::from_secs(1),
            warm_up: Duration::from_secs(2),
        };
        let (tx0, rx0) = mpsc::channel();
        let (tx1, rx1) = mpsc::channel();
        let sinks = [SampleSender::new(tx0), SampleSender::new(tx1)];
        let (users, handle) = split(plan, (2, 0), Duration::ZERO, sinks).unwrap();
        let sample = |side: u8, block: u32, ms: u64| Sample {
            side,
            latency: Some(Duration::from_millis(ms)),
            ..Sample::blank(
                1,
                0,
                start + Duration::from_millis(1000 * block as u64 + 10),
            )
        };
        // Block 0 is the baseline's, block 1 the candidate's.
        for ms in 1..=100 {
            users.send(sample(0, 0, ms));
        }
        users.send(sample(1, 0, 5));
        users.send(sample(1, 1, 7));
        users.send(Sample::blank(0, 0, start - Duration::from_secs(1)));
        std::thread::sleep(Duration::from_millis(1200));
        users.send(sample(0, 0, 1000));
        drop(users);
        let tally = handle.join().unwrap();
        assert_eq!(rx0.try_iter().count(), 102);
        assert_eq!(rx1.try_iter().count(), 2);
        let b0 = &tally.blocks[0];
        assert_eq!((b0.all.ok, b0.in_flight), (101, 1));
        assert!(b0.all.hist.is_none(), "block 0 was closed");
        let [p50, p95, _] = b0.names[1].as_ref().unwrap().quantiles_ms().unwrap();
        assert!(
            (p50 - 50.0).abs() <= 1.0 && (p95 - 95.0).abs() <= 1.0,
            "{p50} {p95}"
        );
        assert_eq!(tally.blocks[1].all.ok, 1);
        assert_eq!(tally.warm_up, [1, 0]);
    }
}
