//! The resources section of `run.json`: CPU and memory series of the SUT and
//! of gander, the SUT's health polls, and how a launched SUT ran.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Window;

/// The resources section of `run.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ResourceReport {
    pub interval_s: f64,
    pub sources: Vec<SourceReport>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub health: Option<HealthReport>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub launched: Option<LaunchReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The SUT's process tree, from /proc.
    Process,
    Prometheus,
    Json,
    /// gander itself.
    LoadGenerator,
    /// The machine around gander and the SUT: CPU used by every other process,
    /// and the kernel's CPU pressure (tasks waiting for a CPU).
    Machine,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SourceReport {
    pub kind: SourceKind,
    /// `pid 123 (python3)`, or the URL read.
    pub target: String,
    pub series: Vec<Series>,
    pub samples: u64,
    pub failures: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_error: Option<String>,
}

/// Standard series names.
pub const CPU: &str = "cpu_percent";
pub const RSS: &str = "rss_bytes";
pub const PROCESSES: &str = "processes";
/// The load generator's run-queue delay: time its threads waited for a CPU.
pub const CPU_WAIT: &str = "cpu_wait_percent";
/// The machine: CPU used by processes that are neither gander (with its
/// children) nor the SUT, in % of one core.
pub const OTHER_CPU: &str = "other_cpu_percent";
/// The machine: share of the time some runnable task waited for a CPU
/// (`/proc/pressure/cpu`, "some"), in %.
pub const CPU_PRESSURE: &str = "cpu_pressure_percent";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Series {
    pub name: String,
    /// `%` (of one core), `bytes`, or empty.
    pub unit: String,
    /// `[seconds since the run started, value]`.
    pub points: Vec<[f64; 2]>,
    /// Over the steady state (the whole run when there was none).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub summary: Option<SeriesSummary>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct SeriesSummary {
    pub samples: usize,
    pub min: f64,
    pub avg: f64,
    pub p95: f64,
    pub max: f64,
}

impl Series {
    pub fn new(name: &str, unit: &str) -> Series {
        Series {
            name: name.to_string(),
            unit: unit.to_string(),
            points: Vec::new(),
            summary: None,
        }
    }

    /// Summarises the points inside `window`.
    pub fn summarize(&mut self, window: Window) {
        let mut values: Vec<f64> = self
            .points
            .iter()
            .filter(|[t, _]| *t >= window.start_s && *t <= window.end_s)
            .map(|[_, v]| *v)
            .collect();
        if values.is_empty() {
            self.summary = None;
            return;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        // Nearest-rank percentile.
        let rank = ((0.95 * n as f64).ceil() as usize).clamp(1, n) - 1;
        self.summary = Some(SeriesSummary {
            samples: n,
            min: values[0],
            avg: values.iter().sum::<f64>() / n as f64,
            p95: values[rank],
            max: values[n - 1],
        });
    }
}

/// How busy the machine was over the steady state, apart from gander and the SUT.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineLoad {
    /// CPU of every other process, % of one core (average).
    pub other_cpu: f64,
    /// `/proc/pressure/cpu` "some", % of the time (average), where the kernel has it.
    pub pressure: Option<f64>,
    /// The SUT may have run here with its process not known: its CPU is in `other_cpu`.
    pub sut_unknown: bool,
}

/// How the machine source's target says the SUT's CPU could not be kept apart.
pub const SUT_NOT_KNOWN: &str = "the SUT's process is not known";

impl MachineLoad {
    pub fn describe(&self) -> String {
        let pressure = self
            .pressure
            .map(|p| format!("; CPU pressure {p:.0}% (time some task waited for a CPU)"))
            .unwrap_or_default();
        let who = if self.sut_unknown {
            "other processes (not gander; the SUT's process was not known, so perhaps the SUT)"
        } else {
            "other processes (neither gander nor the SUT)"
        };
        format!("{who} used {:.0}% of one core{pressure}", self.other_cpu)
    }
}

impl ResourceReport {
    /// The machine's load over the steady state, when it was measured.
    pub fn machine_load(&self) -> Option<MachineLoad> {
        let source = self
            .sources
            .iter()
            .find(|s| s.kind == SourceKind::Machine)?;
        let avg = |name: &str| {
            source
                .series
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.summary)
                .map(|s| s.avg)
        };
        Some(MachineLoad {
            other_cpu: avg(OTHER_CPU)?,
            pressure: avg(CPU_PRESSURE),
            sut_unknown: source.target.contains(SUT_NOT_KNOWN),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HealthReport {
    pub url: String,
    /// Every poll, in order.
    pub timeline: Vec<HealthPoint>,
    /// Polls per state over the whole run.
    pub counts: BTreeMap<HealthState, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HealthPoint {
    pub t_s: f64,
    pub state: HealthState,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

impl ResourceReport {
    /// Fills every series' summary for `window`.
    pub fn summarize(&mut self, window: Window) {
        for source in &mut self.sources {
            for series in &mut source.series {
                series.summarize(window);
            }
        }
    }

    /// The SUT's figure for `series` (CPU or RSS): the process tree first, then JSON,
    /// then Prometheus.
    pub fn sut_series(&self, name: &str) -> Option<&Series> {
        [
            SourceKind::Process,
            SourceKind::Json,
            SourceKind::Prometheus,
        ]
        .iter()
        .flat_map(|kind| self.sources.iter().filter(move |s| s.kind == *kind))
        .flat_map(|s| s.series.iter())
        .find(|s| s.name == name && s.summary.is_some())
    }

    pub fn source(&self, kind: SourceKind) -> Option<&SourceReport> {
        self.sources.iter().find(|s| s.kind == kind)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    Degraded,
    /// The endpoint answered, but not healthy.
    Error,
    /// No answer at all (refused, timed out).
    Down,
}

impl HealthState {
    pub fn label(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Degraded => "degraded",
            HealthState::Error => "error",
            HealthState::Down => "down",
        }
    }
}

/// What `run.json` says about a launched SUT.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LaunchReport {
    pub command: Vec<String>,
    pub pid: u32,
    pub ready_after_s: f64,
    /// Set when the SUT died before gander stopped it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exited_early: Option<String>,
    /// When it exited early: the last lines of its output (`sut.log`), secrets masked.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub last_output: Vec<String>,
    pub log_file: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_cover_only_the_window() {
        let mut s = Series::new(CPU, "%");
        s.points = (0..20)
            .map(|i| [i as f64, if i < 10 { 1000.0 } else { i as f64 }])
            .collect();
        s.summarize(Window {
            start_s: 10.0,
            end_s: 19.0,
        });
        let sum = s.summary.unwrap();
        assert_eq!(sum.samples, 10);
        assert_eq!((sum.min, sum.max), (10.0, 19.0));
        assert_eq!(sum.avg, 14.5);
        assert_eq!(sum.p95, 19.0);
        s.summarize(Window {
            start_s: 100.0,
            end_s: 200.0,
        });
        assert!(s.summary.is_none());
    }
}
