//! The CAM methods, one file each. Every method gets the same [`LayerSample`] (one image, one
//! target, one layer) and says how to combine it into a map ([`Combination`]); the shared
//! pipeline in [`Explainer`](crate::Explainer) does the rest (ReLU, scaling, layers,
//! augmentation). What each method needs, and its other facts, are in
//! [`Method::info`](crate::Method::info).

pub mod ablationcam;
pub mod cam;
pub mod eigencam;
pub mod eigengradcam;
pub mod gradcam;
pub mod gradcam_elementwise;
pub mod gradcampp;
pub mod hirescam;
pub mod layercam;
pub mod scorecam;
pub mod xgradcam;

use crate::error::{CamError, Result};
use crate::target::Target;

/// What a method needs besides the target layer's activations
/// ([`MethodInfo::needs`](crate::MethodInfo::needs)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Only the activations.
    Activations,
    /// The gradient of the target score with respect to the activations.
    Gradients,
    /// The class activation maps of a global-average-pool + linear head.
    ClassMaps,
    /// Extra forward passes of the model ([`Probe`]).
    Probe,
}

/// Runs the model on modified inputs for the gradient-free methods that measure how the target
/// score changes (Score-CAM, Ablation-CAM). Scores are the target's score, one per item.
pub trait Probe: Sync {
    /// How many items to score at once.
    fn batch_size(&self) -> usize;
    /// The network input's `(height, width)`.
    fn input_size(&self) -> (usize, usize);
    /// Scores the image multiplied by each of `count` masks (`count × height × width`, values
    /// in `[0, 1]`, the same mask for every colour channel).
    fn score_masked_inputs(&self, masks: &[f32], count: usize) -> Result<Vec<f32>>;
    /// Scores `count` replacements of the target layer's activations (`count × C × h × w`),
    /// running only the part of the network after the layer.
    fn score_activations(&self, activations: &[f32], count: usize) -> Result<Vec<f32>>;
}

/// Everything a method may use about one image, one target and one layer.
pub struct LayerSample<'a> {
    /// Channels of the target layer.
    pub channels: usize,
    /// Rows of the target layer.
    pub height: usize,
    /// Columns of the target layer.
    pub width: usize,
    /// The activations, `channels × height × width`.
    pub activations: &'a [f32],
    /// The target score's gradient with respect to the activations, when the method needs it.
    pub gradients: Option<&'a [f32]>,
    /// Every class's map `Σ_k w_ck A_k + b_c` (`classes × height × width`), when the method
    /// needs them.
    pub class_maps: Option<&'a [f32]>,
    /// The target.
    pub target: &'a Target,
    /// The target score of the unmodified image.
    pub score: f32,
    /// Extra forward passes, when the method needs them.
    pub probe: Option<&'a dyn Probe>,
}

impl<'a> LayerSample<'a> {
    /// Positions per channel (`height × width`).
    pub fn positions(&self) -> usize {
        self.height * self.width
    }

    /// The gradients, or an error if the pipeline did not compute them.
    pub fn gradients(&self) -> Result<&'a [f32]> {
        self.gradients.ok_or_else(|| missing("gradients"))
    }

    /// The class activation maps, or an error if the pipeline did not compute them.
    pub fn class_maps(&self) -> Result<&'a [f32]> {
        self.class_maps
            .ok_or_else(|| missing("class activation maps"))
    }

    /// The probe, or an error if the pipeline did not provide one.
    pub fn probe(&self) -> Result<&'a dyn Probe> {
        self.probe.ok_or_else(|| missing("probe"))
    }

    /// The per-channel sums of the activations over positions (accumulated in `f64`).
    pub fn activation_sums(&self) -> Vec<f64> {
        sum_per_channel(self.activations, self.positions())
    }
}

fn missing(what: &'static str) -> CamError {
    CamError::NotProvided { what }
}

/// How a method turns the layer into a signed map (before ReLU and scaling).
#[derive(Debug, Clone)]
pub enum Combination {
    /// `Σ_k w_k · A_k`: Grad-CAM and the other channel-weighting methods.
    ChannelWeights(Vec<f32>),
    /// `Σ_k E_k` over an element-wise weighted tensor `E` (`C × h × w`).
    Elementwise(Vec<f32>),
    /// The first principal component of `E` (`C × h × w`), whatever `--eigen-smooth` says.
    Projection(Vec<f32>),
    /// A finished signed map (`h × w`), which `--eigen-smooth` leaves alone (CAM).
    Map(Vec<f32>),
}

/// One CAM method: how it combines the layer into a map. What it needs from the pipeline
/// (and its other facts) is its row of [`Method::info`](crate::Method::info).
pub trait CamMethod: Send + Sync {
    /// The method's combination for one image, target and layer.
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination>;
}

/// `Σ over positions` of `values` (`C × n`), one sum per channel, accumulated in `f64`: the
/// golden maps are exact (float64) and some methods cancel large terms.
pub(crate) fn sum_per_channel(values: &[f32], positions: usize) -> Vec<f64> {
    values
        .chunks(positions)
        .map(|c| c.iter().map(|&v| f64::from(v)).sum())
        .collect()
}

/// Element-wise `f(gradient, activation)` over the layer.
pub(crate) fn elementwise(
    layer: &LayerSample<'_>,
    f: impl Fn(f32, f32) -> f32,
) -> Result<Vec<f32>> {
    let grads = layer.gradients()?;
    Ok(grads
        .iter()
        .zip(layer.activations)
        .map(|(&g, &a)| f(g, a))
        .collect())
}
