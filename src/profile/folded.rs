//! Folded stacks (`root;caller;leaf count`), the one form every profiler is
//! turned into: flame graphs, top-N tables and differentials start here.

use std::collections::{BTreeMap, HashMap, HashSet};

pub use crate::result::profile::{FunctionDelta, FunctionShare};

/// Sampled stacks, root first, frames joined with `;`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Folded {
    stacks: BTreeMap<String, u64>,
}

/// A line that is not a folded stack (`frames;... count`).
#[derive(Debug, thiserror::Error)]
#[error("line {line} is not a folded stack (\"frames;... count\"): {shown:?}")]
pub struct FoldedError {
    line: usize,
    /// The line's first 80 characters.
    shown: String,
}

impl Folded {
    /// Parses folded lines; blank lines are skipped, anything else malformed is an error.
    pub fn parse(text: &str) -> Result<Folded, FoldedError> {
        let mut folded = Folded::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            let parsed = line
                .rsplit_once(' ')
                .and_then(|(stack, count)| Some((stack.trim(), count.parse::<u64>().ok()?)));
            match parsed {
                Some((stack, count)) if !stack.is_empty() => folded.add(stack, count),
                _ => {
                    let shown: String = line.chars().take(80).collect();
                    return Err(FoldedError { line: n + 1, shown });
                }
            }
        }
        Ok(folded)
    }

    pub fn add(&mut self, stack: &str, count: u64) {
        if count > 0 {
            // Saturating: a profiler's counts are the SUT's, and may be absurd.
            let n = self.stacks.entry(stack.to_string()).or_default();
            *n = n.saturating_add(count);
        }
    }

    pub fn from_stacks<I: IntoIterator<Item = (String, u64)>>(stacks: I) -> Folded {
        let mut folded = Folded::default();
        for (stack, count) in stacks {
            folded.add(&stack, count);
        }
        folded
    }

    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    pub fn total(&self) -> u64 {
        self.stacks.values().fold(0u64, |a, &n| a.saturating_add(n))
    }

    /// Sorted lines, as inferno and `flamegraph.pl` read them.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (stack, count) in &self.stacks {
            out.push_str(stack);
            out.push(' ');
            out.push_str(&count.to_string());
            out.push('\n');
        }
        out
    }

    /// The heaviest stacks, heaviest first.
    pub fn hottest(&self, n: usize) -> Vec<(&str, u64)> {
        let mut all: Vec<(&str, u64)> = self.stacks.iter().map(|(s, c)| (s.as_str(), *c)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        all.truncate(n);
        all
    }

    fn self_and_total(&self) -> (HashMap<&str, u64>, HashMap<&str, u64>) {
        let mut own: HashMap<&str, u64> = HashMap::new();
        let mut total: HashMap<&str, u64> = HashMap::new();
        for (stack, &count) in &self.stacks {
            let frames: Vec<&str> = stack.split(';').collect();
            if let Some(leaf) = frames.last() {
                let n = own.entry(leaf).or_default();
                *n = n.saturating_add(count);
            }
            // A recursive function counts once per stack.
            let distinct: HashSet<&str> = frames.into_iter().collect();
            for frame in distinct {
                let n = total.entry(frame).or_default();
                *n = n.saturating_add(count);
            }
        }
        (own, total)
    }

    /// The `n` functions with the most self samples, with their total share too.
    pub fn top(&self, n: usize) -> Vec<FunctionShare> {
        let all = self.total().max(1) as f64;
        let (own, total) = self.self_and_total();
        let mut rows: Vec<FunctionShare> = own
            .iter()
            .map(|(f, &s)| FunctionShare {
                function: f.to_string(),
                self_samples: s,
                self_share: s as f64 / all,
                total_samples: total.get(f).copied().unwrap_or(s),
                total_share: total.get(f).copied().unwrap_or(s) as f64 / all,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.self_samples
                .cmp(&a.self_samples)
                .then(b.total_samples.cmp(&a.total_samples))
                .then(a.function.cmp(&b.function))
        });
        rows.truncate(n);
        rows
    }

    /// An interactive SVG flame graph (search, zoom) by inferno.
    pub fn flamegraph(
        &self,
        title: &str,
        subtitle: &str,
        count_name: &str,
    ) -> std::io::Result<Vec<u8>> {
        let mut options = inferno::flamegraph::Options::default();
        options.title = title.to_string();
        options.subtitle = Some(subtitle.to_string());
        options.count_name = count_name.to_string();
        options.deterministic = true;
        options.image_width = Some(IMAGE_WIDTH);
        let text = self.to_text();
        let mut svg = Vec::new();
        inferno::flamegraph::from_lines(&mut options, text.lines(), &mut svg)?;
        Ok(svg)
    }
}

