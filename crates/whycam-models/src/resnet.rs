//! ResNet-18/34/50/101/152 (He et al., "Deep Residual Learning for Image Recognition",
//! CVPR 2016), laid out exactly as torchvision's `torchvision/models/resnet.py` (v1.5: the
//! stride of a bottleneck sits on its 3×3 convolution), so a torchvision state dict loads
//! without renaming.

use crate::activation::relu;
use crate::classifier::{Classifier, HeadSpec, Layer, LayerList, LinearHead, global_avg_pool};
use crate::layers::{
    ConvOrNorm, Norm2d, conv, conv_forward, conv_norm_rectified, conv_norm_residual,
    conv_norm_sequence, fold_into, fold_sequence, run_sequence,
};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

const EPS: f64 = 1e-5;

/// The ResNet depths torchvision ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResNetDepth {
    /// ResNet-18 (basic blocks 2-2-2-2).
    R18,
    /// ResNet-34 (basic blocks 3-4-6-3).
    R34,
    /// ResNet-50 (bottlenecks 3-4-6-3).
    R50,
    /// ResNet-101 (bottlenecks 3-4-23-3).
    R101,
    /// ResNet-152 (bottlenecks 3-8-36-3).
    R152,
}

impl ResNetDepth {
    fn blocks(self) -> [usize; 4] {
        match self {
            ResNetDepth::R18 => [2, 2, 2, 2],
            ResNetDepth::R34 | ResNetDepth::R50 => [3, 4, 6, 3],
            ResNetDepth::R101 => [3, 4, 23, 3],
            ResNetDepth::R152 => [3, 8, 36, 3],
        }
    }

    fn bottleneck(self) -> bool {
        !matches!(self, ResNetDepth::R18 | ResNetDepth::R34)
    }
}

/// A residual block: torchvision's `BasicBlock` (two 3×3 convolutions) or `Bottleneck`
/// (1×1, 3×3, 1×1; `conv3`/`bn3` present).
#[derive(Module, Debug)]
pub struct Block {
    conv1: Conv2d,
    bn1: Norm2d,
    conv2: Conv2d,
    bn2: Norm2d,
    conv3: Option<Conv2d>,
    bn3: Option<Norm2d>,
    downsample: Option<Vec<ConvOrNorm>>,
}

impl Block {
    fn basic(c_in: usize, planes: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv1: conv([c_in, planes], 3, stride, 1, 1, false, device),
            bn1: Norm2d::new(planes, EPS, device),
            conv2: conv([planes, planes], 3, 1, 1, 1, false, device),
            bn2: Norm2d::new(planes, EPS, device),
            conv3: None,
            bn3: None,
            downsample: (stride != 1 || c_in != planes).then(|| {
                conv_norm_sequence(
                    conv([c_in, planes], 1, stride, 0, 1, false, device),
                    EPS,
                    device,
                )
            }),
        }
    }

    fn bottleneck(c_in: usize, planes: usize, stride: usize, device: &Device) -> Self {
        let c_out = planes * 4;
        Self {
            conv1: conv([c_in, planes], 1, 1, 0, 1, false, device),
            bn1: Norm2d::new(planes, EPS, device),
            conv2: conv([planes, planes], 3, stride, 1, 1, false, device),
            bn2: Norm2d::new(planes, EPS, device),
            conv3: Some(conv([planes, c_out], 1, 1, 0, 1, false, device)),
            bn3: Some(Norm2d::new(c_out, EPS, device)),
            downsample: (stride != 1 || c_in != c_out).then(|| {
                conv_norm_sequence(
                    conv([c_in, c_out], 1, stride, 0, 1, false, device),
                    EPS,
                    device,
                )
            }),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(seq) => run_sequence(seq, x.clone()),
            None => x.clone(),
        };
        let out = conv_norm_rectified(&self.conv1, &self.bn1, x, f32::INFINITY);
        // The last convolution adds the identity and applies the ReLU in its epilogue.
        let rectify = Some(f32::INFINITY);
        match (&self.conv3, &self.bn3) {
            (Some(conv3), Some(bn3)) => {
                let out = conv_norm_rectified(&self.conv2, &self.bn2, out, f32::INFINITY);
                conv_norm_residual(conv3, bn3, out, identity, rectify)
            }
            _ => conv_norm_residual(&self.conv2, &self.bn2, out, identity, rectify),
        }
    }

    fn fold(&mut self) {
        fold_into(&mut self.conv1, &mut self.bn1);
        fold_into(&mut self.conv2, &mut self.bn2);
        if let (Some(conv3), Some(bn3)) = (&mut self.conv3, &mut self.bn3) {
            fold_into(conv3, bn3);
        }
        if let Some(seq) = &mut self.downsample {
            fold_sequence(seq);
        }
    }
}

