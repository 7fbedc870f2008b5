//! The comparison's CPU-per-request rows: overall (the SUT's CPU over the
//! requests completed, every run's steady state cut into its CPU sampling
//! intervals and resampled with the same block bootstrap as the seconds of
//! the latency rows) and per request name (each run's own figure and 95 %
//! interval, from the labelled profile or the sweep). Both get the run-to-run
//! variation of `Kind::CpuPerRequest` (measured between the baseline runs when
//! there are several, as for every figure).
//!
//! Figures measured differently are not compared: a CPU series from the
//! process tree against one from Prometheus, a name split by labels against
//! one driven alone by the sweep. What was left out and why is a note.

use super::noise::{Kind, Measured, normal_quantile};
use super::{Comparer, Figure, MIN_VALUES, Resampler, cost};
use crate::result::comparison::Scale;
use crate::result::cost::Cost;

/// Changes in CPU per request smaller than this (ms) are never a regression.
pub const FLOOR_MS: f64 = 0.002;
/// Fewer CPU sampling intervals than this in a run's steady state decide nothing.
const MIN_UNITS: usize = 5;
/// Values drawn to stand for one run's interval of a per-name figure.
const DRAWS: usize = 400;
/// The salt of the overall figure's resamples.
const SALT: u64 = 23;

/// The name of the rows.
pub const FIGURE: &str = "cpu_per_request";

/// What the runs allow: the overall figure's per-run units, and which
/// request names can be compared; with the notes on what was left out.
pub struct CostPlan {
    units: Option<Vec<Vec<cost::Unit>>>,
    pub notes: Vec<String>,
}

