//! Building blocks shared by the architectures: a BatchNorm that can be folded away, and
//! small constructors that keep the model files short.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Identity, PaddingConfig2d};
use burn::prelude::*;

use crate::fullgrad;
use burn::tensor::ops::ConvOptions;

/// A 2-D BatchNorm that sits after a convolution.
///
/// It loads as a plain BatchNorm (the enum variant is not part of the parameter path), and
/// after [`fold_into`] has merged it into its convolution it becomes an identity that costs
/// nothing at run time.
// A few hundred bytes per BatchNorm of a model: not worth boxing (burn modules are not boxed).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Norm2d {
    /// The BatchNorm, as loaded.
    Batch(BatchNorm),
    /// Folded into the preceding convolution.
    Folded(Identity),
}

impl Norm2d {
    /// A fresh BatchNorm with PyTorch's defaults except for `eps`.
    pub fn new(channels: usize, eps: f64, device: &Device) -> Self {
        Norm2d::Batch(
            BatchNormConfig::new(channels)
                .with_epsilon(eps)
                .init(device),
        )
    }

    /// Applies the BatchNorm (running statistics once the module is in `valid()` mode).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Norm2d::Batch(bn) => fullgrad::tap(bn.forward(x), || {
                let (gamma, beta) = (host(bn.gamma.val()), host(bn.beta.val()));
                let (mean, var) = (host(bn.running_mean.value()), host(bn.running_var.value()));
                (0..gamma.len())
                    .map(|c| (beta[c] - mean[c] * gamma[c] / (var[c] + bn.epsilon).sqrt()) as f32)
                    .collect()
            }),
            Norm2d::Folded(_) => x,
        }
    }

    /// Whether this norm has been folded into its convolution.
    pub fn is_folded(&self) -> bool {
        matches!(self, Norm2d::Folded(_))
    }
}

/// Merges an eval-mode BatchNorm into the convolution before it:
/// `W' = W * g / sqrt(v + eps)`, `b' = beta + (b - mean) * g / sqrt(v + eps)`.
///
/// The folded parameters are computed in f64 and rounded once, so each is the nearest float32
/// to its exact value. (Folding in float32 rounds the scale three times, an error shared by a
/// whole output channel, and the bias loses digits where `beta` and `mean * scale` cancel: on
/// a random ResNet-50 that moved Ablation-CAM's map at layer3 three times as far from PyTorch's
/// float64 map as PyTorch's own float32 is.)
///
/// Does nothing if the norm is already folded.
pub fn fold_into(conv: &mut Conv2d, norm: &mut Norm2d) {
    let Norm2d::Batch(bn) = norm else { return };
    let device = conv.weight.device();
    let [out_channels, in_per_group, kh, kw] = conv.weight.dims();
    let gamma = host(bn.gamma.val());
    let beta = host(bn.beta.val());
    let mean = host(bn.running_mean.value());
    let var = host(bn.running_var.value());
    let bias_in = match &conv.bias {
        Some(b) => host(b.val()),
        None => vec![0.0; out_channels],
    };
    let weight_in = host(conv.weight.val());
    let scale: Vec<f64> = (0..out_channels)
        .map(|o| gamma[o] / (var[o] + bn.epsilon).sqrt())
        .collect();
    let per_channel = in_per_group * kh * kw;
    let weight: Vec<f32> = weight_in
        .iter()
        .enumerate()
        .map(|(i, w)| (w * scale[i / per_channel]) as f32)
        .collect();
    let bias: Vec<f32> = (0..out_channels)
        .map(|o| (beta[o] + (bias_in[o] - mean[o]) * scale[o]) as f32)
        .collect();
    conv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(weight, [out_channels, in_per_group, kh, kw]),
        &device,
    ));
    conv.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias, [out_channels]),
        &device,
    )));
    *norm = Norm2d::Folded(Identity::new());
}

/// A tensor's values as f64, row-major.
fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .expect("converted to f64")
}

/// Applies `conv`; when it has a bias, its output is tapped for FullGrad's bias-gradients
/// ([`fullgrad`](crate::fullgrad), a no-op outside a scope). Every convolution of the zoo runs
/// through here.
pub fn conv_forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv_forward_rectified(conv, x, None).0
}

/// `norm` after `conv`, rectified to `[0, high]`: ReLU (`high = ∞`) or ReLU6 (`high = 6`), as
/// [`crate::activation::relu`] / [`crate::activation::relu6`] would (guided inside a guided
/// scope). With the norm folded, the clamp runs in the convolution kernel's epilogue (the
/// same values and gradients, one pass over the activations less), except in FullGrad and
/// guided back-propagation scopes.
pub fn conv_norm_rectified(conv: &Conv2d, norm: &Norm2d, x: Tensor<4>, high: f32) -> Tensor<4> {
    let (y, rectified) = conv_forward_rectified(conv, x, norm.is_folded().then_some(high));
    if rectified {
        return y;
    }
    crate::activation::clamp(norm.forward(y), 0.0, high)
}

