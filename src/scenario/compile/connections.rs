//! Whether the users' connections fit this generator: each user holds one
//! connection per origin it talks to (and one per WebSocket), each an open
//! file, and each to one destination a local port of its source address. A
//! load that cannot fit is refused when the file is checked, with the fix,
//! rather than run into "Too many open files" or "Cannot assign requested
//! address" and blame the SUT.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::{Compiler, Overrides};
use crate::format::thousands;
use crate::rlimit;
use crate::scenario::model;
use crate::scenario::plan::{LoadPlan, ScenarioPlan, StepPlan};
use crate::scenario::segment::Segment;
use crate::scenario::spanned::{Loc, Sp};

/// The most origins a user keeps a connection open to (`runner::http`).
const MAX_ORIGINS: usize = 8;

/// What the check reads from the compiled file.
struct Needs<'a> {
    pub plan: &'a LoadPlan,
    pub load: &'a Sp<model::Load>,
    pub overrides: &'a Overrides,
    pub scenarios: &'a [ScenarioPlan],
    pub host: &'a str,
    pub sources: &'a [IpAddr],
    pub sources_loc: Option<Loc>,
}

/// The origins (scheme, host, port) the steps name, and the WebSocket steps.
fn origins(host: &str, scenarios: &[ScenarioPlan]) -> (BTreeSet<String>, usize) {
    let origin = |url: &str| {
        url::Url::parse(url)
            .ok()
            .map(|u| u.origin().ascii_serialization())
    };
    let mut set = BTreeSet::new();
    set.extend(origin(host));
    let mut sockets = 0;
    for step in scenarios.iter().flat_map(ScenarioPlan::all_steps) {
        match step {
            StepPlan::Http(r) => match r.url.as_constant() {
                Some(url) if url.starts_with("http") => set.extend(origin(url)),
                Some(_) => {}
                // A URL built at run time: one more origin, perhaps.
                None if r
                    .url
                    .literals()
                    .next()
                    .is_some_and(|l| l.starts_with("http")) =>
                {
                    set.insert(format!("(built at run time) {}", set.len()));
                }
                None => {}
            },
            // A stream and a socket hold a connection of their own; an update
            // goes to the webhook on the host through the user's connection, and
            // an await only waits for what arrives at gander's own server.
            StepPlan::Ws(_) | StepPlan::Sse(_) => sockets += 1,
            StepPlan::Telegram(_) | StepPlan::Await(_) => {}
        }
    }
    (set, sockets)
}

impl Compiler<'_> {
    /// `source_addresses`, once the users' connections are known to fit.
    pub(super) fn connections(
        &mut self,
        file: &model::ScenarioFile,
        plan: Option<&LoadPlan>,
        host: Option<&str>,
        overrides: &Overrides,
        scenarios: &[ScenarioPlan],
    ) -> Vec<IpAddr> {
        let sources = self.source_addresses(file.source_addresses.as_ref());
        if let (Some(plan), Some(host)) = (plan, host) {
            self.check_connections(&Needs {
                plan,
                load: &file.load,
                overrides,
                scenarios,
                host,
                sources: &sources,
                sources_loc: file.source_addresses.as_ref().map(|s| s.loc),
            });
        }
        sources
    }

    /// Refuses a load whose connections cannot fit this generator's files or ports.
    fn check_connections(&mut self, n: &Needs<'_>) {
        let segment = n.overrides.segment.unwrap_or(Segment::WHOLE);
        let users = segment.share(n.plan.users) as u64;
        let users_loc = n.load.users.as_ref().map_or(n.load.loc, |u| u.loc);
        let (set, sockets) = origins(n.host, n.scenarios);
        let per_user = set.len().clamp(1, MAX_ORIGINS) as u64 + sockets as u64;
        let needed = users * per_user + rlimit::RESERVE_FILES;
        let (soft, hard) = rlimit::nofile();
        // gander raises its soft limit to the hard one as it starts.
        let limit = soft.max(hard);
        if needed > limit {
            self.error_help(
                users_loc,
                format!(
                    "{} users × {per_user} connection{} each ({} origin{}{}) need about {} open \
                     files with gander's own {}, but gander may open {} here (ulimit -n: soft \
                     {soft}, hard {hard}): the run would fail with \"Too many open files\", \
                     which is no fault of the SUT",
                    thousands(users),
                    if per_user == 1 { "" } else { "s" },
                    set.len(),
                    if set.len() == 1 { "" } else { "s" },
                    if sockets > 0 {
                        format!(", {sockets} WebSocket step(s)")
                    } else {
                        String::new()
                    },
                    thousands(needed),
                    rlimit::RESERVE_FILES,
                    thousands(limit),
                ),
                format!(
                    "raise the limit before the run (ulimit -n {needed}; above the hard limit as \
                     root, LimitNOFILE= in a systemd unit, --ulimit nofile={needed} with docker), \
                     run fewer users, or share them among generators (--segment i/N)"
                ),
            );
            return;
        }
        self.check_ports(n, users, &set);
    }

    /// Each user holds a connection to each origin: from one source address,
    /// one destination takes at most the ephemeral port range's ports.
    fn check_ports(&mut self, n: &Needs<'_>, users: u64, set: &BTreeSet<String>) {
        let Some((lo, hi)) = rlimit::port_range() else {
            return;
        };
        let ports = u64::from(hi - lo + 1);
        let sources = n.sources.len().max(1) as u64;
        let per_source = users.div_ceil(sources);
        if per_source <= ports {
            return;
        }
        let loc = n
            .sources_loc
            .unwrap_or_else(|| n.load.users.as_ref().map_or(n.load.loc, |u| u.loc));
        let want = users.div_ceil(ports);
        self.error_help(
            loc,
            format!(
                "{} users each hold a connection to {}, but {} has {} local ports for one \
                 destination here ({lo}-{hi}, net.ipv4.ip_local_port_range): the run would fail \
                 with \"Cannot assign requested address\", which is no fault of the SUT",
                thousands(users),
                set.iter().next().map_or("the host", String::as_str),
                if sources == 1 {
                    "one source address".to_string()
                } else {
                    format!("each of the {sources} source_addresses")
                },
                thousands(ports),
            ),
            format!(
                "spread the users over at least {want} local addresses with source_addresses \
                 (e.g. [127.0.0.2, 127.0.0.3] for a loopback SUT, else addresses this machine \
                 holds), widen net.ipv4.ip_local_port_range, or share the load among generators \
                 (--segment i/N)"
            ),
        );
    }

    /// `source_addresses:` as IP addresses.
    fn source_addresses(&mut self, list: Option<&Sp<Vec<Sp<String>>>>) -> Vec<IpAddr> {
        let Some(list) = list else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for a in &list.value {
            match a.value.trim().parse::<IpAddr>() {
                Ok(ip) if out.contains(&ip) => {
                    self.error(a.loc, format!("source_addresses: {ip} is listed twice"))
                }
                Ok(ip) => out.push(ip),
                Err(_) => self.error_help(
                    a.loc,
                    format!("source_addresses: {:?} is not an IP address", a.value),
                    "write addresses of this machine, e.g. 127.0.0.2 or 10.0.0.5 (no port, no name)",
                ),
            }
        }
        out
    }
}
