//! The model zoo: architecture names as torchvision and the EfficientNet-Lite package spell
//! them, and building a ready-to-run classifier from a weights file.

use crate::classifier::{Classifier, HeadSpec};
use crate::densenet::DenseNet;
use crate::efficientnet_lite::{EfficientNetLite, native_resolution};
use crate::error::{ModelError, Result};
use crate::mobilenet_v2::MobileNetV2;
use crate::resnet::{ResNet, ResNetDepth};
use crate::vgg::Vgg;
use crate::weights::WeightsFile;
use burn::module::Module;
use burn::prelude::*;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use whycam_data::Normalization;

/// Every architecture whycam can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// EfficientNet-Lite0..4.
    EfficientNetLite(u8),
    /// torchvision ResNet.
    ResNet(ResNetDepth),
    /// torchvision VGG (11, 13, 16, 19), with BatchNorm or not.
    Vgg {
        /// 11, 13, 16 or 19.
        depth: u8,
        /// The `_bn` variant.
        batch_norm: bool,
    },
    /// torchvision MobileNetV2.
    MobileNetV2,
    /// torchvision DenseNet-121.
    DenseNet121,
}

impl Architecture {
    /// Every architecture, in the order `--help` lists them.
    pub const ALL: [Architecture; 20] = [
        Architecture::EfficientNetLite(0),
        Architecture::EfficientNetLite(1),
        Architecture::EfficientNetLite(2),
        Architecture::EfficientNetLite(3),
        Architecture::EfficientNetLite(4),
        Architecture::ResNet(ResNetDepth::R18),
        Architecture::ResNet(ResNetDepth::R34),
        Architecture::ResNet(ResNetDepth::R50),
        Architecture::ResNet(ResNetDepth::R101),
        Architecture::ResNet(ResNetDepth::R152),
        Architecture::Vgg {
            depth: 11,
            batch_norm: false,
        },
        Architecture::Vgg {
            depth: 11,
            batch_norm: true,
        },
        Architecture::Vgg {
            depth: 13,
            batch_norm: false,
        },
        Architecture::Vgg {
            depth: 13,
            batch_norm: true,
        },
        Architecture::Vgg {
            depth: 16,
            batch_norm: false,
        },
        Architecture::Vgg {
            depth: 16,
            batch_norm: true,
        },
        Architecture::Vgg {
            depth: 19,
            batch_norm: false,
        },
        Architecture::Vgg {
            depth: 19,
            batch_norm: true,
        },
        Architecture::MobileNetV2,
        Architecture::DenseNet121,
    ];

    /// The default model: EfficientNet-Lite0.
    pub const DEFAULT: Architecture = Architecture::EfficientNetLite(0);

    /// The name used on the command line (`efficientnet-lite0`, `resnet50`, `vgg16_bn`, ...).
    pub fn name(self) -> String {
        match self {
            Architecture::EfficientNetLite(v) => format!("efficientnet-lite{v}"),
            Architecture::ResNet(d) => format!(
                "resnet{}",
                match d {
                    ResNetDepth::R18 => 18,
                    ResNetDepth::R34 => 34,
                    ResNetDepth::R50 => 50,
                    ResNetDepth::R101 => 101,
                    ResNetDepth::R152 => 152,
                }
            ),
            Architecture::Vgg { depth, batch_norm } => {
                format!("vgg{depth}{}", if batch_norm { "_bn" } else { "" })
            }
            Architecture::MobileNetV2 => "mobilenet_v2".to_string(),
            Architecture::DenseNet121 => "densenet121".to_string(),
        }
    }

    /// The input resolution the model was trained at.
    pub fn native_size(self) -> usize {
        match self {
            Architecture::EfficientNetLite(v) => native_resolution(v as usize),
            _ => 224,
        }
    }

    /// The input normalisation the weights expect.
    pub fn normalization(self) -> Normalization {
        match self {
            Architecture::EfficientNetLite(_) => Normalization::EFFICIENTNET_LITE,
            _ => Normalization::IMAGENET,
        }
    }

