//! The model-randomisation sanity check (Adebayo et al. 2018, "Sanity Checks for Saliency
//! Maps", NeurIPS; its "cascading randomization"): a map that explains the model must change
//! when the model's learned weights are destroyed. The layers are re-initialised one
//! after the other from the top (the classifier first, then the last feature layer, down to
//! the first), each step keeping the layers above it random, and after each step every method's
//! map of every image is compared with its map from the trained model by Spearman rank
//! correlation and SSIM ([`whycam_eval::similarity`]). Each step costs one explanation of
//! every image (Score-CAM's and Ablation-CAM's probes included); the model is copied once.
//!
//! **Which weights form a layer.** Any model whycam loads offers its parameters by their
//! PyTorch names ([`whycam_models::parameters`]): a zoo network by its state-dict names, an ONNX
//! graph by its initializers under the module path of the node that reads them. A parameter
//! belongs to the longest layer name or alias (as `whycam models` lists them) its name falls
//! under: `layer4.1` for `layer4.1.conv2.weight`, `_blocks.15` for
//! `_blocks.15._project_conv.weight`.
//! Parameters under no layer (the classifier: `fc`, `_fc`, `classifier`) are the first step,
//! `head`. Steps are ordered by their layer's place in the network, last first; layers without
//! parameters (activations, pooling, a folded BatchNorm) are no step. An ONNX graph lists every
//! module as a layer, so its steps are single convolutions rather than a zoo network's blocks.
//!
//! **BatchNorm.** The check randomises the model as it runs: with BatchNorms folded (the
//! default, and always for ONNX) a convolution's weight and bias hold its BatchNorm, so both are
//! randomised together; unfolded, a BatchNorm's scale and shift are randomised in the step of
//! the layer they belong to and its running statistics (buffers, not learned weights) are kept.
//!
//! **Re-initialisation.** Each parameter tensor is replaced by Gaussian noise with the mean and
//! standard deviation of its own trained values, seeded per tensor by the run's seed and the
//! tensor's name (the same noise whatever the order or the other layers). Adebayo et al. use
//! each layer's default initialiser instead; whycam cannot know it for an ONNX graph or a folded
//! convolution, and keeping each tensor's scale keeps the activations of the order they had,
//! so a map does not "change" merely because the network's outputs vanished or overflowed. All
//! learned structure (which weight is large, which sign) is gone.
//!
//! **The flag.** Maps are compared at the input's resolution, upsampled and min-max scaled as
//! every metric sees them, against the map of the same target class (the trained model's). A
//! method is flagged when, with every layer randomised, its mean Spearman correlation over the
//! images is still above [`DEFAULT_THRESHOLD`] (0.5): its map keeps most of its ranking of the
//! pixels although nothing the model learned is left, so the ranking comes from the input, not
//! the model. In Adebayo et al.'s cascades the rank correlation of the methods that pass
//! (gradients, Grad-CAM) falls towards 0 once the top layers are random, while Guided Backprop's
//! stays high to the first layer; 0.5 lies between. On the default model Grad-CAM ends near 0
//! and an edge detector of the input at 1 (`tests/randomisation.rs`). A constant map (a method that finds nothing in a random
//! network) has Spearman 0 against a non-constant one (see [`whycam_eval::similarity`]).

use crate::batch::{Decoded, batch_tensor, same_size_runs};
use crate::error::Result;
use crate::open::OpenedModel;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use whycam_cam::{ExplainOptions, Explainer, ImageExplanation, TargetSpec};
use whycam_eval::Map;
use whycam_models::parameters::is_under;
use whycam_models::{Explainable, Model};

/// The mean Spearman correlation after full randomisation above which a method is flagged.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// The name of the first step: the parameters under no layer, the classifier.
pub const HEAD_STEP: &str = "head";

/// How the check runs.
#[derive(Debug, Clone, Copy)]
pub struct RandomisationOptions {
    /// Seeds the noise.
    pub seed: u64,
    /// Mean Spearman after the last step above which a method is flagged.
    pub threshold: f64,
}

impl Default for RandomisationOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

/// One image's maps, per method id: values at the input's resolution in `[0, 1]` and their
/// `[height, width]`.
pub type ImageMaps = BTreeMap<String, (Vec<f32>, [usize; 2])>;

