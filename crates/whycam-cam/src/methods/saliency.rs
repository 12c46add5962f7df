//! Saliency: Simonyan, Vedaldi, Zisserman, "Deep Inside Convolutional Networks: Visualising
//! Image Classification Models and Saliency Maps", ICLR Workshops 2014.
//!
//! The absolute gradient of the target score with respect to the input pixels, `|∂S/∂x|`, as
//! Captum 0.9 `captum/attr/_core/saliency.py` (`Saliency.attribute(abs=True)`) gives it per
//! colour channel, then reduced to one map by the maximum over the colour channels, as the
//! paper does (`M_ij = max_c |w_h(i,j,c)|`). The map is non-negative.
//!
//! Also home of what the other gradient attributions share: the input's planes and the two
//! channel reductions.

use super::{CamMethod, Combination, LayerSample, Probe};
use crate::error::{CamError, Result};

/// Vanilla gradient saliency.
#[derive(Debug, Clone, Copy, Default)]
pub struct Saliency;

impl CamMethod for Saliency {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let plane = input_plane(probe)?;
        let gradients = probe.input_gradients(probe.image(), 1, layer.target)?;
        Ok(Combination::InputMap(max_abs_over_channels(
            &gradients, plane,
        )))
    }
}

/// The pixels per colour channel of the probe's input (`height × width`), after checking that
/// its image has whole channels of that size.
pub(crate) fn input_plane(probe: &dyn Probe) -> Result<usize> {
    let (height, width) = probe.input_size();
    let plane = height * width;
    let len = probe.image().len();
    if plane == 0 || len == 0 || !len.is_multiple_of(plane) {
        return Err(CamError::MethodOutput {
            what: "input values",
            got: len,
            expected: 3 * plane,
        });
    }
    Ok(plane)
}

/// `max_c |values_c|` per pixel of `channels × plane` values.
pub(crate) fn max_abs_over_channels(values: &[f32], plane: usize) -> Vec<f32> {
    let mut map = vec![0.0f32; plane];
    for channel in values.chunks(plane) {
        for (m, &v) in map.iter_mut().zip(channel) {
            *m = m.max(v.abs());
        }
    }
    map
}

