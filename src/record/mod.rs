//! The recorder: users send one `Sample` per request over a channel; a single
//! thread folds them into HDR histograms per request name and phase, a
//! per-second series, status counts, server-header figures and error groups.
//! Nothing is sampled away: every request lands in exactly one phase.

pub mod blocks;
pub mod load_report;
mod reach;
pub mod stats;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::clock::RunClock;
use crate::hist::{new_histogram, record_latency};
use crate::result::{
    ErrorGroup, ErrorReport, ErrorSample, GeneratorFaultReport, PacingReport, Phase, PhaseStats,
    Phases, TimePoint, Window,
};
use crate::runner::pacing::Pace;
use crate::runner::sample::{GeneratorFault, HeaderMetric, HeaderValue, Msg, Sample, SampleSender};
use stats::Acc;

/// How often the recorder drains its queue.
const POLL: Duration = Duration::from_millis(10);
/// Late samples for a second are still counted in it for this long after it ends.
const GRACE: Duration = Duration::from_millis(300);
/// Distinct (request, status, reason) groups kept before folding into "other".
const MAX_ERROR_GROUPS: usize = 500;

/// What the recorder needs to know about the plan.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    pub endpoints: Vec<String>,
    pub scenarios: usize,
    /// Server headers as written in the file.
    pub header_labels: Vec<String>,
    pub error_samples: usize,
    /// The planned levels per second come from its stages.
    pub load: crate::scenario::plan::LoadPlan,
    /// Masked in the reasons and bodies kept.
    pub secrets: crate::redact::Secrets,
}

/// Figures shown by the live progress line.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub elapsed_s: u64,
    pub users: usize,
    pub rps: u64,
    pub requests: u64,
    pub errors: u64,
    pub p95_ms: Option<f64>,
}

/// What the recorder saves while the run goes, so that a run killed outright
/// (SIGKILL, a crash) still leaves what it measured.
#[derive(Default)]
pub struct Saving {
    /// Gets the interval log as it is written, one second at a time.
    pub interval_log: Option<std::fs::File>,
    /// Gets the server-header log the same way.
    pub header_log: Option<std::fs::File>,
    /// Gets everything recorded so far, every `CHECKPOINT_EVERY`.
    pub checkpoint: Option<Box<dyn FnMut(Collected) + Send>>,
    /// Gets everything recorded so far and the seconds just closed, once a
    /// second and once more at the end (the live page, `--out`).
    pub every_second: Option<Box<dyn FnMut(Tick) + Send>>,
}

/// What `Saving::every_second` gets: the figures so far, as a checkpoint has
/// them, and each second closed since the last tick with its latencies per
/// request name.
pub struct Tick {
    pub collected: Collected,
    pub seconds: Vec<ClosedSecond>,
    /// The last tick: every sample is in.
    pub last: bool,
}

/// One closed second's latencies of successful requests, per request name
/// (the index into the plan's endpoints).
pub struct ClosedSecond {
    pub t: u64,
    pub by_endpoint: BTreeMap<u32, Histogram<u64>>,
}

/// How often a running recorder hands out a checkpoint.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// The interval log, kept in memory for the end of the run and appended to a
/// file as it goes. A file that fails (a full disk) is dropped: the run goes
/// on, and the end of the run reports the failure when it writes the log.
struct LogSink {
    memory: Vec<u8>,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl LogSink {
    /// Kept in memory, and written to `file` as it comes when there is one.
    fn new(file: Option<std::fs::File>) -> LogSink {
        LogSink {
            memory: Vec::new(),
            file: file.map(std::io::BufWriter::new),
        }
    }
}

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.memory.extend_from_slice(buf);
        // Whole lines reach the file: a run killed now leaves every second before.
        if let Some(file) = &mut self.file
            && (file.write_all(buf).is_err() || (buf.ends_with(b"\n") && file.flush().is_err()))
        {
            self.file = None;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(file) = &mut self.file
            && file.flush().is_err()
        {
            self.file = None;
        }
        Ok(())
    }
}

