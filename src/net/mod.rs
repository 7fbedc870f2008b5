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
