//! `gander import`: a first scenario file from what a service already
//! describes (its OpenAPI document) or from what a browser recorded (a HAR
//! file). The output is YAML written for a person to review: every guess
//! carries a comment, values the service hands out (tokens, ids, cookies) are
//! captured and sent back as `${var}` instead of being hard-coded, and the
//! file is checked with `scenario::load` before it is handed over.
//!
//! Data moves forward: this module reads inputs and uses `scenario` to check
//! what it wrote; only `commands` calls it.

mod emit;
mod har;
mod openapi;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::scenario::diagnostic::{Diagnostic, FileDiagnostics};
use crate::scenario::spanned::Loc;
use crate::scenario::{self, Overrides};

pub use har::HarOptions;
pub use openapi::OpenApiOptions;

/// The most an input may weigh (a file, a fetched URL, each `$ref`'d document).
pub const MAX_INPUT: usize = 16 * 1024 * 1024;

/// How long fetching a URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an import failed. Every message names the input (file or URL), the
/// place in it where known (line:column, or a JSON pointer), what was
/// expected, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source}\n  = check the path (or give an http:// URL)", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot fetch {url}: {reason}\n  = {help}")]
    Fetch {
        url: String,
        reason: String,
        help: String,
    },
    #[error(
        "{what} is larger than {} MiB, the most gander imports\n  = import a smaller document, or split it with $ref files",
        MAX_INPUT / (1024 * 1024)
    )]
    TooLarge { what: String },
    #[error(
        "{} is larger than {} MiB, the most gander reads of a HAR recording\n  = record a shorter session, or save it without response bodies (\"Save all as HAR (sanitized)\" in Chromium)",
        path.display(),
        har::MAX_HAR / (1024 * 1024)
    )]
    HarTooLarge { path: PathBuf },
    /// Not JSON or YAML at all.
    #[error("{0}")]
    Syntax(Located),
    /// JSON or YAML, but not an OpenAPI 3 document.
    #[error("{0}")]
    NotOpenApi(Located),
    /// A `$ref` that points nowhere (or to a document that cannot be read).
    #[error("{0}")]
    BrokenRef(Located),
    /// JSON, but not a HAR recording.
    #[error("{0}")]
    NotHar(Located),
    /// A HAR recording with no requests in it.
    #[error("{0}")]
    EmptyHar(Located),
    /// Every request or operation was left out.
    #[error("{0}")]
    NothingToImport(Located),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The generated file did not pass the scenario checks: a bug in the importer.
    #[error(
        "the generated scenario does not pass `gander check`; this is a bug in gander import, please report it with the input\n{0}"
    )]
    SelfCheck(String),
}

/// A problem at a place in an input: rendered like a scenario error
/// (`file:line:col: error: ...` with an excerpt) when the line is known, else
/// with the JSON pointer. Boxed, so results carrying it stay small.
#[derive(Debug)]
pub struct Located(Box<Place>);

#[derive(Debug)]
struct Place {
    origin: String,
    text: Option<String>,
    loc: Option<Loc>,
    pointer: Option<String>,
    message: String,
    help: Option<String>,
}

impl Located {
    fn new(input: &Input, message: impl Into<String>) -> Self {
        Located(Box::new(Place {
            origin: input.origin.to_string(),
            text: Some(input.text.clone()),
            loc: None,
            pointer: None,
            message: message.into(),
            help: None,
        }))
    }
    /// A problem in an input whose text is not at hand: said with the pointer, not an excerpt.
    fn from_origin(origin: &Origin, message: impl Into<String>) -> Self {
        Located(Box::new(Place {
            origin: origin.to_string(),
            text: None,
            loc: None,
            pointer: None,
            message: message.into(),
            help: None,
        }))
    }
    fn at(mut self, loc: Option<Loc>) -> Self {
        self.0.loc = loc.filter(|l| l.line > 0);
        self
    }
    fn pointer(mut self, pointer: impl Into<String>) -> Self {
        self.0.pointer = Some(pointer.into());
        self
    }
    fn help(mut self, help: impl Into<String>) -> Self {
        self.0.help = Some(help.into());
        self
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.0;
        let message = match &p.pointer {
            Some(pointer) => format!("{} (at #{pointer})", p.message),
            None => p.message.clone(),
        };
        match (&p.loc, &p.text) {
            (Some(loc), Some(text)) => {
                let mut d = Diagnostic::new(*loc, message);
                if let Some(h) = &p.help {
                    d = d.with_help(h.clone());
                }
                let rendered = FileDiagnostics {
                    path: PathBuf::from(&p.origin),
                    source: text.clone(),
                    items: vec![d],
                }
                .render();
                f.write_str(rendered.trim_end())
            }
            _ => {
                write!(f, "{}: error: {message}", p.origin)?;
                if let Some(h) = &p.help {
                    write!(f, "\n  = {h}")?;
                }
                Ok(())
            }
        }
    }
}

