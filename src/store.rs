//! The run directory: `reports/<run-id>/` with `run.json`, the HDR interval
//! log, the profile's files and every exporter's file. Written atomically file
//! by file; read back by `gander report`, `gander compare` and `--baseline`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::result::{OLDEST_READ_VERSION, RunResult, SCHEMA_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{} is not a gander run directory: {reason}", dir.display())]
    NotARun { dir: PathBuf, reason: String },
}

fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        what: what.to_string(),
        source,
    }
}

pub const INTERVAL_LOG: &str = "latency.hlog";
/// Server-header values per second and request name (an HdrHistogram interval log).
pub const HEADER_LOG: &str = "headers.hlog";

/// A fresh directory name under `root`: `<timestamp>-<name>`, with a suffix if taken.
pub fn create(root: &Path, run_id: &str) -> Result<(PathBuf, String), StoreError> {
    fs::create_dir_all(root).map_err(io_error(&root.display().to_string()))?;
    let mut id = run_id.to_string();
    for n in 2.. {
        let dir = root.join(&id);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok((dir, id)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {
                id = format!("{run_id}-{n}");
            }
            Err(e) => return Err(io_error(&dir.display().to_string())(e)),
        }
    }
    unreachable!("the loop returns")
}

/// Held by the gander writing a run directory, for as long as it writes it: the
/// kernel lets go of it however gander ends, so a `running` run.json whose
/// lock is free was left by a gander that was killed.
pub struct RunLock {
    _file: fs::File,
    path: PathBuf,
}

const LOCK_FILE: &str = ".gander.lock";

impl RunLock {
    pub fn take(dir: &Path) -> Result<RunLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let what = path.display().to_string();
        let file = fs::File::create(&path).map_err(io_error(&what))?;
        if !try_lock(&file) {
            return Err(io_error(&what)(std::io::Error::other(
                "another gander is writing this run directory",
            )));
        }
        Ok(RunLock { _file: file, path })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Space held on the run directory's disk while the run goes, given back
/// before the run's last files are written: a disk that fills during the run
/// still takes the final `run.json` and the reports.
pub struct Reserve {
    path: PathBuf,
}

/// What the reserve holds: far more than run.json and the summaries need.
pub const RESERVE_BYTES: i64 = 4 << 20;
const RESERVE_FILE: &str = ".gander.reserve";

impl Reserve {
    /// Holds `RESERVE_BYTES` in `dir`; `None` when the disk has not that much.
    pub fn take(dir: &Path) -> Option<Reserve> {
        use std::os::fd::AsRawFd;
        let path = dir.join(RESERVE_FILE);
        let file = fs::File::create(&path).ok()?;
        // SAFETY: posix_fallocate on a descriptor this function owns.
        let held = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, RESERVE_BYTES) } == 0;
        if !held {
            drop(file);
            let _ = fs::remove_file(&path);
            return None;
        }
        Some(Reserve { path })
    }
}

impl Drop for Reserve {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether a gander is writing `dir` now.
pub fn is_being_written(dir: &Path) -> bool {
    match fs::File::open(dir.join(LOCK_FILE)) {
        Ok(file) => !try_lock(&file),
        Err(_) => false,
    }
}

/// Removes the lock file a killed gander left behind.
pub fn remove_stale_lock(dir: &Path) {
    let _ = fs::remove_file(dir.join(LOCK_FILE));
}

/// An exclusive, non-blocking `flock` on `file` (released when it closes).
fn try_lock(file: &fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function borrows.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Writes `bytes` to `dir/name` through a temporary file, so a reader never sees half a file.
/// A write that fails (a full disk) leaves no temporary file behind, and the
/// file as it was before (a checkpoint, a log written as the run went).
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let what = path.display().to_string();
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(io_error(&what))
}

/// The largest run.json gander reads back (a long run's is tens of megabytes).
const RUN_JSON_LIMIT: u64 = 1 << 30;

/// Reads `run.json` back from a run directory.
pub fn read(dir: &Path) -> Result<RunResult, StoreError> {
    let path = dir.join("run.json");
    let not_a_run = |reason: String| StoreError::NotARun {
        dir: dir.to_path_buf(),
        reason,
    };
    // A regular file only, and bounded: a run.json that is a FIFO or
    // /dev/zero is refused at once, not waited for or read for ever.
    let bytes = crate::bounded::read_file(&path, RUN_JSON_LIMIT)
        .map_err(|e| not_a_run(format!("cannot read run.json: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| not_a_run(format!("run.json is not UTF-8 text: {e}")))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| not_a_run(format!("run.json is not JSON: {e}")))?;
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if (OLDEST_READ_VERSION as u64..=SCHEMA_VERSION as u64).contains(&v) => {}
        Some(v) => {
            return Err(not_a_run(format!(
                "run.json has schema version {v}; this gander reads versions \
                 {OLDEST_READ_VERSION} to {SCHEMA_VERSION}{}",
                if v < SCHEMA_VERSION as u64 {
                    " (version 1 latencies mixed failed requests in with successful ones, \
                     so its figures cannot be judged as this version's): run the test again, \
                     or re-render it with the gander that wrote it"
                } else {
                    ": re-render it with the newer gander that wrote it"
                }
            )));
        }
        None => return Err(not_a_run("run.json has no schema_version".into())),
    }
    serde_json::from_value(value)
        .map_err(|e| not_a_run(format!("run.json does not match the schema: {e}")))
}

/// A file-name-safe form of a name (a run's, a request's): lower-case ASCII
/// letters and digits, `-` for the rest, at most 40 characters.
pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "run".into()
    } else {
        s.chars().take(40).collect()
    }
}
