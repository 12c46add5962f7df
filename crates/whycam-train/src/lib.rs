//! Training CAM-ready classifiers: `whycam-small`, a compact CNN that ends in global average
//! pooling and one linear layer, and the loop that fits it on a [`whycam_data::Loader`].

#![deny(missing_docs)]

mod error;
mod fit;
mod small;

pub use error::{Result, TrainError};
pub use fit::{EpochStats, FitConfig, OptimizerKind, Schedule, evaluate, fit};
pub use small::{WhycamSmall, WhycamSmallConfig};
