//! whycam's model zoo: CNN classifiers whose parameter names mirror the PyTorch module paths of
//! torchvision and `efficientnet_lite_pytorch`, so their state dicts load without renaming, and
//! whose feature layers can be run piecewise (the ground for gradient-based explanations that
//! differentiate only what follows the target layer).

#![deny(missing_docs)]

#[macro_use]
mod multiversion;

pub mod activation;
pub mod classifier;
pub mod conv;
pub mod densenet;
mod depthwise;
pub mod efficientnet_lite;
pub mod error;
pub mod explainable;
pub mod fullgrad;
pub mod guided;
mod kernels;
pub mod layers;
pub mod mobilenet_v2;
pub mod norm;
pub mod onnx;
pub mod parameters;
pub mod resnet;
pub mod vgg;
pub mod weights;
pub mod whycam_small;
mod winograd;
pub mod zoo;

pub use classifier::{Classifier, HeadSpec, Layer, LayerList, LinearHead};
pub use error::{ModelError, Result};
pub use explainable::{Explainable, Trace};
pub use fullgrad::{BiasGradients, BiasMap};
pub use guided::GuidedBackprop;
pub use onnx::{LayerLayout, OnnxModel, OnnxOptions};
pub use parameters::ParameterReplacer;
pub use weights::{WeightsFile, WeightsFormat};
pub use whycam_small::{WhycamSmall, WhycamSmallConfig};
pub use zoo::{Architecture, LoadOptions, Model, Network};
