//! `junit.xml`: one test case per target and per validity check, in the
//! Jenkins JUnit format GitHub, GitLab and Jenkins read. A missed target is a
//! `<failure>` with the observed value and the limit; an invalid run is an
//! `<error>`; a warning-only row (no data, inconclusive) is `<skipped>`.

use crate::redact::control;
use std::io::Write;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Exporter, ReportError};
use crate::format::value;
use crate::result::{RunResult, TargetOutcome, TargetResult};

pub struct JunitExporter;

impl Exporter for JunitExporter {
    fn file_name(&self) -> &'static str {
        "junit.xml"
    }

    fn export(&self, result: &RunResult, out: &mut dyn Write) -> Result<(), ReportError> {
        let xml = render(result).to_string().map_err(|e| ReportError::Io {
            what: "junit.xml".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        out.write_all(xml.as_bytes())
            .map_err(super::io_error("junit.xml"))
    }
}

/// The JUnit report of a run.
pub fn render(result: &RunResult) -> Report {
    let mut suite = TestSuite::new(format!("gander: {}", result.plan.name));
    for (name, v) in [
        ("run_id", result.run_id.clone()),
        (
            "verdict",
            format!("{:?}", result.verdict.status).to_lowercase(),
        ),
        ("scenario_file", result.provenance.scenario_file.clone()),
        ("host", result.plan.host.clone()),
        ("users", result.plan.users.to_string()),
        ("http", result.plan.http.clone()),
        (
            "tls_verified",
            (!result.plan.tls.as_ref().is_some_and(|t| t.insecure)).to_string(),
        ),
        (
            "protocols",
            result
                .totals
                .all
                .protocols
                .iter()
                .map(|(p, n)| format!("{p}={n}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("started_at", result.provenance.started_at.clone()),
    ] {
        suite.add_property(Property::new(name, v));
    }
    for (name, value) in cost_properties(result) {
        suite.add_property(Property::new(name, value));
    }
    for check in &result.verdict.validity {
        let status = if check.ok {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type("invalid run")
                .set_message(control(&check.detail));
            s
        };
        let mut case = TestCase::new(format!("validity: {}", check.check), status);
        case.set_classname("gander.validity");
        case.set_system_out(control(&check.detail));
        suite.add_test_case(case);
    }
    for t in &result.verdict.targets {
        let mut case = TestCase::new(format!("{} of {}", t.metric, t.scope), status(t));
        case.set_classname("gander.targets");
        case.set_system_out(message(t));
        suite.add_test_case(case);
    }
    let mut report = Report::new("gander");
    report.add_test_suite(suite);
    report
}

/// The SUT's CPU per request as properties: `cpu_per_request` for all
/// requests, `cpu_per_request: NAME` per request name with its method.
fn cost_properties(result: &RunResult) -> Vec<(String, String)> {
    let show = |c: &crate::result::cost::Cost| {
        control(&format!(
            "{}, method {}, over {} requests",
            super::cost_text::figure(c),
            c.method.label(),
            c.requests
        ))
        .into_owned()
    };
    let mut out = Vec::new();
    if let Some(c) = &result.totals.steady.cost {
        out.push(("cpu_per_request".to_string(), show(c)));
    }
    for e in &result.endpoints {
        if let Some(c) = &e.cost {
            out.push((format!("cpu_per_request: {}", control(&e.name)), show(c)));
        }
    }
    out
}

fn status(t: &TargetResult) -> TestCaseStatus {
    let kind = match (t.outcome, t.decisive) {
        (TargetOutcome::Pass, _) => return TestCaseStatus::success(),
        (_, false) => {
            let mut s = TestCaseStatus::skipped();
            s.set_type(t.outcome.label())
                .set_message(format!("warning only: {}", message(t)));
            return s;
        }
        (TargetOutcome::Fail, true) => "target missed",
        (TargetOutcome::NoData, true) => "no data",
        (TargetOutcome::Inconclusive, true) => "inconclusive",
    };
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
    s.set_type(kind).set_message(message(t));
    s
}

/// `observed 250ms, limit <= 200ms (steady state)` and the row's detail.
fn message(t: &TargetResult) -> String {
    let observed = t
        .observed
        .map(|v| value(v, &t.unit))
        .unwrap_or_else(|| "no data".into());
    let mut text = format!(
        "observed {observed}, limit {} {}",
        t.comparison,
        value(t.limit, &t.unit)
    );
    // XML cannot carry most control characters: show them escaped.
    if let Some(detail) = &t.detail {
        text.push_str(&format!(" ({})", control(detail)));
    }
    text
}