/// Why a `$ref` names no document gander can read.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    #[error("\"{reference}\" is not a URL: {source}")]
    NotAUrl {
        reference: String,
        source: url::ParseError,
    },
    #[error("\"{reference}\" is not a relative URL: {source}")]
    NotARelativeUrl {
        reference: String,
        source: url::ParseError,
    },
}

/// Where an input came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Url(url::Url),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Url(u) => write!(f, "{u}"),
        }
    }
}

impl Origin {
    /// `reference` (a relative path or URL in a `$ref`) taken relative to this input.
    fn join(&self, reference: &str) -> Result<Origin, RefError> {
        if reference.starts_with("http://") || reference.starts_with("https://") {
            return url::Url::parse(reference)
                .map(Origin::Url)
                .map_err(|source| RefError::NotAUrl {
                    reference: reference.to_string(),
                    source,
                });
        }
        match self {
            Origin::Url(base) => {
                base.join(reference)
                    .map(Origin::Url)
                    .map_err(|source| RefError::NotARelativeUrl {
                        reference: reference.to_string(),
                        source,
                    })
            }
            Origin::File(path) => {
                let dir = path.parent().unwrap_or(Path::new("."));
                let decoded = percent_encoding::percent_decode_str(reference).decode_utf8_lossy();
                Ok(Origin::File(dir.join(decoded.as_ref())))
            }
        }
    }
}

/// One input, read whole (and bounded).
#[derive(Debug, Clone)]
pub struct Input {
    pub origin: Origin,
    pub text: String,
}

impl Input {
    /// Reads a file, or fetches an `http://` URL.
    pub fn read(source: &str) -> Result<Input, ImportError> {
        if source.starts_with("http://") || source.starts_with("https://") {
            let url = url::Url::parse(source).map_err(|e| ImportError::Fetch {
                url: source.to_string(),
                reason: format!("not a URL: {e}"),
                help: "give a file, or a URL such as http://127.0.0.1:8000/openapi.json".into(),
            })?;
            Input::open(&Origin::Url(url))
        } else {
            Input::open(&Origin::File(PathBuf::from(source)))
        }
    }

    fn open(origin: &Origin) -> Result<Input, ImportError> {
        let text = match origin {
            Origin::File(path) => read_file(path)?,
            Origin::Url(url) => fetch(url)?,
        };
        Ok(Input {
            origin: origin.clone(),
            text,
        })
    }

    /// The file or URL's name with its extension, for the format guess.
    fn extension(&self) -> Option<String> {
        let name = match &self.origin {
            Origin::File(p) => p.to_string_lossy().into_owned(),
            Origin::Url(u) => u.path().to_string(),
        };
        Path::new(&name)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
    }
}

fn read_file(path: &Path) -> Result<String, ImportError> {
    let read_err = |source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    };
    // A regular file only: a `$ref` to a FIFO or /dev/zero is refused at once.
    let bytes = match crate::bounded::read_file(path, MAX_INPUT as u64) {
        Ok(bytes) => bytes,
        Err(crate::bounded::ReadError::TooLarge { .. }) => {
            return Err(ImportError::TooLarge {
                what: path.display().to_string(),
            });
        }
        Err(crate::bounded::ReadError::Io(e)) => return Err(read_err(e)),
        Err(e) => return Err(read_err(std::io::Error::other(e.to_string()))),
    };
    String::from_utf8(bytes).map_err(|e| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        ))
    })
}