/// `Σ_c values_c` per pixel of `channels × plane` values (accumulated in `f64`).
pub(crate) fn sum_over_channels(values: &[f64], plane: usize) -> Vec<f32> {
    let mut map = vec![0.0f64; plane];
    for channel in values.chunks(plane) {
        for (m, &v) in map.iter_mut().zip(channel) {
            *m += v;
        }
    }
    map.into_iter().map(|v| v as f32).collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A linear "network" for the pixel attributions' unit tests: score `Σ w · x + bias`, whose
    //! input gradient is `w` everywhere.

    use crate::error::Result;
    use crate::methods::{CamMethod, Combination, LayerSample, Probe};
    use crate::settings::{MethodSettings, Noise};
    use crate::target::Target;
    use std::sync::Mutex;

    pub struct LinearProbe {
        pub size: (usize, usize),
        pub image: Vec<f32>,
        pub weights: Vec<f32>,
        pub bias: f32,
        /// What `full_gradients` says of the biased layers (none by default).
        pub bias_layers: Vec<crate::Plane>,
        pub batch: usize,
        /// Items the probe was asked about, over all calls.
        pub items: Mutex<usize>,
        /// The largest batch it was given.
        pub largest_batch: Mutex<usize>,
    }

    impl LinearProbe {
        /// A `3 × height × width` probe with varied image values and weights.
        pub fn new(height: usize, width: usize, batch: usize) -> Self {
            let n = 3 * height * width;
            Self {
                size: (height, width),
                image: (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect(),
                weights: (0..n).map(|i| ((i * 5 % 13) as f32 - 6.0) / 3.0).collect(),
                bias: 0.5,
                bias_layers: Vec::new(),
                batch,
                items: Mutex::new(0),
                largest_batch: Mutex::new(0),
            }
        }

        fn count(&self, count: usize) {
            *self.items.lock().unwrap() += count;
            let mut largest = self.largest_batch.lock().unwrap();
            *largest = (*largest).max(count);
        }

        pub fn score(&self, input: &[f32]) -> f32 {
            input
                .iter()
                .zip(&self.weights)
                .map(|(x, w)| x * w)
                .sum::<f32>()
                + self.bias
        }
    }

    impl Probe for LinearProbe {
        fn batch_size(&self) -> usize {
            self.batch
        }
        fn input_size(&self) -> (usize, usize) {
            self.size
        }
        fn image(&self) -> &[f32] {
            &self.image
        }
        fn score_masked_inputs(&self, masks: &[f32], count: usize) -> Result<Vec<f32>> {
            let plane = self.size.0 * self.size.1;
            let inputs: Vec<f32> = masks
                .chunks(plane)
                .flat_map(|m| {
                    self.image
                        .chunks(plane)
                        .flat_map(move |c| c.iter().zip(m).map(|(x, m)| x * m))
                })
                .collect();
            self.score_inputs(&inputs, count)
        }
        fn score_activations(&self, _: &[f32], _: usize) -> Result<Vec<f32>> {
            unreachable!()
        }
        fn full_gradients(&self, _: &Target) -> Result<crate::methods::FullGradients> {
            Ok(crate::methods::FullGradients {
                input: self.weights.clone(),
                layers: self.bias_layers.clone(),
                biased_layers: self.bias_layers.len(),
            })
        }
        fn score_inputs(&self, inputs: &[f32], count: usize) -> Result<Vec<f32>> {
            assert_eq!(inputs.len(), count * self.image.len());
            self.count(count);
            Ok(inputs
                .chunks(self.image.len())
                .map(|x| self.score(x))
                .collect())
        }
        fn input_gradients(&self, inputs: &[f32], count: usize, _: &Target) -> Result<Vec<f32>> {
            assert_eq!(inputs.len(), count * self.image.len());
            self.count(count);
            Ok(self.weights.repeat(count))
        }
    }

    /// Runs `method` on the probe; returns the input map.
    pub fn run(
        method: &dyn CamMethod,
        probe: &LinearProbe,
        settings: &MethodSettings,
    ) -> Result<Vec<f32>> {
        let target = Target {
            class: Some(0),
            name: "0".into(),
            coefficients: vec![(0, 1.0)],
        };
        let noise = settings.noise.stream(1);
        let logits = [0.0f32];
        let layer = LayerSample {
            channels: 1,
            height: 1,
            width: 1,
            activations: &[0.0],
            gradients: None,
            class_maps: None,
            target: &target,
            score: probe.score(&probe.image),
            probe: Some(probe),
            logits: &logits,
            settings,
            noise: &noise,
        };
        match method.combine(&layer)? {
            Combination::InputMap(map) => Ok(map),
            other => panic!("not an input map: {other:?}"),
        }
    }

    /// The default settings with noise seeded by `seed`.
    pub fn seeded(seed: u64) -> MethodSettings {
        MethodSettings {
            noise: Noise::Seeded(seed),
            ..MethodSettings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{LinearProbe, run, seeded};
    use super::*;

    #[test]
    fn saliency_is_the_largest_absolute_gradient_over_channels() {
        let probe = LinearProbe::new(3, 4, 1);
        let map = run(&Saliency, &probe, &seeded(0)).unwrap();
        let w = &probe.weights;
        for (p, &v) in map.iter().enumerate() {
            let expected = (0..3).map(|c| w[c * 12 + p].abs()).fold(0.0, f32::max);
            assert_eq!(v, expected, "pixel {p}");
        }
        assert_eq!(*probe.items.lock().unwrap(), 1);
    }

    #[test]
    fn reductions_over_channels() {
        assert_eq!(
            max_abs_over_channels(&[1.0, -3.0, -2.0, 2.0], 2),
            vec![2.0, 3.0]
        );
        assert_eq!(
            sum_over_channels(&[1.0, -3.0, -2.0, 2.0, 0.5, 0.5], 2),
            vec![-0.5, -0.5]
        );
    }
}
