//! Eigen-CAM: Muhammad, Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
//! IJCNN 2020.
//!
//! The first principal component of the activations; class-agnostic and gradient-free
//! (pytorch-grad-cam `eigen_cam.py`). See [`crate::projection`] for the sign convention.

use super::{CamMethod, Combination, LayerSample};
use crate::error::Result;

/// Principal-component CAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct EigenCam;

impl CamMethod for EigenCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        Ok(Combination::Projection(layer.activations.to_vec()))
    }
}
