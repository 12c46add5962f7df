//! Turning explanation maps into pictures: colour maps, overlays on the original image,
//! titled figures, contact sheets and colour bars.
//!
//! This crate knows nothing about tensors or models: maps come in as [`Heatmap`]s, plain
//! row-major `f32` values, and pictures as `image` buffers.

#![deny(missing_docs)]

mod colormap;
mod error;
mod figure;
mod overlay;
mod scatter;
mod text;
mod turbo;

pub use colormap::Colormap;
pub use error::RenderError;
pub use figure::{
    Layout, Panel, Tile, Verdict, colorbar, contact_sheet, fit_within, side_by_side, with_colorbar,
};
pub use overlay::{Heatmap, OverlayStyle, centre_signed, overlay};
pub use scatter::{Scatter, class_colour};
pub use text::Text;
