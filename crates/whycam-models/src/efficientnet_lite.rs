//! EfficientNet-Lite0..4 (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional
//! Neural Networks", ICML 2019; the Lite variants from TensorFlow's
//! `efficientnet/lite/efficientnet_lite_builder.py`: no squeeze-excitation, ReLU6, stem and
//! head not scaled). Laid out as the `efficientnet_lite_pytorch` package's `model.py`
//! (`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`, `_depthwise_conv`, `_project_conv`,
//! `_conv_head`, `_bn1`, `_fc`), so its state dicts load as they are.
//!
//! Convolutions use TensorFlow's "same" padding computed from the actual input size, which is
//! asymmetric for stride 2 and equals the package's static padding at the native resolution.

#![allow(clippy::used_underscore_binding)]

use crate::activation::relu6;
use crate::classifier::{Classifier, HeadSpec, Layer, LayerList, LinearHead, global_avg_pool};
use crate::layers::{
    Norm2d, conv_forward, conv_norm_rectified, conv_norm_residual, conv_same, fold_into,
};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

const EPS: f64 = 1e-3;

/// `(width, depth, resolution)` of Lite0..4.
const SCALING: [(f64, f64, usize); 5] = [
    (1.0, 1.0, 224),
    (1.0, 1.1, 240),
    (1.1, 1.2, 260),
    (1.2, 1.4, 280),
    (1.4, 1.8, 300),
];

/// `(repeats, kernel, stride, expand, in, out)` of the seven block groups.
const GROUPS: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];

/// The package's `round_filters` (divisor 8, never below 90% of the scaled width).
fn round_filters(filters: usize, width: f64) -> usize {
    let scaled = filters as f64 * width;
    let divisor = 8.0;
    let mut rounded = ((scaled + divisor / 2.0) as usize / 8 * 8).max(8);
    if (rounded as f64) < 0.9 * scaled {
        rounded += 8;
    }
    rounded
}

/// The native input resolution of EfficientNet-Lite`variant`.
// Indexed by hand rather than `SCALING.get`, which a const fn (the zoo's table) cannot call.
pub const fn native_resolution(variant: usize) -> usize {
    if variant < SCALING.len() {
        SCALING[variant].2
    } else {
        224
    }
}

/// A mobile inverted bottleneck block (`MBConvBlock` without squeeze-excitation).
#[derive(Module, Debug)]
pub struct MbConv {
    _expand_conv: Option<Conv2d>,
    _bn0: Option<Norm2d>,
    _depthwise_conv: Conv2d,
    _bn1: Norm2d,
    _project_conv: Conv2d,
    _bn2: Norm2d,
    #[module(skip)]
    residual: bool,
}

impl MbConv {
    fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        expand: usize,
        device: &Device,
    ) -> Self {
        let hidden = c_in * expand;
        Self {
            _expand_conv: (expand != 1).then(|| conv_same([c_in, hidden], 1, 1, 1, device)),
            _bn0: (expand != 1).then(|| Norm2d::new(hidden, EPS, device)),
            _depthwise_conv: conv_same([hidden, hidden], kernel, stride, hidden, device),
            _bn1: Norm2d::new(hidden, EPS, device),
            _project_conv: conv_same([hidden, c_out], 1, 1, 1, device),
            _bn2: Norm2d::new(c_out, EPS, device),
            residual: stride == 1 && c_in == c_out,
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = input.clone();
        if let (Some(conv), Some(bn)) = (&self._expand_conv, &self._bn0) {
            x = conv_norm_rectified(conv, bn, x, 6.0);
        }
        x = conv_norm_rectified(&self._depthwise_conv, &self._bn1, x, 6.0);
        if self.residual {
            // The projection adds the input in its epilogue.
            conv_norm_residual(&self._project_conv, &self._bn2, x, input, None)
        } else {
            self._bn2.forward(conv_forward(&self._project_conv, x))
        }
    }

    fn fold(&mut self) {
        if let (Some(conv), Some(bn)) = (&mut self._expand_conv, &mut self._bn0) {
            fold_into(conv, bn);
        }
        fold_into(&mut self._depthwise_conv, &mut self._bn1);
        fold_into(&mut self._project_conv, &mut self._bn2);
    }
}

