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
    /// A figure whose layout would exceed the size limits (too many panels, too large a
    /// tile or font). Input pictures never cause it: they are letterboxed into bounded boxes.
    #[error(
        "{what} would be {width}x{height} px, over the limit of {max_side} px a side and \
         {max_pixels} pixels",
        max_side = crate::MAX_SIDE,
        max_pixels = crate::MAX_PIXELS
    )]
    TooLarge {
        /// What was being drawn, e.g. `a titled figure`.
        what: &'static str,
        /// The width it would have had.
        width: u64,
        /// The height it would have had.
        height: u64,
    },
    /// A layout outside the sizes a figure can be drawn at.
    #[error(
        "a figure's panels or tiles must be 1 to {max_size} px and its font 1 to {max_font} px, \
         got {size} px and a {font_size} px font",
        max_size = crate::Layout::MAX_SIZE,
        max_font = crate::MAX_FONT_SIZE
    )]
    InvalidLayout {
        /// The panel height or tile side asked for.
        size: u32,
        /// The font size asked for.
        font_size: f32,
    },
}
