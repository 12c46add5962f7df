//! Average Drop and Increase in Confidence (Chattopadhay et al. 2018, "Grad-CAM++: Improved
//! Visual Explanations for Deep Convolutional Networks", arXiv:1710.11063, section 5.1), as
//! torchcam 0.5.0 `torchcam/metrics.py::ClassificationMetric` computes them.
//!
//! With `p` the score of the explained class on the input `x` and `p'` its score on `x · m`
//! (the map multiplied into every channel of the NORMALISED input):
//!
//! ```text
//! avg_drop = max(0, p − p') / (p + 1e-7)          increase = p < p'   (strict)
//! ```
//!
//! per image; torchcam's `summary()` averages each over the images (`increase` as the fraction
//! of images). A constant map is all zeros after [`crate::upsample_and_scale`], so `x · m` is the
//! all-zero input and both values are defined (torchcam skips such an image: its map is NaN).

use crate::{Chw, Map, Result, score_batch};

/// The two values of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AvgDrop {
    /// `max(0, p − p') / (p + 1e-7)`.
    pub avg_drop: f32,
    /// `p < p'`: the masked input is more confident than the original.
    pub increase: bool,
}

/// `x · m`: the map multiplied into every channel of the input (the perturbation shared by this
/// module and [`crate::confidence`]; score it once for both).
pub fn masked_input(input: Chw<'_>, map: Map<'_>) -> Result<Vec<f32>> {
    map.check_covers(&input)?;
    let m = map.data();
    Ok(input
        .data()
        .chunks_exact(input.plane())
        .flat_map(|plane| plane.iter().zip(m).map(|(x, w)| x * w))
        .collect())
}

/// Average Drop and Increase from the original score `p` and the masked input's score `p'`.
pub fn from_scores(original: f32, masked: f32) -> AvgDrop {
    AvgDrop {
        avg_drop: (original - masked).max(0.0) / (original + 1e-7),
        increase: original < masked,
    }
}

/// Average Drop and Increase for one image: scores [`masked_input`] through `score` (one input)
/// and compares with `original`, the explained class's score on the unperturbed input.
pub fn avg_drop<E>(
    input: Chw<'_>,
    map: Map<'_>,
    original: f32,
    mut score: impl FnMut(&[Vec<f32>]) -> std::result::Result<Vec<f32>, E>,
) -> Result<AvgDrop>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Ok(from_scores(original, masked_score(input, map, &mut score)?))
}

/// The score of [`masked_input`] through `score` (one input), for this module and
/// [`crate::confidence`].
pub(crate) fn masked_score<E>(
    input: Chw<'_>,
    map: Map<'_>,
    score: &mut impl FnMut(&[Vec<f32>]) -> std::result::Result<Vec<f32>, E>,
) -> Result<f32>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Ok(score_batch(score, &[masked_input(input, map)?])?[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    #[test]
    fn by_hand() {
        let r = from_scores(0.8, 0.2);
        assert!((r.avg_drop - 0.75).abs() < 1e-6, "{r:?}");
        assert!(!r.increase);
        let r = from_scores(0.5, 0.6);
        assert_eq!(r.avg_drop, 0.0);
        assert!(r.increase);
        // Equal scores: no drop and, the comparison being strict, no increase.
        assert_eq!(
            from_scores(0.5, 0.5),
            AvgDrop {
                avg_drop: 0.0,
                increase: false
            }
        );
    }

    #[test]
    fn the_map_multiplies_every_channel() {
        let x = [1.0, 2.0, 3.0, 4.0, -1.0, -2.0, -3.0, -4.0];
        let m = [0.0, 0.5, 1.0, 0.25];
        let input = Chw::new(&x, [2, 2, 2]).unwrap();
        let map = Map::new(&m, [2, 2]).unwrap();
        assert_eq!(
            masked_input(input, map).unwrap(),
            vec![0.0, 1.0, 3.0, 1.0, -0.0, -1.0, -3.0, -1.0]
        );
        // The scorer sees exactly that input; a score of the sum of its values.
        let r = avg_drop(input, map, 2.0, |batch: &[Vec<f32>]| {
            Ok::<_, Infallible>(
                batch
                    .iter()
                    .map(|x| x[..4].iter().sum::<f32>() / 5.0)
                    .collect(),
            )
        })
        .unwrap();
        assert!((r.avg_drop - 0.5).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn a_constant_map_scores_the_zero_input() {
        let x = [0.3; 12];
        let m = [0.0; 4];
        let r = avg_drop(
            Chw::new(&x, [3, 2, 2]).unwrap(),
            Map::new(&m, [2, 2]).unwrap(),
            0.9,
            |batch: &[Vec<f32>]| {
                assert!(batch[0].iter().all(|&v| v == 0.0));
                Ok::<_, Infallible>(vec![0.45])
            },
        )
        .unwrap();
        assert!((r.avg_drop - 0.5).abs() < 1e-6);
    }

    #[test]
    fn a_scorer_returning_too_few_scores_is_an_error() {
        let x = [0.3; 3];
        let m = [1.0];
        let err = avg_drop(
            Chw::new(&x, [3, 1, 1]).unwrap(),
            Map::new(&m, [1, 1]).unwrap(),
            0.9,
            |_: &[Vec<f32>]| Ok::<_, Infallible>(vec![]),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                crate::EvalError::ScoreCount {
                    expected: 1,
                    got: 0
                }
            ),
            "{err}"
        );
    }
}