/// A method's maps against the trained model's at one step, averaged over the images (or of
/// one image, `images` 1).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Similarity {
    /// Mean Spearman rank correlation.
    pub spearman: f64,
    /// Mean SSIM (over the images at least 7×7 px; NaN, `null` in JSON, for none).
    pub ssim: f64,
    /// Images compared.
    pub images: usize,
}

/// One step of the cascade.
#[derive(Debug, Clone, Serialize)]
pub struct RandomisationStep {
    /// The layer randomised at this step ([`HEAD_STEP`] for the classifier); every step before
    /// it stays random.
    pub layer: String,
    /// Parameter tensors this step re-initialised.
    pub tensors: usize,
    /// Per method id.
    pub methods: BTreeMap<String, Similarity>,
}

/// The whole check.
#[derive(Debug, Clone, Serialize)]
pub struct RandomisationReport {
    /// The steps, from the top of the network down.
    pub steps: Vec<RandomisationStep>,
    /// Per method id, whether it failed the check (its maps did not change).
    pub flagged: BTreeMap<String, bool>,
    /// The threshold the flags used.
    pub threshold: f64,
    /// Per image (in the order given), per method id, its similarity after the last step:
    /// every layer random.
    pub images: Vec<BTreeMap<String, Similarity>>,
}

/// The check for whycam's methods: `images` explained by `explanations` (their first target;
/// one explanation per image, from [`crate::explain::ExplainRun`] or an [`Explainer`] with
/// `explain`'s options) are explained again, for the same target, after each step.
pub fn model_randomisation(
    opened: &OpenedModel,
    explain: &ExplainOptions,
    images: &[Decoded],
    explanations: &[ImageExplanation],
    options: &RandomisationOptions,
) -> Result<RandomisationReport> {
    let original = explanations
        .iter()
        .zip(images)
        .map(|(e, d)| maps_of(e, d))
        .collect::<Result<Vec<_>>>()?;
    let targets: Vec<TargetSpec> = explanations.iter().map(target_of).collect();
    cascade(opened, &original, options, &mut |model: &Model| {
        let explainer = Explainer::new(model, explain.clone())?;
        let mut maps = Vec::with_capacity(images.len());
        // Consecutive images of one size and target share a batch.
        let mut start = 0;
        for run in same_size_runs(images, |d| &d.prepared) {
            for (offset, group) in chunk_by_target(&targets[start..start + run.len()]) {
                let items = &run[offset..offset + group.len()];
                let x = batch_tensor(items.iter().map(|d| &d.prepared), model.device());
                let explained = explainer.explain(x, &group[0], 1, &opened.labels)?;
                for (e, d) in explained.iter().zip(items) {
                    maps.push(maps_of(e, d)?);
                }
            }
            start += run.len();
        }
        Ok(maps)
    })
}

/// Runs of equal targets: `(offset, run)`.
fn chunk_by_target(targets: &[TargetSpec]) -> impl Iterator<Item = (usize, &[TargetSpec])> {
    let mut offset = 0;
    targets.chunk_by(|a, b| a == b).map(move |run| {
        let at = offset;
        offset += run.len();
        (at, run)
    })
}

/// The target an explanation explained, to explain it again.
fn target_of(explanation: &ImageExplanation) -> TargetSpec {
    let target = &explanation.targets[0].target;
    match target.class {
        Some(class) => TargetSpec::Class(class),
        None => TargetSpec::Group {
            name: target.name.clone(),
            classes: target.coefficients.iter().map(|&(c, _)| c).collect(),
        },
    }
}

/// Every method's map of an explanation's first target, upsampled to the network input and
/// scaled to `[0, 1]`.
pub fn maps_of(explanation: &ImageExplanation, image: &Decoded) -> Result<ImageMaps> {
    let (h, w) = (
        image.prepared.height as usize,
        image.prepared.width as usize,
    );
    let mut maps = ImageMaps::new();
    for m in &explanation.targets[0].maps {
        let low = Map::new(&m.map.data, [m.map.height, m.map.width])?;
        let full = whycam_eval::upsample_and_scale(low, h, w)?;
        maps.insert(m.method.id().to_string(), (full, [h, w]));
    }
    Ok(maps)
}

