//! `${...}` templates: parsed and resolved once when the file is checked, so a
//! typo is a check-time error and rendering on the per-request path is a walk
//! over a few parts with no lookups by name.
//!
//! Grammar inside `${ }`:
//! - `name`: a variable (from `variables:` or captured by an earlier step);
//! - `feeder.column`: the user's current row of a data feeder;
//! - `env.NAME` or `env.NAME:-default`: the environment, read at load time;
//! - built-ins: `user_index`, `iteration`, `random(1, 20)`, `choice(a, b, c)`,
//!   `uuid()`, `timestamp()` (Unix seconds), `timestamp_ms()`.
//!
//! `$${` writes a literal `${`.

use std::fmt::Write as _;

/// What a template part stands for at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Literal(String),
    /// A per-user variable slot (captures).
    Var(usize),
    /// Feeder index and column index.
    Feed(usize, usize),
    UserIndex,
    Iteration,
    Random(i64, i64),
    Choice(Vec<String>),
    Uuid,
    Timestamp,
    TimestampMs,
}

impl Part {
    /// Built-ins whose text is always a number: a JSON body may insert them unquoted.
    fn is_numeric(&self) -> bool {
        matches!(
            self,
            Part::UserIndex
                | Part::Iteration
                | Part::Random(..)
                | Part::Timestamp
                | Part::TimestampMs
        )
    }
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pub parts: Vec<Part>,
}

/// What a name inside `${ }` resolves to; supplied by the compiler, which knows
/// the variables, feeders and captures in scope at this step.
pub enum Resolved {
    Literal(String),
    Part(Part),
}

/// Why an expression could not be compiled; the message is shown to the user
/// at the place of the text, and says what to write instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("\"${{\" without a closing \"}}\" in \"{0}\"")]
    Unclosed(String),
    #[error("\"{excerpt}\" expands to more than {limit}, the most gander takes for one text")]
    TooLong { excerpt: String, limit: String },
    #[error("empty \"${{}}\"")]
    Empty,
    #[error("\"{0}\" is missing its closing \")\"")]
    UnclosedCall(String),
    #[error("environment variable {0} is not set (give a default with ${{env.{0}:-value}})")]
    EnvNotSet(String),
    #[error("\"${{{0}}}\" is not a variable name or a built-in call")]
    NotAName(String),
    #[error("{0}() takes no arguments")]
    NoArguments(String),
    #[error("random takes two integers: random(1, 20)")]
    RandomArity,
    #[error("random(): \"{0}\" is not an integer")]
    RandomNotInteger(String),
    #[error("random({0}, {1}): the first bound is above the second")]
    RandomBounds(i64, i64),
    #[error("choice needs at least one value: choice(a, b, c)")]
    EmptyChoice,
    /// `hint` is ", did you mean ...?" or the list of built-ins.
    #[error("unknown function \"{name}\"{hint}")]
    UnknownFunction { name: String, hint: String },
    #[error("variable \"{0}\" is used before the step that captures it")]
    UsedBeforeCapture(String),
    #[error("\"{0}\" is a data feeder: name a column, as ${{{0}.column}}")]
    FeederWithoutColumn(String),
    /// `hint` says where a variable comes from, or which one was meant.
    #[error("undefined variable \"{name}\"{hint}")]
    Undefined { name: String, hint: String },
    #[error("data feeder \"{feeder}\" has no column \"{column}\"{hint}")]
    NoColumn {
        feeder: String,
        column: String,
        hint: String,
    },
    #[error("the file's variables expand to more than {0} in all, the most gander takes")]
    ExpandedTotal(String),
}

