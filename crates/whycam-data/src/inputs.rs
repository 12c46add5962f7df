//! Turning the paths and URLs given on a command line into the list of images to process.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::error::DataError;
use crate::fetch::{check_scheme, url_scheme};
use crate::source::Source;

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
        let (found, failed) = expand_path(input);
        files.extend(found);
        errors.extend(failed);
    }
    (files, errors)
}

/// Expands `inputs` into image sources, in order: URLs and local files alike.
///
/// An input written `scheme://...` is a URL. An `http://` or `https://` URL is taken as it
/// is, without contacting its host (a missing image shows up when it is loaded); any
/// other scheme is returned as an error. Every other input is a path, expanded as
/// [`collect_inputs`] does (a local path that happens to start with `http://` can be
/// written `./http://...`). Errors are returned beside the sources found, each with the
/// input it concerns; they never stop the collection.
pub fn collect_sources<S: AsRef<OsStr>>(inputs: &[S]) -> (Vec<Source>, Vec<(Source, DataError)>) {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        let input = input.as_ref();
        if let Some(url) = input.to_str().filter(|s| url_scheme(s).is_some()) {
            let source = Source::Url(url.to_string());
            match check_scheme(url) {
                Ok(()) => sources.push(source),
                Err(e) => errors.push((source, e)),
            }
            continue;
        }
        let (found, failed) = expand_path(Path::new(input));
        sources.extend(found.into_iter().map(Source::File));
        errors.extend(failed.into_iter().map(|(p, e)| (Source::File(p), e)));
    }
    (sources, errors)
}

/// One command-line path: itself if it is a file, its image files if it is a directory.
fn expand_path(input: &Path) -> (Vec<PathBuf>, Vec<(PathBuf, DataError)>) {
    match std::fs::metadata(input) {
        Err(e) => (
            Vec::new(),
            vec![(input.to_path_buf(), DataError::io(input, e))],
        ),
        Ok(meta) if meta.is_dir() => walk_directory(input),
        Ok(_) => (vec![input.to_path_buf()], Vec::new()),
    }
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
        let (sources, errors) = collect_sources::<String>(&[]);
        assert!(sources.is_empty() && errors.is_empty());
    }

    #[test]
    fn sources_mix_urls_files_and_directories_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "photos/b.png",
            "photos/a.jpg",
            "photos/notes.txt",
            "single.gif",
        ] {
            touch(&root.join(name));
        }
        let s = |p: &Path| p.to_str().unwrap().to_string();
        let inputs = vec![
            "https://127.0.0.1:1/cat.jpg?w=640".to_string(),
            s(&root.join("photos")),
            "ftp://127.0.0.1/dog.png".to_string(),
            s(&root.join("missing.png")),
            "HTTP://127.0.0.1:1/".to_string(),
            s(&root.join("single.gif")),
        ];
        let (sources, errors) = collect_sources(&inputs);
        assert_eq!(
            sources,
            vec![
                Source::Url("https://127.0.0.1:1/cat.jpg?w=640".to_string()),
                Source::File(root.join("photos/a.jpg")),
                Source::File(root.join("photos/b.png")),
                Source::Url("HTTP://127.0.0.1:1/".to_string()),
                Source::File(root.join("single.gif")),
            ]
        );

        assert_eq!(errors.len(), 2);
        let (source, err) = &errors[0];
        assert_eq!(source, &Source::Url("ftp://127.0.0.1/dog.png".to_string()));
        assert_eq!(
            err.to_string(),
            "cannot fetch ftp://127.0.0.1/dog.png: \
             unsupported URL scheme \"ftp\": only http and https are accepted"
        );
        let (source, err) = &errors[1];
        assert_eq!(source, &Source::File(root.join("missing.png")));
        assert!(matches!(err, DataError::Io { .. }));
        assert!(err.to_string().contains("missing.png"), "{err}");

        // Paths given as PathBuf work the same, and agree with collect_inputs.
        let paths = [root.join("photos"), root.join("single.gif")];
        let (files, _) = collect_inputs(&paths);
        let (sources, _) = collect_sources(&paths);
        assert_eq!(
            sources,
            files.into_iter().map(Source::File).collect::<Vec<_>>()
        );
    }

    #[test]
    fn extension_check_ignores_case() {
        assert!(has_image_extension(Path::new("x/Y.JpEg")));
        assert!(!has_image_extension(Path::new("x/y.jpg.txt")));
        assert!(!has_image_extension(Path::new("x/jpg")));
    }
}