pub struct Recorder {
    tx: mpsc::Sender<Msg>,
    handle: JoinHandle<Collected>,
    pub clock: Arc<RunClock>,
    pub live: Arc<Mutex<Live>>,
}

/// Everything recorded, ready to become a `RunResult`.
#[derive(Debug)]
pub struct Collected {
    pub phases: Phases,
    pub totals: PhaseStats,
    pub endpoints: Vec<PhaseStats>,
    pub scenarios: Vec<PhaseStats>,
    pub timeseries: Vec<TimePoint>,
    pub errors: ErrorReport,
    /// HdrHistogram interval log: per second and request name (tag `e<index>`).
    pub interval_log: Vec<u8>,
    /// HdrHistogram interval log of server-header values (see `header_tag`).
    pub header_log: Vec<u8>,
    pub users_by_scenario: Vec<usize>,
    /// Closed model: how far users fell behind their pace in the steady state.
    pub pacing: Option<PacingReport>,
}

/// Closed-model pacing over the steady state (see `Sample::pace`).
struct PacingTally {
    requests: u64,
    late: u64,
    worst_delay_us: u64,
    measured: Histogram<u64>,
    corrected: Histogram<u64>,
}

impl PacingTally {
    fn new() -> Self {
        PacingTally {
            requests: 0,
            late: 0,
            worst_delay_us: 0,
            measured: new_histogram(),
            corrected: new_histogram(),
        }
    }

    /// One answer judged against its pace; `ok` answers are the ones latency
    /// figures describe. The corrected histogram also gets the late sends, at
    /// the latencies they would have seen (see `Pace::fills`).
    fn add(&mut self, latency: Duration, pace: Pace, late: u64, ok: bool) {
        self.requests += 1;
        self.late += late;
        if late > 0 {
            let delay = latency.saturating_sub(pace.usual).as_micros() as u64;
            self.worst_delay_us = self.worst_delay_us.max(delay);
        }
        if !ok {
            return;
        }
        let us = latency.as_micros() as u64;
        record_latency(&mut self.measured, us);
        record_latency(&mut self.corrected, us);
        for fill in pace.fills(latency) {
            record_latency(&mut self.corrected, fill.as_micros() as u64);
        }
    }

    fn report(&self) -> PacingReport {
        let (measured, corrected) = stats::pacing_summaries(&self.measured, &self.corrected);
        PacingReport {
            requests: self.requests,
            late: self.late,
            worst_delay_ms: self.worst_delay_us as f64 / 1e3,
            measured,
            corrected,
            measured_histogram: crate::hist::encode_recorded(&self.measured),
            corrected_histogram: crate::hist::encode_recorded(&self.corrected),
        }
    }
}

impl Recorder {
    /// Starts the recorder thread; fails only if the system refuses a thread.
    pub fn start(
        config: RecorderConfig,
        clock: Arc<RunClock>,
        saving: Saving,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let live = Arc::new(Mutex::new(Live::default()));
        let thread_clock = clock.clone();
        let thread_live = live.clone();
        let handle = std::thread::Builder::new()
            .name("gander-recorder".into())
            .spawn(move || aggregate(config, thread_clock, thread_live, rx, saving))?;
        Ok(Recorder {
            tx,
            handle,
            clock,
            live,
        })
    }

    pub fn sender(&self) -> SampleSender {
        SampleSender::new(self.tx.clone())
    }

