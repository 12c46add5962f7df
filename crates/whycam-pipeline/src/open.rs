//! Opening a model from what the user gave: a zoo name, a weights file (with the sidecar a
//! `whycam train` checkpoint has beside it), or an ONNX graph; with its labels and the
//! preprocessing its inputs need.

use crate::error::{PipelineError, Result};
use burn::prelude::Device;
use std::path::{Path, PathBuf};
use whycam_data::{DecodeLimits, Preprocess, PreprocessConfig};
use whycam_models::{Architecture, Model};
use whycam_train::{Sidecar, sidecar_path};

/// Which model, which weights, how images are fed to it: every field is optional and falls
/// back to the checkpoint's sidecar, the architecture's defaults or the graph's.
#[derive(Debug, Clone, Default)]
pub struct ModelSpec {
    /// Architecture name (`resnet50`). Default: the sidecar's, else efficientnet-lite0.
    pub architecture: Option<String>,
    /// Weights: a state dict, safetensors, or an ONNX graph. Default: the pretrained ones.
    pub weights: Option<PathBuf>,
    /// Class names, one per line or a JSON array.
    pub labels: Option<PathBuf>,
    /// Input size in pixels.
    pub size: Option<u32>,
    /// How images are cropped or resized.
    pub preprocess: Option<Preprocess>,
    /// Per-channel normalisation mean (R, G, B).
    pub mean: Option<[f32; 3]>,
    /// Per-channel normalisation deviation (R, G, B).
    pub std: Option<[f32; 3]>,
    /// Refuse images with more pixels than this (overrides `limits`).
    pub max_pixels: Option<u64>,
    /// How inputs are read and decoded (default: [`DecodeLimits::default`]).
    pub limits: Option<DecodeLimits>,
    /// Where the model's tensors live and every computation of the run happens.
    pub device: Device,
    /// The patch grid `(h, w)` of a vision transformer's token layers, when their length does
    /// not tell it (ONNX graphs only).
    pub tokens_grid: Option<(usize, usize)>,
}

/// A model ready to run, with what is needed to feed it and to name its outputs.
pub struct OpenedModel {
    pub model: Model,
    /// One name per class (two for a one-logit head).
    pub labels: Vec<String>,
    pub preprocess: PreprocessConfig,
    pub limits: DecodeLimits,
}

impl ModelSpec {
    /// Opens the model for running, not for gradients at the given layers: BatchNorms folded.
    pub fn open(&self) -> Result<OpenedModel> {
        self.open_for_layers(&[])
    }

    /// Opens the model so that each of `layers` (names as `whycam models` lists them) can be
    /// read: BatchNorms are folded unless a named layer is a convolution's output that a
    /// BatchNorm follows, which folding would remove. Decided before loading, from the names.
    pub fn open_for_layers(&self, layers: &[String]) -> Result<OpenedModel> {
        if let Some(path) = self.weights.as_ref().filter(|p| is_onnx(p)) {
            return self.open_onnx(path);
        }
        let sidecar = match &self.weights {
            Some(weights) => Sidecar::for_weights(weights)?,
            None => None,
        };
        let architecture: Architecture = match (&self.architecture, &sidecar, &self.weights) {
            (Some(name), Some(s), Some(weights)) => {
                let wanted: Architecture = name.parse()?;
                if wanted.name() != s.architecture {
                    return Err(PipelineError::ArchitectureMismatch {
                        requested: name.clone(),
                        weights: weights.clone(),
                        holds: s.architecture.clone(),
                        sidecar: sidecar_path(weights),
                    });
                }
                wanted
            }
            (Some(name), _, _) => name.parse()?,
            (None, Some(s), _) => s.architecture.parse()?,
            (None, None, _) => Architecture::DEFAULT,
        };
        let mut preprocess = match &sidecar {
            Some(s) => s.preprocess,
            None => PreprocessConfig {
                size: architecture.native_size() as u32,
                normalization: architecture.normalization(),
                ..PreprocessConfig::default()
            },
        };
        if let Some((height, width)) = self.tokens_grid {
            return Err(PipelineError::TokensGridForZoo {
                architecture: architecture.name(),
                height,
                width,
            });
        }
        self.override_preprocess(&mut preprocess)?;
        let min = architecture.min_size() as u32;
        if preprocess.size < min {
            return Err(PipelineError::InputTooSmall {
                architecture: architecture.name(),
                min,
                size: preprocess.size,
            });
        }
        let weights = match &self.weights {
            Some(path) => path.clone(),
            None => pretrained_weights(architecture)?,
        };
        let model = Model::load_for_layers(architecture, &weights, layers, &self.device)?;
        let labels = match (&self.labels, &sidecar) {
            (None, Some(s)) => {
                let wanted = model.net.num_classes().max(2);
                if s.labels.len() != wanted {
                    return Err(PipelineError::SidecarLabelCount {
                        path: sidecar_path(&weights),
                        found: s.labels.len(),
                        classes: wanted,
                    });
                }
                s.labels.clone()
            }
            _ => labels_for(self.labels.as_deref(), model.net.num_classes())?,
        };
        Ok(OpenedModel {
            model,
            labels,
            preprocess,
            limits: self.limits(),
        })
    }

