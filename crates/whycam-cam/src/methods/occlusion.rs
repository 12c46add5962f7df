//! Occlusion: Zeiler, Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014.
//!
//! A square window slides over the input; at each position every colour channel inside it is
//! set to the baseline 0 (in the normalised input: the dataset's mean colour) and the drop of
//! the target score, `S(x) - S(x with the window occluded)`, is credited to every value inside
//! the window; each value's attribution is the mean over the windows that covered it. This is
//! Captum 0.9 `captum/attr/_core/occlusion.py` (over `feature_ablation.py`) with
//! `sliding_window_shapes=(3, window, window)`, `strides=(3, stride, stride)`, `baselines=0`:
//! `ceil((side - window) / stride) + 1` positions per axis, the last ones cut at the edge, so
//! every pixel is covered. The map is the sum over the colour channels (the `sign="all"`
//! reduction of Captum's `visualize_image_attr`): the window spans all three channels, so that is
//! three times the per-channel attribution.
//!
//! Defaults: a 16-pixel window with stride 8 (27 × 27 = 729 forward passes at 224 × 224; each
//! pixel inside the border averages four windows). As in Captum, the window may not exceed the
//! input and the stride may not exceed the window. The occluded inputs run through the probe
//! `probe.batch_size()` at a time.

use super::saliency::input_plane;
use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// Occlusion.
#[derive(Debug, Clone, Copy, Default)]
pub struct Occlusion;

/// The window side in pixels when not given.
pub const DEFAULT_WINDOW: usize = 16;

/// The stride in pixels when not given.
pub const DEFAULT_STRIDE: usize = 8;

impl CamMethod for Occlusion {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let plane = input_plane(probe)?;
        let (height, width) = probe.input_size();
        let image = probe.image();
        let channels = image.len() / plane;
        let window = layer.settings.window.unwrap_or(DEFAULT_WINDOW);
        let stride = layer.settings.stride.unwrap_or(DEFAULT_STRIDE);
        let setting = |name, reason: String| Err(CamError::Setting { name, reason });
        if window == 0 || window > height.min(width) {
            return setting(
                "window",
                format!("{window} is not between 1 and the input's side ({height} × {width})"),
            );
        }
        if stride == 0 || (stride > window && window < height.max(width)) {
            return setting(
                "stride",
                format!("{stride} is not between 1 and the window ({window})"),
            );
        }
        let positions = |side: usize| (side - window).div_ceil(stride) + 1;
        let windows: Vec<(usize, usize)> = (0..positions(height))
            .flat_map(|i| (0..positions(width)).map(move |j| (i * stride, j * stride)))
            .collect();
        let rows = |top: usize| top..(top + window).min(height);
        let columns = |left: usize| left..(left + window).min(width);
        let mut credit = vec![0.0f64; plane];
        let mut covered = vec![0u32; plane];
        for chunk in windows.chunks(probe.batch_size().max(1)) {
            let mut inputs = Vec::with_capacity(chunk.len() * image.len());
            for &(top, left) in chunk {
                let start = inputs.len();
                inputs.extend_from_slice(image);
                for c in 0..channels {
                    for y in rows(top) {
                        let row = start + c * plane + y * width;
                        inputs[row + left..row + columns(left).end].fill(0.0);
                    }
                }
            }
            let scores = probe.score_inputs(&inputs, chunk.len())?;
            for (&(top, left), occluded) in chunk.iter().zip(scores) {
                let drop = f64::from(layer.score) - f64::from(occluded);
                for y in rows(top) {
                    for x in columns(left) {
                        credit[y * width + x] += drop;
                        covered[y * width + x] += 1;
                    }
                }
            }
        }
        Ok(Combination::InputMap(
            credit
                .iter()
                .zip(&covered)
                .map(|(&c, &n)| (channels as f64 * c / f64::from(n.max(1))) as f32)
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::saliency::test_support::{LinearProbe, run, seeded};
    use crate::settings::MethodSettings;

    #[test]
    fn windows_cover_the_edges_and_credit_the_mean_score_drop() {
        // 5 × 6 input, window 3, stride 2: rows at 0, 2; columns at 0, 2, 4 (the last cut to
        // two columns).
        let (h, w) = (5, 6);
        let probe = LinearProbe::new(h, w, 4);
        let settings = MethodSettings {
            window: Some(3),
            stride: Some(2),
            ..seeded(0)
        };
        let map = run(&Occlusion, &probe, &settings).unwrap();
        assert_eq!(*probe.items.lock().unwrap(), 6);
        assert_eq!(*probe.largest_batch.lock().unwrap(), 4);
        // For a linear score a window's drop is Σ w·x inside it.
        let contribution = |y: usize, x: usize| -> f32 {
            (0..3)
                .map(|c| {
                    let i = c * h * w + y * w + x;
                    probe.weights[i] * probe.image[i]
                })
                .sum()
        };
        let drop = |top: usize, left: usize| -> f32 {
            let mut d = 0.0;
            for y in top..(top + 3).min(h) {
                for x in left..(left + 3).min(w) {
                    d += contribution(y, x);
                }
            }
            d
        };
        let (row_starts, column_starts) = ([0usize, 2], [0usize, 2, 4]);
        for y in 0..h {
            for x in 0..w {
                let ys: Vec<usize> = row_starts
                    .into_iter()
                    .filter(|&t| t <= y && y < t + 3)
                    .collect();
                let xs: Vec<usize> = column_starts
                    .into_iter()
                    .filter(|&l| l <= x && x < l + 3)
                    .collect();
                let mut sum = 0.0;
                for &t in &ys {
                    for &l in &xs {
                        sum += drop(t, l);
                    }
                }
                let expected = 3.0 * sum / (ys.len() * xs.len()) as f32;
                let got = map[y * w + x];
                assert!(
                    (got - expected).abs() < 1e-4,
                    "({y}, {x}): {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn windows_larger_than_the_input_or_strides_larger_than_the_window_are_refused() {
        let probe = LinearProbe::new(4, 4, 1);
        for (window, stride) in [(5, 1), (0, 1), (2, 3), (2, 0)] {
            let settings = MethodSettings {
                window: Some(window),
                stride: Some(stride),
                ..seeded(0)
            };
            assert!(
                run(&Occlusion, &probe, &settings).is_err(),
                "{window} {stride}"
            );
        }
    }
}
