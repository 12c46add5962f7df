//! The pipeline every method shares, after pytorch-grad-cam's `base_cam.py`: one forward pass
//! that keeps the target layers' activations, the gradients (computed only through the part of
//! the network after each target layer), each method's combination, then ReLU, min-max scaling,
//! the mean over layers, and optional test-time augmentation.
//!
//! Gradients flow only where they are needed: the forward pass runs without autodiff; the
//! activation of a target layer then becomes the one tracked leaf, the rest of the network runs
//! from it, and the target score is differentiated. The weights are not tracked, so no
//! parameter gradient is computed either. pytorch-grad-cam back-propagates through the whole
//! network, parameters included.

use crate::error::{CamError, Result};
use crate::method::Method;
use crate::methods::{Combination, FullGradients, LayerSample, Needs, Probe, Scope};
use crate::plane::Plane;
use crate::projection::first_component;
use crate::settings::{MethodSettings, Noise, image_key, noise_key};
use crate::target::{Target, TargetSpec};
use burn::prelude::*;
use whycam_data::Normalization;
use whycam_models::{Explainable, LinearHead, Model, Trace};

/// How to explain.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    /// The methods, each giving one map per image and target.
    pub methods: Vec<Method>,
    /// Target layer names; empty means the model's default (the layer feeding the pooling).
    pub layers: Vec<String>,
    /// Average over horizontal flips × input scalings 0.9/1/1.1 (pytorch-grad-cam's
    /// `aug_smooth`).
    pub aug_smooth: bool,
    /// Replace the channel sum by the first principal component (`eigen_smooth`).
    pub eigen_smooth: bool,
    /// Items per forward pass for Score-CAM's masked inputs and Ablation-CAM's ablations;
    /// `None` takes each method's own
    /// [`default_probe_batch_size`](crate::MethodInfo::default_probe_batch_size).
    pub probe_batch_size: Option<usize>,
    /// Samples, noise, steps and windows of the sampling, perturbation and path methods.
    pub settings: MethodSettings,
    /// How the images were normalised (what a black pixel is); `None`: the model's own.
    pub normalization: Option<Normalization>,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        Self {
            methods: vec![Method::GradCam],
            layers: Vec::new(),
            aug_smooth: false,
            eigen_smooth: false,
            probe_batch_size: None,
            settings: MethodSettings::default(),
            normalization: None,
        }
    }
}

/// One image's explanations.
#[derive(Debug, Clone)]
pub struct ImageExplanation {
    /// The model's logits.
    pub logits: Vec<f32>,
    /// One entry per explained target.
    pub targets: Vec<TargetExplanation>,
}

/// The maps of one target.
#[derive(Debug, Clone)]
pub struct TargetExplanation {
    /// What was explained.
    pub target: Target,
    /// The target score of the image.
    pub score: f32,
    /// One per method, in the order of [`ExplainOptions::methods`].
    pub maps: Vec<MethodMap>,
}

/// One method's result for one image and target.
#[derive(Debug, Clone)]
pub struct MethodMap {
    /// The method.
    pub method: Method,
    /// The explanation in `[0, 1]`: at the target layer's resolution for one layer, at the
    /// input's for several (pytorch-grad-cam's output before its final resize).
    pub map: Plane,
    /// Per target layer, the signed map before ReLU and scaling (for CAM, its mean is the
    /// target score).
    pub signed: Vec<Plane>,
}

#[derive(Debug, Clone)]
struct TargetLayer {
    name: String,
    index: usize,
}

/// Explains a model's decisions with a set of methods at a set of layers.
pub struct Explainer<'m> {
    model: &'m Model,
    options: ExplainOptions,
    layers: Vec<TargetLayer>,
    head: Option<LinearHead>,
}

