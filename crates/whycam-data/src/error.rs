//! The crate's single error type, grouped by cause like `image::ImageError`.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading or preparing an input.
///
/// Every variant that concerns an input names it in its message. For an input given as
/// a URL, the `path` fields hold the URL as it was given, less any `user:password@`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", crate::shown_path(.path))]
    Io {
        /// The file or directory that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The input is not a regular file (a directory, a named pipe, a device, a socket),
    /// found after following symbolic links: such a file may block forever or never end,
    /// so it is refused before it is read.
    #[error("cannot read {}: it is a {kind}, not a regular file", crate::shown_path(.path))]
    NotRegularFile {
        /// The file given.
        path: PathBuf,
        /// What it is instead: "directory", "named pipe (FIFO)", "character device", ...
        kind: &'static str,
    },

    /// The file is larger than the limit on what is read into memory
    /// ([`DecodeLimits::max_file_size`](crate::DecodeLimits::max_file_size) for images).
    #[error("{}", file_too_large(.path, *.size, *.limit))]
    FileTooLarge {
        /// The file that was refused.
        path: PathBuf,
        /// Its size in bytes when known before reading; `None` when it grew past the limit
        /// while it was read.
        size: Option<u64>,
        /// The limit, in bytes.
        limit: u64,
    },

    /// The image ends before its end: a JPEG without its end-of-image marker (which the
    /// decoder would otherwise fill in silently), or a file whose decoder ran out of data.
    /// PIL reports these as "image file is truncated".
    #[error(
        "cannot decode {}: image file is truncated ({format} data ends after {size} bytes, \
         before the end of the image)",
        crate::shown_path(.path)
    )]
    Truncated {
        /// The file (or URL) that was cut short.
        path: PathBuf,
        /// Its format: "JPEG", "PNG", ...
        format: &'static str,
        /// The bytes it holds.
        size: u64,
    },

    /// A dataset file declares more data than may be read: over a limit, or a size whose
    /// computation overflows 64 bits. Refused before anything is allocated.
    #[error("{}", declared_size(.path, .what, *.declared, *.limit))]
    DeclaredSize {
        /// The file at fault.
        path: PathBuf,
        /// What declares the size, e.g. `dimensions [60000, 28, 28]`.
        what: String,
        /// The size declared, in bytes; `None` when it does not fit in 64 bits.
        declared: Option<u64>,
        /// The limit, in bytes.
        limit: u64,
    },

    /// The file's content is broken: truncated, corrupt, or not what its format claims.
    #[error("cannot decode {}: {message}", crate::shown_path(.path))]
    Decoding {
        /// The file that failed.
        path: PathBuf,
        /// What the decoder reported.
        message: String,
    },

    /// The file is in a format (or a variant of one) that is not supported.
    #[error("unsupported image {}: {message}", crate::shown_path(.path))]
    Unsupported {
        /// The file that failed.
        path: PathBuf,
        /// What is not supported.
        message: String,
    },

    /// Decoding was refused to stay within resource limits (decompression bombs).
    #[error("{}: {message}", crate::shown_path(.path))]
    Limits {
        /// The file that was refused.
        path: PathBuf,
        /// Which limit, and by how much it was exceeded.
        message: String,
    },

    /// An input given as a URL could not be downloaded: unsupported scheme, network
    /// failure, timeout, an HTTP status other than 2xx, a refused redirect, or a body over
    /// the size limit.
    #[error("cannot fetch {url}: {message}")]
    Fetch {
        /// The URL as it was given (not where redirects led), without any
        /// `user:password@`.
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
    #[error("dataset {}: {message}", crate::shown_path(.path))]
    Dataset {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    // --- Configuration: a value that cannot work (not tied to any file). ---
    /// A preprocess mode name that is not one of [`Preprocess::ALL`](crate::Preprocess::ALL).
    #[error(
        "invalid parameter: unknown preprocess mode \"{name}\", expected one of: crop, stretch, \
         none, shorter"
    )]
    UnknownPreprocess {
        /// The name given.
        name: String,
    },

    /// A network input size outside `1..=PreprocessConfig::MAX_SIZE`.
    #[error("invalid parameter: input size {size} px is outside 1..={max}")]
    InputSize {
        /// The size given, in pixels.
        size: u32,
        /// The largest accepted size.
        max: u32,
    },

    /// A centre-crop fraction outside 0.1..=1.
    #[error("invalid parameter: crop fraction {fraction} is outside 0.1..=1")]
    CropFraction {
        /// The fraction given.
        fraction: f32,
    },

    /// A normalisation mean that is not finite.
    #[error("invalid parameter: normalisation mean {mean:?} must be finite")]
    NormalizationMean {
        /// The R, G, B means given.
        mean: [f32; 3],
    },

    /// A normalisation standard deviation that is not finite and positive.
    #[error("invalid parameter: normalisation std {std:?} must be finite and positive")]
    NormalizationStd {
        /// The R, G, B standard deviations given.
        std: [f32; 3],
    },

    /// `--preprocess shorter` for a loader, whose batches need one square input size.
    #[error(
        "invalid parameter: --preprocess shorter keeps each photo's aspect ratio, so its inputs \
         differ in shape; batches of a dataset need one square size (use crop or stretch)"
    )]
    ShorterBatches,

    /// A loader batch size of 0.
    #[error("invalid parameter: the batch size must be at least 1")]
    ZeroBatchSize,

    /// Augmentation ranges that are empty, not positive, or crop more than the image.
    #[error(
        "invalid parameter: augmentation ranges must be 0 < low <= high (scale <= 1): {augment:?}"
    )]
    AugmentRanges {
        /// The augmentation given.
        augment: crate::Augment,
    },

    /// A subset index past the end of its dataset.
    #[error("invalid parameter: index {index} is past the dataset's {len} samples")]
    IndexPastEnd {
        /// The first index out of range.
        index: usize,
        /// The dataset's samples.
        len: usize,
    },

    /// A class name that matches none of the dataset's classes.
    #[error(
        "invalid parameter: no class {name:?} in the dataset; its classes are {}",
        .classes.join(", ")
    )]
    UnknownClass {
        /// The name given.
        name: String,
        /// The dataset's classes.
        classes: Vec<String>,
    },

    /// A class named twice in a list of classes.
    #[error("invalid parameter: class {name:?} is named twice")]
    ClassTwice {
        /// The second name for an already picked class, as given.
        name: String,
    },

    /// A held-out fraction not strictly between 0 and 1.
    #[error("invalid parameter: the held-out fraction must be between 0 and 1, got {fraction}")]
    SplitFraction {
        /// The fraction given.
        fraction: f64,
    },

    /// Too few samples to split into a training and a validation part.
    #[error("invalid parameter: {samples} sample(s) cannot be split into training and validation")]
    TooFewToSplit {
        /// Samples in the dataset.
        samples: usize,
    },

    // --- Internal: only reachable through a bug, since sizes are validated first. ---
    /// The resizer refused an image or a resize.
    #[error("invalid parameter: cannot resize image ({step}): {source}")]
    Resize {
        /// The step that failed: "source" or "resize".
        step: &'static str,
        /// The resizer's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The resizer returned a buffer of the wrong length for its size.
    #[error("invalid parameter: resized buffer has the wrong length")]
    ResizedLength {
        /// Width of the image asked for.
        width: u32,
        /// Height of the image asked for.
        height: u32,
        /// Bytes returned (3 per pixel expected).
        len: usize,
    },
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

fn file_too_large(path: &Path, size: Option<u64>, limit: u64) -> String {
    match size {
        Some(size) => format!(
            "{}: the file is {size} bytes, more than the limit of {limit} bytes",
            crate::shown_path(path)
        ),
        None => format!(
            "{}: the file grew past the limit of {limit} bytes while it was read",
            crate::shown_path(path)
        ),
    }
}

fn declared_size(path: &Path, what: &str, declared: Option<u64>, limit: u64) -> String {
    match declared {
        Some(bytes) => format!(
            "dataset {}: {what} declare {bytes} bytes, more than the limit of {limit} bytes",
            crate::shown_path(path)
        ),
        None => format!(
            "dataset {}: {what} declare more than 2^64 bytes (the size overflows), more than \
             the limit of {limit} bytes",
            crate::shown_path(path)
        ),
    }
}

fn path_prefix(path: Option<&Path>) -> String {
    path.map(|p| format!("{}: ", crate::shown_path(p)))
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
            | DataError::NotRegularFile { path, .. }
            | DataError::FileTooLarge { path, .. }
            | DataError::Truncated { path, .. }
            | DataError::DeclaredSize { path, .. }
            | DataError::Decoding { path, .. }
            | DataError::Unsupported { path, .. }
            | DataError::Limits { path, .. }
            | DataError::Dataset { path, .. } => Some(path),
            DataError::Fetch { url, .. } => Some(Path::new(url)),
            DataError::Size { path, .. } => path.as_deref(),
            DataError::UnknownPreprocess { .. }
            | DataError::InputSize { .. }
            | DataError::CropFraction { .. }
            | DataError::NormalizationMean { .. }
            | DataError::NormalizationStd { .. }
            | DataError::ShorterBatches
            | DataError::ZeroBatchSize
            | DataError::AugmentRanges { .. }
            | DataError::IndexPastEnd { .. }
            | DataError::UnknownClass { .. }
            | DataError::ClassTwice { .. }
            | DataError::SplitFraction { .. }
            | DataError::TooFewToSplit { .. }
            | DataError::Resize { .. }
            | DataError::ResizedLength { .. } => None,
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

    /// A download error; `url` is shown without any `user:password@`.
    pub(crate) fn fetch(url: &str, message: impl Into<String>) -> Self {
        DataError::Fetch {
            url: crate::fetch::without_credentials(url).into_owned(),
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
    fn configuration_messages_keep_their_wording() {
        let cases = [
            (
                DataError::UnknownPreprocess {
                    name: "zoom".into(),
                },
                "invalid parameter: unknown preprocess mode \"zoom\", expected one of: crop, \
                 stretch, none, shorter",
            ),
            (
                DataError::ShorterBatches,
                "invalid parameter: --preprocess shorter keeps each photo's aspect ratio, so its \
                 inputs differ in shape; batches of a dataset need one square size (use crop or \
                 stretch)",
            ),
            (
                DataError::UnknownClass {
                    name: "dog".into(),
                    classes: vec!["cat".into(), "bird".into()],
                },
                "invalid parameter: no class \"dog\" in the dataset; its classes are cat, bird",
            ),
            (
                DataError::InputSize { size: 0, max: 4096 },
                "invalid parameter: input size 0 px is outside 1..=4096",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
            assert_eq!(e.path(), None);
        }
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
