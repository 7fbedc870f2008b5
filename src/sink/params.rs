//! The parameters of a Bot API call, wherever the bot put them: the query,
//! a JSON body, a form (aiogram's default) or a multipart body (files). A
//! file's bytes are not kept, only that it came.

use serde_json::{Map, Value};

/// The most parameters read from one call.
const MAX_PARAMS: usize = 64;

/// Why a call's parameters could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamsError {
    #[error("the body is not a JSON object")]
    NotJsonObject,
    #[error("a multipart body without a boundary")]
    NoBoundary,
}

/// The call's parameters as JSON values (a form's are strings).
pub fn parse(
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, ParamsError> {
    let mut params = Map::new();
    if let Some(query) = query {
        add_form(&mut params, query.as_bytes());
    }
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        _ if body.is_empty() => {}
        "application/json" => match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => params.extend(map.into_iter().take(MAX_PARAMS)),
            _ => return Err(ParamsError::NotJsonObject),
        },
        "multipart/form-data" => {
            let boundary = content_type
                .and_then(|c| {
                    c.split(';')
                        .find_map(|p| p.trim().strip_prefix("boundary="))
                })
                .map(|b| b.trim_matches('"'))
                .filter(|b| !b.is_empty())
                .ok_or(ParamsError::NoBoundary)?;
            add_multipart(&mut params, boundary, body);
        }
        _ => add_form(&mut params, body),
    }
    Ok(params)
}

fn add_form(params: &mut Map<String, Value>, text: &[u8]) {
    for (k, v) in url::form_urlencoded::parse(text).take(MAX_PARAMS) {
        params.insert(k.into_owned(), Value::String(v.into_owned()));
    }
}

fn add_multipart(params: &mut Map<String, Value>, boundary: &str, body: &[u8]) {
    let delimiter = format!("--{boundary}");
    let mut parts = split(body, delimiter.as_bytes()).skip(1);
    for part in parts.by_ref().take(MAX_PARAMS) {
        if part.starts_with(b"--") {
            break;
        }
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let Some(split_at) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split_at]);
        let mut value = &part[split_at + 4..];
        value = value.strip_suffix(b"\r\n").unwrap_or(value);
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or("");
        let Some(name) = attribute(disposition, "name") else {
            continue;
        };
        let value = match attribute(disposition, "filename") {
            Some(file) => format!("attach://{file}"),
            None => String::from_utf8_lossy(value).into_owned(),
        };
        params.insert(name, Value::String(value));
    }
}

/// `name="value"` of a header's parameters.
fn attribute(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut body: &'a [u8], delimiter: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    std::iter::from_fn(move || {
        if body.is_empty() {
            return None;
        }
        match find(body, delimiter) {
            Some(at) => {
                let part = &body[..at];
                body = &body[at + delimiter.len()..];
                Some(part)
            }
            None => Some(std::mem::take(&mut body)),
        }
    })
}

/// A parameter as an integer (a form sends `42`, JSON `42` or `"42"`).
pub fn int(params: &Map<String, Value>, name: &str) -> Option<i64> {
    match params.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A parameter as text.
pub fn text<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params.get(name)?.as_str()
}

/// A parameter that holds JSON (a form sends it as a string).
pub fn json(params: &Map<String, Value>, name: &str) -> Option<Value> {
    match params.get(name)? {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_json_and_multipart_bodies() {
        let p = parse(
            None,
            Some("application/x-www-form-urlencoded"),
            b"chat_id=42&text=Welcome+to+homework+bot",
        )
        .unwrap();
        assert_eq!(int(&p, "chat_id"), Some(42));
        assert_eq!(text(&p, "text"), Some("Welcome to homework bot"));
        let p = parse(
            Some("a=1"),
            Some("application/json"),
            br#"{"chat_id":7,"text":"hi"}"#,
        )
        .unwrap();
        assert_eq!((int(&p, "chat_id"), int(&p, "a")), (Some(7), Some(1)));
        assert_eq!(
            parse(None, Some("application/json"), b"[1]"),
            Err(ParamsError::NotJsonObject)
        );
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nyour mark\r\n--XyZ--\r\n";
        let p = parse(None, Some("multipart/form-data; boundary=XyZ"), body).unwrap();
        assert_eq!(int(&p, "chat_id"), Some(42));
        assert_eq!(text(&p, "photo"), Some("attach://a.png"));
        assert_eq!(text(&p, "caption"), Some("your mark"));
    }
}
