//! The SUT monitor box: samples the SUT's CPU and memory (local process tree,
//! Prometheus or JSON endpoint), polls its health, and samples gander itself
//! so a saturated load generator shows. Every series is on the run's time axis.

pub mod child;
pub mod endpoints;
pub mod launch;
pub mod machine;
pub mod process;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::clock::RunClock;
use crate::result::resources::HealthState;
pub use crate::result::resources::{
    CPU, CPU_PRESSURE, CPU_WAIT, HealthPoint, HealthReport, OTHER_CPU, PROCESSES, RSS,
    ResourceReport, SUT_NOT_KNOWN, Series, SourceKind, SourceReport,
};
use crate::scenario::plan::{HealthPlan, JsonMetricsPlan, PrometheusPlan, SutPlan};
use endpoints::Fetcher;
use process::TreeSampler;

/// Threads that make the load: the users' runtime (`runner`) and the recorder (`record`).
const GENERATOR_THREADS: &[&str] = &["gander-user", "gander-recorder"];

/// What the monitor samples, resolved before the run.
pub struct MonitorSetup {
    pub plan: SutPlan,
    /// The SUT's root pid, or why there is none.
    pub pid: Option<Result<u32, process::ProcessError>>,
    /// The SUT may run on this machine (a loopback host) but its process is
    /// not known: its CPU then counts among the other processes'.
    pub sut_unplaced: bool,
    /// How its endpoints are reached: the run's TLS and proxies.
    pub edge: Arc<crate::net::Edge>,
    /// Gets a copy of what was read so far after every round (the live page).
    pub so_far: Option<Arc<std::sync::Mutex<ResourceReport>>>,
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

/// One place the monitor reads figures from: gander itself, the SUT's process
/// tree, a Prometheus or JSON metrics endpoint, or a health endpoint.
trait Source: Send {
    /// Takes one reading, `t` seconds into the run; `fetcher` is the HTTP client
    /// (or why there is none).
    fn sample<'a>(&'a mut self, t: f64, fetcher: &'a Client) -> BoxFuture<'a, ()>;
    /// Puts what was read into the report.
    fn finish(self: Box<Self>, report: &mut ResourceReport);
    /// Puts a copy of what was read so far into `report` (the live page).
    fn peek(&self, report: &mut ResourceReport);
}

/// The sources the plan asks for, gander first.
fn sources(setup: &MonitorSetup) -> Vec<Box<dyn Source>> {
    let plan = &setup.plan;
    let mut sources: Vec<Box<dyn Source>> = vec![Box::new(LoadGenerator::new())];
    let sut = match &setup.pid {
        Some(Ok(pid)) => Some(*pid),
        _ => None,
    };
    sources.push(Box::new(Machine::new(sut, setup.sut_unplaced)));
    match &setup.pid {
        Some(Ok(pid)) => sources.push(Box::new(ProcessTree::new(*pid))),
        Some(Err(e)) => sources.push(Box::new(ProcessTree::missing(e.to_string()))),
        None => {}
    }
    if let Some(p) = &plan.prometheus {
        sources.push(Box::new(Prometheus::new(p.clone())));
    }
    if let Some(j) = &plan.json {
        sources.push(Box::new(JsonMetrics::new(j.clone())));
    }
    if let Some(h) = &plan.health {
        sources.push(Box::new(Health::new(h.clone())));
    }
    sources
}

/// The longest a metrics or health fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest the last round of samples may take once the run is ending.
const LAST_ROUND: Duration = Duration::from_secs(2);

fn sample_loop(setup: MonitorSetup, clock: &RunClock, stop: &AtomicBool) -> ResourceReport {
    let interval = setup.plan.interval;
    let mut report = ResourceReport {
        interval_s: interval.as_secs_f64(),
        ..Default::default()
    };
    let mut sources = sources(&setup);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(_) => return report,
    };
    // A fetch waits at most one interval, and never long: a hung endpoint must
    // not hold up the end of the run.
    let fetcher: Client = Ok(Fetcher::new(
        setup.edge.clone(),
        interval.clamp(Duration::from_secs(2), FETCH_TIMEOUT),
    ));
    runtime.block_on(async {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            // A stop ends the wait for the next tick: a long interval never holds up the end.
            let stopping = tokio::select! {
                _ = ticker.tick() => stop.load(Ordering::SeqCst),
                () = stopped(stop) => true,
            };
            if !stopping {
                // A round in progress gives way to a stop (a hung endpoint).
                let t = clock.seconds_since_start(std::time::Instant::now());
                tokio::select! {
                    () = sample_round(&mut sources, t, &fetcher) => {
                        publish(&setup, &sources, interval);
                        continue;
                    }
                    () = stopped(stop) => {}
                }
            }
            // The last round, after the load: bounded, the run is ending.
            let t = clock.seconds_since_start(std::time::Instant::now());
            let _ = tokio::time::timeout(LAST_ROUND, sample_round(&mut sources, t, &fetcher)).await;
            break;
        }
    });
    for source in sources {
        source.finish(&mut report);
    }
    mask_secrets(&mut report, &setup.plan.secrets);
    report
}

