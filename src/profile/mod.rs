//! The profiler box: one CPU profile of the SUT per run, taken while the
//! steady state runs, turned into folded stacks, a flame graph and a top-N
//! table. A profiler that fails leaves the run intact: the report says why.

pub mod external;
pub mod folded;
pub mod pprof;
mod proto;
pub mod tick;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock::RunClock;
use crate::result::Window;
pub use crate::result::profile::{
    DIFF_FLAMEGRAPH_FILE, FLAMEGRAPH_FILE, FOLDED_FILE, ProfileDiff, ProfileFiles, ProfileReport,
    ProfileStatus,
};
use crate::scenario::plan::{ProfilePlan, ProfileSource};
use folded::Folded;

/// How many functions the top table keeps.
const TOP_N: usize = 25;
/// Used when the run has no planned duration (iterations).
const DEFAULT_SECONDS_WITHOUT_DURATION: u64 = 10;

/// A finished profile: the report and the bytes to save.
pub struct Capture {
    pub report: ProfileReport,
    pub raw: Option<(String, Vec<u8>)>,
    pub folded: Option<Folded>,
    /// The stacks of each `gander.request` label's samples.
    pub by_request: std::collections::BTreeMap<String, Folded>,
}

impl Capture {
    fn missing(plan: &ProfilePlan, target: &str, reason: impl Into<String>) -> Capture {
        let reason = plan.secrets.message(&reason.into());
        Capture::missing_from(plan.source.label(), target, reason)
    }

    fn missing_from(source: &str, target: &str, reason: impl Into<String>) -> Capture {
        Capture {
            report: ProfileReport {
                source: source.to_string(),
                target: target.to_string(),
                status: ProfileStatus::Missing,
                reason: Some(reason.into()),
                window: None,
                requested_s: 0.0,
                samples: 0,
                unit: String::new(),
                requests_in_window: 0,
                files: ProfileFiles::default(),
                top: Vec::new(),
                diff: None,
                by_request: Vec::new(),
                tick_ms: None,
            },
            raw: None,
            folded: None,
            by_request: Default::default(),
        }
    }

    /// The interactive flame graph, titled with the run, the window and the sample count.
    pub fn flamegraph(&self, run_name: &str) -> Option<Vec<u8>> {
        let folded = self.folded.as_ref().filter(|f| !f.is_empty())?;
        let r = &self.report;
        let window = r
            .window
            .map(|w| format!("{:.0}s-{:.0}s of the run", w.start_s, w.end_s))
            .unwrap_or_default();
        let subtitle = format!(
            "{} of {} · {window} · {} {}",
            r.source, r.target, r.samples, r.unit
        );
        folded
            .flamegraph(&format!("{run_name}: CPU flame graph"), &subtitle, &r.unit)
            .ok()
    }
}

/// A profile being taken on its own thread.
pub struct Profiler {
    handle: Option<JoinHandle<Capture>>,
    source: &'static str,
    target: String,
}

/// Where to point the profiler: a URL needs nothing, the others the SUT's
/// root process (its workers are found when the profile starts).
pub struct Target {
    pub root: Result<u32, crate::sut::process::ProcessError>,
    /// How a pprof endpoint is reached: the run's TLS and proxies.
    pub edge: Arc<crate::net::Edge>,
}

impl Profiler {
    pub fn start(plan: ProfilePlan, target: Target, clock: Arc<RunClock>) -> Profiler {
        let source = plan.source.label();
        let label = target_label(&plan, &target);
        let handle = std::thread::Builder::new()
            .name("gander-profiler".into())
            .spawn(move || take(&plan, target, &clock))
            .ok();
        Profiler {
            handle,
            source,
            target: label,
        }
    }

    /// Waits for the profile; its thread bounds itself by the profile's deadline.
    pub fn finish(self) -> Capture {
        match self.handle.map(JoinHandle::join) {
            Some(Ok(c)) => c,
            Some(Err(_)) => {
                Capture::missing_from(self.source, &self.target, "the profiler thread failed")
            }
            None => Capture::missing_from(
                self.source,
                &self.target,
                "cannot start the profiler thread",
            ),
        }
    }
}

fn target_label(plan: &ProfilePlan, target: &Target) -> String {
    match (&plan.source, &target.root) {
        (ProfileSource::Pprof { url }, _) => plan.secrets.url(url),
        (_, Ok(pid)) => format!("pid {pid}"),
        (_, Err(_)) => "no process".into(),
    }
}

