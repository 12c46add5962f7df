//! SmoothGrad-CAM++: not implemented yet (placeholder while issue 18 is in progress).

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// SmoothGrad-CAM++.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmoothGradCamPlusPlus;

impl CamMethod for SmoothGradCamPlusPlus {
    fn combine(&self, _layer: &LayerSample<'_>) -> Result<Combination> {
        Err(CamError::NotProvided {
            what: "an implementation of smoothgradcampp",
        })
    }
}
