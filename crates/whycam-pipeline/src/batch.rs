//! Feeding prepared images to the network: decoding a chunk of inputs in parallel, and
//! stacking images of one shape into one batch tensor.

use crate::error::InputError;
use burn::prelude::*;
use rayon::prelude::*;
use std::path::Path;
use whycam_data::{DecodeLimits, FetchLimits, Prepared, PreprocessConfig, RgbImage, Source};

/// An input decoded and prepared for the network.
pub struct Decoded {
    pub source: Source,
    pub original: RgbImage,
    pub prepared: Prepared,
    /// What the decoder let through but the user should know (a truncated JPEG allowed).
    pub warnings: Vec<String>,
}

/// How inputs are read and prepared.
#[derive(Debug, Clone, Copy)]
pub struct Feeding<'a> {
    pub preprocess: &'a PreprocessConfig,
    pub limits: &'a DecodeLimits,
    pub fetch: &'a FetchLimits,
}

impl Feeding<'_> {
    /// Decodes and prepares `sources` in parallel, in order; each failure names its input.
    pub fn decode_all(&self, sources: &[Source]) -> Vec<Result<Decoded, InputError>> {
        sources.par_iter().map(|s| self.decode(s)).collect()
    }

    /// Decodes and prepares one input.
    pub fn decode(&self, source: &Source) -> Result<Decoded, InputError> {
        // Errors of `prepare` do not know the input yet: `with_path` names it, as for files.
        let fail = |e: whycam_data::DataError| {
            InputError::data(
                source.to_string(),
                &e.with_path(Path::new(source.name().as_ref())),
            )
        };
        let decoded = source.load(self.limits, self.fetch).map_err(fail)?;
        let prepared = whycam_data::prepare(&decoded.image, self.preprocess).map_err(fail)?;
        Ok(Decoded {
            source: source.clone(),
            original: decoded.image,
            prepared,
            warnings: decoded.warnings.iter().map(|w| w.to_string()).collect(),
        })
    }
}

/// Splits `items` into runs of consecutive images of one size, which can share a batch (all
/// of them, unless each photo keeps its aspect ratio).
pub fn same_size_runs<T>(
    items: &[T],
    prepared: impl Fn(&T) -> &Prepared,
) -> impl Iterator<Item = &[T]> {
    items.chunk_by(move |a, b| {
        let (a, b) = (prepared(a), prepared(b));
        (a.width, a.height) == (b.width, b.height)
    })
}

/// Stacks images of one size into an `[N, 3, H, W]` tensor on `device`.
///
/// # Panics
///
/// If `images` is empty or their sizes differ (split them with [`same_size_runs`]).
pub fn batch_tensor<'a>(
    images: impl ExactSizeIterator<Item = &'a Prepared> + Clone,
    device: &Device,
) -> Tensor<4> {
    let n = images.len();
    let first = images.clone().next().expect("a non-empty batch");
    let (w, h) = (first.width as usize, first.height as usize);
    let mut data = Vec::with_capacity(n * 3 * h * w);
    for image in images {
        assert_eq!((image.width as usize, image.height as usize), (w, h));
        data.extend_from_slice(&image.data);
    }
    whycam_models::zoo::try_input_batch(data, [n, h, w], device)
        .expect("images of one size fill the batch exactly")
}
