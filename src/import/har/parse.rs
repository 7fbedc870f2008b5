//! Pass 1, parse: the recording's entries as typed requests and responses,
//! ordered by start time; or a located reason the file is not a HAR recording.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::super::{ImportError, Input, Located, Origin, find_loc, parse_document};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Entry {
    #[serde(default)]
    pub(super) started_date_time: String,
    #[serde(default)]
    pub(super) time: Option<f64>,
    pub(super) request: Request,
    pub(super) response: Response,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Request {
    pub(super) method: String,
    pub(super) url: String,
    #[serde(default)]
    pub(super) headers: Vec<NameValue>,
    #[serde(default)]
    pub(super) post_data: Option<PostData>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct NameValue {
    pub(super) name: String,
    #[serde(default)]
    pub(super) value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PostData {
    #[serde(default)]
    pub(super) mime_type: String,
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) params: Vec<Param>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Param {
    pub(super) name: String,
    #[serde(default)]
    pub(super) value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Response {
    #[serde(default)]
    pub(super) status: i64,
    #[serde(default)]
    pub(super) headers: Vec<NameValue>,
    #[serde(default)]
    pub(super) content: Content,
    #[serde(default, rename = "redirectURL")]
    pub(super) redirect_url: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Content {
    #[serde(default)]
    pub(super) mime_type: String,
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) encoding: Option<String>,
}

/// A recorded request kept for the scenario.
pub(super) struct Recorded {
    /// 1-based position in the recording, for comments.
    pub(super) number: usize,
    pub(super) method: String,
    pub(super) url: url::Url,
    pub(super) start_ms: f64,
    pub(super) end_ms: f64,
    pub(super) request: Request,
    /// The response the client ends with (after following a recorded redirect).
    pub(super) response: Response,
    /// The recorded status of the request itself.
    pub(super) first_status: i64,
    pub(super) redirected_to: Option<String>,
    /// `Set-Cookie` values of a redirect merged into this step.
    pub(super) redirect_cookies: Vec<String>,
}

/// The recording's entries, or a located reason it is not a HAR recording.
pub(super) fn entries(input: &Input, value: &Value) -> Result<Vec<Entry>, ImportError> {
    let top = Some(crate::scenario::spanned::Loc { line: 1, column: 1 });
    let help =
        "export the recording from the browser's developer tools: Network tab, \"Save all as HAR\"";
    let Some(log) = value.get("log") else {
        let hint = if value.get("openapi").is_some() || value.get("swagger").is_some() {
            "this is an OpenAPI document: use gander import openapi FILE".to_string()
        } else {
            help.to_string()
        };
        return Err(ImportError::NotHar(
            Located::new(
                input,
                "not a HAR recording: no \"log\" object at the top level",
            )
            .at(top)
            .help(hint),
        ));
    };
    let Some(list) = log.get("entries") else {
        return Err(ImportError::NotHar(
            Located::new(input, "not a HAR recording: \"log\" has no \"entries\"")
                .at(find_loc(&input.text, "\"log\"").or(top))
                .pointer("/log")
                .help(help),
        ));
    };
    let Some(list) = list.as_array() else {
        return Err(ImportError::NotHar(
            Located::new(input, "not a HAR recording: \"log.entries\" is not a list")
                .at(find_loc(&input.text, "\"entries\"").or(top))
                .pointer("/log/entries")
                .help(help),
        ));
    };
    if list.is_empty() {
        return Err(ImportError::EmptyHar(
            Located::new(input, "the recording has no entries: it holds no requests")
                .at(find_loc(&input.text, "\"entries\"").or(top))
                .pointer("/log/entries")
                .help("record again: open the Network tab before using the site, then \"Save all as HAR (with content)\""),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let entry: Entry = serde_json::from_value(e.clone()).map_err(|err| {
            ImportError::NotHar(
                Located::new(input, format!("entry {i} is not a HAR entry: {err}"))
                    .pointer(format!("/log/entries/{i}"))
                    .help("each entry needs request { method, url } and response { status }; export the recording again"),
            )
        })?;
        out.push(entry);
    }
    Ok(out)
}

pub(super) fn origin_of(url: &url::Url) -> String {
    let mut origin = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        origin.push_str(&format!(":{port}"));
    }
    origin
}

pub(super) fn header<'a>(headers: &'a [NameValue], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// The most a HAR recording may weigh. Recordings carry response bodies, so
/// they run far larger than API documents (`super::super::MAX_INPUT`); they
/// are read as a stream, entry by entry, never held whole as text.
pub const MAX_HAR: u64 = 512 * 1024 * 1024;

/// What gander reads of a HAR document.
#[derive(Deserialize)]
struct Har {
    log: Log,
}

#[derive(Deserialize)]
struct Log {
    entries: Vec<Entry>,
}

/// Reads a HAR file as a stream (at most `MAX_HAR` bytes).
pub(super) fn read_file(path: &Path) -> Result<Vec<Entry>, ImportError> {
    let read_err = |source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let too_large = || ImportError::HarTooLarge {
        path: path.to_path_buf(),
    };
    if std::fs::metadata(path).map_err(read_err)?.len() > MAX_HAR {
        return Err(too_large());
    }
    let file = crate::bounded::open_regular(path).map_err(read_err)?;
    let reader = std::io::BufReader::new(file.take(MAX_HAR));
    parse(reader, || {
        // Only when the stream did not read as a recording: the text, for a located error.
        let file = crate::bounded::open_regular(path).map_err(read_err)?;
        let mut bytes = Vec::new();
        file.take(MAX_HAR + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > MAX_HAR {
            return Err(too_large());
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            read_err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            ))
        })?;
        Ok(Input {
            origin: Origin::File(path.to_path_buf()),
            text,
        })
    })
}

/// The entries of the recording `reader` streams; when it is not one, the
/// whole text (from `text`) is read again to say where and why.
pub(super) fn parse(
    reader: impl Read,
    text: impl FnOnce() -> Result<Input, ImportError>,
) -> Result<Vec<Entry>, ImportError> {
    if let Ok(har) = serde_json::from_reader::<_, Har>(reader)
        && !har.log.entries.is_empty()
    {
        return Ok(har.log.entries);
    }
    let input = text()?;
    let value = parse_document(&input)?;
    entries(&input, &value)
}

/// The recorded http(s) requests in the order they started, and what was
/// skipped (not http).
pub(super) fn recorded(entries: Vec<Entry>) -> (Vec<Recorded>, Vec<String>) {
    let mut recorded: Vec<Recorded> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let starts: Vec<Option<chrono::DateTime<chrono::FixedOffset>>> = entries
        .iter()
        .map(|e| chrono::DateTime::parse_from_rfc3339(&e.started_date_time).ok())
        .collect();
    let first_start = starts.iter().flatten().min().copied();
    for (i, (entry, start)) in entries.into_iter().zip(starts).enumerate() {
        let url = match url::Url::parse(&entry.request.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                skipped.push("not an http(s) request".into());
                continue;
            }
        };
        let start_ms = match (start, first_start) {
            (Some(s), Some(f)) => (s - f).num_microseconds().unwrap_or(0) as f64 / 1000.0,
            _ => recorded.last().map_or(0.0, |r| r.end_ms),
        };
        let time = entry
            .time
            .filter(|t| t.is_finite() && *t >= 0.0)
            .unwrap_or(0.0);
        recorded.push(Recorded {
            number: i + 1,
            method: entry.request.method.to_ascii_uppercase(),
            url,
            start_ms,
            end_ms: start_ms + time,
            first_status: entry.response.status,
            request: entry.request,
            response: entry.response,
            redirected_to: None,
            redirect_cookies: Vec::new(),
        });
    }
    // Recordings are usually in order already.
    recorded.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    (recorded, skipped)
}