/// Resolves names; returns a user-facing message when a name is unknown.
pub trait Scope {
    fn variable(&self, name: &str) -> Result<Resolved, TemplateError>;
    fn feeder_column(&self, feeder: &str, column: &str) -> Result<Option<Part>, TemplateError>;
    /// The environment variable `name`, if it is set. A compiler notes the
    /// values it hands out: they may be secrets, kept out of what gander writes.
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    /// Counts `bytes` of text copied in for a variable; `Err` says the file's
    /// texts together have grown past what gander takes.
    fn charge(&self, bytes: usize) -> Result<(), TemplateError> {
        let _ = bytes;
        Ok(())
    }
}

/// The longest text one template may expand to when the file is checked:
/// variables that repeat variables double at each step.
pub const MAX_EXPANDED: usize = 16 * 1024 * 1024;

impl Template {
    /// Parses `text` and resolves every name against `scope`.
    pub fn compile(text: &str, scope: &dyn Scope) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        // The text of the literal parts already pushed.
        let mut expanded = 0usize;
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            literal.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(escaped) = after.strip_prefix("$${") {
                literal.push_str("${");
                rest = escaped;
            } else if let Some(expr_start) = after.strip_prefix("${") {
                let end = expr_start
                    .find('}')
                    .ok_or_else(|| TemplateError::Unclosed(text.to_string()))?;
                let expr = expr_start[..end].trim();
                match resolve(expr, scope)? {
                    Resolved::Literal(value) => {
                        if expanded + literal.len() + value.len() > MAX_EXPANDED {
                            return Err(too_long(text));
                        }
                        scope.charge(value.len())?;
                        literal.push_str(&value);
                    }
                    Resolved::Part(part) => {
                        if !literal.is_empty() {
                            expanded += literal.len();
                            parts.push(Part::Literal(std::mem::take(&mut literal)));
                        }
                        parts.push(part);
                    }
                }
                rest = &expr_start[end + 1..];
            } else {
                literal.push('$');
                rest = &after[1..];
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() || parts.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    /// The same template with `prefix` before it.
    pub fn prefixed(mut self, prefix: &str) -> Template {
        match self.parts.first_mut() {
            Some(Part::Literal(text)) => text.insert_str(0, prefix),
            _ => self.parts.insert(0, Part::Literal(prefix.to_string())),
        }
        self
    }

    /// The fixed text of the template, part by part.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Literal(text) => Some(text.as_str()),
            _ => None,
        })
    }

    /// The text when the template has no run-time parts.
    pub fn as_constant(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// True when the whole template is one numeric built-in such as `${random(1,9)}`:
    /// in a JSON body it is then written as a number, not a string.
    pub fn is_single_number(&self) -> bool {
        matches!(self.parts.as_slice(), [part] if part.is_numeric())
    }

    pub fn render(&self, ctx: &mut dyn RenderContext, out: &mut String) -> Result<(), RenderError> {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(slot) => out.push_str(ctx.var(*slot)?),
                Part::Feed(feeder, column) => out.push_str(ctx.feed(*feeder, *column)?),
                Part::UserIndex => {
                    let _ = write!(out, "{}", ctx.user_index());
                }
                Part::Iteration => {
                    let _ = write!(out, "{}", ctx.iteration());
                }
                Part::Random(lo, hi) => {
                    let _ = write!(out, "{}", ctx.random_range(*lo, *hi));
                }
                Part::Choice(items) => {
                    let i = ctx.random_range(0, items.len() as i64 - 1) as usize;
                    out.push_str(&items[i.min(items.len() - 1)]);
                }
                Part::Uuid => {
                    let _ = write!(out, "{}", uuid::Uuid::new_v4());
                }
                Part::Timestamp | Part::TimestampMs => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    let value = if *part == Part::Timestamp {
                        now.as_secs() as u128
                    } else {
                        now.as_millis()
                    };
                    let _ = write!(out, "{value}");
                }
            }
        }
        Ok(())
    }

    /// The text of a template without `${…}`, the same for every request.
    pub fn constant(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    pub fn render_string(&self, ctx: &mut dyn RenderContext) -> Result<String, RenderError> {
        let mut out = String::new();
        self.render(ctx, &mut out)?;
        Ok(out)
    }
}

