//! What the users hand to the recorder: one `Sample` per request they made
//! (or could not make), over a channel the recorder owns.

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Body excerpt kept with an error sample.
pub const BODY_EXCERPT: usize = 512;

/// What travels from the users to the recorder.
pub enum Msg {
    Sample(Sample),
    Finish,
}

/// A cheap handle users clone to report samples.
#[derive(Clone)]
pub struct SampleSender(mpsc::Sender<Msg>);

impl SampleSender {
    /// The recorder makes the channel and hands out its sending end.
    pub fn new(tx: mpsc::Sender<Msg>) -> Self {
        SampleSender(tx)
    }

    pub fn send(&self, sample: Sample) {
        // The recorder outlives every user; a send can only fail after it finished.
        let _ = self.0.send(Msg::Sample(sample));
    }
}

/// One request, as timed by the user that made it.
#[derive(Debug)]
pub struct Sample {
    /// Index into the plan's request names.
    pub endpoint: u32,
    /// Index into the plan's scenarios.
    pub scenario: u32,
    /// When the request was handed to the HTTP client; for the first request of
    /// an open-model iteration, when the iteration was due.
    pub started: Instant,
    /// Closed model: the user's cadence and this request name's usual latency,
    /// once known; a response far slower than usual held the user back.
    pub pace: Option<super::pacing::Pace>,
    /// Start to last body byte; `None` when the request was not sent.
    pub latency: Option<Duration>,
    /// HTTP status; 0 when there was no response.
    pub status: u16,
    pub bytes: u64,
    pub failure: Option<Box<Failure>>,
    /// Values of the server headers listed in the file.
    pub headers: Vec<HeaderValue>,
    /// What the answer came over: HTTP/1.1, HTTP/2, a WebSocket message.
    pub protocol: Protocol,
    /// A WebSocket's whole life, reported when it ends: its latency is how long
    /// it was open, which no latency figure takes in.
    pub socket: Option<Box<SocketEnd>>,
    /// `gander ab`: the side the request went to (0 baseline, 1 candidate).
    pub side: u8,
}

impl Sample {
    /// A sample of a request started at `started`, before anything is known of its answer.
    pub fn blank(endpoint: usize, scenario: usize, started: Instant) -> Sample {
        Sample {
            endpoint: endpoint as u32,
            scenario: scenario as u32,
            started,
            pace: None,
            latency: None,
            status: 0,
            bytes: 0,
            failure: None,
            headers: Vec::new(),
            protocol: Protocol::None,
            socket: None,
            side: 0,
        }
    }
}

/// What a WebSocket saw over its life.
#[derive(Debug, Default, Clone, Copy)]
pub struct SocketEnd {
    pub sent: u64,
    pub received: u64,
    /// It ended other than by gander closing it (the server closed it, or the
    /// connection broke): the sample's failure says how.
    pub dropped: bool,
}

/// The protocol an answer came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// No answer.
    #[default]
    None,
    Http10,
    Http11,
    Http2,
    Http3,
    WebSocket,
}

impl Protocol {
    /// Every protocol with an answer, in the order reports list them.
    pub const ANSWERED: [Protocol; 5] = [
        Protocol::Http10,
        Protocol::Http11,
        Protocol::Http2,
        Protocol::Http3,
        Protocol::WebSocket,
    ];

    pub fn of(version: hyper::Version) -> Protocol {
        match version {
            hyper::Version::HTTP_10 | hyper::Version::HTTP_09 => Protocol::Http10,
            hyper::Version::HTTP_2 => Protocol::Http2,
            hyper::Version::HTTP_3 => Protocol::Http3,
            _ => Protocol::Http11,
        }
    }

    /// As run.json and the reports name it.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::None => "none",
            Protocol::Http10 => "HTTP/1.0",
            Protocol::Http11 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
            Protocol::Http3 => "HTTP/3",
            Protocol::WebSocket => "WebSocket",
        }
    }
}

#[derive(Debug, Default)]
pub struct Failure {
    /// A stable description used to group failures, e.g. `expected status 200, got 500`.
    pub reason: String,
    /// The start of the response body, if there was one.
    pub body: Option<String>,
    /// The connection failed: the request never reached the SUT.
    pub unreached: bool,
    /// The load generator itself could not make the request (out of files,
    /// ports, buffers): no figure of the SUT's.
    pub generator: Option<GeneratorFault>,
    /// The run cannot go on: the server does not speak what the file asks
    /// for (the reason says what to change). The run stops at once.
    pub stops_run: bool,
}

/// A limit of the load generator's own that made a request fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GeneratorFault {
    /// EMFILE: this process's open-file limit.
    Files,
    /// ENFILE: the system's open-file table.
    SystemFiles,
    /// EADDRNOTAVAIL: no local port (or address) left to connect from.
    Ports,
    /// ENOBUFS / ENOMEM: no socket buffers or memory.
    Buffers,
}

