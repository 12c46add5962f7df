//! CIFAR-10's binary version: `cifar-10-batches-bin/data_batch_{1..5}.bin` (train) and
//! `test_batch.bin`, records of one label byte and 3 × 32 × 32 bytes (R, G, B planes, row by
//! row), with `batches.meta.txt` naming the classes.

use super::{Dataset, MAX_DATA_BYTES, Split, class_names, from_planes, read};
use crate::error::{DataError, Result};
use crate::files::regular_file_size;
use image::RgbImage;
use std::path::Path;

const SIDE: u32 = 32;
const RECORD: usize = 1 + 3 * (SIDE * SIDE) as usize;
const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// CIFAR-10's train or test batches.
#[derive(Debug)]
pub struct Cifar10 {
    classes: Vec<String>,
    records: Vec<u8>,
    /// `(first index, file)` of each batch file, for messages.
    files: Vec<(usize, String)>,
}

impl Cifar10 {
    /// Reads the split's batch files into memory.
    pub fn open(dir: &Path, split: Split) -> Result<Self> {
        let names: Vec<String> = match split {
            Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Split::Test => vec!["test_batch.bin".into()],
        };
        let classes = class_names(&dir.join("batches.meta.txt"), &CLASSES)?;
        // Every batch's size is checked from its metadata before any is read.
        let mut total = 0u64;
        for name in &names {
            let path = dir.join(name);
            let size = regular_file_size(&path, MAX_DATA_BYTES)?;
            check_records(&path, size)?;
            total = total.saturating_add(size);
            if total > MAX_DATA_BYTES {
                return Err(DataError::dataset(
                    dir,
                    format!("the batch files hold more than the limit of {MAX_DATA_BYTES} bytes"),
                ));
            }
        }
        let mut records = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut files = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let bytes = read(&path)?;
            // The file may have changed since its size was checked.
            check_records(&path, bytes.len() as u64)?;
            if let Some(bad) = bytes
                .chunks(RECORD)
                .position(|r| usize::from(r[0]) >= classes.len())
            {
                return Err(DataError::dataset(
                    &path,
                    format!(
                        "record {bad} has label {}, beyond the {} classes",
                        bytes[bad * RECORD],
                        classes.len()
                    ),
                ));
            }
            files.push((records.len() / RECORD, path.display().to_string()));
            records.extend(bytes);
        }
        Ok(Self {
            classes,
            records,
            files,
        })
    }
}

/// Refuses a batch file of `size` bytes that is not a whole number of records.
fn check_records(path: &Path, size: u64) -> Result<()> {
    if size == 0 || !size.is_multiple_of(RECORD as u64) {
        return Err(DataError::dataset(
            path,
            format!("{size} bytes is not a whole number of {RECORD}-byte records"),
        ));
    }
    Ok(())
}

impl Dataset for Cifar10 {
    fn len(&self) -> usize {
        self.records.len() / RECORD
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn label(&self, index: usize) -> usize {
        usize::from(self.records[index * RECORD])
    }
    fn image(&self, index: usize) -> Result<RgbImage> {
        let record = &self.records[index * RECORD..(index + 1) * RECORD];
        Ok(from_planes(&record[1..], SIDE, SIDE, false))
    }
    fn describe(&self, index: usize) -> String {
        let (first, file) = self
            .files
            .iter()
            .rev()
            .find(|(first, _)| *first <= index)
            .expect("index 0 is in the first file");
        format!("{file}#{}", index - first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: u8, red_at_1_0: u8) -> Vec<u8> {
        let mut r = vec![0u8; RECORD];
        r[0] = label;
        r[1 + 1] = red_at_1_0;
        r
    }

    #[test]
    fn five_train_batches_and_a_test_batch() {
        let dir = tempfile::tempdir().unwrap();
        for i in 1..=5u8 {
            let mut bytes = record(i, 10 * i);
            bytes.extend(record(0, 1));
            std::fs::write(dir.path().join(format!("data_batch_{i}.bin")), bytes).unwrap();
        }
        std::fs::write(dir.path().join("test_batch.bin"), record(9, 99)).unwrap();
        std::fs::write(
            dir.path().join("batches.meta.txt"),
            "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n",
        )
        .unwrap();
        let train = Cifar10::open(dir.path(), Split::Train).unwrap();
        assert_eq!(train.len(), 10);
        assert_eq!((train.label(4), train.label(5)), (3, 0));
        assert_eq!(train.image(4).unwrap().get_pixel(1, 0).0, [30, 0, 0]);
        assert!(train.describe(5).ends_with("data_batch_3.bin#1"));
        let test = Cifar10::open(dir.path(), Split::Test).unwrap();
        assert_eq!(
            (test.len(), test.classes()[test.label(0)].as_str()),
            (1, "j")
        );
    }

    #[test]
    fn a_missing_batch_or_a_bad_label_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = Cifar10::open(dir.path(), Split::Test)
            .unwrap_err()
            .to_string();
        assert!(e.contains("test_batch.bin"), "{e}");
        std::fs::write(dir.path().join("test_batch.bin"), record(12, 0)).unwrap();
        let e = Cifar10::open(dir.path(), Split::Test)
            .unwrap_err()
            .to_string();
        assert!(e.contains("label 12"), "{e}");
    }
}