    /// Names of the classifier weight and bias as burn-store indexes them.
    fn classifier_keys(self) -> (&'static str, &'static str) {
        match self {
            Architecture::EfficientNetLite(_) => ("_fc.weight", "_fc.bias"),
            Architecture::ResNet(_) => ("fc.weight", "fc.bias"),
            // Sequential indices 6 and 1, renumbered contiguously by burn-store.
            Architecture::Vgg { .. } => ("classifier.2.weight", "classifier.2.bias"),
            Architecture::MobileNetV2 => ("classifier.0.weight", "classifier.0.bias"),
            Architecture::DenseNet121 => ("classifier.weight", "classifier.bias"),
        }
    }

    fn key_remaps(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Architecture::DenseNet121 => DenseNet::KEY_REMAPS,
            _ => &[],
        }
    }

    /// The smallest input side the network accepts: below it a pooling layer would receive
    /// a 1×1 map (torchvision's `min_size` of each architecture).
    pub fn min_size(self) -> usize {
        match self {
            Architecture::Vgg { .. } => 32,
            Architecture::DenseNet121 => 29,
            _ => 1,
        }
    }

    /// Builds the network with burn's random initialisation, BatchNorms unfolded.
    ///
    /// # Panics
    ///
    /// For an architecture outside [`Architecture::ALL`].
    pub fn build(self, head: HeadSpec, device: &Device) -> Box<dyn Classifier> {
        build_ready(
            self,
            head,
            device,
            LoadOptions {
                fold_batchnorm: false,
            },
            &mut |_| Ok(()),
        )
        .expect("an architecture from Architecture::ALL")
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Architecture {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Architecture::ALL
            .into_iter()
            .find(|a| a.name().replace('-', "_") == wanted)
            .ok_or_else(|| ModelError::UnknownModel {
                name: s.to_string(),
                known: Architecture::ALL.map(|a| a.name()).join(", "),
            })
    }
}

/// How to load.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Fold BatchNorms into their convolutions: faster inference, but no gradients for the
    /// BatchNorm parameters and no access to convolution outputs that a BatchNorm follows.
    pub fold_batchnorm: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            fold_batchnorm: true,
        }
    }
}

/// A classifier with its weights, ready for inference.
#[derive(Debug)]
pub struct Model {
    /// The architecture.
    pub architecture: Architecture,
    /// Where the weights came from.
    pub weights: PathBuf,
    /// The network.
    pub net: Box<dyn Classifier>,
}

impl Model {
    /// Builds `architecture` and loads `weights` into it (PyTorch `.pth`/`.pt` or safetensors,
    /// with PyTorch's parameter names). The number of classes is read from the file.
    pub fn load(architecture: Architecture, weights: &Path, options: LoadOptions) -> Result<Self> {
        let (weight_key, bias_key) = architecture.classifier_keys();
        let mut file = WeightsFile::open_for(weights, architecture.key_remaps(), weight_key)?;
        let name = architecture.name();
        // Without a classifier tensor the load below fails anyway, listing every mismatch.
        let head = file
            .head_spec(weight_key, bias_key, &name)?
            .unwrap_or(HeadSpec {
                classes: 1,
                bias: true,
            });
        let net = build_ready(architecture, head, &Device::default(), options, &mut |m| {
            m.load_from_file(&mut file, &name)
        })?;
        Ok(Self {
            architecture,
            weights: weights.to_path_buf(),
            net,
        })
    }

    /// A network with random initial weights (burn's initialisers), in inference mode: for
    /// benchmarks and tests that need no trained weights.
    ///
    /// # Panics
    ///
    /// For an architecture outside [`Architecture::ALL`].
    pub fn untrained(architecture: Architecture, head: HeadSpec, options: LoadOptions) -> Self {
        let net = build_ready(architecture, head, &Device::default(), options, &mut |_| {
            Ok(())
        })
        .expect("an architecture from Architecture::ALL");
        Self {
            architecture,
            weights: PathBuf::new(),
            net,
        }
    }

