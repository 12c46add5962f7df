//! Integrated Gradients: not implemented yet (placeholder while issue 18 is in progress).

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// Integrated Gradients.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntegratedGradients;

impl CamMethod for IntegratedGradients {
    fn combine(&self, _layer: &LayerSample<'_>) -> Result<Combination> {
        Err(CamError::NotProvided {
            what: "an implementation of integrated-gradients",
        })
    }
}
