//! `gander merge`: the segment runs of one plan (`--segment i/N`, one common
//! `--start-at`) made into one run of the same schema. Histograms are added
//! (HDR merge, exact), counts and per-second series summed on the common time
//! axis, errors merged, the SUT's series and profile taken from segment 0.
//! The merged result is plain data: the verdict and the exporters then treat
//! it as any run.

mod check;
mod figures;
mod load;
mod parts;
mod series;

use std::path::PathBuf;

pub use check::MergeError;

use crate::result::RunResult;

/// One segment run as read from its directory.
#[derive(Debug, Clone)]
pub struct SegmentRun {
    pub dir: PathBuf,
    pub result: RunResult,
    /// `latency.hlog` and `headers.hlog`.
    pub interval_log: Vec<u8>,
    pub header_log: Vec<u8>,
}

/// The merged run: its result (not yet judged) and its interval logs.
#[derive(Debug)]
pub struct Merged {
    pub result: RunResult,
    pub interval_log: Vec<u8>,
    pub header_log: Vec<u8>,
}

/// Merges the segments of one run; refuses segments of different files,
/// plans or starts, and a set with a segment twice or missing.
pub fn merge(mut segments: Vec<SegmentRun>, run_id: String) -> Result<Merged, MergeError> {
    check::one_run(&segments)?;
    segments.sort_by_key(|s| s.result.provenance.segment.as_ref().map(|s| s.index));
    let shifts = check::shifts(&segments);
    let results: Vec<&RunResult> = segments.iter().map(|s| &s.result).collect();
    let logs = series::Logs::read(&segments, &shifts);
    let mut result = parts::merged(&results, &shifts, &segments, run_id);
    result.timeseries = series::timeseries(&results, &shifts, &logs);
    if let Some(window) = result.profile.as_ref().and_then(|p| p.window) {
        let requests = result.requests_within(window);
        if let Some(profile) = result.profile.as_mut() {
            profile.requests_in_window = requests;
        }
    }
    let window = result.window(result.primary_phase());
    result.resources.summarize(window);
    let endpoints: Vec<String> = result.endpoints.iter().map(|e| e.name.clone()).collect();
    let start = check::axis_start(&segments);
    Ok(Merged {
        interval_log: logs
            .latency
            .write(&crate::record::latency_log_comment(&endpoints), start),
        header_log: logs
            .headers
            .write(&crate::record::header_log_comment(&endpoints), start),
        result,
    })
}

#[cfg(test)]
mod tests;
