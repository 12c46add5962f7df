//! Guided Grad-CAM: Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
//! Gradient-based Localization", ICCV 2017 (section 3.1); pytorch-grad-cam 1.5.7's
//! `cam_mask * gb` of its README and `cam.py`.
//!
//! The guided back-propagation gradient (see [`guided_backprop`](super::guided_backprop)) times
//! the Grad-CAM map of the first target layer as pytorch-grad-cam returns it at the input's size
//! (ReLU, min-max scaling, bilinear resize with half-pixel centres, then ReLU and min-max
//! scaling again in `aggregate_multi_layers`); the map is the product summed over the colour
//! channels.

use super::guided_backprop::{guided_gradient, sum_over_channels};
use super::{CamMethod, Combination, LayerSample};
use crate::error::Result;
use crate::plane::Plane;

/// Guided Grad-CAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuidedGradCam;

impl CamMethod for GuidedGradCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let (height, width) = probe.input_size();
        let n = layer.positions();
        let gradients = layer.gradients()?;
        // Grad-CAM: the channel means of the gradients weigh the activations (in f64, as the
        // pipeline's channel sums).
        let mut cam = vec![0.0f64; n];
        for (acts, grads) in layer.activations.chunks(n).zip(gradients.chunks(n)) {
            let weight = grads.iter().map(|&g| f64::from(g)).sum::<f64>() / n as f64;
            for (m, &a) in cam.iter_mut().zip(acts) {
                *m += weight * f64::from(a);
            }
        }
        let cam = Plane::new(
            layer.height,
            layer.width,
            cam.into_iter().map(|v| v as f32).collect(),
        )
        .relu()
        .normalise_min_max()
        .resized(height, width)
        .relu()
        .normalise_min_max();
        let guided = sum_over_channels(&guided_gradient(probe, layer.target, "guided-gradcam")?);
        Ok(Combination::InputMap(
            guided.iter().zip(&cam.data).map(|(g, c)| g * c).collect(),
        ))
    }
}
