//! Values for parameters and bodies: the document's own examples first, then
//! defaults and enums, and only then a minimal value generated from the
//! schema (required properties only, within the documented bounds), which is
//! reported as a guess.

use serde_json::{Map, Value, json};

use super::refs::Node;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Example,
    Default,
    Enum,
    /// Made up from the schema; the text says how, for a review comment.
    Generated(String),
}

impl Source {
    pub fn is_guess(&self) -> bool {
        matches!(self, Source::Generated(_))
    }

    /// A short comment on the value's origin.
    pub fn describe(&self) -> String {
        match self {
            Source::Example => "the documented example".into(),
            Source::Default => "the documented default".into(),
            Source::Enum => "the first allowed value".into(),
            Source::Generated(how) => format!("guess: {how}"),
        }
    }
}

/// The first example a parameter, media type or schema documents
/// (`example`, or the first of `examples`, in either of their forms).
pub fn example_of(node: Node<'_>) -> Option<Value> {
    if let Some(v) = node.raw("example") {
        return Some(v.clone());
    }
    match node.get("examples") {
        // OpenAPI: a map of Example Objects with `value`.
        Some(map) if map.v.is_object() => map
            .own_entries()
            .into_iter()
            .find_map(|(_, ex)| ex.raw("value").cloned()),
        // JSON Schema (3.1): an array of values.
        Some(list) => list.v.as_array().and_then(|a| a.first()).cloned(),
        None => None,
    }
}

