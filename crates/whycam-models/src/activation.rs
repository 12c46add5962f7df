//! ReLU, ReLU6, GELU and erf that use every core.
//!
//! burn-flex runs element-wise unary operations as a scalar loop on the calling thread. In a
//! convolutional network the activations are as large as the convolution outputs, so on a
//! 2-core machine ReLU6 alone took 13% of an EfficientNet-Lite Score-CAM run while the
//! convolutions around it used both cores. Through burn's backend-extension API
//! (`try_into_primitive`) these functions clamp a Flex tensor that nothing else shares in place,
//! in parallel chunks. A tensor under autodiff is clamped by one custom operation whose backward
//! step is one parallel pass too (`tracked_clamp`; gradients as PyTorch's, strictly inside the
//! bounds). Any other tensor (shared, strided, not f32) goes through burn's own operation.
//! NaN stays NaN, as in PyTorch.
//!
//! GELU and erf (ConvNeXt's and the transformers' activation, exported before opset 20 as
//! `Div, Erf, Add, Mul, Mul`, which the ONNX loader fuses back into one GELU) are computed with
//! Eigen's rational approximation of erf (TensorFlow's and XLA's), whose largest error is
//! 4.5e-7 (a few units in the last place; burn-flex calls a scalar `erff` per element, which
//! took a tenth of a ConvNeXt forward pass). Only untracked tensors take this path; under
//! autodiff burn's own GELU and erf keep their gradients.

use crate::guided::guided_clamp;
use burn::tensor::activation;
use burn::tensor::{DType, Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, NodeGuard, Ops, OpsKind, unary};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

/// Elements per parallel task: large enough that scheduling costs nothing.
const CHUNK: usize = 1 << 16;

/// `max(x, 0)` (guided inside a [`GuidedBackprop`](crate::GuidedBackprop) scope).
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if let Some(y) = guided_clamp(&x, f32::INFINITY) {
        return y;
    }
    clamp_in_place(x, 0.0, f32::INFINITY, activation::relu)
}

/// `min(max(x, 0), 6)` (guided inside a [`GuidedBackprop`](crate::GuidedBackprop) scope).
pub fn relu6<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if let Some(y) = guided_clamp(&x, 6.0) {
        return y;
    }
    clamp_in_place(x, 0.0, 6.0, activation::relu6)
}

/// `min(max(x, low), high)` (either bound may be infinite). With `low = 0` it is a rectifier
/// (ONNX exports ReLU6 as `Clip(0, 6)`), guided inside a [`GuidedBackprop`](crate::GuidedBackprop)
/// scope.
pub fn clamp<const D: usize>(x: Tensor<D>, low: f32, high: f32) -> Tensor<D> {
    if low == 0.0
        && let Some(y) = guided_clamp(&x, high)
    {
        return y;
    }
    clamp_in_place(x, low, high, |x| {
        match (low.is_finite(), high.is_finite()) {
            (true, true) => x.clamp(low, high),
            (true, false) => x.clamp_min(low),
            (false, true) => x.clamp_max(high),
            (false, false) => x,
        }
    })
}

/// Clamps `x` in place when it is an unshared contiguous f32 Flex tensor; otherwise hands it
/// to burn's `fallback`.
fn clamp_in_place<const D: usize>(
    x: Tensor<D>,
    low: f32,
    high: f32,
    fallback: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    if x.dtype() != DType::F32 {
        return fallback(x);
    }
    if x.is_autodiff() {
        return tracked_clamp(x, low, high, fallback);
    }
    // The downcast consumes its tensor, so try it on a handle; dropping `x` afterwards leaves
    // the primitive as the only owner of the storage.
    let Ok(mut primitive) = x.clone().try_into_primitive::<Flex>() else {
        return fallback(x);
    };
    drop(x);
    let clamped = map_storage(&mut primitive, move |chunk| clamp_slice(chunk, low, high));
    let x = Tensor::from_primitive::<Flex>(primitive);
    if clamped { x } else { fallback(x) }
}

/// `erf(x)` element by element (`torch.erf`), to within 4.5e-7.
pub fn erf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    pointwise(x, Pointwise::Erf, |x| x.erf())
}

