//! What one user does for an `sse:` step: open a server-sent event stream
//! (on a connection of its own: a stream holds it), read events until
//! `until` is met, the stream ends or `within` passes. The step's latency is
//! the time to the first event; the gaps between events are kept per request
//! name, bounded (a histogram), for the report.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use goose::goose::GooseUser;
use http_body_util::BodyExt;
use hyper::header::{self, HeaderMap, HeaderValue};

use super::answers::failed;
use super::fail::NotSent;
use super::http::{Connections, Outgoing, Target};
use super::sample::{Failure, Protocol, Sample};
use super::user::{RunShared, UserState, capture, header_value};
use crate::result::answers::StreamReport;
use crate::scenario::RunPlan;
use crate::scenario::plan::SsePlan;
use crate::scenario::units::format_duration;

/// An sse step as the users run it: its fixed headers worked out once.
pub struct SseStep {
    pub plan: Arc<SsePlan>,
    fixed: HeaderMap,
    templated: Vec<usize>,
    base: url::Url,
}

impl SseStep {
    pub fn prepare(plan: Arc<SsePlan>, base: &url::Url) -> SseStep {
        let mut fixed = HeaderMap::new();
        let mut templated = Vec::new();
        for (i, (name, value)) in plan.headers.iter().enumerate() {
            match value.constant().and_then(|v| HeaderValue::from_str(v).ok()) {
                Some(v) => {
                    fixed.append(name.clone(), v);
                }
                None => templated.push(i),
            }
        }
        for (name, value) in [
            (header::ACCEPT, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::USER_AGENT, super::user::USER_AGENT),
        ] {
            if !fixed.contains_key(&name) {
                fixed.insert(name, HeaderValue::from_static(value));
            }
        }
        SseStep {
            plan,
            fixed,
            templated,
            base: base.clone(),
        }
    }
}

/// Per `sse:` request name: streams, events and the gaps between them.
#[derive(Default)]
pub struct Streams(Mutex<HashMap<usize, StreamStats>>);

struct StreamStats {
    streams: u64,
    events: u64,
    cut: u64,
    gaps: hdrhistogram::Histogram<u64>,
}

impl Streams {
    fn add(&self, endpoint: usize, events: &[Instant], cut: bool) {
        let Ok(mut all) = self.0.lock() else { return };
        let Some(stats) = (match all.entry(endpoint) {
            std::collections::hash_map::Entry::Occupied(e) => Some(e.into_mut()),
            std::collections::hash_map::Entry::Vacant(v) => {
                let gaps = crate::hist::new_histogram();
                Some(v.insert(StreamStats {
                    streams: 0,
                    events: 0,
                    cut: 0,
                    gaps,
                }))
            }
        }) else {
            return;
        };
        stats.streams += 1;
        stats.events += events.len() as u64;
        stats.cut += u64::from(cut);
        for pair in events.windows(2) {
            let gap = pair[1].saturating_duration_since(pair[0]).as_micros() as u64;
            crate::hist::record_latency(&mut stats.gaps, gap.max(1));
        }
    }

