//! EigenGrad-CAM: Eigen-CAM (Muhammad, Yeasin, IJCNN 2020) applied to gradients × activations,
//! which makes it class-specific (pytorch-grad-cam `eigen_grad_cam.py`).

use super::{CamMethod, Combination, LayerSample, elementwise};
use crate::error::Result;

/// The first principal component of `g · A`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EigenGradCam;

impl CamMethod for EigenGradCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        Ok(Combination::Projection(elementwise(layer, |g, a| g * a)?))
    }
}
