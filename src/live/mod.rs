//! The live page (`--live`): while the run goes, a page on 127.0.0.1 shows
//! the report of the figures so far, drawn by the report's own template and
//! script, with each request name's latencies per second; when the run ends it
//! links to the report, served from the same place.
//!
//! It is fed once a second from the recorder's tick (the same figures a
//! checkpoint saves), never per request; the page is rendered only when a
//! browser asks for it, at most once per second of data.

mod server;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::record::ClosedSecond;
use crate::record::stats::second_latencies;
use crate::report::ReportError;
use crate::report::html::{LiveView, NameLatency};
use crate::result::RunResult;

pub use server::{LiveError, LiveServer};

/// Where the report is served once written.
pub const REPORT_PATH: &str = "/report";

/// The figures the page shows, replaced once a second.
pub struct LivePage {
    dir: PathBuf,
    /// The run's planned length in seconds, when it has one.
    planned_s: Option<f64>,
    inner: Mutex<Inner>,
}

struct Inner {
    result: Option<Arc<RunResult>>,
    by_name: Vec<NameLatency>,
    /// Bumped by every update; the rendered page is kept for one version.
    version: u64,
    rendered: Option<(u64, Arc<String>)>,
    /// The report written at the end of the run.
    report: Option<PathBuf>,
}

impl LivePage {
    /// A page for the run written in `dir`, with the plan's request names.
    pub fn new(dir: PathBuf, planned_s: Option<f64>, names: &[String]) -> LivePage {
        LivePage {
            dir,
            planned_s,
            inner: Mutex::new(Inner {
                result: None,
                by_name: names
                    .iter()
                    .map(|name| NameLatency {
                        name: name.clone(),
                        ..Default::default()
                    })
                    .collect(),
                version: 0,
                rendered: None,
                report: None,
            }),
        }
    }

    /// The seconds just closed (each request name's p50, p95, p99) and the
    /// figures so far.
    pub fn update(&self, seconds: &[ClosedSecond], result: RunResult) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        for second in seconds {
            for (i, series) in inner.by_name.iter_mut().enumerate() {
                let [p50, p95, p99, _] = second
                    .by_endpoint
                    .get(&(i as u32))
                    .map(second_latencies)
                    .unwrap_or([None; 4]);
                series.p50.push(p50);
                series.p95.push(p95);
                series.p99.push(p99);
            }
        }
        inner.result = Some(Arc::new(result));
        inner.version += 1;
    }

    /// The run has ended: the final figures, and the report written at `report`.
    pub fn finish(&self, result: RunResult, report: PathBuf) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.result = Some(Arc::new(result));
            inner.report = Some(report);
            inner.version += 1;
        }
    }

    /// The page as it stands; `None` before the first second closes.
    fn page(&self) -> Option<Result<Arc<String>, ReportError>> {
        let mut inner = self.inner.lock().ok()?;
        if let Some((version, page)) = &inner.rendered
            && *version == inner.version
        {
            return Some(Ok(page.clone()));
        }
        let result = inner.result.clone()?;
        let elapsed_s = result.phases.total.end_s;
        let len = result.timeseries.len();
        let view = LiveView {
            elapsed_s,
            left_s: self.planned_s.map(|p| (p - elapsed_s).max(0.0)),
            report_url: inner.report.is_some().then(|| REPORT_PATH.to_string()),
            by_name: inner.by_name.iter().map(|n| aligned(n, len)).collect(),
        };
        let page = match crate::report::html::render_live(&result, &self.dir, &view) {
            Ok(page) => Arc::new(page),
            Err(e) => return Some(Err(e)),
        };
        inner.rendered = Some((inner.version, page.clone()));
        Some(Ok(page))
    }

    /// The report's bytes, once the run has written it.
    fn report(&self) -> Option<std::io::Result<Vec<u8>>> {
        let path = self.inner.lock().ok()?.report.clone()?;
        Some(std::fs::read(path))
    }
}

/// A name's series cut or padded to the run's `len` seconds.
fn aligned(n: &NameLatency, len: usize) -> NameLatency {
    let fit = |v: &[Option<f64>]| {
        let mut v: Vec<Option<f64>> = v.iter().copied().take(len).collect();
        v.resize(len, None);
        v
    };
    NameLatency {
        name: n.name.clone(),
        p50: fit(&n.p50),
        p95: fit(&n.p95),
        p99: fit(&n.p99),
    }
}
