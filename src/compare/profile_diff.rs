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
    let counts = [&base_profile.unit, &report.unit]
        .iter()
        .all(|u| matches!(u.as_str(), "samples" | "count" | ""));
    let diff = folded::differential(&base_folded, b_req, current, c_req, counts);
    let (b_n, c_n) = diff.samples;
    let mut subtitle = format!(
        "per request; red: more CPU per request than the baseline, blue: less, full colour at \
         {:.0}% of the profile; white: within sampling noise ({} standard errors) · {b_n} \
         samples in the baseline, {c_n} in this run",
        folded::FULL_COLOUR_SHARE * 100.0,
        folded::NOISE_Z
    );
    if let Some(why) = &diff.too_few {
        subtitle = format!("{why} · drawn without colours");
    }
    let svg = folded::differential_svg(
        &diff.drawn,
        &format!(
            "{} vs {}: differential flame graph",
            base.run_id,
            report_run(dir)
        ),
        &subtitle,
    )?;
    crate::store::write_file(dir, DIFF_FLAMEGRAPH_FILE, &svg)?;
    let mut text = diff.measured.join("\n");
    text.push('\n');
    crate::store::write_file(dir, DIFF_FOLDED_FILE, text.as_bytes())?;
    let grew_most = match diff.too_few {
        Some(_) => Vec::new(),
        None => folded::grew_most(&base_folded, b_req, current, c_req, GREW_N),
    };
    Ok(Some(ProfileDiff {
        baseline_run: base.run_id.clone(),
        flamegraph: DIFF_FLAMEGRAPH_FILE.to_string(),
        folded: Some(DIFF_FOLDED_FILE.to_string()),
        grew_most,
        baseline_samples: b_n,
        samples: c_n,
        within_noise: diff.within_noise,
        too_few: diff.too_few,
    }))
}

fn report_run(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
