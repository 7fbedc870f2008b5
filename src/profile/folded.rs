//! Folded stacks (`root;caller;leaf count`), the one form every profiler is
//! turned into: flame graphs, top-N tables and differentials start here.

use std::collections::{BTreeMap, HashMap, HashSet};

pub use crate::result::profile::{FunctionDelta, FunctionShare};

/// Sampled stacks, root first, frames joined with `;`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Folded {
    stacks: BTreeMap<String, u64>,
}

impl Folded {
    /// Parses folded lines; blank lines are skipped, anything else malformed is an error.
    pub fn parse(text: &str) -> Result<Folded, String> {
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
                    return Err(format!(
                        "line {} is not a folded stack (\"frames;... count\"): {shown:?}",
                        n + 1
                    ));
                }
            }
        }
        Ok(folded)
    }

    pub fn add(&mut self, stack: &str, count: u64) {
        if count > 0 {
            *self.stacks.entry(stack.to_string()).or_default() += count;
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
        self.stacks.values().sum()
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
                *own.entry(leaf).or_default() += count;
            }
            // A recursive function counts once per stack.
            let distinct: HashSet<&str> = frames.into_iter().collect();
            for frame in distinct {
                *total.entry(frame).or_default() += count;
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
        let text = self.to_text();
        let mut svg = Vec::new();
        inferno::flamegraph::from_lines(&mut options, text.lines(), &mut svg)?;
        Ok(svg)
    }
}

/// Scales both profiles to samples per 1000 requests, so that a run that served
/// more requests does not read as a run that costs more CPU.
fn per_1k(folded: &Folded, requests: u64) -> BTreeMap<&str, f64> {
    let factor = 1000.0 / requests.max(1) as f64;
    folded
        .stacks
        .iter()
        .map(|(s, &c)| (s.as_str(), c as f64 * factor))
        .collect()
}

/// A differential flame graph (red: more samples per request than the baseline,
/// blue: fewer), drawn on the current profile's shape.
pub fn differential_svg(
    baseline: &Folded,
    baseline_requests: u64,
    current: &Folded,
    current_requests: u64,
    title: &str,
    subtitle: &str,
) -> std::io::Result<Vec<u8>> {
    let before = per_1k(baseline, baseline_requests);
    let after = per_1k(current, current_requests);
    // inferno reads integer counts: keep three decimals of samples per 1k requests.
    let scale = |v: f64| (v * 1000.0).round() as u64;
    let mut stacks: Vec<&str> = before.keys().chain(after.keys()).copied().collect();
    stacks.sort_unstable();
    stacks.dedup();
    let lines: Vec<String> = stacks
        .iter()
        .map(|s| {
            format!(
                "{s} {} {}",
                scale(before.get(s).copied().unwrap_or(0.0)),
                scale(after.get(s).copied().unwrap_or(0.0))
            )
        })
        .collect();
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.subtitle = Some(subtitle.to_string());
    options.count_name = "samples/1k req x1000".to_string();
    options.deterministic = true;
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)?;
    Ok(svg)
}

/// The functions whose self cost per request grew the most, largest growth first.
pub fn grew_most(
    baseline: &Folded,
    baseline_requests: u64,
    current: &Folded,
    current_requests: u64,
    n: usize,
) -> Vec<FunctionDelta> {
    let per = |f: &Folded, requests: u64| -> HashMap<String, f64> {
        let factor = 1000.0 / requests.max(1) as f64;
        f.self_and_total()
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
        let diff = differential_svg(&sample(), 10, &sample(), 20, "d", "s").unwrap();
        assert!(String::from_utf8(diff).unwrap().contains("<svg"));
    }
}