/// GELU, `x/2 · (1 + erf(x/√2))` (`torch.nn.GELU()`, not its tanh approximation).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    pointwise(x, Pointwise::Gelu, activation::gelu)
}

/// An element-wise function computed by whycam's loops.
#[derive(Debug, Clone, Copy)]
enum Pointwise {
    Erf,
    Gelu,
}

/// `kind` of an untracked f32 Flex tensor in parallel chunks: in place when nothing else
/// shares its storage, else into a copy. Any other tensor goes to burn's `fallback`.
fn pointwise<const D: usize>(
    x: Tensor<D>,
    kind: Pointwise,
    fallback: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    if x.dtype() != DType::F32 || x.is_autodiff() {
        return fallback(x);
    }
    let Ok(mut primitive) = x.clone().try_into_primitive::<Flex>() else {
        return fallback(x);
    };
    drop(x);
    if !map_storage(&mut primitive, |chunk| pointwise_chunk(kind, chunk)) {
        let contiguous = primitive.to_contiguous();
        let Some(values) = contiguous.as_slice::<f32>().map(<[f32]>::to_vec) else {
            return fallback(Tensor::from_primitive::<Flex>(primitive));
        };
        primitive =
            FlexTensor::from_data(TensorData::new(values, contiguous.layout().shape().clone()));
        if !map_storage(&mut primitive, |chunk| pointwise_chunk(kind, chunk)) {
            return fallback(Tensor::from_primitive::<Flex>(primitive));
        }
    }
    Tensor::from_primitive::<Flex>(primitive)
}

multiversion! {
    /// Replaces each value of `chunk` by `kind`'s, compiled for the CPU's vector instructions
    /// (the same operations in the same order at every level, so the same results: Rust never
    /// fuses a multiply and an add on its own).
    fn pointwise_chunk(kind: Pointwise, chunk: &mut [f32]) => pointwise_body
}

/// The body of [`pointwise_chunk`] (no multiply-add is written, so `FMA` changes nothing).
#[inline(always)]
fn pointwise_body<const FMA: bool>(kind: Pointwise, chunk: &mut [f32]) {
    match kind {
        Pointwise::Erf => {
            for v in chunk {
                *v = erf_value(*v);
            }
        }
        Pointwise::Gelu => {
            for v in chunk {
                let x = *v;
                *v = 0.5 * x * (1.0 + erf_value(x * std::f32::consts::FRAC_1_SQRT_2));
            }
        }
    }
}

/// erf by Eigen's rational approximation (`generic_fast_erf_float`, used by TensorFlow and
/// XLA): odd polynomial over even polynomial in `x` clamped to [-4, 4]. Selects, no
/// branches, so the loops above vectorise. NaN stays NaN.
#[inline(always)]
fn erf_value(x: f32) -> f32 {
    let c = x.clamp(-4.0, 4.0);
    let x2 = c * c;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_600_2e-3;
    p = x2 * p + -1.609_603_3e-2;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329e-3;
    q = x2 * q + -1.426_473_9e-2;
    // erf is ±1 in f32 from |x| = 4 on (the approximation is 6e-8 short of it), so that
    // GELU(-∞) is NaN and GELU(+∞) is +∞, as in PyTorch.
    if c.abs() >= 4.0 {
        1.0f32.copysign(c)
    } else {
        c * p / q
    }
}