impl<'m> Explainer<'m> {
    /// Checks the options against the model: the layers exist (and survived BatchNorm
    /// folding), and CAM has the global-average-pool + linear head and the layer feeding it.
    pub fn new(model: &'m Model, options: ExplainOptions) -> Result<Self> {
        if options.methods.is_empty() {
            return Err(CamError::NoMethod);
        }
        options.settings.validate()?;
        let net = &model.net;
        let names = if options.layers.is_empty() {
            vec![model.layer_name(net.default_layer()).to_string()]
        } else {
            options.layers.clone()
        };
        let layers = names
            .into_iter()
            .map(|name| {
                Ok(TargetLayer {
                    index: model.layer(&name)?,
                    name,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let needs_maps = options
            .methods
            .iter()
            .any(|m| m.info().needs == Needs::ClassMaps);
        let head = if needs_maps {
            let unsupported = |layer: &str, reason: String| CamError::Unsupported {
                method: Method::Cam.title().to_string(),
                model: model.name.clone(),
                layer: layer.to_string(),
                reason,
            };
            let last = net.default_layer();
            let head = net.linear_head().ok_or_else(|| {
                unsupported(
                    &layers[0].name,
                    "its head is not global-average-pool + linear; use a gradient method \
                     such as gradcam, or retrain the head (whycam train --head linear)"
                        .into(),
                )
            })?;
            if let Some(other) = layers.iter().find(|l| l.index != last) {
                return Err(unsupported(
                    &other.name,
                    format!(
                        "CAM needs the layer whose output feeds the global average pool (\"{}\")",
                        model.layer_name(last)
                    ),
                ));
            }
            Some(head)
        } else {
            None
        };
        check_structure(model, &options.methods)?;
        Ok(Self {
            model,
            options,
            layers,
            head,
        })
    }

    /// A method's refusal with the model's and the layer's names filled in where the method
    /// left them empty (a method does not know them).
    fn named(&self, error: CamError, layer: &str) -> CamError {
        match error {
            CamError::Unsupported {
                method,
                model,
                layer: at,
                reason,
            } => CamError::Unsupported {
                method,
                model: if model.is_empty() {
                    self.model.name.clone()
                } else {
                    model
                },
                layer: if at.is_empty() { layer.to_string() } else { at },
                reason,
            },
            other => other,
        }
    }

    /// The target layers' names, as given (or the default layer's).
    pub fn layer_names(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.name.as_str()).collect()
    }

    /// The methods, in order.
    pub fn methods(&self) -> &[Method] {
        &self.options.methods
    }

    /// Explains a batch of preprocessed images (`[N, 3, H, W]`): `spec` resolved per image
    /// (with [`TargetSpec::Auto`], its `top_k` best classes), every method for every target.
    pub fn explain(
        &self,
        images: Tensor<4>,
        spec: &TargetSpec,
        top_k: usize,
        labels: &[String],
    ) -> Result<Vec<ImageExplanation>> {
        let [n, _, _, _] = images.dims();
        let pass = self.forward(images.clone())?;
        let classes = pass.logits.len() / n.max(1);
        let logits: Vec<Vec<f32>> = pass.logits.chunks(classes).map(<[f32]>::to_vec).collect();
        let targets: Vec<Vec<Target>> = logits
            .iter()
            .map(|l| spec.resolve(l, top_k, labels))
            .collect();
        let mut maps = self.maps(&images, &pass, &targets)?;
        if self.options.aug_smooth {
            self.smooth_over_augmentations(&images, &targets, &mut maps)?;
        }
        Ok(logits
            .into_iter()
            .zip(targets)
            .zip(maps)
            .map(|((logits, targets), maps)| ImageExplanation {
                targets: targets
                    .into_iter()
                    .zip(maps)
                    .map(|(target, maps)| TargetExplanation {
                        score: target.score(&logits),
                        target,
                        maps,
                    })
                    .collect(),
                logits,
            })
            .collect())
    }

    /// pytorch-grad-cam's `forward_augmentation_smoothing`: the mean of the maps of the six
    /// variants flip × {0.9, 1, 1.1} (the input tensor multiplied), each flipped back. The
    /// signed maps stay those of the unmodified images.
    fn smooth_over_augmentations(
        &self,
        images: &Tensor<4>,
        targets: &[Vec<Target>],
        maps: &mut [Vec<Vec<MethodMap>>],
    ) -> Result<()> {
        let mut sums: Vec<Vec<Vec<Plane>>> = maps
            .iter()
            .map(|t| {
                t.iter()
                    .map(|m| m.iter().map(|m| m.map.clone()).collect())
                    .collect()
            })
            .collect();
        for flip in [false, true] {
            for factor in [0.9f32, 1.0, 1.1] {
                if !flip && factor == 1.0 {
                    continue; // the unmodified pass, already in `sums`
                }
                let mut x = images.clone().mul_scalar(factor);
                if flip {
                    x = x.flip([3]);
                }
                let pass = self.forward(x.clone())?;
                let variant = self.maps(&x, &pass, targets)?;
                for (sum, variant) in sums.iter_mut().flatten().zip(variant.into_iter().flatten()) {
                    for (s, m) in sum.iter_mut().zip(variant) {
                        let m = if flip {
                            m.map.flipped_horizontally()
                        } else {
                            m.map
                        };
                        for (a, b) in s.data.iter_mut().zip(m.data) {
                            *a += b;
                        }
                    }
                }
            }
        }
        for (image, sum) in maps.iter_mut().flatten().zip(sums.into_iter().flatten()) {
            for (m, s) in image.iter_mut().zip(sum) {
                m.map = s.scaled_by(1.0 / 6.0);
            }
        }
        Ok(())
    }

    /// Runs the network once, keeping the target layers' outputs (and what resuming from
    /// them needs).
    fn forward(&self, images: Tensor<4>) -> Result<Pass> {
        let layers: Vec<usize> = self.layers.iter().map(|l| l.index).collect();
        let trace = self.model.net.trace(images, &layers)?;
        Ok(Pass {
            logits: to_vec(trace.logits.clone()),
            trace,
        })
    }

    /// The maps `[image][target][method]` of one forward pass.
    fn maps(
        &self,
        images: &Tensor<4>,
        pass: &Pass,
        targets: &[Vec<Target>],
    ) -> Result<Vec<Vec<Vec<MethodMap>>>> {
        let net = &*self.model.net;
        let trace = &pass.trace;
        let [n, _, height, width] = images.dims();
        let device = images.device();
        let classes = pass.logits.len() / n.max(1);
        let needs = |need: Needs| self.options.methods.iter().any(|m| m.info().needs == need);
        let layers: Vec<LayerData> = trace
            .activations
            .iter()
            .map(|act| {
                let [_, c, h, w] = act.dims();
                let class_maps = match (&self.head, needs(Needs::ClassMaps)) {
                    (Some(head), true) => Some(to_vec(class_activation_maps(head, act.clone()))),
                    _ => None,
                };
                LayerData {
                    dims: [c, h, w],
                    values: to_vec(act.clone()),
                    class_maps,
                }
            })
            .collect();
        // The probes' inputs; also what keys the seeded noise.
        let inputs = to_vec(images.clone());
        let image_len = 3 * height * width;
        // Only seeded noise is keyed by the image; a replay hands out its recording in order.
        let image_keys: Vec<[u8; 8]> = match self.options.settings.noise {
            Noise::Seeded(_) => inputs
                .chunks(image_len.max(1))
                .map(|image| image_key(image).to_le_bytes())
                .collect(),
            Noise::Replay(_) => vec![[0; 8]; n],
        };
        let ranks = targets.iter().map(Vec::len).max().unwrap_or(0);
        let mut out: Vec<Vec<Vec<MethodMap>>> = targets
            .iter()
            .map(|t| Vec::with_capacity(t.len()))
            .collect();
        for rank in 0..ranks {
            let coefficients = coefficient_matrix(targets, rank, n, classes);
            let gradients: Vec<Option<Vec<f32>>> = trace
                .activations
                .iter()
                .enumerate()
                .map(|(position, act)| {
                    needs(Needs::Gradients)
                        .then(|| {
                            let coef = Tensor::<2>::from_data(
                                TensorData::new(coefficients.clone(), [n, classes]),
                                &act.device(),
                            );
                            target_gradients(net, trace, position, coef).map(to_vec)
                        })
                        .transpose()
                })
                .collect::<Result<_>>()?;
            for (image, image_targets) in targets.iter().enumerate() {
                let Some(target) = image_targets.get(rank) else {
                    continue;
                };
                let logits = &pass.logits[image * classes..(image + 1) * classes];
                let score = target.score(logits);
                let target_key: Vec<u8> = target
                    .coefficients
                    .iter()
                    .flat_map(|&(j, c)| (j as u64).to_le_bytes().into_iter().chain(c.to_le_bytes()))
                    .collect();
                let mut per_method = Vec::with_capacity(self.options.methods.len());
                for &method in &self.options.methods {
                    let on_input = method.info().scope == Scope::Input;
                    let mut signed = Vec::with_capacity(layers.len());
                    for (position, (layer, grads)) in layers.iter().zip(&gradients).enumerate() {
                        // A pixel attribution does not depend on the layer: made once.
                        if on_input && position > 0 {
                            break;
                        }
                        let [c, h, w] = layer.dims;
                        let size = c * h * w;
                        let probe = ModelProbe {
                            net,
                            trace,
                            position,
                            image_index: image,
                            image: &inputs[image * image_len..(image + 1) * image_len],
                            input_size: (height, width),
                            layer_dims: layer.dims,
                            layer_index: self.layers[position].index,
                            normalization: self
                                .options
                                .normalization
                                .unwrap_or_else(|| self.model.normalization()),
                            classes,
                            device: &device,
                            target,
                            // Only the probing methods read it.
                            batch_size: self
                                .options
                                .probe_batch_size
                                .or(method.info().default_probe_batch_size)
                                .unwrap_or(1),
                        };
                        let noise = self.options.settings.noise.stream(noise_key(&[
                            &image_keys[image],
                            &target_key,
                            method.id().as_bytes(),
                            &(position as u64).to_le_bytes(),
                        ]));
                        let sample = LayerSample {
                            channels: c,
                            height: h,
                            width: w,
                            activations: &layer.values[image * size..(image + 1) * size],
                            gradients: grads.as_ref().map(|g| &g[image * size..(image + 1) * size]),
                            class_maps: layer.class_maps.as_ref().map(|m| {
                                let per_image = classes * h * w;
                                &m[image * per_image..(image + 1) * per_image]
                            }),
                            target,
                            score,
                            probe: Some(&probe),
                            logits,
                            settings: &self.options.settings,
                            noise: &noise,
                        };
                        let combination = method
                            .implementation()
                            .combine(&sample)
                            .map_err(|e| self.named(e, &self.layers[position].name))?;
                        signed.push(self.signed_map(combination, &sample, (height, width))?);
                    }
                    let map = aggregate_layers(&signed, height, width);
                    per_method.push(MethodMap {
                        method,
                        map,
                        signed,
                    });
                }
                out[image].push(per_method);
            }
        }
        Ok(out)
    }

    /// Turns a method's combination into the signed map (pytorch-grad-cam's `get_cam_image`);
    /// `input_size` is the size of an [`Combination::InputMap`].
    fn signed_map(
        &self,
        combination: Combination,
        layer: &LayerSample<'_>,
        input_size: (usize, usize),
    ) -> Result<Plane> {
        let (c, h, w) = (layer.channels, layer.height, layer.width);
        let n = h * w;
        // Accumulated in f64: thousands of channels with mixed signs cancel.
        let sum_channels = |tensor: &[f32]| {
            let mut map = vec![0.0f64; n];
            for channel in tensor.chunks(n) {
                for (m, &v) in map.iter_mut().zip(channel) {
                    *m += f64::from(v);
                }
            }
            Plane::new(h, w, map.into_iter().map(|v| v as f32).collect())
        };
        let expect = |what: &'static str, got: usize, wanted: usize| {
            if got == wanted {
                Ok(())
            } else {
                Err(CamError::MethodOutput {
                    what,
                    got,
                    expected: wanted,
                })
            }
        };
        Ok(match combination {
            Combination::ChannelWeights(weights) => {
                expect("channel weights", weights.len(), c)?;
                let weighted: Vec<f32> = layer
                    .activations
                    .chunks(n)
                    .zip(&weights)
                    .flat_map(|(a, &wk)| a.iter().map(move |v| v * wk))
                    .collect();
                if self.options.eigen_smooth {
                    first_component(&weighted, c, h, w)
                } else {
                    sum_channels(&weighted)
                }
            }
            Combination::Elementwise(tensor) => {
                expect("weighted activations", tensor.len(), c * n)?;
                if self.options.eigen_smooth {
                    first_component(&tensor, c, h, w)
                } else {
                    sum_channels(&tensor)
                }
            }
            Combination::Projection(tensor) => {
                expect("weighted activations", tensor.len(), c * n)?;
                first_component(&tensor, c, h, w)
            }
            Combination::Map(map) => {
                expect("map", map.len(), n)?;
                Plane::new(h, w, map)
            }
            Combination::InputMap(map) => {
                let (height, width) = input_size;
                expect("input map", map.len(), height * width)?;
                Plane::new(height, width, map)
            }
        })
    }
}

/// pytorch-grad-cam's per-layer ReLU and scaling, then `aggregate_multi_layers`: one layer
/// stays at its resolution; several are resized to the input (`height × width`) and averaged.
fn aggregate_layers(signed: &[Plane], height: usize, width: usize) -> Plane {
    let scaled: Vec<Plane> = signed
        .iter()
        .map(|p| p.clone().relu().normalise_min_max())
        .collect();
    let (h, w) = if scaled.len() == 1 {
        (scaled[0].height, scaled[0].width)
    } else {
        (height, width)
    };
    let mut mean = Plane::zeros(h, w);
    for p in &scaled {
        for (m, v) in mean.data.iter_mut().zip(p.resized(h, w).relu().data) {
            *m += v;
        }
    }
    mean.scaled_by(1.0 / scaled.len() as f32)
        .normalise_min_max()
}

/// The trace of one forward pass and its logits on the host.
struct Pass {
    trace: Trace,
    logits: Vec<f32>,
}

/// A target layer's activations on the CPU.
struct LayerData {
    dims: [usize; 3],
    values: Vec<f32>,
    class_maps: Option<Vec<f32>>,
}

/// `[n, classes]` coefficients of each image's `rank`-th target (zeros where it has none).
fn coefficient_matrix(targets: &[Vec<Target>], rank: usize, n: usize, classes: usize) -> Vec<f32> {
    let mut matrix = vec![0.0f32; n * classes];
    for (image, t) in targets.iter().enumerate() {
        if let Some(t) = t.get(rank) {
            for &(j, c) in &t.coefficients {
                matrix[image * classes + j] += c;
            }
        }
    }
    matrix
}

/// The gradient of `Σ_i Σ_j coefficients[i, j] · logit_ij` with respect to the activations
/// of the trace's layer at `position`, differentiating only what follows it.
pub fn target_gradients(
    net: &dyn Explainable,
    trace: &Trace,
    position: usize,
    coefficients: Tensor<2>,
) -> Result<Tensor<4>> {
    let leaf = trace.activations[position]
        .clone()
        .autodiff()
        .require_grad();
    let logits = net.resume(trace, position, leaf.clone())?;
    let score = (logits * coefficients).sum();
    let grads = score.backward();
    let dims = leaf.dims();
    Ok(leaf
        .grad(&grads)
        .unwrap_or_else(|| Tensor::zeros(dims, &leaf.device())))
}

/// CAM for every class at once: the feature map `[N, C, h, w]` contracted with the classifier
/// weight `[K, C]`, plus the bias at every position: `[N, K, h, w]`. Averaged over positions,
/// each map is the class's logit.
pub fn class_activation_maps(head: &LinearHead, features: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = features.dims();
    let k = head.weight.dims()[0];
    let weight = head.weight.clone().unsqueeze::<3>().repeat_dim(0, n);
    let maps = weight.matmul(features.reshape([n, c, h * w]));
    let maps = match &head.bias {
        Some(bias) => maps + bias.clone().reshape([1, k, 1]),
        None => maps,
    };
    maps.reshape([n, k, h, w])
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data")
}

/// The extra forward passes of Score-CAM and Ablation-CAM for one image and target.
struct ModelProbe<'a> {
    net: &'a dyn Explainable,
    trace: &'a Trace,
    position: usize,
    image_index: usize,
    image: &'a [f32],
    input_size: (usize, usize),
    layer_dims: [usize; 3],
    /// The target layer's index in the model's layers.
    layer_index: usize,
    /// Number of logits.
    classes: usize,
    /// How the inputs were normalised.
    normalization: Normalization,
    /// Where the explained images are, and so where the probes run.
    device: &'a Device,
    target: &'a Target,
    batch_size: usize,
}

impl ModelProbe<'_> {
    fn scores(&self, logits: Tensor<2>) -> Vec<f32> {
        let classes = logits.dims()[1];
        to_vec(logits)
            .chunks(classes)
            .map(|l| self.target.score(l))
            .collect()
    }

