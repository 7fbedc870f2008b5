//! `endpoints.csv` (one row per request name and phase, the SUT's CPU per
//! request on the steady state's rows) and `timeseries.csv` (one row per second).

use std::io::Write;

use serde::Serialize;

use super::{Exporter, ReportError};
use crate::result::cost::Cost;
use crate::result::{Phase, RunResult, Stats};

pub struct EndpointsCsv;
pub struct TimeseriesCsv;
/// `resources.csv`: one row per sample of every resource series (long form).
pub struct ResourcesCsv;

#[derive(Serialize)]
struct EndpointRow<'a> {
    name: &'a str,
    phase: Phase,
    requests: u64,
    failed: u64,
    not_sent: u64,
    error_rate: f64,
    rps: f64,
    bytes_received: u64,
    min_ms: Option<f64>,
    mean_ms: Option<f64>,
    p50_ms: Option<f64>,
    p90_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
    p99_9_ms: Option<f64>,
    max_ms: Option<f64>,
    /// Answers per protocol, e.g. `HTTP/2=120 HTTP/1.1=3`.
    protocols: String,
    /// WebSockets that ended (a socket row), dropped, messages received and sent.
    sockets: Option<u64>,
    sockets_dropped: Option<u64>,
    messages_received: Option<u64>,
    messages_sent: Option<u64>,
    /// The SUT's CPU per request (steady rows only; `TOTAL`: all requests),
    /// its 95 % interval, how it was measured and this name's share of the SUT's CPU.
    cpu_ms_per_request: Option<f64>,
    cpu_ms_low: Option<f64>,
    cpu_ms_high: Option<f64>,
    cost_method: Option<&'static str>,
    cpu_share: Option<f64>,
}

impl<'a> EndpointRow<'a> {
    /// The row, with the cost figure on the steady state's row.
    fn with_cost(name: &'a str, phase: Phase, s: &Stats, cost: Option<&Cost>) -> Self {
        let mut row = EndpointRow::new(name, phase, s);
        if let Some(c) = cost.filter(|_| phase == Phase::Steady) {
            let i = c.cpu_ms_per_request;
            row.cpu_ms_per_request = Some(i.value);
            row.cpu_ms_low = Some(i.low);
            row.cpu_ms_high = Some(i.high);
            row.cost_method = Some(c.method.label());
            row.cpu_share = c.cpu_share;
        }
        row
    }

    fn new(name: &'a str, phase: Phase, s: &Stats) -> Self {
        let l = s.latency_ms.as_ref();
        EndpointRow {
            name,
            phase,
            requests: s.requests,
            failed: s.failed,
            not_sent: s.not_sent,
            error_rate: s.error_rate,
            rps: s.rps,
            bytes_received: s.bytes_received,
            min_ms: l.map(|l| l.min),
            mean_ms: l.map(|l| l.mean),
            p50_ms: l.map(|l| l.p50),
            p90_ms: l.map(|l| l.p90),
            p95_ms: l.map(|l| l.p95),
            p99_ms: l.map(|l| l.p99),
            p99_9_ms: l.map(|l| l.p99_9),
            max_ms: l.map(|l| l.max),
            protocols: s
                .protocols
                .iter()
                .map(|(p, n)| format!("{p}={n}"))
                .collect::<Vec<_>>()
                .join(" "),
            sockets: s.websocket.map(|w| w.sockets),
            sockets_dropped: s.websocket.map(|w| w.dropped),
            messages_received: s.websocket.map(|w| w.messages_received),
            messages_sent: s.websocket.map(|w| w.messages_sent),
            cpu_ms_per_request: None,
            cpu_ms_low: None,
            cpu_ms_high: None,
            cost_method: None,
            cpu_share: None,
        }
    }
}

fn csv_error(what: &'static str) -> impl Fn(csv::Error) -> ReportError {
    move |source| ReportError::Csv {
        what: what.into(),
        source,
    }
}

impl Exporter for EndpointsCsv {
    fn file_name(&self) -> &'static str {
        "endpoints.csv"
    }

    fn export(&self, result: &RunResult, out: &mut dyn Write) -> Result<(), ReportError> {
        let mut w = csv::Writer::from_writer(out);
        let phases = [Phase::Steady, Phase::RampUp, Phase::RampDown, Phase::All];
        for e in &result.endpoints {
            for phase in phases {
                let row =
                    EndpointRow::with_cost(&e.name, phase, e.stats.get(phase), e.cost.as_ref());
                w.serialize(row).map_err(csv_error("endpoints.csv"))?;
            }
        }
        for phase in phases {
            let total = result.totals.steady.cost.as_ref();
            w.serialize(EndpointRow::with_cost(
                "TOTAL",
                phase,
                result.totals.get(phase),
                total,
            ))
            .map_err(csv_error("endpoints.csv"))?;
        }
        w.flush().map_err(super::io_error("endpoints.csv"))
    }
}

impl Exporter for TimeseriesCsv {
    fn file_name(&self) -> &'static str {
        "timeseries.csv"
    }

    fn export(&self, result: &RunResult, out: &mut dyn Write) -> Result<(), ReportError> {
        // Fixed columns, then one `<header> mean` column per server-header figure.
        let headers = result.timeseries_headers();
        let mut w = csv::Writer::from_writer(out);
        let mut titles: Vec<String> = [
            "t",
            "requests",
            "errors",
            "bytes",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "max_ms",
            "users",
            "cpu_ms_per_request",
        ]
        .map(String::from)
        .to_vec();
        titles.extend(headers.iter().map(|h| format!("{h} mean")));
        w.write_record(&titles)
            .map_err(csv_error("timeseries.csv"))?;
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        for p in &result.timeseries {
            let mut row = vec![
                p.t.to_string(),
                p.requests.to_string(),
                p.errors.to_string(),
                p.bytes.to_string(),
                opt(p.p50_ms),
                opt(p.p95_ms),
                opt(p.p99_ms),
                opt(p.max_ms),
                p.users.to_string(),
                opt(p.cpu_ms_per_request),
            ];
            row.extend(headers.iter().map(|h| opt(p.headers.get(*h).copied())));
            w.write_record(&row).map_err(csv_error("timeseries.csv"))?;
        }
        w.flush().map_err(super::io_error("timeseries.csv"))
    }
}

#[derive(Serialize)]
struct ResourceRow<'a> {
    t_s: f64,
    source: crate::result::resources::SourceKind,
    target: &'a str,
    series: &'a str,
    unit: &'a str,
    value: f64,
}

impl Exporter for ResourcesCsv {
    fn file_name(&self) -> &'static str {
        "resources.csv"
    }

    fn export(&self, result: &RunResult, out: &mut dyn Write) -> Result<(), ReportError> {
        let mut w = csv::Writer::from_writer(out);
        for source in &result.resources.sources {
            for series in &source.series {
                for [t, v] in &series.points {
                    w.serialize(ResourceRow {
                        t_s: *t,
                        source: source.kind,
                        target: &source.target,
                        series: &series.name,
                        unit: &series.unit,
                        value: *v,
                    })
                    .map_err(csv_error("resources.csv"))?;
                }
            }
        }
        w.flush().map_err(super::io_error("resources.csv"))
    }
}