    /// Stops the recorder after every sample sent so far and returns the results.
    pub fn finish(self) -> Collected {
        let _ = self.tx.send(Msg::Finish);
        match self.handle.join() {
            Ok(collected) => collected,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// One second of the run being filled.
struct Second {
    requests: u64,
    errors: u64,
    bytes: u64,
    hist: Histogram<u64>,
    by_endpoint: BTreeMap<u32, Histogram<u64>>,
    /// Sum and count of each server-header figure completed in this second.
    headers: BTreeMap<HeaderMetric, (f64, u64)>,
    /// Per request name and server-header figure, the values completed in this second.
    header_values: BTreeMap<u32, BTreeMap<HeaderMetric, Histogram<u64>>>,
    /// Failed or not sent requests per request name.
    errors_by_endpoint: BTreeMap<u32, u64>,
    /// Closed model: requests the users' pace called for but that were held back.
    late: u64,
}

impl Second {
    fn new() -> Self {
        Second {
            requests: 0,
            errors: 0,
            bytes: 0,
            hist: new_histogram(),
            by_endpoint: BTreeMap::new(),
            headers: BTreeMap::new(),
            header_values: BTreeMap::new(),
            errors_by_endpoint: BTreeMap::new(),
            late: 0,
        }
    }

    /// The server-header figures of one sample of `endpoint`: their sums and
    /// counts, and their values per request name.
    fn add_headers(&mut self, endpoint: u32, headers: &[HeaderValue]) {
        for h in headers {
            // Clone the key (a Server-Timing name allocates) only the first time in a second.
            match self.headers.get_mut(&h.metric) {
                Some((sum, count)) => {
                    *sum += h.value;
                    *count += 1;
                }
                None => {
                    self.headers.insert(h.metric.clone(), (h.value, 1));
                }
            }
            let values = self.header_values.entry(endpoint).or_default();
            let raw = stats::header_raw(h.value);
            match values.get_mut(&h.metric) {
                Some(hist) => {
                    let _ = hist.record(raw);
                }
                None => {
                    let mut hist = new_histogram();
                    let _ = hist.record(raw);
                    values.insert(h.metric.clone(), hist);
                }
            }
        }
    }
}

struct Aggregator {
    config: RecorderConfig,
    clock: Arc<RunClock>,
    /// Per endpoint, per phase (ramp-up, steady, ramp-down).
    accs: Vec<[Acc; 3]>,
    /// Per scenario, per phase.
    scenario_accs: Vec<[Acc; 3]>,
    open: BTreeMap<u64, Second>,
    next_to_close: u64,
    timeseries: Vec<TimePoint>,
    groups: HashMap<(u32, u16, String), u64>,
    groups_truncated: bool,
    samples: Vec<ErrorSample>,
    total_requests: u64,
    total_errors: u64,
    header_is_time: Vec<bool>,
    pacing: PacingTally,
    reach: reach::Reach,
    /// Per server header, the Server-Timing component names seen so far.
    timing_names: HashMap<u16, HashSet<Box<str>>>,
    /// The load generator's own failures: (count, first second, first reason).
    generator: BTreeMap<GeneratorFault, (u64, f64, String)>,
    /// Seconds closed since the last tick, kept only when someone ticks.
    closed: Option<Vec<ClosedSecond>>,
}

/// The most Server-Timing component names kept per header: the SUT chooses
/// them, and each becomes a set of figures. Later names count as `other`.
pub const MAX_TIMING_NAMES: usize = 32;
const OTHER_TIMING: &str = "other";

/// The run's phases as windows, up to `now`: ramp-up, steady and ramp-down
/// once the steady state began, else all of it ramp-up.
fn phases(clock: &RunClock, now: Instant) -> Phases {
    let secs = |t: Instant| clock.seconds_since_start(t);
    let end_s = secs(now);
    let (steady_start, steady_end) = clock.steady();
    match steady_start {
        Some(start) => {
            let end = steady_end.map(secs).unwrap_or(end_s).min(end_s);
            Phases {
                ramp_up: Some(Window {
                    start_s: 0.0,
                    end_s: secs(start),
                }),
                steady: Some(Window {
                    start_s: secs(start),
                    end_s: end,
                }),
                ramp_down: Some(Window {
                    start_s: end,
                    end_s,
                }),
                total: Window {
                    start_s: 0.0,
                    end_s,
                },
            }
        }
        None => Phases {
            ramp_up: Some(Window {
                start_s: 0.0,
                end_s,
            }),
            steady: None,
            ramp_down: None,
            total: Window {
                start_s: 0.0,
                end_s,
            },
        },
    }
}

/// Index into an endpoint's per-phase accumulators. `phase_of` never returns `All`.
fn phase_index(phase: Phase) -> usize {
    match phase {
        Phase::RampUp => 0,
        Phase::Steady => 1,
        Phase::RampDown | Phase::All => 2,
    }
}

/// The recorder thread: the interval logs set up, then its loop and its
/// shutdown, kept together so the order of draining is visible.
fn aggregate(
    config: RecorderConfig,
    clock: Arc<RunClock>,
    live: Arc<Mutex<Live>>,
    rx: mpsc::Receiver<Msg>,
    saving: Saving,
) -> Collected {
    let Saving {
        interval_log,
        header_log,
        mut checkpoint,
        mut every_second,
    } = saving;
    let mut log = LogSink::new(interval_log);
    let mut header_log = LogSink::new(header_log);
    let (mut serializer, mut header_serializer) =
        (V2DeflateSerializer::new(), V2DeflateSerializer::new());
    let start_time = SystemTime::now() - clock.t0.elapsed();
    let mut writers = Writers {
        latency: IntervalLogWriterBuilder::new()
            .add_comment(&latency_log_comment(&config.endpoints))
            .with_start_time(start_time)
            .with_base_time(start_time)
            .begin_log_with(&mut log, &mut serializer)
            .expect("the log sink never fails"),
        headers: IntervalLogWriterBuilder::new()
            .add_comment(&header_log_comment(&config.endpoints))
            .with_start_time(start_time)
            .with_base_time(start_time)
            .begin_log_with(&mut header_log, &mut header_serializer)
            .expect("the log sink never fails"),
    };

    let mut agg = Aggregator::new(config, clock, every_second.is_some());

    // Poll rather than block: a receiver asleep in recv() must be woken by the
    // sender of every sample, one context switch per request on a machine with
    // no core to spare. Draining on a short timer lets senders never wake it.
    let mut finished = false;
    // The first checkpoint at once: a gander killed in its first seconds
    // (SIGKILL, out of memory) still leaves a run.json.
    let mut last_checkpoint: Option<Instant> = None;
    while !finished {
        finished = agg.drain(&rx);
        let elapsed = agg.clock.t0.elapsed();
        while Duration::from_secs(agg.next_to_close + 1) + GRACE <= elapsed {
            agg.close_second(&mut writers, &live);
        }
        if let Some(save) = checkpoint.as_mut()
            && !finished
            && last_checkpoint.is_none_or(|t| t.elapsed() >= CHECKPOINT_EVERY)
        {
            save(agg.collect(Vec::new(), Vec::new()));
            last_checkpoint = Some(Instant::now());
        }
        if let Some(tick) = every_second.as_mut()
            && !finished
            && agg.closed.as_ref().is_some_and(|c| !c.is_empty())
        {
            tick(agg.tick(false));
        }
        if !finished {
            std::thread::sleep(POLL);
        }
    }
    // Close every second up to the last one that holds samples.
    let last = agg.open.keys().next_back().copied().unwrap_or(0);
    while agg.next_to_close <= last {
        agg.close_second(&mut writers, &live);
    }
    if let Some(tick) = every_second.as_mut() {
        tick(agg.tick(true));
    }
    drop(writers);
    agg.collect(log.memory, header_log.memory)
}

/// The endpoints' tags, as the interval logs' comments list them.
fn tag_names(endpoints: &[String]) -> String {
    endpoints
        .iter()
        .enumerate()
        .map(|(i, name)| format!("\ne{i} = {name}"))
        .collect()
}

/// The comment that opens `latency.hlog`.
pub fn latency_log_comment(endpoints: &[String]) -> String {
    format!(
        "gander latency log: microseconds; tags name requests:{}",
        tag_names(endpoints)
    )
}

/// The comment that opens `headers.hlog`.
pub fn header_log_comment(endpoints: &[String]) -> String {
    format!(
        "gander server-header log: values in 1/{}ths (times in ms); tag \
         e<i>:<figure, percent-encoded> is a figure of request name e<i>:{}",
        stats::HEADER_SCALE,
        tag_names(endpoints)
    )
}

type LogWriter<'a, W> =
    hdrhistogram::serialization::interval_log::IntervalLogWriter<'a, 'a, W, V2DeflateSerializer>;

/// The interval logs being written, also to the run directory as they go:
/// latencies, and server-header values.
struct Writers<'a> {
    latency: LogWriter<'a, LogSink>,
    headers: LogWriter<'a, LogSink>,
}

impl Aggregator {
    /// Nothing recorded yet; `every_second` keeps the closed seconds for the
    /// live page and `--out`.
    fn new(config: RecorderConfig, clock: Arc<RunClock>, every_second: bool) -> Aggregator {
        Aggregator {
            accs: (0..config.endpoints.len())
                .map(|_| Default::default())
                .collect(),
            scenario_accs: (0..config.scenarios).map(|_| Default::default()).collect(),
            header_is_time: vec![false; config.header_labels.len()],
            config,
            clock,
            open: BTreeMap::new(),
            next_to_close: 0,
            timeseries: Vec::new(),
            groups: HashMap::new(),
            groups_truncated: false,
            samples: Vec::new(),
            total_requests: 0,
            total_errors: 0,
            pacing: PacingTally::new(),
            reach: Default::default(),
            timing_names: HashMap::new(),
            generator: BTreeMap::new(),
            closed: every_second.then(Vec::new),
        }
    }

    /// Adds every sample waiting; `true` once the run is over (finished, or
    /// every sender gone).
    fn drain(&mut self, rx: &mpsc::Receiver<Msg>) -> bool {
        loop {
            match rx.try_recv() {
                Ok(Msg::Sample(sample)) => self.add(sample),
                Ok(Msg::Finish) | Err(TryRecvError::Disconnected) => return true,
                Err(TryRecvError::Empty) => return false,
            }
        }
    }

    fn header_label(&self, metric: &HeaderMetric) -> String {
        match metric {
            HeaderMetric::Listed(i) => self
                .config
                .header_labels
                .get(*i as usize)
                .cloned()
                .unwrap_or_default(),
            HeaderMetric::Timing(i, name) => {
                let header = self
                    .config
                    .header_labels
                    .get(*i as usize)
                    .map(String::as_str)
                    .unwrap_or("Server-Timing");
                format!("{header} {name}")
            }
        }
    }

    /// Renames a Server-Timing component past the first `MAX_TIMING_NAMES`
    /// of its header to `other`.
    fn bound_timing_names(&mut self, headers: &mut [HeaderValue]) {
        for h in headers {
            let HeaderMetric::Timing(header, name) = &mut h.metric else {
                continue;
            };
            let seen = self.timing_names.entry(*header).or_default();
            if seen.contains(&**name) {
                continue;
            }
            if seen.len() < MAX_TIMING_NAMES {
                seen.insert(name.clone());
            } else {
                *name = OTHER_TIMING.into();
            }
        }
    }

    /// One sample: what it counts toward in its second, its request name's
    /// and its scenario's figures.
    fn add(&mut self, mut s: Sample) {
        let endpoint = s.endpoint as usize;
        if endpoint >= self.accs.len() {
            return;
        }
        if self.own_fault(&s) {
            return;
        }
        self.bound_timing_names(&mut s.headers);
        // A header is a time if any of its values carried a unit.
        for h in &s.headers {
            if let HeaderMetric::Listed(i) = h.metric
                && let Some(flag) = self.header_is_time.get_mut(i as usize)
            {
                *flag |= h.is_time;
            }
        }
        let phase = self.clock.phase_of(s.started);
        // A socket's sample stands at its end, its latency being how long it lived.
        let completed = match s.socket {
            Some(_) => s.started,
            None => s.started + s.latency.unwrap_or_default(),
        };
        let mut second = completed.saturating_duration_since(self.clock.t0).as_secs();
        // A sample for a second already closed counts in the oldest open one.
        second = second.max(self.next_to_close);
        let is_error = s.failure.is_some() || s.latency.is_none();
        let slot = self.open.entry(second).or_insert_with(Second::new);
        if let Some(latency) = s.latency {
            slot.requests += 1;
            slot.bytes += s.bytes;
            self.total_requests += 1;
            if let Some(reason) = self.reach.saw(&s) {
                crate::signals::stop(reason);
            }
            // Any answer, failed or not, can hold a closed-model user back.
            let late = s.pace.map_or(0, |p| p.late_sends(latency));
            slot.late += late;
            if phase == Phase::Steady
                && let Some(pace) = s.pace
            {
                self.pacing.add(latency, pace, late, s.failure.is_none());
            }
        }
        // Latency figures describe successful requests; failures are counted apart,
        // and a socket's life is no latency.
        if let (Some(latency), None, None) = (s.latency, &s.failure, &s.socket) {
            let us = latency.as_micros() as u64;
            record_latency(&mut slot.hist, us);
            record_latency(
                slot.by_endpoint
                    .entry(s.endpoint)
                    .or_insert_with(new_histogram),
                us,
            );
        }
        slot.add_headers(s.endpoint, &s.headers);
        if is_error {
            *slot.errors_by_endpoint.entry(s.endpoint).or_default() += 1;
            slot.errors += 1;
            self.total_errors += 1;
            self.record_failure(&s);
        }
        let header_is_time = &self.header_is_time;
        let is_time = |m: &HeaderMetric| match m {
            HeaderMetric::Listed(i) => header_is_time.get(*i as usize).copied().unwrap_or(false),
            HeaderMetric::Timing(..) => true,
        };
        self.accs[endpoint][phase_index(phase)].add(&s, is_time);
        if let Some(accs) = self.scenario_accs.get_mut(s.scenario as usize) {
            accs[phase_index(phase)].add(&s, is_time);
        }
    }

    /// A request gander could not make for a limit of its own, not the SUT's
    /// doing: counted apart, in no figure. `true` when it was one.
    fn own_fault(&mut self, s: &Sample) -> bool {
        let Some((fault, f)) = s.failure.as_ref().and_then(|f| Some((f.generator?, f))) else {
            return false;
        };
        let t = self.clock.seconds_since_start(s.started);
        self.generator
            .entry(fault)
            .or_insert_with(|| (0, t, f.reason.clone()))
            .0 += 1;
        true
    }

    /// The load generator's own failures, as run.json keeps them.
    fn generator_faults(&self) -> Vec<GeneratorFaultReport> {
        self.generator
            .iter()
            .map(|(fault, (count, first_s, example))| GeneratorFaultReport {
                kind: fault.kind().into(),
                cause: fault.cause().into(),
                count: *count,
                first_s: *first_s,
                example: self.config.secrets.message(example),
            })
            .collect()
    }

    fn record_failure(&mut self, s: &Sample) {
        let reason = s
            .failure
            .as_ref()
            .map(|f| f.reason.clone())
            .unwrap_or_else(|| "not sent".into());
        if self.samples.len() < self.config.error_samples {
            self.samples.push(ErrorSample {
                t_s: self.clock.seconds_since_start(s.started),
                endpoint: self.config.endpoints[s.endpoint as usize].clone(),
                status: s.status,
                reason: self.config.secrets.message(&reason),
                body: s
                    .failure
                    .as_ref()
                    .and_then(|f| f.body.as_deref())
                    .map(|b| self.config.secrets.message(b)),
            });
        }
        let key = (s.endpoint, s.status, reason);
        if let Some(count) = self.groups.get_mut(&key) {
            *count += 1;
        } else if self.groups.len() < MAX_ERROR_GROUPS {
            self.groups.insert(key, 1);
        } else {
            self.groups_truncated = true;
            *self
                .groups
                .entry((s.endpoint, s.status, "other".into()))
                .or_default() += 1;
        }
    }

    fn close_second(&mut self, writers: &mut Writers<'_>, live: &Mutex<Live>) {
        let t = self.next_to_close;
        self.next_to_close += 1;
        let second = self.open.remove(&t).unwrap_or_else(Second::new);
        let [p50_ms, p95_ms, p99_ms, max_ms] = stats::second_latencies(&second.hist);
        let point = TimePoint {
            t,
            requests: second.requests,
            errors: second.errors,
            bytes: second.bytes,
            p50_ms,
            p95_ms,
            p99_ms,
            max_ms,
            users: self.clock.users_now(),
            target: self.clock.origin().and_then(|origin| {
                let since = self.clock.seconds_since_start(origin);
                self.config.load.level_at(t as f64 + 0.5 - since)
            }),
            iterations: None,
            late: second.late,
            headers: second
                .headers
                .iter()
                .map(|(m, (sum, count))| (self.header_label(m), sum / *count as f64))
                .collect(),
            errors_by_name: second
                .errors_by_endpoint
                .iter()
                .map(|(e, n)| (self.config.endpoints[*e as usize].clone(), *n))
                .collect(),
            cpu_ms_per_request: None,
        };
        let (start, one) = (Duration::from_secs(t), Duration::from_secs(1));
        for (endpoint, hist) in &second.by_endpoint {
            let tag_text = format!("e{endpoint}");
            let tag = Tag::new(&tag_text);
            let _ = writers.latency.write_histogram(hist, start, one, tag);
        }
        for (endpoint, values) in &second.header_values {
            for (metric, hist) in values {
                let tag_text = crate::hist::header_tag(*endpoint, &self.header_label(metric));
                let _ = writers
                    .headers
                    .write_histogram(hist, start, one, Tag::new(&tag_text));
            }
        }
        if let Some(closed) = self.closed.as_mut() {
            closed.push(ClosedSecond {
                t,
                by_endpoint: second.by_endpoint,
            });
        }
        if let Ok(mut live) = live.lock() {
            *live = Live {
                elapsed_s: t + 1,
                users: point.users,
                rps: point.requests,
                requests: self.total_requests,
                errors: self.total_errors,
                p95_ms: point.p95_ms,
            };
        }
        self.timeseries.push(point);
    }

    /// Everything so far and the seconds closed since the last tick.
    fn tick(&mut self, last: bool) -> Tick {
        Tick {
            collected: self.collect(Vec::new(), Vec::new()),
            seconds: self.closed.as_mut().map(std::mem::take).unwrap_or_default(),
            last,
        }
    }

    /// Everything recorded so far.
    fn collect(&self, interval_log: Vec<u8>, header_log: Vec<u8>) -> Collected {
        let timeseries = self.timeseries.clone();
        let samples = self.samples.clone();
        let clock = &self.clock;
        let phases = phases(clock, Instant::now());
        let len = |w: Option<Window>| w.map(|w| w.len_s()).unwrap_or(0.0);
        let windows = [
            len(phases.ramp_up),
            len(phases.steady),
            len(phases.ramp_down),
            phases.total.len_s(),
        ];
        let label = |m: &HeaderMetric| self.header_label(m);
        let phase_stats = |accs: &[Acc; 3]| {
            let mut all = Acc::default();
            for acc in accs {
                all.merge(acc);
            }
            PhaseStats {
                ramp_up: accs[0].stats(windows[0], label),
                steady: accs[1].stats(windows[1], label),
                ramp_down: accs[2].stats(windows[2], label),
                all: all.stats(windows[3], label),
            }
        };
        let mut total: [Acc; 3] = Default::default();
        for accs in &self.accs {
            for (t, a) in total.iter_mut().zip(accs) {
                t.merge(a);
            }
        }
        let endpoints = self.accs.iter().map(phase_stats).collect();
        let scenarios = self.scenario_accs.iter().map(phase_stats).collect();
        Collected {
            phases,
            totals: phase_stats(&total),
            endpoints,
            scenarios,
            timeseries,
            errors: ErrorReport {
                groups: self.error_groups(),
                samples,
                groups_truncated: self.groups_truncated,
                generator: self.generator_faults(),
            },
            interval_log,
            header_log,
            users_by_scenario: clock.users_by_scenario(),
            pacing: (self.config.load.model == crate::scenario::plan::LoadModel::Closed)
                .then(|| self.pacing.report()),
        }
    }

    /// The failures grouped by request name, status and reason, the most
    /// frequent first.
    fn error_groups(&self) -> Vec<ErrorGroup> {
        let mut groups: Vec<ErrorGroup> = self
            .groups
            .iter()
            .map(|((endpoint, status, reason), count)| ErrorGroup {
                endpoint: self.config.endpoints[*endpoint as usize].clone(),
                status: *status,
                // Masked once per group, not per failure.
                reason: self.config.secrets.message(reason),
                count: *count,
            })
            .collect();
        groups.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.endpoint.cmp(&b.endpoint))
        });
        groups
    }
}

