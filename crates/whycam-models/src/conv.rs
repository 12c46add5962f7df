//! whycam's 2-D convolution: burn's `conv2d` with faster forward kernels and, when only the
//! input is differentiated, a faster backward step.
//!
//! **Forward** (off with `WHYCAM_CONV_KERNELS=0`, see [`kernels_enabled`]). Every `f32`
//! convolution on the Flex backend whose weights are constants (inference and explanation,
//! not training) runs through [`crate::kernels`]: one GEMM per
//! tile of output pixels, written in place into the NCHW output, the work split over the
//! cores at batch 1 too; depthwise convolutions are direct, in register tiles over a padded
//! copy of each plane. burn-flex's own kernel remains for anything else (other dtypes, other
//! backends, trained weights). The bias, a following ReLU or ReLU6 (outside FullGrad and
//! guided back-propagation scopes) and, for untracked tensors, a residual block's skip branch
//! are applied by the kernel to each tile while it is in cache ([`conv2d_rectified`],
//! [`conv2d_residual`]; the zoo's blocks call them through `layers::conv_norm_rectified` and
//! `layers::conv_norm_residual`).
//!
//! **Backward.** Every gradient method (saliency, Integrated Gradients, SmoothGrad, guided
//! back-propagation, FullGrad, and the part of Grad-CAM after the target layer) differentiates
//! the network with respect to its input or an activation, never its weights. burn-autodiff
//! computes a convolution's input gradient as a transposed convolution, which burn-flex runs
//! as a GEMM into a column buffer followed by a scalar scatter; for the depthwise and
//! pointwise convolutions that make up MobileNet/EfficientNet-style networks that took a
//! quarter of an Integrated Gradients run on the default model (per-group GEMMs of one row,
//! on one core). Here, when the input is tracked by autodiff and the weights are constants:
//!
//! - a depthwise convolution's input gradient is the tiled depthwise kernel
//!   ([`crate::depthwise`]) run on the flipped kernel over the output gradient, spread out
//!   to the layer's stride and padded; with padding past the kernel's reach, a direct
//!   scatter of `g · w` per plane;
//! - a 1x1 convolution with stride 1 and no padding (pointwise) is `Wᵀ · g`, one GEMM;
//! - any other convolution keeps burn's own `conv2d_x_backward`.
//!
//! Values and gradients differ from burn's only in the order of floating-point additions.
//! Tracked weights (training) go through burn's `conv2d` unchanged. The custom backward step
//! is reached through burn's backend-extension API, as the guided rectifier is (`guided.rs`).

use crate::kernels;
use burn::tensor::module;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn_backend::ops::{FloatTensorOps, ModuleOps};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

/// `conv2d(x, weight, bias, options)` as burn computes it, with the faster input gradient
/// described in the module documentation where it applies.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    conv2d_rectified(x, weight, bias, options, None).0
}

/// [`conv2d`], and with `rectify = Some(high)` the output clamped to `[0, high]` (ReLU for an
/// infinite `high`, ReLU6 for 6) in the kernel's epilogue, while each tile is in cache: one
/// pass over the activations less. The clamp is applied on whycam's kernels only, and for a
/// tracked input only outside FullGrad and guided back-propagation scopes (FullGrad taps the
/// output before the clamp, guided back-propagation has its own rectifier); there the clamp's
/// own autodiff operation is recorded over the clamped values, so gradients are unchanged.
/// The flag says whether it was applied; otherwise the caller rectifies.
pub fn conv2d_rectified(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
    rectify: Option<f32>,
) -> (Tensor<4>, bool) {
    let constant = !weight.is_autodiff() && bias.as_ref().is_none_or(|b| !b.is_autodiff());
    if constant && x.dtype() == DType::F32 && weight.dtype() == DType::F32 {
        if x.is_autodiff() {
            let kind = Kind::of(&x, &weight, &options);
            let rectify =
                rectify.filter(|_| !crate::fullgrad::tapping() && !crate::guided::guiding());
            if let Some(y) = input_only(&x, &weight, bias.as_ref(), &options, kind, rectify) {
                return y;
            }
        } else if let Some((x, weight, bias)) = primitives(x.clone(), &weight, bias.as_ref()) {
            let (y, rectified) = forward(x, weight, bias, &options, rectify);
            return (Tensor::from_primitive::<Flex>(y), rectified);
        }
    }
    (module::conv2d(x, weight, bias, options), false)
}