/// The frame py-spy `--subprocesses` puts first for each process, as it writes
/// it: `process 9707:"/usr/bin/python3 app.py --port 8000"`. Every stack starts
/// with the chain of these from the profiled root down to the sampled process:
/// `process 9635:"python3 app.py";process 9707:"python3 app.py";<module> (app.py);...`.
const PROCESS_FRAME: &str = "process ";

/// What a process frame becomes: the process's place in the profiled tree.
fn process_role(depth: usize) -> String {
    match depth {
        0 => "process root".to_string(),
        1 => "process child".to_string(),
        2 => "process grandchild".to_string(),
        n => format!("process at depth {n}"),
    }
}

/// The length of the py-spy process frame at the start of `stack`, with the
/// `;` after it, if `stack` starts with one. The command line is quoted and
/// may hold `;`: the frame ends at the first `";` (or at the end of the stack).
fn process_frame_len(stack: &str) -> Option<usize> {
    let rest = stack.strip_prefix(PROCESS_FRAME)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || !rest[digits..].starts_with(":\"") {
        return None;
    }
    let body = PROCESS_FRAME.len() + digits + 2;
    match stack[body..].find("\";") {
        Some(end) => Some(body + end + 2),
        None if stack.ends_with('"') => Some(stack.len()),
        None => None,
    }
}

/// `stack` with its leading py-spy process frames replaced by their roles.
fn stack_by_process_role(stack: &str) -> std::borrow::Cow<'_, str> {
    let mut rest = stack;
    let mut roles = Vec::new();
    while let Some(len) = process_frame_len(rest) {
        roles.push(process_role(roles.len()));
        rest = &rest[len..];
    }
    if roles.is_empty() {
        return stack.into();
    }
    if !rest.is_empty() {
        roles.push(rest.to_string());
    }
    roles.join(";").into()
}

impl Folded {
    /// The same samples with py-spy's process frames (`process PID:"CMDLINE"`)
    /// replaced by each process's place in the profiled tree (`process root`,
    /// `process child`, ...). Pids change from run to run and command lines
    /// carry ports and paths, so without this two runs of the same code share
    /// no stack; workers at the same depth merge, as the load spreads over
    /// them at random. Other stacks are kept as they are.
    pub fn by_process_role(&self) -> Folded {
        Folded::from_stacks(
            self.stacks
                .iter()
                .map(|(s, &c)| (stack_by_process_role(s).into_owned(), c)),
        )
    }
}

/// Scales a profile to samples per million requests, so that a run that served
/// more requests does not read as a run that costs more CPU.
fn per_million(folded: &Folded, requests: u64) -> BTreeMap<&str, f64> {
    let factor = 1e6 / requests.max(1) as f64;
    folded
        .stacks
        .iter()
        .map(|(s, &c)| (s.as_str(), c as f64 * factor))
        .collect()
}

/// The input of a differential flame graph, one line per stack:
/// `stack baseline current`, both in samples per million requests rounded to
/// integers (the form `difffolded.pl` writes and inferno reads), sorted by stack.
/// Process frames are compared by role ([`Folded::by_process_role`]).
pub fn differential_lines(
    baseline: &Folded,
    baseline_requests: u64,
    current: &Folded,
    current_requests: u64,
) -> Vec<String> {
    differential(baseline, baseline_requests, current, current_requests, true).measured
}

