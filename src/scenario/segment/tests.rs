//! The splitting arithmetic: counts and relations only.

use std::time::Duration;

use super::*;
use crate::scenario::plan::{LoadEnd, Stage};

fn closed(users: usize) -> LoadPlan {
    LoadPlan {
        model: LoadModel::Closed,
        users,
        ramp_up: Duration::from_secs(10),
        end: LoadEnd::Iterations(5),
        stages: Vec::new(),
        steady_stage: None,
        max_late: 0.01,
    }
}

fn stage(secs: u64, target: f64) -> Stage {
    Stage {
        name: format!("to {target}"),
        duration: Duration::from_secs(secs),
        written: Duration::from_secs(secs),
        target,
    }
}

fn staged(model: LoadModel, stages: Vec<Stage>) -> LoadPlan {
    LoadPlan {
        model,
        users: crate::scenario::plan::peak_level(&stages) as usize,
        stages,
        end: LoadEnd::Duration(Duration::from_secs(60)),
        ramp_up: Duration::ZERO,
        steady_stage: Some(1),
        ..closed(0)
    }
}

fn segments(count: usize) -> impl Iterator<Item = Segment> {
    (0..count).map(move |index| Segment { index, count })
}

fn count(of: &[usize], scenario: usize) -> usize {
    of.iter().filter(|s| **s == scenario).count()
}

#[test]
fn segments_parse_and_refuse_with_the_fix() {
    assert_eq!("1/3".parse(), Ok(Segment { index: 1, count: 3 }));
    assert_eq!(" 0 / 1 ".parse(), Ok(Segment::WHOLE));
    for bad in ["3", "a/3", "1/", "-1/3", "1/3/4"] {
        let e = bad.parse::<Segment>().unwrap_err();
        assert!(matches!(e, SegmentError::Syntax(_)), "{bad}: {e}");
        assert!(e.to_string().contains("--segment 0/3"), "{e}");
    }
    let e = "3/3".parse::<Segment>().unwrap_err();
    assert!(e.to_string().contains("--segment 2/3"), "{e}");
    assert!(matches!(
        "0/0".parse::<Segment>(),
        Err(SegmentError::NoGenerators(_))
    ));
}

#[test]
fn shares_add_up_to_the_whole_and_differ_by_at_most_one() {
    for n in 0..200 {
        for c in 1..9 {
            let shares: Vec<usize> = segments(c).map(|s| s.share(n)).collect();
            assert_eq!(shares.iter().sum::<usize>(), n, "{n} over {c}");
            let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            assert!(hi - lo <= 1, "{n} over {c}: {shares:?}");
            assert!(
                shares.windows(2).all(|w| w[0] >= w[1]),
                "lower segments first"
            );
        }
    }
    // An absurd level (refused later, by the capacity check) does not overflow.
    let shares: Vec<usize> = segments(3).map(|s| s.share(usize::MAX)).collect();
    let sum: u128 = shares.iter().map(|s| *s as u128).sum();
    assert_eq!(sum, usize::MAX as u128);
}

#[test]
fn goose_deals_scenarios_by_weight() {
    // What goose 0.19 gave 50 users at 3:1 (notes/goose-0.19.md).
    let of = goose_scenarios(&[3, 1], 50);
    assert_eq!((count(&of, 0), count(&of, 1)), (37, 13));
    // Weights reduce by their gcd: 30:10 deals as 3:1.
    assert_eq!(goose_scenarios(&[30, 10], 50), of);
    // Every user has a scenario; a whole number of rounds splits exactly.
    let of = goose_scenarios(&[2, 5, 1], 80);
    assert_eq!(of.len(), 80);
    assert_eq!((count(&of, 0), count(&of, 1), count(&of, 2)), (20, 50, 10));
}

