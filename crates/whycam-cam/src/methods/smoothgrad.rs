//! SmoothGrad: Smilkov, Thorat, Kim, Viégas, Wattenberg, "SmoothGrad: removing noise by adding
//! noise", 2017 (arXiv:1706.03825).
//!
//! The mean of a gradient attribution over `n` copies of the input with Gaussian noise added,
//! as Captum 0.9 `captum/attr/_core/noise_tunnel.py` computes it (`NoiseTunnel`,
//! `nt_type="smoothgrad"`): per colour channel, `(1/n) Σ_i A(x + ε_i)`, `ε_i ~ N(0, σ²)` on every
//! input value. The attribution `A` is Saliency by default (Captum's `Saliency`, `|∂S/∂x|`), or
//! Gradient × Input ([`MethodSettings::smoothgrad_base`](crate::MethodSettings::smoothgrad_base),
//! Captum's `InputXGradient`, `(x + ε) · ∂S/∂x (x + ε)`). The channels are reduced after the
//! mean, as for the base method alone: the maximum for Saliency (the mean absolute gradient
//! then `max_c`), the sum for Gradient × Input.
//!
//! Defaults, from the paper rather than Captum (5 samples, `σ = 1`): 50 samples (the paper's
//! `n`, past which it sees little change) and `σ = 15%` of the input's range `max(x) - min(x)`
//! (the paper finds 10-20% best), both in the normalised input. Each sample's noise is one draw
//! of `3 × height × width` values from the method's seeded noise, in sample order; the samples
//! run through the probe `probe.batch_size()` at a time.

use super::saliency::{input_plane, max_abs_over_channels, sum_over_channels};
use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};
use crate::method::Method;

/// SmoothGrad.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmoothGrad;

/// Noisy samples when not given.
pub const DEFAULT_SAMPLES: usize = 50;

/// The noise's standard deviation when not given, as a fraction of the input's range.
pub const DEFAULT_NOISE_FRACTION: f32 = 0.15;

impl CamMethod for SmoothGrad {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let plane = input_plane(probe)?;
        let image = probe.image();
        let settings = layer.settings;
        let times_input = match settings.smoothgrad_base {
            None | Some(Method::Saliency) => false,
            Some(Method::GradientInput) => true,
            Some(other) => {
                return Err(CamError::Setting {
                    name: "smoothgrad-base",
                    reason: format!(
                        "SmoothGrad averages saliency or gradient-input, not {}",
                        other.id()
                    ),
                });
            }
        };
        let samples = settings.samples_or(DEFAULT_SAMPLES)?;
        let min = image.iter().copied().fold(f32::INFINITY, f32::min);
        let max = image.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let std = settings.noise_std_or(DEFAULT_NOISE_FRACTION * (max - min))?;
        let batch = probe.batch_size().max(1);
        let mut total = vec![0.0f64; image.len()];
        let mut done = 0;
        while done < samples {
            let count = batch.min(samples - done);
            let mut inputs = Vec::with_capacity(count * image.len());
            for _ in 0..count {
                let noise = layer.noise.normal(image.len(), std)?;
                inputs.extend(image.iter().zip(noise).map(|(x, e)| x + e));
            }
            let gradients = probe.input_gradients(&inputs, count, layer.target)?;
            for (g, x) in gradients
                .chunks(image.len())
                .zip(inputs.chunks(image.len()))
            {
                for ((t, &g), &x) in total.iter_mut().zip(g).zip(x) {
                    *t += if times_input {
                        f64::from(g) * f64::from(x)
                    } else {
                        f64::from(g.abs())
                    };
                }
            }
            done += count;
        }
        let mean: Vec<f64> = total.iter().map(|t| t / samples as f64).collect();
        Ok(Combination::InputMap(if times_input {
            sum_over_channels(&mean, plane)
        } else {
            let mean: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
            max_abs_over_channels(&mean, plane)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::saliency::test_support::{LinearProbe, run, seeded};
    use crate::settings::{MethodSettings, Noise};

    #[test]
    fn a_linear_model_has_its_constant_gradient_under_any_noise() {
        let probe = LinearProbe::new(3, 3, 4);
        let settings = MethodSettings {
            samples: Some(10),
            ..seeded(2)
        };
        let map = run(&SmoothGrad, &probe, &settings).unwrap();
        assert_eq!(*probe.items.lock().unwrap(), 10);
        assert_eq!(*probe.largest_batch.lock().unwrap(), 4);
        let saliency = run(&crate::methods::saliency::Saliency, &probe, &settings).unwrap();
        for (a, b) in map.iter().zip(&saliency) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn gradient_input_base_averages_the_noisy_products() {
        let probe = LinearProbe::new(1, 2, 2);
        // Two samples of 3 × 1 × 2 noise, replayed.
        let e1 = vec![0.1, -0.2, 0.3, 0.0, 0.5, -0.5];
        let e2 = vec![-0.1, 0.4, 0.0, 0.2, -0.3, 0.1];
        let settings = MethodSettings {
            samples: Some(2),
            smoothgrad_base: Some(Method::GradientInput),
            noise: Noise::replay(vec![e1.clone(), e2.clone()]),
            ..MethodSettings::default()
        };
        let map = run(&SmoothGrad, &probe, &settings).unwrap();
        let (x, w) = (&probe.image, &probe.weights);
        for p in 0..2 {
            let expected: f32 = (0..3)
                .map(|c| {
                    let i = c * 2 + p;
                    w[i] * ((x[i] + e1[i]) + (x[i] + e2[i])) / 2.0
                })
                .sum();
            assert!((map[p] - expected).abs() < 1e-5, "{map:?} {expected}");
        }
        let refused = MethodSettings {
            smoothgrad_base: Some(Method::GradCam),
            ..MethodSettings::default()
        };
        assert!(run(&SmoothGrad, &probe, &refused).is_err());
    }
}