#[cfg(test)]
mod pacing_tests {
    use std::time::{Duration, Instant};

    use super::PacingTally;
    use crate::result::LatencySummary;
    use crate::runner::pacing::Pacing;

    /// A small deterministic generator (xorshift), so every seed replays.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// One user sending `steps` (request name, latency) with `think` between
    /// sends, judged and recorded as the runner and the recorder do. Returns the
    /// report and the most sends the user's pace allowed in its time.
    fn replay(steps: &[(usize, Duration)], think: Duration) -> (super::PacingReport, u64) {
        let mut pacing = Pacing::default();
        let mut tally = PacingTally::new();
        let start = Instant::now();
        let mut now = start;
        let mut fastest_cadence = Duration::MAX;
        for &(endpoint, latency) in steps {
            let pace = pacing.sent(endpoint, now);
            pacing.answered(endpoint, Some(latency), pace);
            if let Some(pace) = pace {
                fastest_cadence = fastest_cadence.min(pace.cadence);
                tally.add(latency, pace, pace.late_sends(latency), true);
            }
            now += latency + think;
        }
        let elapsed = now - start;
        let allowed =
            (elapsed.as_nanos() / fastest_cadence.max(Duration::from_micros(1)).as_nanos()) as u64;
        (tally.report(), allowed)
    }

