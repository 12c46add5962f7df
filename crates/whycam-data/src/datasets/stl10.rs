//! STL-10's binary files: `stl10_binary/{train,test}_X.bin` (N × 3 × 96 × 96 bytes, each
//! channel stored column by column) and `{train,test}_y.bin` (one byte per image, 1 to 10),
//! with `class_names.txt`.

use super::{Dataset, MAX_DATA_BYTES, Split, class_names, from_planes, read};
use crate::error::{DataError, Result};
use crate::files::regular_file_size;
use image::RgbImage;
use std::path::Path;

const SIDE: u32 = 96;
const IMAGE_BYTES: usize = 3 * (SIDE * SIDE) as usize;
const CLASSES: [&str; 10] = [
    "airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck",
];

/// The labelled STL-10 splits.
#[derive(Debug)]
pub struct Stl10 {
    classes: Vec<String>,
    images: Vec<u8>,
    labels: Vec<u8>,
    file: String,
}

impl Stl10 {
    /// Reads `dir/{split}_X.bin` and `dir/{split}_y.bin` into memory.
    pub fn open(dir: &Path, split: Split) -> Result<Self> {
        let x = dir.join(format!("{}_X.bin", split.name()));
        let y = dir.join(format!("{}_y.bin", split.name()));
        // Both sizes are checked from the metadata before either file is read, and again
        // on what was read, in case a file changed meanwhile.
        check_sizes(
            &x,
            &y,
            regular_file_size(&x, MAX_DATA_BYTES)?,
            regular_file_size(&y, MAX_DATA_BYTES)?,
        )?;
        let images = read(&x)?;
        let labels = read(&y)?;
        check_sizes(&x, &y, images.len() as u64, labels.len() as u64)?;
        if let Some(i) = labels.iter().position(|&l| !(1..=10).contains(&l)) {
            return Err(DataError::dataset(
                &y,
                format!("label {} of image {i} is outside 1..=10", labels[i]),
            ));
        }
        Ok(Self {
            classes: class_names(&dir.join("class_names.txt"), &CLASSES)?,
            images,
            labels,
            file: x.display().to_string(),
        })
    }
}

/// Refuses an image file of `x_size` bytes that is not a whole number of images, or a label
/// file of `y_size` bytes that does not hold one label per image.
fn check_sizes(x: &Path, y: &Path, x_size: u64, y_size: u64) -> Result<()> {
    let image_bytes = IMAGE_BYTES as u64;
    if x_size == 0 || !x_size.is_multiple_of(image_bytes) {
        return Err(DataError::dataset(
            x,
            format!("{x_size} bytes is not a whole number of 3x96x96 images"),
        ));
    }
    let count = x_size / image_bytes;
    if y_size != count {
        return Err(DataError::dataset(
            y,
            format!("{y_size} labels for {count} images in {}", x.display()),
        ));
    }
    Ok(())
}

impl Dataset for Stl10 {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn label(&self, index: usize) -> usize {
        usize::from(self.labels[index] - 1)
    }
    fn image(&self, index: usize) -> Result<RgbImage> {
        let bytes = &self.images[index * IMAGE_BYTES..(index + 1) * IMAGE_BYTES];
        Ok(from_planes(bytes, SIDE, SIDE, true))
    }
    fn describe(&self, index: usize) -> String {
        format!("{}#{index}", self.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_major_planes_and_one_based_labels() {
        let dir = tempfile::tempdir().unwrap();
        let mut x = vec![0u8; 2 * IMAGE_BYTES];
        // Image 1: red plane value at (x = 1, y = 0) is stored at column 1, row 0 = byte 96.
        x[IMAGE_BYTES + 96] = 200;
        // Its blue plane at (x = 0, y = 2): byte 2 of the third plane.
        x[IMAGE_BYTES + 2 * (IMAGE_BYTES / 3) + 2] = 50;
        std::fs::write(dir.path().join("test_X.bin"), &x).unwrap();
        std::fs::write(dir.path().join("test_y.bin"), [10u8, 1]).unwrap();
        let d = Stl10::open(dir.path(), Split::Test).unwrap();
        assert_eq!((d.len(), d.label(0), d.label(1)), (2, 9, 0));
        assert_eq!(d.classes()[9], "truck");
        let image = d.image(1).unwrap();
        assert_eq!(image.dimensions(), (96, 96));
        assert_eq!(image.get_pixel(1, 0).0, [200, 0, 0]);
        assert_eq!(image.get_pixel(0, 2).0, [0, 0, 50]);
        assert!(d.describe(1).ends_with("test_X.bin#1"));
    }

    #[test]
    fn truncated_files_and_bad_labels_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train_X.bin"), vec![0u8; IMAGE_BYTES + 5]).unwrap();
        std::fs::write(dir.path().join("train_y.bin"), [1u8]).unwrap();
        let e = Stl10::open(dir.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("train_X.bin") && e.contains("whole number"),
            "{e}"
        );
        std::fs::write(dir.path().join("train_X.bin"), vec![0u8; IMAGE_BYTES]).unwrap();
        std::fs::write(dir.path().join("train_y.bin"), [11u8]).unwrap();
        assert!(
            Stl10::open(dir.path(), Split::Train)
                .unwrap_err()
                .to_string()
                .contains("outside")
        );
    }
}
