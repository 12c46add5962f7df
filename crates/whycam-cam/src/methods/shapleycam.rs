//! ShapleyCAM: Cai, "CAMs as Shapley Value-based Explainers", 2025 (arXiv:2501.06261).
//!
//! The channel weights are the positional mean of `g − ½·H·A`, where `g` is the target score's
//! gradient at the layer, `A` the activations and `H·A` the Hessian-vector product of the score
//! with respect to the layer along `A` (pytorch-grad-cam 1.5.7 `shapley_cam.py`, which gets it
//! from `torch.autograd.grad(grads, activations, grad_outputs=activations)` on a graph kept
//! with `create_graph=True`).
//!
//! # How the Hessian-vector product is computed
//!
//! burn's autodiff has no second derivative, so whycam uses what the product is: the derivative
//! of the gradient along the ray through `A`, `H·A = d/dt g(A·(1 + t))` at `t = 0`, which only
//! needs gradients at scaled activations ([`Probe::layer_gradients`], run through the part of
//! the network after the layer).
//!
//! 1. **Piecewise-linear networks.** When everything after the layer is piecewise linear
//!    (convolutions, BatchNorm, ReLU, ReLU6, max- and average-pooling, linear layers: every zoo
//!    model whycam ships), `g` is constant around `A`, torch's product is exactly zero (the
//!    second derivative of a ReLU is 0 in autograd) and ShapleyCAM *is* Grad-CAM. whycam
//!    detects this exactly: it compares, bit for bit, the gradient at `A` with the gradient at
//!    `A·(1 ± 2⁻²²)` (a change of a few units in the last place of every activation). A network
//!    with any smooth part after the layer (SiLU, sigmoid, GELU, softmax, LayerNorm) changes
//!    its gradient under that change; a piecewise-linear one does not, unless a ReLU sits
//!    within 2⁻²² of its kink on both sides, which is why both signs are tried. Then the
//!    product is 0 and the weights are Grad-CAM's, as in torch. A finite difference would be
//!    wrong there: between `A·(1 − h)` and `A·(1 + h)` some ReLUs change state, and the
//!    difference quotient measures those jumps (a derivative of size `1/h`), which torch does
//!    not see.
//! 2. **Other networks.** The product is the Richardson-extrapolated central difference
//!    `R = (4·D(h) − D(2h)) / 3` with `D(s) = (g(A·(1 + s)) − g(A·(1 − s))) / 2s` and
//!    `h = 2⁻⁶` (gradients at `A·(1 ± s)` for `s` = `h/2`, `h`, `2h`, six in one probe pass;
//!    the step `h/2` serves the check of 3.). Its error, per element, is at most
//!    `h⁴/30 · max|g⁽⁵⁾|` (truncation: the `s²` term of `D` cancels, `g⁽⁵⁾` the fifth
//!    derivative of the gradient along the ray within `A·(1 ± 2h)`) plus `1.5·δ/h = 96·δ`
//!    (rounding: `δ` the largest float32 error of one computed gradient element). The step
//!    balances the two on the smooth fixture of the parity test (EfficientNet-B0 at
//!    `features.3`, SiLU and sigmoid after it), where the map's largest difference from torch's
//!    float64 map measures 6e-4 at `h = 2⁻⁴`, 4.5e-5 at `2⁻⁵` (truncation, falling as `h⁴`),
//!    7.9e-6 at `2⁻⁶`, 6.0e-6 at `2⁻⁷`, then 2.9e-5 at `2⁻⁸` and 7.5e-5 at `2⁻¹⁰` (rounding,
//!    growing as `1/h`).
//! 3. **Networks that mix kinks and smooth parts** after the layer (RegNetY's ReLUs with
//!    sigmoid squeeze-excitation): torch's product ignores the kinks (a ReLU's second derivative
//!    is 0 in autograd) but keeps the smooth part, and no difference quotient can separate the
//!    two: the ReLUs whose input crosses zero within `A·(1 ± 2h)` (thousands, in a deep network)
//!    add jumps of size `1/h`. whycam detects it, since the weights from steps `h` and `h/2` then
//!    disagree (by more than 100% of the largest weight on the RegNetY fixture, against 1e-5 on
//!    the smooth EfficientNet-B0), and refuses with an error beyond a disagreement of 1e-3,
//!    rather than return a map that is wrong (1.0 away from torch's on that fixture). Computing
//!    it would need a second-order pass of the model, or a resume with its ReLU gates frozen.

use super::{CamMethod, Combination, LayerSample, Probe};
use crate::error::{CamError, Result};
use crate::target::Target;

/// The relative scaling `τ` of the activations at which a piecewise-linear network's gradient
/// is checked to be unchanged.
const LINEARITY_PROBE: f32 = 1.0 / (1u32 << 22) as f32;
/// The finite-difference step `h` (relative to the activations).
pub const STEP: f32 = 1.0 / 64.0;