/// A documented value for a parameter: its example, its schema's example,
/// default or first enum value.
pub fn documented(param: Node<'_>, schema: Option<Node<'_>>) -> Option<(Value, Source)> {
    if let Some(v) = example_of(param) {
        return Some((v, Source::Example));
    }
    let schema = schema?;
    let schema = first_alternative(schema);
    if let Some(v) = example_of(schema) {
        return Some((v, Source::Example));
    }
    if let Some(v) = schema.raw("default").filter(|v| !v.is_null()) {
        return Some((v.clone(), Source::Default));
    }
    if let Some(v) = schema.raw("const") {
        return Some((v.clone(), Source::Enum));
    }
    if let Some(v) = schema
        .raw("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|v| !v.is_null()))
    {
        return Some((v.clone(), Source::Enum));
    }
    None
}

/// The first non-null alternative of a `oneOf`/`anyOf` schema, else the schema.
pub fn first_alternative(schema: Node<'_>) -> Node<'_> {
    let mut node = schema;
    // A schema may name itself among its alternatives: follow at most 32.
    'follow: for _ in 0..32 {
        for key in ["oneOf", "anyOf"] {
            if let Some(alt) = node
                .items(key)
                .into_iter()
                .find(|s| s.str("type") != Some("null"))
            {
                node = alt;
                continue 'follow;
            }
        }
        return node;
    }
    node
}

/// The schema's type, ignoring `null` in a 3.1 type list.
pub fn type_of(schema: Node<'_>) -> Option<&str> {
    match schema.raw("type")? {
        Value::String(t) => Some(t.as_str()),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    }
}

/// A value for `schema`: documented if possible, else generated.
pub fn value_for(schema: Node<'_>) -> (Value, Source) {
    let mut made = Made::new();
    let v = generate(schema, 0, &mut made);
    let mut notes = made.notes;
    if notes.is_empty() {
        // Every part of it was documented.
        match documented_schema(schema) {
            Some(d) => d,
            None => (v, Source::Example),
        }
    } else {
        // One comment line in the scenario: the first notes, then how many more.
        let more = notes.len().saturating_sub(MAX_NOTES);
        notes.truncate(MAX_NOTES);
        if more > 0 {
            notes.push(format!("and {more} more"));
        }
        (v, Source::Generated(notes.join("; ")))
    }
}

/// Notes on one generated value shown at most.
const MAX_NOTES: usize = 12;

fn documented_schema(schema: Node<'_>) -> Option<(Value, Source)> {
    let schema = first_alternative(schema);
    if let Some(v) = example_of(schema) {
        return Some((v, Source::Example));
    }
    if let Some(v) = schema.raw("default").filter(|v| !v.is_null()) {
        return Some((v.clone(), Source::Default));
    }
    schema
        .raw("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .map(|v| (v.clone(), Source::Enum))
}

/// What generating one value made up, and how many more schemas it may
/// visit: allOf, oneOf and required properties may name the same schema many
/// times over, so the visits are bounded, not only the depth.
pub struct Made {
    notes: Vec<String>,
    visits_left: usize,
    /// Whether the budget ran out (said once in the notes).
    cut: bool,
}

/// Schemas one generated value may visit.
const MAX_VISITS: usize = 10_000;

impl Made {
    fn new() -> Made {
        Made {
            notes: Vec::new(),
            visits_left: MAX_VISITS,
            cut: false,
        }
    }

    fn push(&mut self, note: String) {
        self.notes.push(note);
    }

    /// Whether one more schema may be visited; says once when not.
    fn visit(&mut self) -> bool {
        if self.visits_left == 0 {
            if !self.cut {
                self.cut = true;
                self.push(format!("cut short after {MAX_VISITS} schemas"));
            }
            return false;
        }
        self.visits_left -= 1;
        true
    }
}

/// A minimal valid instance of `schema`; `notes` says what was made up.
pub fn generate(schema: Node<'_>, depth: usize, notes: &mut Made) -> Value {
    let schema = schema.resolve();
    if !notes.visit() {
        return Value::Null;
    }
    if depth > 8 {
        notes.push("nested too deep, cut short".into());
        return Value::Null;
    }
    if let Some(v) = example_of(schema) {
        return v;
    }
    if let Some(v) = schema.raw("const") {
        return v.clone();
    }
    if let Some(v) = schema.raw("default").filter(|v| !v.is_null()) {
        return v.clone();
    }
    if let Some(v) = schema
        .raw("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|v| !v.is_null()))
    {
        return v.clone();
    }
    let all_of = schema.items("allOf");
    if !all_of.is_empty() {
        let mut merged = Map::new();
        let mut other = None;
        for part in all_of {
            match generate(part, depth + 1, notes) {
                Value::Object(m) => merged.extend(m),
                v => other = Some(v),
            }
        }
        return match other {
            Some(v) if merged.is_empty() => v,
            _ => Value::Object(merged),
        };
    }
    let alternative = first_alternative(schema);
    if !std::ptr::eq(alternative.v, schema.v) {
        return generate(alternative, depth + 1, notes);
    }
    by_type(schema, depth, notes)
}

/// A minimal value of the schema's type (no example, default or enum given).
fn by_type(schema: Node<'_>, depth: usize, notes: &mut Made) -> Value {
    let has_properties = schema.raw("properties").is_some();
    match type_of(schema) {
        Some("object") => object(schema, depth, notes),
        None if has_properties => object(schema, depth, notes),
        Some("array") => {
            let min = schema.raw("minItems").and_then(Value::as_u64).unwrap_or(0);
            match schema.get("items") {
                Some(items) if min > 0 => {
                    let item = generate(items, depth + 1, notes);
                    // Nested minItems multiply: keep the whole under the budget.
                    let fit = (MAX_GENERATED_VALUES / values_in(&item)).max(1) as u64;
                    let copies = min.min(16).min(fit);
                    if copies < min {
                        notes.push(format!(
                            "{copies} of the {min} items minItems asks for (a sample is kept \
                             under {MAX_GENERATED_VALUES} values)"
                        ));
                    }
                    Value::Array(vec![item; copies as usize])
                }
                _ => {
                    notes.push("an empty list".into());
                    Value::Array(Vec::new())
                }
            }
        }
        Some("integer") => {
            let n = number_in(schema, true);
            notes.push(format!("an integer ({n})"));
            json!(n as i64)
        }
        Some("number") => {
            let n = number_in(schema, false);
            notes.push(format!("a number ({n})"));
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .unwrap_or(json!(1))
        }
        Some("boolean") => {
            notes.push("a boolean (false)".into());
            Value::Bool(false)
        }
        Some("null") => Value::Null,
        Some("string") | None => {
            let (s, how) = string_in(schema);
            notes.push(how);
            Value::String(s)
        }
        Some(other) => unknown_type(other, notes),
    }
}

/// A value for a type OpenAPI does not have (`int`, `str`, `float`...), read
/// as the type its name says; a name that says nothing gets a string. Never
/// null: a path segment must not come out empty.
fn unknown_type(name: &str, notes: &mut Made) -> Value {
    let lower = name.to_ascii_lowercase();
    let (value, as_what) = if lower.starts_with("int") || lower == "long" || lower == "short" {
        (json!(1), "an integer (1)")
    } else if ["float", "double", "decimal", "real", "num"]
        .iter()
        .any(|t| lower.starts_with(t))
    {
        (json!(1.0), "a number (1.0)")
    } else if lower.starts_with("bool") {
        (Value::Bool(false), "a boolean (false)")
    } else {
        (Value::String("example".into()), "a string (\"example\")")
    };
    notes.push(format!(
        "\"{name}\" is not an OpenAPI type: taken as {as_what}; fix the document's schema"
    ));
    value
}

fn object(schema: Node<'_>, depth: usize, notes: &mut Made) -> Value {
    let required: Vec<&str> = schema
        .raw("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    if required.is_empty() {
        notes.push("no required properties: an empty object".into());
    }
    let mut values = 1;
    for (name, prop) in schema.entries("properties") {
        if required.contains(&name) && !prop.bool("readOnly") {
            // Required properties that $ref each other multiply like nested
            // arrays: stop at the budget and say so.
            if values > MAX_GENERATED_VALUES {
                notes.push(format!(
                    "{name} and the required properties after it left out (a sample is kept \
                     under {MAX_GENERATED_VALUES} values)"
                ));
                break;
            }
            // The property's own notes, named after it.
            let from = notes.notes.len();
            let v = generate(prop, depth + 1, notes);
            for n in &mut notes.notes[from..] {
                *n = format!("{name}: {n}");
            }
            values += values_in(&v);
            out.insert(name.to_string(), v);
        }
    }
    Value::Object(out)
}

/// Values a generated sample holds at most (each object, list and scalar
/// counts one): a small document whose schemas nest lists with minItems, or
/// objects whose required properties refer to each other, would otherwise
/// ask for billions.
pub const MAX_GENERATED_VALUES: usize = 1_000;

/// Values in `v`, itself included.
fn values_in(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(values_in).sum(),
        Value::Object(o) => o.values().map(values_in).sum(),
        _ => 0,
    }
}

/// The documented bounds of a number: the smallest allowed value that is at
/// least 1 when the bounds allow it (ids and counts start at 1), a multiple of
/// `multipleOf` when one is given.
fn number_in(schema: Node<'_>, integer: bool) -> f64 {
    let num = |k: &str| schema.raw(k).and_then(Value::as_f64);
    let step = if integer { 1.0 } else { 0.5 };
    // 3.0 writes exclusiveMinimum as a flag on minimum; 3.1 as a number.
    let mut low = num("minimum");
    if let Some(x) = num("exclusiveMinimum") {
        low = Some(x + step);
    } else if schema.bool("exclusiveMinimum")
        && let Some(m) = low
    {
        low = Some(m + step);
    }
    let mut high = num("maximum");
    if let Some(x) = num("exclusiveMaximum") {
        high = Some(x - step);
    } else if schema.bool("exclusiveMaximum")
        && let Some(m) = high
    {
        high = Some(m - step);
    }
    let mut n = match (low, high) {
        (Some(l), _) if l >= 1.0 => l,
        (_, Some(h)) if h < 1.0 => h,
        _ => 1.0,
    };
    if let Some(m) = num("multipleOf").filter(|m| *m > 0.0) {
        n = (n / m).ceil() * m;
    }
    if integer { n.ceil() } else { n }
}

/// A string that fits the schema's format and length, and how it was chosen.
fn string_in(schema: Node<'_>) -> (String, String) {
    let min = schema.raw("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = schema
        .raw("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    let format = schema.str("format").unwrap_or("");
    let fixed = match format {
        "date" => Some("2026-01-15"),
        "date-time" => Some("2026-01-15T12:00:00Z"),
        "time" => Some("12:00:00"),
        "email" | "idn-email" => Some("user@example.com"),
        "uuid" => Some("00000000-0000-4000-8000-000000000001"),
        "uri" | "url" | "iri" => Some("https://example.com/"),
        "hostname" | "idn-hostname" => Some("example.com"),
        "ipv4" => Some("127.0.0.1"),
        "ipv6" => Some("::1"),
        "byte" => Some("ZXhhbXBsZQ=="),
        _ => None,
    };
    if let Some(value) = fixed {
        return (value.to_string(), format!("a made-up {format}"));
    }
    let mut s = String::from("example");
    while s.chars().count() < min {
        s.push('x');
    }
    if let Some(max) = max {
        s = s.chars().take(max.max(min)).collect();
    }
    let mut how = format!("a made-up string \"{s}\"");
    if let Some(pattern) = schema.str("pattern") {
        how.push_str(&format!(" that must still match {pattern}"));
    }
    (s, how)
}

#[cfg(test)]
mod tests {
    use super::super::super::{Input, Origin};
    use super::super::refs::Docs;
    use super::*;

    fn with_schema(schema: Value, f: impl FnOnce(Node<'_>)) {
        let doc = json!({ "components": { "schemas": {
            "S": schema,
            "Tag": { "type": "string", "enum": ["new", "old"] }
        } } });
        let docs = Docs::load(
            Input {
                origin: Origin::File("t.json".into()),
                text: doc.to_string(),
            },
            doc,
        )
        .unwrap();
        let s = docs
            .root()
            .get("components")
            .and_then(|c| c.get("schemas"))
            .and_then(|s| s.get("S"))
            .unwrap();
        f(s);
    }

    #[test]
    fn a_minimal_body_has_the_required_fields_within_bounds() {
        with_schema(
            json!({
                "type": "object",
                "required": ["name", "price", "tag", "when", "qty", "note"],
                "properties": {
                    "id": { "type": "integer", "readOnly": true },
                    "name": { "type": "string", "minLength": 10, "maxLength": 12 },
                    "price": { "type": "number", "exclusiveMinimum": 0, "maximum": 100 },
                    "tag": { "$ref": "#/components/schemas/Tag" },
                    "when": { "type": "string", "format": "date" },
                    "qty": { "type": "integer", "minimum": 5, "multipleOf": 4 },
                    "note": { "anyOf": [{ "type": "null" }, { "type": "string" }] },
                    "optional": { "type": "string" }
                }
            }),
            |s| {
                let (v, source) = value_for(s);
                assert_eq!(
                    v,
                    json!({ "name": "examplexxx", "price": 1.0, "tag": "new", "when": "2026-01-15", "qty": 8, "note": "example" })
                );
                assert!(source.is_guess());
            },
        );
    }

    #[test]
    fn examples_win_over_generated_values() {
        with_schema(
            json!({ "type": "object", "required": ["a"], "properties": { "a": { "type": "integer" } },
                    "examples": [{ "a": 42 }] }),
            |s| assert_eq!(value_for(s), (json!({ "a": 42 }), Source::Example)),
        );
        with_schema(
            json!({ "type": "object", "required": ["a"],
                    "properties": { "a": { "type": "integer", "example": 7 } } }),
            |s| assert_eq!(value_for(s).0, json!({ "a": 7 })),
        );
    }
}
