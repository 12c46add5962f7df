//! IDX files (MNIST, Fashion-MNIST), raw or gzipped: `{train|t10k}-images-idx3-ubyte[.gz]`
//! with `{train|t10k}-labels-idx1-ubyte[.gz]` (also `.idx3-ubyte` spellings). Grey images
//! become RGB with three equal channels.

use super::{Dataset, MAX_DATA_BYTES, Split};
use crate::decode::DecodeLimits;
use crate::error::{DataError, Result};
use crate::files::{Bounded, open_regular};
use image::RgbImage;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

const FASHION: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// An IDX image file with its label file.
#[derive(Debug)]
pub struct Idx {
    classes: Vec<String>,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    rows: u32,
    columns: u32,
    file: String,
}

impl Idx {
    /// The split's `(images, labels)` files in `dir`, if both are there.
    pub fn find(dir: &Path, split: Split) -> Option<(PathBuf, PathBuf)> {
        let prefixes: &[&str] = match split {
            Split::Train => &["train"],
            Split::Test => &["t10k", "test"],
        };
        let mut images = None;
        let mut labels = None;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
            if !prefixes.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            if name.contains("images") && name.contains("idx3") {
                images.get_or_insert(path);
            } else if name.contains("labels") && name.contains("idx1") {
                labels.get_or_insert(path);
            }
        }
        images.zip(labels)
    }

    /// Opens the split in `dir`. Ten classes get Fashion-MNIST's names when `dir`'s name
    /// mentions fashion, else the digits.
    pub fn open_dir(dir: &Path, split: Split) -> Result<Self> {
        let (images, labels) = Self::find(dir, split).ok_or_else(|| {
            DataError::dataset(
                dir,
                format!(
                    "no {}-images-idx3-ubyte / labels-idx1-ubyte pair",
                    split.name()
                ),
            )
        })?;
        let fashion = dir
            .to_string_lossy()
            .to_ascii_lowercase()
            .contains("fashion");
        Self::open(&images, &labels, fashion)
    }

    /// Opens an image file and its label file.
    pub fn open(images: &Path, labels: &Path, fashion: bool) -> Result<Self> {
        // Each sample becomes an RGB image: its size is bounded like a decoded image's,
        // before the data is read.
        let image_size = |dims: &[u32]| {
            let (rows, columns) = (dims[1], dims[2]);
            let pixels = u64::from(rows) * u64::from(columns);
            if pixels > DecodeLimits::DEFAULT_MAX_PIXELS {
                return Err(DataError::limits(
                    images,
                    format!(
                        "images of {rows}x{columns} px = {pixels} pixels exceed the limit of {}",
                        DecodeLimits::DEFAULT_MAX_PIXELS
                    ),
                ));
            }
            Ok(())
        };
        let (dims, pixels) = parse(images, 3, &image_size)?;
        let (label_dims, label_bytes) = parse(labels, 1, &|_| Ok(()))?;
        let (count, rows, columns) = (dims[0], dims[1], dims[2]);
        if label_dims[0] != count {
            return Err(DataError::dataset(
                labels,
                format!(
                    "{} labels for {count} images in {}",
                    label_dims[0],
                    images.display()
                ),
            ));
        }
        let max = label_bytes.iter().copied().max().unwrap_or(0);
        let classes = if fashion && max < 10 {
            FASHION.iter().map(|s| s.to_string()).collect()
        } else {
            (0..=max.max(9)).map(|i| i.to_string()).collect()
        };
        Ok(Self {
            classes,
            pixels,
            labels: label_bytes,
            rows,
            columns,
            file: images.display().to_string(),
        })
    }
}

