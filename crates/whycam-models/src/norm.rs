//! Layer normalisation over the last axis in one parallel pass, for untracked tensors.
//!
//! ConvNeXt normalises every block's activations over their channels (`LayerNorm` after a
//! permute to channels-last), and transformers every token. Composed from burn's operations
//! that is a mean, a subtraction, a square, a second mean, a square root and a division, each
//! a pass over the whole tensor and most on one core (a twentieth of a ConvNeXt-Tiny forward
//! pass). Here each row (one pixel's or one token's channels) is normalised while it is in
//! cache, the rows split over the cores. The statistics are PyTorch's: the mean, then the
//! biased variance of the centred values, `y = (x - mean) / sqrt(var + eps) · scale + bias`.

use burn::tensor::{DType, Tensor, TensorData};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

/// Rows per parallel task at least this many values, so scheduling costs nothing.
const MIN_TASK: usize = 1 << 14;

/// LayerNorm of `x` over its last axis with per-channel `scale` and `bias` (each as many
/// values as that axis, or absent), or `None` when `x` is tracked by autodiff, not an f32 Flex
/// tensor, or the parameters do not match (the caller then composes burn's operations).
pub fn layer_norm_last_axis<const D: usize>(
    x: &Tensor<D>,
    scale: Option<&[f32]>,
    bias: Option<&[f32]>,
    eps: f32,
) -> Option<Tensor<D>> {
    if x.is_autodiff() {
        return None;
    }
    let channels = *x.dims().last()?;
    if channels == 0
        || scale.is_some_and(|s| s.len() != channels)
        || bias.is_some_and(|b| b.len() != channels)
    {
        return None;
    }
    let mut input = x.clone().try_into_primitive::<Flex>().ok()?;
    if input.dtype() != DType::F32 {
        return None;
    }
    // A channels-last view of a channels-first tensor (ConvNeXt's permute) is read through its
    // strides: each row is gathered once, no transposed copy of the whole tensor is made.
    if !input.layout().has_positive_strides() {
        input = input.to_contiguous();
    }
    let layout = input.layout().clone();
    let dims = layout.shape().to_vec();
    let strides: Vec<usize> = layout.strides().iter().map(|&s| s as usize).collect();
    let (outer_dims, outer_strides) = (&dims[..dims.len() - 1], &strides[..strides.len() - 1]);
    let step = strides[strides.len() - 1];
    let start = layout.start_offset();
    let values = input.storage::<f32>();
    // The storage offset of row `r` (row-major over the leading axes).
    let row_start = |mut r: usize| {
        let mut offset = start;
        for (&d, &s) in outer_dims.iter().zip(outer_strides).rev() {
            offset += (r % d) * s;
            r /= d;
        }
        offset
    };
    let mut out = vec![0.0f32; layout.num_elements()];
    let rows_per_task = MIN_TASK.div_ceil(channels);
    out.par_chunks_mut(rows_per_task * channels)
        .enumerate()
        .for_each(|(task, out)| {
            for (i, y) in out.chunks_exact_mut(channels).enumerate() {
                let first = row_start(task * rows_per_task + i);
                if step == 1 {
                    y.copy_from_slice(&values[first..first + channels]);
                } else {
                    for (j, y) in y.iter_mut().enumerate() {
                        *y = values[first + j * step];
                    }
                }
                normalise_row(y, scale, bias, eps);
            }
        });
    let data = TensorData::new(out, dims);
    Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(data)))
}

/// One row in place: `y = (y - mean) / sqrt(var + eps) · scale + bias`.
fn normalise_row(y: &mut [f32], scale: Option<&[f32]>, bias: Option<&[f32]>, eps: f32) {
    let n = y.len() as f32;
    let mean = y.iter().sum::<f32>() / n;
    let var = y.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    for v in y.iter_mut() {
        *v = (*v - mean) * inv;
    }
    if let Some(scale) = scale {
        for (v, s) in y.iter_mut().zip(scale) {
            *v *= s;
        }
    }
    if let Some(bias) = bias {
        for (v, b) in y.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;
    use burn::tensor::Distribution;

    /// The composed LayerNorm the interpreter falls back to.
    fn composed(x: Tensor<3>, scale: &[f32], bias: &[f32], eps: f32) -> Tensor<3> {
        let device = x.device();
        let c = scale.len();
        let mean = x.clone().mean_dim(2);
        let centred = x - mean;
        let var = (centred.clone() * centred.clone()).mean_dim(2);
        let s = Tensor::<1>::from_floats(scale, &device).reshape([1, 1, c]);
        let b = Tensor::<1>::from_floats(bias, &device).reshape([1, 1, c]);
        centred / (var + eps).sqrt() * s + b
    }

    #[test]
    fn matches_the_composed_operations_on_strided_input() {
        let device = Device::default();
        let c = 96;
        // Channels-last through a permute, as ConvNeXt's graph gives it: a strided view.
        let nchw = Tensor::<3>::random([c, 7, 9], Distribution::Normal(0.5, 2.0), &device);
        let x = nchw.permute([1, 2, 0]);
        let scale: Vec<f32> = (0..c).map(|i| 0.5 + i as f32 / c as f32).collect();
        let bias: Vec<f32> = (0..c).map(|i| i as f32 / 10.0 - 3.0).collect();
        let fast = layer_norm_last_axis(&x, Some(&scale), Some(&bias), 1e-6).unwrap();
        assert_eq!(fast.dims(), [7, 9, c]);
        let slow = composed(x, &scale, &bias, 1e-6);
        let (fast, slow) = (
            fast.into_data().try_to_vec::<f32>().unwrap(),
            slow.into_data().try_to_vec::<f32>().unwrap(),
        );
        let worst = fast
            .iter()
            .zip(&slow)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "largest difference {worst}");
    }

    #[test]
    fn refuses_tracked_tensors_and_mismatched_parameters() {
        let device = Device::default();
        let x = Tensor::<2>::ones([4, 8], &device);
        assert!(layer_norm_last_axis(&x, Some(&[1.0; 7]), None, 1e-5).is_none());
        assert!(
            layer_norm_last_axis(&x.clone().autodiff().require_grad(), None, None, 1e-5).is_none()
        );
        // A constant row normalises to zero, then takes the bias.
        let y = layer_norm_last_axis(&x, None, Some(&[2.0; 8]), 1e-5).unwrap();
        assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), vec![2.0; 32]);
    }
}