/// How long to profile: the file's `seconds`, else the steady state minus a
/// margin so the profile ends before users stop.
fn profile_length(plan: &ProfilePlan, planned: Option<Duration>) -> u64 {
    if let Some(s) = plan.seconds {
        return s.as_secs().max(1);
    }
    match planned {
        Some(d) => {
            let d = d.as_secs();
            let margin = (d / 10).clamp(1, 10);
            d.saturating_sub(margin).max(1)
        }
        None => DEFAULT_SECONDS_WITHOUT_DURATION,
    }
}

/// Waits for the steady state (and `plan.after`), then runs the source over
/// one window.
fn take(plan: &ProfilePlan, target: Target, clock: &RunClock) -> Capture {
    let label = target_label(plan, &target);
    // Wait for the steady state and `after` more (or the end of a run that
    // never got there).
    let start = loop {
        let start = clock.steady().0.map(|steady| steady + plan.after);
        let now = Instant::now();
        if let Some(start) = start.filter(|&s| now >= s) {
            break start;
        }
        if clock.finished() {
            let why = match start {
                None => "the run ended before the steady state began",
                Some(_) => "the run ended before the profile was to start",
            };
            return Capture::missing(plan, &label, why);
        }
        let left = start.map_or(Duration::MAX, |s| s - now);
        std::thread::sleep(Duration::from_millis(20).min(left));
    };
    let pids = match (&plan.source, &target.root) {
        (ProfileSource::Pprof { .. }, _) => Vec::new(),
        (_, Ok(root)) => match crate::sut::process::tree_pids(*root) {
            Ok(pids) => pids,
            Err(e) => {
                return Capture::missing(plan, &label, format!("the SUT process is gone: {e}"));
            }
        },
        (_, Err(e)) => return Capture::missing(plan, &label, e.to_string()),
    };
    let seconds = profile_length(plan, clock.planned_duration());
    let began = Instant::now().max(start);
    let deadline = began + Duration::from_secs(seconds) + plan.grace;
    let stop_early = || crate::signals::interrupted();
    let outcome = match &plan.source {
        ProfileSource::Pprof { url } => fetch_pprof(&target, url, seconds, deadline, &stop_early),
        source => tempfile::tempdir()
            .map_err(CaptureError::TempDir)
            .and_then(|dir| {
                let out = dir.path().join(external::out_name(source));
                let rate = plan.rate.unwrap_or_else(|| rate_for(seconds));
                let argv = external::argv(source, &pids, seconds, rate, &out);
                Ok(external::run(source, &argv, &out, deadline, &stop_early)?)
            }),
    };
    let ended = Instant::now();
    let window = Window {
        start_s: clock.seconds_since_start(began),
        end_s: clock
            .seconds_since_start(ended)
            .min(clock.seconds_since_start(began) + seconds as f64),
    };
    Capture::of(plan, label, window, seconds, outcome)
}

impl Capture {
    /// What the profiler gave over `window`: its stacks, or why there are none.
    fn of(
        plan: &ProfilePlan,
        label: String,
        window: Window,
        seconds: u64,
        outcome: Result<external::Output, CaptureError>,
    ) -> Capture {
        let out = match outcome {
            Ok(out) => out,
            Err(reason) => {
                let mut c = Capture::missing(plan, &label, reason.to_string());
                c.report.requested_s = seconds as f64;
                c.report.window = Some(window);
                return c;
            }
        };
        let samples = out.folded.total();
        let reason = (samples == 0).then(|| {
            "the profile holds no samples: the SUT used no CPU in the window, or the profiler could not see it".to_string()
        });
        // A SUT on this machine runs on this kernel; elsewhere its tick is unknown.
        let local_pprof = matches!(&plan.source, ProfileSource::Pprof { url } if crate::net::proxy::is_loopback_url(url));
        Capture {
            report: ProfileReport {
                source: plan.source.label().to_string(),
                target: label,
                status: if samples > 0 {
                    ProfileStatus::Ok
                } else {
                    ProfileStatus::Missing
                },
                reason,
                window: Some(window),
                requested_s: seconds as f64,
                samples,
                unit: out.unit,
                requests_in_window: 0,
                files: ProfileFiles::default(),
                top: out.folded.top(TOP_N),
                diff: None,
                by_request: Vec::new(),
                tick_ms: local_pprof.then(tick::kernel_tick_ms).flatten(),
            },
            raw: Some(out.raw),
            folded: Some(out.folded),
            by_request: out.by_request,
        }
    }
}

/// Samples a profile should hold at least: one sample is then at most 0.1 %
/// of it, and a differential of identical code is within noise frame by frame.
pub const AIM_SAMPLES: u64 = 1000;