/// `clamp(conv2d(x, weight, bias) + residual, 0, high)` (no clamp for `rectify = None`), the
/// residual added and the clamp applied by the kernel to each tile while it is in cache: a
/// residual block's last convolution, its addition and its ReLU in one pass over the output
/// instead of three, with the same values (the epilogue adds in the same order). `None`
/// where the epilogue cannot take them, and the caller runs the operations one by one: a
/// tracked input, weight or residual (gradients keep burn's operations), other dtypes, kernels
/// off, a depthwise convolution, a residual of another shape.
pub fn conv2d_residual(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    options: &ConvOptions<2>,
    residual: &Tensor<4>,
    rectify: Option<f32>,
) -> Option<Tensor<4>> {
    let tracked = x.is_autodiff()
        || weight.is_autodiff()
        || residual.is_autodiff()
        || bias.is_some_and(|b| b.is_autodiff());
    if tracked || [x.dtype(), weight.dtype(), residual.dtype()] != [DType::F32; 3] {
        return None;
    }
    let residual = residual
        .clone()
        .try_into_primitive::<Flex>()
        .ok()?
        .to_contiguous();
    let (x, weight, bias) = primitives(x.clone(), weight, bias)?;
    let y = kernel_forward(
        &x,
        &weight,
        bias.as_ref(),
        options,
        rectify,
        Some(&residual),
    )?;
    Some(Tensor::from_primitive::<Flex>(y))
}

/// The Flex tensors of a convolution's operands (`x` without its autodiff node).
fn primitives(
    x: Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
) -> Option<(FlexTensor, FlexTensor, Option<FlexTensor>)> {
    let x = x.without_autodiff().try_into_primitive::<Flex>().ok()?;
    let weight = weight.clone().try_into_primitive::<Flex>().ok()?;
    let bias = match bias {
        Some(b) => Some(b.clone().try_into_primitive::<Flex>().ok()?),
        None => None,
    };
    Some((x, weight, bias))
}

/// Whether convolutions run on whycam's kernels: yes unless `WHYCAM_CONV_KERNELS=0` (burn-flex's
/// own convolution, kept for comparisons and as a way around a kernel problem on some CPU).
fn kernels_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    cfg!(test)
        || *ENABLED.get_or_init(|| std::env::var_os("WHYCAM_CONV_KERNELS").is_none_or(|v| v != "0"))
}

/// `conv2d` on Flex tensors through whycam's kernels ([`crate::kernels`]) when all three are
/// `f32`, else burn-flex's; whether `rectify` was applied (only on whycam's kernels).
fn forward(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
    rectify: Option<f32>,
) -> (FlexTensor, bool) {
    match kernel_forward(&x, &weight, bias.as_ref(), options, rectify, None) {
        Some(y) => (y, rectify.is_some()),
        None => (Flex::conv2d(x, weight, bias, options.clone()), false),
    }
}

/// [`kernels::conv2d`] of Flex tensors, `residual` (contiguous f32 of the output's shape, not
/// for depthwise convolutions) added in the epilogue; `None` where the kernels do not apply.
fn kernel_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    options: &ConvOptions<2>,
    rectify: Option<f32>,
    residual: Option<&FlexTensor>,
) -> Option<FlexTensor> {
    if !kernels_enabled() {
        return None;
    }
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let bias = bias.map(FlexTensor::to_contiguous);
    let xs = x.as_slice::<f32>()?;
    let ws = weight.as_slice::<f32>()?;
    let bs = match &bias {
        Some(b) => Some(b.as_slice::<f32>()?),
        None => None,
    };
    let [n, c_in, h, w] = <[usize; 4]>::try_from(x.layout().shape().to_vec()).ok()?;
    let [c_out, per_group, kh, kw] =
        <[usize; 4]>::try_from(weight.layout().shape().to_vec()).ok()?;
    let groups = options.groups;
    let [(pt, pb), (pl, pr)] = options.padding;
    // None for a zero kernel, stride or dilation, or a kernel wider than the padded input.
    let out = |size: usize, k: usize, s: usize, d: usize, (a, b): (usize, usize)| {
        let reach = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
        let span = size.checked_add(a)?.checked_add(b)?.checked_sub(reach)?;
        (s > 0 && d > 0).then(|| span / s + 1)
    };
    let oh = out(h, kh, options.stride[0], options.dilation[0], (pt, pb))?;
    let ow = out(w, kw, options.stride[1], options.dilation[1], (pl, pr))?;
    let valid = groups > 0
        && c_in % groups == 0
        && c_out % groups == 0
        && per_group * groups == c_in
        && kh > 0
        && kw > 0
        && options.stride.iter().all(|&s| s > 0)
        && options.dilation.iter().all(|&d| d > 0)
        && xs.len() == n * c_in * h * w
        && ws.len() == c_out * per_group * kh * kw
        && bs.is_none_or(|b| b.len() == c_out);
    let shape = kernels::Conv2dShape {
        batch: n,
        c_in,
        size: [h, w],
        c_out,
        kernel: [kh, kw],
        stride: options.stride,
        dilation: options.dilation,
        pad: [pt, pl],
        groups,
        out: [oh, ow],
    };
    if !valid {
        return None;
    }
    let residual = match residual {
        Some(r) if r.layout().shape().to_vec() == [n, c_out, oh, ow] && !shape.is_depthwise() => {
            Some(r.as_slice::<f32>()?)
        }
        Some(_) => return None,
        None => None,
    };
    let epilogue = kernels::Epilogue { rectify, residual };
    let y = kernels::conv2d(xs, ws, bs, &shape, epilogue);
    Some(FlexTensor::from_data(TensorData::new(
        y,
        [n, c_out, oh, ow],
    )))
}

