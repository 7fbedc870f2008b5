//! `--live` and `--out`: the run shown and sent while it goes, both fed by
//! the recorder's once-a-second tick with the figures a checkpoint saves.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Checkpoint;
use crate::live::{LivePage, LiveServer};
use crate::out::{Exporter, OutTarget, RunLabels};
use crate::record::Tick;
use crate::result::outputs::OutputReport;
use crate::result::resources::ResourceReport;
use crate::result::{RunResult, RunStatus};
use crate::scenario::RunPlan;
use crate::scenario::plan::StepPlan;
use crate::signals;

/// What to show and send while the run goes.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// `--live`: serve the live page here (port 0: a free one).
    pub live: Option<SocketAddr>,
    /// How long the page stays up after the run (on a terminal, unset means
    /// until Ctrl-C).
    pub live_linger: Option<Duration>,
    /// `--out`: where to send the series.
    pub out: Vec<OutTarget>,
}

/// The live page and the exporters of one run.
pub(super) struct Watching {
    page: Option<(Arc<LivePage>, LiveServer)>,
    exporters: Arc<Mutex<Vec<Exporter>>>,
    /// The SUT monitor's figures so far, shared when someone shows or sends them.
    sut: Option<Arc<Mutex<ResourceReport>>>,
}

impl Watching {
    /// Starts them, or says why not (an address in use) and gives `None`.
    pub fn start_or_say(
        watch: &Watch,
        plan: &RunPlan,
        dir: &Path,
        run_id: &str,
    ) -> Option<Watching> {
        Watching::start(watch, plan, dir, run_id)
            .map_err(|e| eprintln!("gander: error: {e:#}"))
            .ok()
    }

    fn start(watch: &Watch, plan: &RunPlan, dir: &Path, run_id: &str) -> anyhow::Result<Watching> {
        let sut = (watch.live.is_some() || !watch.out.is_empty())
            .then(|| Arc::new(Mutex::new(ResourceReport::default())));
        let names: Vec<String> = plan.endpoints.iter().map(|e| e.name.clone()).collect();
        let page = match watch.live {
            Some(addr) => {
                let page = Arc::new(LivePage::new(dir.to_path_buf(), planned_s(plan), &names));
                let server = LiveServer::start(addr, page.clone())?;
                eprintln!("gander: live page: {}", server.url());
                Some((page, server))
            }
            None => None,
        };
        let scenarios = scenarios_of(plan);
        let exporters = watch
            .out
            .iter()
            .map(|target| {
                let labels = RunLabels {
                    run_id: run_id.to_string(),
                    requests: names.clone(),
                    scenarios: scenarios.clone(),
                };
                Exporter::start(target, labels, sut.clone())
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Watching {
            page,
            exporters: Arc::new(Mutex::new(exporters)),
            sut,
        })
    }

    pub fn sut_so_far(&self) -> Option<Arc<Mutex<ResourceReport>>> {
        self.sut.clone()
    }

    /// The recorder's once-a-second hook, when anyone watches.
    pub fn ticker(&self, checkpoint: Checkpoint) -> Option<Box<dyn FnMut(Tick) + Send>> {
        let page = self.page.as_ref().map(|(page, _)| page.clone());
        if page.is_none() && self.sut.is_none() {
            return None;
        }
        let exporters = self.exporters.clone();
        let sut = self.sut.clone();
        Some(Box::new(move |tick: Tick| {
            if let Ok(mut exporters) = exporters.lock() {
                for e in exporters.iter_mut() {
                    e.tick(&tick);
                }
            }
            if let Some(page) = &page {
                let mut result = super::partial_result(&checkpoint, tick.collected);
                result.outcome.status = RunStatus::Running;
                if let Some(sut) = sut.as_ref().and_then(|s| s.lock().ok()) {
                    result.resources = sut.clone();
                    let window = result.window(result.primary_phase());
                    result.resources.summarize(window);
                }
                result.verdict = crate::verdict::judge(&result);
                page.update(&tick.seconds, result);
            }
        }))
    }

    /// Waits (bounded) for the last writes; what each destination got.
    pub fn finish_outputs(&self) -> Vec<OutputReport> {
        let exporters = self
            .exporters
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default();
        exporters.into_iter().map(Exporter::finish).collect()
    }

    /// Shows the finished run and its report, and keeps serving them for
    /// `linger` (on a terminal with no linger given: until Ctrl-C).
    pub fn finish_page(self, result: &RunResult, dir: &Path, linger: Option<Duration>) {
        let Some((page, server)) = self.page else {
            return;
        };
        page.finish(result.clone(), dir.join(crate::report::html::FILE_NAME));
        let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let until = match (linger, interactive) {
            (Some(d), _) => Some(Instant::now() + d),
            (None, true) => None,
            (None, false) => return,
        };
        eprintln!(
            "gander: the live page shows the report at {}{} ({})",
            server.url().trim_end_matches('/'),
            crate::live::REPORT_PATH,
            if until.is_some() {
                "for a while"
            } else {
                "until Ctrl-C"
            }
        );
        while until.is_none_or(|u| Instant::now() < u) && !signals::interrupted() {
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(server);
    }
}

/// The planned length in seconds: stages sum to it; a flat load ramps up first.
fn planned_s(plan: &RunPlan) -> Option<f64> {
    use crate::scenario::plan::LoadEnd;
    match plan.load.end {
        LoadEnd::Duration(d) if plan.load.stages.is_empty() => {
            Some((plan.load.ramp_up + d).as_secs_f64())
        }
        LoadEnd::Duration(d) => Some(d.as_secs_f64()),
        LoadEnd::Iterations(_) => None,
    }
}

/// The scenario(s) each request name is sent from, joined with `+`.
fn scenarios_of(plan: &RunPlan) -> Vec<String> {
    let mut of: Vec<Vec<&str>> = vec![Vec::new(); plan.endpoints.len()];
    for s in &plan.scenarios {
        for step in s.on_start.iter().chain(&s.steps).chain(&s.on_stop) {
            let endpoints: Vec<usize> = match step {
                StepPlan::Http(r) => vec![r.endpoint],
                StepPlan::Ws(w) => [w.connect, w.socket]
                    .into_iter()
                    .chain(w.messages.iter().filter_map(|m| m.endpoint))
                    .collect(),
                StepPlan::Await(a) => vec![a.endpoint],
                StepPlan::Telegram(t) => std::iter::once(t.webhook.endpoint)
                    .chain(t.reply.as_ref().map(|r| r.endpoint))
                    .collect(),
                StepPlan::Sse(e) => vec![e.endpoint],
            };
            for e in endpoints {
                if let Some(names) = of.get_mut(e)
                    && !names.contains(&s.name.as_str())
                {
                    names.push(&s.name);
                }
            }
        }
    }
    of.into_iter().map(|names| names.join("+")).collect()
}