    /// An ONNX graph: its architecture is the file; preprocessing comes from the options, the
    /// graph's fixed input size, or ImageNet's defaults.
    fn open_onnx(&self, path: &Path) -> Result<OpenedModel> {
        if let Some(name) = &self.architecture {
            return Err(PipelineError::ArchitectureForOnnx {
                requested: name.clone(),
                path: path.to_path_buf(),
            });
        }
        let options = whycam_models::OnnxOptions {
            tokens_grid: self.tokens_grid,
        };
        let model = Model::load_onnx_with(path, &self.device, options)?;
        let mut preprocess = PreprocessConfig {
            size: model.native_size() as u32,
            normalization: model.normalization(),
            ..PreprocessConfig::default()
        };
        self.override_preprocess(&mut preprocess)?;
        let native = model.native_size();
        if model.fixed_size() && preprocess.mode == Preprocess::Shorter {
            return Err(PipelineError::ShorterOnFixedInput {
                path: path.to_path_buf(),
                native,
            });
        }
        if model.fixed_size() && preprocess.size as usize != native {
            return Err(PipelineError::FixedInputSize {
                path: path.to_path_buf(),
                native,
                size: preprocess.size,
            });
        }
        let labels = labels_for(self.labels.as_deref(), model.net.num_classes())?;
        Ok(OpenedModel {
            model,
            labels,
            preprocess,
            limits: self.limits(),
        })
    }

    fn limits(&self) -> DecodeLimits {
        let mut limits = self.limits.unwrap_or_default();
        if let Some(max_pixels) = self.max_pixels {
            limits.max_pixels = max_pixels;
        }
        limits
    }

    /// Applies the size, mode, mean and deviation given.
    fn override_preprocess(&self, preprocess: &mut PreprocessConfig) -> Result<()> {
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
                return Err(PipelineError::BadDeviation { std });
            }
            preprocess.normalization.std = std;
        }
        preprocess.validate()?;
        Ok(())
    }
}

/// Whether a weights file is an ONNX graph: by its extension, else by its first bytes.
pub fn is_onnx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        || (!path.extension().is_some_and(|e| {
            ["pth", "pt", "bin", "safetensors"]
                .contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
        }) && whycam_models::onnx::looks_like_onnx(path))
}

/// The pretrained weights whycam ships for `architecture`, fetched into the cache.
pub fn pretrained_weights(architecture: Architecture) -> Result<PathBuf> {
    let name = architecture.name();
    let Some(asset) = whycam_assets::weights_asset(&name) else {
        return Err(PipelineError::NoPretrainedWeights { architecture: name });
    };
    whycam_assets::ensure(asset).map_err(|source| PipelineError::PretrainedWeights {
        architecture: name,
        source: Box::new(source),
    })
}

/// Class names: from a labels file, else ImageNet's for a 1000-way head, else `class N`. A
/// one-logit binary head has two classes (0 for a negative logit, 1 for a positive one).
pub fn labels_for(path: Option<&Path>, classes: usize) -> Result<Vec<String>> {
    let wanted = classes.max(2);
    match path {
        Some(path) => {
            let labels = whycam_data::load_labels(path)?;
            if labels.len() != wanted {
                return Err(PipelineError::LabelCount {
                    path: path.to_path_buf(),
                    found: labels.len(),
                    classes: wanted,
                });
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

/// The sample photos, fetched into the cache on first use.
pub fn sample_photos() -> Result<Vec<PathBuf>> {
    whycam_assets::ensure_sample_photos().map_err(|e| PipelineError::Samples(Box::new(e)))
}

/// `inputs` with the sample photos (fetched into the cache on first use) when `samples`; an
/// error when there are none.
pub fn inputs_or_samples(
    inputs: &[std::ffi::OsString],
    samples: bool,
) -> Result<Vec<std::ffi::OsString>> {
    let mut inputs = inputs.to_vec();
    if samples {
        inputs.extend(sample_photos()?.into_iter().map(PathBuf::into_os_string));
    }
    if inputs.is_empty() {
        return Err(PipelineError::NoInputs);
    }
    Ok(inputs)
}

/// One layer of a zoo architecture as `whycam models NAME` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRow {
    /// The layer's name (the module path of torchvision/timm).
    pub name: String,
    /// The other names it answers to.
    pub aliases: Vec<String>,
    /// Whether it is the default explanation target.
    pub default: bool,
}

/// The layers of `architecture` in execution order, built (untrained) on `device`.
pub fn zoo_layers(architecture: Architecture, device: &Device) -> Vec<LayerRow> {
    let head = whycam_models::HeadSpec {
        classes: 1,
        bias: true,
    };
    let net = architecture.build(head, device);
    let layers = net.layer_list();
    layers
        .list()
        .iter()
        .enumerate()
        .map(|(i, layer)| LayerRow {
            name: layer.name.clone(),
            aliases: layers
                .aliases_of(i)
                .into_iter()
                .map(str::to_string)
                .collect(),
            default: i == net.default_layer_index(),
        })
        .collect()
}