    fn at_least(c: &LatencySummary, m: &LatencySummary) -> bool {
        [
            (c.p50, m.p50),
            (c.p90, m.p90),
            (c.p95, m.p95),
            (c.p99, m.p99),
            (c.p99_9, m.p99_9),
            (c.max, m.max),
        ]
        .iter()
        .all(|(c, m)| c >= m)
    }

    #[test]
    fn corrected_is_never_below_measured_and_late_is_bounded_by_the_pace() {
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        for seed in 1..=200u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let kind = seed % 3;
            let (steps, think): (Vec<(usize, Duration)>, Duration) = match kind {
                // A flow whose steps differ by orders of magnitude, with rare stalls.
                0 => (
                    (0..600)
                        .map(|i| {
                            let base = [us(100), us(100), ms(300), ms(20)][i % 4];
                            let stall = if rng.below(200) == 0 {
                                ms(rng.below(2000))
                            } else {
                                Duration::ZERO
                            };
                            (i % 4, base + us(rng.below(500)) + stall)
                        })
                        .collect(),
                    Duration::ZERO,
                ),
                // A zero-think hammer with jitter.
                1 => (
                    (0..2000).map(|_| (0, us(200 + rng.below(3000)))).collect(),
                    Duration::ZERO,
                ),
                // Think time with a long stall now and then.
                _ => (
                    (0..1000)
                        .map(|_| {
                            let stall = if rng.below(300) == 0 {
                                ms(500 + rng.below(1500))
                            } else {
                                Duration::ZERO
                            };
                            (0, us(500 + rng.below(1500)) + stall)
                        })
                        .collect(),
                    ms(20),
                ),
            };
            let (report, allowed) = replay(&steps, think);
            let (m, c) = (report.measured.unwrap(), report.corrected.unwrap());
            assert!(
                at_least(&c, &m),
                "seed {seed}: corrected {c:?} below measured {m:?}"
            );
            assert!(
                report.late <= allowed,
                "seed {seed}: {} late, the pace allows {allowed}",
                report.late
            );
        }
    }

    #[test]
    fn a_stall_is_filled_in_and_moves_the_tail() {
        // 1 ms answers, 19 ms think (a 20 ms cadence), and one 1001 ms answer in 500.
        let mut steps = vec![(0, Duration::from_millis(1)); 500];
        steps[250].1 = Duration::from_millis(1001);
        let (report, _) = replay(&steps, Duration::from_millis(19));
        assert_eq!(report.late, 50);
        let (m, c) = (report.measured.unwrap(), report.corrected.unwrap());
        assert!(m.p99 < 2.0, "measured p99 {}", m.p99);
        assert!(c.p99 > 500.0, "corrected p99 {}", c.p99);
    }
}
