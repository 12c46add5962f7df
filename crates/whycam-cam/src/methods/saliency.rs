//! Saliency: not implemented yet (placeholder while issue 18 is in progress).

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// Saliency.
#[derive(Debug, Clone, Copy, Default)]
pub struct Saliency;

impl CamMethod for Saliency {
    fn combine(&self, _layer: &LayerSample<'_>) -> Result<Combination> {
        Err(CamError::NotProvided {
            what: "an implementation of saliency",
        })
    }
}
