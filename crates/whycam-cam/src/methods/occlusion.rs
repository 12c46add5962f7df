//! Occlusion: not implemented yet (placeholder while issue 18 is in progress).

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// Occlusion.
#[derive(Debug, Clone, Copy, Default)]
pub struct Occlusion;

impl CamMethod for Occlusion {
    fn combine(&self, _layer: &LayerSample<'_>) -> Result<Combination> {
        Err(CamError::NotProvided {
            what: "an implementation of occlusion",
        })
    }
}
