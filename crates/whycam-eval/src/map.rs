//! From a map at a layer's resolution to the map every metric takes: bilinear upsampling with
//! half-pixel centres, then min-max scaling to [0, 1].
//!
//! This is what pytorch-grad-cam 1.5.7 does (`scale_cam_image`: min-max, `cv2.resize` bilinear,
//! then min-max again over the upsampled map) and what torchcam 0.5.0 does (normalised CAM, then
//! `F.interpolate(mode="bilinear", align_corners=False)`), up to their guards: pytorch-grad-cam
//! divides by `1e-7 + max`, so its maximum is 1 − 1e-7 rather than 1. Upsampling commutes with
//! min-max scaling (an affine map; bilinear weights sum to 1), so scaling once, after upsampling,
//! gives the same map. torchcam does not rescale after upsampling, so its maximum can stay below 1;
//! the metrics here take whichever map they are given.

use crate::{EvalError, Map, Result};

/// Upsamples `map` bilinearly to `height × width` and min-max scales it to [0, 1].
///
/// Output pixel `i` samples the input at `(i + 0.5) · in / out − 0.5`, clamped to the edge
/// pixels (PyTorch's `align_corners=False`, OpenCV's `INTER_LINEAR`). Computed in `f64`, rounded
/// once to `f32`. The map is not rectified: give it after the method's ReLU.
///
/// A constant map (all pixels equal, the all-zero map of a method that found nothing included)
/// has no ranking to scale; it becomes all zeros, as pytorch-grad-cam's `(x − min) / (1e-7 + 0)`
/// makes it (torchcam's `(x − min) / (max − min)` gives NaN and its metrics skip the image).
pub fn upsample_and_scale(map: Map<'_>, height: usize, width: usize) -> Result<Vec<f32>> {
    if height == 0 || width == 0 {
        return Err(EvalError::EmptySize { height, width });
    }
    let rows = axis(map.height(), height);
    let cols = axis(map.width(), width);
    let src = map.data();
    let w_in = map.width();
    let mut out = Vec::with_capacity(height * width);
    for &(y0, y1, ly) in &rows {
        for &(x0, x1, lx) in &cols {
            let at = |y: usize, x: usize| f64::from(src[y * w_in + x]);
            let top = (1.0 - lx) * at(y0, x0) + lx * at(y0, x1);
            let bottom = (1.0 - lx) * at(y1, x0) + lx * at(y1, x1);
            out.push((1.0 - ly) * top + ly * bottom);
        }
    }
    let (min, max) = out
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = max - min;
    Ok(out
        .into_iter()
        .map(|v| {
            if range > 0.0 {
                ((v - min) / range) as f32
            } else {
                0.0
            }
        })
        .collect())
}

/// For each output index along one axis: the two input indices and the weight of the second.
fn axis(input: usize, output: usize) -> Vec<(usize, usize, f64)> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|i| {
            let src = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            let weight = if i0 == i1 { 0.0 } else { src - i0 as f64 };
            (i0, i1, weight)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(data: &[f32], shape: [usize; 2], h: usize, w: usize) -> Vec<f32> {
        upsample_and_scale(Map::new(data, shape).unwrap(), h, w).unwrap()
    }

    #[test]
    fn a_constant_map_becomes_zeros_not_nan() {
        assert_eq!(up(&[0.3; 4], [2, 2], 3, 5), vec![0.0; 15]);
        assert_eq!(up(&[0.0; 49], [7, 7], 8, 8), vec![0.0; 64]);
    }

    #[test]
    fn half_pixel_centres_by_hand() {
        // 1×2 → 1×4: samples at x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
        assert_eq!(up(&[2.0, 6.0], [1, 2], 1, 4), vec![0.0, 0.25, 0.75, 1.0]);
        // 2×1 → 4×1 is the same along the other axis.
        assert_eq!(up(&[2.0, 6.0], [2, 1], 4, 1), vec![0.0, 0.25, 0.75, 1.0]);
        // Same size: the identity, then scaling.
        assert_eq!(
            up(&[1.0, 3.0, 2.0, 5.0], [2, 2], 2, 2),
            vec![0.0, 0.5, 0.25, 1.0]
        );
    }

    #[test]
    fn downsampling_and_zero_sizes() {
        // 4 → 2: samples at x = 0.5 and 2.5.
        assert_eq!(up(&[0.0, 1.0, 2.0, 4.0], [1, 4], 1, 2), vec![0.0, 1.0]);
        assert!(matches!(
            upsample_and_scale(Map::new(&[1.0], [1, 1]).unwrap(), 0, 3),
            Err(EvalError::EmptySize {
                height: 0,
                width: 3
            })
        ));
    }
}
