//! FEM, the Feature Explanation Method: Fuad, Martin, Giot, Bourqui, Benois-Pineau, Zemmari,
//! "Features understanding in 3D CNNs for actions recognition in video", IPTA 2020.
//!
//! Gradient-free and class-agnostic: a channel's weight is the fraction of its positions whose
//! activation exceeds the channel's mean plus `k` standard deviations (the "k-sigma rule"), so
//! channels with a few strong peaks dominate (pytorch-grad-cam 1.5.7 `fem.py`, `k = 2`). The
//! standard deviation is the population one (numpy's `np.std`, ddof 0). Like the reference,
//! whose `get_cam_image` makes the map itself, FEM ignores `--eigen-smooth`.

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// The `k` of pytorch-grad-cam's `FEM(k=2)`.
pub const DEFAULT_K: f32 = 2.0;

/// Feature Explanation Method.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fem;

impl CamMethod for Fem {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let k = layer.settings.fem_k.unwrap_or(DEFAULT_K);
        if !k.is_finite() {
            return Err(CamError::Setting {
                name: "fem-k",
                reason: format!("{k} is not a finite number"),
            });
        }
        let n = layer.positions();
        if n == 0 {
            return Ok(Combination::Map(Vec::new()));
        }
        let weights = k_sigma_weights(layer.activations, n, f64::from(k));
        // The reference's get_cam_image sums the weighted channels itself, so --eigen-smooth
        // leaves FEM alone: a finished map, summed in f64.
        let mut map = vec![0.0f64; n];
        for (channel, &w) in layer.activations.chunks(n).zip(&weights) {
            if w != 0.0 {
                for (m, &a) in map.iter_mut().zip(channel) {
                    *m += f64::from(w) * f64::from(a);
                }
            }
        }
        Ok(Combination::Map(
            map.into_iter().map(|v| v as f32).collect(),
        ))
    }
}

/// Per channel of `activations` (`C × positions`), the fraction of positions above
/// `mean + k · std` (in `f64`, as the float64 reference compares).
pub fn k_sigma_weights(activations: &[f32], positions: usize, k: f64) -> Vec<f32> {
    activations
        .chunks(positions.max(1))
        .map(|channel| {
            let n = channel.len() as f64;
            let mean = channel.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = channel
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n;
            let threshold = mean + k * var.sqrt();
            let above = channel
                .iter()
                .filter(|&&v| f64::from(v) > threshold)
                .count();
            (above as f64 / n) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_count_the_positions_above_k_sigma() {
        // Channel 0: one peak among nine zeros: mean 1, std 3, threshold 7 at k = 2 -> 1/10.
        // Channel 1: constant: nothing is above its mean -> 0.
        // Channel 2: 0..10: mean 4.5, std 2.87; k = 1 -> above 7.37: 8, 9 -> 2/10.
        let mut a = vec![0.0f32; 30];
        a[3] = 10.0;
        a[10..20].fill(5.0);
        for (i, v) in a[20..30].iter_mut().enumerate() {
            *v = i as f32;
        }
        let w = k_sigma_weights(&a, 10, 2.0);
        assert_eq!(w, [0.1, 0.0, 0.0]);
        let w = k_sigma_weights(&a, 10, 1.0);
        assert_eq!(w, [0.1, 0.0, 0.2]);
        // k = 0: above the mean.
        assert_eq!(k_sigma_weights(&a, 10, 0.0), [0.1, 0.0, 0.5]);
    }
}
