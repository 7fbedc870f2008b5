//! `$ref`s: every reference in the document (and in the documents it refers
//! to, read relative to it) is checked once when the document is loaded, so a
//! broken one is reported with its place before anything is generated; after
//! that, `Node` follows references transparently as the importer reads.

use indexmap::IndexMap;
use serde_json::Value;

use super::super::{ImportError, Input, Located, find_loc, parse_document};
use crate::scenario::diagnostic::suggest;

/// At most this many documents may be pulled in by `$ref`s.
const MAX_DOCUMENTS: usize = 64;

/// The root document and every document its `$ref`s name.
pub struct Docs {
    docs: IndexMap<String, (Input, Value)>,
}

/// A value in one of the documents; reading through it follows `$ref`s.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    pub v: &'a Value,
    doc: &'a str,
    docs: &'a Docs,
}

/// How the walk reads an object's keys: as keywords (`Normal`), as names
/// (`properties`, `paths`...), or as the Example Objects of an `examples` map.
#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Normal,
    Names,
    Examples,
    Example,
}

/// Keys whose children are names, not keywords.
const NAME_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "schemas",
    "responses",
    "paths",
    "securitySchemes",
    "headers",
    "content",
    "links",
    "callbacks",
    "requestBodies",
    "pathItems",
    "webhooks",
    "encoding",
    "dependentSchemas",
];

/// Keys holding data, where a `$ref` key is just data.
const DATA_KEYS: &[&str] = &["example", "default", "enum", "const"];

impl Docs {
    /// Takes the root document and checks every `$ref` reachable from it,
    /// reading referenced files or URLs (relative to the document that names them).
    pub fn load(root: Input, value: Value) -> Result<Docs, ImportError> {
        let root_key = root.origin.to_string();
        let mut docs = Docs {
            docs: IndexMap::new(),
        };
        docs.docs.insert(root_key.clone(), (root, value));
        let mut queue = vec![root_key];
        while let Some(key) = queue.pop() {
            let mut refs = Vec::new();
            walk(
                &docs.docs[&key].1,
                &mut String::new(),
                Ctx::Normal,
                &mut refs,
            );
            for (pointer, reference) in refs {
                let (file_part, _) = split_ref(&reference);
                if !file_part.is_empty() {
                    let origin = {
                        let (input, _) = &docs.docs[&key];
                        input
                            .origin
                            .join(file_part)
                            .map_err(|e| broken(input, &pointer, &reference, e.to_string(), None))?
                    };
                    let other_key = origin.to_string();
                    if !docs.docs.contains_key(&other_key) {
                        if docs.docs.len() >= MAX_DOCUMENTS {
                            let (input, _) = &docs.docs[&key];
                            return Err(broken(
                                input,
                                &pointer,
                                &reference,
                                format!("more than {MAX_DOCUMENTS} documents are referenced"),
                                Some("bundle the document into one file first".into()),
                            ));
                        }
                        let loaded = Input::open(&origin).and_then(|input| {
                            let value = parse_document(&input)?;
                            Ok((input, value))
                        });
                        match loaded {
                            Ok(pair) => {
                                docs.docs.insert(other_key.clone(), pair);
                                queue.push(other_key);
                            }
                            Err(e) => {
                                let (input, _) = &docs.docs[&key];
                                return Err(broken(
                                    input,
                                    &pointer,
                                    &reference,
                                    format!("the referenced document cannot be used: {e}"),
                                    Some("fix the path of the $ref (it is relative to the document that holds it)".into()),
                                ));
                            }
                        }
                    }
                }
                if let Err(Nowhere { reason, help }) = docs.target(&key, &reference) {
                    let (input, _) = &docs.docs[&key];
                    return Err(broken(input, &pointer, &reference, reason, help));
                }
            }
        }
        Ok(docs)
    }

    pub fn root(&self) -> Node<'_> {
        let (key, (_, value)) = self.docs.first().expect("the root document");
        Node {
            v: value,
            doc: key,
            docs: self,
        }
    }

    pub fn root_input(&self) -> &Input {
        &self.docs[0].0
    }

    /// The document key and value `reference` points at, from document `doc`.
    fn target<'a>(
        &'a self,
        doc: &'a str,
        reference: &str,
    ) -> Result<(&'a str, &'a Value), Nowhere> {
        let (file_part, fragment) = split_ref(reference);
        let key: &str = if file_part.is_empty() {
            doc
        } else {
            let (input, _) = &self.docs[doc];
            let origin = input
                .origin
                .join(file_part)
                .map_err(|e| Nowhere::new(e.to_string(), None))?;
            let key = origin.to_string();
            self.docs
                .get_key_value(&key)
                .map(|(k, _)| k.as_str())
                .ok_or_else(|| Nowhere::new(format!("{key} was not loaded"), None))?
        };
        let (_, value) = &self.docs[key];
        let fragment = percent_encoding::percent_decode_str(fragment).decode_utf8_lossy();
        if fragment.is_empty() {
            return Ok((key, value));
        }
        if !fragment.starts_with('/') {
            return Err(Nowhere::new(
                format!("the fragment \"#{fragment}\" is not a JSON pointer"),
                Some("write references as \"#/components/schemas/Name\"".into()),
            ));
        }
        match value.pointer(&fragment) {
            Some(v) => Ok((key, v)),
            None => Err(missing(value, &fragment)),
        }
    }
}

