//! CSV data feeders: rows handed to users by cycle, at random, or uniquely.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::files;
use super::model::{FeederMode, FeederPer};
use super::segment::Segment;

/// The largest data file gander reads: its rows stay in memory for the run.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;
/// The most rows gander reads from one data file.
pub const MAX_ROWS: usize = 1_000_000;
/// The most all the data files of a scenario may hold together.
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;

fn too_large(path: &Path) -> FeederError {
    FeederError::TooLarge {
        path: path.to_path_buf(),
        limit: crate::format::bytes(MAX_BYTES as f64),
    }
}

/// Why a data file cannot feed the users; shown at the `csv:` that names it.
#[derive(Debug, thiserror::Error)]
pub enum FeederError {
    #[error("CSV file {} is larger than {limit}, the most gander reads from a data file", path.display())]
    TooLarge { path: PathBuf, limit: String },
    #[error("cannot read CSV file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: files::FileError,
    },
    /// `line` is " line N" when known.
    #[error("CSV file {}{line}: {source}", path.display())]
    Csv {
        path: PathBuf,
        line: String,
        source: csv::Error,
    },
    #[error("CSV file {} has no header row", path.display())]
    NoHeader { path: PathBuf },
    #[error("CSV file {} has more than {rows} rows, the most gander reads from a data file", path.display())]
    TooManyRows { path: PathBuf, rows: String },
    #[error("CSV file {} has a header but no rows", path.display())]
    NoRows { path: PathBuf },
    #[error("the data files hold more than {0} together, the most gander reads")]
    TooMuchTogether(String),
}

#[derive(Debug)]
pub struct Feeder {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub mode: FeederMode,
    pub per: FeederPer,
    /// The size of the file read.
    pub bytes: u64,
    cursor: AtomicUsize,
    /// `--segment i/N`: the k-th row this generator takes is the plan's (k·N + i)-th.
    segment: Segment,
}

