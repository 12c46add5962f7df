//! The crate's single error type, grouped by cause like `image::ImageError`.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading or preparing an input.
///
/// Every variant that concerns an input names it in its message. For an input given as
/// a URL, the `path` fields hold the URL as it was given.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file or directory that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The file's content is broken: truncated, corrupt, or not what its format claims.
    #[error("cannot decode {}: {message}", .path.display())]
    Decoding {
        /// The file that failed.
        path: PathBuf,
        /// What the decoder reported.
        message: String,
    },

    /// The file is in a format (or a variant of one) that is not supported.
    #[error("unsupported image {}: {message}", .path.display())]
    Unsupported {
        /// The file that failed.
        path: PathBuf,
        /// What is not supported.
        message: String,
    },

    /// Decoding was refused to stay within resource limits (decompression bombs).
    #[error("{}: {message}", .path.display())]
    Limits {
        /// The file that was refused.
        path: PathBuf,
        /// Which limit, and by how much it was exceeded.
        message: String,
    },

    /// An input given as a URL could not be downloaded: unsupported scheme, network
    /// failure, timeout, an HTTP status other than 2xx, or a body over the size limit.
    #[error("cannot fetch {url}: {message}")]
    Fetch {
        /// The URL as it was given (not where redirects led).
        url: String,
        /// What went wrong.
        message: String,
    },

    /// The image has a size the requested preprocessing cannot use.
    ///
    /// [`prepare`](crate::prepare) does not know the file, so `path` is `None` there;
    /// [`prepare_file`](crate::prepare_file) and [`DataError::with_path`] fill it in.
    #[error("{}{message}", path_prefix(.path.as_deref()))]
    Size {
        /// The file the image came from, when known.
        path: Option<PathBuf>,
        /// What was expected and what was found.
        message: String,
    },

    /// A dataset's files are not in the format they should be (wrong size, bad magic
    /// number, a label out of range, a missing split file).
    #[error("dataset {}: {message}", .path.display())]
    Dataset {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// A configuration value is invalid (not tied to any file).
    #[error("invalid parameter: {message}")]
    Parameter {
        /// Which value, and what is allowed.
        message: String,
    },
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

fn path_prefix(path: Option<&Path>) -> String {
    path.map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}

impl DataError {
    /// Attaches `path` to an error that does not name a file yet; other errors are unchanged.
    #[must_use]
    pub fn with_path(self, path: &Path) -> Self {
        match self {
            DataError::Size {
                path: None,
                message,
            } => DataError::Size {
                path: Some(path.to_path_buf()),
                message,
            },
            other => other,
        }
    }

    /// The input this error concerns, if any: a file, or for an input given as a URL,
    /// the URL (as a `Path`, good for display only).
    pub fn path(&self) -> Option<&Path> {
        match self {
            DataError::Io { path, .. }
            | DataError::Decoding { path, .. }
            | DataError::Unsupported { path, .. }
            | DataError::Limits { path, .. }
            | DataError::Dataset { path, .. } => Some(path),
            DataError::Fetch { url, .. } => Some(Path::new(url)),
            DataError::Size { path, .. } => path.as_deref(),
            DataError::Parameter { .. } => None,
        }
    }

    pub(crate) fn parameter(message: impl Into<String>) -> Self {
        DataError::Parameter {
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn decoding(path: &Path, message: impl Into<String>) -> Self {
        DataError::Decoding {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn limits(path: &Path, message: impl Into<String>) -> Self {
        DataError::Limits {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn dataset(path: &Path, message: impl Into<String>) -> Self {
        DataError::Dataset {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn fetch(url: &str, message: impl Into<String>) -> Self {
        DataError::Fetch {
            url: url.to_string(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file() {
        let p = Path::new("some/dir/cat.jpg");
        let errors = [
            DataError::io(p, std::io::Error::from(std::io::ErrorKind::NotFound)),
            DataError::decoding(p, "bad"),
            DataError::Unsupported {
                path: p.into(),
                message: "x".into(),
            },
            DataError::limits(p, "too big"),
            DataError::Size {
                path: None,
                message: "expected".into(),
            }
            .with_path(p),
        ];
        for e in errors {
            assert!(e.to_string().contains("some/dir/cat.jpg"), "{e}");
            assert_eq!(e.path(), Some(p));
        }
    }

    #[test]
    fn fetch_errors_name_the_url() {
        let url = "http://127.0.0.1:9/photos/cat.jpg?size=large";
        let e = DataError::fetch(url, "HTTP status 404 Not Found");
        assert_eq!(
            e.to_string(),
            "cannot fetch http://127.0.0.1:9/photos/cat.jpg?size=large: HTTP status 404 Not Found"
        );
        assert_eq!(e.path(), Some(Path::new(url)));
        // A size error from preprocessing a downloaded image gets the URL too.
        let e = DataError::Size {
            path: None,
            message: "expected 224x224 px".into(),
        }
        .with_path(Path::new(url));
        assert_eq!(e.to_string(), format!("{url}: expected 224x224 px"));
    }

    #[test]
    fn size_error_without_path_has_no_prefix() {
        let e = DataError::Size {
            path: None,
            message: "expected 224x224 px".into(),
        };
        assert_eq!(e.to_string(), "expected 224x224 px");
        assert_eq!(e.path(), None);
    }
}