    /// `count` preprocessed inputs as a tensor, their length checked.
    fn inputs(&self, inputs: &[f32], count: usize) -> Result<Tensor<4>> {
        let (h, w) = self.input_size;
        check_len("inputs", inputs.len(), count * 3 * h * w)?;
        Ok(Tensor::from_data(
            TensorData::new(inputs.to_vec(), [count, 3, h, w]),
            self.device,
        ))
    }

    /// `count` replacements of the layer's activations as a tensor, their length checked.
    fn activations(&self, activations: &[f32], count: usize) -> Result<Tensor<4>> {
        let [c, h, w] = self.layer_dims;
        check_len("activations", activations.len(), count * c * h * w)?;
        Ok(Tensor::from_data(
            TensorData::new(activations.to_vec(), [count, c, h, w]),
            self.device,
        ))
    }

    /// The `[count, classes]` coefficients of `target`, the same for every item.
    fn coefficients(&self, target: &Target, count: usize) -> Tensor<2> {
        let one = coefficient_matrix(&[vec![target.clone()]], 0, 1, self.classes);
        Tensor::<2>::from_data(TensorData::new(one, [1, self.classes]), self.device)
            .repeat_dim(0, count)
    }
}

/// Refuses, before any image is read, the methods that need something the network lacks:
/// guided back-propagation a rectifier (ReLU or ReLU6), FullGrad a bias. One forward pass of a
/// blank image at the model's size finds out, run only when such a method is asked for.
fn check_structure(model: &Model, methods: &[Method]) -> Result<()> {
    let guided = methods
        .iter()
        .find(|m| matches!(m, Method::GuidedBackprop | Method::GuidedGradCam));
    let full = methods.iter().find(|m| **m == Method::FullGrad);
    if guided.is_none() && full.is_none() {
        return Ok(());
    }
    let size = model.native_size();
    let blank = Tensor::<4>::zeros([1, 3, size, size], model.device())
        .autodiff()
        .require_grad();
    let rectifiers = whycam_models::GuidedBackprop::enter();
    let biases = whycam_models::BiasGradients::enter();
    model.net.forward(blank)?;
    let refuse = |method: &Method, reason: &str| CamError::Unsupported {
        method: method.id().to_string(),
        model: model.name.clone(),
        layer: "(input)".to_string(),
        reason: reason.to_string(),
    };
    if let Some(method) = guided.filter(|_| rectifiers.rectifiers() == 0) {
        return Err(refuse(method, NO_RECTIFIER));
    }
    if let Some(method) = full.filter(|_| biases.layers() == 0) {
        return Err(refuse(method, NO_BIAS));
    }
    Ok(())
}

