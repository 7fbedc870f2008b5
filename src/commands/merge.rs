//! `gander merge DIR... -o OUT`: the segment runs of one plan made into one
//! run directory, then judged and drawn once, as any run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::compare::{self, RunData};
use crate::merge::{self, Merged, SegmentRun};
use crate::profile::folded::Folded;
use crate::result::RunResult;
use crate::result::profile::ProfileStatus;
use crate::{Exit, report, store, verdict};

/// `gander merge`, as the CLI asks for it.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    /// Segment run directories, or directories holding them.
    pub dirs: Vec<PathBuf>,
    /// The merged run directory to create.
    pub output: PathBuf,
    /// Saved runs, or directories of runs, to compare the merged run with.
    pub baseline: Vec<PathBuf>,
    pub baseline_last: usize,
    /// Wait this long for every segment to be there and finished.
    pub wait: Option<Duration>,
    pub quiet: bool,
}

/// How often `--wait` looks for the segments again.
const POLL: Duration = Duration::from_secs(1);

pub fn merge_runs(args: &MergeRequest) -> anyhow::Result<Exit> {
    check_output(&args.output)?;
    let dirs = gather(&args.dirs, &args.output, args.wait)?;
    let segments = dirs
        .iter()
        .map(|dir| read_segment(dir))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let run_id = args
        .output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "merged".into());
    let Merged {
        mut result,
        interval_log,
        header_log,
    } = merge::merge(segments, run_id)?;
    // args_os: an argument that is not UTF-8 (a Latin-1 path) must not panic.
    result.provenance.command_line = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    result.provenance.hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string());
    let compare::Baselines {
        runs: baseline,
        notes,
    } = compare::baseline_runs(&args.baseline, &result.plan.name, args.baseline_last)?;
    for note in &notes {
        eprintln!("gander: note: {note}");
    }
    let dir = &args.output;
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create {}: give -o a directory gander can write",
            dir.display()
        )
    })?;
    let lock = store::RunLock::take(dir)?;
    // The cost first: the per-name diffs divide by the merged requests.
    fill_cost(&mut result, &interval_log);
    copy_profile(&mut result, dir, &baseline)?;
    if !baseline.is_empty() {
        let runs: Vec<&RunData> = baseline.iter().map(|(_, run)| run).collect();
        let new = RunData::new(result, &interval_log, &header_log);
        let comparison = compare::compare(&runs, &new, new.result.plan.regression.as_ref());
        result = new.result;
        result.comparison = Some(comparison);
    }
    result.verdict = verdict::judge(&result);
    store::write_file(dir, store::INTERVAL_LOG, &interval_log)?;
    store::write_file(dir, store::HEADER_LOG, &header_log)?;
    report::write_reports(dir, &result)?;
    drop(lock);
    Ok(super::run::finish(dir, &result, args.quiet))
}

/// The merged run goes into a new (or empty) directory.
fn check_output(out: &Path) -> anyhow::Result<()> {
    let holds_files = std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some());
    if holds_files {
        bail!(
            "{} already holds files: give -o a new directory for the merged run",
            out.display()
        );
    }
    Ok(())
}

/// The segment run directories `dirs` stand for: a run directory, or each
/// run directory inside a directory. With `wait`, looks again until every
/// segment is there and finished, or the time is up.
fn gather(dirs: &[PathBuf], out: &Path, wait: Option<Duration>) -> anyhow::Result<Vec<PathBuf>> {
    let deadline = wait.map(|w| Instant::now() + w);
    loop {
        let waiting = deadline.is_some_and(|d| Instant::now() < d);
        // While waiting, a directory the segments have not made yet holds none of them.
        let found = expand(dirs, out, waiting)?;
        if waiting && !all_finished(&found) {
            std::thread::sleep(POLL);
        } else {
            return Ok(found);
        }
    }
}

fn expand(dirs: &[PathBuf], out: &Path, waiting: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for dir in dirs {
        if dir.join("run.json").is_file() {
            found.push(dir.clone());
            continue;
        }
        if waiting && !dir.exists() {
            continue;
        }
        let entries = std::fs::read_dir(dir).with_context(|| {
            format!(
                "cannot read {}: give the segments' run directories (or a directory holding them)",
                dir.display()
            )
        })?;
        let mut runs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("run.json").is_file() && p.as_path() != out)
            .collect();
        runs.sort();
        found.extend(runs);
    }
    Ok(found)
}

