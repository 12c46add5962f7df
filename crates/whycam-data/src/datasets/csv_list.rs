//! A CSV of `path,label`: paths relative to the CSV's folder (or absolute), labels class
//! names (classes sorted by name) or class indices.

use super::image_folder::FileList;
use super::{MAX_CLASSES, MAX_LIST_BYTES};
use crate::error::{DataError, Result};
use crate::files::{Bounded, open_regular};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Images listed in a CSV file with their labels (a [`FileList`]).
#[derive(Debug)]
pub struct CsvList;

impl CsvList {
    /// Reads `path`. A first row `path,label` (any case) is a header. Labels that are all
    /// whole numbers are class indices (classes `0..=max`); otherwise the sorted distinct
    /// labels are the classes.
    pub fn open(path: &Path) -> Result<FileList> {
        // A regular file within the limit, read no further than the limit if it grows.
        let (file, _) = open_regular(path, MAX_LIST_BYTES)?;
        let bounded = Bounded::new(file, MAX_LIST_BYTES);
        let exceeded = bounded.exceeded_flag();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(bounded);
        let base = path.parent().unwrap_or(Path::new("."));
        let mut rows: Vec<(PathBuf, String)> = Vec::new();
        for (n, record) in reader.records().enumerate() {
            let record = record.map_err(|e| {
                if exceeded.load(Ordering::Relaxed) {
                    DataError::FileTooLarge {
                        path: path.to_path_buf(),
                        size: None,
                        limit: MAX_LIST_BYTES,
                    }
                } else {
                    DataError::dataset(path, e.to_string())
                }
            })?;
            if record.len() != 2 {
                return Err(DataError::dataset(
                    path,
                    format!(
                        "line {}: expected path,label, got {} fields",
                        n + 1,
                        record.len()
                    ),
                ));
            }
            let (file, label) = (&record[0], &record[1]);
            if n == 0 && file.eq_ignore_ascii_case("path") && label.eq_ignore_ascii_case("label") {
                continue;
            }
            if file.is_empty() || label.is_empty() {
                return Err(DataError::dataset(
                    path,
                    format!("line {}: empty path or label", n + 1),
                ));
            }
            rows.push((base.join(file), label.to_string()));
        }
        if rows.is_empty() {
            return Err(DataError::dataset(path, "no rows of path,label"));
        }
        let numeric: Option<Vec<usize>> = rows.iter().map(|(_, l)| l.parse().ok()).collect();
        let (classes, items) = match numeric {
            Some(indices) => {
                // Index `i` makes `i + 1` classes: a limit, before any name is made.
                if let Some(row) = indices.iter().position(|&i| i >= MAX_CLASSES) {
                    return Err(DataError::dataset(
                        path,
                        format!(
                            "row {}: class index {} is beyond the limit of {MAX_CLASSES} classes",
                            row + 1,
                            indices[row]
                        ),
                    ));
                }
                let count = indices.iter().max().map_or(0, |m| m + 1);
                let classes = (0..count).map(|i| i.to_string()).collect();
                let items = rows
                    .into_iter()
                    .zip(indices)
                    .map(|((p, _), i)| (p, i))
                    .collect();
                (classes, items)
            }
            None => {
                let classes: Vec<String> = rows
                    .iter()
                    .map(|(_, l)| l.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let items = rows
                    .into_iter()
                    .map(|(p, l)| {
                        let label = classes.binary_search(&l).expect("label is a class");
                        (p, label)
                    })
                    .collect();
                (classes, items)
            }
        };
        Ok(FileList::new(classes, items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::Dataset;
    use crate::datasets::testing::summary;
    use image::Rgb;
    use image::RgbImage;

    #[test]
    fn names_or_indices_relative_to_the_csv() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("img")).unwrap();
        for (name, v) in [("a.png", 5u8), ("b.png", 6), ("c.png", 7)] {
            RgbImage::from_pixel(2, 2, Rgb([v, 0, 0]))
                .save(dir.path().join("img").join(name))
                .unwrap();
        }
        let csv = dir.path().join("list.csv");
        std::fs::write(
            &csv,
            "path,label\nimg/a.png,dog\nimg/b.png, cat\n\"img/c.png\",dog\n",
        )
        .unwrap();
        let d = CsvList::open(&csv).unwrap();
        assert_eq!(d.classes(), ["cat", "dog"]);
        assert_eq!(
            summary(&d),
            (vec![1, 0, 1], vec![[5, 0, 0], [6, 0, 0], [7, 0, 0]])
        );
        std::fs::write(&csv, "img/a.png,2\nimg/b.png,0\n").unwrap();
        let d = CsvList::open(&csv).unwrap();
        assert_eq!(d.classes(), ["0", "1", "2"]);
        assert_eq!((d.label(0), d.label(1)), (2, 0));
    }

    #[test]
    fn malformed_rows_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("bad.csv");
        std::fs::write(&csv, "a.png,cat\nb.png\n").unwrap();
        let e = CsvList::open(&csv).unwrap_err().to_string();
        assert!(e.contains("bad.csv"), "{e}");
        std::fs::write(&csv, "path,label\n").unwrap();
        assert!(
            CsvList::open(&csv)
                .unwrap_err()
                .to_string()
                .contains("no rows")
        );
    }
}
