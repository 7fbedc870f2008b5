//! The run's side of answers that come later: the servers gander serves
//! (started with the users, reported when they stop) and the `await:` step,
//! which waits for a callback to the sink.

use std::time::Instant;

use goose::goose::GooseUser;

use super::sample::{Failure, Protocol, Sample};
use super::user::{RunShared, UserState, capture};
use crate::scenario::plan::AwaitPlan;
use crate::scenario::units::format_duration;
use crate::sink::Sinks;
use crate::sink::store::Missing;

/// The servers of the run and the streams its users read.
pub struct RunAnswers {
    pub sinks: Option<Sinks>,
    pub streams: super::sse::Streams,
}

impl RunAnswers {
    /// What the servers saw and the streams read, when the plan has any.
    pub fn report(
        &self,
        plan: &crate::scenario::RunPlan,
    ) -> Option<crate::result::answers::AnswersReport> {
        let mut report = self.sinks.as_ref().map(Sinks::report).unwrap_or_default();
        report.streams = self.streams.report(plan);
        (!report.is_empty()).then_some(report)
    }
}

/// A failed sample of a step that waited from `since`.
pub(super) fn failed(endpoint: usize, scenario: usize, since: Instant, reason: String) -> Sample {
    Sample {
        latency: Some(since.elapsed()),
        failure: Some(Box::new(Failure {
            reason,
            ..Failure::default()
        })),
        ..Sample::blank(endpoint, scenario, since)
    }
}

/// Why a wait ended empty, in words: what came instead, or that nothing did.
pub(super) fn missing_reason(
    missing: &Missing,
    what: &str,
    within: std::time::Duration,
    needed: &str,
) -> String {
    match &missing.instead {
        Some(instead) => format!("{needed}; came instead: {instead}"),
        None => format!("no {what} within {}", format_duration(within)),
    }
}

/// `await:` the callback on the step's path, timed from the user's previous
/// request (or, when it sent none, from the step's start).
pub async fn await_callback(
    user: &mut GooseUser,
    shared: &RunShared,
    plan: &AwaitPlan,
    measure_from: Option<Instant>,
) {
    let Some(state) = user.get_session_data_mut::<UserState>() else {
        return;
    };
    let since = state
        .last_sent
        .or(measure_from)
        .unwrap_or_else(Instant::now);
    let fail = |reason| failed(plan.endpoint, plan.scenario, since, reason);
    let Some(store) = shared
        .answers
        .sinks
        .as_ref()
        .and_then(|s| s.callbacks.as_ref())
    else {
        shared.samples.send(fail("no sink is listening".into()));
        return;
    };
    let path = match plan.path.render_string(state) {
        Ok(p) => p,
        Err(e) => {
            shared.samples.send(fail(format!("not awaited: {e}")));
            return;
        }
    };
    let key = path.split('?').next().unwrap_or(&path);
    let contains = &plan.contains;
    let waited = store
        .store
        .wait(key, since, plan.within, 1, |a| {
            contains.iter().all(|c| a.text.contains(c.as_str()))
        })
        .await;
    let arrival = match waited.map(|mut got| got.pop()) {
        Ok(Some(arrival)) => arrival,
        Ok(None) => {
            shared.samples.send(fail("no callback".into()));
            return;
        }
        Err(missing) => {
            let needed = format!(
                "the callback does not contain \"{}\"",
                contains.join("\", \"")
            );
            let reason = missing_reason(&missing, "callback", plan.within, &needed);
            shared.samples.send(fail(reason));
            return;
        }
    };
    let mut sample = Sample {
        latency: Some(arrival.at.saturating_duration_since(since)),
        status: 200,
        bytes: arrival.body.len() as u64,
        protocol: Protocol::Http11,
        ..Sample::blank(plan.endpoint, plan.scenario, since)
    };
    let mut json = None;
    let headers = hyper::header::HeaderMap::new();
    if let Err(reason) = capture(
        &plan.captures,
        &headers,
        &arrival.body,
        None,
        &mut json,
        state,
    ) {
        sample.failure = Some(Box::new(Failure {
            reason: reason.to_string(),
            body: Some(crate::sink::store::excerpt(&arrival.text)),
            ..Failure::default()
        }));
    }
    shared.samples.send(sample);
}
