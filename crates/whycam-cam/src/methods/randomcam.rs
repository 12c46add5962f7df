//! RandomCAM: not implemented yet (placeholder while issue 18 is in progress).

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// RandomCAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomCam;

impl CamMethod for RandomCam {
    fn combine(&self, _layer: &LayerSample<'_>) -> Result<Combination> {
        Err(CamError::NotProvided {
            what: "an implementation of randomcam",
        })
    }
}
