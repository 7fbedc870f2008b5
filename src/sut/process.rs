//! CPU and memory of a local process tree, from /proc (via procfs): a
//! pre-fork server's workers are children of the process named, so the
//! figures are summed over the process and all its descendants.

use std::collections::HashMap;
use std::time::Instant;

use procfs::process::{Process, Stat, all_processes};

/// One reading of a process tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeSample {
    /// Percent of one core since the previous reading (`None` on the first).
    pub cpu_percent: Option<f64>,
    /// Sum of resident set sizes. Pages shared after fork are counted in each
    /// process, as `ps` and `top` do.
    pub rss_bytes: u64,
    pub processes: usize,
}

/// Samples a process and (optionally) its descendants.
pub struct TreeSampler {
    root: i32,
    children: bool,
    /// (pid, start time) -> CPU ticks at the previous reading.
    last: HashMap<(i32, u64), u64>,
    last_at: Option<Instant>,
    ticks_per_s: f64,
    page_size: u64,
}

impl TreeSampler {
    pub fn new(root: u32, children: bool) -> TreeSampler {
        TreeSampler {
            root: root as i32,
            children,
            last: HashMap::new(),
            last_at: None,
            ticks_per_s: procfs::ticks_per_second() as f64,
            page_size: procfs::page_size(),
        }
    }

    pub fn sample(&mut self) -> Result<TreeSample, ProcessError> {
        let now = Instant::now();
        let stats = if self.children {
            tree_stats(self.root)?
        } else {
            vec![stat_of(self.root)?]
        };
        let mut rss = 0;
        let mut delta_ticks = 0;
        let mut current = HashMap::new();
        for s in &stats {
            let ticks = s.utime + s.stime;
            let key = (s.pid, s.starttime);
            // A process new since the last reading used all its ticks since then.
            delta_ticks += ticks.saturating_sub(self.last.get(&key).copied().unwrap_or(0));
            current.insert(key, ticks);
            rss += s.rss * self.page_size;
        }
        let cpu_percent = self.last_at.map(|then| {
            let dt = (now - then).as_secs_f64().max(1e-3);
            delta_ticks as f64 / self.ticks_per_s / dt * 100.0
        });
        self.last = current;
        self.last_at = Some(now);
        Ok(TreeSample {
            cpu_percent,
            rss_bytes: rss,
            processes: stats.len(),
        })
    }
}

/// CPU time and time spent waiting for a CPU of this process's threads whose
/// names start with one of `prefixes`: the load generator's own threads, so a
/// server running inside the same process (as in tests) is not counted.
pub struct ThreadSampler {
    prefixes: &'static [&'static str],
    /// tid -> (CPU ns, run-queue wait ns) at the previous reading.
    last: HashMap<i32, (u64, u64)>,
    last_at: Option<Instant>,
}

/// Percent of one core since the previous reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThreadSample {
    pub cpu_percent: f64,
    /// Time the threads were runnable but not running (the run-queue delay of
    /// /proc/<pid>/task/<tid>/schedstat): high when the generator is starved of CPU.
    pub wait_percent: f64,
}

impl ThreadSampler {
    pub fn new(prefixes: &'static [&'static str]) -> Self {
        ThreadSampler {
            prefixes,
            last: HashMap::new(),
            last_at: None,
        }
    }

    /// `None` on the first reading, which only sets the starting point.
    pub fn sample(&mut self) -> Result<Option<ThreadSample>, ProcessError> {
        let now = Instant::now();
        let me = Process::myself().map_err(|e| ProcessError::Myself(e.to_string()))?;
        let tasks = me
            .tasks()
            .map_err(|e| ProcessError::Threads(e.to_string()))?;
        let (mut cpu, mut wait) = (0u64, 0u64);
        let mut current = HashMap::new();
        for task in tasks.flatten() {
            let Ok(stat) = task.stat() else { continue };
            if !self.prefixes.iter().any(|p| stat.comm.starts_with(p)) {
                continue;
            }
            let Ok(s) = task.schedstat() else { continue };
            let (c0, w0) = self.last.get(&task.tid).copied().unwrap_or((0, 0));
            if self.last_at.is_some() {
                cpu += s.sum_exec_runtime.saturating_sub(c0);
                wait += s.run_delay.saturating_sub(w0);
            }
            current.insert(task.tid, (s.sum_exec_runtime, s.run_delay));
        }
        let sample = self.last_at.map(|then| {
            let ns = (now - then).as_nanos().max(1) as f64;
            ThreadSample {
                cpu_percent: cpu as f64 / ns * 100.0,
                wait_percent: wait as f64 / ns * 100.0,
            }
        });
        self.last = current;
        self.last_at = Some(now);
        Ok(sample)
    }
}

