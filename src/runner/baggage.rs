//! The W3C `baggage` header that names each request to the SUT:
//! `gander.request=<name>,gander.scenario=<name>,gander.run=<id>`, values
//! percent-encoded. Built once per step when the run starts, never per request,
//! and only for requests to the file's own host.

use hyper::header::HeaderValue;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// What a baggage value may not hold as is (W3C baggage: no controls, space,
/// `"`, `,`, `;`, `\`; `%` starts an escape); non-ASCII is always encoded.
const ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

/// The header's name.
pub const HEADER: &str = "baggage";
/// The key a SUT labels its profile's samples with.
pub const REQUEST_KEY: &str = "gander.request";

/// The header value for one step.
pub fn value(request: &str, scenario: &str, run_id: &str) -> Option<HeaderValue> {
    let text = format!(
        "{REQUEST_KEY}={},gander.scenario={},gander.run={}",
        utf8_percent_encode(request, ENCODE),
        utf8_percent_encode(scenario, ENCODE),
        utf8_percent_encode(run_id, ENCODE)
    );
    HeaderValue::from_str(&text).ok()
}

/// Whether `url` is on the host the file targets (same scheme, host and port).
pub fn same_origin(url: &url::Url, base: &url::Url) -> bool {
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
}

/// Whether a URL template's text begins as a path on the host (`/...`, not
/// `//other-host/...`): its requests go to the file's host whatever the values.
pub fn is_host_path(first_literal: Option<&str>) -> bool {
    first_literal.is_some_and(|t| t.starts_with('/') && !t.starts_with("//"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded_and_hosts_checked() {
        let v = value("list bookings", "réception,1", "20260101-demo").unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "gander.request=list%20bookings,gander.scenario=r%C3%A9ception%2C1,\
             gander.run=20260101-demo"
        );
        let base = url::Url::parse("http://127.0.0.1:8080/api/").unwrap();
        let same = url::Url::parse("http://127.0.0.1:8080/x").unwrap();
        let other = url::Url::parse("http://127.0.0.1:9090/x").unwrap();
        let tls = url::Url::parse("https://127.0.0.1:8080/x").unwrap();
        assert!(same_origin(&same, &base));
        assert!(!same_origin(&other, &base));
        assert!(!same_origin(&tls, &base));
        assert!(is_host_path(Some("/api/${id}")));
        assert!(!is_host_path(Some("//evil.example/${id}")));
        assert!(!is_host_path(Some("http://elsewhere/${id}")));
        assert!(!is_host_path(None));
    }
}
