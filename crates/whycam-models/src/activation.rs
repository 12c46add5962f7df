//! ReLU and ReLU6 that use every core.
//!
//! burn-flex runs element-wise unary operations as a scalar loop on the calling thread. In a
//! convolutional network the activations are as large as the convolution outputs, so on a
//! 2-core machine ReLU6 alone took 13% of an EfficientNet-Lite Score-CAM run while the
//! convolutions around it used both cores. Through burn's backend-extension API
//! (`try_into_primitive`) these functions clamp a Flex tensor that nothing else shares in place,
//! in parallel chunks. Any other tensor (autodiff, shared, strided, not f32) goes through burn's
//! own operation, so gradients and semantics are unchanged: NaN stays NaN, as in PyTorch.

use crate::guided::guided_clamp;
use burn::tensor::activation;
use burn::tensor::{DType, Tensor};
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
    if x.dtype() != DType::F32 || x.is_require_grad() {
        return fallback(x);
    }
    // The downcast consumes its tensor, so try it on a handle; dropping `x` afterwards leaves
    // the primitive as the only owner of the storage.
    let Ok(mut primitive) = x.clone().try_into_primitive::<Flex>() else {
        return fallback(x);
    };
    drop(x);
    let clamped = clamp_storage(&mut primitive, low, high);
    let x = Tensor::from_primitive::<Flex>(primitive);
    if clamped { x } else { fallback(x) }
}

fn clamp_storage(tensor: &mut FlexTensor, low: f32, high: f32) -> bool {
    let layout = tensor.layout();
    if !layout.is_contiguous() || layout.start_offset() != 0 {
        return false;
    }
    let n = layout.num_elements();
    let Some(data) = tensor.try_storage_mut::<f32>() else {
        return false;
    };
    data[..n].par_chunks_mut(CHUNK).for_each(move |chunk| {
        for v in chunk {
            // Comparisons are false for NaN, which therefore passes through. An unconditional
            // store of a select lets the compiler vectorise the loop.
            let x = *v;
            *v = if x < low {
                low
            } else if x > high {
                high
            } else {
                x
            };
        }
    });
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
    fn strided_views_fall_back_to_burn() {
        let x = Tensor::<2>::from_floats([[-1.0, 2.0], [7.0, -4.0]], &device()).transpose();
        let y = relu6(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, [0.0, 6.0, 2.0, 0.0]);
    }
}
