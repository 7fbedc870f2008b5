//! This run's profile against a baseline run's: a differential flame graph and
//! the functions that grew the most, both per request so that a run that
//! served more requests does not read as a run that costs more CPU.

use std::path::Path;

use crate::profile::folded::{self, Folded};
use crate::result::RunResult;
use crate::result::profile::{
    DIFF_FLAMEGRAPH_FILE, DIFF_FOLDED_FILE, FOLDED_FILE, ProfileDiff, ProfileReport, ProfileStatus,
};

/// How many grown functions `run.json` lists.
const GREW_N: usize = 15;

/// Writes `flamegraph-diff.svg` and its input, `flamegraph-diff.folded`, into
/// `dir`; `None` when the baseline has no usable profile.
pub fn against(
    base_dir: &Path,
    base: &RunResult,
    current: &Folded,
    report: &ProfileReport,
    dir: &Path,
) -> anyhow::Result<Option<ProfileDiff>> {
    let Some(base_profile) = base
        .profile
        .as_ref()
        .filter(|p| p.status == ProfileStatus::Ok && p.requests_in_window > 0)
    else {
        return Ok(None);
    };
    if report.status != ProfileStatus::Ok || report.requests_in_window == 0 {
        return Ok(None);
    }
    let file = base_profile.files.folded.as_deref().unwrap_or(FOLDED_FILE);
    let Ok(text) = std::fs::read_to_string(base_dir.join(file)) else {
        return Ok(None);
    };
    let Ok(base_folded) = Folded::parse(&text) else {
        return Ok(None);
    };
    let (b_req, c_req) = (base_profile.requests_in_window, report.requests_in_window);
    let lines = folded::differential_lines(&base_folded, b_req, current, c_req);
    let svg = folded::differential_svg(
        &lines,
        &format!(
            "{} vs {}: differential flame graph",
            base.run_id,
            report_run(dir)
        ),
        "per request; red: more CPU per request than the baseline, blue: less",
    )?;
    crate::store::write_file(dir, DIFF_FLAMEGRAPH_FILE, &svg)?;
    let mut text = lines.join("\n");
    text.push('\n');
    crate::store::write_file(dir, DIFF_FOLDED_FILE, text.as_bytes())?;
    Ok(Some(ProfileDiff {
        baseline_run: base.run_id.clone(),
        flamegraph: DIFF_FLAMEGRAPH_FILE.to_string(),
        folded: Some(DIFF_FOLDED_FILE.to_string()),
        grew_most: folded::grew_most(&base_folded, b_req, current, c_req, GREW_N),
    }))
}

fn report_run(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