/// Every segment of the run is there and none is still being written.
fn all_finished(dirs: &[PathBuf]) -> bool {
    let mut indices = std::collections::BTreeSet::new();
    let mut count = None;
    for dir in dirs {
        if store::is_being_written(dir) {
            return false;
        }
        let Some(segment) = store::read(dir).ok().and_then(|r| r.provenance.segment) else {
            continue;
        };
        count = Some(segment.count);
        indices.insert(segment.index);
    }
    count.is_some_and(|n| indices.len() >= n)
}

/// A segment run, its verdict judged again (a killed one is marked so).
fn read_segment(dir: &Path) -> anyhow::Result<SegmentRun> {
    if store::is_being_written(dir) {
        bail!(
            "{} is still being written by its gander: wait for the segment to finish, or give \
             `gander merge --wait DURATION`",
            dir.display()
        );
    }
    let mut result = super::read_saved(dir)?;
    result.verdict = verdict::judge(&result);
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| store::StoreError::NotARun {
            dir: dir.to_path_buf(),
            reason: format!("cannot read {name}: {e}"),
        })
    };
    Ok(SegmentRun {
        dir: dir.to_path_buf(),
        interval_log: read(store::INTERVAL_LOG)?,
        header_log: read(store::HEADER_LOG)?,
        result,
    })
}

/// Segment 0's profile files, copied beside the merged run; the differential
/// flame graph against the newest baseline with a profile.
fn copy_profile(
    result: &mut RunResult,
    dir: &Path,
    baseline: &[(PathBuf, RunData)],
) -> anyhow::Result<()> {
    let Some(source) = result
        .provenance
        .segments
        .first()
        .map(|s| PathBuf::from(&s.dir))
    else {
        return Ok(());
    };
    let Some(profile) = result.profile.as_mut() else {
        return Ok(());
    };
    let files = [
        &profile.files.raw,
        &profile.files.folded,
        &profile.files.flamegraph,
    ];
    // Each labelled request name's part too; its differential flame graph is
    // drawn again below against this merge's baseline.
    let parts = profile
        .by_request
        .iter()
        .flat_map(|part| [&part.folded, &part.flamegraph]);
    for name in files.into_iter().chain(parts).flatten() {
        let bytes = std::fs::read(source.join(name))
            .with_context(|| format!("cannot read segment 0's profile file {name}"))?;
        store::write_file(dir, name, &bytes)?;
    }
    for part in &mut profile.by_request {
        part.diff_flamegraph = None;
    }
    let folded = profile
        .files
        .folded
        .as_ref()
        .and_then(|f| std::fs::read_to_string(dir.join(f)).ok())
        .and_then(|text| Folded::parse(&text).ok());
    let Some((base_dir, base)) = compare::newest_with_profile(baseline) else {
        return Ok(());
    };
    if let (Some(folded), true) = (folded, profile.status == ProfileStatus::Ok) {
        profile.diff = compare::profile_diff::against(base_dir, base, &folded, profile, dir)?;
        compare::profile_diff::fill_by_request((base_dir, base), dir, result)?;
    }
    Ok(())
}

/// The merged run's cost per request: the SUT's CPU, which segment 0 watched
/// while the SUT served every segment, over the requests of all segments; per
/// request name by the profile's labels when its samples carried them. (A
/// segment's own cost sweep is not carried over: each drove the SUT alone
/// with its share of the users.)
fn fill_cost(result: &mut RunResult, interval_log: &[u8]) {
    let labels = result
        .profile
        .as_ref()
        .filter(|p| p.samples > 0 && !p.by_request.is_empty())
        .and_then(|p| {
            let shares = compare::cost::LabelShares {
                samples: p
                    .by_request
                    .iter()
                    .map(|r| (r.name.clone(), r.samples))
                    .collect(),
                total: p.samples,
            };
            Some((
                shares,
                compare::cost::requests_by_name(result, interval_log, p.window?),
            ))
        });
    if let (Some(profile), Some((_, requests))) = (result.profile.as_mut(), &labels) {
        for part in &mut profile.by_request {
            part.requests = requests.get(&part.name).copied().unwrap_or(0);
        }
    }
    compare::cost::fill(result, labels.as_ref().map(|(s, r)| (s, r)));
}
