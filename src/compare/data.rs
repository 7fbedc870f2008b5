//! What a comparison reads from one saved run: its result, and the steady
//! state cut into one-second windows (latencies from the HDR interval log,
//! server-header values from the header log, errors from the per-second
//! series, CPU from the SUT's samples).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::result::profile::ProfileStatus;
use crate::result::{Phase, RunResult, RunStatus, VerdictStatus};
use crate::store::StoreError;
use crate::store::{self, HEADER_LOG, INTERVAL_LOG};

/// One run, ready to be compared.
#[derive(Debug, Clone)]
pub struct RunData {
    pub result: RunResult,
    /// Seconds of the steady state, in order.
    pub seconds: Vec<Second>,
    /// The SUT's CPU samples (% of one core) in the steady state.
    pub cpu: Vec<f64>,
    /// Whether per-second server-header values were read (runs before schema
    /// version 3 kept them only as summaries).
    pub has_header_values: bool,
    /// Steady seconds with successful requests in the per-second series, and
    /// how many of them have no latencies in the interval log.
    pub log_seconds: (usize, usize),
}

/// A latency log missing this many seconds (at least) of those with answers is cut short...
const MISSING_SECONDS: usize = 2;
/// ... or this share of them, when that is more.
const MISSING_SHARE: f64 = 0.05;

/// One second of the steady state.
#[derive(Debug, Clone, Default)]
pub struct Second {
    /// Per request name (index into `result.endpoints`): `(latency µs, count)`.
    pub latencies: BTreeMap<usize, Vec<(u64, u64)>>,
    /// Per request name and server-header figure: `(value in 1/1024ths, count)`.
    pub headers: BTreeMap<(usize, String), Vec<(u64, u64)>>,
    /// Failed or not sent requests this second, all request names together.
    pub errors: u64,
    /// Failed or not sent requests this second, per request name.
    pub errors_by: BTreeMap<usize, u64>,
}

impl RunData {
    /// Reads `run.json`, `latency.hlog` and (when there) `headers.hlog` from a run directory.
    pub fn read(dir: &Path) -> Result<RunData, StoreError> {
        Self::with_result(dir, store::read(dir)?)
    }

    /// Reads the interval logs for a result already read from `dir`.
    fn with_result(dir: &Path, result: RunResult) -> Result<RunData, StoreError> {
        let log = std::fs::read(dir.join(INTERVAL_LOG)).map_err(|e| StoreError::NotARun {
            dir: dir.to_path_buf(),
            reason: format!("cannot read {INTERVAL_LOG}: {e}"),
        })?;
        let header_path = dir.join(HEADER_LOG);
        let run = match std::fs::read(&header_path) {
            Ok(headers) => RunData::new(result, &log, &headers),
            // Older runs have none: their header figures are not compared.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut run = RunData::new(result, &log, &[]);
                run.has_header_values = false;
                run
            }
            Err(e) => {
                return Err(StoreError::NotARun {
                    dir: dir.to_path_buf(),
                    reason: format!("cannot read {HEADER_LOG}: {e}"),
                });
            }
        };
        Ok(run)
    }

    /// Cuts a result and its interval logs into the steady state's seconds.
    pub fn new(result: RunResult, interval_log: &[u8], header_log: &[u8]) -> RunData {
        // The steady state, or the whole run without one.
        let window = result.window(Phase::Steady);
        let whole = |t: u64| t as f64 >= window.start_s.ceil() && t as f64 + 1.0 <= window.end_s;
        let index: BTreeMap<&str, usize> = result
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.as_str(), i))
            .collect();
        let mut by_second: BTreeMap<u64, Second> = BTreeMap::new();
        // Seconds in which some request succeeded: each has latencies in the log.
        let answered: Vec<u64> = result
            .timeseries
            .iter()
            .filter(|p| whole(p.t) && p.requests > p.errors)
            .map(|p| p.t)
            .collect();
        for point in result.timeseries.iter().filter(|p| whole(p.t)) {
            let s = by_second.entry(point.t).or_default();
            s.errors = point.errors;
            s.errors_by = point
                .errors_by_name
                .iter()
                .filter_map(|(name, n)| Some((*index.get(name.as_str())?, *n)))
                .collect();
        }
        for (t, tag, counts) in histograms(interval_log) {
            let Some(second) = by_second.get_mut(&t) else {
                continue;
            };
            if let Some(endpoint) = tag.strip_prefix('e').and_then(|e| e.parse().ok()) {
                second.latencies.insert(endpoint, counts);
            }
        }
        for (t, tag, counts) in histograms(header_log) {
            let Some(second) = by_second.get_mut(&t) else {
                continue;
            };
            if let Some(key) = crate::hist::parse_header_tag(&tag) {
                second.headers.insert(key, counts);
            }
        }
        let cpu = result
            .resources
            .sut_series(crate::result::resources::CPU)
            .map(|s| {
                s.points
                    .iter()
                    .filter(|[t, _]| *t >= window.start_s && *t <= window.end_s)
                    .map(|[_, v]| *v)
                    .collect()
            })
            .unwrap_or_default();
        let missing = answered
            .iter()
            .filter(|t| by_second.get(t).is_none_or(|s| s.latencies.is_empty()))
            .count();
        RunData {
            result,
            seconds: by_second.into_values().collect(),
            cpu,
            has_header_values: true,
            log_seconds: (answered.len(), missing),
        }
    }

    /// Says so when the latency log lacks seconds the run answered in (cut
    /// short by a full disk or a kill): its percentiles would be a part's.
    pub fn log_missing(&self) -> Option<String> {
        let (answered, missing) = self.log_seconds;
        let allowed = MISSING_SECONDS.max((answered as f64 * MISSING_SHARE).ceil() as usize);
        (missing >= allowed).then(|| {
            format!(
                "{INTERVAL_LOG} lacks {missing} of the {answered} steady seconds with answers:                  it was cut short (a full disk, a killed run), so its percentiles describe a part"
            )
        })
    }
}