/// Per-user state a template reads while rendering.
pub trait RenderContext {
    fn var(&self, slot: usize) -> Result<&str, RenderError>;
    fn feed(&mut self, feeder: usize, column: usize) -> Result<&str, RenderError>;
    fn user_index(&self) -> usize;
    fn iteration(&self) -> u64;
    /// Uniform in `lo..=hi`.
    fn random_range(&mut self, lo: i64, hi: i64) -> i64;
}

/// A value missing at run time; the request is not sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error("variable \"{0}\" has no value (its capture failed or has not run)")]
    Unset(String),
    #[error("data feeder \"{0}\" has no rows left (mode: unique)")]
    FeederExhausted(String),
}

/// The message for a template that expands past `MAX_EXPANDED`.
fn too_long(text: &str) -> TemplateError {
    TemplateError::TooLong {
        excerpt: excerpt(text, 60),
        limit: crate::format::bytes(MAX_EXPANDED as f64),
    }
}

/// The first `max` characters of `text`, with "…" when there are more.
pub fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

const BUILTINS: &[&str] = &[
    "user_index",
    "iteration",
    "random",
    "choice",
    "uuid",
    "timestamp",
    "timestamp_ms",
];

pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

fn resolve(expr: &str, scope: &dyn Scope) -> Result<Resolved, TemplateError> {
    if expr.is_empty() {
        return Err(TemplateError::Empty);
    }
    if let Some(open) = expr.find('(') {
        let name = expr[..open].trim();
        let args = expr[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| TemplateError::UnclosedCall(expr.to_string()))?;
        return builtin_call(name, args).map(Resolved::Part);
    }
    match expr {
        "user_index" => return Ok(Resolved::Part(Part::UserIndex)),
        "iteration" => return Ok(Resolved::Part(Part::Iteration)),
        "uuid" | "timestamp" | "timestamp_ms" => return builtin_call(expr, "").map(Resolved::Part),
        _ => {}
    }
    if let Some(env) = expr.strip_prefix("env.") {
        let (name, default) = match env.split_once(":-") {
            Some((name, default)) => (name.trim(), Some(default)),
            None => (env.trim(), None),
        };
        return match (scope.env(name), default) {
            (Some(value), _) => Ok(Resolved::Literal(value)),
            (None, Some(default)) => Ok(Resolved::Literal(default.to_string())),
            (None, None) => Err(TemplateError::EnvNotSet(name.to_string())),
        };
    }
    if let Some((feeder, column)) = expr.split_once('.')
        && let Some(part) = scope.feeder_column(feeder.trim(), column.trim())?
    {
        return Ok(Resolved::Part(part));
    }
    if !expr
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(TemplateError::NotAName(expr.to_string()));
    }
    scope.variable(expr)
}

