//! What each request costs the SUT, in the words every exporter shares: the
//! figure with its interval, the method in words, and why a figure is absent
//! (never a guess in its place).

use crate::format::cpu_ms;
use crate::result::cost::{Cost, CostMethod};
use crate::result::{EndpointResult, RunResult};

/// `1.78ms (95% 1.50ms–1.96ms)`.
pub fn figure(cost: &Cost) -> String {
    let i = cost.cpu_ms_per_request;
    format!(
        "{} (95% {}–{})",
        cpu_ms(i.value),
        cpu_ms(i.low),
        cpu_ms(i.high)
    )
}

/// The method, said in words.
pub fn method_words(method: CostMethod) -> &'static str {
    match method {
        CostMethod::Total => "all requests: the SUT's CPU over the requests completed",
        CostMethod::Labels => {
            "labels: its share of the SUT's profile samples labelled gander.request"
        }
        CostMethod::Sweep => "sweep: driven alone after the load (--cost)",
    }
}

/// The method in a few words, for a table cell.
pub fn method_short(method: CostMethod) -> &'static str {
    match method {
        CostMethod::Total => "all requests",
        CostMethod::Labels => "profile labels",
        CostMethod::Sweep => "driven alone (sweep)",
    }
}

/// Rows that can carry a per-name figure: WebSockets carry no `baggage`
/// header and the sweep drives HTTP requests only.
pub fn measurable(endpoint: &EndpointResult) -> bool {
    endpoint.method != "WS"
}

/// Whether any request name has a figure.
pub fn any_per_name(result: &RunResult) -> bool {
    result.endpoints.iter().any(|e| e.cost.is_some())
}

/// The first `run.json` version that carries cost figures.
const FIRST_COST_VERSION: u32 = 5;

/// Why the overall figure is absent.
pub fn overall_missing(result: &RunResult) -> String {
    if result.schema_version < FIRST_COST_VERSION {
        return format!(
            "not measured: this run was recorded (run.json version {}) before gander measured \
             cost per request",
            result.schema_version
        );
    }
    let cpu_read = result
        .resources
        .sources
        .iter()
        .flat_map(|s| &s.series)
        .any(|s| s.name == crate::result::resources::CPU && !s.points.is_empty());
    if !cpu_read {
        "not measured: gander read no CPU figure of the SUT (name its process with `sut: { pid: \
         … }` or `--sut-pid`, or give a Prometheus or JSON metrics source; see docs/cost.md)"
            .into()
    } else {
        "not measured: too few requests completed while the SUT's CPU was read".into()
    }
}

/// Why this request name has no figure when others have one (or how to get
/// one when none has).
pub fn name_missing(result: &RunResult, endpoint: &EndpointResult) -> String {
    if !measurable(endpoint) {
        return "not measured: WebSocket messages carry no baggage header".into();
    }
    let used = |m: CostMethod| {
        result
            .endpoints
            .iter()
            .filter_map(|e| e.cost.as_ref())
            .any(|c| c.method == m)
    };
    if used(CostMethod::Sweep) {
        "not measured by the sweep (see the run's notes)".into()
    } else if used(CostMethod::Labels) {
        "not measured: too few of its requests completed in the profile's window".into()
    } else {
        "not measured (see how to measure it below)".into()
    }
}

/// How to get a figure per request name, when no name has one.
pub const HOW_TO: &str = "To measure each request name, either have the SUT label its CPU \
     profile's samples with the `gander.request` name that gander sends in every request's \
     `baggage` header (in Go, `pprof.Do` in a ten-line middleware; the demo SUT does it) and \
     profile it (`profile: { pprof: … }`), or add `--cost` (`cost: { each: 5s }` in the file) \
     to drive each request name alone after the load. See docs/cost.md.";
