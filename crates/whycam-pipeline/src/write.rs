//! Writing output files whole or not at all: each goes to a temporary file in its directory
//! and is renamed over its name when complete, so an interrupted run never leaves a
//! half-written PNG, array or summary behind.

use crate::error::{PipelineError, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically.
pub fn atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    with_writer(path, |w| w.write_all(bytes))
}

/// Runs `write` on a buffered temporary file beside `path`, then renames it to `path`.
pub fn with_writer(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let fail = PipelineError::io("writing", path);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(PART_PREFIX).suffix(PART_SUFFIX);
    // Outputs are for sharing: the usual 0666 less the umask, not a temporary file's 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut file = builder
        .tempfile_in(dir)
        .map_err(PipelineError::io("writing", path))?;
    {
        let mut buffered = std::io::BufWriter::new(file.as_file_mut());
        write(&mut buffered)
            .and_then(|()| buffered.flush())
            .map_err(PipelineError::io("writing", path))?;
    }
    file.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Saves `image` as PNG at `path`.
pub fn png(image: &image::RgbImage, path: &Path) -> Result<()> {
    encoded(image, image::ImageFormat::Png, path)
}

/// Saves `image` as JPEG at `path`.
pub fn jpeg(image: &image::RgbImage, path: &Path) -> Result<()> {
    encoded(image, image::ImageFormat::Jpeg, path)
}

/// Saves `image` in `format` at `path` (the encoder's defaults, as `image::save` has them).
fn encoded(image: &image::RgbImage, format: image::ImageFormat, path: &Path) -> Result<()> {
    with_writer(path, |w| {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut bytes, format)
            .map_err(std::io::Error::other)?;
        w.write_all(bytes.get_ref())
    })
}

/// Writes `data` as a float32 `.npy` array of `shape` (C order).
pub fn npy(path: &Path, shape: &[u64], data: &[f32]) -> Result<()> {
    use npyz::WriterBuilder;
    with_writer(path, |w| {
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(w)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()
    })
}

/// A directory a run writes into, held for that run alone: `DIR/.whycam.lock` holds the
/// process id, and is removed when the lock is dropped. A lock left by a process that no
/// longer runs (killed) is taken over.
#[derive(Debug)]
pub struct DirLock {
    path: std::path::PathBuf,
}

impl DirLock {
    /// The lock file's name.
    pub const FILE: &'static str = ".whycam.lock";

    /// Locks `dir` (which must exist) for this process, or says which run holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(Self::FILE);
        let me = std::process::id();
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(me.to_string().as_bytes())
                        .map_err(PipelineError::io("writing", &path))?;
                    remove_stale_parts(dir);
                    return Ok(DirLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if pid != me && process_runs(pid) => {
                            return Err(PipelineError::DirectoryInUse {
                                dir: dir.to_path_buf(),
                                pid,
                                lock: path,
                            });
                        }
                        // Stale (its process is gone) or unreadable: take it over.
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(PipelineError::io("creating", &path)(e)),
            }
        }
        Err(PipelineError::DirectoryInUse {
            dir: dir.to_path_buf(),
            pid: 0,
            lock: path,
        })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes the temporary files a killed run left in `dir` (no other run writes there while
/// the lock is held).
fn remove_stale_parts(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PART_PREFIX) && name.ends_with(PART_SUFFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Temporary files are `.whycam-` + random letters + `.part`.
const PART_PREFIX: &str = ".whycam-";
const PART_SUFFIX: &str = ".part";

/// Whether process `pid` is running (on Linux, by its `/proc` entry; elsewhere assumed).
fn process_runs(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// `image` as the PNG bytes [`png`] writes, for a front end that shows it without a file (a
/// notebook).
pub fn png_bytes(image: &image::RgbImage) -> std::io::Result<Vec<u8>> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(std::io::Error::other)?;
    Ok(bytes.into_inner())
}
