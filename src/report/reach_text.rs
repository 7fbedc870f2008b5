//! How the users reached the SUT, in words every report shares: the HTTP
//! version and TLS settings, the protocols answers came over, and what the
//! WebSockets did.

use crate::result::{PlanSummary, RunResult, SocketStats, Stats};

/// The HTTP version asked for and the TLS settings; `None` for the default
/// (HTTP/1.1, the system's trust store).
pub fn transport(plan: &PlanSummary) -> Option<String> {
    let mut parts = Vec::new();
    match plan.http.as_str() {
        "2" => parts.push("HTTP/2 by TLS ALPN".to_string()),
        "h2c" => parts.push("HTTP/2 over plain TCP (h2c)".to_string()),
        _ => {}
    }
    if let Some(tls) = &plan.tls {
        if tls.insecure {
            parts.push("TLS certificates NOT verified (tls.insecure)".into());
        } else if let Some(ca) = &tls.ca {
            parts.push(format!("TLS trusting {ca} (tls.ca)"));
        }
        if let Some(cert) = &tls.client_cert {
            parts.push(format!("client certificate {cert}"));
        }
        if let Some(name) = &tls.server_name {
            parts.push(format!("certificates checked for {name}"));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// Whether the tables need a protocol column: the run asked for more than
/// HTTP/1.1, or some HTTP answer came over another version (WebSocket rows are
/// told apart by their `WS` method already).
pub fn show_protocols(result: &RunResult) -> bool {
    result.plan.http != "1.1"
        || result
            .endpoints
            .iter()
            .flat_map(|e| e.stats.all.protocols.keys())
            .any(|p| p != "HTTP/1.1" && p != "WebSocket")
}

/// `HTTP/2`, or `HTTP/2 90% · HTTP/1.1 10%` when answers came over several;
/// `–` when none came.
pub fn protocols(stats: &Stats) -> String {
    let total: u64 = stats.protocols.values().sum();
    let mut entries: Vec<(&String, &u64)> = stats.protocols.iter().collect();
    entries.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    match entries.as_slice() {
        [] => "–".into(),
        [(one, _)] => one.to_string(),
        many => many
            .iter()
            .map(|(p, n)| format!("{p} {:.0}%", **n as f64 * 100.0 / total as f64))
            .collect::<Vec<_>>()
            .join(" · "),
    }
}

/// Request names whose WebSockets ended in `stats`, with their figures.
pub fn sockets<'a>(
    result: &'a RunResult,
    stats: impl Fn(&'a crate::result::PhaseStats) -> &'a Stats,
) -> Vec<(&'a str, SocketStats)> {
    result
        .endpoints
        .iter()
        .filter_map(|e| stats(&e.stats).websocket.map(|w| (e.name.as_str(), w)))
        .collect()
}