/// The clamp of an autodiff tensor as one custom operation: the output in one parallel pass
/// (in place when nothing else holds the input's values) and, backward, `dx = dy · [low < y <
/// high]` in another (in place on `dy` when it is not shared), where `y` is the output:
/// PyTorch's `hardtanh_backward` and `threshold_backward`, no gradient at the bounds
/// themselves, nor through NaN (`low < y < high` exactly where `low < x < high`, as `y = x`
/// there and `y` is a bound or NaN elsewhere). burn's default clamp is two comparisons and
/// two masked fills forward and two masked fills backward, each a single-threaded pass over
/// the tensor (a fifth of an Integrated Gradients run on the default model). burn's
/// `fallback` when `x` is not an f32 Flex tensor under autodiff.
fn tracked_clamp<const D: usize>(
    x: Tensor<D>,
    low: f32,
    high: f32,
    fallback: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    // The downcast consumes its tensor, so try it on a handle; dropping `x` afterwards leaves
    // the primitive as the only owner of the storage unless something else holds it.
    let Ok(input) = x.clone().try_into_primitive::<Autodiff<Flex>>() else {
        return fallback(x);
    };
    drop(x);
    let (mut values, node) = input.into_parts();
    if !map_storage(&mut values, move |chunk| clamp_slice(chunk, low, high)) {
        values = map_into(&values, |v| clamp_value(v, low, high));
    }
    record_clamp(values, node, low, high)
}

/// The clamp's autodiff operation over `node`, whose values are already clamped to
/// `[low, high]` (by [`tracked_clamp`] or in a convolution's epilogue): `values` become its
/// output and the state of its backward step.
pub(crate) fn record_clamp<const D: usize>(
    values: FlexTensor,
    node: NodeGuard,
    low: f32,
    high: f32,
) -> Tensor<D> {
    let result = match TrackedClamp
        .prepare::<NoCheckpointing>([node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            ClampState {
                // A handle on the same values when they are contiguous (they are, from both
                // callers), else a contiguous copy for the mask to read.
                output: values.to_contiguous(),
                low,
                high,
            },
            values,
        ),
        OpsKind::UnTracked(prep) => prep.finish(values),
    };
    Tensor::from_primitive::<Autodiff<Flex>>(result)
}

/// `f` of each value of an f32 tensor (any layout), into a new contiguous tensor of its shape.
fn map_into(tensor: &FlexTensor, f: impl Fn(f32) -> f32 + Send + Sync) -> FlexTensor {
    let shape = tensor.layout().shape().clone();
    let contiguous = tensor.to_contiguous();
    let mut out = Vec::new();
    contiguous
        .as_slice::<f32>()
        .unwrap_or_default()
        .par_iter()
        .with_min_len(CHUNK)
        .map(|&v| f(v))
        .collect_into_vec(&mut out);
    FlexTensor::from_data(TensorData::new(out, shape))
}

/// The backward step of [`tracked_clamp`].
#[derive(Debug)]
struct TrackedClamp;

#[derive(Debug, Clone)]
struct ClampState {
    /// The clamp's output, contiguous, f32.
    output: FlexTensor,
    low: f32,
    high: f32,
}

impl Backward<Flex, 1> for TrackedClamp {
    type State = ClampState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |mut grad| {
            let (low, high) = (state.low, state.high);
            let y = state.output.as_slice::<f32>().unwrap_or_default();
            // The gradient has the output's shape; one in another layout or dtype is read
            // through its data.
            let in_place = grad.dtype() == DType::F32
                && grad.layout().num_elements() == y.len()
                && map_storage_indexed(&mut grad, move |start, chunk| {
                    pass_inside(chunk, &y[start..], low, high)
                });
            if in_place {
                return grad;
            }
            let shape = state.output.layout().shape().clone();
            let g = grad
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap_or_default();
            let mut dx = Vec::new();
            g.par_iter()
                .with_min_len(CHUNK)
                .zip(y)
                .map(|(&g, &y)| if y > low && y < high { g } else { 0.0 })
                .collect_into_vec(&mut dx);
            FlexTensor::from_data(TensorData::new(dx, shape))
        });
    }
}

/// [`clamp_value`] of every value, in place. Comparisons are false for NaN, which therefore
/// passes through. An unconditional store of a select, and bounds passed by value, let the
/// compiler vectorise the loop (through a closure's captured references it did not).
#[inline(never)]
fn clamp_slice(values: &mut [f32], low: f32, high: f32) {
    for v in values {
        *v = clamp_value(*v, low, high);
    }
}

/// `g = 0` wherever `y` is not strictly inside `(low, high)`, as a select in every lane.
#[inline(never)]
fn pass_inside(g: &mut [f32], y: &[f32], low: f32, high: f32) {
    for (g, &y) in g.iter_mut().zip(y) {
        *g = if y > low && y < high { *g } else { 0.0 };
    }
}