/// EfficientNet-Lite as in `efficientnet_lite_pytorch`.
#[derive(Module, Debug)]
pub struct EfficientNetLite {
    _conv_stem: Conv2d,
    _bn0: Norm2d,
    _blocks: Vec<MbConv>,
    _conv_head: Conv2d,
    _bn1: Norm2d,
    _fc: Linear,
    #[module(skip)]
    layer_list: LayerList,
}

impl EfficientNetLite {
    /// EfficientNet-Lite`variant` (0..=4) with `num_classes` outputs, weights uninitialised.
    pub fn new(variant: usize, head: HeadSpec, device: &Device) -> Self {
        let (width, depth, _) = SCALING[variant];
        let mut layer_list = LayerList::default();
        layer_list.push(Layer::conv_before_bn("_conv_stem"));
        layer_list.push(Layer::new("_bn0"));
        let mut blocks = Vec::new();
        let last_group = GROUPS.len() - 1;
        for (g, &(repeats, kernel, stride, expand, c_in, c_out)) in GROUPS.iter().enumerate() {
            // Stem and head are not scaled: the first and last groups keep their repeats, and
            // the first group keeps its 32 input channels.
            let (repeats, mut c_in) = if g == 0 || g == last_group {
                (
                    repeats,
                    if g == 0 {
                        c_in
                    } else {
                        round_filters(c_in, width)
                    },
                )
            } else {
                (
                    (depth * repeats as f64).ceil() as usize,
                    round_filters(c_in, width),
                )
            };
            let c_out = round_filters(c_out, width);
            for r in 0..repeats {
                let s = if r == 0 { stride } else { 1 };
                blocks.push(MbConv::new(c_in, c_out, kernel, s, expand, device));
                c_in = c_out;
            }
        }
        for b in 0..blocks.len() {
            layer_list.push(Layer::new(format!("_blocks.{b}")));
        }
        let c_last = round_filters(GROUPS[last_group].5, width);
        layer_list.push(Layer::conv_before_bn("_conv_head"));
        layer_list.push(Layer::new("_bn1"));
        layer_list.push(Layer::new("features"));
        Self {
            _conv_stem: conv_same([3, 32], 3, 2, 1, device),
            _bn0: Norm2d::new(32, EPS, device),
            _blocks: blocks,
            _conv_head: conv_same([c_last, 1280], 1, 1, 1, device),
            _bn1: Norm2d::new(1280, EPS, device),
            _fc: LinearConfig::new(1280, head.classes)
                .with_bias(head.bias)
                .init(device),
            layer_list,
        }
    }

    /// Folds every BatchNorm into its convolution (inference only).
    pub fn fold_batchnorm(&mut self) {
        fold_into(&mut self._conv_stem, &mut self._bn0);
        for block in &mut self._blocks {
            block.fold();
        }
        fold_into(&mut self._conv_head, &mut self._bn1);
    }
}

impl Classifier for EfficientNetLite {
    fn layer_list(&self) -> &LayerList {
        &self.layer_list
    }

    fn run_layer(&self, index: usize, x: Tensor<4>) -> Tensor<4> {
        let blocks = self._blocks.len();
        match index {
            0 => conv_forward(&self._conv_stem, x),
            1 => self._bn0.forward(x),
            // The stem's ReLU6 is applied on the way into the first block.
            2 => self._blocks[0].forward(relu6(x)),
            i if i < 2 + blocks => self._blocks[i - 2].forward(x),
            i if i == 2 + blocks => conv_forward(&self._conv_head, x),
            i if i == 3 + blocks => self._bn1.forward(x),
            _ => relu6(x),
        }
    }

    fn head(&self, features: Tensor<4>) -> Tensor<2> {
        // Dropout is the identity at inference.
        self._fc.forward(global_avg_pool(features))
    }

    fn num_classes(&self) -> usize {
        self._fc.weight.dims()[1]
    }

    fn linear_head(&self) -> Option<LinearHead> {
        Some(LinearHead::from_linear(&self._fc))
    }

    fn is_folded(&self) -> bool {
        self._bn0.is_folded()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_filters_matches_the_package() {
        // Values computed by efficientnet_lite_pytorch.utils.round_filters.
        assert_eq!(round_filters(16, 1.1), 16);
        assert_eq!(round_filters(24, 1.2), 32);
        assert_eq!(round_filters(40, 1.4), 56);
        assert_eq!(round_filters(320, 1.4), 448);
        assert_eq!(round_filters(112, 1.1), 120);
    }
}
