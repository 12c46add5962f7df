//! `whycam-small`: a compact CAM-ready CNN to train from scratch. Blocks of two 3×3
//! convolutions (BatchNorm, ReLU), 2×2 max pooling between blocks, then global average
//! pooling and one linear layer, so CAM applies to the last block's output directly.
//!
//! Parameter names: `blocks.{i}.conv{1,2}.weight`, `blocks.{i}.bn{1,2}.*`, `head.*`. The
//! widths, the number of blocks and the input channels are read back from a checkpoint's
//! shapes, so any trained variant loads without further description.

use crate::classifier::{Classifier, HeadSpec, Layer, LayerList, LinearHead, global_avg_pool};
use crate::layers::{Norm2d, conv, conv_forward, fold_into};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// The shape of a [`WhycamSmall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhycamSmallConfig {
    /// Channels of each block (three by default).
    pub widths: Vec<usize>,
    /// Input channels the first convolution sees: 3, or 1 for grey images (the network then
    /// averages the three channels it is given, which costs a third of the first layer).
    pub in_channels: usize,
}

impl Default for WhycamSmallConfig {
    /// Widths 32, 64, 128 on colour input.
    fn default() -> Self {
        Self {
            widths: vec![32, 64, 128],
            in_channels: 3,
        }
    }
}

impl WhycamSmallConfig {
    /// A freshly initialised network (Kaiming-uniform convolutions, as PyTorch's defaults).
    pub fn init(&self, head: HeadSpec, device: &Device) -> WhycamSmall {
        let mut blocks = Vec::new();
        let mut layer_list = LayerList::default();
        let mut input = self.in_channels;
        for (i, &width) in self.widths.iter().enumerate() {
            blocks.push(ConvBlock {
                conv1: conv([input, width], 3, 1, 1, 1, false, device),
                bn1: Norm2d::new(width, 1e-5, device),
                conv2: conv([width, width], 3, 1, 1, 1, false, device),
                bn2: Norm2d::new(width, 1e-5, device),
            });
            layer_list.push(Layer::new(format!("blocks.{i}")));
            input = width;
        }
        if !self.widths.is_empty() {
            layer_list.alias("features", self.widths.len() - 1);
        }
        WhycamSmall {
            blocks,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            head: LinearConfig::new(input, head.classes)
                .with_bias(head.bias)
                .init(device),
            grey: self.in_channels == 1,
            layer_list,
        }
    }
}

/// One block: conv, BN, ReLU, conv, BN, ReLU.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv1: Conv2d,
    bn1: Norm2d,
    conv2: Conv2d,
    bn2: Norm2d,
}

impl ConvBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(self.bn1.forward(conv_forward(&self.conv1, x)));
        relu(self.bn2.forward(conv_forward(&self.conv2, x)))
    }

    fn fold(&mut self) {
        fold_into(&mut self.conv1, &mut self.bn1);
        fold_into(&mut self.conv2, &mut self.bn2);
    }
}

/// The network.
#[derive(Module, Debug)]
pub struct WhycamSmall {
    blocks: Vec<ConvBlock>,
    pool: MaxPool2d,
    head: Linear,
    #[module(skip)]
    grey: bool,
    #[module(skip)]
    layer_list: LayerList,
}

impl WhycamSmall {
    /// Folds every BatchNorm into its convolution (inference only).
    pub fn fold_batchnorm(&mut self) {
        for block in &mut self.blocks {
            block.fold();
        }
    }

    /// The network's configuration.
    pub fn config(&self) -> WhycamSmallConfig {
        WhycamSmallConfig {
            widths: self
                .blocks
                .iter()
                .map(|b| b.conv1.weight.dims()[0])
                .collect(),
            in_channels: if self.grey { 1 } else { 3 },
        }
    }
}

impl Classifier for WhycamSmall {
    fn layer_list(&self) -> &LayerList {
        &self.layer_list
    }

    fn run_layer(&self, index: usize, x: Tensor<4>) -> Tensor<4> {
        let x = if index == 0 && self.grey {
            x.mean_dim(1)
        } else if index > 0 {
            self.pool.forward(x)
        } else {
            x
        };
        self.blocks[index].forward(x)
    }

    fn head(&self, features: Tensor<4>) -> Tensor<2> {
        self.head.forward(global_avg_pool(features))
    }

    fn num_classes(&self) -> usize {
        self.head.weight.dims()[1]
    }

    fn linear_head(&self) -> Option<LinearHead> {
        Some(LinearHead::from_linear(&self.head))
    }

    fn is_folded(&self) -> bool {
        self.blocks.first().is_some_and(|b| b.bn1.is_folded())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_input_averages_the_channels_and_cam_stages_are_named() {
        let device = Device::default();
        let config = WhycamSmallConfig {
            widths: vec![4, 8],
            in_channels: 1,
        };
        let net = config
            .init(
                HeadSpec {
                    classes: 3,
                    bias: true,
                },
                &device,
            )
            .valid();
        assert_eq!(net.config(), config);
        assert_eq!(net.layer_list().find("features"), Some(1));
        assert_eq!(net.layer_list().find("blocks.0"), Some(0));
        let x = Tensor::<4>::random(
            [2, 1, 8, 8],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let rgb = x.clone().repeat_dim(1, 3);
        let logits = net.forward(rgb);
        assert_eq!(logits.dims(), [2, 3]);
        let features = net.features_at(x.repeat_dim(1, 3), 1);
        assert_eq!(features.dims(), [2, 8, 4, 4]);
    }
}
