//! Errors of whycam-train.

use std::path::PathBuf;
use thiserror::Error;

/// What can go wrong while training.
#[derive(Debug, Error)]
pub enum TrainError {
    /// Reading or preparing the data failed.
    #[error(transparent)]
    Data(#[from] whycam_data::DataError),
    /// Building or loading the network failed.
    #[error(transparent)]
    Model(#[from] whycam_models::ModelError),
    /// A setting that cannot work.
    #[error("{0}")]
    Parameter(String),
    /// A batch's labels do not fit the model's head.
    #[error("label {label} does not fit a head of {classes} classes")]
    Labels {
        /// The offending label.
        label: usize,
        /// The head's classes.
        classes: usize,
    },
    /// A checkpoint could not be written or read.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// File system trouble.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
