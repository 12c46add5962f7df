//! Grad-CAM++: Chattopadhyay, Sarkar, Howlader, Balasubramanian, "Grad-CAM++: Improved Visual
//! Explanations for Deep Convolutional Networks", WACV 2018.
//!
//! With the exponential-score approximation of pytorch-grad-cam (`grad_cam_plusplus.py`):
//! `α = g² / (2g² + ΣA · g³ + 1e-6)` (zero where `g = 0`), `w_k = Σ_positions relu(g)·α`.

use super::{CamMethod, Combination, LayerSample};
use crate::error::Result;

/// Grad-CAM with second-order pixel weights.
#[derive(Debug, Clone, Copy, Default)]
pub struct GradCamPlusPlus;

impl CamMethod for GradCamPlusPlus {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let grads = layer.gradients()?;
        let sums = layer.activation_sums();
        let weights = grads
            .chunks(layer.positions())
            .zip(sums)
            .map(|(g, sum)| {
                // In f64: the denominator has a pole where 2 + ΣA·g = 0.
                let weight: f64 = g
                    .iter()
                    .map(|&g| {
                        if g == 0.0 {
                            return 0.0;
                        }
                        let g = f64::from(g);
                        let g2 = g * g;
                        let alpha = g2 / (2.0 * g2 + sum * g2 * g + 1e-6);
                        g.max(0.0) * alpha
                    })
                    .sum();
                weight as f32
            })
            .collect();
        Ok(Combination::ChannelWeights(weights))
    }
}