/// `norm(conv(x)) + residual`, rectified to `[0, high]` when `high` is given (a residual
/// block's end: ResNet's `relu(out + identity)`, an inverted residual's `out + x`). With the
/// norm folded and nothing tracked, the convolution kernel adds the residual and clamps in
/// its epilogue (the same values, two passes over the activations less); otherwise
/// operation by operation, the clamp as [`crate::activation::clamp`].
pub fn conv_norm_residual(
    conv: &Conv2d,
    norm: &Norm2d,
    x: Tensor<4>,
    residual: Tensor<4>,
    high: Option<f32>,
) -> Tensor<4> {
    if norm.is_folded() {
        let fused = crate::conv::conv2d_residual(
            &x,
            &conv.weight.val(),
            conv.bias.as_ref().map(|b| b.val()).as_ref(),
            &conv_options(conv, &x),
            &residual,
            high,
        );
        if let Some(y) = fused {
            return y;
        }
    }
    let y = norm.forward(conv_forward(conv, x)).add(residual);
    match high {
        Some(high) => crate::activation::clamp(y, 0.0, high),
        None => y,
    }
}

/// burn's `Conv2d::forward`'s options for `conv` over `x` (its padding resolved).
fn conv_options(conv: &Conv2d, x: &Tensor<4>) -> ConvOptions<2> {
    let [_, _, height, width] = x.dims();
    let (top, bottom) = padding_pair(&conv.padding, 0, height, conv);
    let (left, right) = padding_pair(&conv.padding, 1, width, conv);
    ConvOptions::new_with_padding(
        conv.stride,
        [(top, bottom), (left, right)],
        conv.dilation,
        conv.groups,
    )
}

/// [`conv_forward`], asking the kernel to rectify its output to `[0, high]` too; whether it
/// did (never in a FullGrad scope, whose tap needs the output before the clamp).
fn conv_forward_rectified(conv: &Conv2d, x: Tensor<4>, rectify: Option<f32>) -> (Tensor<4>, bool) {
    // burn's `Conv2d::forward`, through whycam's conv2d for its faster input gradient.
    let options = conv_options(conv, &x);
    let (y, rectified) = crate::conv::conv2d_rectified(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        options,
        rectify,
    );
    let y = match &conv.bias {
        Some(bias) if !rectified => fullgrad::tap(y, || {
            host(bias.val()).into_iter().map(|b| b as f32).collect()
        }),
        _ => y,
    };
    (y, rectified)
}

/// The (begin, end) padding of `conv` along `axis` (0: rows, 1: columns) for an input of
/// `size`: burn-nn's `PaddingConfig2d::calculate_padding_2d_pairs`, which is private.
/// TensorFlow's "same" puts the odd pixel at the end (and, as burn, ignores dilation).
fn padding_pair(
    padding: &PaddingConfig2d,
    axis: usize,
    size: usize,
    conv: &Conv2d,
) -> (usize, usize) {
    match *padding {
        PaddingConfig2d::Valid => (0, 0),
        PaddingConfig2d::Explicit(top, left, bottom, right) => {
            if axis == 0 {
                (top, bottom)
            } else {
                (left, right)
            }
        }
        PaddingConfig2d::Same => {
            let (kernel, stride) = (conv.kernel_size[axis], conv.stride[axis]);
            let out = size.div_ceil(stride);
            let total = if out > 0 {
                ((out - 1) * stride + kernel).saturating_sub(size)
            } else {
                0
            };
            (total / 2, total - total / 2)
        }
    }
}

/// A convolution with PyTorch's symmetric padding (`padding = pad`), no dilation.
pub fn conv(
    [c_in, c_out]: [usize; 2],
    kernel: usize,
    stride: usize,
    pad: usize,
    groups: usize,
    bias: bool,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_groups(groups)
        .with_bias(bias)
        .init(device)
}

