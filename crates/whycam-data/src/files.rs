//! Opening and reading input files without trusting them: only regular files are read
//! (a named pipe would block forever, `/dev/zero` never ends), their size is checked from
//! the metadata before anything is allocated, and every read stops at the limit even when
//! the file grows while it is read.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{DataError, Result};

/// Opens `path` for reading if it is a regular file (symbolic links followed) of at most
/// `max_bytes`; returns the file and its size.
///
/// The type is checked before opening, since opening a named pipe blocks until a writer
/// comes, and again on the opened file, in case the path was replaced in between (the
/// open itself does not block on Unix: `O_NONBLOCK`).
pub(crate) fn open_regular(path: &Path, max_bytes: u64) -> Result<(File, u64)> {
    let metadata = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    check_metadata(path, &metadata, max_bytes)?;
    let file = open_nonblocking(path).map_err(|e| DataError::io(path, e))?;
    let metadata = file.metadata().map_err(|e| DataError::io(path, e))?;
    check_metadata(path, &metadata, max_bytes)?;
    Ok((file, metadata.len()))
}

/// The size of `path` if it is a regular file (symbolic links followed) of at most
/// `max_bytes`, from its metadata: nothing is opened.
pub(crate) fn regular_file_size(path: &Path, max_bytes: u64) -> Result<u64> {
    let metadata = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    check_metadata(path, &metadata, max_bytes)?;
    Ok(metadata.len())
}

/// Reads the whole regular file `path` of at most `max_bytes`.
pub(crate) fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let (file, size) = open_regular(path, max_bytes)?;
    let mut reader = Bounded::new(file, max_bytes);
    let exceeded = reader.exceeded_flag();
    // The size is checked against the limit above, so this allocation is bounded.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    match reader.read_to_end(&mut bytes) {
        Ok(_) => Ok(bytes),
        Err(_) if exceeded.load(Ordering::Relaxed) => Err(DataError::FileTooLarge {
            path: path.to_path_buf(),
            size: None,
            limit: max_bytes,
        }),
        Err(e) => Err(DataError::io(path, e)),
    }
}

/// Reads the regular file `path` of at most `max_bytes` as UTF-8 text.
pub(crate) fn read_text_bounded(path: &Path, max_bytes: u64) -> Result<String> {
    let bytes = read_bounded(path, max_bytes)?;
    String::from_utf8(bytes).map_err(|_| {
        DataError::io(
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ),
        )
    })
}

fn check_metadata(path: &Path, metadata: &Metadata, max_bytes: u64) -> Result<()> {
    if !metadata.is_file() {
        return Err(DataError::NotRegularFile {
            path: path.to_path_buf(),
            kind: file_kind(metadata),
        });
    }
    if metadata.len() > max_bytes {
        return Err(DataError::FileTooLarge {
            path: path.to_path_buf(),
            size: Some(metadata.len()),
            limit: max_bytes,
        });
    }
    Ok(())
}

/// What a file that is not a regular file is, in words.
fn file_kind(metadata: &Metadata) -> &'static str {
    let kind = metadata.file_type();
    if kind.is_dir() {
        return "directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "named pipe (FIFO)";
        }
        if kind.is_char_device() {
            return "character device";
        }
        if kind.is_block_device() {
            return "block device";
        }
        if kind.is_socket() {
            return "socket";
        }
    }
    "special file"
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK has no effect on reading a regular file; it only keeps `open` from
    // waiting for a writer when a named pipe has taken the path's place.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// A reader that refuses to go past `limit` bytes from the start: reading beyond it is an
/// error (and sets a flag the caller can check, since decoders may wrap or replace the
/// error), while a file that ends at or before the limit reads normally to its end.
pub(crate) struct Bounded<R> {
    inner: R,
    position: u64,
    limit: u64,
    exceeded: Arc<AtomicBool>,
}

impl<R> Bounded<R> {
    /// Reads `inner` from its current position, taken as offset 0, up to `limit` bytes.
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Bounded {
            inner,
            position: 0,
            limit,
            exceeded: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Set once a read found more than `limit` bytes.
    pub(crate) fn exceeded_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.exceeded)
    }

    fn over_limit(&self) -> io::Error {
        self.exceeded.store(true, Ordering::Relaxed);
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("the file holds more than the limit of {} bytes", self.limit),
        )
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let left = self.limit.saturating_sub(self.position);
        if left == 0 {
            // At the limit: the file may end here (fine) or go on (refused).
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(self.over_limit()),
            };
        }
        let len = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for Bounded<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        // Offsets are relative to where the reader started; files start at 0.
        let position = self.inner.seek(pos)?;
        self.position = position;
        Ok(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    #[test]
    fn bounded_reads_up_to_the_limit_and_refuses_more() {
        let data: Vec<u8> = (0..100).collect();
        let mut out = Vec::new();
        Bounded::new(Cursor::new(&data), 100)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data, "a file exactly at the limit reads whole");

        let mut reader = Bounded::new(Cursor::new(&data), 99);
        let flag = reader.exceeded_flag();
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(flag.load(Ordering::Relaxed));
        assert_eq!(out.len(), 99);

        // Seeking back and reading again stays bounded.
        let mut reader = Bounded::new(Cursor::new(&data), 50);
        reader.seek(SeekFrom::Start(40)).unwrap();
        let mut ten = [0u8; 20];
        assert_eq!(reader.read(&mut ten).unwrap(), 10);
        assert!(reader.read(&mut ten).is_err());
    }

    #[test]
    fn a_file_that_grows_after_the_size_check_is_stopped_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("growing.bin");
        std::fs::write(&path, [7u8; 10]).unwrap();
        let (file, size) = open_regular(&path, 64).unwrap();
        assert_eq!(size, 10);
        // Another process appends after the check.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[8u8; 1000])
            .unwrap();
        let mut reader = Bounded::new(file, 64);
        let mut out = Vec::new();
        assert!(reader.read_to_end(&mut out).is_err());
        assert_eq!(out.len(), 64);
    }

    #[test]
    fn only_regular_files_within_the_limit_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ten.bin");
        std::fs::write(&path, [1u8; 10]).unwrap();
        assert_eq!(read_bounded(&path, 10).unwrap(), [1u8; 10]);
        let err = read_bounded(&path, 9).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::FileTooLarge {
                    size: Some(10),
                    limit: 9,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = read_bounded(dir.path(), 10).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::NotRegularFile {
                    kind: "directory",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