/// The first convolution: torchvision's 7×7 with stride 2, or the CIFAR/STL-10 surgery
/// `nn.Conv2d(3, 64, k, 1, k // 2)` (stride 1, "same" padding, bias or not; the max-pool kept),
/// as seed 004's notebook builds it. Read from the shape of `conv1.weight` at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stem {
    /// Kernel size.
    pub kernel: usize,
    /// Whether the convolution has a bias.
    pub bias: bool,
}

impl Default for Stem {
    fn default() -> Self {
        Self {
            kernel: 7,
            bias: false,
        }
    }
}

impl Stem {
    /// The convolution: stride 2 and padding 3 for torchvision's 7×7, else stride 1 and
    /// padding k/2.
    fn conv(self, device: &Device) -> Conv2d {
        if self == Stem::default() {
            conv([3, 64], 7, 2, 3, 1, false, device)
        } else {
            conv(
                [3, 64],
                self.kernel,
                1,
                self.kernel / 2,
                1,
                self.bias,
                device,
            )
        }
    }
}

/// torchvision's `ResNet`.
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: Norm2d,
    maxpool: MaxPool2d,
    layer1: Vec<Block>,
    layer2: Vec<Block>,
    layer3: Vec<Block>,
    layer4: Vec<Block>,
    fc: Linear,
    #[module(skip)]
    layer_list: LayerList,
}

impl ResNet {
    /// A ResNet with `num_classes` outputs and uninitialised (lazy) weights.
    pub fn new(depth: ResNetDepth, head: HeadSpec, device: &Device) -> Self {
        Self::with_stem(depth, head, Stem::default(), device)
    }

    /// A ResNet whose first convolution is `stem`.
    pub fn with_stem(depth: ResNetDepth, head: HeadSpec, stem: Stem, device: &Device) -> Self {
        let mut layer_list = LayerList::default();
        layer_list.push(Layer::conv_before_bn("conv1"));
        layer_list.push(Layer::new("bn1"));
        layer_list.push(Layer::new("relu"));
        layer_list.push(Layer::new("maxpool"));
        let mut c_in = 64;
        let mut layers: Vec<Vec<Block>> = Vec::new();
        for (li, (&n, planes)) in depth.blocks().iter().zip([64, 128, 256, 512]).enumerate() {
            let stride = if li == 0 { 1 } else { 2 };
            let mut blocks = Vec::with_capacity(n);
            for b in 0..n {
                let s = if b == 0 { stride } else { 1 };
                let block = if depth.bottleneck() {
                    Block::bottleneck(c_in, planes, s, device)
                } else {
                    Block::basic(c_in, planes, s, device)
                };
                c_in = if depth.bottleneck() {
                    planes * 4
                } else {
                    planes
                };
                blocks.push(block);
                let index = layer_list.push(Layer::new(format!("layer{}.{b}", li + 1)));
                if b + 1 == n {
                    layer_list.alias(format!("layer{}", li + 1), index);
                }
            }
            layers.push(blocks);
        }
        let mut layers = layers.into_iter();
        let mut next = || layers.next().expect("four layers");
        Self {
            conv1: stem.conv(device),
            bn1: Norm2d::new(64, EPS, device),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
            fc: LinearConfig::new(c_in, head.classes)
                .with_bias(head.bias)
                .init(device),
            layer_list,
        }
    }

    /// Folds every BatchNorm into its convolution (inference only).
    pub fn fold_batchnorm(&mut self) {
        fold_into(&mut self.conv1, &mut self.bn1);
        for block in self.blocks_mut() {
            block.fold();
        }
    }

    fn blocks_mut(&mut self) -> impl Iterator<Item = &mut Block> {
        self.layer1
            .iter_mut()
            .chain(self.layer2.iter_mut())
            .chain(self.layer3.iter_mut())
            .chain(self.layer4.iter_mut())
    }

    fn block(&self, mut index: usize) -> &Block {
        for layer in [&self.layer1, &self.layer2, &self.layer3, &self.layer4] {
            if index < layer.len() {
                return &layer[index];
            }
            index -= layer.len();
        }
        panic!("block index out of range")
    }
}

impl Classifier for ResNet {
    fn layer_list(&self) -> &LayerList {
        &self.layer_list
    }

    fn run_layer(&self, index: usize, x: Tensor<4>) -> Tensor<4> {
        match index {
            0 => conv_forward(&self.conv1, x),
            1 => self.bn1.forward(x),
            2 => relu(x),
            3 => self.maxpool.forward(x),
            i => self.block(i - 4).forward(x),
        }
    }

    fn head(&self, features: Tensor<4>) -> Tensor<2> {
        self.fc.forward(global_avg_pool(features))
    }

    fn num_classes(&self) -> usize {
        self.fc.weight.dims()[1]
    }

    fn linear_head(&self) -> Option<LinearHead> {
        Some(LinearHead::from_linear(&self.fc))
    }

    fn is_folded(&self) -> bool {
        self.bn1.is_folded()
    }
}
