//! Class names: torchvision's ImageNet-1k list, built in, and user label files.

use std::path::Path;
use std::sync::OnceLock;

use crate::error::{DataError, Result};

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
/// label per line (trailing blank lines ignored, `\r\n` accepted).
pub fn load_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => {
            DataError::decoding(path, "label file is not UTF-8 text")
        }
        _ => DataError::io(path, e),
    })?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
