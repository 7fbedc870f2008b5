//! What this machine can run: a load whose users would not fit in memory, or
//! whose rate no generator here could send, is refused when the file is
//! checked rather than crashing the run.

use super::{Compiler, Overrides};
use crate::format::thousands;
use crate::scenario::model;
use crate::scenario::plan::{LoadModel, LoadPlan};
use crate::scenario::segment::Segment;
use crate::scenario::spanned::{Loc, Sp};

/// Memory one simulated user costs (measured: ~150 KiB per user over a
/// three-minute run of 1,000 users, its HTTP client and connection included).
pub const BYTES_PER_USER: u64 = 150 * 1024;
/// More requests a second than one core sends: wrk manages about this much,
/// and gander costs more per request than wrk.
pub const MAX_RATE_PER_CORE: f64 = 100_000.0;
/// goose lays out one slot per unit of weight.
pub const MAX_WEIGHT: u64 = 10_000;
/// Failed requests kept with their body excerpt.
pub const MAX_ERROR_SAMPLES: usize = 10_000;

/// The memory gander may use here: the machine's, or its control group's limit
/// when that is lower.
pub fn memory_bytes() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| meminfo_total(&m))
        .unwrap_or(u64::MAX);
    let limit = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .filter_map(|t| t.trim().parse::<u64>().ok())
    .min()
    .unwrap_or(u64::MAX);
    total.min(limit)
}

/// `MemTotal:  24589436 kB` in bytes.
fn meminfo_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// The cores gander's threads may run on.
pub fn generator_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The most users that fit in `memory` bytes.
pub fn max_users(memory: u64) -> u64 {
    (memory / BYTES_PER_USER).max(1)
}

/// The highest rate `cores` can send.
pub fn max_rate(cores: usize) -> f64 {
    MAX_RATE_PER_CORE * cores as f64
}

impl Compiler<'_> {
    /// Refuses a load this machine cannot run; `false` when it did.
    pub(super) fn check_capacity(
        &mut self,
        plan: &LoadPlan,
        load: &Sp<model::Load>,
        overrides: &Overrides,
    ) -> bool {
        let memory = memory_bytes();
        let cores = generator_cores();
        // A segment runs its share of the plan here; the other shares run elsewhere.
        let segment = overrides.segment.unwrap_or(Segment::WHOLE);
        if plan.model == LoadModel::Open {
            let rate = plan.peak_level() / segment.count as f64;
            let limit = max_rate(cores);
            if rate > limit {
                let loc = peak_rate_loc(load);
                self.error_help(
                    loc,
                    format!(
                        "a rate of {}/s is more than this machine can send: gander sends at most \
                         about {}/s per core, {}/s on its {cores} cores",
                        rate_text(rate),
                        thousands(MAX_RATE_PER_CORE as u64),
                        thousands(limit as u64),
                    ),
                    "lower the rate, or share it among several machines (--segment i/N)",
                );
                return false;
            }
        }
        let users = segment.share(plan.users) as u64;
        let fit = max_users(memory);
        if users > fit {
            let n = thousands(users);
            let (loc, what) = match plan.model {
                LoadModel::Closed if overrides.users.is_some() => (
                    load.users.as_ref().map_or(load.loc, |u| u.loc),
                    format!("--users {n} asks for more users"),
                ),
                LoadModel::Closed => (peak_users_loc(load), format!("{n} users are more")),
                LoadModel::Open => match &load.max_users {
                    Some(m) => (m.loc, format!("{n} users are more")),
                    None => (
                        peak_rate_loc(load),
                        format!("this rate needs a pool of {n} users (2s of it), more"),
                    ),
                },
            };
            self.error_help(
                loc,
                format!(
                    "{what} than this machine can run: at about {} KiB a user, its {} of \
                     memory hold about {} users",
                    BYTES_PER_USER / 1024,
                    crate::format::bytes(memory as f64),
                    thousands(fit),
                ),
                match plan.model {
                    LoadModel::Closed => {
                        "run fewer users, or share them among several machines (--segment i/N)"
                    }
                    LoadModel::Open => "set a smaller max_users, or a lower rate",
                },
            );
            return false;
        }
        true
    }
}

/// A rate as people write it; absurd ones in scientific notation.
fn rate_text(rate: f64) -> String {
    if rate < 1e15 {
        thousands(rate.ceil() as u64)
    } else {
        format!("{rate:e}")
    }
}

/// Where the highest `users:` of the load is written.
fn peak_users_loc(load: &Sp<model::Load>) -> Loc {
    if let Some(u) = &load.users {
        return u.loc;
    }
    let stages = load
        .stages
        .as_ref()
        .map(|s| s.value.as_slice())
        .unwrap_or(&[]);
    stages
        .iter()
        .filter_map(|s| s.users.as_ref())
        .max_by_key(|u| u.value.0)
        .map_or(load.loc, |u| u.loc)
}

/// Where the highest `rate:` of the load is written.
fn peak_rate_loc(load: &Sp<model::Load>) -> Loc {
    if let Some(r) = &load.rate {
        return r.loc;
    }
    let stages = load
        .stages
        .as_ref()
        .map(|s| s.value.as_slice())
        .unwrap_or(&[]);
    stages
        .iter()
        .filter_map(|s| s.rate.as_ref())
        .max_by(|a, b| a.value.0.total_cmp(&b.value.0))
        .map_or(load.loc, |r| r.loc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(
            meminfo_total("MemTotal:  1024 kB\nMemFree: 1 kB\n"),
            Some(1024 * 1024)
        );
        assert_eq!(max_users(150 * 1024 * 10), 10);
        assert_eq!(max_users(0), 1);
        assert_eq!(rate_text(1_000_000.0), "1,000,000");
        assert_eq!(rate_text(1e308), "1e308");
    }
}
