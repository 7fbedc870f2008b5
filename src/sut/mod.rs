//! The SUT monitor box: samples the SUT's CPU and memory (local process tree,
//! Prometheus or JSON endpoint), polls its health, and samples gander itself
//! so a saturated load generator shows. Every series is on the run's time axis.

pub mod child;
pub mod endpoints;
pub mod launch;
pub mod process;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::clock::RunClock;
use crate::record::result::Window;
use crate::scenario::plan::SutPlan;
use endpoints::{Fetcher, HealthState};
use process::TreeSampler;

/// The resources section of `run.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResourceReport {
    pub interval_s: f64,
    pub sources: Vec<SourceReport>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub health: Option<HealthReport>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub launched: Option<launch::LaunchReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The SUT's process tree, from /proc.
    Process,
    Prometheus,
    Json,
    /// gander itself.
    LoadGenerator,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
/// Threads that make the load: the users' runtime (`runner`) and the recorder (`record`).
const GENERATOR_THREADS: &[&str] = &["gander-user", "gander-recorder"];

#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct SeriesSummary {
    pub samples: usize,
    pub min: f64,
    pub avg: f64,
    pub p95: f64,
    pub max: f64,
}

impl Series {
    fn new(name: &str, unit: &str) -> Series {
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthReport {
    pub url: String,
    /// Every poll, in order.
    pub timeline: Vec<HealthPoint>,
    /// Polls per state over the whole run.
    pub counts: BTreeMap<HealthState, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// What the monitor samples, resolved before the run.
pub struct MonitorSetup {
    pub plan: SutPlan,
    /// The SUT's root pid, or why there is none.
    pub pid: Option<Result<u32, String>>,
}

/// Samples on its own thread until `finish`.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<ResourceReport>>,
    interval: Duration,
}

impl Monitor {
    pub fn start(setup: MonitorSetup, clock: Arc<RunClock>) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let interval = setup.plan.interval;
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("gander-monitor".into())
            .spawn(move || sample_loop(setup, &clock, &flag))
            .ok();
        Monitor {
            stop,
            handle,
            interval,
        }
    }

    pub fn finish(self) -> ResourceReport {
        self.stop.store(true, Ordering::SeqCst);
        match self.handle.map(JoinHandle::join) {
            Some(Ok(report)) => report,
            _ => ResourceReport {
                interval_s: self.interval.as_secs_f64(),
                ..Default::default()
            },
        }
    }
}

fn source(kind: SourceKind, target: String, series: &[(&str, &str)]) -> SourceReport {
    SourceReport {
        kind,
        target,
        series: series.iter().map(|(n, u)| Series::new(n, u)).collect(),
        samples: 0,
        failures: 0,
        last_error: None,
    }
}

impl SourceReport {
    /// How tables name this source: `gander`, or its kind and what was read.
    pub fn label(&self) -> String {
        match self.kind {
            SourceKind::LoadGenerator => "gander".to_string(),
            _ => format!("{:?} {}", self.kind, self.target).to_lowercase(),
        }
    }

    fn push(&mut self, name: &str, t: f64, value: f64) {
        if let Some(s) = self.series.iter_mut().find(|s| s.name == name) {
            s.points.push([t, value]);
        } else {
            let mut s = Series::new(name, "");
            s.points.push([t, value]);
            self.series.push(s);
        }
    }

    /// One reading of a process tree: its CPU (from the second reading on) and memory.
    fn record(&mut self, t: f64, s: &process::TreeSample) {
        self.samples += 1;
        if let Some(cpu) = s.cpu_percent {
            self.push(CPU, t, cpu);
        }
        self.push(RSS, t, s.rss_bytes as f64);
    }