/// A copy of what every source read so far, for `MonitorSetup::so_far`.
fn publish(setup: &MonitorSetup, sources: &[Box<dyn Source>], interval: Duration) {
    let Some(so_far) = &setup.so_far else {
        return;
    };
    let mut report = ResourceReport {
        interval_s: interval.as_secs_f64(),
        ..Default::default()
    };
    for source in sources {
        source.peek(&mut report);
    }
    mask_secrets(&mut report, &setup.plan.secrets);
    if let Ok(mut shared) = so_far.lock() {
        *shared = report;
    }
}

/// One sample of every source, taken at `t` seconds.
async fn sample_round(sources: &mut [Box<dyn Source>], t: f64, fetcher: &Client) {
    for source in sources {
        source.sample(t, fetcher).await;
    }
}

/// The URLs read and the errors met, as the report may show them: the plan's
/// secrets, userinfo and query values masked.
fn mask_secrets(report: &mut ResourceReport, secrets: &crate::redact::Secrets) {
    for source in &mut report.sources {
        source.target = secrets.message(&source.target);
        if let Some(e) = &mut source.last_error {
            *e = secrets.message(e);
        }
    }
    if let Some(health) = &mut report.health {
        health.url = secrets.url(&health.url);
        for point in &mut health.timeline {
            if let Some(detail) = &mut point.detail {
                *detail = secrets.message(detail);
            }
        }
    }
}

/// The monitor's HTTP client, or why it could not be built.
type Client = Result<Fetcher, endpoints::SourceError>;

/// Resolves once `stop` is set.
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// gander alone: its children are the SUT and the profilers. Its CPU is that of
/// the threads making the load, so an in-process test server is not counted.
struct LoadGenerator {
    me: TreeSampler,
    threads: process::ThreadSampler,
    report: SourceReport,
}

impl LoadGenerator {
    fn new() -> Self {
        LoadGenerator {
            me: TreeSampler::new(std::process::id(), false),
            threads: process::ThreadSampler::new(GENERATOR_THREADS),
            report: source(
                SourceKind::LoadGenerator,
                format!("pid {} (gander)", std::process::id()),
                &[(CPU, "%"), (CPU_WAIT, "%"), (RSS, "bytes")],
            ),
        }
    }
}

impl Source for LoadGenerator {
    fn sample<'a>(&'a mut self, t: f64, _: &'a Client) -> BoxFuture<'a, ()> {
        // A failure (out of file descriptors: /proc cannot be opened) is
        // counted and said, never a silent gap in gander's own CPU.
        match self.me.sample() {
            Ok(s) => {
                self.report.samples += 1;
                self.report.push(RSS, t, s.rss_bytes as f64);
            }
            Err(e) => self.report.failed(e.to_string()),
        }
        match self.threads.sample() {
            Ok(Some(s)) => {
                self.report.push(CPU, t, s.cpu_percent);
                self.report.push(CPU_WAIT, t, s.wait_percent);
            }
            Ok(None) => {}
            Err(e) => self.report.failed(e.to_string()),
        }
        Box::pin(std::future::ready(()))
    }