/// A flame graph's width in pixels, fixed: inferno's "fluid" drawing sizes the
/// frames to the SVG's viewport at load, which is 0 wide in a report section
/// not yet shown, and then sets a negative width (the console error
/// `<svg> attribute width: A negative value`).
const IMAGE_WIDTH: usize = 1200;

/// Changes of a stack within this many standard errors of sampling noise are
/// drawn unchanged (white).
pub const NOISE_Z: f64 = 2.0;
/// A change of a stack by this share of the profile (per request) is drawn in
/// full colour: the colours read the same in every comparison, and identical
/// code does not paint saturated colours for changes under 1 %.
pub const FULL_COLOUR_SHARE: f64 = 0.10;
/// Fewer samples than this on a side: the differential is not painted.
pub const MIN_DIFF_SAMPLES: u64 = 400;

/// What a differential flame graph draws.
pub struct Differential {
    /// `stack baseline current` per stack (per million requests), as measured.
    pub measured: Vec<String>,
    /// The same, with the changes within noise made nil and a reference line
    /// of no width fixing the colour scale: what is drawn.
    pub drawn: Vec<String>,
    /// Samples on each side (baseline, current).
    pub samples: (u64, u64),
    /// Stacks whose change is within sampling noise.
    pub within_noise: usize,
    /// Why the changes are not painted at all.
    pub too_few: Option<String>,
}

/// The number of samples a profile holds, and what one sample weighs in its
/// values: 1 for sample counts; for a unit of time (perf's nanoseconds) the
/// smallest value of a stack, one sample's period.
fn sample_weight(folded: &Folded, counts: bool) -> (u64, f64) {
    let total = folded.total();
    let weight = if counts {
        1.0
    } else {
        folded
            .stacks
            .values()
            .copied()
            .filter(|&v| v > 0)
            .min()
            .unwrap_or(1) as f64
    };
    ((total as f64 / weight).round() as u64, weight)
}

/// The differential of two profiles per request, with sampling noise and an
/// absolute colour scale (see [`Differential`]). `counts`: the values are
/// sample counts (else a unit of time, each sample one period).
pub fn differential(
    baseline: &Folded,
    baseline_requests: u64,
    current: &Folded,
    current_requests: u64,
    counts: bool,
) -> Differential {
    let (baseline, current) = (baseline.by_process_role(), current.by_process_role());
    let ((b_n, b_w), (c_n, c_w)) = (
        sample_weight(&baseline, counts),
        sample_weight(&current, counts),
    );
    let (fb, fc) = (
        1e6 / baseline_requests.max(1) as f64,
        1e6 / current_requests.max(1) as f64,
    );
    let before = per_million(&baseline, baseline_requests);
    let after = per_million(&current, current_requests);
    let mut stacks: Vec<&str> = before.keys().chain(after.keys()).copied().collect();
    stacks.sort_unstable();
    stacks.dedup();
    let too_few = (b_n < MIN_DIFF_SAMPLES || c_n < MIN_DIFF_SAMPLES).then(|| {
        format!(
            "too few samples to compare: {b_n} in the baseline and {c_n} in this run (needs \
             {MIN_DIFF_SAMPLES} on each side; one sample is {:.1}% of the smaller profile): \
             profile a longer window or at a higher rate",
            100.0 / b_n.min(c_n).max(1) as f64
        )
    });
    let (mut measured, mut drawn, mut within_noise) = (Vec::new(), Vec::new(), 0);
    for s in stacks {
        let (b, a) = (
            before.get(s).copied().unwrap_or(0.0),
            after.get(s).copied().unwrap_or(0.0),
        );
        // Poisson counts: the variance of a scaled count is count × scale².
        let se = (b * b_w * fb + a * c_w * fc).sqrt();
        let (b_i, a_i) = (b.round() as u64, a.round() as u64);
        measured.push(format!("{s} {b_i} {a_i}"));
        let noise = (a - b).abs() <= NOISE_Z * se;
        within_noise += usize::from(noise && b_i != a_i);
        let shown_before = if noise || too_few.is_some() { a_i } else { b_i };
        drawn.push(format!("{s} {shown_before} {a_i}"));
    }
    // A line of no width whose change is the full-colour share: inferno scales
    // its colours to the largest change, which is then at least this.
    let total: f64 = after.values().sum();
    let scale = (total * FULL_COLOUR_SHARE).round().max(1.0) as u64;
    drawn.push(format!("{SCALE_FRAME} {scale} 0"));
    drawn.sort_unstable();
    Differential {
        measured,
        drawn,
        samples: (b_n, c_n),
        within_noise,
        too_few,
    }
}