/// Reads an IDX file of unsigned bytes with `ndims` dimensions: its dimensions and data.
///
/// The size the dimensions declare is computed with checked arithmetic and refused over
/// [`MAX_DATA_BYTES`]; `check_dims` may refuse the dimensions too. A raw file must hold
/// exactly that many bytes (checked from its length before anything is read), a gzipped
/// one is decompressed no further than that.
fn parse(
    path: &Path,
    ndims: usize,
    check_dims: &dyn Fn(&[u32]) -> Result<()>,
) -> Result<(Vec<u32>, Vec<u8>)> {
    let (file, size) = open_regular(path, MAX_DATA_BYTES)?;
    let bounded = Bounded::new(file, MAX_DATA_BYTES);
    let exceeded = bounded.exceeded_flag();
    let mut buffered = BufReader::new(bounded);
    let gzipped = buffered
        .fill_buf()
        .map_err(|e| DataError::io(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read> = if gzipped {
        Box::new(flate2::read::GzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let read_error = |e: std::io::Error| {
        if exceeded.load(Ordering::Relaxed) {
            DataError::FileTooLarge {
                path: path.to_path_buf(),
                size: None,
                limit: MAX_DATA_BYTES,
            }
        } else if gzipped {
            DataError::dataset(path, format!("gzip: {e}"))
        } else {
            DataError::io(path, e)
        }
    };

    let header_len = 4 + 4 * ndims;
    let mut header = vec![0u8; header_len];
    let mut got = 0;
    while got < header_len {
        match reader.read(&mut header[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(e)),
        }
    }
    if got < 4 || header[0] != 0 || header[1] != 0 {
        return Err(DataError::dataset(
            path,
            "not an IDX file (bad magic number)",
        ));
    }
    if header[2] != 0x08 || usize::from(header[3]) != ndims {
        return Err(DataError::dataset(
            path,
            format!(
                "expected unsigned bytes in {ndims} dimensions, got type 0x{:02x} in {}",
                header[2], header[3]
            ),
        ));
    }
    if got < header_len {
        return Err(DataError::dataset(
            path,
            "not an IDX file (bad magic number)",
        ));
    }
    let dims: Vec<u32> = header[4..]
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let what = format!("dimensions {dims:?}");
    let declared = dims
        .iter()
        .try_fold(1u64, |bytes, &d| bytes.checked_mul(u64::from(d)));
    let expected = match declared {
        Some(0) => return Err(DataError::dataset(path, format!("{what} hold no data"))),
        Some(bytes) if bytes <= MAX_DATA_BYTES => bytes,
        _ => {
            return Err(DataError::DeclaredSize {
                path: path.to_path_buf(),
                what,
                declared,
                limit: MAX_DATA_BYTES,
            });
        }
    };
    check_dims(&dims)?;
    let mismatch = |found: String| {
        DataError::dataset(
            path,
            format!("{what} need {expected} bytes of data, found {found}"),
        )
    };
    if !gzipped {
        // The file's length must match before a byte is read or allocated.
        let found = size.saturating_sub(header_len as u64);
        if found != expected {
            return Err(mismatch(found.to_string()));
        }
    }
    // A raw file's length is known to match, so its buffer is allocated once; a gzipped
    // file's grows with what actually decompresses, so a header alone allocates little.
    let capacity = if gzipped {
        expected.min(64 * 1024 * 1024)
    } else {
        expected
    };
    let mut data = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    reader
        .take(expected + 1)
        .read_to_end(&mut data)
        .map_err(read_error)?;
    if data.len() as u64 != expected {
        let found = if data.len() as u64 > expected {
            "more".to_string()
        } else {
            data.len().to_string()
        };
        return Err(mismatch(found));
    }
    Ok((dims, data))
}

impl Dataset for Idx {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn label(&self, index: usize) -> usize {
        usize::from(self.labels[index])
    }
    fn image(&self, index: usize) -> Result<RgbImage> {
        let columns = self.columns as usize;
        let size = self.rows as usize * columns;
        let grey = &self.pixels[index * size..(index + 1) * size];
        Ok(RgbImage::from_fn(self.columns, self.rows, |x, y| {
            image::Rgb([grey[y as usize * columns + x as usize]; 3])
        }))
    }
    fn describe(&self, index: usize) -> String {
        format!("{}#{index}", self.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An IDX file of bytes with `dims`, gzipped when `gz`.
    pub fn idx_bytes(dims: &[u32], data: &[u8], gz: bool) -> Vec<u8> {
        let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend(data);
        if !gz {
            return bytes;
        }
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn raw_and_gzipped_files_in_a_fashion_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("fashion-mnist");
        std::fs::create_dir(&dir).unwrap();
        // Two 2×3 images (rows 2, columns 3).
        let pixels: Vec<u8> = (0..12).collect();
        std::fs::write(
            dir.join("t10k-images-idx3-ubyte.gz"),
            idx_bytes(&[2, 2, 3], &pixels, true),
        )
        .unwrap();
        std::fs::write(
            dir.join("t10k-labels-idx1-ubyte"),
            idx_bytes(&[2], &[7, 9], false),
        )
        .unwrap();
        let d = Idx::open_dir(&dir, Split::Test).unwrap();
        assert_eq!((d.len(), d.label(1)), (2, 9));
        assert_eq!(d.classes()[7], "Sneaker");
        let image = d.image(1).unwrap();
        assert_eq!(image.dimensions(), (3, 2));
        assert_eq!(image.get_pixel(2, 1).0, [11, 11, 11]);
        assert!(Idx::open_dir(&dir, Split::Train).is_err());
    }

    #[test]
    fn wrong_magic_and_short_data_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let images = tmp.path().join("train-images-idx3-ubyte");
        let labels = tmp.path().join("train-labels-idx1-ubyte");
        std::fs::write(&labels, idx_bytes(&[1], &[3], false)).unwrap();
        std::fs::write(
            &images,
            [0, 0, 0x0d, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0],
        )
        .unwrap();
        let e = Idx::open(&images, &labels, false).unwrap_err().to_string();
        assert!(
            e.contains("train-images-idx3-ubyte") && e.contains("type 0x0d"),
            "{e}"
        );
        std::fs::write(&images, idx_bytes(&[1, 28, 28], &[0; 100], false)).unwrap();
        let e = Idx::open(&images, &labels, false).unwrap_err().to_string();
        assert!(e.contains("784 bytes"), "{e}");
        std::fs::write(&images, idx_bytes(&[2, 1, 1], &[0, 0], false)).unwrap();
        let e = Idx::open(&images, &labels, false).unwrap_err().to_string();
        assert!(e.contains("1 labels for 2 images"), "{e}");
    }
}