/// Each histogram of an interval log: its second, its tag and its `(value, count)` pairs.
fn histograms(log: &[u8]) -> impl Iterator<Item = (u64, String, Vec<(u64, u64)>)> + '_ {
    crate::hist::interval_histograms(log).map(|(t, tag, hist)| {
        let counts = hist
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        (t, tag, counts)
    })
}

/// The runs chosen as the baseline, and what was passed over.
#[derive(Debug, Default)]
pub struct Baselines {
    pub runs: Vec<(PathBuf, RunData)>,
    /// e.g. a directory of runs that holds no good run yet (a CI cache on its first day).
    pub notes: Vec<String>,
}

/// The baseline runs `paths` stand for. A path holding `run.json` is one run (and an
/// error if it cannot be read); any other directory is searched for the newest `last`
/// good runs of the test `name` (completed, and passed or without targets): the last N
/// good runs of a branch. A directory with none is a note, not an error.
pub fn baseline_runs(paths: &[PathBuf], name: &str, last: usize) -> Result<Baselines, StoreError> {
    let mut runs = Vec::new();
    let mut notes = Vec::new();
    for path in paths {
        if path.join("run.json").exists() || !path.is_dir() {
            runs.push((path.clone(), RunData::read(path)?));
            continue;
        }
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| StoreError::NotARun {
                dir: path.clone(),
                reason: format!("cannot list the directory: {e}"),
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("run.json").is_file())
            .collect();
        // Run ids start with the start time, so names sort oldest first.
        dirs.sort();
        let mut found = Vec::new();
        for dir in dirs.iter().rev() {
            if found.len() == last {
                break;
            }
            let Ok(result) = store::read(dir) else {
                continue;
            };
            let good = result.plan.name == name
                && result.outcome.status == RunStatus::Completed
                && matches!(
                    result.verdict.status,
                    VerdictStatus::Pass | VerdictStatus::NoTargets
                );
            if good {
                found.push((dir.clone(), RunData::with_result(dir, result)?));
            }
        }
        if found.is_empty() {
            notes.push(format!(
                "{} holds no good run of \"{name}\" yet (completed and passed): nothing to compare with",
                path.display()
            ));
        }
        found.reverse();
        runs.extend(found);
    }
    Ok(Baselines { runs, notes })
}

/// The newest baseline run with a usable profile, for the differential flame graph.
pub fn newest_with_profile(runs: &[(PathBuf, RunData)]) -> Option<(&Path, &RunResult)> {
    runs.iter()
        .rev()
        .find(|(_, r)| {
            r.result
                .profile
                .as_ref()
                .is_some_and(|p| p.status == ProfileStatus::Ok)
        })
        .map(|(dir, r)| (dir.as_path(), &r.result))
}