/// Which fast backward step a convolution has.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// `groups = C_in = C_out`, one input channel per group.
    Depthwise,
    /// 1x1 kernel, stride 1, no padding, no dilation, one group.
    Pointwise,
    /// Any other: burn's own input gradient.
    Other,
}

impl Kind {
    fn of(x: &Tensor<4>, weight: &Tensor<4>, options: &ConvOptions<2>) -> Kind {
        let [_, c_in, _, _] = x.dims();
        let [c_out, per_group, kh, kw] = weight.dims();
        if options.groups == c_in && c_out == c_in && per_group == 1 {
            Kind::Depthwise
        } else if options.groups == 1
            && per_group == c_in
            && [kh, kw] == [1, 1]
            && options.stride == [1, 1]
            && options.dilation == [1, 1]
            && options.padding == [(0, 0), (0, 0)]
        {
            Kind::Pointwise
        } else {
            Kind::Other
        }
    }
}

fn input_only(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    options: &ConvOptions<2>,
    kind: Kind,
    rectify: Option<f32>,
) -> Option<(Tensor<4>, bool)> {
    let (x_plain, weight, bias) = primitives(x.clone(), weight, bias)?;
    let input = x.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let x_dims = x.dims();
    let (output, rectified) = forward(x_plain, weight.clone(), bias, options, rectify);
    let state = ConvState {
        weight,
        x_dims,
        options: options.clone(),
        kind,
    };
    let result = match InputGradient
        .prepare::<NoCheckpointing>([input.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    match rectify {
        // The convolution's node holds the clamped values (its backward step reads none of
        // them), and the clamp's node over it holds them as its output.
        Some(high) if rectified => {
            let (values, node) = result.into_parts();
            Some((
                crate::activation::record_clamp(values, node, 0.0, high),
                true,
            ))
        }
        _ => Some((Tensor::from_primitive::<Autodiff<Flex>>(result), false)),
    }
}

/// The backward step: the input's gradient only (the weights are constants).
#[derive(Debug)]
struct InputGradient;

#[derive(Debug, Clone)]
struct ConvState {
    weight: FlexTensor,
    x_dims: [usize; 4],
    options: ConvOptions<2>,
    kind: Kind,
}

impl Backward<Flex, 1> for InputGradient {
    type State = ConvState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| match state.kind {
            Kind::Depthwise => depthwise_input_gradient(&grad, &state)
                .unwrap_or_else(|| burn_input_gradient(grad, &state)),
            Kind::Pointwise => pointwise_input_gradient(grad, &state),
            Kind::Other => burn_input_gradient(grad, &state),
        });
    }
}

/// burn's own input gradient (burn-autodiff's conv2d backward step), which reads only the
/// input's shape.
fn burn_input_gradient(grad: FlexTensor, state: &ConvState) -> FlexTensor {
    let x = FlexTensor::zeros(state.x_dims.to_vec().into(), DType::F32);
    Flex::conv2d_x_backward(x, state.weight.clone(), grad, state.options.clone())
}