/// Shapley-value CAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShapleyCam;

impl CamMethod for ShapleyCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let gradients = layer.gradients()?;
        let probe = layer.probe()?;
        let activations = layer.activations;
        let n = layer.positions();
        if gradient_is_locally_constant(probe, activations, layer.target)? {
            return Ok(Combination::ChannelWeights(channel_weights(
                gradients, None, n,
            )));
        }
        let (coarse, fine) = hessian_along_activations(probe, activations, layer.target, STEP)?;
        let weights = channel_weights(gradients, Some(&coarse), n);
        let check = channel_weights(gradients, Some(&fine), n);
        let scale = weights.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        let disagreement = weights
            .iter()
            .zip(&check)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        if disagreement > AGREEMENT * scale {
            return Err(CamError::Unsupported {
                method: "ShapleyCAM".into(),
                model: String::new(),
                layer: String::new(),
                reason: format!(
                    "the network after the layer mixes kinks (ReLU, max-pool) with smooth \
                     activations, and its Hessian-vector product cannot be computed without \
                     second-order autodiff: the finite differences of steps {STEP} and {} \
                     disagree by {:.1}% of the largest weight; choose a layer after which the \
                     network is piecewise linear or smooth, or use gradcam",
                    STEP / 2.0,
                    100.0 * disagreement / scale.max(f32::MIN_POSITIVE)
                ),
            });
        }
        Ok(Combination::ChannelWeights(weights))
    }
}

/// How far (relative to the largest weight) the weights from the steps `h` and `h/2` may
/// differ before the difference quotient is taken to straddle kinks: on smooth networks they
/// agree to some 1e-5, across ReLU kinks they differ by the order of the weights.
const AGREEMENT: f32 = 1e-3;

/// Per channel, the mean over positions of `g − ½·H·A` (`g` alone without a product).
fn channel_weights(gradients: &[f32], hvp: Option<&[f64]>, positions: usize) -> Vec<f32> {
    gradients
        .chunks(positions)
        .enumerate()
        .map(|(k, g)| {
            let sum: f64 = match hvp {
                None => g.iter().map(|&v| f64::from(v)).sum(),
                Some(h) => g
                    .iter()
                    .zip(&h[k * positions..(k + 1) * positions])
                    .map(|(&g, &h)| f64::from(g) - 0.5 * h)
                    .sum(),
            };
            (sum / positions as f64) as f32
        })
        .collect()
}

/// `values · factor`, element-wise.
fn scaled(values: &[f32], factor: f32) -> Vec<f32> {
    values.iter().map(|v| v * factor).collect()
}

