//! CAM: Zhou, Khosla, Lapedriza, Oliva, Torralba, "Learning Deep Features for Discriminative
//! Localization", CVPR 2016.
//!
//! For a head that is global-average-pool + linear, the class score is the average over
//! positions of `map_c = Σ_k w_ck A_k + b_c`, and that map is the explanation: swap the pooling
//! and the linear layer. The pipeline computes every class's map in one contraction
//! ([`crate::class_activation_maps`]); the target's map is the same combination of them as its
//! score is of the logits. No gradient is needed, and the map's mean is the target score.
//! `--eigen-smooth` does not apply.

use super::{CamMethod, Combination, LayerSample};
use crate::error::Result;

/// Class activation mapping with the classifier's own weights.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cam;

impl CamMethod for Cam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let maps = layer.class_maps()?;
        let n = layer.positions();
        let mut map = vec![0.0f32; n];
        for &(class, coef) in &layer.target.coefficients {
            for (m, v) in map.iter_mut().zip(&maps[class * n..(class + 1) * n]) {
                *m += coef * v;
            }
        }
        Ok(Combination::Map(map))
    }
}