    fn failed(&mut self, error: String) {
        self.failures += 1;
        self.last_error = Some(error);
    }
}

fn process_label(pid: u32) -> String {
    let name = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .map(|s| s.comm)
        .unwrap_or_default();
    format!("pid {pid} ({name})")
}

fn sample_loop(setup: MonitorSetup, clock: &RunClock, stop: &AtomicBool) -> ResourceReport {
    let plan = setup.plan;
    let mut report = ResourceReport {
        interval_s: plan.interval.as_secs_f64(),
        ..Default::default()
    };
    let resource_series = [(CPU, "%"), (RSS, "bytes")];
    let tree_series = [(CPU, "%"), (RSS, "bytes"), (PROCESSES, "")];
    // gander alone: its children are the SUT and the profilers. Its CPU is that
    // of the threads making the load, so an in-process test server is not counted.
    let mut me = TreeSampler::new(std::process::id(), false);
    let mut load_threads = process::ThreadSampler::new(GENERATOR_THREADS);
    let mut gander = source(
        SourceKind::LoadGenerator,
        format!("pid {} (gander)", std::process::id()),
        &[(CPU, "%"), (CPU_WAIT, "%"), (RSS, "bytes")],
    );
    let mut tree = match &setup.pid {
        Some(Ok(pid)) => Some((
            TreeSampler::new(*pid, true),
            source(SourceKind::Process, process_label(*pid), &tree_series),
        )),
        Some(Err(e)) => {
            let mut s = source(SourceKind::Process, "no process".into(), &tree_series);
            s.failed(e.clone());
            report.sources.push(s);
            None
        }
        None => None,
    };
    let mut prometheus = plan.prometheus.as_ref().map(|p| {
        let mut s = source(SourceKind::Prometheus, p.http.url.clone(), &resource_series);
        for name in &p.series {
            s.series.push(Series::new(name, ""));
        }
        (s, None::<(f64, f64)>)
    });
    let mut json = plan.json.as_ref().map(|j| {
        let mut s = source(SourceKind::Json, j.http.url.clone(), &[]);
        if j.cpu.is_some() {
            s.series.push(Series::new(CPU, "%"));
        }
        if j.memory.is_some() {
            s.series.push(Series::new(RSS, "bytes"));
        }
        for (name, _) in &j.series {
            s.series.push(Series::new(name, ""));
        }
        s
    });
    let mut health = plan.health.as_ref().map(|h| HealthReport {
        url: h.http.url.clone(),
        timeline: Vec::new(),
        counts: BTreeMap::new(),
    });

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(_) => return report,
    };
    let fetcher = Fetcher::new(plan.interval.max(Duration::from_secs(2)));
    runtime.block_on(async {
        let mut ticker = tokio::time::interval(plan.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            let stopping = stop.load(Ordering::SeqCst);
            let t = clock.seconds_since_start(std::time::Instant::now());
            if let Ok(s) = me.sample() {
                gander.samples += 1;
                gander.push(RSS, t, s.rss_bytes as f64);
            }
            if let Ok(Some(s)) = load_threads.sample() {
                gander.push(CPU, t, s.cpu_percent);
                gander.push(CPU_WAIT, t, s.wait_percent);
            }
            if let Some((sampler, rep)) = &mut tree {
                match sampler.sample() {
                    Ok(s) => {
                        rep.record(t, &s);
                        rep.push(PROCESSES, t, s.processes as f64);
                    }
                    Err(e) => rep.failed(e),
                }
            }
            if let Ok(fetcher) = &fetcher {
                if let (Some((rep, last_cpu)), Some(p)) = (&mut prometheus, &plan.prometheus) {
                    sample_prometheus(fetcher, p, rep, last_cpu, t).await;
                }
                if let (Some(rep), Some(j)) = (&mut json, &plan.json) {
                    sample_json(fetcher, j, rep, t).await;
                }
                if let (Some(rep), Some(h)) = (&mut health, &plan.health) {
                    let point = match fetcher.get(&h.http).await {
                        Ok((status, body, took)) => {
                            let (state, detail) =
                                endpoints::classify(status, &body, h.status_pointer.as_deref());
                            HealthPoint {
                                t_s: t,
                                state,
                                http_status: Some(status),
                                latency_ms: Some(took.as_secs_f64() * 1e3),
                                detail,
                            }
                        }
                        Err(e) => HealthPoint {
                            t_s: t,
                            state: HealthState::Down,
                            http_status: None,
                            latency_ms: None,
                            detail: Some(e),
                        },
                    };
                    *rep.counts.entry(point.state).or_default() += 1;
                    rep.timeline.push(point);
                }
            }
            if stopping {
                break;
            }
        }
    });
    report.sources.insert(0, gander);
    report.sources.extend(tree.map(|(_, r)| r));
    report.sources.extend(prometheus.map(|(r, _)| r));
    report.sources.extend(json);
    report.health = health;
    report
}

const PROM_CPU: &str = "process_cpu_seconds_total";
const PROM_RSS: &str = "process_resident_memory_bytes";

async fn sample_prometheus(
    fetcher: &Fetcher,
    plan: &crate::scenario::plan::PrometheusPlan,
    rep: &mut SourceReport,
    last_cpu: &mut Option<(f64, f64)>,
    t: f64,
) {
    let body = match fetcher.get_ok(&plan.http).await {
        Ok(body) => body,
        Err(e) => return rep.failed(e),
    };
    let mut names = vec![PROM_CPU, PROM_RSS];
    names.extend(plan.series.iter().map(String::as_str));
    let values = endpoints::parse_prometheus(&String::from_utf8_lossy(&body), &names);
    rep.samples += 1;
    if let Some(&cpu) = values.get(PROM_CPU) {
        if let Some((t0, cpu0)) = *last_cpu
            && t > t0
        {
            rep.push(CPU, t, ((cpu - cpu0) / (t - t0) * 100.0).max(0.0));
        }
        *last_cpu = Some((t, cpu));
    }
    if let Some(&rss) = values.get(PROM_RSS) {
        rep.push(RSS, t, rss);
    }
    for name in &plan.series {
        match values.get(name) {
            Some(&v) => rep.push(name, t, v),
            None => rep.last_error = Some(format!("no series named {name}")),
        }
    }
}

async fn sample_json(
    fetcher: &Fetcher,
    plan: &crate::scenario::plan::JsonMetricsPlan,
    rep: &mut SourceReport,
    t: f64,
) {
    let body = match fetcher.get_ok(&plan.http).await {
        Ok(body) => body,
        Err(e) => return rep.failed(e),
    };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return rep.failed(format!("{} did not answer JSON", plan.http.url));
    };
    rep.samples += 1;
    let mut wanted: Vec<(&str, &str, f64)> = Vec::new();
    if let Some(p) = &plan.cpu {
        wanted.push((CPU, p, 1.0));
    }
    if let Some(p) = &plan.memory {
        wanted.push((RSS, p, plan.memory_factor));
    }
    for (name, p) in &plan.series {
        wanted.push((name, p, 1.0));
    }
    for (name, pointer, factor) in wanted {
        match endpoints::json_number(&doc, pointer) {
            Some(v) => rep.push(name, t, v * factor),
            None => rep.last_error = Some(format!("no number at {pointer}")),
        }
    }
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
