//! Which proxy a connection goes through: one policy for every sender, read
//! from the environment once per edge, as curl and k6 read it.
//!
//! - `http_proxy`/`HTTP_PROXY` for http:// and ws://, `https_proxy`/`HTTPS_PROXY`
//!   for https:// and wss://, `all_proxy`/`ALL_PROXY` for both when the other is
//!   unset (the lower-case name wins). `HTTP_PROXY` is ignored when
//!   `REQUEST_METHOD` is set (a CGI process, "httpoxy").
//! - `no_proxy`/`NO_PROXY`: a comma-separated list of host names (a name also
//!   covers its subdomains; a leading dot is allowed), IP addresses, CIDR
//!   blocks, or `*` for all.
//! - Loopback is never proxied (`localhost`, `*.localhost`, 127.0.0.0/8, ::1),
//!   as k6 and Go do (curl proxies it unless listed): a load test of a local
//!   SUT must not measure a proxy because a desktop's environment names one.
//! - Only `http://` proxies: plain http requests go to the proxy in absolute
//!   form, everything else (https, wss, ws, h2c) through a `CONNECT` tunnel;
//!   `user:password@` in the proxy's URL becomes `Proxy-Authorization: Basic`.
//!
//! The matching itself is hyper-util's (the code reqwest uses).

use hyper::Uri;
use hyper::header::HeaderValue;
use hyper_util::client::proxy::matcher::Matcher;

/// The proxy to use for one origin.
#[derive(Clone)]
pub struct Proxy {
    /// `http://host:port` of the proxy (without its credentials).
    pub uri: Uri,
    /// `Proxy-Authorization` from the proxy URL's userinfo.
    pub auth: Option<HeaderValue>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        write!(f, "Proxy({})", self.shown())
    }
}

impl Proxy {
    /// The proxy as a message may show it: scheme, host and port only.
    pub fn shown(&self) -> String {
        let scheme = self.uri.scheme_str().unwrap_or("http");
        match self.uri.authority() {
            Some(a) => format!("{scheme}://{}", a.as_str().rsplit('@').next().unwrap_or("")),
            None => format!("{scheme}://?"),
        }
    }

    /// Whether gander can speak to this proxy (HTTP proxies only).
    pub fn supported(&self) -> bool {
        self.uri.scheme_str().is_none_or(|s| s == "http")
    }
}

/// The run's proxy rules.
pub struct ProxyPolicy {
    matcher: Matcher,
}

impl std::fmt::Debug for ProxyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyPolicy")
    }
}

impl ProxyPolicy {
    /// The rules of this process's environment.
    pub fn from_env() -> ProxyPolicy {
        ProxyPolicy {
            matcher: Matcher::from_env(),
        }
    }

    /// No proxy for anything.
    pub fn none() -> ProxyPolicy {
        ProxyPolicy {
            matcher: Matcher::builder().build(),
        }
    }

    /// Rules given as the environment variables would give them (for tests).
    pub fn from_values(http: &str, https: &str, no: &str) -> ProxyPolicy {
        ProxyPolicy {
            matcher: Matcher::builder().http(http).https(https).no(no).build(),
        }
    }

    /// The proxy for `tls`/`host`/`port`, if any.
    pub fn for_origin(&self, tls: bool, host: &str, port: u16) -> Option<Proxy> {
        if is_loopback(host) {
            return None;
        }
        let scheme = if tls { "https" } else { "http" };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let uri: Uri = format!("{scheme}://{host}:{port}/").parse().ok()?;
        let intercept = self.matcher.intercept(&uri)?;
        Some(Proxy {
            uri: intercept.uri().clone(),
            auth: intercept.basic_auth().cloned(),
        })
    }
}

/// Whether `url`'s host is this machine: `localhost`, a name below it, or a
/// loopback address.
pub fn is_loopback_url(url: &str) -> bool {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(is_loopback))
        .unwrap_or(false)
}

/// `localhost`, a name below it, or a loopback address.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_this_machines_only() {
        for url in [
            "http://127.0.0.1:8080/x",
            "http://localhost/",
            "http://[::1]:9/",
            "http://api.localhost/",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "http://10.0.0.1/",
            "http://example.test/",
            "not a url",
            "http://localhost.example/",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn no_proxy_names_subdomains_addresses_and_blocks() {
        let p = ProxyPolicy::from_values(
            "http://u:secret@proxy.test:3128",
            "http://proxy.test:3129",
            "internal.test,.corp.test,10.0.0.0/8,127.0.0.1",
        );
        let http = p.for_origin(false, "sut.test", 80).unwrap();
        assert_eq!(http.shown(), "http://proxy.test:3128");
        assert!(http.auth.is_some());
        assert!(!format!("{http:?}").contains("secret"));
        assert_eq!(
            p.for_origin(true, "sut.test", 443).unwrap().shown(),
            "http://proxy.test:3129"
        );
        for (host, tls) in [
            ("internal.test", false),
            ("api.internal.test", true),
            ("x.corp.test", false),
            ("10.1.2.3", false),
            ("127.0.0.1", true),
        ] {
            assert!(p.for_origin(tls, host, 80).is_none(), "{host}");
        }
        // Loopback is never proxied.
        for host in ["127.0.0.2", "::1", "localhost", "api.localhost"] {
            assert!(p.for_origin(false, host, 80).is_none(), "{host}");
        }
        assert!(p.for_origin(false, "10.0.0.1.example", 80).is_some());
        assert!(
            ProxyPolicy::none()
                .for_origin(false, "a.test", 80)
                .is_none()
        );
        let all = ProxyPolicy::from_values("http://p:1", "", "*");
        assert!(all.for_origin(false, "a.test", 80).is_none());
    }
}
