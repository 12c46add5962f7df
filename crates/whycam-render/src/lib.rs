//! Turning explanation maps into pictures: colour maps, overlays on the original image,
//! titled figures, contact sheets and colour bars; and the escaping rules for putting
//! outside-world text into a page ([`html`]).
//!
//! This crate knows nothing about tensors or models: maps come in as [`Heatmap`]s, plain
//! row-major `f32` values, and pictures as `image` buffers. No picture drawn here exceeds
//! [`MAX_SIDE`] a side or [`MAX_PIXELS`] in all, whatever the input's size or aspect ratio.

#![deny(missing_docs)]

mod bounds;
mod colormap;
mod error;
pub mod factorization;
mod figure;
pub mod html;
mod overlay;
mod scatter;
mod text;
mod turbo;

pub use bounds::{MAX_FONT_SIZE, MAX_PIXELS, MAX_SIDE};
pub use colormap::Colormap;
pub use error::RenderError;
pub use figure::{
    Layout, Panel, Tile, Verdict, colorbar, contact_sheet, fit_within, side_by_side, with_colorbar,
};
pub use overlay::{Heatmap, OverlayStyle, centre_signed, overlay};
pub use scatter::{Scatter, class_colour};
pub use text::Text;