/// `min(max(x, low), high)`, NaN passing through (comparisons with NaN are false).
#[inline(always)]
pub(crate) fn clamp_value(x: f32, low: f32, high: f32) -> f32 {
    if x < low {
        low
    } else if x > high {
        high
    } else {
        x
    }
}

/// `f` over the values of an unshared contiguous f32 tensor, in parallel chunks; false (and
/// nothing done) for any other tensor.
fn map_storage(tensor: &mut FlexTensor, f: impl Fn(&mut [f32]) + Send + Sync) -> bool {
    map_storage_indexed(tensor, |_, chunk| f(chunk))
}

/// [`map_storage`] with each chunk's offset in the tensor: `f(start, chunk)`.
fn map_storage_indexed(
    tensor: &mut FlexTensor,
    f: impl Fn(usize, &mut [f32]) + Send + Sync,
) -> bool {
    let layout = tensor.layout();
    if !layout.is_contiguous() || layout.start_offset() != 0 {
        return false;
    }
    let n = layout.num_elements();
    let Some(data) = tensor.try_storage_mut::<f32>() else {
        return false;
    };
    data[..n]
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(i, chunk)| f(i * CHUNK, chunk));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;

    fn device() -> Device {
        Device::default()
    }

    #[test]
    fn matches_burn_including_nan_and_shared_tensors() {
        let values = [-3.0f32, -0.0, 0.5, 5.9, 6.0, 7.5, f32::NAN, 1e30];
        let x = Tensor::<1>::from_floats(values, &device());
        let kept = x.clone();
        let fast6 = relu6(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        let slow6 = activation::relu6(kept.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let fast = relu(x).into_data().try_to_vec::<f32>().unwrap();
        let slow = activation::relu(kept.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (a, b) in fast6.iter().zip(&slow6).chain(fast.iter().zip(&slow)) {
            assert!(a == b || (a.is_nan() && b.is_nan()), "{a} vs {b}");
        }
        // `kept` shares storage with the tensors above: the in-place path must not touch it.
        assert_eq!(kept.into_data().try_to_vec::<f32>().unwrap()[0], -3.0);
    }

    #[test]
    fn large_unique_tensor_is_clamped_in_parallel_chunks() {
        let n = 3 * CHUNK + 17;
        let values: Vec<f32> = (0..n).map(|i| i as f32 - n as f32 / 2.0).collect();
        let x = Tensor::<1>::from_floats(values.as_slice(), &device());
        let y = relu6(x).into_data().try_to_vec::<f32>().unwrap();
        for (i, v) in y.iter().enumerate() {
            let expected = (i as f32 - n as f32 / 2.0).clamp(0.0, 6.0);
            assert_eq!(*v, expected, "element {i}");
        }
    }

    #[test]
    fn tracked_clamps_pass_gradients_strictly_inside_the_bounds_as_pytorch() {
        let values = [-3.0f32, 0.0, 0.5, 5.9, 6.0, 7.5, f32::NAN, -0.0];
        let n = 2 * CHUNK + values.len();
        let input: Vec<f32> = values.iter().copied().cycle().take(n).collect();
        let upstream: Vec<f32> = (0..n).map(|i| 1.0 + i as f32).collect();
        let burn_forward = activation::relu6(Tensor::<1>::from_floats(input.as_slice(), &device()))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let same = |a: &[f32], b: &[f32]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
        };
        // A leaf that the caller still holds (the clamp writes a copy), and a fresh
        // intermediate value that nothing else holds (clamped in place).
        for fresh in [false, true] {
            let x = Tensor::<1>::from_floats(input.as_slice(), &device())
                .autodiff()
                .require_grad();
            let y = relu6(if fresh { x.clone() * 1.0 } else { x.clone() });
            let forward = y
                .clone()
                .without_autodiff()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            assert!(same(&forward, &burn_forward), "fresh: {fresh}");
            let held = x.clone().without_autodiff().into_data().try_to_vec::<f32>();
            assert!(same(&held.unwrap(), &input), "the input was changed");
            let u = Tensor::<1>::from_floats(upstream.as_slice(), &device());
            let grads = (y * u).sum().backward();
            let dx = x
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            for i in 0..n {
                // torch.nn.ReLU6 backward: the gradient only where 0 < x < 6.
                let expected = if input[i] > 0.0 && input[i] < 6.0 {
                    upstream[i]
                } else {
                    0.0
                };
                assert_eq!(dx[i], expected, "x = {}, fresh: {fresh}", input[i]);
            }
        }
        // ReLU: no gradient at 0 (torch's threshold_backward), through everything above.
        let x = Tensor::<1>::from_floats([-1.0f32, 0.0, 1e-30, 1e30], &device())
            .autodiff()
            .require_grad();
        let grads = relu(x.clone()).sum().backward();
        let dx = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(dx, [0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn erf_and_gelu_match_burn_within_the_approximation_error() {
        // A dense grid over erf's whole range, the clamp at ±4, infinities and NaN.
        let mut values: Vec<f32> = (-60_000..=60_000).map(|i| i as f32 * 1e-4).collect();
        values.extend([-4.0, 4.0, 1e30, -1e30, f32::INFINITY, f32::NEG_INFINITY]);
        let x = Tensor::<1>::from_floats(values.as_slice(), &device());
        let kept = x.clone();
        let fast_erf = erf(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        let fast_gelu = gelu(x).into_data().try_to_vec::<f32>().unwrap();
        let burn_erf = kept.clone().erf().into_data().try_to_vec::<f32>().unwrap();
        let burn_gelu = activation::gelu(kept.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for i in 0..values.len() {
            let v = values[i];
            assert!(
                (fast_erf[i] - burn_erf[i]).abs() <= 5e-7,
                "erf({v}): {} vs {}",
                fast_erf[i],
                burn_erf[i]
            );
            let bound = 1e-6 * v.abs().max(1.0);
            let same = fast_gelu[i] == burn_gelu[i]
                || (fast_gelu[i].is_nan() && burn_gelu[i].is_nan())
                || (fast_gelu[i] - burn_gelu[i]).abs() <= bound;
            assert!(same, "gelu({v}): {} vs {}", fast_gelu[i], burn_gelu[i]);
        }
        // Shared storage is left alone; NaN stays NaN.
        assert_eq!(kept.into_data().try_to_vec::<f32>().unwrap()[0], -6.0);
        let nan = Tensor::<1>::from_floats([f32::NAN], &device());
        assert!(erf(nan.clone()).into_data().try_to_vec::<f32>().unwrap()[0].is_nan());
        assert!(gelu(nan).into_data().try_to_vec::<f32>().unwrap()[0].is_nan());
    }

    #[test]
    fn tracked_gelu_keeps_burns_gradient() {
        let x = Tensor::<1>::from_floats([-2.0f32, -0.5, 0.0, 0.5, 2.0], &device())
            .autodiff()
            .require_grad();
        let grads = gelu(x.clone()).sum().backward();
        let dx = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // d/dx x·Φ(x) = Φ(x) + x·φ(x).
        for (v, d) in [-2.0f64, -0.5, 0.0, 0.5, 2.0].iter().zip(dx) {
            let phi = (-v * v / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let cdf = 0.5 * (1.0 + libm_erf(v / std::f64::consts::SQRT_2));
            assert!(
                ((cdf + v * phi) as f32 - d).abs() < 1e-5,
                "gelu'({v}) = {d}"
            );
        }
    }

    /// erf in f64 by its Taylor series (|x| <= 2 here, where it converges quickly).
    fn libm_erf(x: f64) -> f64 {
        let (mut term, mut sum) = (x, x);
        for n in 1..60 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    }

    #[test]
    fn strided_views_fall_back_to_burn() {
        let x = Tensor::<2>::from_floats([[-1.0, 2.0], [7.0, -4.0]], &device()).transpose();
        let y = relu6(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, [0.0, 6.0, 2.0, 0.0]);
    }
}
