//! Gradient x Input: not implemented yet (placeholder while issue 18 is in progress).

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// Gradient x Input.
#[derive(Debug, Clone, Copy, Default)]
pub struct GradientInput;

impl CamMethod for GradientInput {
    fn combine(&self, _layer: &LayerSample<'_>) -> Result<Combination> {
        Err(CamError::NotProvided {
            what: "an implementation of gradient-input",
        })
    }
}