/// Each segment's users, per scenario; checks they partition the plan's.
fn split_all(load: &LoadPlan, weights: &[usize], c: usize) -> Vec<Vec<Vec<usize>>> {
    let parts: Vec<Vec<Vec<usize>>> = segments(c).map(|s| split_users(load, weights, s)).collect();
    let total: usize = rises(load).iter().map(|(a, b)| b - a).sum();
    let scenario_of = goose_scenarios(weights, total);
    let mut seen = vec![0; total];
    for part in &parts {
        for (scenario, users) in part.iter().enumerate() {
            assert!(users.windows(2).all(|w| w[0] < w[1]), "ascending");
            for &j in users.iter().filter(|j| **j < total) {
                seen[j] += 1;
                assert_eq!(scenario_of[j], scenario, "user {j} keeps its scenario");
            }
        }
    }
    assert!(
        seen.iter().all(|n| *n == 1),
        "every user exactly once: {seen:?}"
    );
    parts
}

#[test]
fn closed_users_split_exactly_with_the_single_runs_weights() {
    for (users, weights) in [
        (50, vec![3, 1]),
        (9, vec![1, 1, 1]),
        (100, vec![5, 2, 2]),
        (7, vec![1]),
    ] {
        let load = closed(users);
        let single = goose_scenarios(&weights, users);
        for c in 1..=5 {
            let parts = split_all(&load, &weights, c);
            for (s, seg) in segments(c).enumerate() {
                let started: usize = parts[s].iter().map(Vec::len).sum();
                assert_eq!(started, seg.share(users));
            }
            for scenario in 0..weights.len() {
                let together: usize = parts.iter().map(|p| p[scenario].len()).sum();
                assert_eq!(together, count(&single, scenario), "{users} users over {c}");
            }
        }
    }
}

#[test]
fn staged_levels_split_at_every_stage_and_users_are_never_reused() {
    // Up to 10, down to 4, up to 13: 10 + 9 users start in all.
    let load = staged(
        LoadModel::Closed,
        vec![
            stage(10, 10.0),
            stage(5, 10.0),
            stage(5, 4.0),
            stage(10, 13.0),
        ],
    );
    assert_eq!(load.users_started(), 19);
    for c in 1..=4 {
        let parts = split_all(&load, &[2, 1], c);
        let shares: Vec<LoadPlan> = segments(c)
            .zip(&parts)
            .map(|(seg, p)| share_load(&load, seg, p.iter().map(Vec::len).sum()))
            .collect();
        for (i, whole) in load.stages.iter().enumerate() {
            let sum: f64 = shares.iter().map(|s| s.stages[i].target).sum();
            assert_eq!(sum, whole.target, "stage {i} over {c}");
        }
        // Each segment starts as many users as its stages' rises call for.
        for (share, part) in shares.iter().zip(&parts) {
            let started: usize = part.iter().map(Vec::len).sum();
            assert_eq!(share.users_started(), started);
            assert!(share.stages.iter().all(|s| s.duration <= s.written));
        }
    }
}

#[test]
fn open_rates_divide_and_every_scenario_keeps_a_user() {
    let load = LoadPlan {
        users: 10,
        ..staged(LoadModel::Open, vec![stage(2, 300.0), stage(10, 300.0)])
    };
    let weights = [9, 1];
    for c in 1..=4 {
        let parts: Vec<Vec<Vec<usize>>> = segments(c)
            .map(|s| split_users(&load, &weights, s))
            .collect();
        let mut pool_users = Vec::new();
        for (seg, part) in segments(c).zip(&parts) {
            assert!(part.iter().all(|u| !u.is_empty()), "{seg}: {part:?}");
            pool_users.extend(part.iter().flatten().copied());
            let share = share_load(&load, seg, part.iter().map(Vec::len).sum());
            assert_eq!(share.stages[1].target * c as f64, 300.0);
            assert_eq!(share.stages[0].duration, load.stages[0].duration);
        }
        let distinct: std::collections::BTreeSet<usize> = pool_users.iter().copied().collect();
        assert_eq!(distinct.len(), pool_users.len(), "user indices are unique");
        assert!(pool_users.len() >= load.users);
    }
}
