//! DenseNet-121 (Huang et al., "Densely Connected Convolutional Networks", CVPR 2017), laid out
//! as torchvision's `torchvision/models/densenet.py`.
//!
//! torchvision names dense layers `denselayer1`, `denselayer2`, ...; they load into a list
//! through the key renames in [`DenseNet::KEY_REMAPS`], which also accept the older names of
//! torchvision's published checkpoints (`denselayer1.norm.1`, as its `_load_state_dict` does).
//! Most BatchNorms come before their convolutions (pre-activation); the ones that follow one,
//! `norm0` after `conv0` and each layer's `norm2` after its `conv1`, are folded.

use crate::activation::relu;
use crate::classifier::{Classifier, HeadSpec, Layer, LayerList, LinearHead, global_avg_pool};
use crate::layers::{Norm2d, conv, conv_forward, fold_into};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

const EPS: f64 = 1e-5;
const GROWTH: usize = 32;
const BN_SIZE: usize = 4;

/// torchvision's `_DenseLayer`: BN-ReLU-1×1 conv, BN-ReLU-3×3 conv, 32 new channels.
#[derive(Module, Debug)]
pub struct DenseLayer {
    norm1: Norm2d,
    conv1: Conv2d,
    norm2: Norm2d,
    conv2: Conv2d,
}

impl DenseLayer {
    fn new(c_in: usize, device: &Device) -> Self {
        let width = BN_SIZE * GROWTH;
        Self {
            norm1: Norm2d::new(c_in, EPS, device),
            conv1: conv([c_in, width], 1, 1, 0, 1, false, device),
            norm2: Norm2d::new(width, EPS, device),
            conv2: conv([width, GROWTH], 3, 1, 1, 1, false, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = conv_forward(&self.conv1, relu(self.norm1.forward(x)));
        conv_forward(&self.conv2, relu(self.norm2.forward(x)))
    }

    fn fold(&mut self) {
        fold_into(&mut self.conv1, &mut self.norm2);
    }
}

/// torchvision's `_DenseBlock`: each layer sees the concatenation of all before it.
#[derive(Module, Debug)]
pub struct DenseBlock {
    denselayer: Vec<DenseLayer>,
}

impl DenseBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut features = vec![x];
        for layer in &self.denselayer {
            let new = layer.forward(Tensor::cat(features.clone(), 1));
            features.push(new);
        }
        Tensor::cat(features, 1)
    }
}

/// torchvision's `_Transition`: BN-ReLU-1×1 conv, 2×2 average pool.
#[derive(Module, Debug)]
pub struct Transition {
    norm: Norm2d,
    conv: Conv2d,
    pool: AvgPool2d,
}

impl Transition {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pool
            .forward(conv_forward(&self.conv, relu(self.norm.forward(x))))
    }
}

/// torchvision's `features` Sequential of a DenseNet.
#[derive(Module, Debug)]
pub struct DenseFeatures {
    conv0: Conv2d,
    norm0: Norm2d,
    pool0: MaxPool2d,
    denseblock1: DenseBlock,
    transition1: Transition,
    denseblock2: DenseBlock,
    transition2: Transition,
    denseblock3: DenseBlock,
    transition3: Transition,
    denseblock4: DenseBlock,
    norm5: Norm2d,
}

/// torchvision's `DenseNet` (121: blocks of 6, 12, 24, 16 layers).
#[derive(Module, Debug)]
pub struct DenseNet {
    features: DenseFeatures,
    classifier: Linear,
    #[module(skip)]
    layer_list: LayerList,
}

