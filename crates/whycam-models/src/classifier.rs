//! The interface every architecture offers: a list of named feature stages that can be run
//! piecewise, and a classification head.
//!
//! Splitting a network at a stage boundary is what later lets whycam differentiate only the
//! part of the network after a CAM target: `features_at` runs stages `0..=s` without
//! autodiff, and `logits_from` runs the rest from a tracked activation.

use burn::prelude::*;

/// One named stage boundary of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The PyTorch module path whose output this stage is (`layer4`, `features.29`, `_blocks.15`).
    pub name: String,
    /// The output of a convolution that a BatchNorm follows: with the BatchNorm folded into the
    /// convolution this output no longer exists, so the model must be loaded unfolded.
    pub before_batchnorm: bool,
}

impl Stage {
    /// A stage whose output survives BatchNorm folding.
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

/// The stage list of a network, with aliases (a PyTorch container such as `layer4` names the
/// output of its last child `layer4.2`).
#[derive(Debug, Clone, Default)]
pub struct Stages {
    list: Vec<Stage>,
    aliases: Vec<(String, usize)>,
}

impl Stages {
    /// Appends a stage and returns its index.
    pub fn push(&mut self, stage: Stage) -> usize {
        self.list.push(stage);
        self.list.len() - 1
    }

    /// Makes `alias` another name for the stage at `index`.
    pub fn alias(&mut self, alias: impl Into<String>, index: usize) {
        self.aliases.push((alias.into(), index));
    }

    /// The stages in execution order.
    pub fn list(&self) -> &[Stage] {
        &self.list
    }

    /// Number of stages.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True for a network without stages.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Finds a stage by its name or an alias.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|s| s.name == name).or_else(|| {
            self.aliases
                .iter()
                .find(|(a, _)| a == name)
                .map(|(_, i)| *i)
        })
    }

    /// The aliases of the stage at `index`.
    pub fn aliases_of(&self, index: usize) -> Vec<&str> {
        self.aliases
            .iter()
            .filter(|(_, i)| *i == index)
            .map(|(a, _)| a.as_str())
            .collect()
    }

    /// Every accepted name: stage names and aliases, for error messages and `--help`.
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

/// A CNN image classifier split into named stages.
pub trait Classifier: Send + Sync + std::fmt::Debug {
    /// The named stage boundaries, in execution order.
    fn stages(&self) -> &Stages;

    /// Runs stage `index` alone.
    fn run_stage(&self, index: usize, x: Tensor<4>) -> Tensor<4>;

    /// The head after the last stage: pooling, flattening and the classifier.
    fn head(&self, features: Tensor<4>) -> Tensor<2>;

    /// Number of logits.
    fn num_classes(&self) -> usize;

    /// The stage whose output feeds global pooling: the default CAM target.
    fn default_stage(&self) -> usize {
        self.stages().len() - 1
    }

    /// The head's weights when it is global-average-pool + linear, else `None`.
    fn linear_head(&self) -> Option<LinearHead>;

    /// Whether BatchNorms were folded into their convolutions at load time.
    fn is_folded(&self) -> bool;

    /// Runs stages `range` one after the other.
    fn run_stages(&self, mut x: Tensor<4>, range: std::ops::Range<usize>) -> Tensor<4> {
        for i in range {
            x = self.run_stage(i, x);
        }
        x
    }

    /// The whole network: images `[N, 3, H, W]` to logits `[N, classes]`.
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let n = self.stages().len();
        self.head(self.run_stages(images, 0..n))
    }

    /// The output of stage `stage` (stages `0..=stage`).
    fn features_at(&self, images: Tensor<4>, stage: usize) -> Tensor<4> {
        self.run_stages(images, 0..stage + 1)
    }

    /// The logits computed from the output of stage `stage` (the stages after it, then the head).
    fn logits_from(&self, features: Tensor<4>, stage: usize) -> Tensor<2> {
        let n = self.stages().len();
        self.head(self.run_stages(features, stage + 1..n))
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
