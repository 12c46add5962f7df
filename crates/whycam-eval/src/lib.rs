//! Faithfulness and localisation metrics for saliency maps, with no model inside.
//!
//! Every faithfulness metric takes the explained input (CHW, `f32`, in the model's normalised
//! space), the map (H×W in [0, 1], as [`upsample_and_scale`] makes it) and a scoring callback
//! that returns the probability of the explained class for a batch of perturbed inputs. The
//! caller owns the model: it batches, shares forward passes between metrics and methods, and
//! decides what a score is (softmax, or sigmoid for a one-logit head). Each metric file cites
//! its paper and the reference code it matches, and states its value for a constant map.
//!
//! To share forward passes across metrics and maps, skip the callback: each perturbation metric
//! also hands out its perturbed inputs and takes their scores back ([`avg_drop::masked_input`]
//! with [`avg_drop::from_scores`] and [`confidence::from_scores`], one input for both;
//! [`deletion::DeletionPlan`]; [`road::RoadPlan`]), so a caller can score every method's inputs
//! for an image in one batch stream.
//!
//! | metric | file | reference |
//! |---|---|---|
//! | Average Drop, Increase in Confidence | [`avg_drop`] | torchcam 0.5.0 `ClassificationMetric` |
//! | Deletion, Insertion | [`deletion`] | torchcam 0.5.0 `DeletionInsertionMetric` |
//! | ROAD MoRF / LeRF / combined | [`road`] | pytorch-grad-cam 1.5.7 `metrics/road.py` |
//! | Drop / Increase in Confidence | [`confidence`] | pytorch-grad-cam 1.5.7 `metrics/cam_mult_image.py` |
//! | Sparseness (Gini index) | [`sparseness`] | Quantus `Sparseness` |
//! | Pointing game, energy pointing game | [`pointing`] | TorchRay `PointingGame`, Score-CAM |
//! | Box IoU ≥ 0.5 (map thresholded at 15% of its maximum) | [`localisation`] | Grad-CAM section 4.1, CAM |
//! | Spearman rank correlation, SSIM (model-randomisation check) | [`similarity`] | `scipy.stats.spearmanr`, skimage `structural_similarity` |
//!
//! Parity with the peers: `tests/parity.rs` against `tools/reference/metric_goldens.py`.

pub mod avg_drop;
pub mod confidence;
pub mod deletion;
mod error;
mod input;
pub mod localisation;
mod map;
pub mod pointing;
pub mod road;
pub mod similarity;
pub mod sparseness;

pub use error::{EvalError, Result};
pub use input::{Chw, Map};
pub use map::upsample_and_scale;

/// Scores a batch through the caller's callback and checks that one score came back per input.
pub(crate) fn score_batch<E>(
    score: &mut impl FnMut(&[Vec<f32>]) -> std::result::Result<Vec<f32>, E>,
    inputs: &[Vec<f32>],
) -> Result<Vec<f32>>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let scores = score(inputs).map_err(|e| EvalError::Scoring(e.into()))?;
    if scores.len() != inputs.len() {
        return Err(EvalError::ScoreCount {
            expected: inputs.len(),
            got: scores.len(),
        });
    }
    Ok(scores)
}
