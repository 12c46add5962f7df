//! FullGrad: Srinivas, Fleuret, "Full-Gradient Representation for Neural Network
//! Visualization", NeurIPS 2019; pytorch-grad-cam 1.5.7 `fullgrad_cam.py` (`FullGrad`).
//!
//! The input-gradient term `|∂S/∂x · x|` plus, for every layer with a bias, the bias-gradient
//! term `|b · ∂S/∂z|` at the layer's output `z`, each channel scaled to `[0, 1)`
//! (`scale_cam_image`), brought to the input's resolution with OpenCV's bilinear resize and
//! summed; the pipeline then scales the total to `[0, 1)` as the reference's
//! `aggregate_multi_layers` does. The biased layers are every convolution with a bias and
//! every 2-D BatchNorm, whatever `--layer` says (the reference ignores `target_layers` too).
//!
//! Efficiency: one backward pass through the whole network gives everything. The reference
//! keeps every layer's full-size gradient through hooks and resizes each channel separately;
//! whycam reduces each layer to one map inside the backward pass
//! ([`whycam_models::BiasGradients`]) and resizes that map once (the resize is linear and the
//! per-channel scaling affine, so the sum commutes with them).
//!
//! BatchNorms folded into their convolutions contribute through the folded bias, which is the
//! BatchNorm's effective bias `β - μ γ / sqrt(σ² + ε)` when the convolution has none (every
//! torchvision and timm CNN with BatchNorm; ONNX exporters fold the same way). A convolution
//! with a bias of its own and a BatchNorm after it is one layer to whycam and two to the
//! reference. A network with no bias at all is refused: FullGrad would be Gradient x Input.

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// FullGrad.
#[derive(Debug, Clone, Copy, Default)]
pub struct FullGrad;

impl CamMethod for FullGrad {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let (height, width) = probe.input_size();
        let image = probe.image();
        let full = probe.full_gradients(layer.target)?;
        if full.biased_layers == 0 {
            return Err(CamError::Unsupported {
                method: "fullgrad".into(),
                model: String::new(),
                layer: "(input)".into(),
                reason: crate::explainer::NO_BIAS.into(),
            });
        }
        let mut total = input_term(&full.input, image, height * width);
        for map in &full.layers {
            let map = map.resized(height, width);
            for (t, v) in total.iter_mut().zip(&map.data) {
                *t += f64::from(*v);
            }
        }
        Ok(Combination::InputMap(
            total.into_iter().map(|v| v as f32).collect(),
        ))
    }
}

/// `Σ_c minmax(|g_c · x_c|)` over the colour channels of the input, in f64.
fn input_term(gradient: &[f32], image: &[f32], plane: usize) -> Vec<f64> {
    let mut total = vec![0.0f64; plane];
    if plane == 0 {
        return total;
    }
    for (g, x) in gradient.chunks_exact(plane).zip(image.chunks_exact(plane)) {
        let products: Vec<f64> = g
            .iter()
            .zip(x)
            .map(|(&g, &x)| (f64::from(g) * f64::from(x)).abs())
            .collect();
        let low = products.iter().copied().fold(f64::INFINITY, f64::min);
        let high = products.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let scale = 1e-7 + (high - low);
        for (t, p) in total.iter_mut().zip(&products) {
            *t += (p - low) / scale;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::saliency::test_support::{LinearProbe, run, seeded};
    use crate::plane::Plane;

    #[test]
    fn input_term_scales_each_channel() {
        // One pixel row of 2, 3 channels.
        let g = [1.0, -2.0, 0.5, 0.5, 3.0, 1.0];
        let x = [1.0, 1.0, 2.0, 2.0, 1.0, -1.0];
        let t = input_term(&g, &x, 2);
        // |g x| per channel: (1, 2), (1, 1), (3, 1) -> (0, 1), (0, 0), (1, 0), each
        // divided by 1e-7 plus its range.
        let (first, second) = (2.0 / (2.0 + 1e-7), 1.0 / (1.0 + 1e-7));
        assert!(
            (t[0] - first).abs() < 1e-12 && (t[1] - second).abs() < 1e-12,
            "{t:?}"
        );
    }

    #[test]
    fn layer_maps_are_resized_and_added_to_the_input_term() {
        let mut probe = LinearProbe::new(2, 3, 1);
        // A 1 x 2 layer map: resized to 2 x 3 it is 0, 0.5, 1 along each row.
        probe.bias_layers = vec![Plane::new(1, 2, vec![0.0, 1.0])];
        let map = run(&FullGrad, &probe, &seeded(0)).unwrap();
        let input = input_term(&probe.weights, &probe.image, 6);
        let layer = [0.0, 0.5, 1.0, 0.0, 0.5, 1.0];
        // The pipeline scales the sum afterwards; the method returns it as it is.
        for ((got, a), b) in map.iter().zip(&input).zip(layer) {
            assert!(
                (f64::from(*got) - (a + b)).abs() < 1e-5,
                "{got} vs {}",
                a + b
            );
        }
    }

    #[test]
    fn a_network_without_biases_is_refused() {
        let probe = LinearProbe::new(2, 3, 1);
        let err = run(&FullGrad, &probe, &seeded(0)).unwrap_err();
        assert!(
            err.to_string()
                .contains("no convolution or BatchNorm with a bias"),
            "{err}"
        );
    }
}
