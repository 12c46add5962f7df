//! Turning explanation maps into pictures: colour maps and overlays on the original image.
//!
//! This crate knows nothing about tensors or models: maps come in as [`Heatmap`]s, plain
//! row-major `f32` values.

#![deny(missing_docs)]

mod colormap;
mod overlay;

pub use colormap::Colormap;
pub use overlay::{Heatmap, overlay};
