//! True labels of inputs: from a `path,label` CSV (`--truth`), or from the folder an image
//! sits in when its name is a class label (ImageFolder's layout: `val/tabby/cat1.jpg`).

use crate::error::{PipelineError, Result};
use std::collections::HashMap;
use std::path::Path;
use whycam_data::{Source, find_class};

/// True class indices by input, as given in a CSV.
#[derive(Debug, Default)]
pub struct Truths {
    /// By the path as written in the CSV.
    by_path: HashMap<String, usize>,
    /// By file name, for names that occur once.
    by_name: HashMap<String, Option<usize>>,
    /// Whether a CSV was given (then folder names are not consulted).
    from_csv: bool,
}

impl Truths {
    /// Reads `path,label` rows as CSV (quoted fields may hold commas and quotes; a header
    /// row `path,label` is skipped; an unquoted path with commas keeps them, the label being
    /// the last field). Labels are class names or indices; an unknown label is an error
    /// naming the line.
    pub fn from_csv(path: &Path, labels: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(PipelineError::io("reading true labels from", path))?;
        let mut truths = Truths {
            from_csv: true,
            ..Truths::default()
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        for (n, record) in reader.records().enumerate() {
            let line = |record: Option<&csv::StringRecord>| {
                record
                    .and_then(|r| r.position())
                    .map_or(n + 1, |p| p.line() as usize)
            };
            let record = record.map_err(|_| PipelineError::TruthLineMalformed {
                path: path.to_path_buf(),
                line: n + 1,
            })?;
            let fields: Vec<&str> = record.iter().collect();
            let is_header = n == 0
                && fields.len() == 2
                && fields[0].eq_ignore_ascii_case("path")
                && fields[1].eq_ignore_ascii_case("label");
            if is_header || fields.iter().all(|f| f.is_empty()) {
                continue;
            }
            let [file @ .., label] = fields.as_slice() else {
                continue;
            };
            if file.is_empty() {
                return Err(PipelineError::TruthLineMalformed {
                    path: path.to_path_buf(),
                    line: line(Some(&record)),
                });
            }
            let Some(class) = find_class(labels, label) else {
                return Err(PipelineError::TruthUnknownLabel {
                    path: path.to_path_buf(),
                    line: line(Some(&record)),
                    label: label.to_string(),
                    classes: labels.len(),
                });
            };
            let file = file.join(",");
            if let Some(name) = Path::new(&file).file_name() {
                let name = name.to_string_lossy().into_owned();
                let entry = truths.by_name.entry(name).or_insert(Some(class));
                if *entry != Some(class) {
                    // The same file name with two labels: ambiguous by name.
                    *entry = None;
                }
            }
            truths.by_path.insert(file, class);
        }
        Ok(truths)
    }

    /// The true class of `source`, if known.
    pub fn find(&self, source: &Source, labels: &[String]) -> Option<usize> {
        let name = source.name();
        if self.from_csv {
            let file_name = Path::new(name.as_ref())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            return self
                .by_path
                .get(name.as_ref())
                .copied()
                .or_else(|| file_name.and_then(|f| self.by_name.get(&f).copied().flatten()));
        }
        match source {
            Source::File(path) => path
                .parent()
                .and_then(|dir| dir.file_name())
                .and_then(|dir| find_class(labels, &dir.to_string_lossy())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["tabby, tabby cat", "Egyptian cat", "golden retriever"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn folder_names_match_labels_loosely() {
        let l = labels();
        assert_eq!(find_class(&l, "golden_retriever"), Some(2));
        assert_eq!(find_class(&l, "Egyptian-Cat"), Some(1));
        assert_eq!(find_class(&l, "tabby cat"), Some(0));
        assert_eq!(find_class(&l, "1"), Some(1));
        assert_eq!(find_class(&l, "7"), None);
        assert_eq!(find_class(&l, "photos"), None);
        let truths = Truths::default();
        let file = Source::File("data/golden_retriever/dog.jpg".into());
        assert_eq!(truths.find(&file, &l), Some(2));
        assert_eq!(truths.find(&Source::File("dog.jpg".into()), &l), None);
    }

    #[test]
    fn csv_rows_by_path_or_file_name_and_bad_labels_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("truth.csv");
        std::fs::write(&csv, "path,label\nphotos/a.jpg,Egyptian cat\nb.png,2\n").unwrap();
        let truths = Truths::from_csv(&csv, &labels()).unwrap();
        assert_eq!(
            truths.find(&Source::File("photos/a.jpg".into()), &labels()),
            Some(1)
        );
        assert_eq!(
            truths.find(&Source::File("other/b.png".into()), &labels()),
            Some(2)
        );
        // With a CSV, folder names are not consulted.
        let foldered = Source::File("golden_retriever/c.jpg".into());
        assert_eq!(truths.find(&foldered, &labels()), None);
        std::fs::write(&csv, "a.jpg,tabby\nb.jpg,zebra\n").unwrap();
        let error = Truths::from_csv(&csv, &labels()).unwrap_err().to_string();
        assert!(
            error.contains("truth.csv:2") && error.contains("zebra"),
            "{error}"
        );
    }

    #[test]
    fn quoted_fields_hold_commas_and_quotes() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("truth.csv");
        std::fs::write(
            &csv,
            "\"photos/a, \"\"b\"\".jpg\",\"tabby, tabby cat\"\nraw,name.jpg , 2 \n\n",
        )
        .unwrap();
        let truths = Truths::from_csv(&csv, &labels()).unwrap();
        let quoted = Source::File("photos/a, \"b\".jpg".into());
        assert_eq!(truths.find(&quoted, &labels()), Some(0));
        let unquoted = Source::File("raw,name.jpg".into());
        assert_eq!(truths.find(&unquoted, &labels()), Some(2));
        std::fs::write(&csv, "path,label\n\"unterminated.jpg,1\n").unwrap();
        let error = Truths::from_csv(&csv, &labels()).unwrap_err().to_string();
        assert!(error.contains("truth.csv:2"), "{error}");
    }
}