/// The check for any map producer: `original` holds the trained model's maps per image;
/// `explain` maps the same images with a model whose layers are progressively randomised (a
/// copy of `opened`'s, reloaded from its weights file) and returns them in the same order.
pub fn cascade(
    opened: &OpenedModel,
    original: &[ImageMaps],
    options: &RandomisationOptions,
    explain: &mut dyn FnMut(&Model) -> Result<Vec<ImageMaps>>,
) -> Result<RandomisationReport> {
    let mut model = reopen(&opened.model)?;
    let steps = cascade_steps(model.net.as_mut())?;
    let mut report = RandomisationReport {
        steps: Vec::with_capacity(steps.len()),
        flagged: BTreeMap::new(),
        threshold: options.threshold,
        images: Vec::new(),
    };
    for (layer, names) in steps {
        randomise(model.net.as_mut(), &names, options.seed)?;
        tracing::debug!(layer, tensors = names.len(), "randomised");
        let maps = explain(&model)?;
        let images = compare(original, &maps)?;
        report.steps.push(RandomisationStep {
            layer,
            tensors: names.len(),
            methods: means(&images),
        });
        report.images = images;
    }
    if let Some(last) = report.steps.last() {
        report.flagged = last
            .methods
            .iter()
            .map(|(method, s)| (method.clone(), s.spearman > options.threshold))
            .collect();
    }
    Ok(report)
}

/// A second copy of a loaded model, from the same weights, BatchNorms folded as in the first.
pub fn reopen(model: &Model) -> Result<Model> {
    let Some(architecture) = model.architecture else {
        return Ok(Model::load_onnx_on(&model.weights, model.device())?);
    };
    let layers = if model.net.is_folded() {
        Vec::new()
    } else {
        unfolded_layer(model).into_iter().collect()
    };
    Ok(Model::load_for_layers(
        architecture,
        &model.weights,
        &layers,
        model.device(),
    )?)
}

/// A layer whose reading keeps the BatchNorms unfolded.
fn unfolded_layer(model: &Model) -> Option<String> {
    model
        .net
        .layers()
        .list()
        .iter()
        .find(|l| l.before_batchnorm)
        .map(|l| l.name.clone())
}

/// Names the cascade's steps, from the top: per step its layer and the names of its
/// parameters. See the module documentation for the grouping.
pub fn cascade_steps(net: &mut dyn Explainable) -> Result<Vec<(String, Vec<String>)>> {
    let mut names = Vec::new();
    net.replace_parameters(&mut |name, _, _| {
        if !is_buffer(name) {
            names.push(name.to_string());
        }
        None
    })?;
    let layers = net.layers();
    // Every name a layer answers to (a PyTorch container names its last child's output too).
    let candidates: Vec<(usize, &str)> = layers
        .list()
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            std::iter::once((i, l.name.as_str()))
                .chain(layers.aliases_of(i).into_iter().map(move |a| (i, a)))
        })
        .collect();
    // Per layer name, its layer's index and the parameters it is the longest enclosing name of.
    let mut groups: BTreeMap<&str, (usize, Vec<String>)> = BTreeMap::new();
    let mut head = Vec::new();
    for name in names {
        let owner = candidates
            .iter()
            .filter(|(_, layer)| is_under(&name, layer))
            .max_by_key(|(i, layer)| (layer.len(), std::cmp::Reverse(*i)));
        match owner {
            Some(&(i, layer)) => groups.entry(layer).or_insert((i, Vec::new())).1.push(name),
            None => head.push(name),
        }
    }
    let mut steps = Vec::with_capacity(groups.len() + 1);
    if !head.is_empty() {
        steps.push((HEAD_STEP.to_string(), head));
    }
    // From the top: the last layer first; of names for one output, the innermost first.
    let mut groups: Vec<(&str, (usize, Vec<String>))> = groups.into_iter().collect();
    groups.sort_by_key(|(layer, (i, _))| std::cmp::Reverse((*i, layer.len())));
    steps.extend(
        groups
            .into_iter()
            .map(|(layer, (_, names))| (layer.to_string(), names)),
    );
    Ok(steps)
}

