//! Getting images into a CNN the way torchvision does: decoding files to RGB
//! ([`load_rgb8`], within [`DecodeLimits`]: regular files only, a size limit, truncated
//! JPEGs refused), resizing, cropping and normalising them into CHW `f32` inputs
//! ([`prepare`]), expanding command-line paths into image files ([`collect_inputs`]),
//! and class names ([`imagenet_labels`], [`load_labels`], [`find_label`]).
//!
//! Inputs may also be `http(s)://` URLs: [`collect_sources`] turns a command line into
//! [`Source`]s, which load and prepare files and downloads alike; [`fetch_bytes`] does
//! the download within [`FetchLimits`]. Only URLs the caller passes are ever contacted.
//!
//! This crate knows nothing about tensors or models; it hands out plain `Vec<f32>`s.

#![deny(missing_docs)]

pub mod datasets;
mod decode;
mod error;
mod fetch;
mod files;
mod inputs;
mod jpeg_end;
mod labels;
mod loader;
mod names;
mod preprocess;
mod source;
#[cfg(test)]
mod test_server;

pub use datasets::{Dataset, Split};
pub use decode::{DecodeLimits, DecodedImage, decode_image, decode_rgb8, load_image, load_rgb8};
pub use error::{DataError, Result};
pub use fetch::{FetchLimits, fetch_bytes};
pub use image::RgbImage;
pub use inputs::{IMAGE_EXTENSIONS, collect_inputs, collect_sources, has_image_extension};
pub use labels::{find_class, find_label, imagenet_labels, load_labels};
pub use loader::{Augment, Batch, Loader, LoaderConfig, Skipped};
pub use names::{path_from_shown, shown_name, shown_path};
pub use preprocess::{
    CropRegion, Normalization, Prepared, Preprocess, PreprocessConfig, normalize_chw, prepare,
    prepare_file, resize_to_input,
};
pub use source::Source;
