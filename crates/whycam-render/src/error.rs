//! Errors of whycam-render.

use thiserror::Error;

/// What can go wrong while drawing.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RenderError {
    /// Nothing to draw.
    #[error("nothing to draw: {0} needs at least one image")]
    Empty(&'static str),
    /// A contact sheet of no rows or no columns.
    #[error("a grid needs at least one row and column, got {rows}x{columns}")]
    EmptyGrid {
        /// Rows asked for.
        rows: u32,
        /// Columns asked for.
        columns: u32,
    },
    /// More tiles than a contact sheet has cells (page them before).
    #[error("{tiles} tiles do not fit a {rows}x{columns} grid")]
    TooManyTiles {
        /// Tiles given.
        tiles: usize,
        /// Rows of the grid.
        rows: u32,
        /// Columns of the grid.
        columns: u32,
    },
}
