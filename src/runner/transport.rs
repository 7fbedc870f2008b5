//! How the users reach the host: the HTTP version they speak and the TLS they
//! trust, set up once per run (the system's CA certificates are loaded once,
//! not once per user), and the short reasons transport failures are grouped by.

use std::sync::Arc;

use crate::scenario::RunPlan;
use crate::scenario::plan::HttpVersion;
use crate::tls::Tls;

/// Shared by every user: what each of their clients is built from.
pub struct Transport {
    pub version: HttpVersion,
    /// For HTTP requests, offering what `version` asks for by ALPN.
    http_tls: tokio_rustls::TlsConnector,
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
            http_tls: tokio_rustls::TlsConnector::from(Arc::new(tls.config(alpn)?)),
            ws_tls: Arc::new(tls.config(&["http/1.1"])?),
            offered: match plan.http {
                HttpVersion::Http1 => "http/1.1",
                HttpVersion::Http2 => "h2, http/1.1",
                HttpVersion::H2c => "h2",
            },
            client_cert: plan.tls.client.is_some(),
        })
    }

    /// What opens the users' TLS connections (shared: it holds the run's config).
    pub fn tls_connector(&self) -> &tokio_rustls::TlsConnector {
        &self.http_tls
    }

    /// A short reason for a body that could not be read to its end.
    pub fn body_reason(&self, e: &hyper::Error) -> String {
        self.error_reason(e, "transport error")
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
