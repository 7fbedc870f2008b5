//! Pass 2, filter: which recorded requests become steps. Other hosts, static
//! assets, methods the scenario format has no step for and requests that got
//! no response are left out (and counted); a redirect and the request that
//! followed it become one step.

use super::super::{ImportError, Located, Origin};
use super::HarOptions;
use super::parse::{Recorded, header, origin_of};

/// The requests kept, in order, and what was left out.
pub(super) struct Filtered {
    pub(super) kept: Vec<Recorded>,
    /// The origin the recording started on: the scenario's host.
    pub(super) primary: String,
    /// Why requests were left out, one line per request.
    pub(super) skipped: Vec<String>,
    /// Requests to other hosts, by host.
    pub(super) other_hosts: Vec<(String, usize)>,
    /// The requests left out, for the comments on values they handed out.
    pub(super) left: Vec<Recorded>,
}

/// Keeps the requests of the session's own host (and those asked for).
pub(super) fn filter(
    origin: &Origin,
    recorded: Vec<Recorded>,
    mut skipped: Vec<String>,
    total: usize,
    options: &HarOptions,
) -> Result<Filtered, ImportError> {
    let Some(primary) = recorded.first().map(|r| origin_of(&r.url)) else {
        return Err(ImportError::NothingToImport(
            Located::from_origin(
                origin,
                format!("none of the {total} recorded requests is an http(s) request"),
            )
            .pointer("/log/entries")
            .help("record the session over http:// or https://"),
        ));
    };
    let mut other_hosts: Vec<(String, usize)> = Vec::new();
    let mut kept: Vec<Recorded> = Vec::new();
    let mut left: Vec<Recorded> = Vec::new();
    for r in recorded {
        let method_ok = matches!(
            r.method.as_str(),
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD"
        );
        if !method_ok {
            skipped.push(format!("{} requests (no such step)", r.method));
        } else if r.first_status <= 0 {
            skipped.push("requests without a response (blocked or cancelled)".into());
        } else if !included(&r.url, &primary, options) {
            let host = r.url.host_str().unwrap_or("").to_string();
            match other_hosts.iter_mut().find(|(h, _)| *h == host) {
                Some((_, n)) => *n += 1,
                None => other_hosts.push((host, 1)),
            }
        } else if !options.include_static && is_static(&r) {
            skipped.push("static assets (--include-static keeps them)".into());
        } else {
            kept.push(r);
            continue;
        }
        left.push(r);
    }
    merge_redirects(&mut kept);
    if kept.is_empty() {
        let help = if other_hosts.is_empty() {
            "add --include-static to keep static assets".to_string()
        } else {
            format!(
                "the recording starts on {primary}; --include-host HOST keeps another host (seen: {})",
                counted(&other_hosts)
            )
        };
        return Err(ImportError::NothingToImport(
            Located::from_origin(
                origin,
                format!("all {total} recorded requests were left out"),
            )
            .pointer("/log/entries")
            .help(help),
        ));
    }
    Ok(Filtered {
        kept,
        primary,
        skipped,
        other_hosts,
        left,
    })
}

/// `host (n), host (n)`.
pub(super) fn counted(hosts: &[(String, usize)]) -> String {
    hosts
        .iter()
        .map(|(h, n)| format!("{h} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The session's own origin, or a host `--include-host` names.
fn included(url: &url::Url, primary: &str, options: &HarOptions) -> bool {
    let origin = origin_of(url);
    let host = url.host_str().unwrap_or("");
    let host_port = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    origin == primary
        || options.include_hosts.iter().any(|h| {
            let h = h.trim_end_matches('/');
            h == host || h == host_port || h == origin
        })
}

const STATIC_EXTENSIONS: &[&str] = &[
    "js", "mjs", "css", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "bmp", "woff",
    "woff2", "ttf", "otf", "eot", "map", "mp4", "webm", "mp3", "ogg", "wav", "wasm",
];

fn is_static(r: &Recorded) -> bool {
    let mime = r.response.content.mime_type.to_ascii_lowercase();
    let by_type = mime.starts_with("image/")
        || mime.starts_with("font/")
        || mime.starts_with("audio/")
        || mime.starts_with("video/")
        || mime.starts_with("text/css")
        || mime.contains("javascript")
        || mime.contains("wasm");
    let ext = r
        .url
        .path()
        .rsplit('/')
        .next()
        .and_then(|last| last.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    by_type || ext.is_some_and(|e| STATIC_EXTENSIONS.contains(&e.as_str()))
}

/// A recorded redirect and the request that followed it become one step (the
/// client follows redirects): the follow-up's response is the step's.
fn merge_redirects(kept: &mut Vec<Recorded>) {
    let mut k = 0;
    while k + 1 < kept.len() {
        let r = &kept[k];
        let location = (300..400).contains(&r.response.status).then(|| {
            header(&r.response.headers, "location")
                .map(str::to_string)
                .or_else(|| {
                    (!r.response.redirect_url.is_empty()).then(|| r.response.redirect_url.clone())
                })
        });
        let target = location.flatten().and_then(|l| r.url.join(&l).ok());
        match target {
            Some(t) if kept[k + 1].url == t && kept[k + 1].method == "GET" => {
                let next = kept.remove(k + 1);
                let r = &mut kept[k];
                r.redirected_to = Some(next.url.to_string());
                r.end_ms = next.end_ms;
                r.redirect_cookies = r
                    .response
                    .headers
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case("set-cookie"))
                    .map(|h| h.value.clone())
                    .collect();
                r.response = next.response;
            }
            _ => k += 1,
        }
    }
}
