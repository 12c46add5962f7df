//! Errors of whycam-train.

use thiserror::Error;

/// What can go wrong while training.
#[derive(Debug, Error)]
pub enum TrainError {
    /// Reading or preparing the data failed.
    #[error(transparent)]
    Data(#[from] whycam_data::DataError),
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
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