impl Feeder {
    /// Reads a CSV file with a header row, of at most `MAX_BYTES` and `MAX_ROWS`.
    /// Errors are user-facing messages.
    pub fn load(
        name: &str,
        path: &Path,
        mode: FeederMode,
        per: FeederPer,
    ) -> Result<Self, FeederError> {
        let file = files::open_regular(path, MAX_BYTES).map_err(|e| match e {
            files::FileError::TooLarge { .. } => too_large(path),
            source => FeederError::Read {
                path: path.to_path_buf(),
                source,
            },
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(file);
        let columns: Vec<String> = reader
            .headers()
            .map_err(|source| FeederError::Csv {
                path: path.to_path_buf(),
                line: String::new(),
                source,
            })?
            .iter()
            .map(str::to_string)
            .collect();
        if columns.is_empty() || columns.iter().all(String::is_empty) {
            return Err(FeederError::NoHeader {
                path: path.to_path_buf(),
            });
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|source| FeederError::Csv {
                path: path.to_path_buf(),
                line: source
                    .position()
                    .map(|p| format!(" line {}", p.line()))
                    .unwrap_or_default(),
                source,
            })?;
            if rows.len() == MAX_ROWS {
                return Err(FeederError::TooManyRows {
                    path: path.to_path_buf(),
                    rows: crate::format::thousands(MAX_ROWS as u64),
                });
            }
            rows.push(record.iter().map(str::to_string).collect());
        }
        // The reader stops one byte past the limit: a file that grew past it.
        if reader.position().byte() > MAX_BYTES {
            return Err(too_large(path));
        }
        if rows.is_empty() {
            return Err(FeederError::NoRows {
                path: path.to_path_buf(),
            });
        }
        Ok(Feeder {
            name: name.to_string(),
            columns,
            rows,
            mode,
            per,
            bytes: reader.position().byte(),
            cursor: AtomicUsize::new(0),
            segment: Segment::WHOLE,
        })
    }

    /// The feeder as `segment` takes its rows: `unique` rows are partitioned
    /// among the segments (none is used twice), `cycle` is the plan's one
    /// sequence dealt out in turn.
    pub fn striped(self, segment: Segment) -> Self {
        Feeder { segment, ..self }
    }

    /// The same rows, taken from the first again (the cost sweep's users).
    pub fn restarted(&self) -> Self {
        Feeder {
            name: self.name.clone(),
            columns: self.columns.clone(),
            rows: self.rows.clone(),
            mode: self.mode,
            per: self.per,
            bytes: self.bytes,
            cursor: AtomicUsize::new(0),
            segment: self.segment,
        }
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The next row for a user, or `None` when a unique feeder has run out.
    /// `random` is a uniform draw in `0..len` supplied by the caller's RNG.
    pub fn take(&self, random: impl FnOnce(usize) -> usize) -> Option<usize> {
        let len = self.rows.len();
        match self.mode {
            FeederMode::Cycle => Some(self.next_global() % len),
            FeederMode::Random => Some(random(len)),
            FeederMode::Unique => {
                let i = self.next_global();
                (i < len).then_some(i)
            }
        }
    }

    /// The plan-wide number of this generator's next take.
    fn next_global(&self) -> usize {
        let k = self.cursor.fetch_add(1, Ordering::Relaxed);
        k.saturating_mul(self.segment.count)
            .saturating_add(self.segment.index)
    }

    pub fn cell(&self, row: usize, column: usize) -> &str {
        self.rows
            .get(row)
            .and_then(|r| r.get(column))
            .map(String::as_str)
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feeder(mode: FeederMode) -> Feeder {
        Feeder {
            name: "f".into(),
            columns: vec!["a".into()],
            rows: vec![vec!["1".into()], vec!["2".into()]],
            mode,
            per: FeederPer::User,
            bytes: 4,
            cursor: AtomicUsize::new(0),
            segment: Segment::WHOLE,
        }
    }

    #[test]
    fn cycle_wraps_and_unique_runs_out() {
        let f = feeder(FeederMode::Cycle);
        let taken: Vec<_> = (0..5).map(|_| f.take(|_| 0).unwrap()).collect();
        assert_eq!(taken, vec![0, 1, 0, 1, 0]);
        let u = feeder(FeederMode::Unique);
        assert_eq!(u.take(|_| 0), Some(0));
        assert_eq!(u.take(|_| 0), Some(1));
        assert_eq!(u.take(|_| 0), None);
    }

    fn rows(n: usize, mode: FeederMode, segment: Segment) -> Feeder {
        Feeder {
            rows: (0..n).map(|i| vec![i.to_string()]).collect(),
            ..feeder(mode).striped(segment)
        }
    }

    #[test]
    fn segments_partition_unique_rows_and_deal_the_cycle() {
        for count in 1..=5 {
            for n in [1, 7, 10, 23] {
                let mut seen = vec![0; n];
                for index in 0..count {
                    let f = rows(n, FeederMode::Unique, Segment { index, count });
                    let taken: Vec<usize> = std::iter::from_fn(|| f.take(|_| 0)).collect();
                    assert_eq!(taken.len(), Segment { index, count }.share(n));
                    for row in taken {
                        seen[row] += 1;
                    }
                }
                assert!(seen.iter().all(|s| *s == 1), "{count} x {n}: {seen:?}");
            }
        }
        // A cycle's takes, interleaved across the segments, are one generator's.
        let whole = rows(5, FeederMode::Cycle, Segment::WHOLE);
        let single: Vec<usize> = (0..12).map(|_| whole.take(|_| 0).unwrap()).collect();
        let parts: Vec<Feeder> = (0..3)
            .map(|index| rows(5, FeederMode::Cycle, Segment { index, count: 3 }))
            .collect();
        let dealt: Vec<usize> = (0..12).map(|k| parts[k % 3].take(|_| 0).unwrap()).collect();
        assert_eq!(dealt, single);
    }
}