impl Comparer<'_> {
    /// Checks that every run measured CPU per request the same way.
    pub(super) fn cost_plan(&self) -> CostPlan {
        let mut notes = Vec::new();
        let sources: Vec<_> = self
            .runs
            .iter()
            .map(|r| cost::cpu_series(&r.result.resources))
            .collect();
        let present = sources.iter().filter(|s| s.is_some()).count();
        let units = if present == 0 {
            None
        } else if present < sources.len() {
            notes.push(format!(
                "CPU per request not compared: {} of the {} runs read no CPU of the SUT (give its \
                 process with --sut-pid or sut.command, or a metrics endpoint)",
                sources.len() - present,
                sources.len()
            ));
            None
        } else if let Some(why) = differ(sources.iter().flatten().map(|(label, _)| *label)) {
            notes.push(format!(
                "CPU per request not compared: the runs read the SUT's CPU from different sources \
                 ({why}): their CPU covers different processes or counts differently"
            ));
            None
        } else {
            Some(
                self.runs
                    .iter()
                    .zip(&sources)
                    .filter_map(|(r, s)| {
                        let (_, series) = s.as_ref()?;
                        let window = r.result.window(r.result.primary_phase());
                        let interval = r.result.resources.interval_s;
                        Some(cost::units(series, interval, &r.result.timeseries, window))
                    })
                    .collect(),
            )
        };
        notes.extend(self.by_name_notes());
        CostPlan { units, notes }
    }

    /// Each request name of the new run whose cost the runs measured differently.
    fn by_name_notes(&self) -> Vec<String> {
        let new = self.new_run();
        let mut out = Vec::new();
        let mut unmeasured = Vec::new();
        for endpoint in &new.result.endpoints {
            let costs: Vec<Option<&Cost>> = self.costs_of(&endpoint.name);
            if costs.iter().any(Option::is_none) {
                if costs.last().is_some_and(Option::is_some) {
                    unmeasured.push(format!("\"{}\"", endpoint.name));
                }
                continue;
            }
            let methods = differ(costs.iter().flatten().map(|c| c.method.label()));
            let sources = differ(costs.iter().flatten().map(|c| c.cpu_source.as_str()));
            if let Some(why) = methods {
                out.push(format!(
                    "CPU per request of \"{}\" not compared: measured by different methods ({why}); \
                     labels split the load's CPU, the sweep drives the name alone",
                    endpoint.name
                ));
            } else if let Some(why) = sources {
                out.push(format!(
                    "CPU per request of \"{}\" not compared: the SUT's CPU came from different \
                     sources ({why})",
                    endpoint.name
                ));
            }
        }
        if !unmeasured.is_empty() {
            out.push(format!(
                "CPU per request of {} not compared: a baseline run has no per-name figure \
                 (no labelled profile and no sweep, or a run saved before cost existed)",
                unmeasured.join(", ")
            ));
        }
        out
    }

    /// Each run's cost figure of request name `name` (the baseline runs, then the new run).
    fn costs_of(&self, name: &str) -> Vec<Option<&Cost>> {
        self.runs
            .iter()
            .map(|r| {
                r.result
                    .endpoints
                    .iter()
                    .find(|e| e.name == name)
                    .and_then(|e| e.cost.as_ref())
            })
            .collect()
    }

    fn cost_rule(&self) -> super::noise::Rule {
        let mut rule = self.rule(
            Kind::CpuPerRequest,
            Scale::Relative,
            true,
            self.plan.cpu_per_request,
        );
        rule.floor = FLOOR_MS;
        rule
    }

    /// The CPU-per-request row of `label`: all requests (`endpoint` `None`) or one name.
    pub(super) fn cpu_per_request(
        &self,
        plan: &CostPlan,
        label: &str,
        endpoint: Option<&str>,
    ) -> Option<Figure> {
        let (measured, too_few) = match endpoint {
            None => self.overall(plan.units.as_ref()?),
            Some(name) => (self.by_name(name)?, None),
        };
        Some(Figure {
            name: FIGURE.into(),
            scope: label.into(),
            unit: "ms".into(),
            rule: self.cost_rule(),
            measured,
            too_few,
        })
    }

    /// All requests: the CPU sampling intervals of the steady states, resampled.
    fn overall(&self, units: &[Vec<cost::Unit>]) -> (Measured, Option<String>) {
        let lens: Vec<usize> = units.iter().map(Vec::len).collect();
        let few_units = lens.iter().any(|&n| n < MIN_UNITS);
        let samples = Resampler::new(lens, SALT);
        let mut m = samples.measure(2, |draw| {
            let (cpu, requests) = draw.iter().fold((0.0, 0.0), |(c, n), &(r, i)| {
                (c + units[r][i].cpu_s, n + units[r][i].requests)
            });
            let ratio = if requests > 0.0 {
                cpu / requests * 1e3
            } else {
                f64::NAN
            };
            vec![ratio, requests]
        });
        let requests = m.pop().unwrap_or_default();
        let mut measured = m.pop().unwrap_or_default();
        measured.seconds = self.seconds.seconds;
        let too_few = if few_units {
            Some(format!(
                "fewer than {MIN_UNITS} samples of the SUT's CPU in a steady state"
            ))
        } else {
            self.few(&requests)
        };
        (measured, too_few)
    }

    /// One request name: each run's figure and interval, when every run has one by the
    /// same method and source.
    fn by_name(&self, name: &str) -> Option<Measured> {
        let costs: Vec<&Cost> = self.costs_of(name).into_iter().collect::<Option<_>>()?;
        let alike = differ(costs.iter().map(|c| c.method.label())).is_none()
            && differ(costs.iter().map(|c| c.cpu_source.as_str())).is_none();
        if !alike || costs.iter().any(|c| c.requests < MIN_VALUES) {
            return None;
        }
        let (new, base) = costs.split_last()?;
        let (base_value, base_sd) = pooled(base);
        let new_sd = spread_of(new);
        let runs = if base.len() > 1 {
            base.iter()
                .map(|c| {
                    let v = c.cpu_ms_per_request.value;
                    (v, draws(v, spread_of(c)))
                })
                .collect()
        } else {
            Vec::new()
        };
        let new_value = new.cpu_ms_per_request.value;
        Some(Measured {
            base: base_value,
            new: new_value,
            base_resampled: draws(base_value, base_sd),
            new_resampled: draws(new_value, new_sd),
            runs,
            seconds: self.seconds.seconds,
        })
    }
}

/// The standard deviation a figure's 95 % interval stands for: of its log when
/// the figure is above 0, in ms when it is 0 (a name without a labelled sample).
fn spread_of(c: &Cost) -> Spread {
    let i = c.cpu_ms_per_request;
    if i.value > 0.0 && i.low > 0.0 {
        Spread::Log((i.high / i.low).ln() / (2.0 * 1.96))
    } else if i.value > 0.0 {
        Spread::Log((i.high / i.value).ln() / 1.96)
    } else {
        Spread::Linear((i.high - i.low).max(0.0) / 1.96)
    }
}

#[derive(Debug, Clone, Copy)]
enum Spread {
    Log(f64),
    Linear(f64),
}

