//! True labels of inputs: from a `path,label` CSV (`--truth`), or from the folder an image
//! sits in when its name is a class label (ImageFolder's layout: `val/tabby/cat1.jpg`).

use crate::error::{PipelineError, Result};
use crate::per_input::{PerInput, csv_rows};
use std::path::Path;
use whycam_data::{Source, find_class};

/// True class indices by input, as given in a CSV.
#[derive(Debug, Default)]
pub struct Truths {
    /// From the CSV, by path or file name.
    given: PerInput<usize>,
    /// Whether a CSV was given (then folder names are not consulted).
    from_csv: bool,
}

impl Truths {
    /// Reads `path,label` rows as CSV (quoted fields may hold commas and quotes; a header
    /// row `path,label` is skipped; an unquoted path with commas keeps them, the label being
    /// the last field). Labels are class names or indices; an unknown label is an error
    /// naming the line.
    pub fn from_csv(path: &Path, labels: &[String]) -> Result<Self> {
        let malformed = |line| PipelineError::TruthLineMalformed {
            path: path.to_path_buf(),
            line,
        };
        let mut truths = Truths {
            from_csv: true,
            ..Truths::default()
        };
        for (n, row) in csv_rows(path, "reading true labels from", malformed)?
            .into_iter()
            .enumerate()
        {
            let is_header = n == 0
                && row.fields.len() == 2
                && row.fields[0].eq_ignore_ascii_case("path")
                && row.fields[1].eq_ignore_ascii_case("label");
            let [file @ .., label] = row.fields.as_slice() else {
                continue;
            };
            if is_header {
                continue;
            }
            if file.is_empty() {
                return Err(malformed(row.line));
            }
            let Some(class) = find_class(labels, label) else {
                return Err(PipelineError::TruthUnknownLabel {
                    path: path.to_path_buf(),
                    line: row.line,
                    label: label.to_string(),
                    classes: labels.len(),
                });
            };
            truths.given.insert(file.join(","), class);
        }
        Ok(truths)
    }

    /// The true class of `source`, if known.
    pub fn find(&self, source: &Source, labels: &[String]) -> Option<usize> {
        if self.from_csv {
            return self.given.find(source).copied();
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
