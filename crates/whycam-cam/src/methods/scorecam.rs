//! Score-CAM: Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional
//! Neural Networks", CVPR Workshops 2020.
//!
//! Each channel, upsampled to the input (bilinear, corners aligned) and min-max scaled to
//! `[0, 1]`, masks the image; the target scores of the masked images, through a softmax over
//! channels, are the channel weights (pytorch-grad-cam `score_cam.py`).
//!
//! Channels whose min-max scaled maps are identical give identical masks and so identical
//! scores, and in deep layers many are (all-zero channels, channels with one active
//! position): each distinct mask is scored once. That changes no weight and saves most of the
//! forward passes pytorch-grad-cam makes.

use super::{CamMethod, Combination, LayerSample};
use crate::error::Result;
use crate::plane::Plane;
use std::collections::HashMap;

/// Score-weighted CAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScoreCam;

impl CamMethod for ScoreCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let (height, width) = probe.input_size();
        let n = layer.positions();
        // Distinct scaled maps, and which one each channel has.
        let mut distinct: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut representatives = Vec::new();
        let owner: Vec<usize> = layer
            .activations
            .chunks(n)
            .enumerate()
            .map(|(channel, values)| {
                let next = representatives.len();
                let slot = *distinct.entry(scaled_key(values)).or_insert(next);
                if slot == next {
                    representatives.push(channel);
                }
                slot
            })
            .collect();
        tracing::debug!(
            channels = layer.channels,
            distinct = representatives.len(),
            "Score-CAM masks"
        );
        let mut scores = Vec::with_capacity(representatives.len());
        for chunk in representatives.chunks(probe.batch_size().max(1)) {
            let mut masks = Vec::with_capacity(chunk.len() * height * width);
            for &channel in chunk {
                let values = &layer.activations[channel * n..(channel + 1) * n];
                masks.extend(mask(values, layer.height, layer.width, height, width));
            }
            scores.extend(probe.score_masked_inputs(&masks, chunk.len())?);
        }
        let per_channel: Vec<f32> = owner.iter().map(|&slot| scores[slot]).collect();
        Ok(Combination::ChannelWeights(softmax(&per_channel)))
    }
}

/// A channel upsampled to the input and scaled to `[0, 1]` as pytorch-grad-cam does it.
fn mask(values: &[f32], h: usize, w: usize, height: usize, width: usize) -> Vec<f32> {
    let up = Plane::new(h, w, values.to_vec()).resized_align_corners(height, width);
    let min = up.data.iter().copied().fold(f32::INFINITY, f32::min);
    let max = up.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let range = max - min + 1e-8;
    up.data.into_iter().map(|v| (v - min) / range).collect()
}

/// The bits of the channel scaled to `[0, 1]`; every constant channel gets the same key.
fn scaled_key(values: &[f32]) -> Vec<u32> {
    let min = values.iter().copied().fold(f32::INFINITY, f32::min);
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max <= min || !(max - min).is_finite() {
        return Vec::new();
    }
    values
        .iter()
        .map(|v| ((v - min) / (max - min)).to_bits())
        .collect()
}

fn softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = scores.iter().map(|&s| f64::from(s - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / total) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::Probe;
    use crate::target::Target;
    use std::sync::Mutex;

    /// Scores a masked input by the mean of its mask, and counts the calls.
    struct MeanProbe(Mutex<usize>);

    impl Probe for MeanProbe {
        fn batch_size(&self) -> usize {
            2
        }
        fn input_size(&self) -> (usize, usize) {
            (4, 4)
        }
        fn score_masked_inputs(&self, masks: &[f32], count: usize) -> crate::Result<Vec<f32>> {
            *self.0.lock().unwrap() += count;
            Ok(masks
                .chunks(16)
                .map(|m| m.iter().sum::<f32>() / 16.0)
                .collect())
        }
        fn score_activations(&self, _: &[f32], _: usize) -> crate::Result<Vec<f32>> {
            unreachable!()
        }
    }

    #[test]
    fn identical_masks_are_scored_once_and_weights_are_a_softmax() {
        // 2 × 2 channels: zero, a single peak, the same peak scaled, a ramp.
        let acts = [
            0.0, 0.0, 0.0, 0.0, //
            0.0, 2.0, 0.0, 0.0, //
            0.0, 5.0, 0.0, 0.0, //
            0.0, 1.0, 2.0, 3.0,
        ];
        let probe = MeanProbe(Mutex::new(0));
        let layer = LayerSample {
            channels: 4,
            height: 2,
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
            settings: &crate::MethodSettings::default(),
            noise: &crate::Noise::Seeded(0).stream(0),
        };
        let Combination::ChannelWeights(weights) = ScoreCam.combine(&layer).unwrap() else {
            panic!("channel weights expected")
        };
        assert_eq!(*probe.0.lock().unwrap(), 3);
        assert!((weights.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(weights[1], weights[2]);
        // The zero channel's mask is all zeros: the lowest score, so the lowest weight.
        assert!(
            weights[0] < weights[1] && weights[0] < weights[3],
            "{weights:?}"
        );
    }
}
