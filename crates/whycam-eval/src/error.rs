//! The one error type of whycam-eval, grouped by cause.

/// What went wrong while computing a metric.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A box that is empty or reaches past the map it is scored against.
    #[error(
        "box x {}..{}, y {}..{} is empty or outside the {width}×{height} map",
        .region.x0, .region.x1, .region.y0, .region.y1
    )]
    BoxOutside {
        /// The box, in map pixels.
        region: crate::pointing::BoundingBox,
        /// The map's height.
        height: usize,
        /// The map's width.
        width: usize,
    },
    /// Deletion/insertion asked for zero steps.
    #[error("deletion/insertion needs at least 1 step")]
    NoSteps,
    /// ROAD asked for no percentile.
    #[error("ROAD needs at least one percentile")]
    NoPercentiles,
    /// A ROAD percentile outside (0, 100).
    #[error("ROAD percentile {percentile} is outside (0, 100)")]
    Percentile {
        /// The percentile given.
        percentile: f64,
    },
    /// A ROAD noise that is not a standard deviation (negative, NaN or infinite).
    #[error("ROAD noise {noise} is not a standard deviation")]
    Noise {
        /// The noise given.
        noise: f32,
    },
    /// Maps smaller than a metric's window (SSIM's 7×7).
    #[error("{metric} needs maps of at least {min}×{min} pixels, got {height}×{width}")]
    MapTooSmall {
        /// The metric ("SSIM").
        metric: &'static str,
        /// The smallest side it takes.
        min: usize,
        /// The map's height.
        height: usize,
        /// The map's width.
        width: usize,
    },
    /// A map upsampled to a size with no pixels.
    #[error("cannot upsample a map to {height}×{width}")]
    EmptySize {
        /// The height asked for.
        height: usize,
        /// The width asked for.
        width: usize,
    },
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
    /// ROAD's sparse linear system could not be built or factorised.
    #[error("ROAD imputation: {step} the {size}×{size} system: {detail}")]
    Solver {
        /// What failed ("building", "factorising").
        step: &'static str,
        /// The number of unknown pixels.
        size: usize,
        /// The solver's own account.
        detail: String,
    },
}

/// `Result` with [`EvalError`].
pub type Result<T> = std::result::Result<T, EvalError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pointing::BoundingBox;

    /// Each variant carries its facts as fields and says them in the words the metrics used
    /// when these were one `Parameter(String)`.
    #[test]
    fn parameter_errors_carry_their_facts_and_say_them() {
        let region = BoundingBox {
            x0: 2,
            y0: 1,
            x1: 2,
            y1: 5,
        };
        let cases = [
            (
                EvalError::BoxOutside {
                    region,
                    height: 4,
                    width: 6,
                },
                "box x 2..2, y 1..5 is empty or outside the 6×4 map",
            ),
            (
                EvalError::NoSteps,
                "deletion/insertion needs at least 1 step",
            ),
            (
                EvalError::NoPercentiles,
                "ROAD needs at least one percentile",
            ),
            (
                EvalError::Percentile { percentile: 100.0 },
                "ROAD percentile 100 is outside (0, 100)",
            ),
            (
                EvalError::Noise { noise: -0.5 },
                "ROAD noise -0.5 is not a standard deviation",
            ),
            (
                EvalError::MapTooSmall {
                    metric: "SSIM",
                    min: 7,
                    height: 6,
                    width: 9,
                },
                "SSIM needs maps of at least 7×7 pixels, got 6×9",
            ),
            (
                EvalError::EmptySize {
                    height: 0,
                    width: 3,
                },
                "cannot upsample a map to 0×3",
            ),
            (
                EvalError::Solver {
                    step: "factorising",
                    size: 12,
                    detail: "not positive definite".into(),
                },
                "ROAD imputation: factorising the 12×12 system: not positive definite",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }
}
