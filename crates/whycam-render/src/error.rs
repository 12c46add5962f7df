//! Errors of whycam-render.

use thiserror::Error;

/// What can go wrong while drawing.
#[derive(Debug, Error)]
pub enum RenderError {
    /// Nothing to draw.
    #[error("nothing to draw: {0} needs at least one image")]
    Empty(&'static str),
    /// A size or count that cannot work.
    #[error("{0}")]
    Parameter(String),
}