    fn finish(self: Box<Self>, report: &mut ResourceReport) {
        report.sources.push(self.report);
    }

    fn peek(&self, report: &mut ResourceReport) {
        report.sources.push(self.report.clone());
    }
}

/// The machine: what every other process used, and the CPU pressure.
struct Machine {
    sampler: machine::MachineSampler,
    report: SourceReport,
}

/// How the machine source's target says the SUT's CPU was kept out of "other".
pub const SUT_EXCLUDED: &str = "the SUT's processes excluded";

impl Machine {
    fn new(sut: Option<u32>, sut_unplaced: bool) -> Self {
        let mut roots = vec![std::process::id()];
        roots.extend(sut);
        let target = match (sut, sut_unplaced) {
            (Some(pid), _) => format!("this machine, gander and {SUT_EXCLUDED} (pid {pid})"),
            (None, false) => "this machine, gander excluded (the SUT runs elsewhere)".into(),
            (None, true) => {
                format!(
                    "this machine, gander excluded; {SUT_NOT_KNOWN}, so its CPU counts as other"
                )
            }
        };
        Machine {
            sampler: machine::MachineSampler::new(roots),
            report: source(
                SourceKind::Machine,
                target,
                &[(OTHER_CPU, "%"), (CPU_PRESSURE, "%")],
            ),
        }
    }
}

impl Source for Machine {
    fn sample<'a>(&'a mut self, t: f64, _: &'a Client) -> BoxFuture<'a, ()> {
        match self.sampler.sample() {
            Ok(Some(s)) => {
                self.report.samples += 1;
                self.report.push(OTHER_CPU, t, s.other_cpu);
                if let Some(p) = s.pressure {
                    self.report.push(CPU_PRESSURE, t, p);
                }
            }
            Ok(None) => {}
            Err(e) => self.report.failed(e.to_string()),
        }
        Box::pin(std::future::ready(()))
    }

    fn finish(self: Box<Self>, report: &mut ResourceReport) {
        report.sources.push(self.report);
    }

    fn peek(&self, report: &mut ResourceReport) {
        report.sources.push(self.report.clone());
    }
}

const TREE_SERIES: [(&str, &str); 3] = [(CPU, "%"), (RSS, "bytes"), (PROCESSES, "")];

/// The SUT's process tree, from /proc.
struct ProcessTree {
    /// `None` when no process could be found: the report says why.
    sampler: Option<TreeSampler>,
    report: SourceReport,
}

impl ProcessTree {
    fn new(pid: u32) -> Self {
        ProcessTree {
            sampler: Some(TreeSampler::new(pid, true)),
            report: source(SourceKind::Process, process_label(pid), &TREE_SERIES),
        }
    }

    fn missing(why: String) -> Self {
        let mut report = source(SourceKind::Process, "no process".into(), &TREE_SERIES);
        report.failed(why);
        ProcessTree {
            sampler: None,
            report,
        }
    }
}

impl Source for ProcessTree {
    fn sample<'a>(&'a mut self, t: f64, _: &'a Client) -> BoxFuture<'a, ()> {
        if let Some(sampler) = &mut self.sampler {
            match sampler.sample() {
                Ok(s) => {
                    self.report.record(t, &s);
                    self.report.push(PROCESSES, t, s.processes as f64);
                }
                Err(e) => self.report.failed(e.to_string()),
            }
        }
        Box::pin(std::future::ready(()))
    }

    fn finish(self: Box<Self>, report: &mut ResourceReport) {
        report.sources.push(self.report);
    }

    fn peek(&self, report: &mut ResourceReport) {
        report.sources.push(self.report.clone());
    }
}

/// A Prometheus text endpoint: the process collector's CPU and memory, and any series named.
struct Prometheus {
    plan: PrometheusPlan,
    report: SourceReport,
    /// The last CPU-seconds reading: CPU is its rate between two readings.
    last_cpu: Option<(f64, f64)>,
}

