//! Which segment runs make one run: one version, one file, one plan, one
//! common start, and each of the N segments exactly once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::SegmentRun;
use crate::result::{RunResult, SCHEMA_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no segment runs to merge: give the run directories of `gander run --segment i/N`")]
    NoSegments,
    #[error(
        "{} is not a segment run (it was not run with --segment i/N): gander merge takes the \
         run directories of the N segments of one run", .dir.display()
    )]
    NotASegment { dir: PathBuf },
    #[error(
        "{} has run.json version {version}; this gander merges version {SCHEMA_VERSION} \
         segments: run every segment with the same gander as the merge", .dir.display()
    )]
    Version { dir: PathBuf, version: u32 },
    #[error(
        "{} is one of {b} segments and {} one of {a}: they are not one run; give the \
         segments of one run", .second.display(), .first.display()
    )]
    Counts {
        first: PathBuf,
        a: usize,
        second: PathBuf,
        b: usize,
    },
    #[error(
        "segment {index} is given twice, {} and {}: each segment merges once (a retried \
         segment leaves two run directories: keep one)", .first.display(), .second.display()
    )]
    Overlap {
        index: usize,
        first: PathBuf,
        second: PathBuf,
    },
    #[error(
        "segment{} {missing} of {count} missing: give every segment's run directory (or a \
         directory holding them all), or wait for them with --wait",
        if .missing.contains(',') { "s" } else { "" }
    )]
    Missing { missing: String, count: usize },
    #[error(
        "{} ran another scenario file than {} (their SHA-256 differ): the segments of one run \
         run one file", .second.display(), .first.display()
    )]
    DifferentFile { first: PathBuf, second: PathBuf },
    #[error(
        "{} ran another plan than {}: {field} is {b} there and {a} here; run every segment \
         with the same file and flags", .second.display(), .first.display()
    )]
    DifferentPlan {
        first: PathBuf,
        second: PathBuf,
        field: String,
        a: String,
        b: String,
    },
    #[error(
        "{} was run without --start-at: segments need one common start for their seconds to \
         line up; run them again with the same --start-at TIME", .dir.display()
    )]
    NoStart { dir: PathBuf },
    #[error(
        "{} started its load at {b} and {} at {a}: the segments of one run share one \
         --start-at; compute the time once and give it to all", .second.display(), .first.display()
    )]
    DifferentStart {
        first: PathBuf,
        second: PathBuf,
        a: String,
        b: String,
    },
}