/// The sampling rate (Hz) for a window of `seconds` when the file sets none:
/// enough for `AIM_SAMPLES` from a SUT busy a tenth of the time (py-spy and
/// perf record only the time a thread runs), between 100 and 1000 Hz.
pub fn rate_for(seconds: u64) -> u32 {
    let wanted = (AIM_SAMPLES * 10).div_ceil(seconds.max(1));
    wanted.clamp(100, 1000) as u32
}

/// Why a profile could not be taken; the text is the report's reason.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot create a temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error(transparent)]
    Profiler(#[from] external::ProfilerError),
    #[error("cannot start a runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot fetch {url}: {source}")]
    Url {
        url: String,
        source: url::ParseError,
    },
    #[error("no answer from {0} in time")]
    Timeout(String),
    #[error("the profile from {url} is {source}, decoded")]
    TooLarge {
        url: String,
        source: crate::bounded::ReadError,
    },
    #[error("the profile download from {url} broke off: {reason}")]
    BrokeOff { url: String, reason: String },
    #[error("cannot fetch {url}: {source}")]
    Fetch {
        url: String,
        source: crate::net::fetch::FetchError,
    },
    #[error("{url} answered {status}: {text}")]
    Status {
        url: String,
        status: u16,
        text: String,
    },
    #[error("interrupted before the profile was complete")]
    Interrupted,
    #[error(transparent)]
    Decode(#[from] pprof::DecodeError),
}

/// `GET url?seconds=N` on its own small runtime; gives up on a signal.
fn fetch_pprof(
    target: &Target,
    url: &str,
    seconds: u64,
    deadline: Instant,
    stop_early: &dyn Fn() -> bool,
) -> Result<external::Output, CaptureError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CaptureError::Runtime)?;
    let full = if url.contains('?') {
        format!("{url}&seconds={seconds}")
    } else {
        format!("{url}?seconds={seconds}")
    };
    let bytes = runtime.block_on(async {
        let request = async {
            use crate::net::fetch::{self, FetchError};
            let parsed = url::Url::parse(&full).map_err(|source| CaptureError::Url {
                url: full.clone(),
                source,
            })?;
            let got = fetch::get(
                &target.edge,
                &parsed,
                &Default::default(),
                crate::bounded::OBSERVED_LIMIT,
                deadline.saturating_duration_since(Instant::now()),
            )
            .await
            .map_err(|e| {
                let url = full.clone();
                match e {
                    FetchError::Timeout(_) => CaptureError::Timeout(url),
                    FetchError::TooLarge(source) => CaptureError::TooLarge { url, source },
                    FetchError::Body(reason) => CaptureError::BrokeOff { url, reason },
                    source => CaptureError::Fetch { url, source },
                }
            })?;
            if !(200..300).contains(&got.status) {
                let text: String = String::from_utf8_lossy(&got.body)
                    .chars()
                    .take(200)
                    .collect();
                return Err(CaptureError::Status {
                    url: full.clone(),
                    status: got.status,
                    text: text.trim().to_string(),
                });
            }
            Ok(got.body)
        };
        let interrupted = async {
            while !stop_early() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            r = request => r,
            _ = interrupted => Err(CaptureError::Interrupted),
        }
    })?;
    let decoded = pprof::decode(&bytes)?;
    Ok(external::Output {
        raw: (
            if pprof::is_gzip(&bytes) {
                "profile.pb.gz"
            } else {
                "profile.pb"
            }
            .to_string(),
            bytes,
        ),
        folded: decoded.folded,
        unit: decoded.value_type,
        by_request: decoded.by_request,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seconds: Option<u64>) -> ProfilePlan {
        ProfilePlan {
            source: ProfileSource::Pprof {
                url: "http://127.0.0.1:1/x".into(),
            },
            seconds: seconds.map(Duration::from_secs),
            after: Duration::ZERO,
            rate: Some(100),
            grace: Duration::from_secs(1),
            required: false,
            secrets: Default::default(),
        }
    }

    #[test]
    fn the_default_window_leaves_a_margin_inside_the_steady_state() {
        let d = |s| Some(Duration::from_secs(s));
        assert_eq!(profile_length(&plan(None), d(60)), 54);
        assert_eq!(profile_length(&plan(None), d(10)), 9);
        assert_eq!(profile_length(&plan(None), d(1)), 1);
        assert_eq!(profile_length(&plan(None), d(600)), 590);
        assert_eq!(profile_length(&plan(Some(20)), d(60)), 20);
        assert_eq!(
            profile_length(&plan(None), None),
            DEFAULT_SECONDS_WITHOUT_DURATION
        );
    }
}
