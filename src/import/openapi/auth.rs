//! Security schemes into requests: an OAuth2 password flow, or an operation
//! that takes a password and hands out a token, becomes a login in
//! `on_start` whose token is captured and sent as a bearer token; a login
//! that sets a session cookie is left to each user's cookie jar; API keys,
//! other bearer tokens and basic credentials come from `${env.NAME}`.

use std::collections::HashMap;

use serde_json::Value;

use super::super::emit::{self, BodyOut, CaptureFrom, CaptureOut, Field, StepOut};
use super::super::{env_name, is_password_field, is_username_field, variable_name};
use super::lists::properties;
use super::load::{Server, origin_of};
use super::refs::Node;
use super::sample::{self, Source};
use super::steps::{BodyKind, request_value};
use super::{Method, Op, value_text};

/// Response fields that carry a token, most likely first.
const TOKEN_FIELDS: &[&str] = &[
    "access_token",
    "accessToken",
    "token",
    "id_token",
    "idToken",
    "jwt",
    "auth_token",
    "authToken",
    "session_token",
    "sessionToken",
    "bearer",
];

#[derive(Debug, Clone)]
enum Kind {
    Bearer,
    Basic,
    ApiKey {
        place: String,
        name: String,
    },
    OAuthPassword {
        token_url: String,
    },
    OAuthClient {
        token_url: String,
    },
    /// OAuth2 with other flows, or OpenID Connect: a bearer token.
    OtherBearer(String),
    Unknown(String),
}

impl Kind {
    fn describe(&self) -> String {
        match self {
            Kind::Bearer => "http bearer".into(),
            Kind::Basic => "http basic".into(),
            Kind::ApiKey { place, name } => format!("API key {name} in the {place}"),
            Kind::OAuthPassword { .. } => "OAuth2 password flow".into(),
            Kind::OAuthClient { .. } => "OAuth2 client credentials".into(),
            Kind::OtherBearer(what) => what.clone(),
            Kind::Unknown(what) => what.clone(),
        }
    }
    fn takes_bearer(&self) -> bool {
        matches!(
            self,
            Kind::Bearer
                | Kind::OAuthPassword { .. }
                | Kind::OAuthClient { .. }
                | Kind::OtherBearer(_)
        )
    }
}

#[derive(Debug, Clone)]
enum Apply {
    Header(String, String),
    Query(String, String),
    Cookie(String, String),
    /// A session cookie the login sets: each user's cookie jar sends it.
    Jar,
    Unsupported(String),
}

/// The login run once per user.
#[derive(Debug, Clone)]
pub struct Login {
    pub step: StepOut,
    pub description: String,
    pub notes: Vec<String>,
}

/// How the document's security schemes are met.
#[derive(Debug, Default)]
pub struct AuthPlan {
    pub login: Option<Login>,
    /// The operation the login is (it is not repeated as a step).
    pub login_op: Option<usize>,
    apply: HashMap<String, Apply>,
    pub variables: Vec<Field>,
    pub todo: Vec<String>,
    pub guesses: usize,
}

/// What one step sends for its security requirement.
#[derive(Debug, Default)]
pub struct AuthUse {
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub cookies: Vec<String>,
    pub notes: Vec<String>,
}

impl AuthPlan {
    /// The headers, query parameters and cookies `op` needs.
    pub fn apply(&self, op: &Op<'_>, root: Node<'_>) -> AuthUse {
        let mut out = AuthUse::default();
        for scheme in requirement(op, root) {
            match self.apply.get(&scheme) {
                Some(Apply::Header(name, value)) => out.headers.push((name.clone(), value.clone())),
                Some(Apply::Query(name, value)) => out.query.push((name.clone(), value.clone())),
                Some(Apply::Cookie(name, value)) => out.cookies.push(format!("{name}={value}")),
                Some(Apply::Jar) => out.notes.push(format!(
                    "{scheme}: the session cookie from the login, sent by the user's cookie jar"
                )),
                Some(Apply::Unsupported(why)) => out.notes.push(format!("{scheme}: {why}")),
                None => out.notes.push(format!(
                    "{scheme}: not among the document's security schemes; nothing is sent"
                )),
            }
        }
        out
    }
}

