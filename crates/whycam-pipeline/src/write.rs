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
    builder.prefix(".whycam-").suffix(".part");
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