impl Prometheus {
    fn new(plan: PrometheusPlan) -> Self {
        let mut report = source(
            SourceKind::Prometheus,
            plan.http.url.clone(),
            &[(CPU, "%"), (RSS, "bytes")],
        );
        for name in &plan.series {
            report.series.push(Series::new(name, ""));
        }
        Prometheus {
            plan,
            report,
            last_cpu: None,
        }
    }
}

impl Source for Prometheus {
    fn sample<'a>(&'a mut self, t: f64, fetcher: &'a Client) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match fetcher {
                Ok(fetcher) => {
                    sample_prometheus(fetcher, &self.plan, &mut self.report, &mut self.last_cpu, t)
                        .await
                }
                Err(e) => self.report.failed(e.to_string()),
            }
        })
    }

    fn finish(self: Box<Self>, report: &mut ResourceReport) {
        report.sources.push(self.report);
    }

    fn peek(&self, report: &mut ResourceReport) {
        report.sources.push(self.report.clone());
    }
}

/// A JSON endpoint with numbers at JSON pointers.
struct JsonMetrics {
    plan: JsonMetricsPlan,
    report: SourceReport,
}

impl JsonMetrics {
    fn new(plan: JsonMetricsPlan) -> Self {
        let mut report = source(SourceKind::Json, plan.http.url.clone(), &[]);
        if plan.cpu.is_some() {
            report.series.push(Series::new(CPU, "%"));
        }
        if plan.memory.is_some() {
            report.series.push(Series::new(RSS, "bytes"));
        }
        for (name, _) in &plan.series {
            report.series.push(Series::new(name, ""));
        }
        JsonMetrics { plan, report }
    }
}

impl Source for JsonMetrics {
    fn sample<'a>(&'a mut self, t: f64, fetcher: &'a Client) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match fetcher {
                Ok(fetcher) => sample_json(fetcher, &self.plan, &mut self.report, t).await,
                Err(e) => self.report.failed(e.to_string()),
            }
        })
    }

    fn finish(self: Box<Self>, report: &mut ResourceReport) {
        report.sources.push(self.report);
    }

    fn peek(&self, report: &mut ResourceReport) {
        report.sources.push(self.report.clone());
    }
}

/// The SUT's health endpoint, one poll per tick.
struct Health {
    plan: HealthPlan,
    report: HealthReport,
}

impl Health {
    fn new(plan: HealthPlan) -> Self {
        let report = HealthReport {
            url: plan.http.url.clone(),
            timeline: Vec::new(),
            counts: BTreeMap::new(),
        };
        Health { plan, report }
    }
}

impl Source for Health {
    fn sample<'a>(&'a mut self, t: f64, fetcher: &'a Client) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let answer = match fetcher {
                Ok(fetcher) => fetcher
                    .get(&self.plan.http)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let point = match answer {
                Ok((status, body, took)) => {
                    let (state, detail) =
                        endpoints::classify(status, &body, self.plan.status_pointer.as_deref());
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
            *self.report.counts.entry(point.state).or_default() += 1;
            self.report.timeline.push(point);
        })
    }

    fn finish(self: Box<Self>, report: &mut ResourceReport) {
        report.health = Some(self.report);
    }

    fn peek(&self, report: &mut ResourceReport) {
        report.health = Some(self.report.clone());
    }
}

const PROM_CPU: &str = "process_cpu_seconds_total";
const PROM_RSS: &str = "process_resident_memory_bytes";

async fn sample_prometheus(
    fetcher: &Fetcher,
    plan: &PrometheusPlan,
    rep: &mut SourceReport,
    last_cpu: &mut Option<(f64, f64)>,
    t: f64,
) {
    let body = match fetcher.get_ok(&plan.http).await {
        Ok(body) => body,
        Err(e) => return rep.failed(e.to_string()),
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

async fn sample_json(fetcher: &Fetcher, plan: &JsonMetricsPlan, rep: &mut SourceReport, t: f64) {
    let body = match fetcher.get_ok(&plan.http).await {
        Ok(body) => body,
        Err(e) => return rep.failed(e.to_string()),
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
