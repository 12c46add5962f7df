//! Drop in Confidence and Increase in Confidence as pytorch-grad-cam 1.5.7 defines them
//! (`pytorch_grad_cam/metrics/cam_mult_image.py`, on `perturbation_confidence.py`), after
//! Chattopadhay et al. 2018 (Grad-CAM++, arXiv:1710.11063).
//!
//! The perturbation is torchcam's ([`crate::avg_drop::masked_input`], `x · m` in normalised
//! space), the values differ:
//!
//! ```text
//! d = p' − p                       (pytorch-grad-cam casts both scores to float32 first)
//! drop     = max(−d, 0)            ABSOLUTE, where torchcam's avg-drop is relative: / (p + 1e-7)
//! increase = d > 0                 the same event as torchcam's p < p'
//! ```
//!
//! pytorch-grad-cam returns one value per image and does not aggregate. A constant map scores the
//! all-zero input, as in [`crate::avg_drop`].

use crate::avg_drop::masked_score;
use crate::{Chw, Map, Result};

/// pytorch-grad-cam's two values for one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfidenceChange {
    /// `max(p − p', 0)`, in probability units.
    pub drop: f32,
    /// `p' − p > 0`.
    pub increase: bool,
}

/// The values from the original score `p` and the masked input's score `p'`.
pub fn from_scores(original: f32, masked: f32) -> ConfidenceChange {
    let d = masked - original;
    ConfidenceChange {
        drop: (-d).max(0.0),
        increase: d > 0.0,
    }
}

/// Drop and Increase in Confidence for one image (one input scored through `score`).
pub fn confidence_change<E>(
    input: Chw<'_>,
    map: Map<'_>,
    original: f32,
    mut score: impl FnMut(&[Vec<f32>]) -> std::result::Result<Vec<f32>, E>,
) -> Result<ConfidenceChange>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Ok(from_scores(original, masked_score(input, map, &mut score)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_not_relative() {
        let c = from_scores(0.8, 0.2);
        assert!((c.drop - 0.6).abs() < 1e-6, "{c:?}");
        assert!(!c.increase);
        let t = crate::avg_drop::from_scores(0.8, 0.2);
        assert!(
            (t.avg_drop - 0.75).abs() < 1e-6,
            "torchcam's is relative: {t:?}"
        );
        let c = from_scores(0.3, 0.4);
        assert_eq!(c.drop, 0.0);
        assert!(c.increase);
        assert!(!from_scores(0.3, 0.3).increase);
    }
}
