//! Load: the document checked to be OpenAPI 3 (each refusal located, with
//! the fix), and the host and base path its servers name.

use serde_json::Value;

use super::super::{ImportError, Input, Located, Origin, find_loc};
use super::refs::Node;
use super::value_text;

/// The scenario host and the path every operation's path is under.
pub(super) struct Server {
    pub(super) host: String,
    pub(super) base_path: String,
    pub(super) note: String,
}

impl Server {
    pub(super) fn read(root: Node<'_>, origin: &Origin) -> Server {
        let first = root.items("servers").into_iter().next();
        let Some(server) = first.and_then(|s| s.str("url").map(|u| (s, u))) else {
            return match origin {
                Origin::Url(url) => Server {
                    host: origin_of(url),
                    base_path: String::new(),
                    note: "from the URL the document was read from (it names no servers)".into(),
                },
                Origin::File(_) => Server {
                    host: "http://127.0.0.1:8080".into(),
                    base_path: String::new(),
                    note: "guess: the document names no servers; set host or pass --host".into(),
                },
            };
        };
        let (server, template) = server;
        // Server variables take their defaults.
        let mut url = template.to_string();
        for (name, var) in server.entries("variables") {
            if let Some(default) = var.raw("default").and_then(value_text) {
                url = url.replace(&format!("{{{name}}}"), &default);
            }
        }
        if url.trim().is_empty() {
            url = "/".into();
        }
        let absolute = url::Url::parse(&url).ok();
        let resolved = match (absolute, origin) {
            (Some(u), _) => Some((u, format!("from servers[0] ({template})"))),
            (None, Origin::Url(base)) => base.join(&url).ok().map(|u| {
                (
                    u,
                    format!("servers[0] ({template}) taken relative to the document's URL"),
                )
            }),
            (None, Origin::File(_)) => None,
        };
        match resolved {
            Some((u, note)) if matches!(u.scheme(), "http" | "https") => Server {
                host: origin_of(&u),
                base_path: u.path().trim_end_matches('/').to_string(),
                note,
            },
            _ => Server {
                host: "http://127.0.0.1:8080".into(),
                base_path: url
                    .split("://")
                    .nth(1)
                    .map(|rest| rest.find('/').map_or("", |i| &rest[i..]))
                    .unwrap_or(&url)
                    .trim_end_matches('/')
                    .to_string(),
                note: format!(
                    "guess: servers[0] is \"{template}\", not an http(s) URL; set host or pass --host"
                ),
            },
        }
    }
}

pub(super) fn origin_of(url: &url::Url) -> String {
    let mut host = format!(
        "{}://{}",
        url.scheme(),
        url.host_str().unwrap_or("localhost")
    );
    if let Some(port) = url.port() {
        host.push_str(&format!(":{port}"));
    }
    host
}

/// Checks the document is OpenAPI 3; returns its version.
pub(super) fn check_openapi(input: &Input, value: &Value) -> Result<String, ImportError> {
    let top = Some(crate::scenario::spanned::Loc { line: 1, column: 1 });
    if input.text.trim_start().starts_with('<') {
        return Err(ImportError::NotOpenApi(
            Located::new(input, "not an OpenAPI document: this is HTML (a documentation page?)")
                .at(top)
                .help("give the document itself: FastAPI's /docs page is HTML, its document is at /openapi.json"),
        ));
    }
    let Some(map) = value.as_object() else {
        return Err(ImportError::NotOpenApi(
            Located::new(
                input,
                "not an OpenAPI document: the top level is not an object",
            )
            .at(top)
            .help("give the service's OpenAPI document (FastAPI serves it at /openapi.json)"),
        ));
    };
    if let Some(v) = map.get("swagger") {
        return Err(ImportError::NotOpenApi(
            Located::new(
                input,
                format!(
                    "Swagger {} documents are not supported, only OpenAPI 3.0 and 3.1",
                    value_text(v).unwrap_or_default()
                ),
            )
            .at(find_loc(&input.text, "swagger").or(top))
            .help("convert it to OpenAPI 3 first, e.g. npx swagger2openapi FILE -o openapi.json"),
        ));
    }
    let Some(version) = map.get("openapi") else {
        let mut keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
        if keys.is_empty() {
            keys.push("none");
        }
        let help = if map.get("log").is_some_and(|l| l.get("entries").is_some()) {
            "this looks like a HAR recording: use gander import har FILE".to_string()
        } else {
            "give the service's OpenAPI document (FastAPI serves it at /openapi.json); it starts with \"openapi\": \"3.x\"".to_string()
        };
        return Err(ImportError::NotOpenApi(
            Located::new(
                input,
                format!(
                    "not an OpenAPI document: no \"openapi\" version at the top level (it has: {})",
                    keys.join(", ")
                ),
            )
            .at(top)
            .help(help),
        ));
    };
    check_version(input, map, version)
}

/// The version is 3.x and there are paths to request.
fn check_version(
    input: &Input,
    map: &serde_json::Map<String, Value>,
    version: &Value,
) -> Result<String, ImportError> {
    let top = Some(crate::scenario::spanned::Loc { line: 1, column: 1 });
    let version = value_text(version).unwrap_or_default();
    if !version.starts_with("3.") {
        return Err(ImportError::NotOpenApi(
            Located::new(
                input,
                format!("OpenAPI version \"{version}\" is not supported"),
            )
            .at(find_loc(&input.text, "openapi").or(top))
            .help("gander reads OpenAPI 3.0 and 3.1 documents"),
        ));
    }
    let has_paths = map
        .get("paths")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    if !has_paths {
        return Err(ImportError::NothingToImport(
            Located::new(
                input,
                "the document has no paths, so there is nothing to request",
            )
            .at(find_loc(&input.text, "paths").or(top))
            .help("import the document of a service that describes its routes under \"paths\""),
        ));
    }
    Ok(version)
}