/// The baseline runs' figures as one: their CPU over their requests, with the
/// spread of that ratio (each run's, weighted by its share of the CPU or requests).
fn pooled(base: &[&Cost]) -> (f64, Spread) {
    if let [one] = base {
        return (one.cpu_ms_per_request.value, spread_of(one));
    }
    let cpu: f64 = base.iter().map(|c| c.cpu_s).sum();
    let requests: f64 = base.iter().map(|c| c.requests as f64).sum();
    let value = if requests > 0.0 {
        cpu / requests * 1e3
    } else {
        0.0
    };
    let all_log = base.iter().all(|c| matches!(spread_of(c), Spread::Log(_)));
    if value > 0.0 && cpu > 0.0 && all_log {
        let var: f64 = base
            .iter()
            .map(|c| match spread_of(c) {
                Spread::Log(sd) => (c.cpu_s / cpu * sd).powi(2),
                Spread::Linear(_) => 0.0,
            })
            .sum();
        return (value, Spread::Log(var.sqrt()));
    }
    let var: f64 = base
        .iter()
        .map(|c| {
            let sd = match spread_of(c) {
                Spread::Log(sd) => c.cpu_ms_per_request.value * sd,
                Spread::Linear(sd) => sd,
            };
            (c.requests as f64 / requests.max(1.0) * sd).powi(2)
        })
        .sum();
    (value, Spread::Linear(var.sqrt()))
}

/// Values spread around `value` as the interval says (normal on its scale),
/// standing for resamples the run did not keep: the comparison reads their spread.
fn draws(value: f64, spread: Spread) -> Vec<f64> {
    (0..DRAWS)
        .map(|j| {
            let z = normal_quantile((j as f64 + 0.5) / DRAWS as f64);
            match spread {
                Spread::Log(sd) => value * (sd * z).exp(),
                Spread::Linear(sd) => value + sd * z,
            }
        })
        .collect()
}

/// `None` when every item is the same; else the distinct ones, in words.
fn differ<'a>(items: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut distinct: Vec<&str> = Vec::new();
    for item in items {
        if !distinct.contains(&item) {
            distinct.push(item);
        }
    }
    (distinct.len() > 1).then(|| distinct.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::bootstrap::spread;
    use crate::result::cost::{CostMethod, Interval};

    fn cost(value: f64, low: f64, high: f64, requests: u64) -> Cost {
        Cost {
            cpu_ms_per_request: Interval { value, low, high },
            method: CostMethod::Labels,
            requests,
            cpu_s: value * requests as f64 / 1e3,
            cpu_share: Some(0.5),
            cpu_source: "process".into(),
            alone: None,
        }
    }

    #[test]
    fn draws_have_the_spread_of_the_interval() {
        let c = cost(2.0, 2.0 / 1.2, 2.0 * 1.2, 1000);
        let Spread::Log(sd) = spread_of(&c) else {
            panic!("a figure above 0 spreads on the log scale")
        };
        assert!((sd - 1.2f64.ln() / 1.96).abs() < 1e-12);
        let logs: Vec<f64> = draws(2.0, Spread::Log(sd)).iter().map(|v| v.ln()).collect();
        let s = spread(&logs, logs.len()).unwrap();
        assert!((s - sd).abs() / sd < 0.02, "{s} vs {sd}");
    }

    #[test]
    fn pooled_runs_weigh_by_cpu_and_narrow_the_spread() {
        let a = cost(2.0, 1.6, 2.5, 1000);
        let b = cost(4.0, 3.2, 5.0, 1000);
        let (value, spread) = pooled(&[&a, &b]);
        // 2 s + 4 s of CPU over 2000 requests.
        assert!((value - 3.0).abs() < 1e-9, "{value}");
        let (Spread::Log(one), Spread::Log(both)) = (spread_of(&a), spread) else {
            panic!("log spreads")
        };
        assert!(both < one, "{both} vs {one}");
        // A name without a labelled sample: its bound, linear.
        let zero = cost(0.0, 0.0, 0.3, 1000);
        assert!(matches!(spread_of(&zero), Spread::Linear(sd) if sd > 0.0));
    }

    #[test]
    fn differ_names_what_differs() {
        assert_eq!(differ(["labels", "labels"].into_iter()), None);
        assert_eq!(
            differ(["labels", "sweep", "labels"].into_iter()).as_deref(),
            Some("labels and sweep")
        );
    }
}
