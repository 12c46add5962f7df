//! Errors of whycam-embed.

use thiserror::Error;

/// What can go wrong with the data.
#[derive(Debug, Error)]
#[non_exhaustive]
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
    /// PCA asked for no components, or more than the points and features allow.
    #[error("cannot keep {k} components of {n} points with {d} features")]
    Components {
        /// Components asked for.
        k: usize,
        /// Points.
        n: usize,
        /// Features.
        d: usize,
    },
    /// A t-SNE perplexity below 1 or not finite.
    #[error("the perplexity must be a number of at least 1, got {perplexity}")]
    Perplexity {
        /// The perplexity given.
        perplexity: f32,
    },
    /// A t-SNE learning rate that is not positive and finite.
    #[error("the learning rate must be positive, got {learning_rate}")]
    LearningRate {
        /// The learning rate given.
        learning_rate: f32,
    },
    /// Fewer t-SNE iterations than the 250 steps of early exaggeration.
    #[error(
        "t-SNE needs at least 250 iterations (the first 250 are early exaggeration), \
         got {iterations}"
    )]
    Iterations {
        /// The iterations given.
        iterations: usize,
    },
    /// A Barnes-Hut theta that is not positive and finite.
    #[error("Barnes-Hut theta must be positive, got {theta}")]
    Theta {
        /// The theta given.
        theta: f32,
    },
    /// The single-thread pool that makes t-SNE repeatable could not be started.
    #[error("cannot start a thread pool: {source}")]
    ThreadPool {
        /// rayon's error.
        source: rayon::ThreadPoolBuildError,
    },
    /// The eigendecomposition did not converge.
    #[error("the eigendecomposition of the covariance matrix did not converge")]
    Eigen,
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, EmbedError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_messages_keep_their_wording() {
        assert_eq!(
            EmbedError::Iterations { iterations: 100 }.to_string(),
            "t-SNE needs at least 250 iterations (the first 250 are early exaggeration), got 100"
        );
        assert_eq!(
            EmbedError::Components { k: 3, n: 2, d: 5 }.to_string(),
            "cannot keep 3 components of 2 points with 5 features"
        );
    }
}
