//! Finer-CAM: Zhang et al., "Finer-CAM: Spotting the Difference Reveals Finer Details for Visual
//! Explanation", CVPR 2025 (arXiv:2501.11309).
//!
//! Grad-CAM of a contrast instead of the target's logit: the target minus `alpha` times each of
//! the classes the model finds most similar to it, weighted by their softmax probabilities. This
//! follows pytorch-grad-cam 1.5.7 `finer_cam.py` with its `FinerWeightedTarget`
//! (`utils/model_targets.py`) and base method `GradCAM`:
//!
//! * the comparison classes are those whose logits are closest to the target's (`|logit_j −
//!   logit_target|` ascending, ties by index), ranks 1, 2 and 3 of that order (rank 0 is the
//!   target itself), fewer when the model has fewer classes;
//! * the score is `S = Σ_i p_i (t − alpha · l_i) / (Σ_i p_i + 1e-9)` over the comparison
//!   classes `i`, `t` the target's score and `p = softmax(logits)`;
//! * the channel weights are the gradient of `S` with respect to the layer, averaged over
//!   positions.
//!
//! `S` is not linear in the logits, but its gradient at the layer is, by the chain rule,
//! `Σ_j (∂S/∂l_j) · ∂l_j/∂A` with `∂S/∂l_j` taken at the image's logits: so the gradient is the
//! one of a linear [`Target`] with coefficients `∂S/∂l_j` (computed here in closed form, softmax
//! derivative included), run once through the part of the network after the layer.
//!
//! whycam's target is the main class (the reference's `target_idx`); a group target counts as
//! the main score with its own coefficients, and its classes are not compared against. With no
//! other class to compare (a one-logit model), the map is Grad-CAM of the target, where the
//! reference would fail on an empty sum.

use super::{CamMethod, Combination, LayerSample, sum_per_channel};
use crate::error::{CamError, Result};
use crate::target::Target;

/// pytorch-grad-cam's `alpha` default.
pub const DEFAULT_ALPHA: f32 = 1.0;
/// The ranks of the comparison classes (`DEFAULT_COMPARISON_CATEGORIES`).
const COMPARISON_RANKS: [usize; 3] = [1, 2, 3];
/// `FinerWeightedTarget`'s guard against a zero denominator.
const DENOMINATOR_EPS: f64 = 1e-9;

/// Finer-grained Grad-CAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct FinerCam;

impl CamMethod for FinerCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let alpha = layer.settings.finer_alpha.unwrap_or(DEFAULT_ALPHA);
        if !alpha.is_finite() {
            return Err(CamError::Setting {
                name: "finer-alpha",
                reason: format!("{alpha} is not a finite number"),
            });
        }
        let target = finer_target(layer.target, layer.logits, f64::from(alpha));
        let gradients = layer
            .probe()?
            .layer_gradients(layer.activations, 1, &target)?;
        let n = layer.positions() as f64;
        Ok(Combination::ChannelWeights(
            sum_per_channel(&gradients, layer.positions())
                .into_iter()
                .map(|s| (s / n) as f32)
                .collect(),
        ))
    }
}

/// The classes compared against `target`: those nearest to its score, at ranks 1, 2, 3 of the
/// order that has the target at rank 0.
pub fn comparison_classes(target: &Target, logits: &[f32]) -> Vec<usize> {
    let main = f64::from(target.score(logits));
    let mut others: Vec<usize> = (0..logits.len())
        .filter(|j| !target.coefficients.iter().any(|&(k, _)| k == *j))
        .collect();
    let distance = |j: usize| (f64::from(logits[j]) - main).abs();
    others.sort_by(|&a, &b| distance(a).total_cmp(&distance(b)).then(a.cmp(&b)));
    others.truncate(COMPARISON_RANKS.len());
    others
}

