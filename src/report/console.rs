//! The plain-text summary printed at the end of a run (and saved as `summary.txt`).

use std::io::Write;

use super::{Exporter, ReportError};
use crate::result::comparison::Comparison;
use crate::result::profile::ProfileStatus;
use crate::result::{
    Phase, RunResult, RunStatus, Stats, TargetOutcome, TargetResult, VerdictStatus,
};

pub struct ConsoleSummary;

impl Exporter for ConsoleSummary {
    fn file_name(&self) -> &'static str {
        "summary.txt"
    }

    fn export(&self, result: &RunResult, out: &mut dyn Write) -> Result<(), ReportError> {
        out.write_all(render(result).as_bytes())
            .map_err(super::io_error("the summary"))
    }
}

use crate::format::{cpu_ms, ms, value as number};
use crate::redact::{control, control_keeping_lines};

fn row(name: &str, s: &Stats, protocol: bool) -> Vec<String> {
    let mut cells = vec![
        name.to_string(),
        (s.requests + s.not_sent).to_string(),
        format!("{:.1}", s.rps),
        format!("{:.2}%", s.error_rate * 100.0),
    ];
    match &s.latency_ms {
        Some(l) => cells.extend([l.p50, l.p90, l.p95, l.p99, l.max].map(ms)),
        None => cells.extend(std::iter::repeat_n("-".to_string(), 5)),
    }
    if protocol {
        cells.push(super::reach_text::protocols(s));
    }
    cells
}

/// Rows as aligned columns. A cell is one line whatever it holds: text from
/// the SUT (reasons, frame names) has its control characters shown escaped.
fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| control(c).into_owned()).collect())
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c == 0 {
                    format!("{cell:<width$}", width = widths[c])
                } else {
                    format!("{cell:>width$}", width = widths[c])
                }
            })
            .collect();
        out.push_str("  ");
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The widest line of a table whose last column is free text (error reasons):
/// the summary reads the same in a terminal, a CI log and summary.txt.
const WIDTH: usize = 120;

/// `table`, with the last column's text wrapped at word boundaries so that no
/// line is wider than `width` (continuation lines start under that column).
fn wrapped_table(rows: &[Vec<String>], width: usize) -> String {
    let plain = table(rows);
    if plain.lines().all(|l| l.chars().count() <= width) {
        return plain;
    }
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let Some(last) = columns.checked_sub(1) else {
        return plain;
    };
    // Where the last column starts: the indent, every other column and its gap.
    let lead: usize = 2
        + (0..last)
            .map(|c| {
                rows.iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| control(s).chars().count())
                    .max()
                    .unwrap_or(0)
                    + 2
            })
            .sum::<usize>();
    let room = width.saturating_sub(lead).max(30);
    let wrapped: Vec<Vec<String>> = rows
        .iter()
        .map(|r| wrap(&control(r.last().map_or("", String::as_str)), room))
        .collect();
    // The table with each last cell's first line; the rest go under it.
    let firsts: Vec<Vec<String>> = rows
        .iter()
        .zip(&wrapped)
        .map(|(r, lines)| {
            let mut row = r[..r.len().saturating_sub(1)].to_vec();
            row.push(lines.first().cloned().unwrap_or_default());
            row
        })
        .collect();
    let mut out = String::new();
    for (line, lines) in table(&firsts).lines().zip(&wrapped) {
        out.push_str(line);
        out.push('\n');
        for more in lines.iter().skip(1) {
            out.push_str(&format!("{:lead$}{more}\n", ""));
        }
    }
    out
}

