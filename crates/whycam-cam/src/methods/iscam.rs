//! IS-CAM: not implemented yet (placeholder while issue 18 is in progress).

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// IS-CAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct IsCam;

impl CamMethod for IsCam {
    fn combine(&self, _layer: &LayerSample<'_>) -> Result<Combination> {
        Err(CamError::NotProvided {
            what: "an implementation of iscam",
        })
    }
}
