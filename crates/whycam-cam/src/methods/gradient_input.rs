//! Gradient × Input: Shrikumar, Greenside, Shcherbina, Kundaje, "Not Just a Black Box:
//! Learning Important Features Through Propagating Activation Differences", 2016
//! (arXiv:1605.01713).
//!
//! The input times the gradient of the target score with respect to it, `x · ∂S/∂x`, per colour
//! channel as Captum 0.9 `captum/attr/_core/input_x_gradient.py` (`InputXGradient`) gives it,
//! then summed over the colour channels (the `sign="all"` reduction of Captum's
//! `visualize_image_attr`). The input is the normalised one the network sees, so a pixel at the
//! dataset mean contributes nothing. The map is signed.

use super::saliency::{input_plane, sum_over_channels};
use super::{CamMethod, Combination, LayerSample};
use crate::error::Result;

/// Gradient × Input.
#[derive(Debug, Clone, Copy, Default)]
pub struct GradientInput;

impl CamMethod for GradientInput {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let plane = input_plane(probe)?;
        let image = probe.image();
        let gradients = probe.input_gradients(image, 1, layer.target)?;
        let products: Vec<f64> = gradients
            .iter()
            .zip(image)
            .map(|(&g, &x)| f64::from(g) * f64::from(x))
            .collect();
        Ok(Combination::InputMap(sum_over_channels(&products, plane)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::saliency::test_support::{LinearProbe, run, seeded};

    #[test]
    fn gradient_times_input_summed_over_channels() {
        let probe = LinearProbe::new(2, 3, 1);
        let map = run(&GradientInput, &probe, &seeded(0)).unwrap();
        let (x, w) = (&probe.image, &probe.weights);
        for (p, &v) in map.iter().enumerate() {
            let expected: f32 = (0..3).map(|c| x[c * 6 + p] * w[c * 6 + p]).sum();
            assert!((v - expected).abs() < 1e-6, "pixel {p}: {v} vs {expected}");
        }
        // A linear score: the map sums to the score minus the bias.
        let total: f32 = map.iter().sum();
        assert!((total - (probe.score(x) - probe.bias)).abs() < 1e-5);
    }
}
