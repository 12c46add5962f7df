//! Feature-space pictures: principal component analysis as scikit-learn computes it,
//! Barnes-Hut t-SNE, and the k-nearest-neighbour label agreement that tells how well a 2-D
//! picture keeps the neighbourhoods of the feature space.
//!
//! Data is row-major `n × d` `f32`, one row per image.

#![deny(missing_docs)]

mod error;
mod knn;
mod pca;
mod tsne;

pub use error::{EmbedError, Result};
pub use knn::neighbour_agreement;
pub use pca::Pca;
pub use tsne::{Init, TsneConfig, tsne};

/// Checks an `n × d` matrix: enough rows, finite values, not all rows the same.
pub(crate) fn check(x: &[f32], n: usize, d: usize, at_least: usize) -> Result<()> {
    if x.len() != n * d || d == 0 {
        return Err(EmbedError::Shape { len: x.len(), n, d });
    }
    if n < at_least {
        return Err(EmbedError::TooFew {
            n,
            needed: at_least,
            why: String::new(),
        });
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(EmbedError::NotFinite {
            row: i / d,
            column: i % d,
        });
    }
    let first = &x[..d];
    if x.chunks_exact(d).all(|row| row == first) {
        return Err(EmbedError::Constant { n });
    }
    Ok(())
}
