//! This run's profile against a baseline run's: a differential flame graph and
//! the functions that grew the most, both per request so that a run that
//! served more requests does not read as a run that costs more CPU.

use std::path::Path;

use crate::profile::folded::{self, Folded};
use crate::result::RunResult;
use crate::result::cost::CostMethod;
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
    let svg = folded::differential_svg(
        &diff.drawn,
        &format!(
            "{} vs {}: differential flame graph",
            base.run_id,
            report_run(dir)
        ),
        &subtitle(&diff),
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

/// What a differential's colours mean, or why it has none.
fn subtitle(diff: &folded::Differential) -> String {
    let (b_n, c_n) = diff.samples;
    match &diff.too_few {
        Some(why) => format!("{why} · drawn without colours"),
        None => format!(
            "per request; red: more CPU per request than the baseline, blue: less, full colour \
             at {:.0}% of the profile; white: within sampling noise ({} standard errors) · \
             {b_n} samples in the baseline, {c_n} in this run",
            folded::FULL_COLOUR_SHARE * 100.0,
            folded::NOISE_Z
        ),
    }
}

/// One request name's labelled profile, ready to compare: its folded stacks
/// (read from `dir`) and its requests in the profile's window.
fn labelled(dir: &Path, run: &RunResult, name: &str) -> Option<(Folded, u64)> {
    let profile = run
        .profile
        .as_ref()
        .filter(|p| p.status == ProfileStatus::Ok)?;
    let part = profile.by_request.iter().find(|r| r.name == name)?;
    // Runs that did not record the requests: the figure by labels divided by them.
    let requests = match part.requests {
        0 => run
            .endpoints
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.cost.as_ref())
            .filter(|c| c.method == CostMethod::Labels)
            .map_or(0, |c| c.requests),
        n => n,
    };
    let file = Path::new(part.folded.as_deref()?).file_name()?;
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    let folded = Folded::parse(&text).ok()?;
    (requests > 0 && !folded.is_empty()).then_some((folded, requests))
}

/// Per request name in both runs' labelled profiles, a differential flame
/// graph per request of that name: `flamegraph-diff-request-<i>-<slug>.svg`
/// (and its input, `.folded`) in `out`, `i` the name's place in `current`'s
/// `profile.by_request`. Returns each drawn name's index there and its file.
pub fn by_request(
    base: (&Path, &RunResult),
    current: (&Path, &RunResult),
    out: &Path,
) -> anyhow::Result<Vec<(usize, String)>> {
    let names = current
        .1
        .profile
        .iter()
        .flat_map(|p| &p.by_request)
        .map(|r| r.name.as_str());
    draw_each(Part::Labelled, base, current, names, out)
}

/// A request name's profile alone (the cost sweep), ready to compare: its
/// folded stacks (read from `dir`) and its requests in the seconds profiled
/// (runs that did not record them: those its CPU figure divides by).
fn alone(dir: &Path, run: &RunResult, name: &str) -> Option<(Folded, u64)> {
    let cost = run
        .endpoints
        .iter()
        .find(|e| e.name == name)?
        .cost
        .as_ref()?;
    let alone = cost.alone.as_ref()?;
    let file = Path::new(alone.folded.as_deref()?).file_name()?;
    let folded = Folded::parse(&std::fs::read_to_string(dir.join(file)).ok()?).ok()?;
    let requests = alone.profiled_requests.unwrap_or(cost.requests);
    (requests > 0 && !folded.is_empty()).then_some((folded, requests))
}

/// Each request name's profile alone (the cost sweep) against the
/// baseline's alone, per request: `flamegraph-diff-alone-<i>-<slug>.svg` (and
/// `.folded`) in `out`, `i` the name's place in `current.endpoints`. Returns
/// each drawn name's index and its file.
pub fn alone_diffs(
    base: (&Path, &RunResult),
    current: (&Path, &RunResult),
    out: &Path,
) -> anyhow::Result<Vec<(usize, String)>> {
    let names = current.1.endpoints.iter().map(|e| e.name.as_str());
    draw_each(Part::Alone, base, current, names, out)
}

