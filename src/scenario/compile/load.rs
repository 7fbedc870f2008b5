//! Compiles `load:`: which model (closed `users` or open `rate`), held flat or
//! shaped by stages, and which window is the steady state.

use std::time::Duration;

use super::{Compiler, Overrides};
use crate::scenario::model;
use crate::scenario::plan::{
    LoadEnd, LoadModel, LoadPlan, Stage, closed_stage_duration, peak_level,
};
use crate::scenario::spanned::Sp;

/// The share of an open run's iterations that may start late before it is invalid.
const DEFAULT_MAX_LATE: f64 = 0.01;
/// Default open-model pool: enough users for the peak rate if iterations took this long.
const DEFAULT_POOL_SECONDS: f64 = 2.0;
const MIN_POOL: usize = 10;

impl Compiler<'_> {
    pub(super) fn load(
        &mut self,
        load: &Sp<model::Load>,
        overrides: &Overrides,
    ) -> Option<LoadPlan> {
        let model = match (&load.users, &load.rate, &load.stages) {
            (Some(_), Some(rate), _) => {
                self.error_help(
                    rate.loc,
                    "load has both users and rate",
                    "give users for a closed model (each user waits for its response) or rate for an open one (iterations start on a schedule)",
                );
                return None;
            }
            (users, rate, Some(stages)) => {
                if let Some(loc) = users
                    .as_ref()
                    .map(|u| u.loc)
                    .or(rate.as_ref().map(|r| r.loc))
                {
                    self.error_help(
                        loc,
                        "load has stages and a level of its own",
                        "give users or rate in each stage instead",
                    );
                }
                self.stages_model(stages)?
            }
            (Some(_), None, None) => LoadModel::Closed,
            (None, Some(_), None) => LoadModel::Open,
            (None, None, None) => {
                self.error_help(
                    load.loc,
                    "load needs users, rate or stages",
                    "e.g. load: { users: 50, ramp_up: 10s, duration: 60s } or load: { rate: 40/s, duration: 60s }",
                );
                return None;
            }
        };
        if model == LoadModel::Closed {
            for (loc, key) in [
                (load.max_users.as_ref().map(|m| m.loc), "max_users"),
                (load.max_late.as_ref().map(|m| m.loc), "max_late"),
            ] {
                if let Some(loc) = loc {
                    self.error_help(
                        loc,
                        format!("{key} applies to the open model only"),
                        "set rate (or rate in each stage) for an open model, or remove it",
                    );
                }
            }
        } else if overrides.users.is_some() {
            self.error_help(
                load.loc,
                "--users applies to the closed model; this load is open (rate)",
                "set load.max_users in the file to size the open model's pool",
            );
        }
        let plan = match &load.stages {
            Some(stages) => self.staged(load, stages, model, overrides)?,
            None if model == LoadModel::Open => self.open_flat(load, overrides)?,
            None => self.closed_flat(load, overrides)?,
        };
        if model == LoadModel::Open {
            self.check_rate(&plan, load);
        }
        // A load this machine cannot run goes no further: later checks would
        // size things by it.
        self.check_capacity(&plan, load, overrides).then_some(plan)
    }

    /// The model a list of stages describes: all `users` or all `rate`.
    fn stages_model(&mut self, stages: &Sp<Vec<Sp<model::Stage>>>) -> Option<LoadModel> {
        if stages.is_empty() {
            self.error_help(
                stages.loc,
                "stages is empty",
                "e.g. stages: [{ duration: 30s, users: 10 }, { duration: 2m, users: 10 }]",
            );
            return None;
        }
        let model_of = |s: &model::Stage| match (&s.users, &s.rate) {
            (Some(_), None) => Some(LoadModel::Closed),
            (None, Some(_)) => Some(LoadModel::Open),
            _ => None,
        };
        let mut model = None;
        for stage in stages.iter() {
            match (model_of(stage), model) {
                (None, _) => {
                    self.error_help(
                        stage.loc,
                        "a stage needs users or rate (one of them)",
                        "e.g. { duration: 1m, users: 50 } or { duration: 1m, rate: 40/s }",
                    );
                    return None;
                }
                (Some(m), Some(first_model)) if m != first_model => {
                    self.error_help(
                        stage.loc,
                        format!(
                            "this stage sets {} but the first sets {}",
                            level_key(m),
                            level_key(first_model)
                        ),
                        "every stage of a load uses the same model: users (closed) or rate (open)",
                    );
                    return None;
                }
                (Some(m), _) => model = Some(m),
            }
        }
        model
    }

    fn closed_flat(&mut self, load: &Sp<model::Load>, overrides: &Overrides) -> Option<LoadPlan> {
        let users_node = load.users.as_ref()?;
        let users = overrides.users.unwrap_or(users_node.value.0);
        if users == 0 {
            self.error(users_node.loc, "users must be at least 1");
        }
        let ramp_up = overrides
            .ramp_up
            .or(load.ramp_up.as_ref().map(|r| r.value.0))
            .unwrap_or_default();
        let end = self.end(load, overrides, true)?;
        (users > 0).then(|| LoadPlan {
            model: LoadModel::Closed,
            users: users as usize,
            ramp_up,
            end,
            stages: Vec::new(),
            steady_stage: None,
            max_late: DEFAULT_MAX_LATE,
        })
    }

    /// `rate`, `ramp_up` and `duration` as two stages: a ramp from zero and a plateau.
    fn open_flat(&mut self, load: &Sp<model::Load>, overrides: &Overrides) -> Option<LoadPlan> {
        let rate = load.rate.as_ref()?;
        let ramp_up = overrides
            .ramp_up
            .or(load.ramp_up.as_ref().map(|r| r.value.0))
            .unwrap_or_default();
        let LoadEnd::Duration(duration) = self.end(load, overrides, false)? else {
            return None;
        };
        let mut stages = Vec::new();
        if !ramp_up.is_zero() {
            stages.push(Stage {
                name: "ramp-up".into(),
                duration: ramp_up,
                written: ramp_up,
                target: rate.value.0,
            });
        } else {
            stages.push(Stage {
                name: "start".into(),
                duration: Duration::ZERO,
                written: Duration::ZERO,
                target: rate.value.0,
            });
        }
        stages.push(Stage {
            name: "steady".into(),
            duration,
            written: duration,
            target: rate.value.0,
        });
        Some(self.finish_staged(load, stages, LoadModel::Open))
    }

    fn staged(
        &mut self,
        load: &Sp<model::Load>,
        stages: &Sp<Vec<Sp<model::Stage>>>,
        model: LoadModel,
        overrides: &Overrides,
    ) -> Option<LoadPlan> {
        for (loc, key) in [
            (load.ramp_up.as_ref().map(|r| r.loc), "ramp_up"),
            (load.duration.as_ref().map(|r| r.loc), "duration"),
            (load.iterations.as_ref().map(|r| r.loc), "iterations"),
        ] {
            if let Some(loc) = loc {
                self.error_help(
                    loc,
                    format!("load has both stages and {key}"),
                    "stages set the ramps and the length: drop it, or drop stages",
                );
            }
        }
        if overrides.duration.is_some()
            || overrides.iterations.is_some()
            || overrides.ramp_up.is_some()
            || overrides.users.is_some()
        {
            self.error_help(
                stages.loc,
                "--users, --duration, --iterations and --ramp-up do not apply to a staged load",
                "change the stages in the file",
            );
        }
        let mut out: Vec<Stage> = Vec::with_capacity(stages.len());
        let mut ok = true;
        for (i, stage) in stages.iter().enumerate() {
            let name = match &stage.name {
                Some(n) if out.iter().any(|s| s.name == n.value) => {
                    self.error(n.loc, format!("two stages are named \"{}\"", n.value));
                    ok = false;
                    n.value.clone()
                }
                Some(n) => n.value.clone(),
                None => format!("stage {}", i + 1),
            };
            let mut written = stage.duration.value.0;
            let target = match (&stage.users, &stage.rate) {
                (Some(u), _) => u.value.0 as f64,
                (_, Some(r)) => r.value.0,
                _ => 0.0,
            };
            let mut duration = written;
            if model == LoadModel::Closed {
                // goose's test plan counts whole seconds, and moves on from a
                // ramp as soon as it has started (or stopped) its last user.
                written = Duration::from_secs(written.as_secs_f64().ceil() as u64);
                let from = out.last().map_or(0.0, |s: &Stage| s.target);
                duration = closed_stage_duration(written, from, target);
            }
            out.push(Stage {
                name,
                duration,
                written,
                target,
            });
        }
        let total: Duration = out.iter().map(|s| s.written).sum();
        if total < Duration::from_secs(1) {
            self.error(stages.loc, "the stages last less than 1s in all");
            ok = false;
        }
        if out.iter().all(|s| s.target <= 0.0) {
            self.error(
                stages.loc,
                format!("every stage has 0 {}", level_key(model)),
            );
            ok = false;
        }
        ok.then(|| self.finish_staged(load, out, model))
    }

    /// The steady stage, the pool size and the late limit of a staged plan.
    fn finish_staged(
        &mut self,
        load: &Sp<model::Load>,
        stages: Vec<Stage>,
        model: LoadModel,
    ) -> LoadPlan {
        let steady_stage = match &load.steady {
            Some(name) => match stages.iter().position(|s| s.name == name.value) {
                Some(i) if stages[i].duration.is_zero() => {
                    self.error(
                        name.loc,
                        format!(
                            "stage \"{}\" lasts 0s and cannot be the steady state",
                            name.value
                        ),
                    );
                    None
                }
                Some(i) => Some(i),
                None => {
                    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
                    let hint =
                        crate::scenario::diagnostic::suggest(&name.value, names.iter().copied())
                            .map(|s| format!(", did you mean \"{s}\"?"))
                            .unwrap_or_default();
                    self.error_help(
                        name.loc,
                        format!("no stage is named \"{}\"{hint}", name.value),
                        format!("the stages are: {}", names.join(", ")),
                    );
                    None
                }
            },
            None => default_steady(&stages),
        };
        let total: Duration = stages.iter().map(|s| s.duration).sum();
        let peak = peak_level(&stages);
        let users = match model {
            LoadModel::Closed => peak as usize,
            LoadModel::Open => match &load.max_users {
                Some(m) if m.value.0 == 0 => {
                    self.error(m.loc, "max_users must be at least 1");
                    1
                }
                Some(m) => m.value.0 as usize,
                None => ((peak * DEFAULT_POOL_SECONDS).ceil() as usize).max(MIN_POOL),
            },
        };
        LoadPlan {
            model,
            users,
            ramp_up: Duration::ZERO,
            end: LoadEnd::Duration(total),
            stages,
            steady_stage,
            max_late: load
                .max_late
                .as_ref()
                .map_or(DEFAULT_MAX_LATE, |m| m.value.0),
        }
    }

    /// An open model's rate must be above 0 somewhere.
    fn check_rate(&mut self, plan: &LoadPlan, load: &Sp<model::Load>) {
        if plan.peak_level() <= 0.0 {
            let loc = load.rate.as_ref().map_or(load.loc, |r| r.loc);
            self.error(loc, "the rate must be above 0");
        }
    }

    /// `duration` or `iterations` (the latter only for the closed model), after `--duration`.
    fn end(
        &mut self,
        load: &Sp<model::Load>,
        overrides: &Overrides,
        closed: bool,
    ) -> Option<LoadEnd> {
        let end = match (overrides.duration, overrides.iterations) {
            (Some(d), _) => Some(LoadEnd::Duration(d)),
            (None, Some(n)) => Some(LoadEnd::Iterations(n)),
            (None, None) => match (&load.duration, &load.iterations) {
                (Some(d), None) => Some(LoadEnd::Duration(d.value.0)),
                (None, Some(n)) => Some(LoadEnd::Iterations(n.value.0)),
                (Some(d), Some(_)) => {
                    self.error_help(
                        d.loc,
                        "load has both duration and iterations",
                        "give one of them",
                    );
                    None
                }
                (None, None) => {
                    self.error_help(
                        load.loc,
                        "load needs a duration or a number of iterations",
                        "e.g. load: { users: 50, ramp_up: 10s, duration: 60s }",
                    );
                    None
                }
            },
        };
        let end = match end {
            Some(LoadEnd::Iterations(_)) if !closed => {
                let loc = load.iterations.as_ref().map_or(load.loc, |i| i.loc);
                self.error_help(
                    loc,
                    "iterations applies to the closed model only",
                    "an open model runs for a duration: e.g. load: { rate: 40/s, duration: 60s }",
                );
                return None;
            }
            // goose counts run time in whole seconds.
            Some(LoadEnd::Duration(d)) if closed => {
                LoadEnd::Duration(Duration::from_secs(d.as_secs_f64().ceil() as u64))
            }
            Some(end) => end,
            None => return None,
        };
        match end {
            LoadEnd::Duration(d) if d < Duration::from_secs(1) => {
                self.error(load.loc, "duration must be at least 1s");
                None
            }
            LoadEnd::Iterations(0) => {
                self.error(load.loc, "iterations must be at least 1");
                None
            }
            end => Some(end),
        }
    }
}

