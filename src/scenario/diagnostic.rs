//! Errors in scenario files: where (file, line, column), what was expected,
//! and a suggestion where one helps. Rendered with a source excerpt by
//! codespan-reporting.

use std::fmt;
use std::path::{Path, PathBuf};

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;

use super::spanned::Loc;

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub loc: Loc,
    pub message: String,
    /// What was expected, or a suggestion.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(loc: Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            loc,
            message: message.into(),
            help: None,
        }
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Every problem found in one file, with the source to show excerpts from.
#[derive(Debug, Clone)]
pub struct FileDiagnostics {
    pub path: PathBuf,
    pub source: String,
    pub items: Vec<Diagnostic>,
}

impl FileDiagnostics {
    /// Renders `file:line:col: error: message` lines with source excerpts.
    pub fn render(&self) -> String {
        let name = self.path.display().to_string();
        let file = SimpleFile::new(name.as_str(), self.source.as_str());
        let config = term::Config::default();
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&format!(
                "{}:{}:{}: error: {}\n",
                name, d.loc.line, d.loc.column, d.message
            ));
            let mut diagnostic =
                CsDiagnostic::error().with_message(d.message.lines().next().unwrap_or_default());
            if let Some(range) = byte_range(&self.source, d.loc) {
                diagnostic = diagnostic.with_labels(vec![Label::primary((), range)]);
            }
            if let Some(help) = &d.help {
                diagnostic = diagnostic.with_notes(vec![help.clone()]);
            }
            match term::emit_into_string(&config, &file, &diagnostic) {
                Ok(text) => {
                    // The first line repeats the message: keep only the excerpt and notes.
                    out.extend(text.lines().skip(1).map(|l| format!("{l}\n")));
                }
                Err(_) => {
                    if let Some(help) = &d.help {
                        out.push_str(&format!("  = {help}\n"));
                    }
                }
            }
        }
        out
    }
}

impl fmt::Display for FileDiagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Errors from loading a scenario file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: super::files::FileError,
    },
    #[error("{0}")]
    Invalid(Box<FileDiagnostics>),
}

impl ScenarioError {
    pub fn invalid(path: &Path, source: &str, items: Vec<Diagnostic>) -> Self {
        ScenarioError::Invalid(Box::new(FileDiagnostics {
            path: path.to_path_buf(),
            source: source.to_string(),
            items,
        }))
    }
}

/// The byte range of the token at `loc` (1-based line and character column).
fn byte_range(source: &str, loc: Loc) -> Option<std::ops::Range<usize>> {
    if loc.line == 0 {
        return None;
    }
    let mut offset = 0usize;
    for (i, line) in source.split_inclusive('\n').enumerate() {
        if i as u64 + 1 == loc.line {
            let col = loc.column.saturating_sub(1) as usize;
            let start = line
                .char_indices()
                .nth(col)
                .map(|(b, _)| b)
                .unwrap_or(line.trim_end_matches('\n').len());
            let token = &line[start..];
            let len = token
                .find(|c: char| c.is_whitespace() || c == ':' || c == ',')
                .unwrap_or(token.trim_end().len())
                .max(1)
                .min(token.len());
            return Some(offset + start..offset + start + len);
        }
        offset += line.len();
    }
    None
}

/// The closest candidate to a misspelt name, if one is close enough to be a typo.
pub fn suggest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wrong_lower = wrong.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&wrong_lower, &c.to_lowercase()),
                c,
            )
        })
        .filter(|(distance, c)| *distance <= (c.len().max(wrong.len()) / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_typos_only() {
        let keys = ["think_time", "steps", "on_start", "weight"];
        assert_eq!(suggest("thinktime", keys), Some("think_time"));
        assert_eq!(suggest("step", keys), Some("steps"));
        assert_eq!(suggest("completely_else", keys), None);
    }

    #[test]
    fn ranges_point_at_the_token() {
        let src = "a: 1\n  thinktime: 2s\n";
        let r = byte_range(src, Loc { line: 2, column: 3 }).unwrap();
        assert_eq!(&src[r], "thinktime");
    }
}