impl GeneratorFault {
    /// The fault an OS error number stands for, if it is the generator's own.
    pub fn of_errno(errno: i32) -> Option<GeneratorFault> {
        match errno {
            libc::EMFILE => Some(GeneratorFault::Files),
            libc::ENFILE => Some(GeneratorFault::SystemFiles),
            libc::EADDRNOTAVAIL => Some(GeneratorFault::Ports),
            libc::ENOBUFS | libc::ENOMEM => Some(GeneratorFault::Buffers),
            _ => None,
        }
    }

    /// The generator's own fault somewhere in `e`'s chain of causes.
    pub fn find(e: &(dyn std::error::Error + 'static)) -> Option<GeneratorFault> {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = next {
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && let Some(fault) = io.raw_os_error().and_then(Self::of_errno)
            {
                return Some(fault);
            }
            next = err.source();
        }
        None
    }

    /// As run.json names it.
    pub fn kind(self) -> &'static str {
        match self {
            GeneratorFault::Files => "files",
            GeneratorFault::SystemFiles => "system_files",
            GeneratorFault::Ports => "ports",
            GeneratorFault::Buffers => "buffers",
        }
    }

    /// What ran out, and the fix, as every output says it.
    pub fn cause(self) -> &'static str {
        match self {
            GeneratorFault::Files => {
                "the load generator ran out of file descriptors (EMFILE, \"Too many open files\"): \
                 raise ulimit -n, run fewer users, or split the load with --segment"
            }
            GeneratorFault::SystemFiles => {
                "the machine's open-file table was full (ENFILE): raise fs.file-max, or run \
                 the load from several machines (--segment)"
            }
            GeneratorFault::Ports => {
                "the load generator ran out of local ports (EADDRNOTAVAIL, \"Cannot assign \
                 requested address\"): add source_addresses, widen \
                 net.ipv4.ip_local_port_range, or split the load with --segment"
            }
            GeneratorFault::Buffers => {
                "the load generator ran out of socket buffers or memory (ENOBUFS/ENOMEM): run \
                 fewer users, or split the load with --segment"
            }
        }
    }
}

/// A numeric server-header value.
#[derive(Debug)]
pub struct HeaderValue {
    /// `X-SQL-Queries`, or `Server-Timing db` for a Server-Timing component.
    pub metric: HeaderMetric,
    /// Milliseconds when the header carried a time unit (`0.123s`), else the number.
    pub value: f64,
    pub is_time: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HeaderMetric {
    /// Index into the plan's server headers.
    Listed(u16),
    /// A `Server-Timing` component: header index and component name (value in ms).
    Timing(u16, Box<str>),
}

/// Parses `12`, `0.123s`, `45ms`, `800us` into a number; times become milliseconds.
/// Returns the value and whether it was a time.
pub fn parse_numeric_header(text: &str) -> Option<(f64, bool)> {
    let text = text.trim();
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(text.len());
    let number: f64 = text[..number_end].parse().ok()?;
    if !number.is_finite() {
        return None;
    }
    match text[number_end..].trim() {
        "" => Some((number, false)),
        "s" | "sec" => Some((number * 1e3, true)),
        "ms" => Some((number, true)),
        "us" | "µs" => Some((number / 1e3, true)),
        _ => None,
    }
}

/// Splits a `Server-Timing` header (`db;dur=12.5;desc="x", app;dur=3`) into
/// `(name, duration in ms)`; components without `dur` are skipped.
pub fn parse_server_timing(text: &str) -> Vec<(&str, f64)> {
    split_outside_quotes(text, ',')
        .filter_map(|metric| {
            let mut params = split_outside_quotes(metric, ';');
            let name = params.next()?.trim();
            if name.is_empty() {
                return None;
            }
            let dur = params.find_map(|p| {
                let (key, value) = p.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("dur")
                    .then(|| value.trim().trim_matches('"').parse::<f64>().ok())
                    .flatten()
            })?;
            dur.is_finite().then_some((name, dur))
        })
        .collect()
}

fn split_outside_quotes(text: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_headers_with_units() {
        assert_eq!(parse_numeric_header("12"), Some((12.0, false)));
        assert_eq!(parse_numeric_header("0.123s"), Some((123.0, true)));
        assert_eq!(parse_numeric_header(" 45ms"), Some((45.0, true)));
        assert_eq!(parse_numeric_header("abc"), None);
        assert_eq!(parse_numeric_header("12 apples"), None);
    }

    #[test]
    fn server_timing_components() {
        let parsed = parse_server_timing(r#"db;dur=12.5;desc="a, b", app;dur=3, cache;desc=hit"#);
        assert_eq!(parsed, vec![("db", 12.5), ("app", 3.0)]);
    }
}
