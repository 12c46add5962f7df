//! The options every model-using subcommand shares, turned into the library's
//! [`ModelSpec`].

use clap::Args;
use std::path::PathBuf;
use whycam_data::{DecodeLimits, Preprocess};
use whycam_pipeline::open::ModelSpec;
pub use whycam_pipeline::open::{OpenedModel, is_onnx};

/// Which model, which weights, how images are fed to it.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Architecture (see `whycam models`). Default: efficientnet-lite0, or what the sidecar
    /// of a `whycam train` checkpoint says.
    #[arg(long)]
    pub model: Option<String>,
    /// Weights file: a .pth/.pt state dict or .safetensors (PyTorch parameter names), or any
    /// classifier exported to ONNX (`torch.onnx.export`; no --model needed). Default:
    /// the pretrained ImageNet weights for efficientnet-lite0/1/2, fetched into the cache. A
    /// checkpoint of `whycam train` brings its architecture, labels and preprocessing in the
    /// JSON beside it.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Class names, one per line (or a JSON array). Default: the checkpoint's, or ImageNet's
    /// for 1000 classes.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Input size in pixels. Default: the checkpoint's, or the model's native resolution.
    #[arg(long)]
    pub size: Option<u32>,
    /// crop: resize the shorter side to size/0.875 and centre-crop; stretch: resize to
    /// size×size; none: use the image as it is (it must be size×size). Default: the
    /// checkpoint's, or crop.
    #[arg(long)]
    pub preprocess: Option<Preprocess>,
    /// Per-channel mean of the input normalisation, as R,G,B in [0, 1]. Default: the
    /// checkpoint's or the architecture's (ImageNet's for ONNX graphs).
    #[arg(long, value_parser = parse_rgb, value_name = "R,G,B")]
    pub mean: Option<[f32; 3]>,
    /// Per-channel standard deviation of the input normalisation, as R,G,B.
    #[arg(long, value_parser = parse_rgb, value_name = "R,G,B")]
    pub std: Option<[f32; 3]>,
    /// Refuse images with more pixels than this (decompression-bomb guard).
    #[arg(long, default_value_t = DecodeLimits::default().max_pixels)]
    pub max_pixels: u64,
    /// Refuse image files larger than this many bytes (checked before reading).
    #[arg(long, default_value_t = DecodeLimits::DEFAULT_MAX_FILE_SIZE)]
    pub max_file_size: u64,
    /// Explain a JPEG that ends before its end-of-image marker (as decoded, grey below the
    /// cut) instead of refusing it; its summary entry carries a warning.
    #[arg(long)]
    pub allow_truncated: bool,
    /// The patch grid of a vision transformer's token layers (ONNX), as HxW: a layer
    /// [batch, tokens, channels] is explained as a HxW map, its leading tokens beyond H*W
    /// (the class token) dropped. Default: inferred when tokens - 1 (or tokens) is a square.
    #[arg(long, value_parser = parse_grid, value_name = "HxW")]
    pub tokens_grid: Option<(usize, usize)>,
}

impl ModelArgs {
    /// What the options name, for the library to open.
    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            architecture: self.model.clone(),
            weights: self.weights.clone(),
            labels: self.labels.clone(),
            size: self.size,
            preprocess: self.preprocess,
            mean: self.mean,
            std: self.std,
            max_pixels: Some(self.max_pixels),
            limits: Some(DecodeLimits {
                max_pixels: self.max_pixels,
                max_file_size: self.max_file_size,
                allow_truncated: self.allow_truncated,
            }),
            device: super::device(),
            tokens_grid: self.tokens_grid,
        }
    }

    /// Opens the model with BatchNorms folded (inference only).
    pub fn load(&self) -> anyhow::Result<OpenedModel> {
        Ok(self.spec().open()?)
    }

    /// Opens the model so that each of `layers` can be read.
    pub fn load_for_layers(&self, layers: &[String]) -> anyhow::Result<OpenedModel> {
        Ok(self.spec().open_for_layers(layers)?)
    }
}

/// `HxW` as a grid of patches, both at least 1.
pub fn parse_grid(text: &str) -> Result<(usize, usize), String> {
    let parsed = text.split_once(['x', 'X', '*']).and_then(|(h, w)| {
        Some((
            h.trim().parse::<usize>().ok()?,
            w.trim().parse::<usize>().ok()?,
        ))
    });
    match parsed {
        Some((h, w)) if h >= 1 && w >= 1 => Ok((h, w)),
        _ => Err(format!("expected a grid HxW such as 14x14, got {text:?}")),
    }
}

/// `R,G,B` as three floats.
fn parse_rgb(text: &str) -> Result<[f32; 3], String> {
    let values: Vec<f32> = text
        .split(',')
        .map(|v| v.trim().parse::<f32>().map_err(|e| format!("{v:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match values.as_slice() {
        [r, g, b] if values.iter().all(|v| v.is_finite()) => Ok([*r, *g, *b]),
        _ => Err(format!("expected three numbers R,G,B, got {text:?}")),
    }
}
