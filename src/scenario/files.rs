//! Reading the files a scenario names (the scenario file itself, its CSV data)
//! with bounds: only regular files, and never more than a set size, so a FIFO
//! does not hang `check` and `/dev/zero` does not fill the memory.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The largest scenario file gander reads.
pub const MAX_SCENARIO_BYTES: u64 = 16 * 1024 * 1024;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("it is {kind}, not a regular file")]
    NotRegular { kind: &'static str },
    #[error("it is larger than {}, the most gander reads", crate::format::bytes(*limit as f64))]
    TooLarge { limit: u64 },
    /// The first byte that is not UTF-8, where it is, and the text before it.
    #[error("line {line}, column {column}: byte 0x{byte:02x} is not UTF-8")]
    NotUtf8 {
        line: usize,
        column: usize,
        byte: u8,
        text: String,
    },
}

/// SHA-256 of the file at `path`, in hex as `sha256sum` prints it.
pub fn sha256(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    Some(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// Opens `path` if it is a regular file of at most `limit` bytes; the file
/// reads at most one byte more than `limit`, so a file that grows is caught too.
pub fn open_regular(path: &Path, limit: u64) -> Result<std::io::Take<File>, FileError> {
    // Without O_NONBLOCK, opening a FIFO waits for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if let Some(kind) = crate::bounded::special_kind(&meta.file_type()) {
        return Err(FileError::NotRegular { kind });
    }
    if meta.len() > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok(file.take(limit.saturating_add(1)))
}

/// The text of a regular file of at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, FileError> {
    let mut bytes = Vec::new();
    open_regular(path, limit)?.read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { limit });
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let good = e.utf8_error().valid_up_to();
        let before = String::from_utf8_lossy(&bytes[..good]);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        FileError::NotUtf8 {
            line,
            column,
            byte: bytes[good],
            text: String::from_utf8_lossy(bytes).into_owned(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yaml");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read_text(&path, 10).unwrap(), "0123456789");
        assert!(matches!(
            read_text(&path, 9),
            Err(FileError::TooLarge { limit: 9 })
        ));
        let err = read_text(Path::new("/dev/zero"), 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a character device, not a regular file"
        );
        let err = read_text(dir.path(), 10).unwrap_err();
        assert_eq!(err.to_string(), "it is a directory, not a regular file");
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path in a fresh temporary directory.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = read_text(&fifo, 10).unwrap_err();
        assert_eq!(err.to_string(), "it is a FIFO, not a regular file");
    }

    #[test]
    fn a_file_that_claims_no_size_is_still_bounded() {
        // /proc files report a size of 0 whatever they hold.
        let err = read_text(Path::new("/proc/self/maps"), 8).unwrap_err();
        assert!(matches!(err, FileError::TooLarge { limit: 8 }), "{err}");
    }
}
