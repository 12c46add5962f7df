//! Guided back-propagation: Springenberg, Dosovitskiy, Brox, Riedmiller, "Striving for
//! Simplicity: The All Convolutional Net", ICLR Workshops 2015; pytorch-grad-cam 1.5.7
//! `guided_backprop.py` (`GuidedBackpropReLUModel`), Captum's `GuidedBackprop`.
//!
//! The gradient of the target score with respect to the input, every rectifier passing back
//! only the positive part of its incoming gradient where it let its input through (inside a
//! [`whycam_models::GuidedBackprop`] scope). The map is that gradient summed over the colour
//! channels (Captum's `visualize_image_attr`); pytorch-grad-cam returns the three channels as
//! an image.
//! whycam guides ReLU6 as well as ReLU (pytorch-grad-cam and Captum replace only `nn.ReLU`
//! modules, so on EfficientNet-Lite or MobileNetV2 theirs is the plain gradient); a network
//! with neither is refused: guided back-propagation would be the plain gradient there.

use super::{CamMethod, Combination, LayerSample, Probe};
use crate::error::{CamError, Result};
use crate::target::Target;
use whycam_models::GuidedBackprop as GuidedScope;

/// Guided back-propagation (the method; [`whycam_models::GuidedBackprop`] is the scope that
/// guides the rectifiers).
#[derive(Debug, Clone, Copy, Default)]
pub struct GuidedBackpropagation;

impl CamMethod for GuidedBackpropagation {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let gradient = guided_gradient(layer.probe()?, layer.target, "guided-backprop")?;
        Ok(Combination::InputMap(sum_over_channels(&gradient)))
    }
}

/// The guided gradient of `target`'s score with respect to the probe's image (`3 × H × W`).
pub(crate) fn guided_gradient(
    probe: &dyn Probe,
    target: &Target,
    method: &str,
) -> Result<Vec<f32>> {
    let scope = GuidedScope::enter();
    let gradient = probe.input_gradients(probe.image(), 1, target)?;
    if scope.rectifiers() == 0 {
        return Err(CamError::Unsupported {
            method: method.to_string(),
            model: String::new(),
            layer: "(input)".into(),
            reason: crate::explainer::NO_RECTIFIER.into(),
        });
    }
    Ok(gradient)
}

/// `Σ_c x[c]` of a `3 × H × W` attribution.
pub(crate) fn sum_over_channels(values: &[f32]) -> Vec<f32> {
    let plane = values.len() / 3;
    (0..plane)
        .map(|i| values[i] + values[plane + i] + values[2 * plane + i])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe whose "network" is the identity: no rectifier runs.
    struct Linear;

    impl Probe for Linear {
        fn batch_size(&self) -> usize {
            1
        }
        fn input_size(&self) -> (usize, usize) {
            (1, 2)
        }
        fn score_masked_inputs(&self, _: &[f32], _: usize) -> Result<Vec<f32>> {
            unreachable!()
        }
        fn score_activations(&self, _: &[f32], _: usize) -> Result<Vec<f32>> {
            unreachable!()
        }
        fn image(&self) -> &[f32] {
            &[1.0; 6]
        }
        fn input_gradients(&self, inputs: &[f32], _: usize, _: &Target) -> Result<Vec<f32>> {
            Ok(vec![1.0; inputs.len()])
        }
    }

    #[test]
    fn a_network_without_rectifiers_is_refused() {
        let target = Target {
            class: Some(0),
            name: "0".into(),
            coefficients: vec![(0, 1.0)],
        };
        let e = guided_gradient(&Linear, &target, "guided-backprop")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no ReLU or ReLU6"), "{e}");
        assert_eq!(
            sum_over_channels(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            vec![9.0, 12.0]
        );
    }
}
