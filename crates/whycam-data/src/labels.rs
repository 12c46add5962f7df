//! Class names: torchvision's ImageNet-1k list, built in, user label files, and the one rule
//! by which a text (a `--target`, a folder name, a CSV cell, a `--classes` entry) names one
//! of them ([`find_label`]).

use std::path::Path;
use std::sync::OnceLock;

use crate::datasets::MAX_LIST_BYTES;
use crate::error::{DataError, Result};
use crate::files::read_bounded;

/// torchvision's `_IMAGENET_CATEGORIES`, one per line, generated (not typed) with
/// `python -c "from torchvision.models._meta import _IMAGENET_CATEGORIES as c; open('imagenet_classes.txt', 'w').write('\n'.join(c) + '\n')"`
/// (torchvision 0.29).
const IMAGENET_CLASSES: &str = include_str!("imagenet_classes.txt");

/// The 1000 ImageNet class names in torchvision's order (index 281 is "tabby").
pub fn imagenet_labels() -> &'static [&'static str] {
    static LABELS: OnceLock<Vec<&'static str>> = OnceLock::new();
    LABELS.get_or_init(|| IMAGENET_CLASSES.lines().collect())
}

/// Reads class names from `path`: a JSON array of strings, or plain text with one
/// label per line (trailing blank lines ignored, `\r\n` accepted). Only a regular file of
/// at most [`MAX_LIST_BYTES`] is read.
pub fn load_labels(path: &Path) -> Result<Vec<String>> {
    let bytes = read_bounded(path, MAX_LIST_BYTES)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| DataError::decoding(path, "label file is not UTF-8 text"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let labels = if text.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<String>>(text).map_err(|e| {
            DataError::decoding(path, format!("expected a JSON array of strings: {e}"))
        })?
    } else {
        parse_lines(path, text)?
    };
    if labels.is_empty() {
        return Err(DataError::decoding(path, "label file holds no labels"));
    }
    Ok(labels)
}

fn parse_lines(path: &Path, text: &str) -> Result<Vec<String>> {
    let mut lines: Vec<&str> = text.lines().collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    // A blank line inside the list would shift every later class index by one.
    if let Some(i) = lines.iter().position(|l| l.trim().is_empty()) {
        return Err(DataError::decoding(
            path,
            format!("line {} is blank; every line must name one class", i + 1),
        ));
    }
    Ok(lines.into_iter().map(|l| l.trim().to_string()).collect())
}

/// The index of the label that `text` names, or `None`.
///
/// Case is ignored, and `_`, `-` and runs of white space all count as one space
/// (`Tiger_Cat`, `tiger-cat` and ` tiger  cat ` name "tiger cat"); a label may also be named
/// by one of its comma-separated synonyms (`tabby cat` names "tabby, tabby cat"), and as a
/// last resort with its separators left out (`tigercat`). The closest spelling wins: a label
/// equal as words, then a synonym equal as words, then a label, then a synonym equal without
/// separators; within each, the first label. A text that is all separators names nothing.
/// Numbers are not class indices here ([`find_class`] reads those).
pub fn find_label<S: AsRef<str>>(labels: &[S], text: &str) -> Option<usize> {
    let wanted = words(text);
    if wanted.is_empty() {
        return None;
    }
    let wanted_compact = wanted.replace(' ', "");
    let compact = |s: &str| words(s).replace(' ', "");
    let first = |matches: &dyn Fn(&str) -> bool| labels.iter().position(|l| matches(l.as_ref()));
    first(&|l| words(l) == wanted)
        .or_else(|| first(&|l| synonyms(l).any(|s| words(s) == wanted)))
        .or_else(|| first(&|l| compact(l) == wanted_compact))
        .or_else(|| first(&|l| synonyms(l).any(|s| compact(s) == wanted_compact)))
}

/// The class that `text` names: a class index below `labels.len()` when `text` is a number
/// (a number out of range names nothing), otherwise the label [`find_label`] finds.
pub fn find_class<S: AsRef<str>>(labels: &[S], text: &str) -> Option<usize> {
    match text.trim().parse::<usize>() {
        Ok(index) => (index < labels.len()).then_some(index),
        Err(_) => find_label(labels, text),
    }
}

/// The comma-separated synonyms of a label that lists some ("tabby, tabby cat").
fn synonyms(label: &str) -> impl Iterator<Item = &str> {
    let listed = label.contains(',').then(|| label.split(','));
    listed.into_iter().flatten()
}