/// `dx[n, c] = Σ_{oh, ow, i, j} g[n, c, oh, ow] · w[c, i, j]` at
/// `(oh·s + i·d - pad_top, ow·s + j·d - pad_left)`: a convolution by the tiled kernel, or,
/// when the padding passes the kernel's reach, a scatter, one plane per task.
fn depthwise_input_gradient(grad: &FlexTensor, state: &ConvState) -> Option<FlexTensor> {
    let [n, c, h, w] = state.x_dims;
    let grad = grad.to_contiguous();
    let weight = state.weight.to_contiguous();
    let g = grad.as_slice::<f32>()?;
    let kernel = weight.as_slice::<f32>()?;
    let (oh_n, ow_n) = match grad.layout().shape().to_vec()[..] {
        [gn, gc, oh, ow] if gn == n && gc == c => (oh, ow),
        _ => return None,
    };
    let (kh, kw) = match weight.layout().shape().to_vec()[..] {
        [wc, 1, kh, kw] if wc == c => (kh, kw),
        _ => return None,
    };
    if g.len() != n * c * oh_n * ow_n || kernel.len() != c * kh * kw {
        return None;
    }
    let shape = kernels::Conv2dShape {
        batch: n,
        c_in: c,
        size: [h, w],
        c_out: c,
        kernel: [kh, kw],
        stride: state.options.stride,
        dilation: state.options.dilation,
        pad: state.options.padding_begin(),
        groups: c,
        out: [oh_n, ow_n],
    };
    // The gradient is itself a depthwise convolution, by the flipped kernel with stride 1,
    // of `g` spread out to the input's stride (zeros between its values) and padded by
    // `reach - pad` on each side: the tiled forward kernel. A strided layer's spread-out
    // gradient has stride² times the values, most of them zeros.
    let [dh, dw] = shape.dilation;
    let [pt, pl] = shape.pad;
    let [sh, sw] = shape.stride;
    if let (true, Some(top), Some(left)) = (
        oh_n > 0 && ow_n > 0,
        ((kh - 1) * dh).checked_sub(pt),
        ((kw - 1) * dw).checked_sub(pl),
    ) {
        let flipped: Vec<f32> = kernel
            .chunks_exact(kh * kw)
            .flat_map(|k| k.iter().rev())
            .copied()
            .collect();
        let spread_out: Vec<f32>;
        let (source, size) = if shape.stride == [1, 1] {
            (g, [oh_n, ow_n])
        } else {
            let size = [(oh_n - 1) * sh + 1, (ow_n - 1) * sw + 1];
            let mut spread = vec![0.0f32; n * c * size[0] * size[1]];
            spread
                .par_chunks_mut(size[0] * size[1])
                .zip(g.par_chunks(oh_n * ow_n))
                .for_each(|(dst, plane)| {
                    for (oy, row) in plane.chunks_exact(ow_n).enumerate() {
                        let line = &mut dst[oy * sh * size[1]..];
                        for (d, &v) in line.iter_mut().step_by(sw).zip(row) {
                            *d = v;
                        }
                    }
                });
            spread_out = spread;
            (&spread_out[..], size)
        };
        let transposed = kernels::Conv2dShape {
            size,
            stride: [1, 1],
            pad: [top, left],
            out: [h, w],
            ..shape
        };
        let epilogue = kernels::Epilogue::rectified(None);
        let dx = kernels::conv2d(source, &flipped, None, &transposed, epilogue);
        return Some(FlexTensor::from_data(TensorData::new(dx, [n, c, h, w])));
    }
    let mut dx = vec![0.0f32; n * c * h * w];
    let taps = kernels::valid_columns(&shape);
    dx.par_chunks_mut(h * w)
        .enumerate()
        .for_each(|(plane, out)| {
            let channel = plane % c;
            depthwise_plane(
                out,
                &g[plane * oh_n * ow_n..(plane + 1) * oh_n * ow_n],
                &kernel[channel * kh * kw..(channel + 1) * kh * kw],
                &shape,
                &taps,
            );
        });
    Some(FlexTensor::from_data(TensorData::new(dx, [n, c, h, w])))
}

/// One plane of [`depthwise_input_gradient`]: `out += g` scattered through the kernel `k`;
/// `taps` are [`kernels::valid_columns`] of `shape`.
#[inline(never)]
fn depthwise_plane(
    out: &mut [f32],
    g: &[f32],
    k: &[f32],
    shape: &kernels::Conv2dShape,
    taps: &[(usize, usize, usize)],
) {
    let [h, w] = shape.size;
    let [oh_n, ow_n] = shape.out;
    let [kh, kw] = shape.kernel;
    let [sh, sw] = shape.stride;
    let dh = shape.dilation[0];
    let pt = shape.pad[0];
    // Row by row of the gradient, so that its row and the kh rows it reaches stay in cache.
    for (oh, grow) in g.chunks_exact(ow_n).take(oh_n).enumerate() {
        for i in 0..kh {
            let Some(ih) = (oh * sh + i * dh).checked_sub(pt) else {
                continue;
            };
            if ih >= h {
                continue;
            }
            let row = &mut out[ih * w..(ih + 1) * w];
            // A kernel column that reaches no input column (a plane smaller than the kernel)
            // has lo == hi.
            for (j, &(lo, hi, start)) in taps.iter().enumerate().filter(|(_, t)| t.0 < t.1) {
                let wk = k[i * kw + j];
                if sw == 1 {
                    for (o, &v) in row[start..start + (hi - lo)].iter_mut().zip(&grow[lo..hi]) {
                        *o += v * wk;
                    }
                } else {
                    for (o, &v) in row[start..].iter_mut().step_by(sw).zip(&grow[lo..hi]) {
                        *o += v * wk;
                    }
                }
            }
        }
    }
}

