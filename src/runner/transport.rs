//! How the users reach the host: the HTTP version they speak and the TLS they
//! trust, set up once per run (the system's CA certificates are loaded once,
//! not once per user), and the short reasons transport failures are grouped by.

use std::sync::Arc;
use std::time::Duration;

use crate::runner::cookies::BoundedJar;
use crate::scenario::RunPlan;
use crate::scenario::plan::HttpVersion;
use crate::tls::Tls;

/// Shared by every user: what each of their clients is built from.
pub struct Transport {
    pub version: HttpVersion,
    /// For HTTP requests, offering what `version` asks for by ALPN.
    http_tls: rustls::ClientConfig,
    /// For wss:// (a WebSocket handshake is HTTP/1.1).
    pub ws_tls: Arc<rustls::ClientConfig>,
    /// The ALPN protocols offered, for a server that takes none of them.
    offered: &'static str,
    client_cert: bool,
}

impl Transport {
    pub fn new(plan: &RunPlan) -> Result<Transport, String> {
        let tls = Tls::new(&plan.tls);
        let alpn: &[&str] = match plan.http {
            HttpVersion::Http1 => &["http/1.1"],
            // A server (or a proxy) that only speaks HTTP/1.1 answers in it, and the
            // report's protocol counts show the downgrade.
            HttpVersion::Http2 => &["h2", "http/1.1"],
            HttpVersion::H2c => &["h2"],
        };
        Ok(Transport {
            version: plan.http,
            http_tls: tls.config(alpn)?,
            ws_tls: Arc::new(tls.config(&["http/1.1"])?),
            offered: match plan.http {
                HttpVersion::Http1 => "http/1.1",
                HttpVersion::Http2 => "h2, http/1.1",
                HttpVersion::H2c => "h2",
            },
            client_cert: plan.tls.client.is_some(),
        })
    }

    /// A user's client: gzip, its bounded cookie jar, the run's TLS and HTTP
    /// version; redirects followed up to 10 hops, or not.
    pub fn client_builder(&self, jar: Arc<BoundedJar>, follow: bool) -> reqwest::ClientBuilder {
        let redirects = if follow {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let builder = reqwest::Client::builder()
            .user_agent(super::user::USER_AGENT)
            .gzip(true)
            .cookie_provider(jar)
            .redirect(redirects)
            .tls_backend_preconfigured(self.http_tls.clone());
        match self.version {
            HttpVersion::Http1 => builder.http1_only(),
            HttpVersion::Http2 => builder,
            HttpVersion::H2c => builder.http2_prior_knowledge(),
        }
    }

    /// A short reason for a request that failed in transport, one that groups
    /// well: no URLs, the root cause only, TLS failures explained.
    pub fn reason(&self, e: &reqwest::Error, timeout: Duration) -> String {
        if e.is_timeout() {
            return format!(
                "timeout after {}",
                crate::scenario::units::format_duration(timeout)
            );
        }
        let kind = if e.is_connect() {
            "connection failed"
        } else {
            "transport error"
        };
        self.error_reason(e, kind)
    }

    /// The reason of any transport error: TLS explained, else `kind: root cause`.
    pub fn error_reason(&self, e: &(dyn std::error::Error + 'static), kind: &str) -> String {
        if let Some(reason) = crate::tls::failure_reason(e, self.offered, self.client_cert) {
            return reason;
        }
        let mut root: &dyn std::error::Error = e;
        while let Some(source) = root.source() {
            root = source;
        }
        let text = root.to_string();
        if self.version == HttpVersion::H2c && text.contains("http2") {
            return format!(
                "{kind}: {text} (with http: h2c the server must speak HTTP/2 over plain TCP)"
            );
        }
        format!("{kind}: {text}")
    }
}