/// The schemes of the first alternative of the operation's security
/// requirement (its own, else the document's); empty when none is needed.
fn requirement(op: &Op<'_>, root: Node<'_>) -> Vec<String> {
    let security = op.node.raw("security").or_else(|| root.raw("security"));
    let first = security
        .and_then(Value::as_array)
        .and_then(|alternatives| alternatives.first())
        .and_then(Value::as_object);
    first
        .map(|req| req.keys().cloned().collect())
        .unwrap_or_default()
}

fn schemes(root: Node<'_>) -> Vec<(String, Kind)> {
    let Some(components) = root.get("components") else {
        return Vec::new();
    };
    components
        .entries("securitySchemes")
        .into_iter()
        .map(|(name, s)| {
            let kind = match s.str("type").unwrap_or("") {
                "http" => match s.str("scheme").unwrap_or("").to_ascii_lowercase().as_str() {
                    "bearer" => Kind::Bearer,
                    "basic" => Kind::Basic,
                    other => Kind::Unknown(format!("http scheme \"{other}\"")),
                },
                "apiKey" => Kind::ApiKey {
                    place: s.str("in").unwrap_or("header").to_string(),
                    name: s.str("name").unwrap_or("X-API-Key").to_string(),
                },
                "oauth2" => {
                    let flows = s.get("flows");
                    let url = |flow: &str| {
                        flows
                            .and_then(|f| f.get(flow))
                            .and_then(|f| f.str("tokenUrl"))
                            .map(str::to_string)
                    };
                    if let Some(token_url) = url("password") {
                        Kind::OAuthPassword { token_url }
                    } else if let Some(token_url) = url("clientCredentials") {
                        Kind::OAuthClient { token_url }
                    } else {
                        Kind::OtherBearer("OAuth2 (authorization code or implicit flow)".into())
                    }
                }
                "openIdConnect" => Kind::OtherBearer("OpenID Connect".into()),
                other => Kind::Unknown(format!("security scheme type \"{other}\"")),
            };
            (name.to_string(), kind)
        })
        .collect()
}

/// Decides the login and how each scheme is met.
pub fn plan(root: Node<'_>, ops: &[Op<'_>], server: &Server, taken: &mut Vec<String>) -> AuthPlan {
    let used = used_schemes(root, ops);
    let mut plan = AuthPlan::default();
    // An OAuth2 password flow: log in at its tokenUrl; else an operation that
    // takes a password (or is named like a login) and returns a token; else
    // OAuth2 client credentials.
    let mut token = password_flow(&used, ops, server, taken, &mut plan);
    if plan.login.is_none() {
        token = login_operation(&used, ops, server, taken, &mut plan);
    }
    if plan.login.is_none() {
        client_credentials(&used, server, taken, &mut plan);
    }
    // Every other scheme in use.
    for (name, kind, count) in &used {
        if plan.apply.contains_key(name) {
            continue;
        }
        let apply = match kind {
            k if k.takes_bearer() && token.is_some() => {
                let var = token.take().unwrap_or_default();
                Apply::Header("Authorization".into(), format!("Bearer ${{{var}}}"))
            }
            Kind::ApiKey { place, .. } if place == "cookie" && plan.login.is_some() => Apply::Jar,
            Kind::Unknown(what) => Apply::Unsupported(format!(
                "{what} is not something gander can send; those requests will likely be refused"
            )),
            _ => from_env(name, kind, *count, taken, &mut plan),
        };
        plan.apply.insert(name.clone(), apply);
    }
    plan
}