/// Checks that `segments` are the N segments of one run.
pub fn one_run(segments: &[SegmentRun]) -> Result<(), MergeError> {
    let first = segments.first().ok_or(MergeError::NoSegments)?;
    for s in segments {
        alone(s)?;
    }
    let count = segment_count(&first.result);
    // A map, not a Vec of `count`: the count is read from run.json.
    let mut by_index: BTreeMap<usize, &Path> = BTreeMap::new();
    for s in segments {
        same_run(first, s)?;
        let index = s.result.provenance.segment.as_ref().map_or(0, |p| p.index);
        if let Some(earlier) = by_index.insert(index, &s.dir) {
            return Err(MergeError::Overlap {
                index,
                first: earlier.to_path_buf(),
                second: s.dir.clone(),
            });
        }
    }
    let mut missing: Vec<String> = (0..count)
        .filter(|i| !by_index.contains_key(i))
        .take(MISSING_SHOWN + 1)
        .map(|i| i.to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if missing.len() > MISSING_SHOWN {
        missing[MISSING_SHOWN] = "…".into();
    }
    Err(MergeError::Missing {
        missing: missing.join(", "),
        count,
    })
}

/// Missing segments named in the error; more are shown as "…".
const MISSING_SHOWN: usize = 20;

fn segment_count(r: &RunResult) -> usize {
    r.provenance.segment.as_ref().map_or(1, |s| s.count)
}

/// What one run directory must be on its own.
fn alone(s: &SegmentRun) -> Result<(), MergeError> {
    let dir = || s.dir.clone();
    if s.result.schema_version != SCHEMA_VERSION {
        return Err(MergeError::Version {
            dir: dir(),
            version: s.result.schema_version,
        });
    }
    match &s.result.provenance.segment {
        Some(p) if p.index < p.count => {}
        _ => return Err(MergeError::NotASegment { dir: dir() }),
    }
    if s.result.provenance.start.is_none() && segment_count(&s.result) > 1 {
        return Err(MergeError::NoStart { dir: dir() });
    }
    Ok(())
}

/// `s` ran what `first` ran: the same count, file, plan and start.
fn same_run(first: &SegmentRun, s: &SegmentRun) -> Result<(), MergeError> {
    let (a, b) = (&first.result, &s.result);
    if segment_count(a) != segment_count(b) {
        return Err(MergeError::Counts {
            first: first.dir.clone(),
            a: segment_count(a),
            second: s.dir.clone(),
            b: segment_count(b),
        });
    }
    if a.provenance.scenario_sha256 != b.provenance.scenario_sha256 {
        return Err(MergeError::DifferentFile {
            first: first.dir.clone(),
            second: s.dir.clone(),
        });
    }
    if let Some((field, va, vb)) = plan_difference(a, b) {
        return Err(MergeError::DifferentPlan {
            first: first.dir.clone(),
            second: s.dir.clone(),
            field,
            a: va,
            b: vb,
        });
    }
    let start = |r: &RunResult| r.provenance.start.as_ref().map(|s| s.at.clone());
    if start(a) != start(b) {
        return Err(MergeError::DifferentStart {
            first: first.dir.clone(),
            second: s.dir.clone(),
            a: start(a).unwrap_or_default(),
            b: start(b).unwrap_or_default(),
        });
    }
    Ok(())
}

/// The first field in which two runs' plans differ, with both values; the
/// users each scenario started are what happened, not the plan.
fn plan_difference(a: &RunResult, b: &RunResult) -> Option<(String, String, String)> {
    let plan = |r: &RunResult| {
        let mut v = serde_json::to_value(&r.plan).unwrap_or_default();
        for s in v["scenarios"].as_array_mut().into_iter().flatten() {
            s["users_started"] = 0.into();
        }
        v
    };
    let (pa, pb) = (plan(a), plan(b));
    let keys = pa.as_object()?.keys().chain(pb.as_object()?.keys());
    let short = |v: &serde_json::Value| {
        let text = v.to_string();
        match text.char_indices().nth(80) {
            Some((i, _)) => format!("{}…", &text[..i]),
            None => text,
        }
    };
    keys.into_iter()
        .find(|k| pa[k.as_str()] != pb[k.as_str()])
        .map(|k| (format!("plan.{k}"), short(&pa[k]), short(&pb[k])))
}

/// Seconds to add to each segment's time axis to put it on the merged one,
/// which starts with the earliest segment's.
pub fn shifts(segments: &[SegmentRun]) -> Vec<u64> {
    let from = |s: &SegmentRun| {
        s.result
            .provenance
            .start
            .as_ref()
            .map_or(0, |s| s.axis_from_s)
    };
    let earliest = segments.iter().map(from).min().unwrap_or(0);
    segments
        .iter()
        .map(|s| from(s).abs_diff(earliest))
        .collect()
}

/// The wall-clock start of the merged time axis.
pub fn axis_start(segments: &[SegmentRun]) -> SystemTime {
    let start = segments
        .iter()
        .filter_map(|s| s.result.provenance.start.as_ref())
        .min_by_key(|s| s.axis_from_s);
    let Some(start) = start else {
        return SystemTime::UNIX_EPOCH;
    };
    let at = chrono::DateTime::parse_from_rfc3339(&start.at)
        .map(|t| SystemTime::from(t.with_timezone(&chrono::Utc)))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let offset = Duration::from_secs(start.axis_from_s.unsigned_abs());
    // A hand-edited offset beyond the clock's range leaves the start as written.
    if start.axis_from_s < 0 {
        at.checked_sub(offset)
    } else {
        at.checked_add(offset)
    }
    .unwrap_or(at)
}
