//! The one network edge: every byte gander sends leaves through here. The
//! users' HTTP connections, WebSockets, the SUT monitor's metrics, JSON and
//! health reads, the pprof download, the readiness probe and `gander import`'s
//! fetches all connect with one [`Edge`], so the scenario file's `tls:` and the
//! process's proxy environment apply to all of them alike.
//!
//! What it owns, and nothing else (it imports no other part of gander but the
//! bounded reader):
//! - TLS ([`tls`]): one rustls configuration per run, `tls.server_name` sent
//!   as SNI and checked, failures a user can act on;
//! - proxies ([`proxy`]): `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and
//!   `NO_PROXY` as curl reads them;
//! - connecting ([`connect`]): name resolution and TCP by hyper-util's
//!   `HttpConnector` (a connect timeout, Happy Eyeballs between IPv6 and IPv4),
//!   CONNECT tunnels, TLS with the ALPN a caller asks for;
//! - one-shot GETs ([`fetch`]) for the observers, the probe and import.
//!
//! `docs/network.md` is the user's side of this.

pub mod connect;
pub mod fetch;
pub mod proxy;
pub mod tls;

pub use connect::{Conn, ConnectError, Edge, Origin, Speak, Stream};

use std::net::IpAddr;
use std::time::Duration;

/// What the scenario file says about connecting (beside `tls:`).
#[derive(Debug, Clone)]
pub struct NetPlan {
    /// `defaults.connect_timeout`: resolving, TCP, a proxy's tunnel and TLS together.
    pub connect_timeout: Duration,
    /// `hosts:`: names resolved to these addresses instead of asking DNS, in
    /// this order (the first address family is tried first, Happy Eyeballs
    /// brings in the other).
    pub hosts: Vec<(String, Vec<IpAddr>)>,
}

impl Default for NetPlan {
    fn default() -> NetPlan {
        NetPlan {
            connect_timeout: connect::CONNECT_TIMEOUT,
            hosts: Vec::new(),
        }
    }
}
