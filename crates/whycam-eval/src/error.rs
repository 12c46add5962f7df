//! The one error type of whycam-eval, grouped by cause.

/// What went wrong while computing a metric.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// An input or map whose size does not match what it claims or what it is paired with.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which array ("input", "map", "low-resolution map").
        what: &'static str,
        /// The expected shape or length, in words.
        expected: String,
        /// What was given.
        got: String,
    },
    /// A value that the metric cannot use (NaN or infinite in a map or input).
    #[error("{what}: value {value} at index {index} is not finite")]
    NotFinite {
        /// Which array.
        what: &'static str,
        /// The flat index of the first bad value.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A parameter out of its range (zero steps, a percentile outside (0, 100), a box outside
    /// the image).
    #[error("{0}")]
    Parameter(String),
    /// The caller's scoring callback failed.
    #[error("scoring perturbed inputs: {0}")]
    Scoring(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The scoring callback returned the wrong number of scores.
    #[error("the scorer returned {got} scores for {expected} inputs")]
    ScoreCount {
        /// Inputs sent.
        expected: usize,
        /// Scores received.
        got: usize,
    },
    /// ROAD's sparse linear system could not be factorised.
    #[error("ROAD imputation: {0}")]
    Solver(String),
}

/// `Result` with [`EvalError`].
pub type Result<T> = std::result::Result<T, EvalError>;
