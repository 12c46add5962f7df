//! Grad-CAM element-wise: the variant of pytorch-grad-cam (`grad_cam_elementwise.py`) that
//! applies the ReLU to each gradient × activation product before summing over channels, in the
//! spirit of HiResCAM (Draelos, Carin 2020) and LayerCAM (Jiang et al. 2021).

use super::{CamMethod, Combination, LayerSample, elementwise};
use crate::error::Result;

/// `Σ_k relu(g_k · A_k)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GradCamElementwise;

impl CamMethod for GradCamElementwise {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        Ok(Combination::Elementwise(elementwise(layer, |g, a| {
            (g * a).max(0.0)
        })?))
    }
}
