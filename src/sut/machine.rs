//! The machine around gander and the SUT: the CPU every other process used
//! (all CPU time from `/proc/stat`, less that of gander with its children and
//! of the SUT's process tree) and the kernel's CPU pressure
//! (`/proc/pressure/cpu`, the share of time some runnable task waited). A busy
//! neighbour shows here, so a comparison can tell it from a regression.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use procfs::process::all_processes;

/// Why the machine could not be read this second.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("cannot read /proc/stat: {0}")]
    Stat(procfs::ProcError),
    #[error("cannot list processes: {0}")]
    Processes(procfs::ProcError),
}

/// One reading of the machine, per second since the previous one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineSample {
    /// % of one core used by processes that are neither gander nor the SUT.
    pub other_cpu: f64,
    /// % of the time some task waited for a CPU; `None` without PSI.
    pub pressure: Option<f64>,
}

/// Samples the machine; `roots` are gander and the SUT (their descendants too).
pub struct MachineSampler {
    roots: Vec<i32>,
    last: Option<Reading>,
    ticks_per_s: f64,
}

struct Reading {
    at: Instant,
    busy_ticks: u64,
    pressure_us: Option<u64>,
    /// (pid, start time) -> CPU ticks of gander's and the SUT's processes.
    ours: HashMap<(i32, u64), u64>,
}

impl MachineSampler {
    pub fn new(roots: Vec<u32>) -> MachineSampler {
        MachineSampler {
            roots: roots.into_iter().map(|p| p as i32).collect(),
            last: None,
            ticks_per_s: procfs::ticks_per_second() as f64,
        }
    }

    /// `None` on the first reading, which only sets the starting point.
    pub fn sample(&mut self) -> Result<Option<MachineSample>, MachineError> {
        let now = Reading {
            at: Instant::now(),
            busy_ticks: busy_ticks()?,
            pressure_us: pressure_total(),
            ours: ours(&self.roots)?,
        };
        let sample = self.last.as_ref().map(|then| {
            let dt = (now.at - then.at).as_secs_f64().max(1e-3);
            let ours: u64 = now
                .ours
                .iter()
                // A process new since the last reading used all its ticks since then.
                .map(|(k, t)| t.saturating_sub(then.ours.get(k).copied().unwrap_or(0)))
                .sum();
            let busy = now.busy_ticks.saturating_sub(then.busy_ticks);
            let other = busy.saturating_sub(ours) as f64 / self.ticks_per_s / dt * 100.0;
            let pressure = match (then.pressure_us, now.pressure_us) {
                (Some(a), Some(b)) => {
                    Some((b.saturating_sub(a) as f64 / 1e6 / dt * 100.0).min(100.0))
                }
                _ => None,
            };
            MachineSample {
                other_cpu: other,
                pressure,
            }
        });
        self.last = Some(now);
        Ok(sample)
    }
}

/// CPU ticks every core spent busy (not idle, not waiting for IO) since boot.
fn busy_ticks() -> Result<u64, MachineError> {
    use procfs::CurrentSI;
    let stat = procfs::KernelStats::current().map_err(MachineError::Stat)?;
    let t = stat.total;
    Ok(t.user
        + t.nice
        + t.system
        + t.irq.unwrap_or(0)
        + t.softirq.unwrap_or(0)
        + t.steal.unwrap_or(0))
}

/// `/proc/pressure/cpu`'s "some" total, in µs; `None` where the kernel has no PSI.
fn pressure_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    let line = text.lines().find(|l| l.starts_with("some"))?;
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

/// CPU ticks of `roots` and all their descendants, read in one pass over /proc.
fn ours(roots: &[i32]) -> Result<HashMap<(i32, u64), u64>, MachineError> {
    let stats: Vec<procfs::process::Stat> = all_processes()
        .map_err(MachineError::Processes)?
        .filter_map(|p| p.ok()?.stat().ok())
        .collect();
    let mut children: HashMap<i32, Vec<usize>> = HashMap::new();
    for (i, s) in stats.iter().enumerate() {
        children.entry(s.ppid).or_default().push(i);
    }
    let mut seen: HashSet<i32> = HashSet::new();
    let mut frontier: Vec<i32> = roots.to_vec();
    let mut out = HashMap::new();
    while let Some(pid) = frontier.pop() {
        if !seen.insert(pid) {
            continue;
        }
        if let Some(s) = stats.iter().find(|s| s.pid == pid) {
            out.insert((s.pid, s.starttime), s.utime + s.stime);
        }
        for &i in children.get(&pid).into_iter().flatten() {
            frontier.push(stats[i].pid);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_stranger_shows_and_a_busy_child_does_not() {
        let busy = || {
            std::process::Command::new("sh")
                .args(["-c", "i=0; while [ $i -lt 2000000 ]; do i=$((i+1)); done"])
                .spawn()
                .unwrap()
        };
        let me = std::process::id();
        // A child of ours: not "other".
        let mut child = busy();
        let mut alone = crate::sut::process::TreeSampler::new(child.id(), false);
        let mut with_child = MachineSampler::new(vec![me]);
        // The same child as a stranger: rooted elsewhere, it is "other".
        let mut stranger = MachineSampler::new(vec![1_000_000_000]);
        alone.sample().unwrap();
        assert!(with_child.sample().unwrap().is_none());
        assert!(stranger.sample().unwrap().is_none());
        std::thread::sleep(std::time::Duration::from_millis(500));
        let ours = with_child.sample().unwrap().unwrap();
        let theirs = stranger.sample().unwrap().unwrap();
        let used = alone.sample().unwrap().cpu_percent.unwrap();
        let _ = child.kill();
        let _ = child.wait();
        // The stranger view holds the busy loop on top of the rest (whatever
        // share of a busy machine it got), the view of its parent does not.
        assert!(used > 5.0, "the child ran: {used}");
        assert!(
            theirs.other_cpu - ours.other_cpu >= used / 2.0,
            "{theirs:?} {ours:?}, the child used {used:.0}%"
        );
    }
}
