//! RandomCAM: channel weights drawn uniformly from `[-1, 1)`, a baseline that a faithful method
//! should beat on the metrics (pytorch-grad-cam 1.5.7 `random_cam.py`; no paper).
//!
//! The weights come from the method's noise stream, so a run is reproducible from `--seed`, and
//! the parity test replays the reference's `np.random.uniform(-1, 1, size=(1, C))` draw.

use super::{CamMethod, Combination, LayerSample};
use crate::error::Result;

/// Random channel weights.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomCam;

impl CamMethod for RandomCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        // One draw of `channels` values, as the reference draws one row per image.
        let weights = layer.noise.uniform(layer.channels, -1.0, 1.0)?;
        Ok(Combination::ChannelWeights(weights))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{MethodSettings, Noise};
    use crate::target::Target;

    fn combine(noise: &Noise, key: u64) -> Result<Combination> {
        let activations = vec![1.0f32; 3 * 4];
        let target = Target {
            class: Some(0),
            name: "0".into(),
            coefficients: vec![(0, 1.0)],
        };
        let settings = MethodSettings::default();
        let stream = noise.stream(key);
        let layer = LayerSample {
            channels: 3,
            height: 2,
            width: 2,
            activations: &activations,
            gradients: None,
            class_maps: None,
            target: &target,
            score: 0.0,
            probe: None,
            logits: &[0.0],
            settings: &settings,
            noise: &stream,
        };
        RandomCam.combine(&layer)
    }

    fn weights(c: Combination) -> Vec<f32> {
        match c {
            Combination::ChannelWeights(w) => w,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn weights_are_seeded_uniform_or_replayed() {
        let seeded = Noise::Seeded(3);
        let a = weights(combine(&seeded, 1).unwrap());
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|w| (-1.0..1.0).contains(w)), "{a:?}");
        assert_eq!(a, weights(combine(&seeded, 1).unwrap()));
        assert_ne!(a, weights(combine(&seeded, 2).unwrap()));
        let replay = Noise::replay(vec![vec![0.5, -0.25, 0.75]]);
        assert_eq!(weights(combine(&replay, 0).unwrap()), [0.5, -0.25, 0.75]);
        let short = Noise::replay(vec![vec![0.5]]);
        assert!(combine(&short, 0).is_err());
    }
}
