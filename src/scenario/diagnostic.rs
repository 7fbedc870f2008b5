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
    /// A text within the value at `loc` to point at instead of the value's
    /// start (the `${user_index}` inside a string), when it is on that line.
    pub focus: Option<String>,
}

impl Diagnostic {
    pub fn new(loc: Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            loc,
            message: message.into(),
            help: None,
            focus: None,
        }
    }
    /// Points at `text` inside the value at `loc` (when it is on that line).
    pub fn focus(mut self, text: impl Into<String>) -> Self {
        self.focus = Some(text.into());
        self
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
            let (loc, range) = match d.focus.as_deref() {
                Some(text) => focused(&self.source, d.loc, text),
                None => (d.loc, byte_range(&self.source, d.loc)),
            };
            out.push_str(&format!(
                "{}:{}:{}: error: {}\n",
                name, loc.line, loc.column, d.message
            ));
            let mut diagnostic =
                CsDiagnostic::error().with_message(d.message.lines().next().unwrap_or_default());
            if let Some(range) = range {
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

/// Where `text` stands on `loc`'s line, at or after its column, and its byte
/// range; `loc` and its token when it is not there (a value over several lines).
fn focused(source: &str, loc: Loc, text: &str) -> (Loc, Option<std::ops::Range<usize>>) {
    let whole = (loc, byte_range(source, loc));
    let Some(start) = whole.1.as_ref().map(|r| r.start) else {
        return whole;
    };
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let Some(at) = source[start..line_end].find(text).map(|i| start + i) else {
        return whole;
    };
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..at].chars().count() as u64 + 1;
    (
        Loc {
            line: loc.line,
            column,
        },
        Some(at..at + text.len()),
    )
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

    #[test]
    fn a_focus_points_inside_the_value_on_its_line_and_falls_back_to_the_value() {
        let src = "a: 1\nexpect: \"user ${user_index} ok\"\n";
        let at = Loc { line: 2, column: 9 };
        let (loc, range) = focused(src, at, "${user_index}");
        assert_eq!((loc.line, loc.column), (2, 15));
        assert_eq!(&src[range.unwrap()], "${user_index}");
        // Not on that line: the value itself, as without a focus.
        assert_eq!(focused(src, at, "${other}"), (at, byte_range(src, at)));
    }
}
