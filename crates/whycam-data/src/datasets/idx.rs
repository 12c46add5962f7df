//! IDX files (MNIST, Fashion-MNIST), raw or gzipped: `{train|t10k}-images-idx3-ubyte[.gz]`
//! with `{train|t10k}-labels-idx1-ubyte[.gz]` (also `.idx3-ubyte` spellings). Grey images
//! become RGB with three equal channels.

use super::{Dataset, Split, read};
use crate::error::{DataError, Result};
use image::RgbImage;
use std::io::Read;
use std::path::{Path, PathBuf};

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
        let (dims, pixels) = parse(images, 3)?;
        let (label_dims, label_bytes) = parse(labels, 1)?;
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
fn parse(path: &Path, ndims: usize) -> Result<(Vec<u32>, Vec<u8>)> {
    let raw = read(path)?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::dataset(path, format!("gzip: {e}")))?;
        out
    } else {
        raw
    };
    let header = 4 + 4 * ndims;
    if bytes.len() < header || bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::dataset(
            path,
            "not an IDX file (bad magic number)",
        ));
    }
    if bytes[2] != 0x08 || usize::from(bytes[3]) != ndims {
        return Err(DataError::dataset(
            path,
            format!(
                "expected unsigned bytes in {ndims} dimensions, got type 0x{:02x} in {}",
                bytes[2], bytes[3]
            ),
        ));
    }
    let dims: Vec<u32> = bytes[4..header]
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let expected: usize = dims.iter().map(|&d| d as usize).product();
    let data = bytes[header..].to_vec();
    if data.len() != expected || expected == 0 {
        return Err(DataError::dataset(
            path,
            format!(
                "dimensions {dims:?} need {expected} bytes of data, found {}",
                data.len()
            ),
        ));
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
        let size = (self.rows * self.columns) as usize;
        let grey = &self.pixels[index * size..(index + 1) * size];
        Ok(RgbImage::from_fn(self.columns, self.rows, |x, y| {
            image::Rgb([grey[(y * self.columns + x) as usize]; 3])
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
