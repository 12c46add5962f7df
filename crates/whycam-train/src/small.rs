//! `whycam-small`: three blocks of two 3×3 convolutions (BatchNorm, ReLU), 2×2 max pooling
//! after the first two, then global average pooling and one linear layer. The last block's
//! output feeds the pooling, so CAM applies to it directly.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// The shape of a [`WhycamSmall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhycamSmallConfig {
    /// Output classes.
    pub classes: usize,
    /// Channels of the three blocks.
    pub widths: [usize; 3],
}

impl WhycamSmallConfig {
    /// The default widths (32, 64, 128) for `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            widths: [32, 64, 128],
        }
    }

    /// A freshly initialised network (Kaiming-uniform convolutions, as PyTorch's defaults).
    pub fn init(&self, device: &Device) -> WhycamSmall {
        let mut blocks = Vec::new();
        let mut input = 3;
        for &width in &self.widths {
            blocks.push(ConvBlock {
                conv1: conv3x3(input, width, device),
                bn1: BatchNormConfig::new(width).init(device),
                conv2: conv3x3(width, width, device),
                bn2: BatchNormConfig::new(width).init(device),
            });
            input = width;
        }
        WhycamSmall {
            blocks,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            head: LinearConfig::new(input, self.classes).init(device),
        }
    }
}

fn conv3x3(input: usize, output: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// One block: conv, BN, ReLU, conv, BN, ReLU.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
}

impl ConvBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(self.bn1.forward(self.conv1.forward(x)));
        relu(self.bn2.forward(self.conv2.forward(x)))
    }
}

/// The network.
#[derive(Module, Debug)]
pub struct WhycamSmall {
    blocks: Vec<ConvBlock>,
    pool: MaxPool2d,
    head: Linear,
}

impl WhycamSmall {
    /// The last block's output, `N × C × h × w` (the CAM target layer).
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        let last = self.blocks.len() - 1;
        let mut x = x;
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if i < last {
                x = self.pool.forward(x);
            }
        }
        x
    }

    /// Logits, `N × classes`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let features = self.features(x);
        let [n, c, _, _] = features.dims();
        let pooled = features.mean_dim(3).mean_dim(2).reshape([n, c]);
        self.head.forward(pooled)
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.head.weight.dims()[1]
    }
}