/// A convolution with TensorFlow's "same" padding (asymmetric when the stride is 2).
pub fn conv_same(
    [c_in, c_out]: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Same)
        .with_groups(groups)
        .with_bias(false)
        .init(device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn folding_preserves_the_output() {
        let device = Device::default();
        let c = conv([3, 4], 3, 2, 1, 1, true, &device);
        let mut norm = Norm2d::new(4, 1e-3, &device);
        if let Norm2d::Batch(bn) = &mut norm {
            bn.gamma = Param::from_tensor(Tensor::from_floats([0.5, 1.5, -2.0, 1.0], &device));
            bn.beta = Param::from_tensor(Tensor::from_floats([0.1, -0.2, 0.3, 0.0], &device));
            bn.running_mean = burn::module::RunningState::new(Tensor::from_floats(
                [0.2, -0.1, 0.05, 1.0],
                &device,
            ));
            bn.running_var = burn::module::RunningState::new(Tensor::from_floats(
                [1.5, 0.3, 2.0, 0.01],
                &device,
            ));
        }
        let c = c.valid();
        let norm = norm.valid();
        let x = Tensor::<4>::random([2, 3, 9, 7], Distribution::Normal(0.0, 1.0), &device);
        let expected = norm.forward(c.forward(x.clone()));
        let (mut c, mut norm) = (c, norm);
        fold_into(&mut c, &mut norm);
        assert!(norm.is_folded());
        let got = norm.forward(c.forward(x));
        got.into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-5));
    }

    /// Each folded parameter is the float32 nearest its exact value, even where `beta` and
    /// `mean * scale` nearly cancel (float32 arithmetic loses most digits of such a bias).
    #[test]
    fn folded_parameters_are_rounded_once() {
        let device = Device::default();
        let mut c = conv([1, 2], 1, 1, 0, 1, false, &device);
        c.weight = Param::from_tensor(Tensor::from_floats([[[[0.3f32]]], [[[-1.7]]]], &device));
        let (gamma, var, mean) = ([0.77f32, 1.3], [0.61f32, 2.2], [1.234567f32, -0.987654]);
        let eps = 1e-5f64;
        let scale: Vec<f64> = (0..2)
            .map(|i| f64::from(gamma[i]) / (f64::from(var[i]) + eps).sqrt())
            .collect();
        // beta within a few ulps of mean * scale: the folded bias is a tiny difference.
        let beta: Vec<f32> = (0..2)
            .map(|i| (f64::from(mean[i]) * scale[i]) as f32)
            .collect();
        let mut norm = Norm2d::new(2, eps, &device);
        if let Norm2d::Batch(bn) = &mut norm {
            bn.gamma = Param::from_tensor(Tensor::from_floats(gamma, &device));
            bn.beta = Param::from_tensor(Tensor::from_floats(beta.as_slice(), &device));
            bn.running_mean = burn::module::RunningState::new(Tensor::from_floats(mean, &device));
            bn.running_var = burn::module::RunningState::new(Tensor::from_floats(var, &device));
        }
        fold_into(&mut c, &mut norm);
        let weight = c.weight.val().into_data().try_into_vec::<f32>().unwrap();
        let bias = c
            .bias
            .unwrap()
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        for i in 0..2 {
            let w = [0.3f32, -1.7][i];
            assert_eq!(weight[i], (f64::from(w) * scale[i]) as f32, "weight {i}");
            let exact = f64::from(beta[i]) - f64::from(mean[i]) * scale[i];
            assert_eq!(bias[i], exact as f32, "bias {i}");
        }
    }
}

/// One parameterised element of a PyTorch `nn.Sequential` of convolutions and BatchNorms
/// (`downsample.0`, `downsample.1`, `features.0.0`, ...). Parameter-free elements (ReLU,
/// pooling) are not stored; the owning model knows where they go.
#[derive(Module, Debug)]
pub enum ConvOrNorm {
    /// A convolution.
    Conv(Conv2d),
    /// A BatchNorm after a convolution.
    Norm(Norm2d),
}

impl ConvOrNorm {
    /// Applies this element.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            ConvOrNorm::Conv(c) => conv_forward(c, x),
            ConvOrNorm::Norm(n) => n.forward(x),
        }
    }
}

/// Applies a sequence of convolutions and norms in order.
pub fn run_sequence(layers: &[ConvOrNorm], mut x: Tensor<4>) -> Tensor<4> {
    for layer in layers {
        x = layer.forward(x);
    }
    x
}

/// Folds every norm of a sequence into the convolution right before it.
pub fn fold_sequence(layers: &mut [ConvOrNorm]) {
    for i in 1..layers.len() {
        let (head, tail) = layers.split_at_mut(i);
        if let (ConvOrNorm::Conv(c), ConvOrNorm::Norm(n)) = (&mut head[i - 1], &mut tail[0]) {
            fold_into(c, n);
        }
    }
}

/// `[conv, bn]` as a sequence, the shape of torchvision's `downsample` and of
/// `Conv2dNormActivation` (whose activation is applied by the owner).
pub fn conv_norm_sequence(conv: Conv2d, eps: f64, device: &Device) -> Vec<ConvOrNorm> {
    let [c_out, _, _, _] = conv.weight.dims();
    vec![
        ConvOrNorm::Conv(conv),
        ConvOrNorm::Norm(Norm2d::new(c_out, eps, device)),
    ]
}
