//! The CAM methods, one file each. Every method gets the same [`LayerSample`] (one image, one
//! target, one layer) and says how to combine it into a map ([`Combination`]); the shared
//! pipeline in [`Explainer`](crate::Explainer) does the rest (ReLU, scaling, layers,
//! augmentation). What each method needs, and its other facts, are in
//! [`Method::info`](crate::Method::info).

pub mod ablationcam;
pub mod cam;
pub mod eigencam;
pub mod eigengradcam;
pub mod fem;
pub mod finercam;
pub mod fullgrad;
pub mod gradcam;
pub mod gradcam_elementwise;
pub mod gradcampp;
pub mod gradient_input;
pub mod guided_backprop;
pub mod guided_gradcam;
pub mod hirescam;
pub mod integrated_gradients;
pub mod iscam;
pub mod kpcacam;
pub mod layercam;
pub mod occlusion;
pub mod randomcam;
pub mod rise;
pub mod saliency;
pub mod scorecam;
pub mod shapleycam;
pub mod smoothgrad;
pub mod smoothgradcampp;
pub mod sscam;
pub mod xgradcam;

use crate::error::{CamError, Result};
use crate::settings::{MethodSettings, NoiseStream};
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

/// Runs the model again, on modified inputs or activations, for the methods that measure how
/// the target score changes (Score-CAM, Ablation-CAM, RISE, Occlusion) or that need gradients
/// elsewhere than at the unmodified target layer (Integrated Gradients, SmoothGrad,
/// SmoothGrad-CAM++, ShapleyCAM). Scores are the target's score, one per item; inputs are
/// preprocessed images, `3 × height × width` each.
pub trait Probe: Sync {
    /// How many items to run at once.
    fn batch_size(&self) -> usize;
    /// The network input's `(height, width)`.
    fn input_size(&self) -> (usize, usize);
    /// Scores the image multiplied by each of `count` masks (`count × height × width`, values
    /// in `[0, 1]`, the same mask for every colour channel).
    fn score_masked_inputs(&self, masks: &[f32], count: usize) -> Result<Vec<f32>>;
    /// Scores `count` replacements of the target layer's activations (`count × C × h × w`),
    /// running only the part of the network after the layer.
    fn score_activations(&self, activations: &[f32], count: usize) -> Result<Vec<f32>>;
    /// The explained image as the network saw it (`3 × height × width`).
    fn image(&self) -> &[f32] {
        &[]
    }
    /// How the inputs were normalised: a raw pixel value `v` in `[0, 1]` of channel `c` is
    /// `(v - mean[c]) / std[c]` in the input (so black is `-mean / std`).
    fn normalization(&self) -> whycam_data::Normalization {
        whycam_data::Normalization::IMAGENET
    }
    /// Scores `count` arbitrary inputs.
    fn score_inputs(&self, _inputs: &[f32], _count: usize) -> Result<Vec<f32>> {
        Err(missing("probe of inputs"))
    }
    /// The gradients of `target`'s score with respect to each of `count` inputs, through the
    /// whole network (`count × 3 × height × width`).
    fn input_gradients(
        &self,
        _inputs: &[f32],
        _count: usize,
        _target: &Target,
    ) -> Result<Vec<f32>> {
        Err(missing("input gradients"))
    }
    /// The gradients of `target`'s score with respect to `count` replacements of the target
    /// layer's activations, through the part after the layer only (`count × C × h × w`).
    fn layer_gradients(
        &self,
        _activations: &[f32],
        _count: usize,
        _target: &Target,
    ) -> Result<Vec<f32>> {
        Err(missing("layer gradients"))
    }
    /// FullGrad's gradients of `target`'s score through the whole network for the image: the
    /// input gradient and the bias-gradient map of every biased layer.
    fn full_gradients(&self, _target: &Target) -> Result<FullGradients> {
        Err(missing("bias gradients"))
    }
    /// For each of `count` inputs, the target layer's activations and the gradients of
    /// `target`'s score with respect to them (each `count × C × h × w`).
    fn layer_activations_and_gradients(
        &self,
        _inputs: &[f32],
        _count: usize,
        _target: &Target,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        Err(missing("layer activations of other inputs"))
    }
}

/// What [`Probe::full_gradients`] returns for one image.
#[derive(Debug, Clone)]
pub struct FullGradients {
    /// The gradient of the score with respect to the input (`3 × height × width`).
    pub input: Vec<f32>,
    /// For every layer with a bias (a convolution's, or a BatchNorm's effective bias) that
    /// the gradient reached, `Σ_c minmax(|b_c · ∂S/∂z_c|)` at the layer's resolution.
    pub layers: Vec<crate::Plane>,
    /// How many biased layers the forward pass went through (zero: nothing to explain with).
    pub biased_layers: usize,
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
    /// The model's logits for the image.
    pub logits: &'a [f32],
    /// Sample counts, noise, steps and windows of the sampling and perturbation methods.
    pub settings: &'a MethodSettings,
    /// The random draws of this method on this image, target and layer.
    pub noise: &'a NoiseStream,
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

pub(crate) fn missing(what: &'static str) -> CamError {
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
    /// A finished signed map at the input's resolution (`height × width` of
    /// [`Probe::input_size`]): the pixel attributions, whose methods are
    /// [`Scope::Input`].
    InputMap(Vec<f32>),
}

/// Where a method's map lives ([`MethodInfo::scope`](crate::MethodInfo::scope)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// At a target layer: one map per layer, combined over layers (the CAM methods).
    Layer,
    /// On the input pixels, whatever the target layers: one map per image and target, at the
    /// input's resolution (Saliency, Integrated Gradients, Occlusion, RISE, ...).
    Input,
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
