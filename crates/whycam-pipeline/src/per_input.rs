//! Facts about inputs given in a CSV file with one input per row (true labels for
//! `--truth`, object boxes for `--boxes`): the rows as real CSV, and a lookup of an input
//! by the path as written or, failing that, by its file name.

use crate::error::{PipelineError, Result};
use std::collections::HashMap;
use std::path::Path;
use whycam_data::Source;

/// Values by input: by the path as written in the file, and by file name for names that
/// occur with one value only.
#[derive(Debug)]
pub(crate) struct PerInput<T> {
    by_path: HashMap<String, T>,
    /// `None`: the same file name with two different values, ambiguous by name.
    by_name: HashMap<String, Option<T>>,
}

impl<T> Default for PerInput<T> {
    fn default() -> Self {
        PerInput {
            by_path: HashMap::new(),
            by_name: HashMap::new(),
        }
    }
}

impl<T: Clone + PartialEq> PerInput<T> {
    /// Records `value` for the input written `file`.
    pub(crate) fn insert(&mut self, file: String, value: T) {
        if let Some(name) = Path::new(&file).file_name() {
            let name = name.to_string_lossy().into_owned();
            let entry = self
                .by_name
                .entry(name)
                .or_insert_with(|| Some(value.clone()));
            if entry.as_ref() != Some(&value) {
                *entry = None;
            }
        }
        self.by_path.insert(file, value);
    }

    /// Whether `file` was given a value already (by its path as written).
    pub(crate) fn contains(&self, file: &str) -> bool {
        self.by_path.contains_key(file)
    }

    /// The value of `source`: by its path as written, or by its file name when that name
    /// has one value.
    pub(crate) fn find(&self, source: &Source) -> Option<&T> {
        let name = source.name();
        self.by_path.get(name.as_ref()).or_else(|| {
            let file_name = Path::new(name.as_ref()).file_name()?.to_string_lossy();
            self.by_name.get(file_name.as_ref())?.as_ref()
        })
    }
}

/// One non-empty row of a CSV file: its fields (trimmed) and its line number.
pub(crate) struct Row {
    pub(crate) line: usize,
    pub(crate) fields: Vec<String>,
}

/// The non-empty rows of the CSV file `path` (quoted fields may hold commas, quotes and
/// line breaks; rows may have different lengths). A malformed row is an error naming its
/// line, made by `malformed`.
pub(crate) fn csv_rows(
    path: &Path,
    what: &'static str,
    malformed: impl Fn(usize) -> PipelineError,
) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).map_err(PipelineError::io(what, path))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|_| malformed(n + 1))?;
        // The reader counts lines from where it began reading the record, blank lines
        // before it included: count them from the record's first byte instead.
        let line = record.position().map_or(n + 1, |p| {
            let bytes = text.as_bytes();
            let mut start = usize::try_from(p.byte())
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            while start < bytes.len() && matches!(bytes[start], b'\n' | b'\r') {
                start += 1;
            }
            bytes[..start].iter().filter(|&&b| b == b'\n').count() + 1
        });
        let fields: Vec<String> = record.iter().map(str::to_string).collect();
        if fields.iter().all(String::is_empty) {
            continue;
        }
        rows.push(Row { line, fields });
    }
    Ok(rows)
}
