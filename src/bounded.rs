//! Reading what the outside world sends, with a ceiling. A response body, a
//! gzip stream, a metrics page or a profiler's output file is read chunk by
//! chunk and refused past a limit, so no server and no file can make gander's
//! memory grow without bound (a 2 GiB body or a 1 MiB gzip bomb included).

use std::io::Read;

use crate::format;

/// The most gander reads, decoded, from a metrics page, a health answer or a
/// profile; real ones are kilobytes to a few megabytes.
pub const OBSERVED_LIMIT: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("over {}", format::bytes(*.limit as f64))]
    TooLarge { limit: u64 },
    #[error(transparent)]
    Http(#[from] hyper::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What was read of a body: its first bytes (up to what was asked to be kept)
/// and how many bytes came in all.
#[derive(Debug, Default)]
pub struct Body {
    pub kept: Vec<u8>,
    pub total: u64,
}

/// Reads an HTTP body to its end, keeping its first `keep` bytes and
/// counting the rest (more than `limit` bytes is `TooLarge`: the rest is not
/// read, and dropping the body closes its connection), gunzipping it on the
/// way when `gzip` (`limit` and `keep` then count decoded bytes: a gzip bomb
/// is refused once it has decoded `limit` bytes, whatever it would grow to).
/// An empty body is empty whatever its `Content-Encoding` says: HEAD, 204
/// and 304 answers carry the header of a body they do not have.
pub async fn read_incoming(
    incoming: hyper::body::Incoming,
    gzip: bool,
    keep: usize,
    limit: u64,
) -> Result<Body, ReadError> {
    read_incoming_watched(incoming, gzip, keep, limit, &mut |_| {}).await
}

/// `read_incoming`, handing every (decoded) byte to `watch` as it comes: a
/// check that can look at the body as a stream does not need it kept.
pub async fn read_incoming_watched(
    mut incoming: hyper::body::Incoming,
    gzip: bool,
    keep: usize,
    limit: u64,
    watch: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<Body, ReadError> {
    use std::io::Write;
    let mut sink = Sink {
        body: Body::default(),
        keep,
        limit,
        watch,
    };
    if gzip {
        let mut decoder = flate2::write::GzDecoder::new(&mut sink);
        let mut compressed = 0u64;
        each_chunk(&mut incoming, limit, |data| {
            compressed += data.len() as u64;
            decoder.write_all(data)
        })
        .await?;
        if compressed > 0 {
            decoder.finish().map_err(|e| sink_error(e, limit))?;
        }
    } else {
        each_chunk(&mut incoming, limit, |data| sink.take(data)).await?;
    }
    Ok(sink.body)
}

/// Hands each data chunk of `incoming` to `take`, to the body's end.
async fn each_chunk(
    incoming: &mut hyper::body::Incoming,
    limit: u64,
    mut take: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), ReadError> {
    use http_body_util::BodyExt;
    while let Some(frame) = incoming.frame().await {
        if let Some(data) = frame?.data_ref() {
            take(data).map_err(|e| sink_error(e, limit))?;
        }
    }
    Ok(())
}

/// Where a streamed body goes: its first `keep` bytes kept, all counted and watched.
struct Sink<'w> {
    body: Body,
    keep: usize,
    limit: u64,
    watch: &'w mut (dyn FnMut(&[u8]) + Send),
}

impl Sink<'_> {
    fn take(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.body.total += data.len() as u64;
        if self.body.total > self.limit {
            return Err(std::io::Error::other(TooLargeMarker));
        }
        (self.watch)(data);
        let room = self.keep.saturating_sub(self.body.kept.len());
        if room > 0 {
            self.body
                .kept
                .extend_from_slice(&data[..data.len().min(room)]);
        }
        Ok(())
    }
}

impl std::io::Write for &mut Sink<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.take(data)?;
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("too large")]
struct TooLargeMarker;

fn sink_error(e: std::io::Error, limit: u64) -> ReadError {
    if e.get_ref()
        .is_some_and(|inner| inner.is::<TooLargeMarker>())
    {
        ReadError::TooLarge { limit }
    } else {
        ReadError::Io(e)
    }
}

/// Decompresses a gzip stream, refusing an output over `limit` bytes.
pub fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, ReadError> {
    read_capped(flate2::read::GzDecoder::new(bytes), limit)
}

/// Reads a regular file, refusing one over `limit` bytes (however it grows
/// meanwhile) and anything else: a FIFO would hang, `/dev/zero` never end.
pub fn read_file(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_capped(open_regular(path)?, limit)
}

/// Opens `path` if it is a regular file: without waiting for a FIFO's writer
/// (`O_NONBLOCK`), and with an error that names what it is instead.
pub fn open_regular(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    match special_kind(&file.metadata()?.file_type()) {
        None => Ok(file),
        Some(kind) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is {kind}, not a regular file"),
        )),
    }
}

/// What a file that is not a regular file is, in words; `None` for a regular one.
pub fn special_kind(kind: &std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    Some(if kind.is_file() {
        return None;
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    })
}

fn read_capped(reader: impl Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    // One byte past the limit tells "exactly the limit" from "more".
    reader.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        let err = gunzip(&bomb, 1 << 20).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { limit } if limit == 1 << 20));
        assert_eq!(err.to_string(), "over 1.0 MiB");
    }

    #[test]
    fn a_stream_of_exactly_the_limit_passes() {
        let data = vec![7u8; 4096];
        assert_eq!(gunzip(&gzip(&data), 4096).unwrap(), data);
        assert!(gunzip(&gzip(&data), 4095).is_err());
    }

    #[test]
    fn a_file_over_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [1u8; 100]).unwrap();
        assert_eq!(read_file(&path, 100).unwrap().len(), 100);
        assert!(matches!(
            read_file(&path, 99),
            Err(ReadError::TooLarge { limit: 99 })
        ));
    }

    #[test]
    fn only_regular_files_are_read_and_a_fifo_does_not_wait() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_file(&fifo, 100).unwrap_err().to_string();
        assert_eq!(err, "it is a FIFO, not a regular file");
        let err = read_file(std::path::Path::new("/dev/zero"), 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a character device, not a regular file"
        );
        assert!(read_file(dir.path(), 100).is_err());
    }
}
