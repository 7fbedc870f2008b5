//! The `targets:` block (and `--target` flags) compiled into `TargetSpec`s.
//!
//! It needs only names from the rest of the plan (request names, scenario
//! names, server headers, which SUT figures exist), so flags given on the
//! command line are compiled by the same code after the file.

use crate::scenario::diagnostic::{Diagnostic, suggest};
use crate::scenario::model::{self, HealthLimit, Regression, Targets};
use crate::scenario::plan::{
    LatencyStat, Policy, RegressionPlan, TargetMetric, TargetPolicy, TargetSpec, TargetWindow,
};
use crate::scenario::spanned::{Loc, Sp};
use crate::scenario::units::CpuLimit;

/// The names targets may refer to.
pub struct TargetContext<'a> {
    pub endpoints: Vec<&'a str>,
    pub scenarios: Vec<&'a str>,
    pub header_labels: &'a [String],
    /// Some SUT resource source (process, Prometheus, JSON) is configured.
    pub sut_measured: bool,
    /// The SUT is a process on this machine (its CPU is bounded by `cores`).
    pub sut_local: bool,
    /// CPUs of this machine.
    pub cores: usize,
    pub health: bool,
}

/// What one `targets:` block says.
#[derive(Debug, Default)]
pub struct CompiledTargets {
    pub targets: Vec<TargetSpec>,
    pub no_data: Option<Policy>,
    pub inconclusive: Option<Policy>,
    pub regression: Option<RegressionPlan>,
}

impl CompiledTargets {
    /// Lays `other` (given later, e.g. on the command line) over `self`: a target on the
    /// same figure and scope replaces the earlier one.
    pub fn overlay(&mut self, other: CompiledTargets) {
        for t in other.targets {
            match self.targets.iter_mut().find(|old| same_target(old, &t)) {
                Some(old) => *old = t,
                None => self.targets.push(t),
            }
        }
        self.no_data = other.no_data.or(self.no_data);
        self.inconclusive = other.inconclusive.or(self.inconclusive);
        if other.regression.is_some() {
            self.regression = other.regression;
        }
    }

    pub fn policy(&self) -> TargetPolicy {
        let default = TargetPolicy::default();
        TargetPolicy {
            no_data: self.no_data.unwrap_or(default.no_data),
            inconclusive: self.inconclusive.unwrap_or(default.inconclusive),
        }
    }
}

fn same_target(a: &TargetSpec, b: &TargetSpec) -> bool {
    use TargetMetric::*;
    let same_figure = match (&a.metric, &b.metric) {
        (Latency(x), Latency(y)) => x == y,
        // One slow-requests limit per threshold.
        (SlowRequests { over_ms: x }, SlowRequests { over_ms: y }) => x == y,
        (
            Header {
                header: h1,
                stat: s1,
            },
            Header {
                header: h2,
                stat: s2,
            },
        ) => h1.eq_ignore_ascii_case(h2) && s1 == s2,
        (x, y) => std::mem::discriminant(x) == std::mem::discriminant(y),
    };
    same_figure && a.endpoint == b.endpoint && a.scenario == b.scenario
}