fn level_key(model: LoadModel) -> &'static str {
    match model {
        LoadModel::Closed => "users",
        LoadModel::Open => "rate",
    }
}

/// The longest stage that holds its level (the first of equals); failing
/// that, the longest stage.
fn default_steady(stages: &[Stage]) -> Option<usize> {
    let mut previous = 0.0;
    let flat: Vec<bool> = stages
        .iter()
        .map(|s| {
            let holds = s.target == previous;
            previous = s.target;
            holds
        })
        .collect();
    let longest = |only_flat: bool| {
        let mut best: Option<usize> = None;
        for (i, s) in stages.iter().enumerate() {
            if s.duration.is_zero() || (only_flat && !flat[i]) {
                continue;
            }
            if best.is_none_or(|b| s.duration > stages[b].duration) {
                best = Some(i);
            }
        }
        best
    };
    longest(true).or_else(|| longest(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::plan::LoadPlan;

    fn plan(load: &str) -> LoadPlan {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        let text = format!(
            "host: http://127.0.0.1:1\nload:\n{load}\nscenarios:\n  - name: s\n    steps:\n      - get: /\n"
        );
        std::fs::write(&path, text).unwrap();
        match crate::scenario::load(&path, &Overrides::default()) {
            Ok(plan) => plan.load,
            Err(e) => panic!("{e:?}"),
        }
    }

    fn stage(secs: u64, target: f64) -> Stage {
        let d = Duration::from_secs(secs);
        Stage {
            name: String::new(),
            duration: d,
            written: d,
            target,
        }
    }

    #[test]
    fn the_default_steady_stage_is_the_longest_flat_one() {
        // warm-up ramp, plateau, spike ramp, spike hold, recovery.
        let stages = [
            stage(30, 10.0),
            stage(60, 10.0),
            stage(5, 50.0),
            stage(20, 50.0),
            stage(90, 10.0),
        ];
        assert_eq!(default_steady(&stages), Some(1));
        // No flat stage: the longest one.
        assert_eq!(default_steady(&[stage(10, 5.0), stage(30, 20.0)]), Some(1));
        assert_eq!(default_steady(&[stage(0, 5.0)]), None);
    }

    #[test]
    fn an_open_load_is_two_stages_and_a_pool() {
        let load = plan("  rate: 40/s\n  ramp_up: 10s\n  duration: 1m");
        assert_eq!(load.model, LoadModel::Open);
        assert_eq!(load.stages.len(), 2);
        assert_eq!(load.steady_stage, Some(1));
        assert_eq!(
            load.steady_window(),
            Some((Duration::from_secs(10), Duration::from_secs(70)))
        );
        // Default pool: the peak rate for 2 s of latency.
        assert_eq!(load.users, 80);
        assert_eq!(load.max_late, DEFAULT_MAX_LATE);
        assert_eq!(load.level_at(5.0), Some(20.0));
    }

    #[test]
    fn closed_ramps_last_as_goose_runs_them() {
        let load = plan(
            "  steady: hold\n  stages:\n    - { duration: 2s, users: 4 }\n    - { name: hold, duration: 3s, users: 4 }\n    - { duration: 1500ms, users: 0 }",
        );
        assert_eq!(load.model, LoadModel::Closed);
        assert_eq!(load.users, 4);
        // 4 users over 2 s start at 0, 0.5, 1 and 1.5 s: goose moves on at 1.5 s.
        assert_eq!(load.stages[0].duration, Duration::from_millis(1500));
        assert_eq!(load.stages[1].duration, Duration::from_secs(3));
        // Whole seconds for goose's test plan.
        assert_eq!(load.stages[2].written, Duration::from_secs(2));
        assert_eq!(
            load.steady_window(),
            Some((Duration::from_millis(1500), Duration::from_millis(4500)))
        );
    }
}
