//! The block pacer: sends new iterations to the side the block plan says,
//! reads both sides' CPU at every block boundary, and ends the run when a
//! side's process dies.

use std::time::{Duration, Instant};

use super::sides::Side;
use crate::record::blocks::BlockPlan;
use crate::runner::sides::Alternation;

/// How often the pacer looks at the sides between boundaries.
const POLL: Duration = Duration::from_millis(50);

/// Both sides' CPU ns at the start of each block (`None`: no process known).
pub type CpuAt = Vec<[Option<u64>; 2]>;

/// Paces the blocks until `done`; returns the CPU readings at each boundary.
pub fn pace(
    plan: &BlockPlan,
    alternation: &Alternation,
    sides: &mut [Side; 2],
    done: &dyn Fn() -> bool,
    quiet: bool,
) -> CpuAt {
    let mut cpu_at: CpuAt = Vec::new();
    while !done() {
        let now = Instant::now();
        // The switch first, then the readings: a block's CPU starts with it.
        alternation.set(plan.side_at(now));
        while plan.begins(cpu_at.len()) <= now {
            cpu_at.push([sides[0].cpu_ns(), sides[1].cpu_ns()]);
        }
        for side in sides.iter_mut() {
            if let Some(why) = side.check_alive() {
                if !quiet {
                    eprintln!("gander: {why}: the comparison is invalid; stopping the load");
                }
                crate::signals::stop(why);
            }
        }
        let next = plan.begins(cpu_at.len());
        std::thread::sleep(next.saturating_duration_since(Instant::now()).min(POLL));
    }
    cpu_at
}
