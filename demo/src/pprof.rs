//! `GET /debug/pprof/profile?seconds=N`: the Go contract (gzip-compressed
//! `profile.proto`), one profile at a time as Go does. The samples come from
//! the demo's own SIGPROF sampler (`sampler.rs`), the names from symbol tables
//! (`symbols.rs`). The profile is taken and built on a thread of its own at
//! the lowest CPU priority, so that building it after the window competes
//! with no request.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use serde::Deserialize;

use super::api::{App, Params};
use super::sampler::{self, Counts, SamplerError};
use super::symbols::{self, SymbolsError};

#[derive(Deserialize)]
pub struct ProfileQuery {
    seconds: Option<u64>,
}

/// The kernel's 250 Hz tick caps SIGPROF sampling; asking for more under-reports
/// CPU time. At the cap: a lightly loaded demo's window holds few CPU-seconds,
/// and every sample counts.
const FREQUENCY: u32 = 250;

#[derive(Debug, thiserror::Error)]
enum ProfileError {
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    #[error(transparent)]
    Symbols(#[from] SymbolsError),
    #[error("cannot compress the profile: {0}")]
    Gzip(std::io::Error),
    #[error("cannot start the profiling thread: {0}")]
    Thread(std::io::Error),
    #[error("the profiling thread stopped without a profile")]
    Lost,
}

pub async fn profile(State(app): State<Arc<App>>, Params(q): Params<ProfileQuery>) -> Response {
    let seconds = q.seconds.unwrap_or(30).clamp(1, 600);
    if app.profiling.swap(true, Ordering::SeqCst) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cpu profiling already in use\n",
        )
            .into_response();
    }
    let result = on_own_thread(Duration::from_secs(seconds)).await;
    app.profiling.store(false, Ordering::SeqCst);
    match result {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(ProfileError::Sampler(SamplerError::Busy)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cpu profiling already in use\n",
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("profiling failed: {e}\n"),
        )
            .into_response(),
    }
}

/// Samples and builds the profile on a dedicated thread at nice 19: neither a
/// runtime worker nor a blocking-pool thread (which would keep the priority).
async fn on_own_thread(length: Duration) -> Result<Vec<u8>, ProfileError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("pprof-profile".into())
        .spawn(move || {
            // SAFETY: setpriority on this thread's own id (Linux: per thread).
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, 19);
            }
            let _ = tx.send(collect(length));
        })
        .map_err(ProfileError::Thread)?;
    rx.await.map_err(|_| ProfileError::Lost)?
}

fn collect(length: Duration) -> Result<Vec<u8>, ProfileError> {
    let counts = sampler::sample(FREQUENCY, length)?;
    let mut ips: Vec<usize> = counts.stacks.keys().flat_map(|(_, s)| s).copied().collect();
    ips.sort_unstable();
    ips.dedup();
    let names = symbols::names(&ips)?;
    let encoded = encode(&counts, &names).encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&encoded).map_err(ProfileError::Gzip)?;
    gz.finish().map_err(ProfileError::Gzip)
}

/// The counts as a `profile.proto`: `samples/count` and `cpu/nanoseconds`
/// (samples x period), one location per address, one function per name.
fn encode(counts: &Counts, names: &HashMap<usize, String>) -> proto::Profile {
    let mut strings = Strings::default();
    let period = 1_000_000_000 / i64::from(counts.frequency);
    let (samples, count, cpu, nanoseconds) = (
        strings.get("samples"),
        strings.get("count"),
        strings.get("cpu"),
        strings.get("nanoseconds"),
    );
    let mut functions: HashMap<&str, u64> = HashMap::new();
    let mut profile = proto::Profile {
        sample_type: vec![
            proto::ValueType {
                ty: samples,
                unit: count,
            },
            proto::ValueType {
                ty: cpu,
                unit: nanoseconds,
            },
        ],
        period_type: Some(proto::ValueType {
            ty: cpu,
            unit: nanoseconds,
        }),
        period,
        time_nanos: SystemTime::now()
            .checked_sub(counts.duration)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64),
        duration_nanos: counts.duration.as_nanos() as i64,
        ..Default::default()
    };
    let mut locations: HashMap<usize, u64> = HashMap::new();
    let key = strings.get(super::labels::KEY);
    for ((label, stack), &n) in &counts.stacks {
        let mut location_id = Vec::with_capacity(stack.len());
        for &ip in stack {
            let next = locations.len() as u64 + 1;
            let id = *locations.entry(ip).or_insert_with(|| {
                let line = names.get(&ip).map(|name| {
                    let next_fn = functions.len() as u64 + 1;
                    let function_id = *functions.entry(name.as_str()).or_insert_with(|| {
                        let name = strings.get(name);
                        profile.function.push(proto::Function {
                            id: next_fn,
                            name,
                            system_name: name,
                        });
                        next_fn
                    });
                    proto::Line {
                        function_id,
                        line: 0,
                    }
                });
                profile.location.push(proto::Location {
                    id: next,
                    address: ip as u64,
                    line: line.into_iter().collect(),
                });
                next
            });
            location_id.push(id);
        }
        let label = super::labels::name(*label).map(|name| proto::Label {
            key,
            str: strings.get(&name),
        });
        profile.sample.push(proto::Sample {
            location_id,
            value: vec![n as i64, n as i64 * period],
            label: label.into_iter().collect(),
        });
    }
    if counts.dropped > 0 {
        let comment = strings.get(&format!(
            "{} samples dropped: the sampler's ring was full",
            counts.dropped
        ));
        profile.comment.push(comment);
    }
    profile.string_table = strings.table;
    profile
}

/// The profile's string table: index 0 is the empty string.
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Default for Strings {
    fn default() -> Self {
        Strings {
            table: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl Strings {
    fn get(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// The messages of pprof's `profile.proto` the demo writes, with the file's tags.
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub period: i64,
        #[prost(int64, repeated, tag = "13")]
        pub comment: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub ty: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// Leaf first.
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    /// A sample's string label: key and value are indices into the string table.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(int64, tag = "1")]
        pub key: i64,
        #[prost(int64, tag = "2")]
        pub str: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "3")]
        pub address: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
    }
}
