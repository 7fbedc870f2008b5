//! `--segment i/N`: this generator's exact share of a plan run by N generators.
//!
//! Users are numbered as one generator would start them (goose's launch
//! order, across every rise of a staged load), and the scenario of each user
//! is the one goose would give it in a single run: the global user index
//! drives both. Segment i takes the users whose slot in the level (the x-th
//! user running, 0-based) is i modulo N, so at every planned level the N
//! segments together run exactly the planned users, and together they run
//! each scenario with exactly the users a single run would. The open model's
//! iterations, and the rows of `unique` and `cycle` feeders, are striped the
//! same way (k-th of the plan to segment k mod N).

use std::str::FromStr;

use super::plan::{LoadModel, LoadPlan, RunPlan, SutPlan, closed_stage_duration};

/// One share of a plan: `index` of `count`, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub index: usize,
    pub count: usize,
}

impl Segment {
    /// The whole plan, as one generator runs it.
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };

    /// Whether this generator runs only part of the plan.
    pub fn is_part(self) -> bool {
        self.count > 1
    }

    /// Whether global item `k` (a user slot, an iteration, a row) is this segment's.
    pub fn owns(self, k: usize) -> bool {
        k % self.count == self.index
    }

    /// How many of the items `0..n` are this segment's.
    pub fn share(self, n: usize) -> usize {
        n / self.count + usize::from(n % self.count > self.index)
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error(
        "\"{0}\" is not a segment: expected I/N, this generator's index from 0 and the number \
         of generators, e.g. --segment 0/3 on the first of three"
    )]
    Syntax(String),
    #[error("--segment {index}/{count}: the index counts from 0, so it must be below {count}; the last of {count} generators is --segment {last}/{count}", last = count.saturating_sub(1))]
    IndexTooHigh { index: usize, count: usize },
    #[error("--segment {0}: there must be at least one generator, e.g. --segment 0/1")]
    NoGenerators(String),
    #[error(
        "--segment {segment}: the plan starts {users} users, fewer than {count} generators, so \
         this one would have none; run at most {users} segments, or more users"
    )]
    NoUsers {
        segment: Segment,
        users: usize,
        count: usize,
    },
    #[error(
        "--segment {0}: this plan launches its SUT (sut.launch), and N generators cannot share \
         one started by a single one of them; start the SUT yourself, give its address as the \
         host (or --host), and drop sut.launch"
    )]
    LaunchedSut(Segment),
}

impl FromStr for Segment {
    type Err = SegmentError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || SegmentError::Syntax(text.to_string());
        let (index, count) = text.trim().split_once('/').ok_or_else(syntax)?;
        let index: usize = index.trim().parse().map_err(|_| syntax())?;
        let count: usize = count.trim().parse().map_err(|_| syntax())?;
        if count == 0 {
            return Err(SegmentError::NoGenerators(text.to_string()));
        }
        if index >= count {
            return Err(SegmentError::IndexTooHigh { index, count });
        }
        Ok(Segment { index, count })
    }
}

/// What a segment runs of its plan, beside its share of the load (`RunPlan::load`).
#[derive(Debug, Clone)]
pub struct SegmentPlan {
    pub segment: Segment,
    /// The whole plan's load, of which `RunPlan::load` is this segment's share.
    pub whole: LoadPlan,
    /// Users of each scenario this segment starts: goose's weights for it.
    pub users_by_scenario: Vec<usize>,
    /// Per scenario, the global indices (`user_index`) of those users, ascending.
    pub user_indices: Vec<Vec<usize>>,
}