impl<'a> Node<'a> {
    /// The value this node stands for, `$ref`s followed.
    pub fn resolve(self) -> Node<'a> {
        let mut node = self;
        for _ in 0..32 {
            let Some(reference) = node.v.get("$ref").and_then(Value::as_str) else {
                return node;
            };
            match node.docs.target(node.doc, reference) {
                Ok((doc, v)) => {
                    node = Node {
                        v,
                        doc,
                        docs: node.docs,
                    }
                }
                Err(_) => return node,
            }
        }
        node
    }

    /// A child, `$ref`s followed on both sides.
    pub fn get(self, key: &str) -> Option<Node<'a>> {
        let me = self.resolve();
        me.v.get(key).map(|v| me.child(v).resolve())
    }

    /// A child as stored, for data (examples, defaults): no `$ref` followed.
    pub fn raw(self, key: &str) -> Option<&'a Value> {
        self.resolve().v.get(key)
    }

    pub fn str(self, key: &str) -> Option<&'a str> {
        self.raw(key).and_then(Value::as_str)
    }

    pub fn bool(self, key: &str) -> bool {
        self.raw(key).and_then(Value::as_bool).unwrap_or(false)
    }

    /// The items of an array child.
    pub fn items(self, key: &str) -> Vec<Node<'a>> {
        match self.get(key) {
            Some(n) => match n.v {
                Value::Array(items) => items.iter().map(|v| n.child(v).resolve()).collect(),
                _ => Vec::new(),
            },
            None => Vec::new(),
        }
    }

    /// The entries of an object child, in document order.
    pub fn entries(self, key: &str) -> Vec<(&'a str, Node<'a>)> {
        match self.get(key) {
            Some(n) => n.own_entries(),
            None => Vec::new(),
        }
    }

    /// This node's own entries (it must be an object).
    pub fn own_entries(self) -> Vec<(&'a str, Node<'a>)> {
        let me = self.resolve();
        match me.v {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.as_str(), me.child(v).resolve()))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn child(self, v: &'a Value) -> Node<'a> {
        Node {
            v,
            doc: self.doc,
            docs: self.docs,
        }
    }
}

fn split_ref(reference: &str) -> (&str, &str) {
    match reference.split_once('#') {
        Some((file, fragment)) => (file, fragment),
        None => (reference, ""),
    }
}

