//! From what the splitter and the pacer counted to ab.json's blocks and
//! pairs, which blocks are dropped and why, and the verdict's validity.

use std::time::Instant;

use crate::compare::paired::{ALL, MIN_PAIRS};
use crate::record::blocks::{BlockPlan, BlockTally, NameTally, Tally};
use crate::result::ab::{AbBlock, AbBlockEndpoint, AbDropped, AbHeaderMean, AbPair, SIDE_NAMES};
use crate::result::{ValidityCheck, VerdictStatus};

use super::pace::CpuAt;

/// A block is dropped when more of its requests than this share belong to
/// iterations begun on the other side: the switch disturbed it throughout.
pub const MAX_IN_FLIGHT_SHARE: f64 = 0.25;

/// What the blocks need from the run besides the tallies.
pub struct BlockContext<'a> {
    pub plan: BlockPlan,
    /// When the load ended.
    pub ended: Instant,
    pub cpu_at: &'a CpuAt,
    pub names: &'a [String],
    pub header_labels: &'a [String],
    /// Seconds on the run's axis of an instant.
    pub axis: &'a dyn Fn(Instant) -> f64,
}

/// Every block tallied, kept or dropped.
pub fn blocks(tally: &Tally, c: &BlockContext) -> Vec<AbBlock> {
    tally
        .blocks
        .iter()
        .enumerate()
        .map(|(k, t)| block(k, t, c))
        .collect()
}

fn endpoint(name: &str, t: &NameTally) -> AbBlockEndpoint {
    AbBlockEndpoint {
        name: name.into(),
        ok: t.ok,
        errors: t.errors,
        p50_ms: t.quantiles_ms().map(|q| q[0]),
        p95_ms: t.quantiles_ms().map(|q| q[1]),
        p99_ms: t.quantiles_ms().map(|q| q[2]),
    }
}

fn block(k: usize, t: &BlockTally, c: &BlockContext) -> AbBlock {
    let side = BlockPlan::side(k) as usize;
    let (start, end) = (c.plan.begins(k), c.plan.begins(k + 1));
    let requests = t.all.ok + t.all.errors;
    let cpu_ns = match (c.cpu_at.get(k), c.cpu_at.get(k + 1)) {
        (Some(a), Some(b)) => b[side].zip(a[side]).map(|(b, a)| b.saturating_sub(a)),
        _ => None,
    };
    let cpu_ms = cpu_ns.map(|ns| ns as f64 / 1e6);
    let in_flight_share = t.in_flight as f64 / (requests + t.in_flight).max(1) as f64;
    let dropped = if end > c.ended {
        Some("the load ended during the block".to_string())
    } else if requests == 0 {
        Some("no request of its side started in it".to_string())
    } else if in_flight_share > MAX_IN_FLIGHT_SHARE {
        Some(format!(
            "{:.0}% of its requests were iterations begun on the other side before the switch \
             (more than {:.0}%): the block is short for the scenario's iterations; give a \
             longer --block",
            in_flight_share * 100.0,
            MAX_IN_FLIGHT_SHARE * 100.0
        ))
    } else {
        None
    };
    let mut endpoints: Vec<AbBlockEndpoint> = c
        .names
        .iter()
        .zip(&t.names)
        .filter_map(|(name, t)| Some(endpoint(name, t.as_ref()?)))
        .collect();
    endpoints.insert(0, endpoint(ALL, &t.all));
    AbBlock {
        index: k,
        side: SIDE_NAMES[side].into(),
        start_s: (c.axis)(start),
        end_s: (c.axis)(end),
        dropped,
        ok: t.all.ok,
        errors: t.all.errors,
        unreached: t.all.unreached,
        in_flight: t.in_flight,
        cpu_ms,
        cpu_ms_per_request: cpu_ms
            .filter(|_| requests > 0)
            .map(|ms| ms / requests as f64),
        endpoints,
        server_headers: c
            .header_labels
            .iter()
            .zip(&t.headers)
            .filter(|(_, (_, n))| *n > 0)
            .map(|(label, (sum, n))| AbHeaderMean {
                header: label.clone(),
                mean: sum / *n as f64,
                count: *n,
            })
            .collect(),
    }
}

/// Blocks 0-1, 2-3, …: each pair has one block per side.
pub fn pairs(blocks: &[AbBlock]) -> Vec<AbPair> {
    let p95 = |b: &AbBlock| b.endpoints.first().and_then(|e| e.p95_ms);
    blocks
        .chunks_exact(2)
        .map(|two| {
            let (b, c) = if two[0].side == SIDE_NAMES[0] {
                (&two[0], &two[1])
            } else {
                (&two[1], &two[0])
            };
            let ratio = |x: Option<f64>, y: Option<f64>| {
                x.zip(y).filter(|(x, _)| *x > 0.0).map(|(x, y)| y / x)
            };
            AbPair {
                baseline_block: b.index,
                candidate_block: c.index,
                kept: b.dropped.is_none() && c.dropped.is_none(),
                p95_ratio: ratio(p95(b), p95(c)),
                cpu_ratio: ratio(b.cpu_ms_per_request, c.cpu_ms_per_request),
            }
        })
        .collect()
}

/// What was left out of the pairs.
pub fn dropped(blocks: &[AbBlock], pairs: &[AbPair], tally: &Tally) -> AbDropped {
    let paired = pairs.len() * 2;
    AbDropped {
        blocks: blocks.iter().filter(|b| b.dropped.is_some()).count(),
        pairs: pairs.iter().filter(|p| !p.kept).count(),
        in_flight_requests: blocks.iter().map(|b| b.in_flight).sum(),
        warm_up_requests: tally.warm_up.iter().sum(),
        after_requests: blocks[paired.min(blocks.len())..]
            .iter()
            .map(|b| b.ok + b.errors + b.unreached + b.in_flight)
            .sum(),
    }
}

/// The conditions for the comparison to count.
pub fn validity(
    died: &[Option<String>],
    interrupted: Option<&str>,
    pairs: &[AbPair],
    generator: Vec<ValidityCheck>,
) -> Vec<ValidityCheck> {
    let mut checks: Vec<ValidityCheck> = died
        .iter()
        .zip(SIDE_NAMES)
        .map(|(died, side)| ValidityCheck {
            check: format!("{side} alive"),
            ok: died.is_none(),
            detail: died
                .clone()
                .unwrap_or_else(|| format!("the {side} answered to the end")),
        })
        .collect();
    checks.push(ValidityCheck {
        check: "completed".into(),
        ok: interrupted.is_none(),
        detail: interrupted
            .map(|r| format!("the run stopped early: {r}"))
            .unwrap_or_else(|| "the load ran as planned".into()),
    });
    let kept = pairs.iter().filter(|p| p.kept).count();
    checks.push(ValidityCheck {
        check: "pairs".into(),
        ok: kept >= MIN_PAIRS,
        detail: format!(
            "{kept} of {} pairs of blocks kept (needs {MIN_PAIRS}): {}",
            pairs.len(),
            if kept >= MIN_PAIRS {
                "enough to judge"
            } else {
                "give a longer --duration or a shorter --block"
            }
        ),
    });
    checks.extend(generator);
    checks
}

/// Invalid if any check failed; else fail on a regression (or an
/// inconclusive figure under `targets.inconclusive: fail`); else pass.
pub fn status(validity: &[ValidityCheck], regressions: usize, failing: usize) -> VerdictStatus {
    if validity.iter().any(|c| !c.ok) {
        VerdictStatus::Invalid
    } else if regressions + failing > 0 {
        VerdictStatus::Fail
    } else {
        VerdictStatus::Pass
    }
}
