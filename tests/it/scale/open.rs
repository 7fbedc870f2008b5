//! The open model split in three: the N schedules together are one
//! generator's schedule, iteration for iteration.

use std::collections::BTreeMap;

use super::{merge, read_json, run_segments};
use crate::common::*;

#[test]
fn open_model_segments_start_the_planned_schedule_between_them() {
    let server = start_server();
    let ws = Workspace::new();
    let file = ws.write(
        "open.yaml",
        &format!(
            "name: open-scale\nhost: {}\nload: {{ rate: 300/s, duration: 10s, max_users: 60 }}\nscenarios:\n  - name: s\n    steps:\n      - {{ name: fast, get: /fast }}\n",
            server.url()
        ),
    );
    let segs = ws.path().join("segments");
    let dirs = run_segments(&file, 3, &segs, |_| None);
    for d in &dirs {
        // Every third iteration of the plan's 3,000.
        assert_eq!(
            u(&read_json(d), "/load/open/intended"),
            1000,
            "{}",
            d.display()
        );
    }
    let merged_dir = ws.path().join("merged");
    let out = merge(&[&segs], &merged_dir, &["--quiet"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let merged = read_json(&merged_dir);
    assert_eq!(u(&merged, "/load/open/intended"), 3000);
    let started = u(&merged, "/load/open/started");
    assert!(
        (2970..=3000).contains(&started),
        "{started} of 3000 started"
    );
    assert_eq!(u(&merged, "/totals/all/requests"), started);

    // One generator's schedule: iteration k is due (k + 1/2)/300 s after the
    // common start, which the merged axis starts -axis_from_s seconds before.
    let before = -merged["provenance"]["start"]["axis_from_s"]
        .as_i64()
        .unwrap();
    let mut expected: BTreeMap<u64, u64> = BTreeMap::new();
    for k in 0..3000u64 {
        let t = before as f64 + (k as f64 + 0.5) / 300.0;
        *expected.entry(t.floor() as u64).or_default() += 1;
    }
    let series = merged["timeseries"].as_array().unwrap();
    let at = |t: u64, key: &str| {
        series
            .iter()
            .find(|p| p["t"] == t)
            .and_then(|p| p[key].as_u64())
            .unwrap_or(0)
    };
    for (t, due) in &expected {
        // Started by when they were due; a shortfall only where some were late or missed.
        let (started, late) = (at(*t, "iterations"), at(*t, "late"));
        assert!(
            started <= *due && started + late >= *due,
            "second {t}: {started} started (+{late} late) of {due} due"
        );
    }
    assert_eq!(expected.values().sum::<u64>(), 3000);
    assert_eq!(
        series
            .iter()
            .map(|p| p["iterations"].as_u64().unwrap_or(0))
            .sum::<u64>(),
        started
    );
}