/// `text` in lines of at most `room` characters, broken at spaces where it can.
fn wrap(text: &str, room: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        while word.chars().count() > room {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let cut: String = word.chars().take(room).collect();
            word = word.chars().skip(room).collect();
            lines.push(cut);
        }
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// The summary. No control character from the SUT reaches the terminal or
/// summary.txt raw: ANSI escapes are shown as `\x1b`, whatever field held them.
pub fn render(result: &RunResult) -> String {
    let phase = result.primary_phase();
    let text = [
        header(result, phase),
        requests(result, phase),
        sockets(result),
        server_headers(result, phase),
        errors(result),
        resources(result),
        profile(result),
        outputs(result),
        result
            .comparison
            .as_ref()
            .map(comparison)
            .unwrap_or_default(),
        verdict(result),
    ]
    .concat();
    control_keeping_lines(&text).into_owned()
}

/// What `--out` delivered, one line per destination.
fn outputs(result: &RunResult) -> String {
    let mut out = String::new();
    for o in &result.outputs {
        out.push_str(&format!(
            "out {} {}: {} samples sent in {} writes, {} dropped",
            o.kind, o.url, o.samples_sent, o.writes_sent, o.samples_dropped
        ));
        if o.samples_dropped > 0 {
            out.push_str(&format!(
                " ({} with the queue full, {} in failed writes)",
                o.dropped_queue_full, o.dropped_failed
            ));
        }
        if let Some(e) = &o.last_error {
            out.push_str(&format!("; last error: {e}"));
        }
        out.push('\n');
    }
    out
}

/// The run's name, model, host, judged window, pace and how it ended.
fn header(result: &RunResult, phase: Phase) -> String {
    let plan = &result.plan;
    let window = result.window(phase);
    let mut out = format!(
        "gander {} · {} · {} · {}\n",
        result.provenance.gander_version,
        plan.name,
        super::load_text::model(plan),
        plan.host
    );
    out.push_str(&format!(
        "figures for the {}: {:.1}s of a {:.1}s run\n",
        phase.label(),
        window.len_s(),
        result.phases.total.len_s()
    ));
    if let Some(pace) = super::load_text::pace(&result.load) {
        out.push_str(&format!("pace: {pace}\n"));
    }
    if let Some(transport) = super::reach_text::transport(plan) {
        out.push_str(&format!("transport: {transport}\n"));
    }
    let word = match result.outcome.status {
        RunStatus::Completed => None,
        RunStatus::Interrupted => Some("INTERRUPTED"),
        RunStatus::Running => Some("RUNNING"),
        RunStatus::Killed => Some("KILLED"),
    };
    if let Some(word) = word {
        out.push_str(&format!(
            "{word}: {}\n",
            control(result.outcome.reason.as_deref().unwrap_or("stopped early"))
        ));
    }
    out.push('\n');
    out
}

/// Counts, rate, errors and latency per request name, and the total.
fn requests(result: &RunResult, phase: Phase) -> String {
    let protocol = super::reach_text::show_protocols(result);
    let mut header = [
        "name", "requests", "rps", "errors", "p50", "p90", "p95", "p99", "max",
    ]
    .map(String::from)
    .to_vec();
    if protocol {
        header.push("protocol".into());
    }
    let cost =
        result.totals.steady.cost.is_some() || result.endpoints.iter().any(|e| e.cost.is_some());
    if cost {
        header.push("CPU/req".into());
    }
    let mut rows = vec![header];
    let cpu = |c: Option<&crate::result::cost::Cost>| match c {
        Some(c) => format!(
            "{} {}",
            cpu_ms(c.cpu_ms_per_request.value),
            if c.method == crate::result::cost::CostMethod::Total {
                ""
            } else {
                c.method.label()
            }
        )
        .trim_end()
        .to_string(),
        None => "-".into(),
    };
    for e in &result.endpoints {
        rows.push(row(&e.name, e.stats.get(phase), protocol));
        if cost && let Some(r) = rows.last_mut() {
            r.push(cpu(e.cost.as_ref()));
        }
    }
    rows.push(row("TOTAL", result.totals.get(phase), protocol));
    if cost && let Some(r) = rows.last_mut() {
        r.push(cpu(result.totals.steady.cost.as_ref()));
    }
    let mut out = table(&rows);
    if let Some(note) = cost_note(result) {
        out.push_str(&format!("{note}\n"));
    }
    out
}

/// How the CPU/req column was measured, or how to get it per request name.
fn cost_note(result: &RunResult) -> Option<String> {
    let total = result.totals.steady.cost.as_ref()?;
    let i = total.cpu_ms_per_request;
    let mut note = format!(
        "SUT CPU per request: {} (95% {}..{}) over {} requests, CPU from {}",
        cpu_ms(i.value),
        cpu_ms(i.low),
        cpu_ms(i.high),
        total.requests,
        total.cpu_source
    );
    if result.endpoints.iter().all(|e| e.cost.is_none()) {
        note.push_str(&format!(
            "; {}",
            crate::result::cost::missing_cost(None, result.cost_sweep.as_ref())
        ));
    }
    Some(note)
}

/// What each request name's WebSockets did over the whole run.
fn sockets(result: &RunResult) -> String {
    let sockets = super::reach_text::sockets(result, |s| &s.all);
    if sockets.is_empty() {
        return String::new();
    }
    let mut rows = vec![
        ["socket", "sockets", "dropped", "received", "sent"]
            .map(String::from)
            .to_vec(),
    ];
    for (name, w) in sockets {
        rows.push(vec![
            name.to_string(),
            w.sockets.to_string(),
            w.dropped.to_string(),
            w.messages_received.to_string(),
            w.messages_sent.to_string(),
        ]);
    }
    format!("\nWebSockets (whole run): messages\n{}", table(&rows))
}

/// One column per server header, mean (max) per request name.
fn server_headers(result: &RunResult, phase: Phase) -> String {
    let mut metrics: Vec<&String> = result
        .endpoints
        .iter()
        .flat_map(|e| e.stats.get(phase).server_headers.keys())
        .collect();
    metrics.sort();
    metrics.dedup();
    if metrics.is_empty() {
        return String::new();
    }
    let mut rows = vec![
        std::iter::once("name".to_string())
            .chain(metrics.iter().map(|m| m.to_string()))
            .collect(),
    ];
    for e in &result.endpoints {
        let headers = &e.stats.get(phase).server_headers;
        if headers.is_empty() {
            continue;
        }
        let mut row = vec![e.name.clone()];
        for m in &metrics {
            row.push(match headers.get(*m) {
                Some(h) => format!("{} ({})", number(h.mean, &h.unit), number(h.max, &h.unit)),
                None => "-".into(),
            });
        }
        rows.push(row);
    }
    format!("\nserver headers: mean (max)\n{}", table(&rows))
}

/// The ten most frequent kinds of error over the whole run.
fn errors(result: &RunResult) -> String {
    const SHOWN: usize = 10;
    let groups = &result.errors.groups;
    if groups.is_empty() {
        return String::new();
    }
    let mut rows = vec![
        ["count", "status", "name", "reason"]
            .map(String::from)
            .to_vec(),
    ];
    for g in groups.iter().take(SHOWN) {
        let status = if g.status == 0 {
            "-".to_string()
        } else {
            g.status.to_string()
        };
        rows.push(vec![
            g.count.to_string(),
            status,
            g.endpoint.clone(),
            g.reason.clone(),
        ]);
    }
    let mut out = format!("\nerrors (whole run)\n{}", wrapped_table(&rows, WIDTH));
    if groups.len() > SHOWN {
        out.push_str(&format!(
            "  ... and {} more kinds, see run.json\n",
            groups.len() - SHOWN
        ));
    }
    out
}

/// Every target row worth showing, failed validity checks, notes and the verdict.
fn verdict(result: &RunResult) -> String {
    let verdict = &result.verdict;
    let mut out = String::new();
    let (shown, passed_regressions) = verdict.rows_to_show();
    if !verdict.targets.is_empty() {
        out.push_str("\ntargets\n");
        let rows: Vec<Vec<String>> = shown.into_iter().map(target_row).collect();
        out.push_str(&table(&rows));
        if passed_regressions > 0 {
            out.push_str(&format!(
                "  and {passed_regressions} regression checks passed (all rows in junit.xml and run.json)\n"
            ));
        }
    }
    for check in verdict.validity.iter().filter(|c| !c.ok) {
        out.push_str(&format!("INVALID: {}: {}\n", check.check, check.detail));
    }
    for note in &verdict.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    let status = match verdict.status {
        VerdictStatus::Pass => "PASS",
        VerdictStatus::Fail => "FAIL",
        VerdictStatus::Invalid => "INVALID",
        VerdictStatus::NoTargets => "no targets",
    };
    out.push_str(&format!("\nverdict: {status}\n"));
    // Close the loop: what a failed gate failed on, one line each.
    for t in verdict
        .targets
        .iter()
        .filter(|t| t.decisive && t.outcome != TargetOutcome::Pass)
    {
        let show = |v: f64| number(v, &t.unit);
        out.push_str(&format!(
            "  missed: {} of {}: {} (limit {} {})\n",
            t.metric,
            t.scope,
            t.observed.map(show).unwrap_or_else(|| "no data".into()),
            t.comparison,
            show(t.limit)
        ));
    }
    out
}

fn target_row(t: &TargetResult) -> Vec<String> {
    let show = |v: f64| number(v, &t.unit);
    let outcome = match (t.outcome, t.decisive) {
        (TargetOutcome::Pass, _) => "PASS".to_string(),
        (o, true) => o.label().to_uppercase(),
        (o, false) => format!("{} (warn)", o.label()),
    };
    vec![
        outcome,
        format!("{} of {}", t.metric, t.scope),
        t.observed.map(show).unwrap_or_else(|| "-".into()),
        format!("{} {}", t.comparison, show(t.limit)),
        t.detail.clone().unwrap_or_default(),
    ]
}

/// CPU and memory per source (avg, p95, max over the judged window), and health.
fn resources(result: &RunResult) -> String {
    let r = &result.resources;
    let mut rows = vec![
        ["source", "series", "avg", "p95", "max"]
            .map(String::from)
            .to_vec(),
    ];
    let mut problems = Vec::new();
    for source in &r.sources {
        let label = source.label();
        if let Some(e) = &source.last_error {
            problems.push(format!(
                "  {label}: {} failed samples; last: {}\n",
                source.failures,
                control(e)
            ));
        }
        for series in &source.series {
            if let Some(s) = series.summary {
                rows.push(vec![
                    label.clone(),
                    series.name.clone(),
                    number(s.avg, &series.unit),
                    number(s.p95, &series.unit),
                    number(s.max, &series.unit),
                ]);
            }
        }
    }
    let mut out = String::new();
    if rows.len() > 1 {
        out.push_str("\nresources\n");
        out.push_str(&table(&rows));
    }
    out.extend(problems);
    if let Some(l) = &r.launched {
        out.push_str(&format!(
            "  SUT launched as pid {} ({}), ready after {:.1}s; output in {}\n",
            l.pid,
            l.command.join(" "),
            l.ready_after_s,
            l.log_file
        ));
        if let Some(e) = &l.exited_early {
            out.push_str(&format!("  WARNING: {e}\n"));
        }
    }
    if let Some(h) = &r.health {
        let counts: Vec<String> = h
            .counts
            .iter()
            .map(|(state, n)| format!("{} {n}", state.label()))
            .collect();
        out.push_str(&format!("health {}: {}\n", h.url, counts.join(", ")));
    }
    out
}

/// Where the profile is, or why there is none, and the hottest functions.
fn profile(result: &RunResult) -> String {
    let Some(p) = &result.profile else {
        return String::new();
    };
    let mut out = format!("\nprofile ({} of {})", p.source, p.target);
    if let Some(w) = p.window {
        out.push_str(&format!(", {:.1}s-{:.1}s", w.start_s, w.end_s));
    }
    if p.status == ProfileStatus::Missing {
        out.push_str(&format!(
            ": MISSING, {}\n",
            control(p.reason.as_deref().unwrap_or("no reason recorded"))
        ));
        return out;
    }
    out.push_str(&format!(
        ": {} {}, {} requests in the window; flame graph in {}\n",
        p.samples,
        p.unit,
        p.requests_in_window,
        p.files.flamegraph.as_deref().unwrap_or("-")
    ));
    let mut rows = vec![["function", "self", "total"].map(String::from).to_vec()];
    for f in p.top.iter().take(8) {
        let name: String = f.function.chars().take(90).collect();
        rows.push(vec![
            name,
            format!("{:.1}%", f.self_share * 100.0),
            format!("{:.1}%", f.total_share * 100.0),
        ]);
    }
    out.push_str(&table(&rows));
    if let Some(d) = &p.diff {
        out.push_str(&format!(
            "against {}: differential flame graph in {}; grew most (self samples per 1000 requests):\n",
            d.baseline_run, d.flamegraph
        ));
        out.push_str(&format!("  {}\n", control(&diff_summary(d))));
        let mut rows = vec![["function", "baseline", "now"].map(String::from).to_vec()];
        for g in d.grew_most.iter().take(5) {
            rows.push(vec![
                g.function.chars().take(90).collect(),
                format!("{:.1}", g.baseline_per_1k),
                format!("{:.1}", g.current_per_1k),
            ]);
        }
        out.push_str(&table(&rows));
    }
    out
}

/// The samples behind a differential flame graph, and what it leaves white.
pub fn diff_summary(d: &crate::result::profile::ProfileDiff) -> String {
    match &d.too_few {
        Some(why) => format!("{why}; drawn without colours"),
        None => format!(
            "{} samples in the baseline, {} in this run; {} stacks within sampling noise drawn white",
            d.baseline_samples, d.samples, d.within_noise
        ),
    }
}

/// The figures that changed, or that a regression limit covers and are not clearly fine.
pub fn comparison(c: &Comparison) -> String {
    let mut out = format!("\ncompared with {}\n", c.baseline.join(", "));
    let mut rows = vec![
        [
            "figure", "scope", "baseline", "this run", "worse by", "interval", "verdict",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in c.rows_to_show() {
        let pct = |x: f64| r.show_change(x);
        rows.push(vec![
            r.figure.clone(),
            r.scope.clone(),
            number(r.base, &r.unit),
            number(r.new, &r.unit),
            pct(r.worse_by),
            r.interval
                .map(|[lo, hi]| format!("{}..{}", pct(lo), pct(hi)))
                .unwrap_or_else(|| "-".into()),
            r.verdict(),
        ]);
    }
    if rows.len() > 1 {
        out.push_str(&table(&rows));
    }
    out.push_str(&format!("compared: {}\n", c.tally()));
    let too_few = c.too_few();
    if !too_few.is_empty() {
        out.push_str(&format!("too few to compare: {}\n", too_few.join("; ")));
    }
    for note in &c.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    for why in &c.invalid {
        out.push_str(&format!("INVALID comparison: {why}\n"));
    }
    out
}

#[cfg(test)]
mod wrap_tests {
    use super::*;

    #[test]
    fn a_long_reason_wraps_under_its_column_within_the_width() {
        let reason = "connection failed: ".repeat(20);
        let rows = vec![
            ["count", "status", "name", "reason"]
                .map(String::from)
                .to_vec(),
            vec![
                "12".into(),
                "-".into(),
                "list bookings".into(),
                reason.clone(),
            ],
        ];
        let out = wrapped_table(&rows, 80);
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
        let start = out.lines().nth(1).unwrap().find("connection").unwrap();
        assert!(out.lines().count() > 3);
        for more in out.lines().skip(2) {
            assert_eq!(more.find(|c: char| c != ' '), Some(start), "{out}");
        }
        // Nothing lost: the words are all there, in order.
        let words: Vec<&str> = out
            .lines()
            .skip(1)
            .flat_map(|l| l[start..].split_whitespace())
            .collect();
        assert_eq!(words, reason.split_whitespace().collect::<Vec<_>>());
        // A table that fits is the plain one.
        assert_eq!(wrapped_table(&rows[..1], 80), table(&rows[..1]));
    }
}
