//! Why a request failed, as values: each `Display` is the reason text recorded
//! on the failed request's `Sample` (shown as is and grouped by its words), so
//! a reason is only put into words once it is recorded, never on a request
//! that succeeds.

use std::sync::Arc;

use hyper::header::{HeaderName, InvalidHeaderValue};

use crate::scenario::plan::CaptureSource;
use crate::scenario::template::RenderError;

/// Why a URL cannot be sent to.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error(transparent)]
    Parse(#[from] url::ParseError),
    #[error("scheme {0}: is not http or https")]
    Scheme(String),
    #[error("the URL has no host or port")]
    NoHost,
    #[error(transparent)]
    Uri(#[from] hyper::http::uri::InvalidUri),
    #[error(transparent)]
    Host(#[from] InvalidHeaderValue),
}

/// Why a request was not sent (recorded as `not sent: …`).
#[derive(Debug, thiserror::Error)]
pub enum NotSent {
    #[error("bad URL \"{text}\": {source}")]
    Url { text: String, source: UrlError },
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("header {name}: {source}")]
    Header {
        name: HeaderName,
        source: InvalidHeaderValue,
    },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Known when the run started (a constant URL that does not parse).
    #[error(transparent)]
    Planned(Arc<NotSent>),
    #[error("\"{0}://\" is not a WebSocket URL")]
    NotWebSocket(String),
    #[error("bad URL \"{0}\"")]
    WebSocketScheme(String),
    #[error("bad WebSocket URL: {0}")]
    WebSocketRequest(tokio_tungstenite::tungstenite::Error),
    #[error("header {0} is not a valid header value")]
    WebSocketHeader(HeaderName),
    #[error("message_id \"{0}\" is not a number")]
    MessageId(String),
    #[error("the bot has sent this user no message to press a button on")]
    NoMessage,
}

/// An answer (a body, a message, a callback) that does not meet the step's
/// `expect` or `capture`; borrows what the plan holds.
#[derive(Debug, thiserror::Error)]
pub enum Unmet<'a> {
    #[error("expected status {}, got {got}", OrList(.allowed))]
    Status { allowed: &'a [u16], got: u16 },
    #[error("HTTP {0}")]
    Http(u16),
    #[error("header {0} missing")]
    Header(&'a HeaderName),
    /// `what` (a body, a message) does not contain `needle`.
    #[error("{what} does not contain \"{needle}\"")]
    Contains { what: &'static str, needle: &'a str },
    #[error("{0} is not JSON")]
    NotJson(&'static str),
    #[error("JSON {0} missing")]
    Missing(&'a str),
    #[error("JSON {0} present")]
    Present(&'a str),
    #[error("JSON {pointer} is {found}, expected {expected}")]
    Equals {
        pointer: &'a str,
        found: serde_json::Value,
        expected: &'a serde_json::Value,
    },
    #[error("capture {name}: {} not found", Source(.from))]
    Capture {
        name: &'a str,
        from: &'a CaptureSource,
    },
}

/// Why an answered request failed: an expectation, or its body.
#[derive(Debug, thiserror::Error)]
pub enum Failed<'a> {
    #[error("{0}")]
    Unmet(Unmet<'a>),
    /// The body passed `max_body` and a check reads it.
    #[error("body {0}: raise max_body or drop the check")]
    TooLargeToCheck(crate::bounded::ReadError),
    #[error("body {0}: raise max_body")]
    TooLarge(crate::bounded::ReadError),
    /// The transport's reason (TLS explained), worked out when it broke.
    #[error("body not read: {0}")]
    Transport(String),
    #[error("body not read: {0}")]
    Io(std::io::Error),
}

impl<'a> From<Unmet<'a>> for Failed<'a> {
    fn from(unmet: Unmet<'a>) -> Failed<'a> {
        Failed::Unmet(unmet)
    }
}

/// A request that failed and was recorded so: the reason it was recorded with.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Recorded(pub String);

/// `200 or 201`.
struct OrList<'a>(&'a [u16]);

impl std::fmt::Display for OrList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, status) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "{status}")?;
        }
        Ok(())
    }
}

/// Where a capture reads from, as its failure names it.
struct Source<'a>(&'a CaptureSource);

impl std::fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            CaptureSource::Json(p) => write!(f, "JSON {p}"),
            CaptureSource::Header(h) => write!(f, "header {h}"),
            CaptureSource::Regex(r) => write!(f, "regex {}", r.as_str()),
            CaptureSource::Cookie(k) => write!(f, "cookie {k}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_recorded() {
        let allowed = [200, 201];
        let status = Unmet::Status {
            allowed: &allowed,
            got: 500,
        };
        assert_eq!(status.to_string(), "expected status 200 or 201, got 500");
        assert_eq!(Unmet::Missing("/id").to_string(), "JSON /id missing");
        let source = CaptureSource::Header(HeaderName::from_static("x-token"));
        let capture = Unmet::Capture {
            name: "token",
            from: &source,
        };
        assert_eq!(
            capture.to_string(),
            "capture token: header x-token not found"
        );
        let planned = NotSent::Planned(Arc::new(NotSent::Url {
            text: "http://[".into(),
            source: UrlError::Parse(url::ParseError::InvalidIpv6Address),
        }));
        assert_eq!(
            planned.to_string(),
            "bad URL \"http://[\": invalid IPv6 address"
        );
    }
}
