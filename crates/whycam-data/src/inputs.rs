//! Turning the paths given on a command line into the list of image files to process.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::error::DataError;

/// File extensions (lower case) picked up when walking a directory.
pub const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"];

/// Whether `path` has one of [`IMAGE_EXTENSIONS`], ignoring case.
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Expands `inputs` into image files, in order.
///
/// A file is taken as it is, whatever its extension. A directory is walked recursively
/// (following symbolic links) for files with an image extension, sorted by path. Inputs
/// that do not exist, and directory entries that cannot be read, are returned as errors
/// beside the files found; they never stop the collection.
pub fn collect_inputs(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, DataError)>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        match std::fs::metadata(input) {
            Err(e) => errors.push((input.clone(), DataError::io(input, e))),
            Ok(meta) if meta.is_dir() => {
                let (found, failed) = walk_directory(input);
                files.extend(found);
                errors.extend(failed);
            }
            Ok(_) => files.push(input.clone()),
        }
    }
    (files, errors)
}

fn walk_directory(dir: &Path) -> (Vec<PathBuf>, Vec<(PathBuf, DataError)>) {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for entry in WalkDir::new(dir).follow_links(true) {
        match entry {
            Ok(entry) => {
                if entry.file_type().is_file() && has_image_extension(entry.path()) {
                    found.push(entry.into_path());
                }
            }
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let message = e.to_string();
                let source = e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other(message));
                failed.push((path.clone(), DataError::io(&path, source)));
            }
        }
    }
    found.sort();
    (found, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[test]
    fn walks_directories_and_keeps_files_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "b.JPG",
            "a.png",
            "sub/c.jpeg",
            "sub/deeper/d.TIFF",
            "sub/e.webp",
            "f.gif",
            "g.bmp",
            "h.tif",
            "notes.txt",
            "README",
            "sub/model.pth",
        ] {
            touch(&root.join(name));
        }
        let explicit = root.join("notes.txt");
        let missing = root.join("missing.jpg");
        let (files, errors) =
            collect_inputs(&[explicit.clone(), root.to_path_buf(), missing.clone()]);

        let expected: Vec<PathBuf> = std::iter::once(explicit)
            .chain(
                [
                    "a.png",
                    "b.JPG",
                    "f.gif",
                    "g.bmp",
                    "h.tif",
                    "sub/c.jpeg",
                    "sub/deeper/d.TIFF",
                    "sub/e.webp",
                ]
                .iter()
                .map(|n| root.join(n)),
            )
            .collect();
        assert_eq!(files, expected);

        assert_eq!(errors.len(), 1);
        let (path, err) = &errors[0];
        assert_eq!(path, &missing);
        assert!(matches!(err, DataError::Io { .. }));
        assert!(err.to_string().contains("missing.jpg"), "{err}");
    }

    #[test]
    fn empty_input_list_gives_nothing() {
        let (files, errors) = collect_inputs(&[]);
        assert!(files.is_empty() && errors.is_empty());
    }

    #[test]
    fn extension_check_ignores_case() {
        assert!(has_image_extension(Path::new("x/Y.JpEg")));
        assert!(!has_image_extension(Path::new("x/y.jpg.txt")));
        assert!(!has_image_extension(Path::new("x/jpg")));
    }
}