/// GETs `url` with a timeout and reads at most `MAX_INPUT` bytes of its body,
/// through the network edge (the environment's proxies, the system's trust
/// store); a one-off current-thread runtime drives it, the CLI being synchronous.
fn fetch(url: &url::Url) -> Result<String, ImportError> {
    use crate::net::fetch::FetchError;
    let fail = |reason: String, help: &str| ImportError::Fetch {
        url: url.to_string(),
        reason,
        help: help.to_string(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start an async runtime: {e}"), "retry"))?;
    let unreachable =
        &format!("is the service running, and is this its address? Try: curl -i {url}");
    let mut headers = hyper::HeaderMap::new();
    headers.insert(
        hyper::header::ACCEPT,
        hyper::header::HeaderValue::from_static(
            "application/json, application/yaml;q=0.9, */*;q=0.5",
        ),
    );
    let edge = crate::net::Edge::plain();
    let got = runtime
        .block_on(crate::net::fetch::get(
            &edge,
            url,
            &headers,
            MAX_INPUT as u64,
            FETCH_TIMEOUT,
        ))
        .map_err(|e| match e {
            FetchError::TooLarge(_) => ImportError::TooLarge {
                what: url.to_string(),
            },
            e => fail(e.to_string(), unreachable),
        })?;
    if !(200..300).contains(&got.status) {
        return Err(fail(
            format!("the server answered HTTP {}", got.status),
            "check the URL: FastAPI serves the document at /openapi.json unless openapi_url says otherwise",
        ));
    }
    String::from_utf8(got.body).map_err(|e| {
        fail(
            format!(
                "the answer is not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            ),
            "point at the JSON or YAML document itself",
        )
    })
}

/// Parses an input as JSON (when it looks like JSON) or YAML, into a JSON value.
fn parse_document(input: &Input) -> Result<serde_json::Value, ImportError> {
    let trimmed = input.text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.is_empty() {
        return Err(ImportError::Syntax(
            Located::new(input, "the document is empty")
                .at(Some(Loc { line: 1, column: 1 }))
                .help("give the service's OpenAPI document (JSON or YAML)"),
        ));
    }
    let json = trimmed.starts_with('{')
        || trimmed.starts_with('[')
        || input.extension().as_deref() == Some("json")
        || input.extension().as_deref() == Some("har");
    if json {
        serde_json::from_str(trimmed).map_err(|e| {
            let offset = (input.text.len() - trimmed.len()) as u64;
            let loc = Loc {
                line: e.line() as u64 + line_of(&input.text, offset) - 1,
                column: e.column() as u64,
            };
            ImportError::Syntax(
                Located::new(
                    input,
                    format!("not valid JSON: {}", strip_position(&e.to_string())),
                )
                .at(Some(loc))
                .help("fix the JSON there, or export the document again"),
            )
        })
    } else {
        // OpenAPI documents are YAML 1.2: `n`, `y`, `no` and `off` are strings.
        let options = serde_saphyr::options! { strict_booleans: true };
        serde_saphyr::from_str_with_options::<serde_json::Value>(&input.text, options).map_err(
            |e| {
                let e = e.without_snippet();
                let loc = e.location().map(Loc::from_saphyr);
                let message = e.to_string();
                let first = message.lines().next().unwrap_or(&message);
                let first = match first.rfind(" at line ") {
                    Some(pos) => &first[..pos],
                    None => first,
                };
                ImportError::Syntax(
                    Located::new(input, format!("not valid YAML or JSON: {first}"))
                        .at(loc)
                        .help("fix the document there, or export it again"),
                )
            },
        )
    }
}

/// The 1-based line holding byte `offset`.
fn line_of(text: &str, offset: u64) -> u64 {
    text.as_bytes()[..(offset as usize).min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64
        + 1
}

/// serde_json's messages end with " at line N column M"; the location is shown apart.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(pos) => message[..pos].to_string(),
        None => message.to_string(),
    }
}

/// The 1-based line and column of the first occurrence of `needle` in `text`.
fn find_loc(text: &str, needle: &str) -> Option<Loc> {
    let at = text.find(needle)?;
    let before = &text[..at];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().unwrap_or(before).chars().count() as u64 + 1;
    Some(Loc { line, column })
}

/// A generated scenario and what its user should know about it.
#[derive(Debug)]
pub struct Generated {
    /// The scenario file's text.
    pub yaml: String,
    /// One-line facts for the console: what was imported, captured, left out.
    pub summary: Vec<String>,
    /// Things to do before the first run (environment variables to set...).
    pub todo: Vec<String>,
}

/// What `scenario::load` said about a generated file.
#[derive(Debug, Clone)]
pub struct Checked {
    pub request_names: usize,
}

/// Loads the generated text as a scenario file, exactly as `gander check` does.
pub fn self_check(yaml: &str) -> Result<Checked, ImportError> {
    let dir = tempfile::tempdir().map_err(|source| ImportError::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    let path = dir.path().join("imported.yaml");
    std::fs::write(&path, yaml).map_err(|source| ImportError::Write {
        path: path.clone(),
        source,
    })?;
    match scenario::load(&path, &Overrides::default()) {
        Ok(plan) => Ok(Checked {
            request_names: plan.endpoints.len(),
        }),
        Err(e) => Err(ImportError::SelfCheck(e.to_string())),
    }
}

/// `gander import openapi SOURCE`.
pub fn openapi(source: &str, options: &OpenApiOptions) -> Result<Generated, ImportError> {
    let input = Input::read(source)?;
    openapi::import(input, options)
}

/// `gander import har FILE`.
pub fn har(file: &Path, options: &HarOptions) -> Result<Generated, ImportError> {
    har::import_file(file, options)
}

/// A scenario variable name from free text: lowercase letters, digits and
/// underscores, not a built-in, not `env`, and not one of `taken` (a suffix
/// `_2`, `_3`... makes it unique). The name is added to `taken`.
fn variable_name(hint: &str, taken: &mut Vec<String>) -> String {
    let mut base = String::new();
    let mut last_underscore = true;
    let mut prev_lower = false;
    for c in hint.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !last_underscore {
                base.push('_');
            }
            base.push(c.to_ascii_lowercase());
            last_underscore = false;
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else if !last_underscore {
            base.push('_');
            last_underscore = true;
            prev_lower = false;
        }
    }
    let mut base = base.trim_matches('_').to_string();
    if base.is_empty() {
        base = "value".into();
    }
    if base.starts_with(|c: char| c.is_ascii_digit()) {
        base.insert_str(0, "v_");
    }
    if base.len() > 40 {
        base.truncate(40);
        base = base.trim_end_matches('_').to_string();
    }
    let reserved = |name: &str| {
        scenario::template::is_builtin(name) || name == "env" || taken.iter().any(|t| t == name)
    };
    let mut name = base.clone();
    let mut n = 2;
    while reserved(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    taken.push(name.clone());
    name
}

/// `ENV_NAME` style from a scheme or field name.
fn env_name(hint: &str) -> String {
    let mut taken = Vec::new();
    variable_name(hint, &mut taken).to_ascii_uppercase()
}

/// The English singular of a plural path segment, good enough for names:
/// `bookings` → `booking`, `categories` → `category`, `boxes` → `box`.
fn singular(word: &str) -> String {
    let w = word;
    if let Some(stem) = w.strip_suffix("ies")
        && !stem.is_empty()
    {
        return format!("{stem}y");
    }
    for suffix in ["sses", "shes", "ches", "xes"] {
        if w.ends_with(suffix) {
            return w[..w.len() - 2].to_string();
        }
    }
    let keeps = ["ss", "us", "is"].iter().any(|s| w.ends_with(s));
    if w.ends_with('s') && !keeps && w.len() > 1 {
        return w[..w.len() - 1].to_string();
    }
    w.to_string()
}

/// True for a request field or parameter that carries a password.
fn is_password_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "password"
        || n == "passwd"
        || n == "pwd"
        || n == "pass"
        || n.ends_with("_password")
        || n.ends_with("password")
        || n == "secret"
        || n == "client_secret"
}

/// True for a field that names the user logging in.
fn is_username_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace(['-', '_'], "");
    matches!(
        n.as_str(),
        "username" | "user" | "login" | "email" | "mail" | "account" | "userid" | "name"
    )
}

/// A duration as the scenario format writes it: `750ms`, `2s`.
fn format_ms(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_are_safe_and_unique() {
        let mut taken = Vec::new();
        assert_eq!(variable_name("access_token", &mut taken), "access_token");
        assert_eq!(variable_name("accessToken", &mut taken), "access_token_2");
        assert_eq!(variable_name("X-CSRF-Token", &mut taken), "x_csrf_token");
        assert_eq!(variable_name("uuid", &mut taken), "uuid_2");
        assert_eq!(variable_name("env", &mut taken), "env_2");
        assert_eq!(variable_name("9lives", &mut taken), "v_9lives");
        assert_eq!(variable_name("?!", &mut taken), "value");
        assert_eq!(env_name("adminToken"), "ADMIN_TOKEN");
        assert_eq!(env_name("OAuth2PasswordBearer"), "OAUTH2_PASSWORD_BEARER");
    }

    #[test]
    fn singulars() {
        assert_eq!(singular("bookings"), "booking");
        assert_eq!(singular("categories"), "category");
        assert_eq!(singular("boxes"), "box");
        assert_eq!(singular("status"), "status");
        assert_eq!(singular("address"), "address");
        assert_eq!(singular("data"), "data");
    }

    #[test]
    fn yaml_documents_read_as_json_values() {
        let input = Input {
            origin: Origin::File("x.yaml".into()),
            text: "openapi: 3.0.3\npaths:\n  /a:\n    get:\n      parameters: [{ name: n, in: query, required: true }]\n      responses:\n        200:\n          description: ok\n".into(),
        };
        let v = parse_document(&input).unwrap();
        assert_eq!(v["openapi"], "3.0.3");
        assert_eq!(v["paths"]["/a"]["get"]["parameters"][0]["name"], "n");
        assert_eq!(v["paths"]["/a"]["get"]["parameters"][0]["required"], true);
        assert!(v["paths"]["/a"]["get"]["responses"]["200"].is_object());
    }

    #[test]
    fn syntax_errors_are_located() {
        let input = Input {
            origin: Origin::File("x.json".into()),
            text: "{\n  \"openapi\": \"3.1.0\",\n  \"paths\": {,}\n}\n".into(),
        };
        let e = parse_document(&input).unwrap_err().to_string();
        assert!(e.starts_with("x.json:3:13: error: not valid JSON"), "{e}");
    }
}
