//! SmoothGrad-CAM++: Omeiza, Speakman, Cintas, Weldemariam, "Smooth Grad-CAM++: An Enhanced
//! Inference Level Visualization Technique for Deep Convolutional Neural Network Models", 2019
//! (arXiv:1908.01224).
//!
//! As torchcam 0.5.0 computes it (`methods/gradient.py`, `SmoothGradCAMpp`): `n` noisy copies of
//! the input (`x + N(0, σ²)`, `n = 4`, `σ = 0.3` in the units of the normalised input) give the
//! target layer's gradients `gᵢ`; with `D₂ = mean gᵢ²`, `D₃ = mean gᵢ³` and the unmodified
//! image's activations `A`,
//!
//! `α = D₂ / (2·D₂ + Σ_positions D₃·A + 1e-8)`, `w_k = Σ_positions α · relu(g_n)`,
//!
//! then the map `Σ_k w_k · A'_k`, ReLU and min-max scaling. Note `g_n` and `A'`: torchcam keeps
//! the hooks on while it samples, so the ReLU'd gradient in the weights and the activations the
//! weights multiply are those of the *last* noisy copy, not of the image (the denominator's `A`
//! is the image's). whycam reproduces that, so its maps match torchcam's; the paper averages
//! the first derivative over the samples instead (torchcam's "personal correction" uses `D₂` in
//! the numerator).
//!
//! The noisy copies run `probe.batch_size()` at a time, each one forward pass and a backward
//! pass through the layers after the target only.

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// torchcam's default number of noisy samples.
pub const DEFAULT_SAMPLES: usize = 4;
/// torchcam's default standard deviation of the input noise.
pub const DEFAULT_NOISE_STD: f32 = 0.3;

/// Grad-CAM++ with gradients smoothed over noisy copies of the input.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmoothGradCamPlusPlus;

impl CamMethod for SmoothGradCamPlusPlus {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let samples = layer.settings.samples_or(DEFAULT_SAMPLES)?;
        let std = layer.settings.noise_std_or(DEFAULT_NOISE_STD)?;
        let image = probe.image();
        let size = layer.channels * layer.positions();
        let mut grad2 = vec![0.0f64; size];
        let mut grad3 = vec![0.0f64; size];
        // The last noisy copy's activations and gradients (see the module docs).
        let mut last = (Vec::new(), Vec::new());
        let mut done = 0;
        while done < samples {
            let count = probe.batch_size().max(1).min(samples - done);
            let mut inputs = Vec::with_capacity(count * image.len());
            for _ in 0..count {
                // One draw per sample, in torchcam's order.
                let noise = layer.noise.normal(image.len(), std)?;
                inputs.extend(image.iter().zip(noise).map(|(x, n)| x + n));
            }
            let (acts, grads) =
                probe.layer_activations_and_gradients(&inputs, count, layer.target)?;
            for (what, got) in [
                ("layer activations", acts.len()),
                ("layer gradients", grads.len()),
            ] {
                if got != count * size {
                    return Err(CamError::MethodOutput {
                        what,
                        got,
                        expected: count * size,
                    });
                }
            }
            for sample in grads.chunks(size) {
                for ((g2, g3), &g) in grad2.iter_mut().zip(&mut grad3).zip(sample) {
                    let g = f64::from(g);
                    *g2 += g * g;
                    *g3 += g * g * g;
                }
            }
            let from = (count - 1) * size;
            last = (
                acts[from..from + size].to_vec(),
                grads[from..from + size].to_vec(),
            );
            done += count;
        }
        let (last_acts, last_grads) = last;
        let n = layer.positions();
        let scale = 1.0 / samples as f64;
        let mut weighted = Vec::with_capacity(size);
        for k in 0..layer.channels {
            let channel = k * n..(k + 1) * n;
            let spread: f64 = grad3[channel.clone()]
                .iter()
                .zip(&layer.activations[channel.clone()])
                .map(|(g3, &a)| g3 * scale * f64::from(a))
                .sum();
            let weight: f64 = grad2[channel.clone()]
                .iter()
                .zip(&last_grads[channel.clone()])
                .map(|(g2, &g)| {
                    let d2 = g2 * scale;
                    d2 / (2.0 * d2 + spread + 1e-8) * f64::from(g.max(0.0))
                })
                .sum();
            let weight = weight as f32;
            weighted.extend(last_acts[channel].iter().map(|a| a * weight));
        }
        Ok(Combination::Elementwise(weighted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::Probe;
    use crate::target::Target;
    use crate::{MethodSettings, Noise};
    use std::sync::Mutex;

    /// A 1-channel "network" on a 2-pixel input whose layer is the input itself and whose
    /// score's gradient there is the input squared; records the batches it sees.
    struct SquareProbe {
        image: Vec<f32>,
        batches: Mutex<Vec<usize>>,
    }

    impl Probe for SquareProbe {
        fn batch_size(&self) -> usize {
            2
        }
        fn input_size(&self) -> (usize, usize) {
            (1, 2)
        }
        fn image(&self) -> &[f32] {
            &self.image
        }
        fn score_masked_inputs(&self, _: &[f32], _: usize) -> crate::Result<Vec<f32>> {
            unreachable!()
        }
        fn score_activations(&self, _: &[f32], _: usize) -> crate::Result<Vec<f32>> {
            unreachable!()
        }
        fn layer_activations_and_gradients(
            &self,
            inputs: &[f32],
            count: usize,
            _: &Target,
        ) -> crate::Result<(Vec<f32>, Vec<f32>)> {
            self.batches.lock().unwrap().push(count);
            // 3 input channels of 2 pixels: the layer is the first channel.
            let acts: Vec<f32> = inputs.chunks(6).flat_map(|x| x[..2].to_vec()).collect();
            let grads = acts.iter().map(|a| a * a).collect();
            Ok((acts, grads))
        }
    }

    #[test]
    fn weights_follow_torchcam_with_the_last_samples_gradient_and_activations() {
        let image = vec![1.0, -2.0, 0.0, 0.0, 0.0, 0.0];
        let probe = SquareProbe {
            image: image.clone(),
            batches: Mutex::new(Vec::new()),
        };
        // Three samples: noise on the layer's pixels 0, +1, -0.5 (and zeros elsewhere).
        let draws = [[0.0, 0.0], [1.0, 1.0], [-0.5, -0.5]]
            .map(|d| {
                let mut v = vec![0.0f32; 6];
                v[..2].copy_from_slice(&d);
                v
            })
            .to_vec();
        let settings = MethodSettings {
            noise: Noise::replay(draws),
            samples: Some(3),
            ..MethodSettings::default()
        };
        let noise = settings.noise.stream(0);
        let acts = [1.0f32, -2.0];
        let layer = LayerSample {
            channels: 1,
            height: 1,
            width: 2,
            activations: &acts,
            gradients: None,
            class_maps: None,
            target: &Target {
                class: Some(0),
                name: "0".into(),
                coefficients: vec![(0, 1.0)],
            },
            score: 0.0,
            probe: Some(&probe),
            logits: &[0.0],
            settings: &settings,
            noise: &noise,
        };
        let Combination::Elementwise(map) = SmoothGradCamPlusPlus.combine(&layer).unwrap() else {
            panic!("elementwise expected")
        };
        assert_eq!(*probe.batches.lock().unwrap(), vec![2, 1]);
        // Noisy layers: [1, -2], [2, -1], [0.5, -2.5]; gradients their squares.
        let samples = [[1.0f64, -2.0], [2.0, -1.0], [0.5, -2.5]];
        let d2: Vec<f64> = (0..2)
            .map(|i| samples.iter().map(|s| s[i].powi(4)).sum::<f64>() / 3.0)
            .collect();
        let d3: Vec<f64> = (0..2)
            .map(|i| samples.iter().map(|s| s[i].powi(6)).sum::<f64>() / 3.0)
            .collect();
        let spread = d3[0] * 1.0 + d3[1] * -2.0;
        let last = samples[2];
        let weight: f64 = (0..2)
            .map(|i| d2[i] / (2.0 * d2[i] + spread + 1e-8) * (last[i] * last[i]))
            .sum();
        for (got, a) in map.iter().zip(last) {
            let want = (weight * a) as f32;
            assert!((got - want).abs() <= 1e-5 * want.abs(), "{got} {want}");
        }
    }
}
