//! Lists: where a list response keeps its rows, and which field of a row
//! holds the id a detail route takes, so the id can be captured.

use super::escape_pointer;
use super::refs::Node;
use super::sample;

/// Array properties that hold a list response's rows, most likely first.
const LIST_PROPERTIES: &[&str] = &[
    "items", "data", "results", "records", "rows", "content", "entries", "list", "values",
    "objects", "elements", "hits", "nodes",
];

/// Object properties a list may be wrapped in one level down.
const LIST_WRAPPERS: &[&str] = &["data", "result", "response", "page", "_embedded", "payload"];

/// Where a list response keeps its rows: a JSON pointer to the array and the
/// rows' schema.
pub(super) fn list_shape(schema: Node<'_>) -> Option<(String, Option<Node<'_>>)> {
    let schema = sample::first_alternative(schema.resolve());
    if sample::type_of(schema) == Some("array") || schema.raw("items").is_some() {
        return Some((String::new(), schema.get("items")));
    }
    let props = properties(schema);
    let arrays: Vec<&(&str, Node<'_>)> = props
        .iter()
        .filter(|(_, p)| {
            let p = sample::first_alternative(*p);
            sample::type_of(p) == Some("array") || p.raw("items").is_some()
        })
        .collect();
    let chosen = LIST_PROPERTIES
        .iter()
        .find_map(|want| arrays.iter().find(|(name, _)| name == want))
        .or(if arrays.len() == 1 {
            arrays.first()
        } else {
            None
        });
    if let Some((name, p)) = chosen {
        let p = sample::first_alternative(*p);
        return Some((format!("/{}", escape_pointer(name)), p.get("items")));
    }
    // One level down: { "data": { "items": [...] } }.
    for wrapper in LIST_WRAPPERS {
        if let Some((_, inner)) = props.iter().find(|(n, _)| n == wrapper)
            && sample::type_of(sample::first_alternative(*inner)) != Some("array")
            && let Some((pointer, item)) = list_shape(*inner)
            && !pointer.is_empty()
        {
            return Some((format!("/{}{pointer}", escape_pointer(wrapper)), item));
        }
    }
    None
}

/// An object schema's properties, `allOf` parts included.
pub(super) fn properties<'a>(schema: Node<'a>) -> Vec<(&'a str, Node<'a>)> {
    let mut out = schema.entries("properties");
    for part in schema.items("allOf") {
        for (name, p) in properties(part) {
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, p));
            }
        }
    }
    out
}

/// The field of a list row that holds the value for path parameter `param`;
/// `true` when it is a guess (the rows' schema is not documented).
pub(super) fn id_field(param: &str, item: Option<Node<'_>>) -> Option<(String, bool)> {
    let props: Vec<String> = item
        .map(|i| properties(sample::first_alternative(i)))
        .unwrap_or_default()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    if let Some(p) = props.iter().find(|p| *p == param) {
        return Some((p.clone(), false));
    }
    if let Some(p) = props.iter().find(|p| norm(p) == norm(param)) {
        return Some((p.clone(), false));
    }
    let id_like = is_generic_id(param)
        || param.ends_with("_id")
        || param.ends_with("Id")
        || param.ends_with("ID")
        || param.ends_with("-id");
    if !id_like {
        return None;
    }
    if let Some(p) = props
        .iter()
        .find(|p| p.as_str() == "id" || p.as_str() == "ID")
    {
        return Some((p.clone(), false));
    }
    if props.is_empty() {
        return Some(("id".into(), true));
    }
    None
}

pub(super) fn is_generic_id(param: &str) -> bool {
    matches!(
        param.to_ascii_lowercase().as_str(),
        "id" | "uuid" | "key" | "slug" | "pk" | "guid"
    )
}