    pub fn report(&self, plan: &RunPlan) -> Vec<StreamReport> {
        let Ok(all) = self.0.lock() else {
            return Vec::new();
        };
        let mut out: Vec<StreamReport> = all
            .iter()
            .map(|(endpoint, s)| {
                let ms = |q: f64| s.gaps.value_at_quantile(q) as f64 / 1000.0;
                StreamReport {
                    name: plan
                        .endpoints
                        .get(*endpoint)
                        .map(|e| e.name.clone())
                        .unwrap_or_default(),
                    streams: s.streams,
                    events: s.events,
                    gap_p50_ms: ms(0.5),
                    gap_p95_ms: ms(0.95),
                    gap_max_ms: s.gaps.max() as f64 / 1000.0,
                    cut: s.cut,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

/// One event as the stream gave it.
#[derive(Default)]
struct Event {
    name: String,
    data: String,
}

/// Takes the next whole event out of `buffer`, if one is there.
fn next_event(buffer: &mut BytesMut) -> Option<Event> {
    loop {
        let text = &buffer[..];
        let (end, skip) = [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"]
            .iter()
            .filter_map(|sep| {
                text.windows(sep.len())
                    .position(|w| w == *sep)
                    .map(|p| (p, sep.len()))
            })
            .min()?;
        let block = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.advance(end + skip);
        let mut event = Event::default();
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event.name = value.to_string(),
                "data" => data.push(value),
                _ => {}
            }
        }
        // A comment or a keep-alive is no event.
        if !data.is_empty() || !event.name.is_empty() {
            event.data = data.join("\n");
            return Some(event);
        }
    }
}

/// The request for this user now.
fn request(step: &SseStep, state: &mut UserState) -> Result<(Target, Outgoing), NotSent> {
    let plan = &*step.plan;
    let target = super::user::target(&step.base, plan.url.render_string(state)?)?;
    let mut headers = step.fixed.clone();
    for &i in &step.templated {
        let (name, value) = &plan.headers[i];
        headers.insert(
            name.clone(),
            header_value(name, value.render_string(state)?)?,
        );
    }
    let out = Outgoing {
        method: hyper::Method::GET,
        headers,
        body: bytes::Bytes::new(),
    };
    Ok((target, out))
}

/// What reading a stream came to.
struct Read {
    times: Vec<Instant>,
    last: Option<Event>,
    /// Why the stream failed, if it did.
    failure: Option<String>,
    cut: bool,
}

pub async fn run(
    user: &mut GooseUser,
    shared: &RunShared,
    step: &SseStep,
    measure_from: Option<Instant>,
) {
    let plan = &*step.plan;
    let Some(state) = user.get_session_data_mut::<UserState>() else {
        return;
    };
    let started = measure_from.unwrap_or_else(Instant::now);
    state.last_sent = Some(Instant::now());
    let (response, status, protocol) = match open(shared, step, state, started).await {
        Ok(opened) => opened,
        Err(sample) => {
            shared.samples.send(*sample);
            return;
        }
    };
    let read = read_events(plan, response.into_body(), started).await;
    shared
        .answers
        .streams
        .add(plan.endpoint, &read.times, read.cut);
    let mut sample = Sample {
        latency: read
            .times
            .first()
            .map(|t| t.saturating_duration_since(started)),
        status,
        protocol,
        ..Sample::blank(plan.endpoint, plan.scenario, started)
    };
    let mut failure = read.failure;
    if failure.is_none()
        && let Some(last) = &read.last
    {
        let mut json = None;
        let data = last.data.as_bytes();
        failure = capture(
            &plan.captures,
            &HeaderMap::new(),
            data,
            None,
            &mut json,
            state,
        )
        .err()
        .map(|e| e.to_string());
    }
    if let Some(reason) = failure {
        sample.latency = sample.latency.or(Some(started.elapsed()));
        sample.failure = Some(Box::new(Failure {
            reason,
            body: read.last.map(|e| crate::sink::store::excerpt(&e.data)),
            ..Failure::default()
        }));
    }
    shared.samples.send(sample);
}

/// Opens the stream: its response, status and protocol, or the failed sample.
async fn open(
    shared: &RunShared,
    step: &SseStep,
    state: &mut UserState,
    started: Instant,
) -> Result<(hyper::Response<hyper::body::Incoming>, u16, Protocol), Box<Sample>> {
    let plan = &*step.plan;
    let fail = |reason: String| Box::new(failed(plan.endpoint, plan.scenario, started, reason));
    let (target, out) =
        request(step, state).map_err(|reason| fail(format!("not sent: {reason}")))?;
    // A stream holds its connection: it gets one of its own.
    let mut connections = Connections::default();
    let fetched = tokio::time::timeout(
        plan.timeout,
        connections.fetch(&shared.transport, &state.jar, &target, out, true),
    )
    .await;
    let response = match fetched {
        Ok(Ok(answered)) => answered.response,
        Ok(Err(e)) => {
            let mut sample = fail(e.reason(&shared.transport));
            if let Some(f) = sample.failure.as_mut() {
                f.unreached = e.unreached();
            }
            return Err(sample);
        }
        Err(_) => {
            return Err(fail(format!(
                "timeout after {}",
                format_duration(plan.timeout)
            )));
        }
    };
    let status = response.status().as_u16();
    let protocol = Protocol::of(response.version());
    let is_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
    let head_failure = if status >= 400 {
        Some(format!("HTTP {status}"))
    } else if !is_stream {
        Some("not an event stream (Content-Type is not text/event-stream)".to_string())
    } else {
        None
    };
    match head_failure {
        Some(reason) => Err(Box::new(Sample {
            status,
            protocol,
            ..*fail(reason)
        })),
        None => Ok((response, status, protocol)),
    }
}

/// Reads events until `until` is met, the stream ends or `within` passes.
async fn read_events(plan: &SsePlan, mut body: hyper::body::Incoming, started: Instant) -> Read {
    let deadline = tokio::time::Instant::from_std(started + plan.within);
    let mut buffer = BytesMut::new();
    let mut read = Read {
        times: Vec::new(),
        last: None,
        failure: None,
        cut: false,
    };
    let wanted = plan.until_events.map(|n| n as usize);
    let limit = wanted.unwrap_or(crate::scenario::plan::MAX_SSE_EVENTS as usize);
    let done = |read: &Read| {
        wanted.is_some_and(|n| read.times.len() >= n)
            || plan
                .until_event
                .as_ref()
                .is_some_and(|name| read.last.as_ref().is_some_and(|e| &e.name == name))
    };
    let ended = loop {
        if done(&read) {
            return read;
        }
        if read.times.len() >= limit {
            read.cut = true;
            break "the stream reached the most events read";
        }
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => break "timed out",
            Ok(None) => break "the stream ended",
            Ok(Some(Err(e))) => {
                read.failure = Some(format!("stream broken: {e}"));
                return read;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let at = Instant::now();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(event) = next_event(&mut buffer) {
            read.times.push(at);
            read.last = Some(event);
            if done(&read) || read.times.len() >= limit {
                break;
            }
        }
        if buffer.len() > plan.max_event {
            read.cut = true;
            read.failure = Some(format!(
                "an event over {} (raise max_body)",
                crate::format::bytes(plan.max_event as f64)
            ));
            return read;
        }
    };
    let within = format_duration(plan.within);
    read.failure = match (&plan.until_event, wanted) {
        (Some(name), _) => Some(format!("no event \"{name}\" within {within} ({ended})")),
        (None, Some(n)) => Some(format!(
            "{} of {n} events within {within} ({ended})",
            read.times.len()
        )),
        (None, None) if read.times.is_empty() => {
            Some(format!("no event within {within} ({ended})"))
        }
        (None, None) => None,
    };
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_blank_lines_whatever_the_line_ends() {
        let mut b = BytesMut::from(&b": keep-alive\n\nevent: progress\ndata: {\"p\":1}\n\ndata: a\r\ndata: b\r\n\r\nevent: done\ndata: x"[..]);
        let e = next_event(&mut b).unwrap();
        assert_eq!(
            (e.name.as_str(), e.data.as_str()),
            ("progress", "{\"p\":1}")
        );
        let e = next_event(&mut b).unwrap();
        assert_eq!((e.name.as_str(), e.data.as_str()), ("", "a\nb"));
        // Not ended by a blank line yet.
        assert!(next_event(&mut b).is_none());
        b.extend_from_slice(b"\n\n");
        assert_eq!(next_event(&mut b).unwrap().name, "done");
    }
}