/// The schemes operations require, most used first (document order breaks ties).
fn used_schemes(root: Node<'_>, ops: &[Op<'_>]) -> Vec<(String, Kind, usize)> {
    let mut used: Vec<(String, Kind, usize)> = schemes(root)
        .into_iter()
        .map(|(name, kind)| {
            let count = ops
                .iter()
                .filter(|op| requirement(op, root).contains(&name))
                .count();
            (name, kind, count)
        })
        .filter(|(_, _, count)| *count > 0)
        .collect();
    used.sort_by_key(|(_, _, count)| std::cmp::Reverse(*count));
    used
}

/// Makes `built` the plan's login; returns the variable its token goes to.
fn adopt(plan: &mut AuthPlan, built: BuiltLogin, description: String, note: String) -> String {
    plan.guesses += built.guesses;
    plan.variables.extend(built.variables);
    plan.todo.extend(built.todo);
    plan.login = Some(Login {
        step: built.step,
        notes: vec![note],
        description,
    });
    built.token_var
}

/// The OAuth2 password flow's login, when a scheme in use has one.
fn password_flow(
    used: &[(String, Kind, usize)],
    ops: &[Op<'_>],
    server: &Server,
    taken: &mut Vec<String>,
    plan: &mut AuthPlan,
) -> Option<String> {
    let (name, token_url) = used.iter().find_map(|(name, k, _)| match k {
        Kind::OAuthPassword { token_url } => Some((name, token_url)),
        _ => None,
    })?;
    let path = token_path(token_url, server);
    let op = ops.iter().position(|o| {
        o.method == Method::Post && format!("{}{}", server.base_path, o.path) == path
    });
    let description = format!("POST {path} (the OAuth2 password flow of {name})");
    let built = login_step(LoginKind::Password, op.map(|i| &ops[i]), &path, taken);
    let note = format!(
        "Log in once per user: {description}. Its token is captured and sent as \"Authorization: Bearer\"."
    );
    plan.login_op = op;
    let var = adopt(plan, built, description, note);
    plan.apply.insert(
        name.clone(),
        Apply::Header("Authorization".into(), format!("Bearer ${{{var}}}")),
    );
    Some(var)
}

/// An operation that takes credentials and hands out a token, when a scheme
/// in use wants a bearer token or a session cookie.
fn login_operation(
    used: &[(String, Kind, usize)],
    ops: &[Op<'_>],
    server: &Server,
    taken: &mut Vec<String>,
    plan: &mut AuthPlan,
) -> Option<String> {
    let wants_login = used.iter().any(|(_, k, _)| {
        k.takes_bearer() || matches!(k, Kind::ApiKey { place, .. } if place == "cookie")
    });
    if !wants_login {
        return None;
    }
    let (i, pointer) = find_login(ops)?;
    let op = &ops[i];
    let path = format!("{}{}", server.base_path, op.path);
    let description = format!("POST {path} ({}: credentials in, a token out)", op.name);
    let built = login_step(LoginKind::Operation(pointer), Some(op), &path, taken);
    let note = format!(
        "Log in once per user: {description}. Its token is captured and sent as \"Authorization: Bearer\" where the document asks for it."
    );
    plan.login_op = Some(i);
    Some(adopt(plan, built, description, note))
}

/// The OAuth2 client credentials flow's token request, when a scheme in use has one.
fn client_credentials(
    used: &[(String, Kind, usize)],
    server: &Server,
    taken: &mut Vec<String>,
    plan: &mut AuthPlan,
) {
    let Some((name, token_url)) = used.iter().find_map(|(name, k, _)| match k {
        Kind::OAuthClient { token_url } => Some((name, token_url)),
        _ => None,
    }) else {
        return;
    };
    let path = token_path(token_url, server);
    let description = format!("POST {path} (the OAuth2 client credentials flow of {name})");
    let mut built = login_step(LoginKind::ClientCredentials, None, &path, taken);
    built.guesses = 0;
    let note = format!(
        "Get a token once per user: {description}. It is sent as \"Authorization: Bearer\"."
    );
    let var = adopt(plan, built, description, note);
    plan.apply.insert(
        name.clone(),
        Apply::Header("Authorization".into(), format!("Bearer ${{{var}}}")),
    );
}

/// A scheme met from an environment variable (an API key, a bearer token,
/// basic credentials), noted as a variable and a thing to do.
fn from_env(
    name: &str,
    kind: &Kind,
    count: usize,
    taken: &mut Vec<String>,
    plan: &mut AuthPlan,
) -> Apply {
    let (suffix, how) = match kind {
        Kind::ApiKey { .. } => ("KEY", "the API key"),
        Kind::Basic => ("BASIC", "base64 of user:password"),
        _ => ("TOKEN", "a bearer token"),
    };
    let mut env = env_name(name);
    let named = env.ends_with(suffix) || (suffix == "KEY" && env.ends_with("TOKEN"));
    if !named {
        env = format!("{env}_{suffix}");
    }
    let var = variable_name(&env.to_ascii_lowercase(), taken);
    plan.variables.push(
        Field::new(var.clone(), format!("${{env.{env}:-}}")).note(format!(
            "{how} for security scheme {name} ({}); empty when {env} is not set",
            kind.describe()
        )),
    );
    plan.todo.push(format!(
        "set {env} to {how}: security scheme \"{name}\" ({}) protects {count} operations",
        kind.describe()
    ));
    let value = format!("${{{var}}}");
    match kind {
        Kind::ApiKey { place, name: key } => match place.as_str() {
            "query" => Apply::Query(key.clone(), value),
            "cookie" => Apply::Cookie(key.clone(), value),
            _ => Apply::Header(key.clone(), value),
        },
        Kind::Basic => Apply::Header("Authorization".into(), format!("Basic {value}")),
        _ => Apply::Header("Authorization".into(), format!("Bearer {value}")),
    }
}

/// The token URL as a path on the host (or a full URL on another host).
fn token_path(token_url: &str, server: &Server) -> String {
    if let Ok(url) = url::Url::parse(token_url) {
        let origin = origin_of(&url);
        if origin == server.host {
            return url.path().to_string();
        }
        return token_url.to_string();
    }
    // Relative URLs are relative to the server URL.
    if token_url.starts_with('/') {
        token_url.to_string()
    } else {
        format!(
            "{}/{}",
            server.base_path,
            token_url.trim_start_matches("./")
        )
    }
}

enum LoginKind {
    /// OAuth2 password flow: a form with grant_type=password.
    Password,
    /// OAuth2 client credentials: a form with grant_type=client_credentials.
    ClientCredentials,
    /// A login operation whose response holds the token at this pointer.
    Operation(String),
}

struct BuiltLogin {
    step: StepOut,
    token_var: String,
    variables: Vec<Field>,
    todo: Vec<String>,
    guesses: usize,
}

/// The login step: its body (the documented one, or the form the OAuth2 flow
/// defines) with credentials from variables, and the capture of its token.
fn login_step(
    kind: LoginKind,
    op: Option<&Op<'_>>,
    path: &str,
    taken: &mut Vec<String>,
) -> BuiltLogin {
    let documented = op.and_then(|o| request_value(o).ok().flatten());
    let (body_kind, value, source) = login_value(&kind, documented.as_ref());
    let mut credentials = Credentials::default();
    let mut body = emit::literal_json(&value);
    if let Value::Object(fields) = &mut body {
        for (key, field) in fields.iter_mut() {
            let example = value
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !source.is_guess() && !s.is_empty());
            if let Some(var) = credentials.variable(key, example, taken) {
                *field = Value::String(format!("${{{var}}}"));
            }
        }
    }
    let (pointer, pointer_note) = match &kind {
        LoginKind::Operation(p) => (p.clone(), "the token in the login's response".to_string()),
        _ => match op.and_then(|o| o.success_schema()).and_then(token_pointer) {
            Some(p) => (p, "the token in the login's response".to_string()),
            None => (
                "/access_token".into(),
                "access_token, as OAuth2 defines the token response (RFC 6749 5.1)".to_string(),
            ),
        },
    };
    let token_var = variable_name("token", taken);
    let mut step = login_request(op, path);
    if let BodyKind::Text = body_kind
        && let Some((_, _, ct, _)) = &documented
    {
        step.headers
            .push(Field::new("Content-Type", emit::literal(ct)));
    }
    step.body = login_body(body_kind, &body);
    step.body_note = Some(match &source {
        Source::Generated(how) => format!("the fields the login needs ({how})"),
        other => other.describe(),
    });
    step.captures.push(CaptureOut {
        var: token_var.clone(),
        from: CaptureFrom::Json(pointer),
        note: Some(pointer_note),
    });
    BuiltLogin {
        step,
        token_var,
        variables: credentials.variables,
        todo: credentials.todo,
        guesses: credentials.guesses,
    }
}

/// The login's body value: the documented one, or the one the OAuth2 flow
/// defines (RFC 6749 4.3 and 4.4), with the fields the flow needs.
fn login_value(
    kind: &LoginKind,
    documented: Option<&(BodyKind, Value, String, Source)>,
) -> (BodyKind, Value, Source) {
    let (body_kind, mut value, source) = match (documented, kind) {
        (Some((k, v, _, s)), _) => (*k, v.clone(), s.clone()),
        (None, LoginKind::ClientCredentials) => (
            BodyKind::Form,
            serde_json::json!({ "grant_type": "client_credentials" }),
            Source::Example,
        ),
        (None, _) => (
            BodyKind::Form,
            serde_json::json!({ "grant_type": "password", "username": "", "password": "" }),
            Source::Generated("the OAuth2 password form (RFC 6749 4.3)".into()),
        ),
    };
    if !matches!(value, Value::Object(_)) {
        value = Value::Object(Default::default());
    }
    if let Value::Object(map) = &mut value {
        let fields = match kind {
            LoginKind::Password => Some(("password", ["username", "password"])),
            LoginKind::ClientCredentials => {
                Some(("client_credentials", ["client_id", "client_secret"]))
            }
            LoginKind::Operation(_) => None,
        };
        if let Some((grant, needed)) = fields {
            map.insert("grant_type".into(), grant.into());
            for field in needed {
                map.entry(field).or_insert(Value::String(String::new()));
            }
        }
    }
    (body_kind, value, source)
}

/// The login's credentials as variables the environment can override.
#[derive(Default)]
struct Credentials {
    variables: Vec<Field>,
    todo: Vec<String>,
    guesses: usize,
}

impl Credentials {
    /// The variable for body field `key` when it is a credential; `example`
    /// is the documented value, if any.
    fn variable(
        &mut self,
        key: &str,
        example: Option<&str>,
        taken: &mut Vec<String>,
    ) -> Option<String> {
        let (hint, env) = if key == "client_id" {
            ("client_id", "CLIENT_ID")
        } else if key == "client_secret" {
            ("client_secret", "CLIENT_SECRET")
        } else if is_password_field(key) {
            ("password", "API_PASSWORD")
        } else if is_username_field(key) {
            ("username", "API_USERNAME")
        } else {
            return None;
        };
        let var = variable_name(hint, taken);
        let (text, note) = match example {
            Some(ex) if !ex.contains('}') && !ex.contains('$') => (
                format!("${{env.{env}:-{ex}}}"),
                format!("the documented example; set {env} to log in as someone else"),
            ),
            Some(ex) => (emit::literal(ex), "the documented example".to_string()),
            None => {
                let guess = match hint {
                    "password" | "client_secret" => "password",
                    "client_id" => "client",
                    _ => "user",
                };
                self.guesses += 1;
                self.todo.push(format!(
                    "set {env}: the document gives no example {hint} for the login"
                ));
                (
                    format!("${{env.{env}:-{guess}}}"),
                    format!("guess: the document gives no example; set {env}"),
                )
            }
        };
        self.variables
            .push(Field::new(var.clone(), text).note(note));
        Some(var)
    }
}

/// The body as the step writes it.
fn login_body(kind: BodyKind, body: &Value) -> BodyOut {
    match kind {
        BodyKind::Form => BodyOut::Form(match body {
            Value::Object(map) => map
                .iter()
                .filter_map(|(k, v)| value_text(v).map(|t| Field::new(k.clone(), t)))
                .collect(),
            _ => Vec::new(),
        }),
        BodyKind::Json => BodyOut::Json(body.clone()),
        BodyKind::Text => BodyOut::Raw(match body {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
    }
}

/// The login's POST, named and checked as documented (or as OAuth2 answers).
fn login_request(op: Option<&Op<'_>>, path: &str) -> StepOut {
    let mut step = StepOut::new("post", emit::literal(path));
    if let Some(op) = op {
        step.name = Some(op.name.clone());
        step.notes.push(op.title.clone());
        let (status, _) = op.success();
        step.expect_status = status;
        step.expect_note = status.map(|c| format!("the documented success status ({c})"));
    } else {
        step.name = Some("login".into());
        step.notes.push(format!(
            "POST {path}: not described in the document, written from the OAuth2 flow"
        ));
        step.expect_status = Some(200);
        step.expect_note = Some("OAuth2 token endpoints answer 200".into());
    }
    step
}

/// The pointer to a token field in a response schema (top level, or one object down).
fn token_pointer(schema: Node<'_>) -> Option<String> {
    let schema = sample::first_alternative(schema);
    let props = properties(schema);
    for want in TOKEN_FIELDS {
        if props.iter().any(|(n, _)| n == want) {
            return Some(format!("/{want}"));
        }
    }
    for (name, p) in &props {
        let inner = properties(sample::first_alternative(*p));
        for want in TOKEN_FIELDS {
            if inner.iter().any(|(n, _)| n == want) {
                return Some(format!("/{}/{want}", super::escape_pointer(name)));
            }
        }
    }
    // No schema: a documented example of the answer.
    let example = sample::example_of(schema)?;
    TOKEN_FIELDS
        .iter()
        .find(|want| example.get(**want).is_some_and(Value::is_string))
        .map(|want| format!("/{want}"))
}

/// A POST that takes a password (or is named like a login) and answers with a
/// token: its index and the token's pointer.
fn find_login(ops: &[Op<'_>]) -> Option<(usize, String)> {
    let mut best: Option<(u8, usize, String)> = None;
    for (i, op) in ops.iter().enumerate() {
        if op.method != Method::Post {
            continue;
        }
        let fields: Vec<String> = match request_value(op) {
            Ok(Some((_, Value::Object(map), _, _))) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let schema_fields: Vec<String> = op
            .node
            .get("requestBody")
            .and_then(|rb| {
                rb.entries("content")
                    .into_iter()
                    .find_map(|(_, m)| m.get("schema"))
            })
            .map(|s| properties(sample::first_alternative(s)))
            .unwrap_or_default()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        let has_password = fields
            .iter()
            .chain(&schema_fields)
            .any(|f| is_password_field(f));
        let last_segment = op
            .path
            .rsplit('/')
            .find(|s| !s.is_empty() && !s.starts_with('{'))
            .unwrap_or("");
        let named = [last_segment, op.node.str("operationId").unwrap_or("")]
            .iter()
            .any(|s| {
                let s = s.to_ascii_lowercase().replace(['-', '_'], "");
                [
                    "login",
                    "signin",
                    "logon",
                    "authenticate",
                    "token",
                    "session",
                ]
                .iter()
                .any(|w| s.contains(w))
            });
        if !has_password && !named {
            continue;
        }
        let Some(pointer) = op.success_schema().and_then(token_pointer) else {
            continue;
        };
        let score = 2 * u8::from(has_password) + u8::from(named);
        if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
            best = Some((score, i, pointer));
        }
    }
    best.map(|(_, i, p)| (i, p))
}
