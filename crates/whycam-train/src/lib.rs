//! Training CAM-ready classifiers: any network of the zoo (with a new linear or binary head)
//! or `whycam-small` from scratch, fitted on a [`whycam_data::Loader`], saved as
//! safetensors with a JSON sidecar.

#![deny(missing_docs)]

mod checkpoint;
mod error;
mod fit;

pub use checkpoint::{Sidecar, TrainingRecord, optimizer_path, save, sidecar_path};
pub use error::{Result, TrainError};
pub use fit::{
    EpochStats, Evaluation, FitConfig, Fitted, Observer, OptimizerKind, Schedule, evaluate, fit,
    stable_ids,
};
