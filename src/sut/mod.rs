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

use crate::clock::RunClock;
use crate::result::resources::HealthState;
pub use crate::result::resources::{
    CPU, CPU_WAIT, HealthPoint, HealthReport, PROCESSES, RSS, ResourceReport, Series, SourceKind,
    SourceReport,
};
use crate::scenario::plan::SutPlan;
use endpoints::Fetcher;
use process::TreeSampler;

/// Threads that make the load: the users' runtime (`runner`) and the recorder (`record`).
const GENERATOR_THREADS: &[&str] = &["gander-user", "gander-recorder"];

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