/// goose 0.19's scenario for each of `total` users, in launch order (its
/// RoundRobin scheduler): weights reduced by their gcd, one slot per unit
/// dealt round robin, repeated to `total`, and users popped from the end.
pub fn goose_scenarios(weights: &[usize], total: usize) -> Vec<usize> {
    let g = weights.iter().copied().filter(|w| *w > 0).fold(0, gcd);
    if g == 0 || total == 0 {
        return Vec::new();
    }
    let mut left: Vec<usize> = weights.iter().map(|w| w / g).collect();
    let mut dealt = Vec::with_capacity(left.iter().sum());
    while left.iter().any(|n| *n > 0) {
        for (scenario, n) in left.iter_mut().enumerate() {
            if *n > 0 {
                *n -= 1;
                dealt.push(scenario);
            }
        }
    }
    (0..total)
        .map(|k| dealt[(total - 1 - k) % dealt.len()])
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The rises of a load's user level, as (from, to): users start only there.
fn rises(load: &LoadPlan) -> Vec<(usize, usize)> {
    if load.model == LoadModel::Open || load.stages.is_empty() {
        return vec![(0, load.users)];
    }
    let mut previous = 0;
    let mut out = Vec::new();
    for stage in &load.stages {
        let level = stage.target as usize;
        if level > previous {
            out.push((previous, level));
        }
        previous = level;
    }
    out
}

/// The global indices of the users `segment` starts, ascending: in each rise
/// from level a to b (whose users one generator numbers from s), the slots
/// x in a..b this segment owns are users s + x - a.
pub fn global_users(load: &LoadPlan, segment: Segment) -> Vec<usize> {
    let mut start = 0;
    let mut out = Vec::new();
    for (a, b) in rises(load) {
        out.extend((a..b).filter(|x| segment.owns(*x)).map(|x| start + x - a));
        start += b - a;
    }
    out
}

/// Splits the users of `load` (run with scenario `weights`) for `segment`:
/// per scenario, the global indices of its users in this segment.
pub fn split_users(load: &LoadPlan, weights: &[usize], segment: Segment) -> Vec<Vec<usize>> {
    let total = rises(load).iter().map(|(a, b)| b - a).sum();
    let scenario_of = goose_scenarios(weights, total);
    let mut by_scenario = vec![Vec::new(); weights.len()];
    for j in global_users(load, segment) {
        by_scenario[scenario_of[j]].push(j);
    }
    if load.model == LoadModel::Open {
        // Every scenario's iterations are striped over every segment: each needs
        // a user of that scenario, one past the plan's pool if its share had none.
        for (scenario, users) in by_scenario.iter_mut().enumerate() {
            if users.is_empty() {
                users.push(total + scenario * segment.count + segment.index);
            }
        }
    }
    by_scenario
}

/// The share of a load `segment` runs: users split, stages scaled (the
/// closed model's at whole users, timed as goose runs them), the open model's
/// rates divided (its schedule is the whole one, striped).
pub fn share_load(load: &LoadPlan, segment: Segment, users: usize) -> LoadPlan {
    let mut share = load.clone();
    share.users = users;
    let mut from = 0.0;
    for stage in &mut share.stages {
        let target = match load.model {
            LoadModel::Closed => segment.share(stage.target as usize) as f64,
            LoadModel::Open => stage.target / segment.count as f64,
        };
        if load.model == LoadModel::Closed {
            stage.duration = closed_stage_duration(stage.written, from, target);
        }
        stage.target = target;
        from = target;
    }
    share
}

/// The plan as segment `segment` runs it. Only segment 0 watches the SUT
/// (samples, health, profile): profilers take one profile at a time.
pub fn apply(mut plan: RunPlan, segment: Segment) -> Result<RunPlan, SegmentError> {
    if segment.is_part() && plan.sut.launch.is_some() {
        return Err(SegmentError::LaunchedSut(segment));
    }
    let weights: Vec<usize> = plan.scenarios.iter().map(|s| s.weight).collect();
    let user_indices = split_users(&plan.load, &weights, segment);
    let users_by_scenario: Vec<usize> = user_indices.iter().map(Vec::len).collect();
    let started: usize = users_by_scenario.iter().sum();
    if started == 0 {
        return Err(SegmentError::NoUsers {
            segment,
            users: plan.load.users_started(),
            count: segment.count,
        });
    }
    let users = match plan.load.model {
        LoadModel::Open => started,
        LoadModel::Closed if plan.load.stages.is_empty() => started,
        LoadModel::Closed => segment.share(plan.load.users),
    };
    let whole = plan.load.clone();
    plan.load = share_load(&whole, segment, users);
    if segment.index != 0 {
        plan.profile = None;
        plan.sut = SutPlan {
            interval: plan.sut.interval,
            secrets: plan.sut.secrets.clone(),
            ..SutPlan::default()
        };
    }
    plan.segment = Some(SegmentPlan {
        segment,
        whole,
        users_by_scenario,
        user_indices,
    });
    Ok(plan)
}

#[cfg(test)]
mod tests;
