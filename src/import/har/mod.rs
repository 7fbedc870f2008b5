//! `gander import har`: the requests of a browser session, in order, as the
//! steps of one scenario. Static assets and other hosts are left out unless
//! asked for; the think time comes from the recorded gaps; and every value the
//! service handed out (a token or id in a JSON body, a response header, a
//! cookie) that the browser later sent back is captured where it first
//! appeared and sent as `${var}`, so the scenario works when the service hands
//! out new values (correlation).
//!
//! The import runs in passes, one module each: `parse` (the entries, typed,
//! read as a stream) → `filter` (which requests become steps) → `correlate`
//! (what each response handed out and which later request sent it back) →
//! emit (`step` writes each request, `scenario` lays out the file).

mod correlate;
mod filter;
mod parse;
mod scenario;
mod step;

use std::path::Path;
use std::time::Duration;

#[cfg(test)]
use super::Input;
use super::{Generated, ImportError, Origin};

pub use parse::MAX_HAR;

/// What `gander import har` was asked for.
#[derive(Debug, Clone)]
pub struct HarOptions {
    /// Hosts besides the session's own to keep (`api.example.com` or `host:port`).
    pub include_hosts: Vec<String>,
    /// Keep images, scripts, style sheets and fonts.
    pub include_static: bool,
    /// The longest recorded pause taken as think time.
    pub max_think: Duration,
}

impl Default for HarOptions {
    fn default() -> Self {
        HarOptions {
            include_hosts: Vec::new(),
            include_static: false,
            max_think: Duration::from_secs(5),
        }
    }
}

/// Imports a HAR recording held in memory (the unit tests' way in).
#[cfg(test)]
pub fn import(input: &Input, options: &HarOptions) -> Result<Generated, ImportError> {
    let entries = parse::parse(input.text.as_bytes(), || Ok(input.clone()))?;
    passes(&input.origin, entries, options)
}

/// Imports a HAR file, read as a stream (at most `MAX_HAR` bytes).
pub fn import_file(path: &Path, options: &HarOptions) -> Result<Generated, ImportError> {
    let entries = parse::read_file(path)?;
    passes(&Origin::File(path.to_path_buf()), entries, options)
}

fn passes(
    origin: &Origin,
    entries: Vec<parse::Entry>,
    options: &HarOptions,
) -> Result<Generated, ImportError> {
    let total = entries.len();
    let (recorded, skipped) = parse::recorded(entries);
    let filtered = filter::filter(origin, recorded, skipped, total, options)?;
    let correlated = correlate::correlate(&filtered);
    Ok(scenario::emit(
        origin, total, &filtered, correlated, options,
    ))
}

#[cfg(test)]
mod tests;
