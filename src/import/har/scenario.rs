//! Pass 4, emit (the file): the steps correlated, laid out as one scenario:
//! what ran before the login once per user, the think time from the recorded
//! pauses, and a header and summary that say what was left out and why.

use std::time::Duration;

use super::super::emit::{self, FlowOut, LeftOut, ScenarioOut, StepOut};
use super::super::{Generated, Origin, format_ms};
use super::HarOptions;
use super::correlate::Correlated;
use super::filter::{Filtered, counted};
use super::step::human_ms;

/// Gaps shorter than this are the browser firing requests together, not a person thinking.
const BURST_MS: u64 = 100;

/// The scenario file and the console's summary.
pub(super) fn emit(
    origin: &Origin,
    total: usize,
    filtered: &Filtered,
    mut correlated: Correlated,
    options: &HarOptions,
) -> Generated {
    let kept = &filtered.kept;
    let mut steps = std::mem::take(&mut correlated.steps);
    let think_time = think(kept_gaps(filtered), &mut steps, options.max_think);
    let (on_start, steps) = match correlated.login {
        Some(k) if k + 1 < steps.len() => {
            let rest = steps.split_off(k + 1);
            (steps, rest)
        }
        _ => (Vec::new(), steps),
    };
    let on_start_note = if on_start.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "Once per user: the recorded requests up to the login (request {}).",
            kept[correlated.login.unwrap_or(0)].number
        )]
    };
    let left_notes = left_notes(filtered);
    let summary = summary(total, filtered, &correlated, &left_notes, on_start.len());
    let mut header = vec![
        format!(
            "Imported by `gander import har` from {origin}: {total} recorded requests, {} kept.",
            kept.len()
        ),
        "Values the service handed out are captured where they first appeared and sent back as ${var}.".into(),
        "Check it with: gander check FILE    Run it with: gander run FILE".into(),
    ];
    for note in &left_notes {
        header.push(format!("Left out: {note}."));
    }
    if correlated.jar_cookies {
        header.push("A cookie set by a redirect is sent back by the users' cookie jars, so no Cookie header is written.".into());
    }
    let scenario = ScenarioOut {
        header,
        name: slug(&name(origin)),
        host: filtered.primary.clone(),
        host_note: Some("the host the recording started on".into()),
        variables: correlated.variables,
        flow: FlowOut {
            name: "recorded user".into(),
            think_time,
            on_start_note,
            on_start,
            steps,
            left_out: Vec::<LeftOut>::new(),
        },
        target_examples: vec![
            "Set the limits below from a first clean run, then uncomment them:".into(),
            "p95: 500ms                           # 95 % of requests faster than this".into(),
            "throughput: 20/s                     # at least this many requests per second".into(),
        ],
    };
    Generated {
        yaml: emit::render(&scenario),
        summary,
        todo: Vec::new(),
    }
}

/// One-line facts for the console.
fn summary(
    total: usize,
    filtered: &Filtered,
    correlated: &Correlated,
    left_notes: &[String],
    on_start: usize,
) -> Vec<String> {
    let mut summary = vec![format!(
        "{} steps from {total} recorded requests",
        filtered.kept.len()
    )];
    if !left_notes.is_empty() {
        summary.push(format!("left out: {}", left_notes.join("; ")));
    }
    if !correlated.captured.is_empty() {
        summary.push(format!(
            "captured and sent back: {}",
            correlated.captured.join(", ")
        ));
    }
    if on_start > 0 {
        summary.push(format!(
            "on_start: the first {on_start} requests, up to the login"
        ));
    }
    if correlated.hard_coded > 0 {
        summary.push(format!(
            "{} values stay as recorded: search the file for \"hard-coded\"",
            correlated.hard_coded
        ));
    }
    summary
}

/// The recorded pause before each kept request (the first has none).
fn kept_gaps(filtered: &Filtered) -> Vec<u64> {
    let kept = &filtered.kept;
    (1..kept.len())
        .map(|k| (kept[k].start_ms - kept[k - 1].end_ms).max(0.0) as u64)
        .collect()
}

/// Notes each step's pause, and the think time they add up to.
fn think(gaps: Vec<u64>, steps: &mut [StepOut], max_think: Duration) -> Option<(String, String)> {
    let mut thinking = Vec::new();
    for (k, gap) in gaps.into_iter().enumerate() {
        let capped = gap.min(max_think.as_millis() as u64);
        steps[k + 1].notes[0]
            .push_str(&format!(" ({} after the previous response)", human_ms(gap)));
        if capped >= BURST_MS {
            thinking.push(capped);
        }
    }
    think_time(&thinking, max_think)
}

/// What was left out, one line per reason.
fn left_notes(filtered: &Filtered) -> Vec<String> {
    let mut counted_reasons: Vec<(String, usize)> = Vec::new();
    for s in &filtered.skipped {
        match counted_reasons.iter_mut().find(|(t, _)| t == s) {
            Some((_, n)) => *n += 1,
            None => counted_reasons.push((s.clone(), 1)),
        }
    }
    let mut notes: Vec<String> = counted_reasons
        .iter()
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    if !filtered.other_hosts.is_empty() {
        notes.push(format!(
            "requests to other hosts: {} (--include-host HOST keeps one)",
            counted(&filtered.other_hosts)
        ));
    }
    let redirects = filtered
        .kept
        .iter()
        .filter(|r| r.redirected_to.is_some())
        .count();
    if redirects > 0 {
        notes.push(format!(
            "{redirects} redirect targets: the client follows the redirect of the step before"
        ));
    }
    notes
}

/// The scenario's name: the recording's file name.
fn name(origin: &Origin) -> String {
    match origin {
        Origin::File(p) => p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recording".into()),
        Origin::Url(u) => u.path().to_string(),
    }
}

/// `min..max` of the recorded pauses, each capped.
fn think_time(gaps: &[u64], cap: Duration) -> Option<(String, String)> {
    let min = *gaps.iter().min()?;
    let max = *gaps.iter().max()?;
    let round = |ms: u64| (ms / 100).max(1) * 100;
    let (lo, hi) = (round(min), round(max));
    let text = if lo == hi {
        format_ms(lo)
    } else {
        format!("{}..{}", format_ms(lo), format_ms(hi))
    };
    Some((
        text,
        format!(
            "the recorded pauses between requests ({} of them, each capped at {}; --max-think changes the cap)",
            gaps.len(),
            format_ms(cap.as_millis() as u64)
        ),
    ))
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "recording".into()
    } else {
        out
    }
}