/// The linear target whose gradient is the gradient of `FinerWeightedTarget` at `logits`:
/// coefficients `∂S/∂l_j` for every logit.
pub fn finer_target(target: &Target, logits: &[f32], alpha: f64) -> Target {
    let compared = comparison_classes(target, logits);
    if compared.is_empty() {
        return target.clone();
    }
    let l: Vec<f64> = logits.iter().map(|&v| f64::from(v)).collect();
    let max = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = l.iter().map(|v| (v - max).exp()).collect();
    let total: f64 = exp.iter().sum();
    let p: Vec<f64> = exp.iter().map(|e| e / total).collect();
    let mut c = vec![0.0f64; l.len()];
    for &(j, coef) in &target.coefficients {
        c[j] += f64::from(coef);
    }
    let t: f64 = c.iter().zip(&l).map(|(c, l)| c * l).sum();
    let mass: f64 = compared.iter().map(|&i| p[i]).sum();
    let numerator: f64 = compared.iter().map(|&i| p[i] * (t - alpha * l[i])).sum();
    let denominator = mass + DENOMINATOR_EPS;
    let mut in_compared = vec![false; l.len()];
    for &i in &compared {
        in_compared[i] = true;
    }
    // ∂p_i/∂l_j = p_i (δ_ij − p_j), so with N = Σ_i p_i (t − α l_i) and D = Σ_i p_i + ε:
    // ∂N/∂l_j = [j ∈ C] p_j (t − α l_j) − p_j N + c_j Σ_i p_i − α [j ∈ C] p_j,
    // ∂D/∂l_j = [j ∈ C] p_j − p_j Σ_i p_i.
    let coefficients = (0..l.len())
        .map(|j| {
            let member = if in_compared[j] { 1.0 } else { 0.0 };
            let dn = member * p[j] * (t - alpha * l[j]) - p[j] * numerator + c[j] * mass
                - alpha * member * p[j];
            let dd = member * p[j] - p[j] * mass;
            let ds = (dn * denominator - numerator * dd) / (denominator * denominator);
            (j, ds as f32)
        })
        .collect();
    Target {
        class: target.class,
        name: target.name.clone(),
        coefficients,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(c: usize) -> Target {
        Target {
            class: Some(c),
            name: c.to_string(),
            coefficients: vec![(c, 1.0)],
        }
    }

    /// `FinerWeightedTarget`'s score, written as the reference writes it.
    fn score(target: &Target, logits: &[f64], alpha: f64, compared: &[usize]) -> f64 {
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = logits.iter().map(|v| (v - max).exp()).sum();
        let p = |i: usize| (logits[i] - max).exp() / total;
        let main: f64 = target
            .coefficients
            .iter()
            .map(|&(j, c)| f64::from(c) * logits[j])
            .sum();
        let num: f64 = compared
            .iter()
            .map(|&i| p(i) * (main - alpha * logits[i]))
            .sum();
        let den: f64 = compared.iter().map(|&i| p(i)).sum();
        num / (den + 1e-9)
    }

    #[test]
    fn comparison_classes_are_the_nearest_logits() {
        let logits = [0.0f32, 5.0, 4.5, 9.0, 5.2, 3.0];
        assert_eq!(comparison_classes(&class(1), &logits), [4, 2, 5]);
        assert_eq!(comparison_classes(&class(3), &logits), [4, 1, 2]);
        // Two classes: one comparison; one logit: none, and the target is unchanged.
        assert_eq!(comparison_classes(&class(0), &[1.0, 2.0]), [1]);
        let binary = Target {
            class: Some(1),
            name: "1".into(),
            coefficients: vec![(0, 1.0)],
        };
        assert_eq!(finer_target(&binary, &[0.3], 1.0), binary);
    }

    /// The coefficients are the gradient of the reference's score: central differences of it.
    #[test]
    fn coefficients_are_the_scores_gradient() {
        let logits = [1.0f32, 2.5, 2.0, -1.0, 2.7, 0.5];
        for (target, alpha) in [(class(1), 1.0), (class(4), 0.6)] {
            let compared = comparison_classes(&target, &logits);
            let linear = finer_target(&target, &logits, alpha);
            let l: Vec<f64> = logits.iter().map(|&v| f64::from(v)).collect();
            for (j, coef) in linear.coefficients {
                let h = 1e-6;
                let mut up = l.clone();
                up[j] += h;
                let mut down = l.clone();
                down[j] -= h;
                let numeric = (score(&target, &up, alpha, &compared)
                    - score(&target, &down, alpha, &compared))
                    / (2.0 * h);
                assert!(
                    (f64::from(coef) - numeric).abs() < 1e-6,
                    "class {j}: {coef} vs {numeric}"
                );
            }
        }
    }
}
