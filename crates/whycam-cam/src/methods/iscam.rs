//! IS-CAM: Naidu, Ghosh, Maurya, Nayak K, Kundu, "IS-CAM: Integrated Score-CAM for axiomatic-based
//! explanations", 2020 (arXiv:2010.03023).
//!
//! As torchcam 0.5.0 computes it (`methods/activation.py`, `ISCAM`): each channel, min-max
//! scaled at the layer's resolution and upsampled to the input (bilinear,
//! `align_corners=False`), masks the image scaled by `c_i`, and the channel weights are the
//! softmax over channels of the mean target score over `i = 1..n` (`n = 10`). Note that torchcam
//! accumulates the coefficient, `c_i = Σ_{j ≤ i} j / n = i (i + 1) / 2n` (0.1, 0.3, ..., 5.5 for
//! `n = 10`), where the paper's sum over `j / n` reaches 1; whycam follows torchcam.
//!
//! Passes that cannot change a weight are skipped, which changes no weight: the unmodified
//! image's score that torchcam subtracts from every score (a softmax ignores a common shift);
//! channels whose scaled maps are identical give identical masks, so each distinct map is
//! scored once per coefficient; and an all-zero map (a constant channel) masks the image to
//! zeros whatever the coefficient, so it is scored once. IS-CAM draws no noise.

use super::sscam::{scaled, softmax};
use super::{CamMethod, Combination, LayerSample};
use crate::error::Result;
use crate::plane::Plane;
use std::collections::HashMap;

/// torchcam's default number of integration steps.
pub const DEFAULT_SAMPLES: usize = 10;

/// Score-CAM with weights integrated over scaled masks.
#[derive(Debug, Clone, Copy, Default)]
pub struct IsCam;

impl CamMethod for IsCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let steps = layer.settings.samples_or(DEFAULT_SAMPLES)?;
        let (height, width) = probe.input_size();
        let n = layer.positions();
        // Distinct scaled maps, and which one each channel has.
        let mut distinct: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut maps: Vec<Vec<f32>> = Vec::new();
        let owner: Vec<usize> = layer
            .activations
            .chunks(n)
            .map(|values| {
                let map = scaled(values);
                let key: Vec<u32> = map.iter().map(|v| v.to_bits()).collect();
                let next = maps.len();
                let slot = *distinct.entry(key).or_insert(next);
                if slot == next {
                    maps.push(map);
                }
                slot
            })
            .collect();
        // torchcam's coefficients, accumulated in f64 as Python does.
        let coefficients: Vec<f64> = (1..=steps)
            .scan(0.0f64, |c, i| {
                *c += i as f64 / steps as f64;
                Some(*c)
            })
            .collect();
        // The (map, coefficient) pairs to score; a zero map once.
        let items: Vec<(usize, usize)> = maps
            .iter()
            .enumerate()
            .flat_map(|(slot, map)| {
                let count = if map.iter().all(|&v| v == 0.0) {
                    1
                } else {
                    steps
                };
                (0..count).map(move |step| (slot, step))
            })
            .collect();
        tracing::debug!(
            channels = layer.channels,
            distinct = maps.len(),
            passes = items.len(),
            "IS-CAM masks"
        );
        let mut sums = vec![0.0f64; maps.len()];
        for chunk in items.chunks(probe.batch_size().max(1)) {
            let mut masks = Vec::with_capacity(chunk.len() * height * width);
            for &(slot, step) in chunk {
                let up = Plane::new(layer.height, layer.width, maps[slot].clone())
                    .resized(height, width);
                let c = coefficients[step] as f32;
                masks.extend(up.data.into_iter().map(|m| m * c));
            }
            let scores = probe.score_masked_inputs(&masks, chunk.len())?;
            for (&(slot, _), score) in chunk.iter().zip(scores) {
                sums[slot] += f64::from(score);
            }
        }
        let means: Vec<f64> = owner
            .iter()
            .map(|&slot| {
                if maps[slot].iter().all(|&v| v == 0.0) {
                    sums[slot]
                } else {
                    sums[slot] / steps as f64
                }
            })
            .collect();
        Ok(Combination::ChannelWeights(softmax(&means)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MethodSettings;
    use crate::methods::Probe;
    use crate::methods::sscam::tests::{class_zero, sample};
    use std::sync::Mutex;

    /// Scores a masked input by the square of its mask's sum plus one, counting the items.
    struct SquareProbe(Mutex<usize>);

    impl Probe for SquareProbe {
        fn batch_size(&self) -> usize {
            4
        }
        fn input_size(&self) -> (usize, usize) {
            (2, 2)
        }
        fn score_masked_inputs(&self, masks: &[f32], count: usize) -> crate::Result<Vec<f32>> {
            *self.0.lock().unwrap() += count;
            Ok(masks
                .chunks(4)
                .map(|m| {
                    let s = m.iter().sum::<f32>();
                    s * s + 1.0
                })
                .collect())
        }
        fn score_activations(&self, _: &[f32], _: usize) -> crate::Result<Vec<f32>> {
            unreachable!()
        }
    }

    #[test]
    fn torchcams_accumulated_coefficients_and_skipped_passes() {
        // A ramp, the same ramp doubled, and two constants.
        let acts = [
            0.0f32, 1.0, 2.0, 3.0, //
            0.0, 2.0, 4.0, 6.0, //
            7.0, 7.0, 7.0, 7.0, //
            -1.0, -1.0, -1.0, -1.0,
        ];
        let settings = MethodSettings {
            samples: Some(3),
            ..MethodSettings::default()
        };
        let noise = settings.noise.stream(0);
        let probe = SquareProbe(Mutex::new(0));
        let Combination::ChannelWeights(weights) = IsCam
            .combine(&sample(&acts, &class_zero(), &probe, &settings, &noise))
            .unwrap()
        else {
            panic!("channel weights expected")
        };
        // The ramp at three coefficients, the zero map once.
        assert_eq!(*probe.0.lock().unwrap(), 4);
        // Coefficients 1/3, 1, 2; the ramp's mask sums to 2.
        let ramp: f64 = [1.0 / 3.0, 1.0, 2.0]
            .iter()
            .map(|c| (2.0 * c) * (2.0 * c) + 1.0)
            .sum::<f64>()
            / 3.0;
        let want = softmax(&[ramp, ramp, 1.0, 1.0]);
        for (a, b) in weights.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{weights:?} {want:?}");
        }
    }
}