/// BatchNorm's running statistics: buffers, not learned weights.
fn is_buffer(name: &str) -> bool {
    ["running_mean", "running_var", "num_batches_tracked"]
        .iter()
        .any(|b| name.ends_with(b))
}

/// Replaces each parameter named in `names` by Gaussian noise with its own mean and deviation.
fn randomise(net: &mut dyn Explainable, names: &[String], seed: u64) -> Result<()> {
    net.replace_parameters(&mut |name, _, values| {
        names
            .iter()
            .any(|n| n == name)
            .then(|| noise_like(values, seed ^ fnv1a(name)))
    })?;
    Ok(())
}

/// Gaussian noise with the mean and standard deviation of `values` (Box–Muller, seeded).
pub fn noise_like(values: &[f32], seed: u64) -> Vec<f32> {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = var.sqrt();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(values.len());
    while out.len() < values.len() {
        // u1 in (0, 1] keeps the logarithm finite.
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        for z in [r * theta.cos(), r * theta.sin()] {
            if out.len() < values.len() {
                out.push((mean + std * z) as f32);
            }
        }
    }
    out
}

/// FNV-1a of a name: a hash that does not change between Rust versions.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Per image, per method, the similarity of `maps` to `original` (`images` 1; SSIM NaN for a
/// map smaller than SSIM's window).
fn compare(
    original: &[ImageMaps],
    maps: &[ImageMaps],
) -> Result<Vec<BTreeMap<String, Similarity>>> {
    let mut out = Vec::with_capacity(original.len());
    for (before, after) in original.iter().zip(maps) {
        let mut image = BTreeMap::new();
        for (method, (a, [h, w])) in before {
            let Some((b, shape)) = after.get(method) else {
                continue;
            };
            if shape != &[*h, *w] {
                continue;
            }
            let (a, b) = (Map::new(a, [*h, *w])?, Map::new(b, [*h, *w])?);
            let window = whycam_eval::similarity::SSIM_WINDOW;
            let similarity = Similarity {
                spearman: whycam_eval::similarity::spearman(a, b)?,
                ssim: if *h >= window && *w >= window {
                    whycam_eval::similarity::ssim(a, b)?
                } else {
                    f64::NAN
                },
                images: 1,
            };
            image.insert(method.clone(), similarity);
        }
        out.push(image);
    }
    Ok(out)
}

/// Per method, the means over the images (SSIM over those that have one).
fn means(images: &[BTreeMap<String, Similarity>]) -> BTreeMap<String, Similarity> {
    let mut sums: BTreeMap<String, (f64, f64, usize, usize)> = BTreeMap::new();
    for image in images {
        for (method, s) in image {
            let entry = sums.entry(method.clone()).or_default();
            entry.0 += s.spearman;
            entry.2 += 1;
            if !s.ssim.is_nan() {
                entry.1 += s.ssim;
                entry.3 += 1;
            }
        }
    }
    sums.into_iter()
        .map(|(method, (rho, ssim, n, n_ssim))| {
            let ssim = if n_ssim > 0 {
                ssim / n_ssim as f64
            } else {
                f64::NAN
            };
            let spearman = rho / n.max(1) as f64;
            (
                method,
                Similarity {
                    spearman,
                    ssim,
                    images: n,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_keeps_mean_and_deviation_and_its_seed() {
        let values: Vec<f32> = (0..10_000).map(|i| (i % 7) as f32 * 0.5 + 3.0).collect();
        let noise = noise_like(&values, 7);
        let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
        let (m0, m1) = (mean(&values), mean(&noise));
        let sd = |v: &[f32], m: f64| {
            (v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
        };
        assert!((m1 - m0).abs() < 0.05, "{m0} {m1}");
        assert!((sd(&noise, m1) / sd(&values, m0) - 1.0).abs() < 0.05);
        assert_eq!(noise, noise_like(&values, 7));
        assert_ne!(noise, noise_like(&values, 8));
        assert_eq!(noise_like(&[2.0; 5], 1), vec![2.0; 5]);
    }

    #[test]
    fn buffers_are_not_parameters() {
        assert!(is_buffer("_bn0.running_var"));
        assert!(!is_buffer("_bn0.weight"));
    }
}
