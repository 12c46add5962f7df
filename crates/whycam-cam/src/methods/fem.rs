//! FEM: not implemented yet (placeholder while issue 18 is in progress).

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// FEM.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fem;

impl CamMethod for Fem {
    fn combine(&self, _layer: &LayerSample<'_>) -> Result<Combination> {
        Err(CamError::NotProvided {
            what: "an implementation of fem",
        })
    }
}
