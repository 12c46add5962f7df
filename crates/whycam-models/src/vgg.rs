//! VGG-11/13/16/19 with and without BatchNorm (Simonyan & Zisserman, "Very Deep Convolutional
//! Networks for Large-Scale Image Recognition", ICLR 2015), laid out as torchvision's
//! `torchvision/models/vgg.py`.
//!
//! `features` is a PyTorch `nn.Sequential` whose ReLUs and max-pools hold no parameters;
//! burn-store renumbers the parameterised entries contiguously on load, and the original
//! indices are kept as layer names (`features.29`).

use crate::activation::relu;
use crate::classifier::{Classifier, HeadSpec, Layer, LayerList, LinearHead};
use crate::layers::{ConvOrNorm, Norm2d, conv, fold_sequence};
use burn::module::Module;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

const EPS: f64 = 1e-5;

/// torchvision's VGG configurations: channel counts, 0 for a max-pool.
fn config(depth: usize) -> &'static [usize] {
    match depth {
        11 => &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        13 => &[
            64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0,
        ],
        16 => &[
            64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
        ],
        _ => &[
            64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512,
            512, 0,
        ],
    }
}

/// What one entry of `features` does.
#[derive(Debug, Clone, Copy)]
enum FeatureOp {
    /// A parameterised entry (convolution or BatchNorm), by its position in `features`.
    Param(usize),
    Relu,
    MaxPool,
}

/// torchvision's `VGG`.
#[derive(Module, Debug)]
pub struct Vgg {
    features: Vec<ConvOrNorm>,
    avgpool: AdaptiveAvgPool2d,
    maxpool: MaxPool2d,
    classifier: Vec<Linear>,
    #[module(skip)]
    ops: Vec<FeatureOp>,
    #[module(skip)]
    layer_list: LayerList,
}

impl Vgg {
    /// VGG-`depth` (11, 13, 16 or 19), with BatchNorm if `batch_norm`.
    pub fn new(depth: usize, batch_norm: bool, head: HeadSpec, device: &Device) -> Self {
        let mut features = Vec::new();
        let mut ops = Vec::new();
        let mut layer_list = LayerList::default();
        let mut c_in = 3;
        for &c in config(depth) {
            if c == 0 {
                ops.push(FeatureOp::MaxPool);
                layer_list.push(Layer::new(format!("features.{}", ops.len() - 1)));
                continue;
            }
            features.push(ConvOrNorm::Conv(conv([c_in, c], 3, 1, 1, 1, true, device)));
            ops.push(FeatureOp::Param(features.len() - 1));
            let name = format!("features.{}", ops.len() - 1);
            layer_list.push(if batch_norm {
                Layer::conv_before_bn(name)
            } else {
                Layer::new(name)
            });
            if batch_norm {
                features.push(ConvOrNorm::Norm(Norm2d::new(c, EPS, device)));
                ops.push(FeatureOp::Param(features.len() - 1));
                layer_list.push(Layer::new(format!("features.{}", ops.len() - 1)));
            }
            ops.push(FeatureOp::Relu);
            layer_list.push(Layer::new(format!("features.{}", ops.len() - 1)));
            c_in = c;
        }
        layer_list.alias("features", layer_list.len() - 1);
        Self {
            features,
            avgpool: AdaptiveAvgPool2dConfig::new([7, 7]).init(),
            maxpool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            classifier: vec![
                LinearConfig::new(512 * 7 * 7, 4096).init(device),
                LinearConfig::new(4096, 4096).init(device),
                LinearConfig::new(4096, head.classes)
                    .with_bias(head.bias)
                    .init(device),
            ],
            ops,
            layer_list,
        }
    }

    /// Folds every BatchNorm into its convolution (inference only).
    pub fn fold_batchnorm(&mut self) {
        fold_sequence(&mut self.features);
    }

    /// The PyTorch name of a parameter at burn path `path`: burn numbers `features` and
    /// `classifier` over their parameter layers only, torchvision over every layer.
    pub(crate) fn pytorch_name(&self, path: &str) -> String {
        let renumber = |rest: &str, index: &dyn Fn(usize) -> Option<usize>| {
            let (k, tail) = rest.split_once('.').unwrap_or((rest, ""));
            let k = k.parse::<usize>().ok().and_then(index)?;
            Some(if tail.is_empty() {
                k.to_string()
            } else {
                format!("{k}.{tail}")
            })
        };
        let features = |k: usize| {
            self.ops
                .iter()
                .position(|op| matches!(op, FeatureOp::Param(p) if *p == k))
        };
        // Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear.
        let classifier = |k: usize| (k < 3).then_some(3 * k);
        let renamed = if let Some(rest) = path.strip_prefix("features.") {
            renumber(rest, &features).map(|r| format!("features.{r}"))
        } else if let Some(rest) = path.strip_prefix("classifier.") {
            renumber(rest, &classifier).map(|r| format!("classifier.{r}"))
        } else {
            None
        };
        renamed.unwrap_or_else(|| path.to_string())
    }
}

impl Classifier for Vgg {
    fn layer_list(&self) -> &LayerList {
        &self.layer_list
    }

    fn run_layer(&self, index: usize, x: Tensor<4>) -> Tensor<4> {
        match self.ops[index] {
            FeatureOp::Param(k) => self.features[k].forward(x),
            FeatureOp::Relu => relu(x),
            FeatureOp::MaxPool => self.maxpool.forward(x),
        }
    }

    fn head(&self, features: Tensor<4>) -> Tensor<2> {
        let pooled: Tensor<2> = self.avgpool.forward(features).flatten(1, 3);
        // Dropout is the identity at inference.
        let x = relu(self.classifier[0].forward(pooled));
        let x = relu(self.classifier[1].forward(x));
        self.classifier[2].forward(x)
    }

    fn num_classes(&self) -> usize {
        self.classifier[2].weight.dims()[1]
    }

    fn linear_head(&self) -> Option<LinearHead> {
        None
    }

    fn is_folded(&self) -> bool {
        self.features
            .iter()
            .any(|l| matches!(l, ConvOrNorm::Norm(n) if n.is_folded()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_carry_torchvision_indices() {
        // conv, bn, ReLU, pool, conv, bn, ReLU: burn's features 0..4 are torchvision's 0, 1, 4, 5.
        let vgg = Vgg {
            features: Vec::new(),
            avgpool: AdaptiveAvgPool2dConfig::new([7, 7]).init(),
            maxpool: MaxPool2dConfig::new([2, 2]).init(),
            classifier: Vec::new(),
            ops: vec![
                FeatureOp::Param(0),
                FeatureOp::Param(1),
                FeatureOp::Relu,
                FeatureOp::MaxPool,
                FeatureOp::Param(2),
                FeatureOp::Param(3),
                FeatureOp::Relu,
            ],
            layer_list: LayerList::default(),
        };
        assert_eq!(vgg.pytorch_name("features.0.weight"), "features.0.weight");
        assert_eq!(vgg.pytorch_name("features.1.bias"), "features.1.bias");
        assert_eq!(vgg.pytorch_name("features.2.weight"), "features.4.weight");
        assert_eq!(
            vgg.pytorch_name("features.3.running_mean"),
            "features.5.running_mean"
        );
        assert_eq!(
            vgg.pytorch_name("classifier.1.weight"),
            "classifier.3.weight"
        );
        assert_eq!(vgg.pytorch_name("classifier.2.bias"), "classifier.6.bias");
    }
}
