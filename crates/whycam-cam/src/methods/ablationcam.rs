//! Ablation-CAM: Desai, Ramaswamy, "Ablation-CAM: Visual Explanations for Deep Convolutional
//! Network via Gradient-free Localization", WACV 2020.
//!
//! Each channel of the target layer is ablated in turn and the rest of the network re-run; the
//! channel's weight is the relative drop of the target score, `(y - y_k) / y`
//! (pytorch-grad-cam `ablation_cam.py`). Only the part after the target layer runs again.
//!
//! The ablated value is zero when the activations' minimum is zero (ReLU outputs), as in
//! pytorch-grad-cam; otherwise it is that minimum minus 1e7. (pytorch-grad-cam takes the
//! minimum of a batch it has already partly ablated, so successive channels get ever lower
//! values; whycam uses the image's own minimum for every channel.) A channel that already holds
//! the ablated value everywhere cannot change the score: its weight is zero without a pass.

use super::{CamMethod, Combination, LayerSample};
use crate::error::Result;

/// Ablation CAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct AblationCam;

/// What pytorch-grad-cam subtracts from the minimum when it is not zero.
const ABLATION_OFFSET: f32 = 1e7;

impl CamMethod for AblationCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let n = layer.positions();
        let acts = layer.activations;
        let min = acts.iter().copied().fold(f32::INFINITY, f32::min);
        let value = if min == 0.0 {
            0.0
        } else {
            min - ABLATION_OFFSET
        };
        let original = layer.score;
        let active: Vec<usize> = (0..layer.channels)
            .filter(|&c| acts[c * n..(c + 1) * n].iter().any(|&v| v != value))
            .collect();
        let mut ablated_scores = vec![original; layer.channels];
        for chunk in active.chunks(probe.batch_size().max(1)) {
            let mut batch = Vec::with_capacity(chunk.len() * acts.len());
            for &channel in chunk {
                let start = batch.len();
                batch.extend_from_slice(acts);
                batch[start + channel * n..start + (channel + 1) * n].fill(value);
            }
            for (&channel, score) in chunk
                .iter()
                .zip(probe.score_activations(&batch, chunk.len())?)
            {
                ablated_scores[channel] = score;
            }
        }
        let weights = ablated_scores
            .iter()
            .map(|s| (original - s) / original)
            .collect();
        Ok(Combination::ChannelWeights(weights))
    }
}
