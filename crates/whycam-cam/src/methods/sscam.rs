//! SS-CAM: Wang, Naidu, Michael, Kundu, "SS-CAM: Smoothed Score-CAM for
//! Sharper Visual Feature Localization", 2020 (arXiv:2006.14255).
//!
//! As torchcam 0.5.0 computes it (`methods/activation.py`, `SSCAM`): each channel, min-max
//! scaled at the layer's resolution (`(A - min) / (max - min + 1e-8)`) and upsampled to the
//! input (bilinear, `align_corners=False`), plus Gaussian noise drawn at the input's resolution
//! (`σ = 2`, a fresh draw per sample and channel), masks the image; the channel weights are the
//! softmax over channels of the mean target score over `n = 35` samples.
//!
//! torchcam subtracts the unmodified image's score from every masked score; a softmax does not
//! change when every input moves by the same amount, so whycam skips that forward pass. The
//! noise makes every mask distinct, so unlike Score-CAM no other pass can be skipped:
//! `n × channels` forward passes, `probe.batch_size()` at a time. The noise is drawn per sample
//! and channel, `height × width` values each, in torchcam's order (sample, then channel).

use super::{CamMethod, Combination, LayerSample};
use crate::error::Result;
use crate::plane::Plane;

/// torchcam's default number of noisy samples.
pub const DEFAULT_SAMPLES: usize = 35;
/// torchcam's default standard deviation of the mask noise.
pub const DEFAULT_NOISE_STD: f32 = 2.0;

/// Score-CAM with weights averaged over noisy masks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SsCam;

impl CamMethod for SsCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let samples = layer.settings.samples_or(DEFAULT_SAMPLES)?;
        let std = layer.settings.noise_std_or(DEFAULT_NOISE_STD)?;
        let (height, width) = probe.input_size();
        let n = layer.positions();
        let masks: Vec<Vec<f32>> = layer
            .activations
            .chunks(n)
            .map(|values| upsampled_mask(values, layer.height, layer.width, height, width))
            .collect();
        let channels = layer.channels;
        let mut sums = vec![0.0f64; channels];
        let items = samples * channels;
        let batch = probe.batch_size().max(1);
        let mut start = 0;
        while start < items {
            let end = (start + batch).min(items);
            let mut noisy = Vec::with_capacity((end - start) * height * width);
            for item in start..end {
                let noise = layer.noise.normal(height * width, std)?;
                noisy.extend(masks[item % channels].iter().zip(noise).map(|(m, d)| m + d));
            }
            let scores = probe.score_masked_inputs(&noisy, end - start)?;
            for (item, score) in (start..end).zip(scores) {
                sums[item % channels] += f64::from(score);
            }
            start = end;
        }
        let means: Vec<f64> = sums.iter().map(|s| s / samples as f64).collect();
        Ok(Combination::ChannelWeights(softmax(&means)))
    }
}

/// A channel scaled to `[0, 1]` at the layer's resolution and upsampled to the input
/// (`height × width`) as torchcam's Score-CAM family does it.
pub(crate) fn upsampled_mask(
    values: &[f32],
    h: usize,
    w: usize,
    height: usize,
    width: usize,
) -> Vec<f32> {
    Plane::new(h, w, scaled(values)).resized(height, width).data
}

/// torchcam's `_normalize`: subtract the minimum, divide by `1e-8 +` the new maximum.
pub(crate) fn scaled(values: &[f32]) -> Vec<f32> {
    let min = values.iter().copied().fold(f32::INFINITY, f32::min);
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let range = (max - min) + 1e-8;
    values.iter().map(|v| (v - min) / range).collect()
}

/// The softmax of `scores`, computed in `f64`.
pub(crate) fn softmax(scores: &[f64]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|&s| (s - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / total) as f32).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::methods::Probe;
    use crate::target::Target;
    use crate::{MethodSettings, Noise};
    use std::sync::Mutex;

    /// Scores a masked input by the sum of its mask times its first pixel (2 × 2 input),
    /// recording the batch sizes.
    struct SumProbe(Mutex<Vec<usize>>);

    impl Probe for SumProbe {
        fn batch_size(&self) -> usize {
            3
        }
        fn input_size(&self) -> (usize, usize) {
            (2, 2)
        }
        fn score_masked_inputs(&self, masks: &[f32], count: usize) -> crate::Result<Vec<f32>> {
            self.0.lock().unwrap().push(count);
            Ok(masks
                .chunks(4)
                .map(|m| m.iter().sum::<f32>() * m[0])
                .collect())
        }
        fn score_activations(&self, _: &[f32], _: usize) -> crate::Result<Vec<f32>> {
            unreachable!()
        }
    }

    pub(crate) fn sample<'a>(
        acts: &'a [f32],
        target: &'a Target,
        probe: &'a dyn Probe,
        settings: &'a MethodSettings,
        noise: &'a crate::settings::NoiseStream,
    ) -> LayerSample<'a> {
        LayerSample {
            channels: acts.len() / 4,
            height: 2,
            width: 2,
            activations: acts,
            gradients: None,
            class_maps: None,
            target,
            score: 0.0,
            probe: Some(probe),
            logits: &[0.0],
            settings,
            noise,
        }
    }

    pub(crate) fn class_zero() -> Target {
        Target {
            class: Some(0),
            name: "0".into(),
            coefficients: vec![(0, 1.0)],
        }
    }

    #[test]
    fn weights_are_the_softmax_of_mean_noisy_scores_in_draw_order() {
        // Two channels: a ramp (scaled to 0, 1/3, 2/3, 1) and a constant (scaled to zeros).
        let acts = [0.0f32, 1.0, 2.0, 3.0, 5.0, 5.0, 5.0, 5.0];
        let draws: Vec<Vec<f32>> = (0..4).map(|i| vec![i as f32 * 0.5; 4]).collect();
        let settings = MethodSettings {
            noise: Noise::replay(draws.clone()),
            samples: Some(2),
            ..MethodSettings::default()
        };
        let noise = settings.noise.stream(0);
        let probe = SumProbe(Mutex::new(Vec::new()));
        let Combination::ChannelWeights(weights) = SsCam
            .combine(&sample(&acts, &class_zero(), &probe, &settings, &noise))
            .unwrap()
        else {
            panic!("channel weights expected")
        };
        assert_eq!(*probe.0.lock().unwrap(), vec![3, 1]);
        let score = |mask: [f32; 4], d: f32| {
            let m = mask.map(|v| v + d);
            f64::from(m.iter().sum::<f32>() * m[0])
        };
        let ramp = [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0];
        // Draw order: (sample 0, channel 0), (0, 1), (1, 0), (1, 1).
        let mean0 = (score(ramp, 0.0) + score(ramp, 1.0)) / 2.0;
        let mean1 = (score([0.0; 4], 0.5) + score([0.0; 4], 1.5)) / 2.0;
        let want = softmax(&[mean0, mean1]);
        for (a, b) in weights.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{weights:?} {want:?}");
        }
        assert!(
            settings.noise.stream(0).normal(4, 1.0).is_err(),
            "all draws used"
        );
    }

    #[test]
    fn masks_are_scaled_at_the_layer_then_upsampled() {
        let mask = upsampled_mask(&[1.0, 3.0], 1, 2, 1, 4);
        // Scaled [0, 1], then half-pixel bilinear to 4 columns: 0, 0.25, 0.75, 1.
        let want = [0.0, 0.25, 0.75, 1.0];
        for (a, b) in mask.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{mask:?}");
        }
        assert!(scaled(&[2.0; 3]).iter().all(|&v| v == 0.0));
    }
}