/// Compiles a top-level `targets:` block; problems are added to `problems`.
pub fn compile(
    ctx: &TargetContext,
    targets: &Sp<Targets>,
    problems: &mut Vec<Diagnostic>,
) -> CompiledTargets {
    let mut c = TargetCompiler { ctx, problems };
    let mut out = CompiledTargets {
        no_data: targets.no_data.as_ref().map(|p| policy(p.value)),
        inconclusive: targets.inconclusive.as_ref().map(|p| policy(p.value)),
        ..Default::default()
    };
    let window = window_of(targets, TargetWindow::Steady);
    c.set(targets, Scope::All, window, &mut out.targets);
    c.run_wide(targets, window, &mut out.targets);
    if let Some(r) = &targets.regression {
        out.regression = Some(regression(&r.value));
    }
    for (kind, sets) in [
        (Kind::Endpoint, &targets.endpoints),
        (Kind::Scenario, &targets.scenarios),
    ] {
        for (name, set) in sets {
            if !c.known(kind, name, set.loc) {
                continue;
            }
            c.only_top_level(set);
            let scope = match kind {
                Kind::Endpoint => Scope::Endpoint(name.clone()),
                Kind::Scenario => Scope::Scenario(name.clone()),
            };
            c.set(set, scope, window_of(set, window), &mut out.targets);
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Kind {
    Endpoint,
    Scenario,
}

#[derive(Clone)]
enum Scope {
    All,
    Endpoint(String),
    Scenario(String),
}

fn policy(p: model::Policy) -> Policy {
    match p {
        model::Policy::Fail => Policy::Fail,
        model::Policy::Warn => Policy::Warn,
    }
}

fn window_of(t: &Targets, inherited: TargetWindow) -> TargetWindow {
    match t.window.as_ref().map(|w| w.value) {
        Some(model::TargetWindow::Steady) => TargetWindow::Steady,
        Some(model::TargetWindow::WholeRun) => TargetWindow::WholeRun,
        None => inherited,
    }
}

fn regression(r: &Regression) -> RegressionPlan {
    match r {
        Regression::All(p) => RegressionPlan::uniform(p.0),
        Regression::Each(each) => RegressionPlan {
            p50: each.p50.map(|p| p.0),
            p95: each.p95.map(|p| p.0),
            p99: each.p99.map(|p| p.0),
            throughput: each.throughput.map(|p| p.0),
            error_rate: each.error_rate.map(|p| p.0),
            cpu: each.cpu.map(|p| p.0),
            cpu_per_request: each.cpu_per_request.map(|p| p.0),
            memory: each.memory.map(|p| p.0),
            server: each.server.map(|p| p.0),
            min_latency_ms: each
                .min_latency
                .as_ref()
                .map(|d| d.value.0.as_secs_f64() * 1e3)
                .unwrap_or(RegressionPlan::DEFAULT_MIN_LATENCY_MS),
            run_to_run: each.run_to_run.map(|p| p.0),
        },
    }
}

fn ms(d: &Sp<crate::scenario::units::Dur>) -> f64 {
    d.value.0.as_secs_f64() * 1e3
}

struct TargetCompiler<'a, 'b> {
    ctx: &'a TargetContext<'a>,
    problems: &'b mut Vec<Diagnostic>,
}

impl TargetCompiler<'_, '_> {
    fn error(&mut self, loc: Loc, message: impl Into<String>) {
        self.problems.push(Diagnostic::new(loc, message));
    }

    fn error_help(&mut self, loc: Loc, message: impl Into<String>, help: impl Into<String>) {
        self.problems
            .push(Diagnostic::new(loc, message).with_help(help));
    }

    /// Whether a request or scenario name exists; says so at `loc` if not.
    fn known(&mut self, kind: Kind, name: &str, loc: Loc) -> bool {
        let (names, what) = match kind {
            Kind::Endpoint => (&self.ctx.endpoints, "request"),
            Kind::Scenario => (&self.ctx.scenarios, "scenario"),
        };
        if names.contains(&name) {
            return true;
        }
        let hint = suggest(name, names.iter().copied())
            .map(|s| format!("did you mean \"{s}\"?"))
            .unwrap_or_else(|| {
                let quoted: Vec<_> = names.iter().map(|n| format!("\"{n}\"")).collect();
                format!("{what} names: {}", quoted.join(", "))
            });
        self.error_help(loc, format!("no {what} is named \"{name}\""), hint);
        false
    }

    /// Keys that make sense only for the whole run.
    fn only_top_level(&mut self, set: &Sp<Targets>) {
        let nested = [
            (set.sut.as_ref().map(|s| s.loc), "SUT limits"),
            (set.duration.as_ref().map(|s| s.loc), "the test duration"),
            (set.slow_endpoints.as_ref().map(|s| s.loc), "slow_endpoints"),
            (set.regression.as_ref().map(|s| s.loc), "regression limits"),
            (set.no_data.as_ref().map(|s| s.loc), "no_data"),
            (set.inconclusive.as_ref().map(|s| s.loc), "inconclusive"),
        ];
        for (loc, what) in nested {
            if let Some(loc) = loc {
                self.error(
                    loc,
                    format!("{what} apply to the whole run: set them at the top of targets:"),
                );
            }
        }
        for nested in [&set.endpoints, &set.scenarios] {
            if let Some((_, inner)) = nested.first() {
                self.error(
                    inner.loc,
                    "targets for a request name or scenario cannot nest",
                );
            }
        }
    }

    /// Targets about the SUT and the run as a whole.
    fn run_wide(&mut self, t: &Targets, window: TargetWindow, out: &mut Vec<TargetSpec>) {
        let mut push = |metric, limit| {
            out.push(TargetSpec {
                endpoint: None,
                scenario: None,
                metric,
                limit,
                window,
            })
        };
        if let Some(d) = &t.duration {
            push(TargetMetric::TestDuration, d.value.0.as_secs_f64());
        }
        if let Some(slow) = &t.slow_endpoints {
            let stat = match slow.stat.as_ref() {
                None => Some(LatencyStat::P95),
                Some(s) => {
                    let stat = LatencyStat::from_label(s);
                    if stat.is_none() {
                        self.error_help(
                            s.loc,
                            format!("\"{}\" is not a latency statistic", s.value),
                            "expected one of: p50, p90, p95, p99, p99.9, max, mean",
                        );
                    }
                    stat
                }
            };
            if let Some(stat) = stat {
                push(
                    TargetMetric::SlowEndpoints {
                        over_ms: ms(&slow.over),
                        stat,
                    },
                    slow.max as f64,
                );
            }
        }
        let Some(limits) = &t.sut else { return };
        let resources = limits.memory.is_some() || limits.cpu.is_some() || limits.cpu_p95.is_some();
        if resources && !self.ctx.sut_measured {
            self.error_help(
                limits.loc,
                "targets.sut needs the SUT's resources",
                "add sut: { command | pid | process | prometheus | json }, or pass --sut-pid",
            );
        }
        if let Some(health) = &limits.health
            && !self.ctx.health
        {
            self.error_help(
                health.loc,
                "a health target needs the SUT's health endpoint",
                "add sut: { health: { url: /health } }",
            );
        }
        if let Some(m) = &limits.memory {
            push(TargetMetric::SutMemory, m.value.0);
        }
        for (limit, metric) in [
            (&limits.cpu, TargetMetric::SutCpu),
            (&limits.cpu_p95, TargetMetric::SutCpuP95),
        ] {
            if let Some(c) = limit
                && let Some(percent) = self.cpu_percent(c)
            {
                push(metric, percent);
            }
        }
        if let Some(h) = &limits.health {
            push(
                TargetMetric::Health {
                    allow_degraded: h.value == HealthLimit::NeverError,
                },
                0.0,
            );
        }
    }

    /// Targets on requests: all of them, one request name, or one scenario's.
    fn set(&mut self, t: &Targets, scope: Scope, window: TargetWindow, out: &mut Vec<TargetSpec>) {
        let (endpoint, scenario) = match scope {
            Scope::All => (None, None),
            Scope::Endpoint(name) => (Some(name), None),
            Scope::Scenario(name) => (None, Some(name)),
        };
        let mut push = |metric, limit| {
            out.push(TargetSpec {
                endpoint: endpoint.clone(),
                scenario: scenario.clone(),
                metric,
                limit,
                window,
            })
        };
        let latency = [
            (LatencyStat::P50, &t.p50),
            (LatencyStat::P90, &t.p90),
            (LatencyStat::P95, &t.p95),
            (LatencyStat::P99, &t.p99),
            (LatencyStat::P99_9, &t.p99_9),
            (LatencyStat::Max, &t.max),
            (LatencyStat::Mean, &t.mean),
        ];
        for (stat, limit) in latency {
            if let Some(limit) = limit {
                push(TargetMetric::Latency(stat), ms(limit));
            }
        }
        if let Some(rate) = &t.error_rate {
            push(TargetMetric::ErrorRate, rate.value.0);
        }
        if let Some(rate) = &t.success_rate {
            push(TargetMetric::SuccessRate, rate.value.0);
        }
        if let Some(rate) = &t.throughput {
            push(TargetMetric::Throughput, rate.value.0);
        }
        if let Some(cpu) = &t.cpu_per_request {
            push(TargetMetric::CpuPerRequest, ms(cpu));
        }
        for slow in &t.slow_requests {
            push(
                TargetMetric::SlowRequests {
                    over_ms: ms(&slow.over),
                },
                slow.max as f64,
            );
        }
        for (metric, limit) in self.header_metrics(t) {
            push(metric, limit);
        }
    }

    /// Targets on server headers: the cache hit ratio and each header's
    /// statistics, for headers the file lists under `server_headers`.
    fn header_metrics(&mut self, t: &Targets) -> Vec<(TargetMetric, f64)> {
        let mut metrics = Vec::new();
        if let Some(ratio) = &t.cache_hit_ratio {
            let hits = self.listed_header(&ratio.hits);
            let misses = self.listed_header(&ratio.misses);
            if hits && misses {
                metrics.push((
                    TargetMetric::CacheHitRatio {
                        hits: ratio.hits.value.clone(),
                        misses: ratio.misses.value.clone(),
                    },
                    ratio.min.value.0,
                ));
            }
        }
        for (header, limits) in &t.server {
            if !self.listed_header(&Sp::new(header.clone(), limits.loc)) {
                continue;
            }
            let stats = [
                ("mean", &limits.mean),
                ("p50", &limits.p50),
                ("p95", &limits.p95),
                ("p99", &limits.p99),
                ("max", &limits.max),
            ];
            let duration_only = super::is_server_timing_component(header);
            for (stat, limit) in stats {
                let Some(limit) = limit else { continue };
                if duration_only && !limit.is_time {
                    let n = limit.value.value;
                    self.error_help(
                        limit.loc,
                        format!("{header} is a duration: {n} has no unit"),
                        format!("write {n}ms or {n}s"),
                    );
                    continue;
                }
                metrics.push((
                    TargetMetric::Header {
                        header: header.clone(),
                        stat: stat.to_string(),
                    },
                    limit.value.value,
                ));
            }
        }
        metrics
    }

    /// A CPU limit in percent of one core. A SUT on this machine cannot use more
    /// than all its cores: a limit above that could never fail.
    fn cpu_percent(&mut self, limit: &Sp<CpuLimit>) -> Option<f64> {
        let cores = self.ctx.cores;
        let percent = limit.value.percent_of_core(cores);
        if self.ctx.sut_local && percent > cores as f64 * 100.0 {
            self.error_help(
                limit.loc,
                format!(
                    "{percent}% of one core is more than this machine's {cores} cores can use (at most {}%)",
                    cores * 100
                ),
                "CPU is in percent of one core; write e.g. \"60% of machine\" for a share of all cores",
            );
            return None;
        }
        Some(percent)
    }

    /// Whether `header` is recorded (listed in `server_headers`, or a Server-Timing component).
    fn listed_header(&mut self, header: &Sp<String>) -> bool {
        let labels = self.ctx.header_labels;
        let listed = labels.iter().any(|h| {
            h.eq_ignore_ascii_case(header)
                || (h.eq_ignore_ascii_case("server-timing")
                    && header.len() > h.len()
                    && header
                        .get(..h.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(h))
                    && header.as_bytes()[h.len()] == b' ')
        });
        if !listed {
            let hint = suggest(header, labels.iter().map(String::as_str))
                .map(|s| format!("did you mean \"{s}\"?"))
                .unwrap_or_else(|| "add it to server_headers: to record it".into());
            self.error_help(
                header.loc,
                format!("\"{}\" is not among server_headers", header.value),
                hint,
            );
        }
        listed
    }
}
