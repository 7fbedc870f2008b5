//! A busy neighbour is not a regression: two sides that ran while the rest of
//! the machine used clearly different CPU (another build, a backup, a noisy
//! tenant) differ by that, whatever the code did.

use crate::result::resources::MachineLoad;

use super::RunData;

/// Other processes' CPU, in % of one core, that two sides may differ by and
/// still be compared...
pub const OTHER_CPU_SLACK: f64 = 50.0;
/// ... or this share of the quieter side, when that is more.
pub const OTHER_CPU_SHARE: f64 = 0.5;
/// CPU pressure (% of the time some task waited) two sides may differ by.
pub const PRESSURE_SLACK: f64 = 25.0;

/// Whether `a` and `b` ran under clearly different machine load, and how.
pub fn differ(a: MachineLoad, b: MachineLoad) -> Option<String> {
    let cpu_gap = (a.other_cpu - b.other_cpu).abs();
    let cpu_allowed = OTHER_CPU_SLACK.max(OTHER_CPU_SHARE * a.other_cpu.min(b.other_cpu));
    let pressure_gap = match (a.pressure, b.pressure) {
        (Some(x), Some(y)) => (x - y).abs(),
        _ => 0.0,
    };
    (cpu_gap >= cpu_allowed || pressure_gap >= PRESSURE_SLACK).then(|| {
        format!(
            "other processes used {cpu_gap:.0}% of one core more on one side than the other \
             (allowed: {cpu_allowed:.0}%){}",
            if pressure_gap > 0.0 {
                format!(", CPU pressure differed by {pressure_gap:.0} points (allowed: {PRESSURE_SLACK:.0})")
            } else {
                String::new()
            }
        )
    })
}

/// Why the sides of a comparison ran under clearly different machine load (none: alike).
pub fn different_load(base: &[&RunData], new: &RunData) -> Option<String> {
    // Where the SUT's CPU could not be told from a neighbour's, a slower SUT
    // would read as a busy machine: not judged.
    let new_load = new
        .result
        .resources
        .machine_load()
        .filter(|l| !l.sut_unknown)?;
    base.iter().find_map(|b| {
        let base_load = b.result.resources.machine_load().filter(|l| !l.sut_unknown)?;
        let how = differ(base_load, new_load)?;
        Some(format!(
            "busy neighbour: the machine's load differed between the sides: {how} (baseline {}: {}; \
             this run: {}); the change measures the neighbour, not the code: rerun both on a quiet \
             machine",
            b.result.run_id,
            base_load.describe(),
            new_load.describe()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(other_cpu: f64, pressure: Option<f64>) -> MachineLoad {
        MachineLoad {
            other_cpu,
            pressure,
            sut_unknown: false,
        }
    }

    #[test]
    fn a_hog_on_one_side_differs_and_small_moves_do_not() {
        assert!(differ(load(10.0, Some(2.0)), load(190.0, Some(60.0))).is_some());
        assert!(differ(load(10.0, None), load(90.0, None)).is_some());
        assert!(differ(load(10.0, Some(2.0)), load(40.0, Some(10.0))).is_none());
        // Two busy sides alike: the share of the quieter one is the slack.
        assert!(differ(load(150.0, None), load(210.0, None)).is_none());
        assert!(differ(load(5.0, Some(1.0)), load(8.0, Some(40.0))).is_some());
    }
}
