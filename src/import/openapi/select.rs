//! Select: the document's operations (path-level parameters merged into
//! each, unique step names), and which of them become steps. The others are
//! written commented out with the reason: internal, deprecated, a write
//! without `--include-writes`, or a body the scenario format cannot hold.

use super::super::ImportError;
use super::super::emit::LeftOut;
use super::auth::AuthPlan;
use super::refs::Node;
use super::steps::request_body;
use super::{Importer, Method, Op};

/// The operations that become steps, and the others (index, why).
type Selection = (Vec<usize>, Vec<(usize, String)>);

impl<'a> Importer<'a> {
    /// Every operation of the document, in document order.
    pub(super) fn collect_operations(&mut self) {
        let mut names: Vec<String> = Vec::new();
        for (path, item) in self.root.entries("paths") {
            let shared = item.items("parameters");
            for (key, node) in item.own_entries() {
                let method = match Method::from_key(key) {
                    Some(m) => m,
                    None => {
                        if matches!(key, "options" | "trace") {
                            self.left_out.push(LeftOut {
                                what: format!("{} {path}", key.to_ascii_uppercase()),
                                why: format!(
                                    "the scenario format has no {} requests",
                                    key.to_ascii_uppercase()
                                ),
                                step: None,
                            });
                        }
                        continue;
                    }
                };
                let mut params: Vec<Node<'a>> = Vec::new();
                for p in shared.iter().chain(node.items("parameters").iter()) {
                    let id = (p.str("name"), p.str("in"));
                    params.retain(|q| (q.str("name"), q.str("in")) != id);
                    params.push(*p);
                }
                let upper = key.to_ascii_uppercase();
                let base = node
                    .str("operationId")
                    .or(node.str("summary"))
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{upper} {path}"));
                let mut name = base.clone();
                let mut n = 2;
                while names.contains(&name) {
                    name = format!("{base} ({n})");
                    n += 1;
                }
                names.push(name.clone());
                let summary = node.str("summary").unwrap_or("");
                let title = if summary.is_empty() {
                    format!("{upper} {path}")
                } else {
                    format!("{upper} {path}: {summary}")
                };
                self.ops.push(Op {
                    method,
                    path,
                    node,
                    params,
                    name,
                    title,
                });
            }
        }
    }

    /// The operations that become steps, and the others with the reason
    /// (the login is neither: it runs in on_start).
    pub(super) fn select(&self, auth: &AuthPlan) -> Result<Selection, ImportError> {
        let mut included = Vec::new();
        let mut left: Vec<(usize, String)> = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            if auth.login_op == Some(i) {
                continue;
            }
            if op.node.bool("x-internal") {
                left.push((
                    i,
                    "marked x-internal (an operations endpoint, not part of the API's traffic)"
                        .into(),
                ));
            } else if op.node.bool("deprecated") {
                left.push((i, "deprecated".into()));
            } else if !op.method.is_read() && !self.options.include_writes {
                left.push((
                    i,
                    "writes data; gander import openapi --include-writes adds it".into(),
                ));
            } else if let Err(why) = request_body(op) {
                left.push((i, why.to_string()));
            } else {
                included.push(i);
            }
        }
        if included.is_empty() {
            let help = if self.options.include_writes {
                "every operation is deprecated, internal or has a body gander cannot send"
            } else {
                "the document has no GET operations; add --include-writes to import its writes"
            };
            return Err(self.nothing_to_import(
                "no operation of the document can be imported as a step",
                help.into(),
            ));
        }
        Ok((included, left))
    }
}