/// Which profile of a request name a per-name differential compares.
#[derive(Clone, Copy)]
enum Part {
    /// Its labelled samples in the run's profile.
    Labelled,
    /// Its profile alone, from the cost sweep.
    Alone,
}

impl Part {
    fn read(self, dir: &Path, run: &RunResult, name: &str) -> Option<(Folded, u64)> {
        match self {
            Part::Labelled => labelled(dir, run, name),
            Part::Alone => alone(dir, run, name),
        }
    }
}

/// For each of `names` (indexed by their place) found in both runs, its
/// differential flame graph per request, drawn into `out`.
fn draw_each<'a>(
    part: Part,
    (base_dir, base): (&Path, &RunResult),
    (current_dir, current): (&Path, &RunResult),
    names: impl Iterator<Item = &'a str>,
    out: &Path,
) -> anyhow::Result<Vec<(usize, String)>> {
    let counts = both_count_samples(base, current);
    let (kind, what) = match part {
        Part::Labelled => ("request", ""),
        Part::Alone => ("alone", " alone"),
    };
    let mut drawn = Vec::new();
    for (i, name) in names.enumerate() {
        let (Some((b, b_req)), Some((c, c_req))) = (
            part.read(base_dir, base, name),
            part.read(current_dir, current, name),
        ) else {
            continue;
        };
        let title = format!(
            "{name}{what}: {} vs {}, differential flame graph",
            base.run_id, current.run_id
        );
        let stem = format!("flamegraph-diff-{kind}-{i}-{}", crate::store::slug(name));
        let file = draw_per_request(out, &stem, &title, (&b, b_req), (&c, c_req), counts)?;
        drawn.push((i, file));
    }
    Ok(drawn)
}

/// Fills each request name's `cost.alone.diff_flamegraph` against the
/// baseline's sweep, drawn into the run's own directory.
pub fn fill_alone(
    base: (&Path, &RunResult),
    dir: &Path,
    current: &mut RunResult,
) -> anyhow::Result<()> {
    for (i, file) in alone_diffs(base, (dir, current), dir)? {
        if let Some(a) = current.endpoints[i]
            .cost
            .as_mut()
            .and_then(|c| c.alone.as_mut())
        {
            a.diff_flamegraph = Some(file);
        }
    }
    Ok(())
}

/// Whether both runs' profiles count samples (not weights such as
/// nanoseconds), so that sampling noise can be judged.
fn both_count_samples(base: &RunResult, current: &RunResult) -> bool {
    [base.profile.as_ref(), current.profile.as_ref()]
        .iter()
        .flatten()
        .all(|p| matches!(p.unit.as_str(), "samples" | "count" | ""))
}

/// One differential flame graph per request, `<stem>.svg`, and its input,
/// `<stem>.folded`, written into `out`; returns the SVG's file name.
fn draw_per_request(
    out: &Path,
    stem: &str,
    title: &str,
    (base, base_requests): (&Folded, u64),
    (current, requests): (&Folded, u64),
    counts: bool,
) -> anyhow::Result<String> {
    let diff = folded::differential(base, base_requests, current, requests, counts);
    let svg = folded::differential_svg(&diff.drawn, title, &subtitle(&diff))?;
    crate::store::write_file(out, &format!("{stem}.svg"), &svg)?;
    let mut text = diff.measured.join("\n");
    text.push('\n');
    crate::store::write_file(out, &format!("{stem}.folded"), text.as_bytes())?;
    Ok(format!("{stem}.svg"))
}

/// Fills each labelled request name's `diff_flamegraph` against the baseline.
pub fn fill_by_request(
    baseline: (&Path, &RunResult),
    dir: &Path,
    current: &mut RunResult,
) -> anyhow::Result<()> {
    let drawn = by_request(baseline, (dir, current), dir)?;
    if let Some(report) = current.profile.as_mut() {
        for (i, file) in drawn {
            if let Some(part) = report.by_request.get_mut(i) {
                part.diff_flamegraph = Some(file);
            }
        }
    }
    Ok(())
}

fn report_run(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
