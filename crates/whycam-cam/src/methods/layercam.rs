//! LayerCAM: Jiang, Zhang, Hou, Cheng, Wei, "LayerCAM: Exploring Hierarchical Class Activation
//! Maps for Localization", IEEE TIP 2021.
//!
//! `Σ_k relu(g_k) · A_k`: every position weighted by its own positive gradient
//! (pytorch-grad-cam `layer_cam.py`).

use super::{CamMethod, Combination, LayerSample, elementwise};
use crate::error::Result;

/// Layer-wise CAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct LayerCam;

impl CamMethod for LayerCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        Ok(Combination::Elementwise(elementwise(layer, |g, a| {
            g.max(0.0) * a
        })?))
    }
}
