//! Grad-CAM: Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
//! Gradient-based Localization", ICCV 2017.
//!
//! Channel weights are the gradients averaged over positions (pytorch-grad-cam `grad_cam.py`).

use super::{CamMethod, Combination, LayerSample, sum_per_channel};
use crate::error::Result;

/// Gradient-weighted class activation mapping.
#[derive(Debug, Clone, Copy, Default)]
pub struct GradCam;

impl CamMethod for GradCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let n = layer.positions() as f64;
        let weights = sum_per_channel(layer.gradients()?, layer.positions())
            .into_iter()
            .map(|s| (s / n) as f32)
            .collect();
        Ok(Combination::ChannelWeights(weights))
    }
}