/// The name of the differential's colour-scale reference (never drawn: no width).
const SCALE_FRAME: &str = "gander colour scale";

/// A differential flame graph (red: more samples per request than the baseline,
/// blue: fewer), drawn on the current profile's shape, from [`differential_lines`].
pub fn differential_svg(lines: &[String], title: &str, subtitle: &str) -> std::io::Result<Vec<u8>> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.subtitle = Some(subtitle.to_string());
    options.count_name = "samples per 1M requests".to_string();
    options.deterministic = true;
    options.image_width = Some(IMAGE_WIDTH);
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)?;
    Ok(svg)
}

/// The functions whose self cost per request grew the most, largest growth first.
/// Process frames are compared by role ([`Folded::by_process_role`]).
pub fn grew_most(
    baseline: &Folded,
    baseline_requests: u64,
    current: &Folded,
    current_requests: u64,
    n: usize,
) -> Vec<FunctionDelta> {
    let per = |f: &Folded, requests: u64| -> HashMap<String, f64> {
        let factor = 1000.0 / requests.max(1) as f64;
        f.by_process_role()
            .self_and_total()
            .0
            .into_iter()
            .map(|(k, v)| (k.to_string(), v as f64 * factor))
            .collect()
    };
    let before = per(baseline, baseline_requests);
    let after = per(current, current_requests);
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort_unstable();
    names.dedup();
    let mut rows: Vec<FunctionDelta> = names
        .into_iter()
        .map(|name| {
            let b = before.get(name).copied().unwrap_or(0.0);
            let a = after.get(name).copied().unwrap_or(0.0);
            FunctionDelta {
                function: name.clone(),
                baseline_per_1k: b,
                current_per_1k: a,
                delta_per_1k: a - b,
            }
        })
        .filter(|d| d.delta_per_1k > 0.0)
        .collect();
    rows.sort_by(|x, y| {
        y.delta_per_1k
            .total_cmp(&x.delta_per_1k)
            .then(x.function.cmp(&y.function))
    });
    rows.truncate(n);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Folded {
        Folded::parse(
            "main;serve;handler;db 30\nmain;serve;handler 10\nmain;idle 5\nmain;a;a;a 5\n",
        )
        .unwrap()
    }

    #[test]
    fn parses_and_writes_back_sorted() {
        let f = sample();
        assert_eq!(f.total(), 50);
        assert_eq!(Folded::parse(&f.to_text()).unwrap(), f);
        assert!(
            Folded::parse("no count here\n")
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        assert!(Folded::parse("\x1f\u{8b}\u{8}garbage").is_err());
    }

    #[test]
    fn top_counts_self_at_the_leaf_and_total_once_per_stack() {
        let top = sample().top(10);
        assert_eq!(top[0].function, "db");
        assert_eq!(top[0].self_samples, 30);
        let handler = top.iter().find(|r| r.function == "handler").unwrap();
        assert_eq!((handler.self_samples, handler.total_samples), (10, 40));
        let a = top.iter().find(|r| r.function == "a").unwrap();
        assert_eq!(a.total_samples, 5, "recursion counts once");
        assert!(top.iter().all(|r| r.self_share <= r.total_share));
    }

    #[test]
    fn growth_is_per_request_not_per_sample() {
        let base = Folded::parse("main;work 100\nmain;db 100\n").unwrap();
        // Twice the requests, twice the samples for work; db per request tripled.
        let current = Folded::parse("main;work 200\nmain;db 600\n").unwrap();
        let grew = grew_most(&base, 1000, &current, 2000, 5);
        assert_eq!(grew.len(), 1, "{grew:?}");
        assert_eq!(grew[0].function, "db");
        assert!(grew[0].current_per_1k > grew[0].baseline_per_1k);
    }

    #[test]
    fn flame_graphs_are_svg() {
        let svg = sample().flamegraph("t <&>", "sub", "samples").unwrap();
        let text = String::from_utf8(svg).unwrap();
        assert!(text.contains("<svg") && text.contains("handler"));
        assert!(text.contains("t &lt;&amp;&gt;"));
        // Drawn at a fixed width: no script sizes frames to a hidden viewport.
        assert!(text.contains("var fluiddrawing = false"), "{text}");
        let lines = differential_lines(&sample(), 10, &sample(), 20);
        let diff = differential_svg(&lines, "d", "s").unwrap();
        assert!(String::from_utf8(diff).unwrap().contains("<svg"));
    }

    /// `n` samples drawn from `shares` (stack, weight) with a fixed seed.
    fn draw(shares: &[(&str, f64)], n: u64, seed: u64) -> Folded {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let total: f64 = shares.iter().map(|(_, w)| w).sum();
        let mut counts = vec![0u64; shares.len()];
        for _ in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut u = (x >> 11) as f64 / (1u64 << 53) as f64 * total;
            let i = shares
                .iter()
                .position(|(_, w)| {
                    u -= w;
                    u < 0.0
                })
                .unwrap_or(shares.len() - 1);
            counts[i] += 1;
        }
        Folded::from_stacks(
            shares
                .iter()
                .zip(counts)
                .map(|((s, _), c)| (s.to_string(), c)),
        )
    }

    /// The most saturated fill of a differential SVG: 0 white .. 155 full colour.
    fn saturation(svg: &[u8]) -> u8 {
        let text = String::from_utf8_lossy(svg);
        text.match_indices("fill=\"rgb(")
            .filter_map(|(i, m)| {
                let rest = &text[i + m.len()..];
                let rgb: Vec<u8> = rest[..rest.find(')')?]
                    .split(',')
                    .filter_map(|v| v.trim().parse().ok())
                    .collect();
                // Chroma: 0 for white and greys (the text), 155 for full red or blue.
                Some(rgb.iter().max()? - rgb.iter().min()?)
            })
            .max()
            .unwrap_or(0)
    }

    const SHARES: [(&str, f64); 5] = [
        ("main;handler;db", 40.0),
        ("main;handler;json", 25.0),
        ("main;handler;template", 20.0),
        ("main;gc", 10.0),
        ("main;idle", 5.0),
    ];

    #[test]
    fn identical_code_sampled_twice_paints_no_colour() {
        let (a, b) = (draw(&SHARES, 3000, 1), draw(&SHARES, 3000, 2));
        let d = differential(&a, 1000, &b, 1000, true);
        assert_eq!(d.too_few, None);
        assert_eq!(d.samples, (3000, 3000));
        let svg = differential_svg(&d.drawn, "t", "s").unwrap();
        assert_eq!(saturation(&svg), 0, "{:?}", d.measured);
        // The measured lines keep the moves the noise made.
        assert_ne!(d.measured, differential_lines(&a, 1000, &a, 1000));
    }

    #[test]
    fn a_real_change_is_painted_on_an_absolute_scale() {
        let mut slower = SHARES;
        slower[0].1 = 60.0; // db: 40 -> 60 per request
        let (a, b) = (draw(&SHARES, 3000, 1), draw(&slower, 3600, 2));
        let d = differential(&a, 1000, &b, 1000, true);
        let svg = differential_svg(&d.drawn, "t", "s").unwrap();
        let strong = saturation(&svg);
        assert!(strong > 100, "{strong}: {:?}", d.drawn);
        // A small change is pale on the same scale, not stretched to full colour.
        let mut little = SHARES;
        little[0].1 = 43.0;
        let c = draw(&little, 30_300, 4);
        let big = draw(&SHARES, 30_000, 3);
        let d = differential(&big, 10_000, &c, 10_000, true);
        let svg = differential_svg(&d.drawn, "t", "s").unwrap();
        let pale = saturation(&svg);
        assert!(pale > 0 && pale < 60, "{pale}: {:?}", d.drawn);
    }

    #[test]
    fn too_few_samples_are_said_and_not_painted() {
        let (a, b) = (draw(&SHARES, 30, 1), draw(&SHARES, 30, 2));
        let d = differential(&a, 100, &b, 100, true);
        let why = d.too_few.clone().unwrap();
        assert!(
            why.starts_with("too few samples to compare: 30 in the baseline"),
            "{why}"
        );
        let svg = differential_svg(&d.drawn, "t", "s").unwrap();
        assert_eq!(saturation(&svg), 0);
    }

    /// py-spy 0.4 `record --subprocesses --format raw`, as it wrote these
    /// stacks for the py-workers fixture (command lines shortened).
    const PY_SPY_RUN_1: &str = "\
process 9635:\"/usr/bin/python3 app.py --port 0 --pid-file /tmp/a/pids\";process 9707:\"/usr/bin/python3 app.py --port 0 --pid-file /tmp/a/pids\";<module> (app.py);main (app.py);hot_loop (app.py) 60
process 9635:\"/usr/bin/python3 app.py --port 0 --pid-file /tmp/a/pids\";process 9708:\"/usr/bin/python3 app.py --port 0 --pid-file /tmp/a/pids\";<module> (app.py);main (app.py);hot_loop (app.py) 40
process 9635:\"/usr/bin/python3 app.py --port 0 --pid-file /tmp/a/pids\";<module> (app.py);main (app.py);sleep 5
";

    #[test]
    fn py_spy_process_frames_become_roles_and_workers_merge() {
        let f = Folded::parse(PY_SPY_RUN_1).unwrap().by_process_role();
        assert_eq!(
            f.to_text(),
            "process root;<module> (app.py);main (app.py);sleep 5\n\
             process root;process child;<module> (app.py);main (app.py);hot_loop (app.py) 100\n"
        );
        // A command line holding `;` stays one frame; other stacks are untouched.
        let odd = Folded::parse(
            "process 1:\"sh -c a;b\";process 22:\"python3 x.py\";f (x.py) 3\nprocess id;f 2\n",
        )
        .unwrap()
        .by_process_role();
        assert_eq!(
            odd.to_text(),
            "process id;f 2\nprocess root;process child;f (x.py) 3\n"
        );
        assert_eq!(stack_by_process_role("process 7:\"only\""), "process root");
    }

    #[test]
    fn two_runs_of_the_same_code_match_whatever_their_pids() {
        let run_2 = PY_SPY_RUN_1
            .replace("9635", "10201")
            .replace("9707", "10270")
            .replace("9708", "10271")
            .replace("/tmp/a/", "/tmp/b/");
        let (a, b) = (
            Folded::parse(PY_SPY_RUN_1).unwrap(),
            Folded::parse(&run_2).unwrap(),
        );
        let lines = differential_lines(&a, 100, &b, 100);
        assert_eq!(lines.len(), 2, "{lines:?}");
        for line in &lines {
            let mut v = line.rsplitn(3, ' ');
            let (after, before) = (v.next().unwrap(), v.next().unwrap());
            assert_eq!(before, after, "{line}");
        }
        assert!(grew_most(&a, 100, &b, 100, 5).is_empty());
        // Twice the samples for the same requests: hot_loop grew, by its own amount.
        let slower = Folded::parse(&run_2.replace(") 60", ") 160")).unwrap();
        let grew = grew_most(&a, 100, &slower, 100, 5);
        assert_eq!(grew.len(), 1, "{grew:?}");
        assert_eq!(grew[0].function, "hot_loop (app.py)");
        assert_eq!(grew[0].delta_per_1k, 1000.0);
    }
}