/// Whether the gradient at `A·(1 + τ)` or at `A·(1 − τ)` is bit for bit the gradient at `A`:
/// the network after the layer is linear around `A` along the ray, and its Hessian-vector
/// product there is zero.
pub fn gradient_is_locally_constant(
    probe: &dyn Probe,
    activations: &[f32],
    target: &Target,
) -> Result<bool> {
    let at = probe.layer_gradients(activations, 1, target)?;
    for sign in [1.0f32, -1.0] {
        let moved = scaled(activations, 1.0 + sign * LINEARITY_PROBE);
        if moved == activations {
            continue; // nothing to compare: every activation is too small to move
        }
        if probe.layer_gradients(&moved, 1, target)? == at {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `H·A`, the derivative of the layer gradient along the ray through `A`, by the
/// Richardson-extrapolated central difference of step `h`, and of step `h/2` as a check
/// (`f64`, one value per activation; six gradients, at `A·(1 ± s)` for `s` = `h/2`, `h`, `2h`,
/// in one probe pass).
pub fn hessian_along_activations(
    probe: &dyn Probe,
    activations: &[f32],
    target: &Target,
    h: f32,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let size = activations.len();
    let steps = [h / 2.0, h, 2.0 * h];
    let mut batch = Vec::with_capacity(6 * size);
    for s in steps {
        for t in [s, -s] {
            batch.extend(activations.iter().map(|a| a * (1.0 + t)));
        }
    }
    let g = probe.layer_gradients(&batch, 6, target)?;
    let at = |pair: usize, sign: usize, i: usize| f64::from(g[(2 * pair + sign) * size + i]);
    // D(s) = (g(A(1 + s)) − g(A(1 − s))) / 2s; R(s) = (4 D(s) − D(2s)) / 3.
    let d =
        |pair: usize, i: usize| (at(pair, 0, i) - at(pair, 1, i)) / (2.0 * f64::from(steps[pair]));
    let richardson = |pair: usize| -> Vec<f64> {
        (0..size)
            .map(|i| (4.0 * d(pair, i) - d(pair + 1, i)) / 3.0)
            .collect()
    };
    Ok((richardson(1), richardson(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe whose "network after the layer" is `score(A) = Σ_i f(a_i)`, gradient `f'(a_i)`.
    struct Elementwise {
        derivative: fn(f32) -> f32,
    }

    impl Probe for Elementwise {
        fn batch_size(&self) -> usize {
            4
        }
        fn input_size(&self) -> (usize, usize) {
            (1, 1)
        }
        fn score_masked_inputs(&self, _: &[f32], _: usize) -> Result<Vec<f32>> {
            unreachable!()
        }
        fn score_activations(&self, _: &[f32], _: usize) -> Result<Vec<f32>> {
            unreachable!()
        }
        fn layer_gradients(&self, a: &[f32], _: usize, _: &Target) -> Result<Vec<f32>> {
            Ok(a.iter().map(|&v| (self.derivative)(v)).collect())
        }
    }

    fn target() -> Target {
        Target {
            class: Some(0),
            name: "0".into(),
            coefficients: vec![(0, 1.0)],
        }
    }

    /// f = softplus-like smooth function: sigmoid's integral. f'(a) = σ(a), f''(a) = σ(a)(1−σ(a)),
    /// so H·A = σ(a)(1 − σ(a))·a, element-wise.
    #[test]
    fn finite_difference_matches_the_analytic_second_derivative() {
        let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
        let probe = Elementwise {
            derivative: sigmoid,
        };
        let a: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) / 8.0).collect();
        let (hvp, _) = hessian_along_activations(&probe, &a, &target(), STEP).unwrap();
        let mut worst = 0.0f64;
        for (&v, &h) in a.iter().zip(&hvp) {
            let s = 1.0 / (1.0 + (-f64::from(v)).exp());
            let exact = s * (1.0 - s) * f64::from(v);
            worst = worst.max((h - exact).abs());
        }
        // The bound of the module docs: h⁴/30·|σ⁽⁵⁾|·|a|⁵ (|σ⁽⁵⁾| ≤ 1/8, |a| ≤ 4: 2e-8)
        // plus 96·δ (δ = the float32 rounding of σ, 6e-8: 6e-6).
        assert!(worst < 1e-5, "{worst}");
        assert!(!gradient_is_locally_constant(&probe, &a, &target()).unwrap());
    }

    /// For a ReLU, the gradient is a step: locally constant, with a zero Hessian-vector product
    /// as autograd has it; the finite difference alone would see the step where it is crossed.
    #[test]
    fn relu_gradients_are_locally_constant() {
        let step = |v: f32| if v > 0.0 { 1.0 } else { 0.0 };
        let probe = Elementwise { derivative: step };
        let a = [-2.0f32, -0.5, 0.0, 0.25, 3.0];
        assert!(gradient_is_locally_constant(&probe, &a, &target()).unwrap());
        // The step is never crossed by scaling, so the difference is zero here too.
        let (hvp, _) = hessian_along_activations(&probe, &a, &target(), STEP).unwrap();
        assert!(hvp.iter().all(|&h| h == 0.0), "{hvp:?}");
        // A shifted ReLU (a bias after the layer): scaling crosses its kink at 1.0.
        let shifted = Elementwise {
            derivative: |v: f32| if v > 1.0 { 1.0 } else { 0.0 },
        };
        let a = [1.01f32, 0.5];
        assert!(gradient_is_locally_constant(&shifted, &a, &target()).unwrap());
        let (hvp, _) = hessian_along_activations(&shifted, &a, &target(), STEP).unwrap();
        assert!(
            hvp[0] != 0.0,
            "the difference quotient sees the kink: {hvp:?}"
        );
    }
    /// A kink and a smooth part together: the two steps disagree and the method refuses.
    #[test]
    fn kinks_with_smooth_parts_are_refused() {
        use crate::settings::MethodSettings;
        let probe = Elementwise {
            derivative: |v: f32| 1.0 / (1.0 + (-v).exp()) + if v > 1.0 { 1.0 } else { 0.0 },
        };
        let activations = [1.005f32, 0.5, -0.3, 2.0];
        let gradients = probe.layer_gradients(&activations, 1, &target()).unwrap();
        let settings = MethodSettings::default();
        let noise = settings.noise.stream(0);
        let t = target();
        let layer = LayerSample {
            channels: 1,
            height: 2,
            width: 2,
            activations: &activations,
            gradients: Some(&gradients),
            class_maps: None,
            target: &t,
            score: 0.0,
            probe: Some(&probe),
            logits: &[0.0],
            settings: &settings,
            noise: &noise,
        };
        let error = ShapleyCam.combine(&layer).unwrap_err().to_string();
        assert!(error.contains("mixes kinks"), "{error}");
        // Without the kink it is computed.
        let smooth = Elementwise {
            derivative: |v: f32| 1.0 / (1.0 + (-v).exp()),
        };
        let gradients = smooth.layer_gradients(&activations, 1, &t).unwrap();
        let layer = LayerSample {
            gradients: Some(&gradients),
            probe: Some(&smooth),
            ..layer
        };
        assert!(ShapleyCam.combine(&layer).is_ok());
    }
}