/// Why guided back-propagation refuses a network.
pub(crate) const NO_RECTIFIER: &str = "the network has no ReLU or ReLU6 between its input and \
     its logits, so guided back-propagation would be the plain gradient; use saliency";

/// Why FullGrad refuses a network.
pub(crate) const NO_BIAS: &str = "the network has no convolution or BatchNorm with a bias, so \
     FullGrad would be Gradient x Input alone; use gradient-input";

fn check_len(what: &'static str, got: usize, expected: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(CamError::MethodOutput {
            what,
            got,
            expected,
        })
    }
}

impl Probe for ModelProbe<'_> {
    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn input_size(&self) -> (usize, usize) {
        self.input_size
    }

    fn score_masked_inputs(&self, masks: &[f32], count: usize) -> Result<Vec<f32>> {
        let (h, w) = self.input_size;
        let plane = h * w;
        let mut data = Vec::with_capacity(count * 3 * plane);
        for mask in masks.chunks(plane) {
            for channel in self.image.chunks(plane) {
                data.extend(channel.iter().zip(mask).map(|(x, m)| x * m));
            }
        }
        self.score_inputs(&data, count)
    }

    fn score_activations(&self, activations: &[f32], count: usize) -> Result<Vec<f32>> {
        let x = self.activations(activations, count)?;
        let trace = self.trace.for_image(self.image_index, count);
        Ok(self.scores(self.net.resume(&trace, self.position, x)?))
    }

    fn image(&self) -> &[f32] {
        self.image
    }

    fn normalization(&self) -> Normalization {
        self.normalization
    }

    fn score_inputs(&self, inputs: &[f32], count: usize) -> Result<Vec<f32>> {
        let x = self.inputs(inputs, count)?;
        Ok(self.scores(self.net.forward(x)?))
    }

    fn input_gradients(&self, inputs: &[f32], count: usize, target: &Target) -> Result<Vec<f32>> {
        let leaf = self.inputs(inputs, count)?.autodiff().require_grad();
        let logits = self.net.forward(leaf.clone())?;
        let grads = (logits * self.coefficients(target, count)).sum().backward();
        let dims = leaf.dims();
        Ok(to_vec(
            leaf.grad(&grads)
                .unwrap_or_else(|| Tensor::zeros(dims, self.device)),
        ))
    }

    fn layer_gradients(
        &self,
        activations: &[f32],
        count: usize,
        target: &Target,
    ) -> Result<Vec<f32>> {
        let leaf = self
            .activations(activations, count)?
            .autodiff()
            .require_grad();
        let trace = self.trace.for_image(self.image_index, count);
        let logits = self.net.resume(&trace, self.position, leaf.clone())?;
        let grads = (logits * self.coefficients(target, count)).sum().backward();
        let dims = leaf.dims();
        Ok(to_vec(
            leaf.grad(&grads)
                .unwrap_or_else(|| Tensor::zeros(dims, self.device)),
        ))
    }

    fn full_gradients(&self, target: &Target) -> Result<FullGradients> {
        let scope = whycam_models::BiasGradients::enter();
        let input = self.input_gradients(self.image, 1, target)?;
        let layers = scope
            .maps()
            .into_iter()
            .flatten()
            // A graph with a static batch may run the image padded to its batch: the image
            // is the first.
            .filter(|m| m.images >= 1)
            .map(|mut m| {
                m.data.truncate(m.height * m.width);
                Plane::new(m.height, m.width, m.data)
            })
            .collect();
        Ok(FullGradients {
            input,
            layers,
            biased_layers: scope.layers(),
        })
    }

    fn layer_activations_and_gradients(
        &self,
        inputs: &[f32],
        count: usize,
        target: &Target,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let x = self.inputs(inputs, count)?;
        let trace = self.net.trace(x, &[self.layer_index])?;
        let gradients = target_gradients(self.net, &trace, 0, self.coefficients(target, count))?;
        Ok((to_vec(trace.activations[0].clone()), to_vec(gradients)))
    }
}