/// Collects `(pointer, reference)` for every `$ref` in `v`.
fn walk(v: &Value, pointer: &mut String, ctx: Ctx, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            if matches!(ctx, Ctx::Normal | Ctx::Example)
                && let Some(Value::String(r)) = map.get("$ref")
            {
                out.push((pointer.clone(), r.clone()));
            }
            for (k, child) in map {
                let next = match ctx {
                    Ctx::Names => Ctx::Normal,
                    Ctx::Examples => Ctx::Example,
                    Ctx::Normal | Ctx::Example => {
                        if DATA_KEYS.contains(&k.as_str())
                            || k.starts_with("x-")
                            || k == "$ref"
                            || (ctx == Ctx::Example && k == "value")
                        {
                            continue;
                        }
                        if k == "examples" {
                            if !child.is_object() {
                                continue;
                            }
                            Ctx::Examples
                        } else if NAME_MAPS.contains(&k.as_str()) {
                            Ctx::Names
                        } else {
                            Ctx::Normal
                        }
                    }
                };
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                walk(child, pointer, next, out);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                walk(item, pointer, Ctx::Normal, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Why `fragment` finds nothing in `doc`: the deepest part that exists, the
/// key it lacks, and the closest key it has.
/// Why a `$ref` points nowhere, and how to fix it when that is known; it
/// becomes the `ImportError` located at the reference.
struct Nowhere {
    reason: String,
    help: Option<String>,
}

impl Nowhere {
    fn new(reason: String, help: Option<String>) -> Nowhere {
        Nowhere { reason, help }
    }
}

fn missing(doc: &Value, fragment: &str) -> Nowhere {
    let mut node = doc;
    let mut at = String::new();
    for raw in fragment.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        let next = match node {
            Value::Object(map) => map.get(&seg),
            Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(n) => {
                node = n;
                at.push('/');
                at.push_str(raw);
            }
            None => {
                let place = if at.is_empty() {
                    "the document".to_string()
                } else {
                    format!("#{at}")
                };
                let help = match node {
                    Value::Object(map) => match suggest(&seg, map.keys().map(String::as_str)) {
                        Some(s) => Some(format!(
                            "did you mean \"#{at}/{}\"? Fix the reference, or add \"{seg}\" under {place}",
                            s.replace('~', "~0").replace('/', "~1")
                        )),
                        None => Some(format!(
                            "{place} has: {}; fix the reference, or add \"{seg}\" there",
                            list(map.keys().map(String::as_str))
                        )),
                    },
                    _ => None,
                };
                return Nowhere::new(format!("{place} has no \"{seg}\""), help);
            }
        }
    }
    Nowhere::new(format!("nothing at #{fragment}"), None)
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.len() > 8 {
        format!("{}, ... ({} in all)", names[..8].join(", "), names.len())
    } else if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

fn broken(
    input: &Input,
    pointer: &str,
    reference: &str,
    reason: String,
    help: Option<String>,
) -> ImportError {
    let loc = find_loc(&input.text, reference);
    let help = help
        .unwrap_or_else(|| "fix the reference, or add what it names to the document".to_string());
    ImportError::BrokenRef(
        Located::new(
            input,
            format!("$ref \"{reference}\" points nowhere: {reason}"),
        )
        .at(loc)
        .pointer(pointer)
        .help(help),
    )
}

#[cfg(test)]
mod tests {
    use super::super::super::Origin;
    use super::*;
    use serde_json::json;

    fn docs(value: Value) -> Result<Docs, ImportError> {
        let input = Input {
            origin: Origin::File("api.json".into()),
            text: serde_json::to_string_pretty(&value).unwrap(),
        };
        Docs::load(input, value)
    }

    #[test]
    fn refs_are_followed_and_data_is_not() {
        let d = docs(json!({
            "components": { "schemas": {
                "A": { "$ref": "#/components/schemas/B" },
                "B": { "type": "object", "properties": { "$ref": { "type": "string" } },
                       "example": { "$ref": "#/not/checked" } }
            }},
            "paths": { "/a": { "get": { "responses": { "200": { "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/A" },
                "examples": { "one": { "value": { "$ref": "data" } } }
            }}}}}}}
        }))
        .unwrap();
        let schema = d
            .root()
            .get("paths")
            .and_then(|p| p.get("/a"))
            .and_then(|p| p.get("get"))
            .and_then(|p| p.get("responses"))
            .and_then(|p| p.get("200"))
            .and_then(|p| p.get("content"))
            .and_then(|p| p.get("application/json"))
            .and_then(|p| p.get("schema"))
            .unwrap();
        assert_eq!(schema.str("type"), Some("object"));
    }

    #[test]
    fn a_broken_ref_names_its_place_and_the_fix() {
        let e = docs(json!({
            "components": { "schemas": { "Item": { "type": "object" } } },
            "paths": { "/items": { "get": { "responses": { "200": { "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Itme" }
            }}}}}}}
        }))
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("api.json:"), "{e}");
        assert!(e.contains("#/components/schemas has no \"Itme\""), "{e}");
        assert!(
            e.contains("/paths/~1items/get/responses/200/content/application~1json/schema"),
            "{e}"
        );
        assert!(
            e.contains("did you mean \"#/components/schemas/Item\""),
            "{e}"
        );
    }

    #[test]
    fn refs_to_other_files_are_read_relative_to_the_document() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("schemas.yaml"),
            "Item:\n  type: object\n  properties:\n    id: { type: integer }\n",
        )
        .unwrap();
        let root =
            json!({ "components": { "schemas": { "Item": { "$ref": "schemas.yaml#/Item" } } } });
        let input = Input {
            origin: Origin::File(dir.path().join("api.json")),
            text: root.to_string(),
        };
        let d = Docs::load(input, root).unwrap();
        let item = d
            .root()
            .get("components")
            .and_then(|c| c.get("schemas"))
            .and_then(|s| s.get("Item"))
            .unwrap();
        assert_eq!(item.entries("properties")[0].0, "id");

        let root =
            json!({ "components": { "schemas": { "Item": { "$ref": "missing.yaml#/Item" } } } });
        let input = Input {
            origin: Origin::File(dir.path().join("api.json")),
            text: root.to_string(),
        };
        let e = Docs::load(input, root).err().unwrap().to_string();
        assert!(e.contains("missing.yaml"), "{e}");
        assert!(e.contains("relative to the document"), "{e}");
    }
}
