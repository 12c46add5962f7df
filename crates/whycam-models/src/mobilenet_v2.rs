//! MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
//! CVPR 2018), laid out as torchvision's `torchvision/models/mobilenetv2.py` (width 1.0).

use crate::activation::relu6;
use crate::classifier::{Classifier, HeadSpec, Layer, LayerList, LinearHead, global_avg_pool};
use crate::layers::{
    ConvOrNorm, Norm2d, conv, conv_forward, conv_norm_sequence, fold_into, fold_sequence,
    run_sequence,
};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

const EPS: f64 = 1e-5;

/// `(expand t, channels c, repeats n, stride s)` from the paper's Table 2.
const SETTINGS: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// One element of an inverted residual's `conv` Sequential.
#[derive(Module, Debug)]
pub enum ResidualPart {
    /// `Conv2dNormActivation`: convolution, BatchNorm, ReLU6.
    ConvNormAct(Vec<ConvOrNorm>),
    /// The linear projection.
    Conv(Conv2d),
    /// The projection's BatchNorm.
    Norm(Norm2d),
}

/// torchvision's `InvertedResidual`.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    conv: Vec<ResidualPart>,
    #[module(skip)]
    residual: bool,
}

impl InvertedResidual {
    fn new(c_in: usize, c_out: usize, stride: usize, expand: usize, device: &Device) -> Self {
        let hidden = c_in * expand;
        let mut conv_parts = Vec::new();
        if expand != 1 {
            conv_parts.push(ResidualPart::ConvNormAct(conv_norm_sequence(
                conv([c_in, hidden], 1, 1, 0, 1, false, device),
                EPS,
                device,
            )));
        }
        conv_parts.push(ResidualPart::ConvNormAct(conv_norm_sequence(
            conv([hidden, hidden], 3, stride, 1, hidden, false, device),
            EPS,
            device,
        )));
        conv_parts.push(ResidualPart::Conv(conv(
            [hidden, c_out],
            1,
            1,
            0,
            1,
            false,
            device,
        )));
        conv_parts.push(ResidualPart::Norm(Norm2d::new(c_out, EPS, device)));
        Self {
            conv: conv_parts,
            residual: stride == 1 && c_in == c_out,
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = input.clone();
        for part in &self.conv {
            x = match part {
                ResidualPart::ConvNormAct(seq) => relu6(run_sequence(seq, x)),
                ResidualPart::Conv(c) => conv_forward(c, x),
                ResidualPart::Norm(n) => n.forward(x),
            };
        }
        if self.residual { x.add(input) } else { x }
    }

    fn fold(&mut self) {
        for i in 0..self.conv.len() {
            let (head, tail) = self.conv.split_at_mut(i + 1);
            match (&mut head[i], tail.first_mut()) {
                (ResidualPart::ConvNormAct(seq), _) => fold_sequence(seq),
                (ResidualPart::Conv(c), Some(ResidualPart::Norm(n))) => fold_into(c, n),
                _ => {}
            }
        }
    }
}

/// One entry of `features`.
#[derive(Module, Debug)]
pub enum FeatureLayer {
    /// The first and last `Conv2dNormActivation`.
    ConvNormAct(Vec<ConvOrNorm>),
    /// An inverted residual block.
    Block(InvertedResidual),
}

/// torchvision's `MobileNetV2`.
#[derive(Module, Debug)]
pub struct MobileNetV2 {
    features: Vec<FeatureLayer>,
    classifier: Vec<Linear>,
    #[module(skip)]
    layer_list: LayerList,
}

impl MobileNetV2 {
    /// MobileNetV2 (width 1.0) with `num_classes` outputs.
    pub fn new(head: HeadSpec, device: &Device) -> Self {
        let mut features = vec![FeatureLayer::ConvNormAct(conv_norm_sequence(
            conv([3, 32], 3, 2, 1, 1, false, device),
            EPS,
            device,
        ))];
        let mut c_in = 32;
        for (t, c, n, s) in SETTINGS {
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                features.push(FeatureLayer::Block(InvertedResidual::new(
                    c_in, c, stride, t, device,
                )));
                c_in = c;
            }
        }
        features.push(FeatureLayer::ConvNormAct(conv_norm_sequence(
            conv([c_in, 1280], 1, 1, 0, 1, false, device),
            EPS,
            device,
        )));
        let mut layer_list = LayerList::default();
        for i in 0..features.len() {
            layer_list.push(Layer::new(format!("features.{i}")));
        }
        layer_list.alias("features", features.len() - 1);
        Self {
            features,
            // torchvision's classifier is Sequential(Dropout, Linear): the Linear is entry 1,
            // renumbered to 0 on load.
            classifier: vec![
                LinearConfig::new(1280, head.classes)
                    .with_bias(head.bias)
                    .init(device),
            ],
            layer_list,
        }
    }

    /// Folds every BatchNorm into its convolution (inference only).
    pub fn fold_batchnorm(&mut self) {
        for layer in &mut self.features {
            match layer {
                FeatureLayer::ConvNormAct(seq) => fold_sequence(seq),
                FeatureLayer::Block(block) => block.fold(),
            }
        }
    }
}

impl Classifier for MobileNetV2 {
    fn layer_list(&self) -> &LayerList {
        &self.layer_list
    }

    fn run_layer(&self, index: usize, x: Tensor<4>) -> Tensor<4> {
        match &self.features[index] {
            FeatureLayer::ConvNormAct(seq) => relu6(run_sequence(seq, x)),
            FeatureLayer::Block(block) => block.forward(x),
        }
    }

    fn head(&self, features: Tensor<4>) -> Tensor<2> {
        self.classifier[0].forward(global_avg_pool(features))
    }

    fn num_classes(&self) -> usize {
        self.classifier[0].weight.dims()[1]
    }

    fn linear_head(&self) -> Option<LinearHead> {
        Some(LinearHead::from_linear(&self.classifier[0]))
    }

    fn is_folded(&self) -> bool {
        matches!(&self.features[0], FeatureLayer::ConvNormAct(seq)
            if matches!(&seq[1], ConvOrNorm::Norm(n) if n.is_folded()))
    }
}