/// `s` lower-cased, with `_`, `-` and white space runs as single spaces, trimmed.
fn words(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        // `str::to_lowercase` writes a word-final capital sigma as `ς`, `char::to_lowercase`
        // as `σ`: both spellings match either way.
        .map(|c| match c {
            '_' | '-' => ' ',
            'ς' => 'σ',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn labels_match_ignoring_case_and_separators() {
        let l = names(&[
            "tabby, tabby cat",
            "tiger cat",
            "Egyptian cat",
            "golden retriever",
        ]);
        for (text, class) in [
            ("tiger cat", 1),
            ("Tiger_Cat", 1),
            ("tiger-cat", 1),
            ("  TIGER  cat\t", 1),
            ("tiger\tcat", 1),
            ("tiger_-cat", 1),
            ("_tiger cat_", 1),
            ("tigercat", 1),
            ("TigerCat", 1),
            ("egyptian_cat", 2),
            ("Egyptian-Cat", 2),
            ("golden_retriever", 3),
            ("GoldenRetriever", 3),
            ("tabby", 0),
            ("tabby, tabby cat", 0),
            ("tabby,tabby cat", 0),
            ("tabby cat", 0),
            ("Tabby_Cat", 0),
            ("tabbycat", 0),
        ] {
            assert_eq!(find_label(&l, text), Some(class), "{text:?}");
        }
        for text in [
            "",
            "  ",
            "_-_",
            "tiger",
            "cat",
            "tiger cats",
            "tiger.cat",
            "tiger,cat",
            "t i g",
            "1",
            "photos",
        ] {
            assert_eq!(find_label(&l, text), None, "{text:?}");
        }
        // Built-in names work too, and the first of two equal labels wins.
        assert_eq!(find_label(imagenet_labels(), "Egyptian_cat"), Some(285));
        assert_eq!(find_label(imagenet_labels(), "cardigan"), Some(264));
    }

    #[test]
    fn the_closest_spelling_wins_and_case_is_unicode() {
        let l = names(&["tigercat", "tiger cat"]);
        assert_eq!(find_label(&l, "tiger_cat"), Some(1));
        assert_eq!(find_label(&l, "TIGERCAT"), Some(0));
        // A synonym equal as words beats a whole label equal only without separators.
        let l = names(&["sealion", "seal, sea lion"]);
        assert_eq!(find_label(&l, "sea lion"), Some(1));
        assert_eq!(find_label(&l, "seal"), Some(1));
        assert_eq!(find_label(&l, "sea_lion"), Some(1));
        let l = names(&["Éclair", "ΟΔΟΣ", "straße"]);
        assert_eq!(find_label(&l, "éCLAIR"), Some(0));
        assert_eq!(find_label(&l, "οδος"), Some(1));
        assert_eq!(find_label(&l, "οδοσ"), Some(1));
        assert_eq!(find_label(&l, "STRAßE"), Some(2));
        assert_eq!(find_label(&l, "eclair"), None);
    }

    #[test]
    fn classes_are_indices_or_labels() {
        let l = names(&["3", "tiger cat", "tabby, tabby cat"]);
        assert_eq!(find_class(&l, " 2 "), Some(2));
        assert_eq!(find_class(&l, "0"), Some(0));
        assert_eq!(find_class(&l, "3"), None);
        assert_eq!(find_class(&l, "Tiger_Cat"), Some(1));
        assert_eq!(find_class(&l, "tabby cat"), Some(2));
        assert_eq!(find_class(&l, "-1"), None);
        assert_eq!(find_class(&l, "zebra"), None);
    }

    #[test]
    fn imagenet_labels_are_torchvisions() {
        let labels = imagenet_labels();
        assert_eq!(labels.len(), 1000);
        assert_eq!(labels[0], "tench");
        assert_eq!(labels[281], "tabby");
        assert_eq!(labels[282], "tiger cat");
        assert_eq!(labels[285], "Egyptian cat");
        assert_eq!(labels[967], "espresso");
        assert_eq!(labels[999], "toilet tissue");
        assert!(labels.iter().all(|l| !l.is_empty() && l.trim() == *l));
    }

    fn write(dir: &Path, name: &str, text: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_text_and_json_label_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "l.txt", b"cat\r\ndog \nsea lion\n\n\n");
        assert_eq!(load_labels(&p).unwrap(), ["cat", "dog", "sea lion"]);
        let p = write(dir.path(), "l.json", br#" ["cat", "dog", "sea lion"] "#);
        assert_eq!(load_labels(&p).unwrap(), ["cat", "dog", "sea lion"]);
        let p = write(dir.path(), "bom.txt", "\u{feff}a\nb".as_bytes());
        assert_eq!(load_labels(&p).unwrap(), ["a", "b"]);
    }

    #[test]
    fn bad_label_files_are_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            write(dir.path(), "gap.txt", b"cat\n\ndog\n"),
            write(dir.path(), "empty.txt", b"\n\n"),
            write(dir.path(), "bad.json", br#"["cat", 3]"#),
            write(dir.path(), "binary.txt", &[0xff, 0xfe, 0x00, 0x80]),
            dir.path().join("missing.txt"),
        ];
        for p in cases {
            let err = load_labels(&p).unwrap_err();
            assert!(err.to_string().contains(&p.display().to_string()), "{err}");
        }
        let err = load_labels(&dir.path().join("gap.txt")).unwrap_err();
        assert!(err.to_string().contains("line 2 is blank"), "{err}");
    }
}
