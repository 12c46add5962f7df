//! Errors of whycam-train.

use std::path::PathBuf;
use thiserror::Error;

/// What can go wrong while training.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Reading or preparing the data failed.
    #[error(transparent)]
    Data(#[from] whycam_data::DataError),
    /// Building or loading the network failed.
    #[error(transparent)]
    Model(#[from] whycam_models::ModelError),
    /// No epoch to run, or a learning rate that is not positive and finite.
    #[error("need at least one epoch and a positive learning rate, got {epochs} and {lr}")]
    Schedule {
        /// Epochs asked for, all phases together.
        epochs: usize,
        /// The learning rate given.
        lr: f64,
    },
    /// The training data has more classes than the model's head can tell apart.
    #[error(
        "the training data has {classes} classes but the head has {outputs} output(s){}",
        binary_hint(*.outputs)
    )]
    HeadTooSmall {
        /// Classes of the training data.
        classes: usize,
        /// Outputs of the head.
        outputs: usize,
    },
    /// Every training sample was unreadable and skipped.
    #[error("no readable sample to train on")]
    NoTrainingSample,
    /// Every evaluation sample was unreadable and skipped.
    #[error("no readable sample to evaluate on")]
    NoEvaluationSample,
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

/// What a head of `outputs` outputs takes, when that is not obvious.
fn binary_hint(outputs: usize) -> &'static str {
    if outputs == 1 {
        " (a binary head takes two classes)"
    } else {
        ""
    }
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_head_says_what_it_takes() {
        let e = TrainError::HeadTooSmall {
            classes: 3,
            outputs: 1,
        };
        assert_eq!(
            e.to_string(),
            "the training data has 3 classes but the head has 1 output(s) \
             (a binary head takes two classes)"
        );
        let e = TrainError::HeadTooSmall {
            classes: 10,
            outputs: 5,
        };
        assert_eq!(
            e.to_string(),
            "the training data has 10 classes but the head has 5 output(s)"
        );
    }
}