    /// Resolves a layer name (`layer4`, `features.29`, `_blocks.15`) to a stage index.
    pub fn stage(&self, name: &str) -> Result<usize> {
        let stages = self.net.stages();
        let index = stages.find(name).ok_or_else(|| ModelError::UnknownStage {
            name: name.to_string(),
            model: self.architecture.name(),
            known: stages.all_names().join(", "),
        })?;
        if self.net.is_folded() && stages.list()[index].before_batchnorm {
            return Err(ModelError::StageFolded {
                name: name.to_string(),
                model: self.architecture.name(),
            });
        }
        Ok(index)
    }
}

/// Gives a freshly built network its weights.
type WeightSource<'a> = dyn FnMut(&mut dyn LoadInto) -> Result<()> + 'a;

/// What [`WeightSource`]s can fill: any model of the zoo.
pub trait LoadInto {
    /// Applies `file` to this module.
    fn load_from_file(&mut self, file: &mut WeightsFile, model: &str) -> Result<()>;
}

impl<M: Module> LoadInto for M {
    fn load_from_file(&mut self, file: &mut WeightsFile, model: &str) -> Result<()> {
        file.apply_to(self, model)
    }
}

/// Builds `architecture`, lets `load` fill its weights, switches it to inference mode and
/// folds its BatchNorms if asked.
fn build_ready(
    architecture: Architecture,
    head: HeadSpec,
    device: &Device,
    options: LoadOptions,
    load: &mut WeightSource<'_>,
) -> Result<Box<dyn Classifier>> {
    // The variants carry numbers; only the combinations torchvision and the Lite package
    // define exist (`Vgg { depth: 12 }` does not).
    if !Architecture::ALL.contains(&architecture) {
        return Err(ModelError::UnknownModel {
            name: format!("{architecture:?}"),
            known: Architecture::ALL.map(|a| a.name()).join(", "),
        });
    }
    Ok(match architecture {
        Architecture::EfficientNetLite(v) => {
            let m = EfficientNetLite::new(v as usize, head, device);
            ready(m, options, load, EfficientNetLite::fold_batchnorm)?
        }
        Architecture::ResNet(d) => ready(
            ResNet::new(d, head, device),
            options,
            load,
            ResNet::fold_batchnorm,
        )?,
        Architecture::Vgg { depth, batch_norm } => {
            let m = Vgg::new(depth as usize, batch_norm, head, device);
            ready(m, options, load, Vgg::fold_batchnorm)?
        }
        Architecture::MobileNetV2 => ready(
            MobileNetV2::new(head, device),
            options,
            load,
            MobileNetV2::fold_batchnorm,
        )?,
        Architecture::DenseNet121 => ready(
            DenseNet::new121(head, device),
            options,
            load,
            DenseNet::fold_batchnorm,
        )?,
    })
}

fn ready<M>(
    mut model: M,
    options: LoadOptions,
    load: &mut WeightSource<'_>,
    fold: fn(&mut M),
) -> Result<Box<dyn Classifier>>
where
    M: Module + Classifier + 'static,
{
    load(&mut model)?;
    let mut model = model.valid();
    if options.fold_batchnorm {
        fold(&mut model);
    }
    Ok(Box::new(model))
}

impl Model {
    /// Logits for a batch of `n` preprocessed images (`n × 3 × size × size` values, NCHW),
    /// row-major `[n, classes]`.
    pub fn logits(&self, images: Vec<f32>, n: usize, size: usize) -> Vec<f32> {
        let device = Device::default();
        let x = Tensor::<4>::from_data(TensorData::new(images, [n, 3, size, size]), &device);
        self.net
            .forward(x)
            .into_data()
            .try_into_vec::<f32>()
            .expect("the network computes in f32")
    }
}
