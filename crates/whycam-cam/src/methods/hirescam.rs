//! HiResCAM: Draelos, Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
//! convolutional neural networks", 2020 (arXiv:2011.08891).
//!
//! The element-wise product of gradients and activations, summed over channels (pytorch-grad-cam
//! `hirescam.py`). Its faithfulness guarantee does not survive `--eigen-smooth`.

use super::{CamMethod, Combination, LayerSample, elementwise};
use crate::error::Result;

/// High-resolution CAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct HiResCam;

impl CamMethod for HiResCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        Ok(Combination::Elementwise(elementwise(layer, |g, a| g * a)?))
    }
}
