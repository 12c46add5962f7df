//! XGrad-CAM: Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation
//! of CNNs", BMVC 2020.
//!
//! `w_k = Σ_positions g·A / (ΣA + 1e-7)` (pytorch-grad-cam `xgrad_cam.py`).

use super::{CamMethod, Combination, LayerSample};
use crate::error::Result;

/// Axiom-based Grad-CAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct XGradCam;

impl CamMethod for XGradCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let n = layer.positions();
        let grads = layer.gradients()?;
        let weights = grads
            .chunks(n)
            .zip(layer.activations.chunks(n))
            .map(|(g, a)| {
                let sum: f64 = a.iter().map(|&v| f64::from(v)).sum::<f64>() + 1e-7;
                let weight: f64 = g
                    .iter()
                    .zip(a)
                    .map(|(&g, &a)| f64::from(g) * f64::from(a) / sum)
                    .sum();
                weight as f32
            })
            .collect();
        Ok(Combination::ChannelWeights(weights))
    }
}
