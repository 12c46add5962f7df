//! Errors of whycam-embed.

use thiserror::Error;

/// What can go wrong with the data.
#[derive(Debug, Error)]
pub enum EmbedError {
    /// The buffer does not hold `n × d` values.
    #[error("{len} values do not make {n} rows of {d} features")]
    Shape {
        /// Values given.
        len: usize,
        /// Rows.
        n: usize,
        /// Columns.
        d: usize,
    },
    /// Too few points for the method.
    #[error("{n} point(s) are too few: at least {needed} are needed{why}")]
    TooFew {
        /// Points given.
        n: usize,
        /// Points needed.
        needed: usize,
        /// Why, with a hint.
        why: String,
    },
    /// A NaN or infinite feature.
    #[error("feature {column} of point {row} is not a finite number")]
    NotFinite {
        /// 0-based row.
        row: usize,
        /// 0-based column.
        column: usize,
    },
    /// Every point has the same features: there is no variance to show.
    #[error("all {n} points have the same features, so there is nothing to lay out")]
    Constant {
        /// Points.
        n: usize,
    },
    /// A setting that cannot work.
    #[error("{0}")]
    Parameter(String),
    /// The eigendecomposition did not converge.
    #[error("the eigendecomposition of the covariance matrix did not converge")]
    Eigen,
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, EmbedError>;
