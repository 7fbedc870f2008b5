//! How the users reach the host: the run's network edge (TLS, proxies, the
//! connect timeout; set up once per run, not once per user), the HTTP version
//! they speak, and the short reasons transport failures are grouped by.

use std::sync::OnceLock;

use crate::net::{Edge, Speak};
use crate::scenario::RunPlan;
use crate::scenario::plan::HttpVersion;

/// Shared by every user: what each of their clients is built from.
pub struct Transport {
    pub version: HttpVersion,
    pub edge: Edge,
    /// What the users' HTTP connections carry.
    pub speak: Speak,
    /// A protocol the server was found not to speak (`http: h2c` against an
    /// HTTP/1.1 server): said once, and every later connection fails with it
    /// at once instead of reconnecting for the whole run.
    mismatch: OnceLock<String>,
}

impl Transport {
    pub fn new(plan: &RunPlan) -> Result<Transport, crate::net::tls::TlsError> {
        Ok(Transport {
            version: plan.http,
            edge: Edge::new(&plan.tls, &plan.net)?,
            speak: match plan.http {
                HttpVersion::Http1 => Speak::Http1,
                // A server (or a proxy) that only speaks HTTP/1.1 answers in it; the
                // verdict says so.
                HttpVersion::Http2 => Speak::Http2,
                HttpVersion::H2c => Speak::H2c,
            },
            mismatch: OnceLock::new(),
        })
    }

    /// The protocol mismatch found so far, if any.
    pub fn mismatch(&self) -> Option<&str> {
        self.mismatch.get().map(String::as_str)
    }

    /// Remembers a protocol mismatch; returns the reason (the first one found).
    pub fn found_mismatch(&self, reason: String) -> String {
        self.mismatch.get_or_init(|| reason).clone()
    }

    /// A short reason for a body that could not be read to its end.
    pub fn body_reason(&self, e: &hyper::Error) -> String {
        self.error_reason(e, "transport error")
    }

    /// The reason of any transport error: TLS explained, else `kind: root cause`.
    pub fn error_reason(&self, e: &(dyn std::error::Error + 'static), kind: &str) -> String {
        let text = self.edge.reason(e, kind, self.speak);
        if self.version == HttpVersion::H2c && text.contains("http2") {
            return format!("{text} (with http: h2c the server must speak HTTP/2 over plain TCP)");
        }
        text
    }
}