/// Why the SUT's processes (or gander's own threads) could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot read /proc/self: {0}")]
    Myself(String),
    #[error("cannot list threads: {0}")]
    Threads(String),
    #[error("process {0} is gone")]
    Gone(i32),
    #[error("cannot list processes: {0}")]
    List(String),
    #[error("no running process is named \"{0}\"")]
    NoSuchName(String),
    #[error("the SUT was not launched")]
    NotLaunched,
    #[error("no process has pid {0}")]
    NoSuchPid(u32),
    #[error("no SUT process is known")]
    Unknown,
}

/// The CPU time a process tree has used since the meter started, in
/// nanoseconds, from each thread's `schedstat` (exact, where `stat`'s ticks
/// are 10 ms samples): `gander ab` reads it at every block boundary.
pub struct TreeCpu {
    root: i32,
    /// (pid, tid) -> the thread's CPU ns at the previous reading.
    last: HashMap<(i32, i32), u64>,
    total_ns: u64,
}

impl TreeCpu {
    pub fn new(root: u32) -> TreeCpu {
        TreeCpu {
            root: root as i32,
            last: HashMap::new(),
            total_ns: 0,
        }
    }

    /// CPU ns used by the tree since the first reading (threads born since
    /// the previous reading count whole; the first reading returns 0).
    pub fn read(&mut self) -> Result<u64, ProcessError> {
        let first = self.last.is_empty();
        let mut current = HashMap::new();
        for s in tree_stats(self.root)? {
            let Ok(tasks) = Process::new(s.pid).and_then(|p| p.tasks()) else {
                continue;
            };
            for task in tasks.flatten() {
                let Ok(stat) = task.schedstat() else { continue };
                let key = (s.pid, task.tid);
                let before = self.last.get(&key).copied();
                if !first {
                    self.total_ns += stat.sum_exec_runtime.saturating_sub(before.unwrap_or(0));
                }
                current.insert(key, stat.sum_exec_runtime);
            }
        }
        self.last = current;
        Ok(self.total_ns)
    }
}

fn stat_of(pid: i32) -> Result<Stat, ProcessError> {
    Process::new(pid)
        .and_then(|p| p.stat())
        .map_err(|_| ProcessError::Gone(pid))
}

/// The root's stat and every descendant's, root first.
fn tree_stats(root: i32) -> Result<Vec<Stat>, ProcessError> {
    let root_stat = stat_of(root)?;
    let all: Vec<Stat> = all_processes()
        .map_err(|e| ProcessError::List(e.to_string()))?
        .filter_map(|p| p.ok()?.stat().ok())
        .collect();
    let mut out = vec![root_stat];
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for s in all.iter().filter(|s| s.ppid == parent && s.pid != root) {
            frontier.push(s.pid);
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// Pids of `root` and its descendants, root first.
pub fn tree_pids(root: u32) -> Result<Vec<u32>, ProcessError> {
    Ok(tree_stats(root as i32)?
        .into_iter()
        .map(|s| s.pid as u32)
        .collect())
}

/// The oldest process whose executable name or first argument is `name`
/// (its workers, younger, are found through it).
pub fn find_by_name(name: &str) -> Result<u32, ProcessError> {
    let me = std::process::id() as i32;
    let mut matches: Vec<Stat> = all_processes()
        .map_err(|e| ProcessError::List(e.to_string()))?
        .filter_map(|p| {
            let p = p.ok()?;
            let stat = p.stat().ok()?;
            if stat.pid == me {
                return None;
            }
            let argv0 = p.cmdline().ok()?.into_iter().next().unwrap_or_default();
            let base = argv0.rsplit('/').next().unwrap_or_default().to_string();
            (stat.comm == name || base == name).then_some(stat)
        })
        .collect();
    matches.sort_by_key(|s| (s.starttime, s.pid));
    matches
        .first()
        .map(|s| s.pid as u32)
        .ok_or_else(|| ProcessError::NoSuchName(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_child_shows_in_the_tree_but_not_in_the_process_alone() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 3000000 ]; do i=$((i+1)); done"])
            .spawn()
            .unwrap();
        let me = std::process::id();
        let mut tree = TreeSampler::new(me, true);
        let mut alone = TreeSampler::new(me, false);
        let first = tree.sample().unwrap();
        alone.sample().unwrap();
        assert!(first.cpu_percent.is_none());
        assert!(first.processes >= 2, "{first:?}");
        assert!(tree_pids(me).unwrap().contains(&child.id()));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let both = tree.sample().unwrap();
        let mine = alone.sample().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(both.rss_bytes > mine.rss_bytes);
        assert!(both.cpu_percent.unwrap() > mine.cpu_percent.unwrap());
        assert!(find_by_name("definitely-not-a-process-name").is_err());
    }
}