/// `dx[n] = Wᵀ · g[n]` with `W` the `[C_out, C_in]` weight matrix: one GEMM per image,
/// images over the cores when there are enough of them (else each GEMM on every core), as
/// burn-flex's batched matmul does, but written once into a buffer that is not zero-filled
/// first (burn-flex zero-filled its output and copied it once more to align it: 3.4% of an
/// Integrated Gradients run). burn-flex's matmul for a gradient that is not f32.
fn pointwise_input_gradient(grad: FlexTensor, state: &ConvState) -> FlexTensor {
    let [n, c_in, h, w] = state.x_dims;
    let c_out = state.weight.layout().shape()[0];
    let grad = grad.to_contiguous();
    let weight = state.weight.to_contiguous();
    let hw = h * w;
    if let (Some(g), Some(wm)) = (grad.as_slice::<f32>(), weight.as_slice::<f32>())
        && g.len() == n * c_out * hw
        && wm.len() == c_out * c_in
    {
        let len = n * c_in * hw;
        let mut dx = Vec::with_capacity(len);
        let out = kernels::Output::new(&mut dx.spare_capacity_mut()[..len]);
        // SAFETY: image `b`'s gradient is `c_out·hw` floats at `b·c_out·hw` of `g`, its
        // output `c_in·hw` floats at `b·c_in·hw` of `dx` (written, never read: `read_dst` is
        // false), `Wᵀ` is `W` read with its strides swapped; no two calls share an output.
        let image = |b: usize, parallelism: gemm::Parallelism| unsafe {
            gemm::gemm(
                c_in,
                hw,
                c_out,
                out.at(b * c_in * hw),
                1,
                hw as isize,
                false,
                wm.as_ptr(),
                c_in as isize,
                1,
                g.as_ptr().add(b * c_out * hw),
                1,
                hw as isize,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                parallelism,
            );
        };
        let threads = rayon::current_num_threads().max(1);
        if n >= 2 * threads {
            (0..n)
                .into_par_iter()
                .for_each(|b| image(b, gemm::Parallelism::None));
        } else {
            (0..n).for_each(|b| image(b, gemm::Parallelism::Rayon(threads)));
        }
        // SAFETY: the calls above wrote all `n` images' `c_in·hw` outputs.
        unsafe { dx.set_len(len) };
        return FlexTensor::from_data(TensorData::new(dx, [n, c_in, h, w]));
    }
    let weight_t = Flex::float_swap_dims(
        Flex::float_reshape(state.weight.clone(), [1, c_out, c_in].into()),
        1,
        2,
    );
    let g = Flex::float_reshape(grad, [n, c_out, hw].into());
    let dx = Flex::float_matmul(weight_t, g);
    Flex::float_reshape(dx, [n, c_in, h, w].into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;

    /// Values in [-1, 1) from a fixed linear congruential sequence.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn tensor<const D: usize>(dims: [usize; D], seed: u64) -> Tensor<D> {
        let n = dims.iter().product();
        Tensor::from_data(TensorData::new(values(n, seed), dims), &Device::default())
    }

    /// The input gradient of `Σ conv(x) · u` through `conv` and through burn's own conv2d.
    fn gradients(
        x_dims: [usize; 4],
        w_dims: [usize; 4],
        bias: bool,
        options: ConvOptions<2>,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let x = tensor(x_dims, 1);
        let weight = tensor(w_dims, 2);
        let bias = bias.then(|| tensor([w_dims[0]], 3));
        let run = |fast: bool| {
            let leaf = x.clone().autodiff().require_grad();
            let y = if fast {
                let kind = Kind::of(&leaf, &weight, &options);
                input_only(&leaf, &weight, bias.as_ref(), &options, kind, None)
                    .expect("the fast path")
                    .0
            } else {
                module::conv2d(leaf.clone(), weight.clone(), bias.clone(), options.clone())
            };
            let upstream = tensor(y.dims(), 4);
            let out = y
                .clone()
                .without_autodiff()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let grads = (y * upstream).sum().backward();
            let g = leaf
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            (out, g)
        };
        let (fast_y, fast_g) = run(true);
        let (burn_y, burn_g) = run(false);
        (fast_y, burn_y, fast_g, burn_g)
    }

    /// `ours` equals `burn` to `1e-5` of the largest magnitude (the sums' order differs).
    fn assert_close(ours: &[f32], burn: &[f32], what: &str) {
        assert_eq!(ours.len(), burn.len(), "{what}: length");
        let scale = burn.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in ours.iter().zip(burn).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * scale,
                "{what}: element {i}: {a} vs burn {b}"
            );
        }
    }

    fn check(x_dims: [usize; 4], w_dims: [usize; 4], bias: bool, options: ConvOptions<2>) {
        let (fast_y, burn_y, fast_g, burn_g) = gradients(x_dims, w_dims, bias, options.clone());
        let what = format!("{x_dims:?} {w_dims:?} {options:?}");
        assert_close(&fast_y, &burn_y, &format!("forward {what}"));
        assert_close(&fast_g, &burn_g, &format!("gradient {what}"));
    }

    /// Convolutions of every kind the kernels take: dense, grouped, depthwise with and
    /// without a channel multiplier, 1x1 with stride, dilated, asymmetric padding, planes
    /// smaller than the kernel, several images, and enough channels for the split over
    /// output channels.
    fn cases() -> Vec<([usize; 4], [usize; 4], ConvOptions<2>)> {
        let o = |s: usize, p: [(usize, usize); 2], d: usize, g: usize| {
            ConvOptions::new_with_padding([s, s], p, [d, d], g)
        };
        let same = [(1, 1), (1, 1)];
        vec![
            ([1, 3, 17, 15], [8, 3, 3, 3], o(1, same, 1, 1)),
            ([2, 3, 20, 20], [16, 3, 7, 7], o(2, [(3, 3), (3, 3)], 1, 1)),
            ([1, 16, 9, 9], [128, 16, 3, 3], o(1, same, 1, 1)),
            ([1, 64, 7, 7], [96, 64, 3, 3], o(1, same, 1, 1)),
            ([3, 8, 11, 13], [12, 8, 3, 3], o(2, [(0, 1), (0, 1)], 1, 1)),
            ([1, 8, 12, 12], [8, 8, 3, 3], o(1, [(2, 2), (2, 2)], 2, 1)),
            ([2, 8, 10, 9], [16, 2, 3, 3], o(1, same, 1, 4)),
            ([1, 32, 8, 8], [64, 1, 3, 3], o(2, same, 1, 32)),
            ([1, 16, 6, 6], [32, 16, 1, 1], o(1, [(0, 0), (0, 0)], 1, 1)),
            // Enough images for the pointwise gradient's split over images.
            ([5, 16, 6, 7], [24, 16, 1, 1], o(1, [(0, 0), (0, 0)], 1, 1)),
            ([2, 16, 9, 9], [32, 16, 1, 1], o(2, [(0, 0), (0, 0)], 1, 1)),
            (
                [1, 256, 3, 3],
                [512, 256, 1, 1],
                o(1, [(0, 0), (0, 0)], 1, 1),
            ),
            ([1, 4, 2, 3], [6, 4, 3, 3], o(1, same, 1, 1)),
            ([1, 4, 5, 5], [4, 4, 5, 5], o(3, [(2, 1), (0, 2)], 1, 1)),
            ([2, 6, 9, 10], [6, 1, 3, 3], o(1, same, 1, 6)),
            ([1, 6, 12, 11], [6, 1, 5, 5], o(2, [(1, 2), (1, 2)], 1, 6)),
            ([1, 6, 11, 12], [6, 1, 3, 3], o(3, [(1, 1), (1, 1)], 2, 6)),
            ([1, 6, 2, 1], [6, 1, 3, 3], o(1, same, 1, 6)),
            ([1, 12, 7, 7], [12, 1, 7, 7], o(1, [(3, 3), (3, 3)], 1, 12)),
            // 7x7 depthwise: asymmetric padding, dilation, several images, planes smaller
            // than the kernel.
            ([2, 40, 9, 11], [40, 1, 7, 7], o(1, [(3, 2), (1, 3)], 1, 40)),
            (
                [1, 33, 15, 12],
                [33, 1, 7, 7],
                o(1, [(6, 6), (6, 6)], 2, 33),
            ),
            ([1, 64, 3, 4], [64, 1, 7, 7], o(1, [(3, 3), (3, 3)], 1, 64)),
            // Depthwise tiles of 8 columns with a tail (14 and 17 columns), a 3x5 kernel
            // with stride 2 and an even left padding, stride 2 without padding over an even
            // and an odd width (the de-interleaved copy's last column).
            ([2, 5, 14, 17], [5, 1, 5, 5], o(1, [(2, 2), (2, 2)], 1, 5)),
            ([1, 4, 13, 18], [4, 1, 3, 5], o(2, [(1, 1), (2, 2)], 1, 4)),
            ([1, 3, 20, 20], [3, 1, 3, 3], o(2, [(0, 0), (0, 0)], 1, 3)),
            ([1, 3, 19, 19], [3, 1, 3, 3], o(2, [(0, 1), (0, 1)], 1, 3)),
            // Tiles that end a few columns into a row, left of the first column a tap reaches.
            ([1, 3, 33, 35], [8, 3, 7, 7], o(2, [(3, 3), (3, 3)], 1, 1)),
            ([1, 3, 30, 37], [8, 3, 7, 7], o(2, [(3, 3), (3, 3)], 1, 1)),
            // 12x21 outputs in tiles of 64: the first tile ends at column 1 of row 3.
            ([1, 3, 23, 41], [8, 3, 7, 7], o(2, [(3, 3), (3, 3)], 1, 1)),
            ([1, 2, 20, 23], [4, 2, 5, 5], o(1, [(4, 4), (4, 4)], 2, 1)),
            // 3x3 with stride 1 on planes of 100 tiles or more (Winograd): an odd output
            // height, asymmetric padding.
            ([2, 16, 21, 19], [24, 16, 3, 3], o(1, same, 1, 1)),
            (
                [1, 20, 24, 22],
                [16, 20, 3, 3],
                o(1, [(0, 1), (1, 0)], 1, 1),
            ),
        ]
    }

    #[test]
    fn an_image_has_the_same_values_alone_and_in_a_batch() {
        for (x_dims, w_dims, options) in cases() {
            let [_, c, h, w] = x_dims;
            let x = tensor([3, c, h, w], 1);
            let weight = tensor(w_dims, 2);
            let vec = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
            let batch = vec(conv2d(x.clone(), weight.clone(), None, options.clone()));
            let per_image = batch.len() / 3;
            for i in 0..3 {
                let alone = x.clone().narrow(0, i, 1);
                let y = vec(conv2d(alone, weight.clone(), None, options.clone()));
                assert_eq!(
                    y,
                    batch[i * per_image..(i + 1) * per_image],
                    "{x_dims:?} {w_dims:?} {options:?} image {i}"
                );
            }
        }
    }

    #[test]
    fn forward_matches_burn_for_every_kind_of_convolution() {
        for (x_dims, w_dims, options) in cases() {
            for bias in [false, true] {
                let x = tensor(x_dims, 1);
                let weight = tensor(w_dims, 2);
                let b = bias.then(|| tensor([w_dims[0]], 3));
                let ours = conv2d(x.clone(), weight.clone(), b.clone(), options.clone());
                let burn = module::conv2d(x, weight, b, options.clone());
                assert_eq!(
                    ours.dims(),
                    burn.dims(),
                    "{x_dims:?} {w_dims:?} {options:?}"
                );
                let vec = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
                assert_close(
                    &vec(ours),
                    &vec(burn),
                    &format!("{x_dims:?} {w_dims:?} bias {bias} {options:?}"),
                );
            }
        }
    }

    #[test]
    fn residual_convolutions_equal_the_separate_operations_where_they_apply() {
        for (x_dims, w_dims, options) in cases() {
            let x = tensor(x_dims, 1);
            let weight = tensor(w_dims, 2);
            let b = tensor([w_dims[0]], 3);
            let plain = conv2d(x.clone(), weight.clone(), Some(b.clone()), options.clone());
            let residual = tensor(plain.dims(), 4) * 4.0;
            let fused = |x: &Tensor<4>, residual: &Tensor<4>| {
                conv2d_residual(x, &weight, Some(&b), &options, residual, Some(1.0))
            };
            let what = format!("{x_dims:?} {w_dims:?} {options:?}");
            if Kind::of(&x, &weight, &options) == Kind::Depthwise {
                assert!(fused(&x, &residual).is_none(), "{what}");
                continue;
            }
            let vec = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
            let want = vec((plain + residual.clone()).clamp(0.0, 1.0));
            assert_eq!(vec(fused(&x, &residual).expect("fused")), want, "{what}");
            // Tracked operands and a residual of another shape are left to the caller.
            let tracked = x.clone().autodiff().require_grad();
            assert!(fused(&tracked, &residual).is_none(), "{what}");
            assert!(fused(&x, &residual.clone().autodiff()).is_none(), "{what}");
            let [n, c, h, w] = residual.dims();
            let wrong = residual.reshape([n, c, w, h]);
            assert!(h == w || fused(&x, &wrong).is_none(), "{what}");
        }
    }

    #[test]
    fn rectified_convolutions_equal_the_clamp_of_the_output() {
        for (x_dims, w_dims, options) in cases() {
            for (bias, high) in [(false, f32::INFINITY), (true, f32::INFINITY), (true, 6.0)] {
                let x = tensor(x_dims, 1);
                // Weights and biases scaled so that some outputs pass 6.
                let weight = tensor(w_dims, 2) * 4.0;
                let b = bias.then(|| tensor([w_dims[0]], 3) * 4.0);
                let (fused, applied) = conv2d_rectified(
                    x.clone(),
                    weight.clone(),
                    b.clone(),
                    options.clone(),
                    Some(high),
                );
                let plain = conv2d(x.clone(), weight.clone(), b.clone(), options.clone());
                let vec = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
                let want: Vec<f32> = vec(plain).iter().map(|v| v.clamp(0.0, high)).collect();
                let got = vec(fused.clone());
                // Every case runs on whycam's kernels, which clamp as they write.
                assert!(applied, "{x_dims:?} {w_dims:?} {options:?}");
                assert_eq!(got, want, "{x_dims:?} {w_dims:?} {options:?} high {high}");
                // A tracked input: the same values, and the same input gradient as the
                // convolution followed by the tracked clamp.
                let upstream = tensor(fused.dims(), 4);
                let run = |fuse: bool| {
                    let leaf = x.clone().autodiff().require_grad();
                    let (y, applied) = if fuse {
                        conv2d_rectified(
                            leaf.clone(),
                            weight.clone(),
                            b.clone(),
                            options.clone(),
                            Some(high),
                        )
                    } else {
                        let y = conv2d(leaf.clone(), weight.clone(), b.clone(), options.clone());
                        (crate::activation::clamp(y, 0.0, high), false)
                    };
                    let values = vec(y.clone().without_autodiff());
                    let grads = (y * upstream.clone()).sum().backward();
                    (applied, values, vec(leaf.grad(&grads).unwrap()))
                };
                let (applied, values, gradient) = run(true);
                let (_, unfused_values, unfused_gradient) = run(false);
                assert!(applied, "tracked {x_dims:?} {w_dims:?} {options:?}");
                assert_eq!(values, want, "tracked {x_dims:?} {w_dims:?} {options:?}");
                assert_eq!(values, unfused_values);
                assert_eq!(
                    gradient, unfused_gradient,
                    "{x_dims:?} {w_dims:?} {options:?}"
                );
                // Inside a FullGrad scope (which taps the output before the activation) and
                // a guided back-propagation scope (its own rectifier), never.
                let tracked = || x.clone().autodiff().require_grad();
                let w = || weight.clone();
                {
                    let _scope = crate::BiasGradients::enter();
                    let (_, applied) =
                        conv2d_rectified(tracked(), w(), b.clone(), options.clone(), Some(high));
                    assert!(!applied);
                }
                let _scope = crate::GuidedBackprop::enter();
                let (_, applied) =
                    conv2d_rectified(tracked(), w(), b.clone(), options.clone(), Some(high));
                assert!(!applied);
            }
        }
    }

    #[test]
    fn gradients_match_burn_for_every_kind_of_convolution() {
        for (i, (x_dims, w_dims, options)) in cases().into_iter().enumerate() {
            check(x_dims, w_dims, i % 2 == 0, options);
        }
    }

    #[test]
    fn depthwise_gradients_match_burn_for_strides_paddings_and_dilations() {
        for (k, stride, padding, dilation) in [
            (3, 1, [(1, 1), (1, 1)], 1),
            (3, 2, [(1, 1), (1, 1)], 1),
            // TensorFlow "same" at stride 2: one more row and column at the end.
            (3, 2, [(0, 1), (0, 1)], 1),
            (5, 2, [(1, 2), (1, 2)], 1),
            (5, 1, [(2, 2), (2, 2)], 1),
            (7, 1, [(3, 3), (3, 3)], 1),
            (3, 1, [(2, 2), (2, 2)], 2),
            (3, 3, [(0, 0), (1, 0)], 1),
            // The tiled kernel on the flipped kernel: asymmetric padding, none, and padding
            // past the kernel's reach (the scatter instead), at stride 1 and 2.
            (3, 1, [(0, 2), (2, 0)], 1),
            (5, 1, [(0, 0), (0, 0)], 1),
            (3, 1, [(3, 3), (0, 1)], 1),
            (3, 2, [(3, 1), (0, 0)], 1),
        ] {
            // Planes smaller than the kernel too (the last stages of a small crop).
            for (n, size) in [(1, 9), (3, 8), (2, 1), (1, 2), (1, 3)] {
                let reach = dilation * (k - 1) + 1;
                if size + padding[0].0 + padding[0].1 < reach
                    || size + 1 + padding[1].0 + padding[1].1 < reach
                {
                    continue; // no output
                }
                let options =
                    ConvOptions::new_with_padding([stride, stride], padding, [dilation; 2], 6);
                check([n, 6, size, size + 1], [6, 1, k, k], n == 3, options);
            }
        }
    }

    #[test]
    fn pointwise_gradients_match_burn() {
        for (n, c_in, c_out) in [(1, 5, 7), (3, 16, 4)] {
            let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
            check([n, c_in, 6, 5], [c_out, c_in, 1, 1], n == 3, options);
        }
    }

    #[test]
    fn other_convolutions_and_tracked_weights_use_burn() {
        let x = tensor([1, 4, 6, 6], 1).autodiff();
        let dense = tensor([4, 4, 3, 3], 2);
        assert_eq!(
            Kind::of(&x, &dense, &ConvOptions::new([1, 1], [1, 1], [1, 1], 1)),
            Kind::Other
        );
        let strided = tensor([8, 4, 1, 1], 2);
        assert_eq!(
            Kind::of(&x, &strided, &ConvOptions::new([2, 2], [0, 0], [1, 1], 1)),
            Kind::Other
        );
        // Grouped, not depthwise.
        let grouped = tensor([4, 2, 3, 3], 2);
        assert_eq!(
            Kind::of(&x, &grouped, &ConvOptions::new([1, 1], [1, 1], [1, 1], 2)),
            Kind::Other
        );
        let depthwise = tensor([4, 1, 3, 3], 2);
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 4);
        assert_eq!(Kind::of(&x, &depthwise, &options), Kind::Depthwise);
        // Trained weights: burn's conv2d, which also gives the weights their gradient.
        let w = depthwise.autodiff().require_grad();
        let leaf = x.require_grad();
        let y = conv2d(leaf, w.clone(), None, options);
        let grads = y.sum().backward();
        assert!(w.grad(&grads).is_some());
    }
}