fn builtin_call(name: &str, args: &str) -> Result<Part, TemplateError> {
    let args: Vec<&str> = if args.trim().is_empty() {
        Vec::new()
    } else {
        args.split(',').map(str::trim).collect()
    };
    let no_args = |part: Part| {
        if args.is_empty() {
            Ok(part)
        } else {
            Err(TemplateError::NoArguments(name.to_string()))
        }
    };
    match name {
        "uuid" => no_args(Part::Uuid),
        "timestamp" => no_args(Part::Timestamp),
        "timestamp_ms" => no_args(Part::TimestampMs),
        "user_index" => no_args(Part::UserIndex),
        "iteration" => no_args(Part::Iteration),
        "random" => {
            let [lo, hi] = args.as_slice() else {
                return Err(TemplateError::RandomArity);
            };
            let parse = |s: &str| {
                s.parse::<i64>()
                    .map_err(|_| TemplateError::RandomNotInteger(s.to_string()))
            };
            let (lo, hi) = (parse(lo)?, parse(hi)?);
            if lo > hi {
                return Err(TemplateError::RandomBounds(lo, hi));
            }
            Ok(Part::Random(lo, hi))
        }
        "choice" => {
            if args.is_empty() {
                return Err(TemplateError::EmptyChoice);
            }
            let items = args
                .iter()
                .map(|a| a.trim_matches(|c| c == '"' || c == '\'').to_string())
                .collect();
            Ok(Part::Choice(items))
        }
        other => {
            let hint = crate::scenario::diagnostic::suggest(other, BUILTINS.iter().copied())
                .map(|s| format!(", did you mean \"{s}\"?"))
                .unwrap_or_else(|| format!(" (built-ins: {})", BUILTINS.join(", ")));
            Err(TemplateError::UnknownFunction {
                name: other.to_string(),
                hint,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestScope;
    impl Scope for TestScope {
        fn variable(&self, name: &str) -> Result<Resolved, TemplateError> {
            match name {
                "api" => Ok(Resolved::Literal("/api".into())),
                "token" => Ok(Resolved::Part(Part::Var(0))),
                _ => Err(TemplateError::Undefined {
                    name: name.into(),
                    hint: String::new(),
                }),
            }
        }
        fn feeder_column(&self, feeder: &str, column: &str) -> Result<Option<Part>, TemplateError> {
            match (feeder, column) {
                ("staff", "login") => Ok(Some(Part::Feed(0, 1))),
                ("staff", c) => Err(TemplateError::NoColumn {
                    feeder: "staff".into(),
                    column: c.into(),
                    hint: String::new(),
                }),
                _ => Ok(None),
            }
        }
    }

    struct Ctx;
    impl RenderContext for Ctx {
        fn var(&self, _: usize) -> Result<&str, RenderError> {
            Ok("T")
        }
        fn feed(&mut self, _: usize, _: usize) -> Result<&str, RenderError> {
            Ok("ann")
        }
        fn user_index(&self) -> usize {
            7
        }
        fn iteration(&self) -> u64 {
            3
        }
        fn random_range(&mut self, lo: i64, _: i64) -> i64 {
            lo
        }
    }

    #[test]
    fn constants_fold_and_parts_render_in_order() {
        let t = Template::compile(
            "${api}/u/${user_index}?t=${token}&n=${staff.login}&i=${iteration}&r=${random(4, 9)}",
            &TestScope,
        )
        .unwrap();
        assert_eq!(t.parts[0], Part::Literal("/api/u/".into()));
        assert_eq!(
            t.render_string(&mut Ctx).unwrap(),
            "/api/u/7?t=T&n=ann&i=3&r=4"
        );
        assert_eq!(
            Template::compile("a$${b}$x", &TestScope)
                .unwrap()
                .as_constant(),
            Some("a${b}$x")
        );
    }

    #[test]
    fn mistakes_are_reported_with_the_expression() {
        let err = |s: &str| Template::compile(s, &TestScope).unwrap_err().to_string();
        assert!(err("${tokn}").contains("undefined variable \"tokn\""));
        assert!(err("${random(5)}").contains("two integers"));
        assert!(err("${randm(1,2)}").contains("did you mean \"random\""));
        assert!(err("${staff.logn}").contains("no column \"logn\""));
        assert!(err("${api").contains("closing"));
        assert!(err("${env.GANDER_SURELY_UNSET_VAR}").contains("not set"));
        assert_eq!(
            Template::compile("${env.GANDER_SURELY_UNSET_VAR:-x}", &TestScope)
                .unwrap()
                .as_constant(),
            Some("x")
        );
    }

    #[test]
    fn single_numeric_builtins_are_numbers() {
        assert!(
            Template::compile("${random(1,2)}", &TestScope)
                .unwrap()
                .is_single_number()
        );
        assert!(
            !Template::compile("id-${random(1,2)}", &TestScope)
                .unwrap()
                .is_single_number()
        );
        assert!(
            !Template::compile("${token}", &TestScope)
                .unwrap()
                .is_single_number()
        );
    }
}
