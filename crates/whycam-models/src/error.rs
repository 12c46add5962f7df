//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while naming, building or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The weights file could not be read.
    #[error("cannot read weights {path}: {source}")]
    Io {
        /// The weights file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint whycam can read, or it is damaged.
    #[error("cannot load weights {path}: {message}")]
    Format {
        /// The weights file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The file's tensors do not fit the architecture.
    #[error("weights {path} do not fit {model}:\n{report}")]
    Mismatch {
        /// The weights file.
        path: PathBuf,
        /// The architecture asked for.
        model: String,
        /// Missing, unexpected and wrongly shaped tensors, one per line.
        report: String,
    },
    /// No such architecture.
    #[error("unknown model {name:?}; known models: {known}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The names whycam knows.
        known: String,
    },
    /// No such stage in the model.
    #[error("{model} has no layer {name:?}; its layers are: {known}")]
    UnknownStage {
        /// The stage asked for.
        name: String,
        /// The architecture.
        model: String,
        /// The accepted stage names.
        known: String,
    },
    /// The stage only exists when BatchNorms are not folded.
    #[error(
        "layer {name:?} of {model} is a convolution whose BatchNorm was folded into it; load the model without folding"
    )]
    StageFolded {
        /// The stage asked for.
        name: String,
        /// The architecture.
        model: String,
    },
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
