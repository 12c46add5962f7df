//! The interface every architecture offers: a list of named feature layers that can be run
//! piecewise, and a classification head.
//!
//! Splitting a network at a layer's output is what later lets whycam differentiate only the
//! part of the network after a CAM target: `features_at` runs layers `0..=s` without
//! autodiff, and `logits_from` runs the rest from a tracked activation.

use crate::error::{ModelError, Result};
use crate::parameters::ParameterReplacer;
use burn::prelude::*;

/// One named layer of a network: a point where it can be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The PyTorch module path whose output this layer is (`layer4`, `features.29`, `_blocks.15`).
    pub name: String,
    /// The output of a convolution that a BatchNorm follows: with the BatchNorm folded into the
    /// convolution this output no longer exists, so the model must be loaded unfolded.
    pub before_batchnorm: bool,
}

impl Layer {
    /// A layer whose output survives BatchNorm folding.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            before_batchnorm: false,
        }
    }

    /// A convolution's output that a BatchNorm consumes.
    pub fn conv_before_bn(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            before_batchnorm: true,
        }
    }
}

/// The layer list of a network, with aliases (a PyTorch container such as `layer4` names the
/// output of its last child `layer4.2`).
#[derive(Debug, Clone, Default)]
pub struct LayerList {
    list: Vec<Layer>,
    aliases: Vec<(String, usize)>,
}

impl LayerList {
    /// Appends a layer and returns its index.
    pub fn push(&mut self, layer: Layer) -> usize {
        self.list.push(layer);
        self.list.len() - 1
    }

    /// Makes `alias` another name for the layer at `index`.
    pub fn alias(&mut self, alias: impl Into<String>, index: usize) {
        self.aliases.push((alias.into(), index));
    }

    /// The layers in execution order.
    pub fn list(&self) -> &[Layer] {
        &self.list
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True for a network without layers.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Finds a layer by its name or an alias.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|s| s.name == name).or_else(|| {
            self.aliases
                .iter()
                .find(|(a, _)| a == name)
                .map(|(_, i)| *i)
        })
    }

    /// The aliases of the layer at `index`.
    pub fn aliases_of(&self, index: usize) -> Vec<&str> {
        self.aliases
            .iter()
            .filter(|(_, i)| *i == index)
            .map(|(a, _)| a.as_str())
            .collect()
    }

    /// Every accepted name: layer names and aliases, for error messages and `--help`.
    pub fn all_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.list.iter().map(|s| s.name.clone()).collect();
        names.extend(self.aliases.iter().map(|(a, _)| a.clone()));
        names
    }
}

/// The classifier of a "global average pool + linear" head: what CAM needs.
#[derive(Debug, Clone)]
pub struct LinearHead {
    /// Shape `[classes, channels]`, PyTorch's layout.
    pub weight: Tensor<2>,
    /// Shape `[classes]`.
    pub bias: Option<Tensor<1>>,
}

impl LinearHead {
    /// The head of a burn `Linear` (which stores its weight as `[in, out]`).
    pub fn from_linear(linear: &burn::nn::Linear) -> Self {
        Self {
            weight: linear.weight.val().transpose(),
            bias: linear.bias.as_ref().map(|b| b.val()),
        }
    }
}

/// A CNN image classifier split into named layers.
pub trait Classifier: Send + Sync + std::fmt::Debug {
    /// The named layers, in execution order.
    fn layer_list(&self) -> &LayerList;

    /// Runs layer `index` alone.
    fn run_layer(&self, index: usize, x: Tensor<4>) -> Tensor<4>;

    /// The head after the last layer: pooling, flattening and the classifier.
    fn head(&self, features: Tensor<4>) -> Tensor<2>;

    /// Number of logits.
    fn num_classes(&self) -> usize;

    /// The layer whose output feeds global pooling: the default CAM target.
    fn default_layer_index(&self) -> usize {
        self.layer_list().len() - 1
    }

    /// The head's weights when it is global-average-pool + linear, else `None`.
    fn linear_head(&self) -> Option<LinearHead>;

    /// Whether BatchNorms were folded into their convolutions at load time.
    fn is_folded(&self) -> bool;

    /// Replaces parameter tensors in place, offering each by its PyTorch name (see
    /// [`crate::parameters`]). Networks that do not know their names refuse.
    fn replace_parameters(&mut self, _replace: &mut ParameterReplacer<'_>) -> Result<()> {
        Err(ModelError::NoParameterNames {
            model: std::any::type_name::<Self>().to_string(),
        })
    }

    /// Runs layers `range` one after the other.
    fn run_layers(&self, mut x: Tensor<4>, range: std::ops::Range<usize>) -> Tensor<4> {
        for i in range {
            x = self.run_layer(i, x);
        }
        x
    }

    /// The whole network: images `[N, 3, H, W]` to logits `[N, classes]`.
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let n = self.layer_list().len();
        self.head(self.run_layers(images, 0..n))
    }

    /// The output of layer `layer` (layers `0..=layer`).
    fn features_at(&self, images: Tensor<4>, layer: usize) -> Tensor<4> {
        self.run_layers(images, 0..layer + 1)
    }

    /// The logits computed from the output of layer `layer` (the layers after it, then the head).
    fn logits_from(&self, features: Tensor<4>, layer: usize) -> Tensor<2> {
        let n = self.layer_list().len();
        self.head(self.run_layers(features, layer + 1..n))
    }
}

/// Global average pooling `[N, C, H, W] -> [N, C]`.
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([n, c])
}

/// The size of a classifier head, read from the weights before the model is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadSpec {
    /// Number of logits (1 for a binary one-logit head).
    pub classes: usize,
    /// Whether the final linear layer has a bias.
    pub bias: bool,
}