impl DenseNet {
    /// Key renames applied when loading torchvision weights, in order: the pre-0.3 names of
    /// torchvision's published checkpoints (`norm.1` → `norm1`), then `denselayer1` →
    /// `denselayer.1` (burn-store then numbers list entries from 0).
    pub const KEY_REMAPS: &'static [(&'static str, &'static str)] = &[
        (r"(denselayer\d+\.(?:norm|conv))\.([12])\.", "${1}${2}."),
        (r"\.denselayer(\d+)\.", ".denselayer.$1."),
    ];

    /// DenseNet-121 with `num_classes` outputs.
    pub fn new121(head: HeadSpec, device: &Device) -> Self {
        let blocks = [6, 12, 24, 16];
        let mut c = 64;
        let mut dense = Vec::new();
        let mut transitions = Vec::new();
        for (i, &n) in blocks.iter().enumerate() {
            let layers = (0..n)
                .map(|l| DenseLayer::new(c + l * GROWTH, device))
                .collect();
            dense.push(DenseBlock { denselayer: layers });
            c += n * GROWTH;
            if i + 1 < blocks.len() {
                transitions.push(Transition {
                    norm: Norm2d::new(c, EPS, device),
                    conv: conv([c, c / 2], 1, 1, 0, 1, false, device),
                    pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
                });
                c /= 2;
            }
        }
        let mut layer_list = LayerList::default();
        layer_list.push(Layer::conv_before_bn("features.conv0"));
        layer_list.push(Layer::new("features.norm0"));
        layer_list.push(Layer::new("features.relu0"));
        layer_list.push(Layer::new("features.pool0"));
        for i in 1..=4 {
            layer_list.push(Layer::new(format!("features.denseblock{i}")));
            if i < 4 {
                layer_list.push(Layer::new(format!("features.transition{i}")));
            }
        }
        layer_list.push(Layer::new("features.norm5"));
        // torchvision applies `F.relu(features, inplace=True)`, so what a hook on `features`
        // sees is the rectified map: the input of global pooling.
        layer_list.push(Layer::new("features"));
        let mut dense = dense.into_iter();
        let mut transitions = transitions.into_iter();
        let mut block = || dense.next().expect("four blocks");
        let mut transition = || transitions.next().expect("three transitions");
        let features = DenseFeatures {
            conv0: conv([3, 64], 7, 2, 3, 1, false, device),
            norm0: Norm2d::new(64, EPS, device),
            pool0: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            denseblock1: block(),
            transition1: transition(),
            denseblock2: block(),
            transition2: transition(),
            denseblock3: block(),
            transition3: transition(),
            denseblock4: block(),
            norm5: Norm2d::new(c, EPS, device),
        };
        Self {
            features,
            classifier: LinearConfig::new(c, head.classes)
                .with_bias(head.bias)
                .init(device),
            layer_list,
        }
    }

    /// Folds `norm0` into `conv0` and each dense layer's `norm2` into its `conv1`; the other
    /// BatchNorms precede their convolutions.
    pub fn fold_batchnorm(&mut self) {
        let f = &mut self.features;
        fold_into(&mut f.conv0, &mut f.norm0);
        for block in [
            &mut f.denseblock1,
            &mut f.denseblock2,
            &mut f.denseblock3,
            &mut f.denseblock4,
        ] {
            for layer in &mut block.denselayer {
                layer.fold();
            }
        }
    }
}

impl Classifier for DenseNet {
    fn layer_list(&self) -> &LayerList {
        &self.layer_list
    }

    fn run_layer(&self, index: usize, x: Tensor<4>) -> Tensor<4> {
        let f = &self.features;
        match index {
            0 => conv_forward(&f.conv0, x),
            1 => f.norm0.forward(x),
            2 => relu(x),
            3 => f.pool0.forward(x),
            4 => f.denseblock1.forward(x),
            5 => f.transition1.forward(x),
            6 => f.denseblock2.forward(x),
            7 => f.transition2.forward(x),
            8 => f.denseblock3.forward(x),
            9 => f.transition3.forward(x),
            10 => f.denseblock4.forward(x),
            11 => f.norm5.forward(x),
            _ => relu(x),
        }
    }

    fn head(&self, features: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(global_avg_pool(features))
    }

    fn num_classes(&self) -> usize {
        self.classifier.weight.dims()[1]
    }

    fn linear_head(&self) -> Option<LinearHead> {
        Some(LinearHead::from_linear(&self.classifier))
    }

    fn is_folded(&self) -> bool {
        self.features.norm0.is_folded()
    }
}
