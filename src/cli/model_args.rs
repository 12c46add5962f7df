//! The options every model-using subcommand shares, and turning them into a loaded model,
//! its labels and its preprocessing.

use anyhow::{Context, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use whycam_data::{DecodeLimits, Preprocess, PreprocessConfig};
use whycam_models::{Architecture, LoadOptions, Model};
use whycam_train::{Sidecar, sidecar_path};

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
}

/// A model ready to run, with what is needed to feed it and to name its outputs.
pub struct LoadedModel {
    pub model: Model,
    pub labels: Vec<String>,
    pub preprocess: PreprocessConfig,
    pub limits: DecodeLimits,
}

impl ModelArgs {
    /// Loads the model with BatchNorms folded (inference only).
    pub fn load(&self) -> anyhow::Result<LoadedModel> {
        self.load_with(LoadOptions::default())
    }

    /// Loads the model with `options`.
    pub fn load_with(&self, options: LoadOptions) -> anyhow::Result<LoadedModel> {
        if let Some(path) = self.weights.as_ref().filter(|p| is_onnx(p)) {
            return self.load_onnx(path);
        }
        let sidecar = match &self.weights {
            Some(weights) => Sidecar::for_weights(weights)?,
            None => None,
        };
        let architecture: Architecture = match (&self.model, &sidecar) {
            (Some(name), None) => name.parse()?,
            (None, Some(s)) => s.architecture.parse()?,
            (Some(name), Some(s)) => {
                let wanted: Architecture = name.parse()?;
                if wanted.name() != s.architecture {
                    bail!(
                        "--model {name}: {} holds a {} (see {})",
                        self.weights
                            .as_ref()
                            .expect("a sidecar comes with weights")
                            .display(),
                        s.architecture,
                        sidecar_path(self.weights.as_ref().expect("weights")).display()
                    );
                }
                wanted
            }
            (None, None) => Architecture::DEFAULT,
        };
        let mut preprocess = match &sidecar {
            Some(s) => s.preprocess,
            None => PreprocessConfig {
                size: architecture.native_size() as u32,
                normalization: architecture.normalization(),
                ..PreprocessConfig::default()
            },
        };
        self.override_preprocess(&mut preprocess)?;
        let min = architecture.min_size() as u32;
        if preprocess.size < min {
            bail!(
                "{architecture} needs inputs of at least {min}x{min} px, got --size {}",
                preprocess.size
            );
        }
        let weights = match &self.weights {
            Some(path) => path.clone(),
            None => pretrained_weights(architecture)?,
        };
        let model = Model::load(architecture, &weights, options)?;
        let labels = match (&self.labels, &sidecar) {
            (None, Some(s)) => {
                let wanted = model.net.num_classes().max(2);
                if s.labels.len() != wanted {
                    bail!(
                        "{} names {} classes but the weights have {wanted}",
                        sidecar_path(&weights).display(),
                        s.labels.len()
                    );
                }
                s.labels.clone()
            }
            _ => labels_for(self.labels.as_ref(), model.net.num_classes())?,
        };
        let limits = DecodeLimits {
            max_pixels: self.max_pixels,
        };
        Ok(LoadedModel {
            model,
            labels,
            preprocess,
            limits,
        })
    }
}

impl ModelArgs {
    /// An ONNX graph: its architecture is the file; preprocessing comes from the options, the
    /// graph's fixed input size, or ImageNet's defaults.
    fn load_onnx(&self, path: &Path) -> anyhow::Result<LoadedModel> {
        if let Some(name) = &self.model {
            bail!(
                "--model {name}: {} is an ONNX graph, which brings its own architecture; \
                 drop --model",
                path.display()
            );
        }
        let model = Model::load_onnx(path)?;
        let mut preprocess = PreprocessConfig {
            size: model.native_size() as u32,
            normalization: model.normalization(),
            ..PreprocessConfig::default()
        };
        self.override_preprocess(&mut preprocess)?;
        if model.fixed_size() && preprocess.mode == Preprocess::Shorter {
            bail!(
                "{}: --preprocess shorter keeps each photo's aspect ratio, but this graph's \
                 input shape is fixed ({n}x{n}); export it with dynamic height and width",
                path.display(),
                n = model.native_size()
            );
        }
        if model.fixed_size() && preprocess.size as usize != model.native_size() {
            let n = model.native_size();
            bail!(
                "{} takes only {n}x{n} inputs (its input shape is fixed), got --size {}; \
                 export it with dynamic height and width to feed other sizes",
                path.display(),
                preprocess.size
            );
        }
        let labels = labels_for(self.labels.as_ref(), model.net.num_classes())?;
        Ok(LoadedModel {
            model,
            labels,
            preprocess,
            limits: DecodeLimits {
                max_pixels: self.max_pixels,
            },
        })
    }

    /// Applies `--size`, `--preprocess`, `--mean` and `--std`.
    fn override_preprocess(&self, preprocess: &mut PreprocessConfig) -> anyhow::Result<()> {
        if let Some(size) = self.size {
            preprocess.size = size;
        }
        if let Some(mode) = self.preprocess {
            preprocess.mode = mode;
        }
        if let Some(mean) = self.mean {
            preprocess.normalization.mean = mean;
        }
        if let Some(std) = self.std {
            if std.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
                bail!("--std {std:?}: every deviation must be positive");
            }
            preprocess.normalization.std = std;
        }
        preprocess.validate()?;
        Ok(())
    }
}

/// Whether a weights file is an ONNX graph: by its extension, else by its first bytes.
pub(crate) fn is_onnx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        || (!path.extension().is_some_and(|e| {
            ["pth", "pt", "bin", "safetensors"]
                .contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
        }) && whycam_models::onnx::looks_like_onnx(path))
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

pub(crate) fn pretrained_weights(architecture: Architecture) -> anyhow::Result<PathBuf> {
    let name = architecture.name();
    let Some(asset) = whycam_assets::weights_asset(&name) else {
        bail!(
            "whycam ships no pretrained weights for {name}; pass --weights FILE \
             (for example a torchvision state dict saved with torch.save(model.state_dict(), FILE))"
        );
    };
    whycam_assets::ensure(asset)
        .with_context(|| format!("fetching the pretrained weights of {name}"))
}

/// Class names: from `--labels`, else ImageNet's for a 1000-way head, else `class N`. A
/// one-logit binary head has two classes (0 for a negative logit, 1 for a positive one).
pub(crate) fn labels_for(path: Option<&PathBuf>, classes: usize) -> anyhow::Result<Vec<String>> {
    let wanted = classes.max(2);
    match path {
        Some(path) => {
            let labels = whycam_data::load_labels(path)?;
            if labels.len() != wanted {
                bail!(
                    "{} holds {} labels but the model has {wanted} classes",
                    path.display(),
                    labels.len()
                );
            }
            Ok(labels)
        }
        None if classes == 1000 => Ok(whycam_data::imagenet_labels()
            .iter()
            .map(|s| s.to_string())
            .collect()),
        None => Ok((0..wanted).map(|i| format!("class {i}")).collect()),
    }
}
