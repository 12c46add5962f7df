//! Which map to trust: the faithfulness and localisation metrics of [`whycam_eval`] over a
//! stream of inputs, for several methods at once (`whycam evaluate`).
//!
//! Per image, every method's map (at the target layer, in `[0, 1]`) is upsampled bilinearly
//! with half-pixel centres to the network input and min-max scaled
//! ([`whycam_eval::upsample_and_scale`]); the score of an input is the probability of the
//! explained target (softmax, sigmoid for a one-logit head; a class group sums its classes).
//! The perturbed inputs of every metric and method of an image are scored together, in
//! batches of [`EvaluateConfig::score_batch_size`]; the input `x · m` of the confidence
//! metrics is scored once for torchcam's and pytorch-grad-cam's definitions.

pub mod boxes;
pub mod randomisation;

use crate::batch::{Decoded, Feeding};
use crate::error::{InputError, InputErrorKind, PipelineError, Result};
use crate::explain::summary::ImageError;
use crate::explain::{ExplainConfig, ExplainRun, target_probability};
use crate::open::OpenedModel;
use crate::rank::class_probabilities;
use boxes::Boxes;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use whycam_cam::Method;
use whycam_data::datasets::Split;
use whycam_data::{Dataset, FetchLimits, Source};
use whycam_eval::deletion::DeletionPlan;
use whycam_eval::road::{RoadOptions, RoadPlan};
use whycam_eval::{Chw, Map};

/// A metric `whycam evaluate` computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Average Drop (torchcam), lower is better.
    AvgDrop,
    /// Increase in Confidence (torchcam): 1 when `x · m` scores higher than `x`.
    Increase,
    /// Deletion AUC (RISE, torchcam), lower is better.
    Deletion,
    /// Insertion AUC (RISE, torchcam), higher is better.
    Insertion,
    /// ROAD, most relevant first (pytorch-grad-cam), lower is better.
    RoadMorf,
    /// ROAD, least relevant first, higher is better.
    RoadLerf,
    /// `(lerf − morf) / 2`, higher is better.
    RoadCombined,
    /// Drop in Confidence (pytorch-grad-cam, absolute), lower is better.
    Drop,
    /// Increase in Confidence (pytorch-grad-cam): the same event as torchcam's.
    IncreasePgc,
    /// Gini index of the map, higher is sparser.
    Sparseness,
    /// Whether the map's maximum is in the object's box (grown by 15 px).
    PointingGame,
    /// The share of the map's mass inside the box.
    EnergyPointingGame,
    /// Whether the box of the map thresholded at 15% of its maximum (largest 8-connected
    /// component) overlaps the object's box with IoU >= 0.5 (Grad-CAM, section 4.1).
    BoxIou,
    /// That IoU itself (asking for `box-iou` reports it too).
    Iou,
    /// The model-randomisation sanity check ([`randomisation`]): per image, the Spearman
    /// correlation of the map with the map of the fully randomised model (lower is better);
    /// the report holds every step and flags the methods whose maps do not change.
    Randomisation,
}

impl Metric {
    /// Every metric, in the order tables list them.
    pub const ALL: [Metric; 15] = [
        Metric::AvgDrop,
        Metric::Increase,
        Metric::Deletion,
        Metric::Insertion,
        Metric::RoadMorf,
        Metric::RoadLerf,
        Metric::RoadCombined,
        Metric::Drop,
        Metric::IncreasePgc,
        Metric::Sparseness,
        Metric::PointingGame,
        Metric::EnergyPointingGame,
        Metric::BoxIou,
        Metric::Iou,
        Metric::Randomisation,
    ];

    /// What `--metric` calls it.
    pub fn id(self) -> &'static str {
        match self {
            Metric::AvgDrop => "avg-drop",
            Metric::Increase => "increase",
            Metric::Deletion => "deletion",
            Metric::Insertion => "insertion",
            Metric::RoadMorf => "road-morf",
            Metric::RoadLerf => "road-lerf",
            Metric::RoadCombined => "road-combined",
            Metric::Drop => "drop",
            Metric::IncreasePgc => "increase-pgc",
            Metric::Sparseness => "sparseness",
            Metric::PointingGame => "pointing-game",
            Metric::EnergyPointingGame => "energy-pointing-game",
            Metric::BoxIou => "box-iou",
            Metric::Iou => "iou",
            Metric::Randomisation => "randomisation",
        }
    }

    /// Whether it needs each image's object box (`--boxes`).
    pub fn needs_boxes(self) -> bool {
        matches!(
            self,
            Metric::PointingGame | Metric::EnergyPointingGame | Metric::BoxIou | Metric::Iou
        )
    }

    /// Whether a higher value means a more faithful (or better localised) map.
    pub fn higher_is_better(self) -> bool {
        !matches!(
            self,
            Metric::AvgDrop
                | Metric::Deletion
                | Metric::RoadMorf
                | Metric::Drop
                | Metric::Randomisation
        )
    }

    /// The metrics computed when none are asked for: those that need no boxes, but the
    /// randomisation check, which explains every image again once per layer.
    pub fn defaults() -> Vec<Metric> {
        Metric::ALL
            .into_iter()
            .filter(|m| !m.needs_boxes() && *m != Metric::Randomisation)
            .collect()
    }
}

impl std::str::FromStr for Metric {
    type Err = PipelineError;

    fn from_str(text: &str) -> Result<Self> {
        let wanted = text.trim().to_ascii_lowercase().replace('_', "-");
        Metric::ALL
            .into_iter()
            .find(|m| m.id() == wanted)
            .ok_or_else(|| PipelineError::UnknownMetric {
                name: text.to_string(),
                known: Metric::ALL.map(Metric::id).join(", "),
            })
    }
}

/// How an evaluate run goes.
#[derive(Debug, Clone)]
pub struct EvaluateConfig {
    /// The methods compared.
    pub methods: Vec<Method>,
    /// Target layers (empty: the model's default); several are averaged.
    pub layers: Vec<String>,
    /// `auto` (the best class), a class index, a label or a class group.
    pub target: String,
    /// The metrics.
    pub metrics: Vec<Metric>,
    /// Deletion/insertion intervals (torchcam: 20).
    pub steps: usize,
    /// ROAD's imputation noise (pytorch-grad-cam: 0.01).
    pub road_noise: f32,
    /// Seeds ROAD's noise and the bootstrap intervals.
    pub seed: u64,
    /// Samples, noise, steps and windows of the sampling, perturbation and path methods.
    pub settings: whycam_cam::MethodSettings,
    /// Object boxes, for the pointing games.
    pub boxes: Option<PathBuf>,
    /// Images explained together.
    pub batch_size: usize,
    /// Perturbed inputs scored in one forward pass.
    pub score_batch_size: usize,
    /// Limits on downloading URL inputs.
    pub fetch: FetchLimits,
    /// Set (by Ctrl-C, say) to stop after the current image.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for EvaluateConfig {
    fn default() -> Self {
        EvaluateConfig {
            methods: vec![Method::GradCam],
            layers: Vec::new(),
            target: "auto".into(),
            metrics: Metric::defaults(),
            steps: whycam_eval::deletion::DEFAULT_STEPS,
            road_noise: whycam_eval::road::DEFAULT_NOISE,
            seed: 0,
            settings: whycam_cam::MethodSettings::default(),
            boxes: None,
            batch_size: 8,
            score_batch_size: 32,
            fetch: FetchLimits::default(),
            stop: None,
        }
    }
}

/// The pointing game's tolerance in input pixels (TorchRay's, and Zhang et al.'s).
pub const POINTING_TOLERANCE: usize = 15;

/// Bootstrap resamples of the 95% intervals.
const BOOTSTRAP_RESAMPLES: usize = 2000;

/// One image's values.
#[derive(Debug, Clone, Serialize)]
pub struct ImageScores {
    pub image: String,
    /// The explained target and its probability on the unperturbed input.
    pub target: String,
    pub probability: f32,
    /// Per method, per metric, the value.
    pub methods: BTreeMap<String, BTreeMap<String, f64>>,
    /// Per method, the deletion and insertion curves (when asked for).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub curves: BTreeMap<String, Curves>,
}

/// Deletion and insertion curves of one map.
#[derive(Debug, Clone, Serialize)]
pub struct Curves {
    pub fractions: Vec<f32>,
    pub deletion: Vec<f32>,
    pub insertion: Vec<f32>,
}

/// A metric's mean over the images and its 95% percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub struct Summary {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    pub images: usize,
}

/// A whole run: what `whycam evaluate --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluateReport {
    pub model: String,
    pub weights: String,
    pub layers: Vec<String>,
    /// Per method, per metric, the mean over the images.
    pub metrics: BTreeMap<String, BTreeMap<String, f64>>,
    /// The same with 95% bootstrap intervals.
    pub intervals: BTreeMap<String, BTreeMap<String, Summary>>,
    pub images: Vec<ImageScores>,
    pub errors: Vec<ImageError>,
    /// The randomisation check's cascade, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub randomisation: Option<Randomisation>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

/// The randomisation check over the whole run: per step the methods' mean similarity to the
/// trained model's maps, and which methods failed.
#[derive(Debug, Clone, Serialize)]
pub struct Randomisation {
    /// From the top of the network down; each step keeps the ones before it random.
    pub steps: Vec<randomisation::RandomisationStep>,
    /// Per method, whether its mean Spearman after the last step is above `threshold`.
    pub flagged: BTreeMap<String, bool>,
    pub threshold: f64,
}

/// Sums of the similarities of the batches, per step and method.
#[derive(Default)]
struct Cascade {
    steps: Vec<(String, usize, BTreeMap<String, [f64; 4]>)>,
}

impl Cascade {
    /// Adds a batch's report, weighted by its images.
    fn add(&mut self, report: &randomisation::RandomisationReport) {
        if self.steps.is_empty() {
            self.steps = report
                .steps
                .iter()
                .map(|s| (s.layer.clone(), s.tensors, BTreeMap::new()))
                .collect();
        }
        for ((_, _, sums), step) in self.steps.iter_mut().zip(&report.steps) {
            for (method, s) in &step.methods {
                let sum = sums.entry(method.clone()).or_insert([0.0; 4]);
                let n = s.images as f64;
                if s.spearman.is_finite() {
                    sum[0] += s.spearman * n;
                    sum[1] += n;
                }
                if s.ssim.is_finite() {
                    sum[2] += s.ssim * n;
                    sum[3] += n;
                }
            }
        }
    }

    fn finish(self, threshold: f64) -> Option<Randomisation> {
        if self.steps.is_empty() {
            return None;
        }
        let steps: Vec<randomisation::RandomisationStep> = self
            .steps
            .into_iter()
            .map(|(layer, tensors, sums)| randomisation::RandomisationStep {
                layer,
                tensors,
                methods: sums
                    .into_iter()
                    .map(|(method, [s, n, ssim, m])| {
                        let similarity = randomisation::Similarity {
                            spearman: if n > 0.0 { s / n } else { f64::NAN },
                            ssim: if m > 0.0 { ssim / m } else { f64::NAN },
                            images: n as usize,
                        };
                        (method, similarity)
                    })
                    .collect(),
            })
            .collect();
        let flagged = steps
            .last()
            .map(|last| {
                last.methods
                    .iter()
                    .map(|(method, s)| (method.clone(), s.spearman > threshold))
                    .collect()
            })
            .unwrap_or_default();
        Some(Randomisation {
            steps,
            flagged,
            threshold,
        })
    }
}

/// Sees each result as it comes (a progress bar); every method defaults to nothing.
pub trait EvaluateSink {
    /// How many inputs the run has.
    fn begin(&mut self, _inputs: usize) {}
    /// One image was scored.
    fn image(&mut self, _scores: &ImageScores) {}
    /// One input failed.
    fn error(&mut self, _error: &InputError) {}
}

/// A sink that ignores everything.
impl EvaluateSink for () {}

/// Checks the configuration against the model and the metrics against what they need.
pub struct EvaluateRun<'m> {
    opened: &'m OpenedModel,
    explain: ExplainRun<'m>,
    boxes: Option<Boxes>,
    /// What the randomisation check explains again after each step.
    explain_options: whycam_cam::ExplainOptions,
    randomisation_options: randomisation::RandomisationOptions,
    config: EvaluateConfig,
}

impl<'m> EvaluateRun<'m> {
    /// Checks the methods, layers, target and metrics; reads `--boxes`. `box-iou` brings
    /// `iou` along.
    pub fn new(opened: &'m OpenedModel, mut config: EvaluateConfig) -> Result<Self> {
        if config.metrics.contains(&Metric::BoxIou) && !config.metrics.contains(&Metric::Iou) {
            config.metrics.push(Metric::Iou);
        }
        if config.metrics.is_empty() {
            return Err(PipelineError::UnknownMetric {
                name: String::new(),
                known: Metric::ALL.map(Metric::id).join(", "),
            });
        }
        if config.boxes.is_none()
            && let Some(metric) = config.metrics.iter().find(|m| m.needs_boxes())
        {
            return Err(PipelineError::MetricNeedsBoxes {
                metric: metric.id(),
            });
        }
        if config.steps == 0 || config.steps > 10_000 {
            return Err(PipelineError::OutOfRange {
                option: "steps",
                expected: "1 to 10000",
                value: config.steps.to_string(),
            });
        }
        if !(config.road_noise.is_finite() && config.road_noise >= 0.0) {
            return Err(PipelineError::OutOfRange {
                option: "road_noise",
                expected: "a standard deviation >= 0",
                value: config.road_noise.to_string(),
            });
        }
        let explain = ExplainRun::new(
            opened,
            ExplainConfig {
                methods: config.methods.clone(),
                layers: config.layers.clone(),
                target: config.target.clone(),
                top_k: 1,
                batch_size: config.batch_size,
                fetch: config.fetch,
                settings: config.settings.clone(),
                ..ExplainConfig::default()
            },
        )?;
        let boxes = match &config.boxes {
            Some(path) => Some(Boxes::from_csv(path, &opened.labels)?),
            None => None,
        };
        Ok(EvaluateRun {
            opened,
            explain,
            boxes,
            explain_options: whycam_cam::ExplainOptions {
                methods: config.methods.clone(),
                layers: config.layers.clone(),
                settings: config.settings.clone(),
                normalization: Some(opened.preprocess.normalization),
                ..Default::default()
            },
            randomisation_options: randomisation::RandomisationOptions {
                seed: config.seed,
                ..Default::default()
            },
            config,
        })
    }

    /// Scores `sources`; `failed` are inputs already known to fail.
    pub fn run(
        &self,
        sources: &[Source],
        failed: Vec<InputError>,
        sink: &mut dyn EvaluateSink,
    ) -> Result<EvaluateReport> {
        let feeding = Feeding {
            preprocess: &self.opened.preprocess,
            limits: &self.opened.limits,
            fetch: &self.config.fetch,
        };
        let batches = sources
            .chunks(self.config.batch_size.max(1))
            .map(|chunk| feeding.decode_all(chunk));
        self.run_batches(sources.len() + failed.len(), failed, batches, sink)
    }

    /// Scores what a user named: one labelled dataset (its test split where it has one, at
    /// most `limit` samples spread evenly), else image files, directories (searched
    /// recursively) and URLs.
    pub fn run_inputs<S: AsRef<std::ffi::OsStr>>(
        &self,
        inputs: &[S],
        limit: Option<usize>,
        sink: &mut dyn EvaluateSink,
    ) -> Result<EvaluateReport> {
        match inputs {
            [one] if crate::embed::is_dataset(std::path::Path::new(one)) => {
                let selection = crate::data::Selection {
                    limit,
                    ..Default::default()
                };
                let data = selection.open(std::path::Path::new(one), Split::Test)?;
                self.run_dataset(data.as_ref(), sink)
            }
            _ => {
                let inputs = crate::Sources::collect(inputs);
                self.run(&inputs.found, inputs.failed, sink)
            }
        }
    }

    /// Scores the samples of a dataset (Fashion-MNIST, CIFAR-10, a CSV list, an
    /// ImageFolder...), each named as the dataset describes it (`file#record`).
    pub fn run_dataset(
        &self,
        data: &dyn Dataset,
        sink: &mut dyn EvaluateSink,
    ) -> Result<EvaluateReport> {
        let indices: Vec<usize> = (0..data.len()).collect();
        let preprocess = &self.opened.preprocess;
        let batches = indices.chunks(self.config.batch_size.max(1)).map(|chunk| {
            chunk
                .par_iter()
                .map(|&i| decode_sample(data, i, preprocess))
                .collect()
        });
        self.run_batches(data.len(), Vec::new(), batches, sink)
    }

    /// The run over batches of decoded inputs; `failed` are inputs already known to fail.
    fn run_batches(
        &self,
        inputs: usize,
        failed: Vec<InputError>,
        batches: impl Iterator<Item = Vec<std::result::Result<Decoded, InputError>>>,
        sink: &mut dyn EvaluateSink,
    ) -> Result<EvaluateReport> {
        sink.begin(inputs);
        let mut errors = Vec::new();
        let mut fail = |e: InputError, sink: &mut dyn EvaluateSink| {
            sink.error(&e);
            errors.push(ImageError::from(&e));
        };
        for e in failed {
            fail(e, sink);
        }
        let mut images = Vec::new();
        let mut interrupted = false;
        let mut cascade = Cascade::default();
        for decoded_batch in batches {
            if self.stopped() {
                interrupted = true;
                break;
            }
            let mut batch = Vec::new();
            for decoded in decoded_batch {
                match decoded {
                    Ok(d) => batch.push(d),
                    Err(e) => fail(e, sink),
                }
            }
            if batch.is_empty() {
                continue;
            }
            let explanations = match self.explain.explain_batch(&batch) {
                Ok(explanations) => explanations,
                Err(e) => {
                    for item in &batch {
                        let input = item.source.to_string();
                        fail(InputError::other(input, InputErrorKind::Model, &e), sink);
                    }
                    continue;
                }
            };
            // The images scored, with their explanations for the randomisation check.
            let (mut items, mut explained, mut scored) = (Vec::new(), Vec::new(), Vec::new());
            for (item, explanation) in batch.into_iter().zip(explanations) {
                if self.stopped() {
                    interrupted = true;
                    break;
                }
                match self.score_image(&item, &explanation) {
                    Ok(scores) => {
                        items.push(item);
                        explained.push(explanation);
                        scored.push(scores);
                    }
                    Err(e) => fail(e, sink),
                }
            }
            if self.config.metrics.contains(&Metric::Randomisation) && !scored.is_empty() {
                let report = randomisation::model_randomisation(
                    self.opened,
                    &self.explain_options,
                    &items,
                    &explained,
                    &self.randomisation_options,
                )?;
                cascade.add(&report);
                for (scores, per_method) in scored.iter_mut().zip(&report.images) {
                    for (method, similarity) in per_method {
                        scores
                            .methods
                            .entry(method.clone())
                            .or_default()
                            .insert(Metric::Randomisation.id().into(), similarity.spearman);
                    }
                }
            }
            for scores in scored {
                sink.image(&scores);
                images.push(scores);
            }
            if interrupted {
                break;
            }
        }
        let mut metrics = BTreeMap::new();
        let mut intervals = BTreeMap::new();
        for method in &self.config.methods {
            let mut means = BTreeMap::new();
            let mut summaries = BTreeMap::new();
            for metric in &self.config.metrics {
                let values: Vec<f64> = images
                    .iter()
                    .filter_map(|i: &ImageScores| i.methods.get(method.id())?.get(metric.id()))
                    .copied()
                    .collect();
                if let Some(summary) = summarise(&values, self.config.seed) {
                    means.insert(metric.id().to_string(), summary.mean);
                    summaries.insert(metric.id().to_string(), summary);
                }
            }
            metrics.insert(method.id().to_string(), means);
            intervals.insert(method.id().to_string(), summaries);
        }
        Ok(EvaluateReport {
            model: self.opened.model.name.clone(),
            weights: whycam_data::shown_path(&self.opened.model.weights).into_owned(),
            layers: self.explain.layer_names(),
            metrics,
            intervals,
            images,
            errors,
            randomisation: cascade.finish(self.randomisation_options.threshold),
            interrupted,
        })
    }

    fn stopped(&self) -> bool {
        self.config
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// Every metric of every method for one explained image.
    fn score_image(
        &self,
        item: &Decoded,
        explanation: &whycam_cam::ImageExplanation,
    ) -> std::result::Result<ImageScores, InputError> {
        let input_name = item.source.to_string();
        let failed = |kind, e: &dyn std::fmt::Display| InputError::other(&input_name, kind, e);
        let target = &explanation.targets[0];
        let probabilities = class_probabilities(&explanation.logits);
        let original = target_probability(&target.target, &probabilities);
        if !original.is_finite() {
            return Err(failed(InputErrorKind::Model, &crate::explain::NON_FINITE));
        }
        let prepared = &item.prepared;
        let (h, w) = (prepared.height as usize, prepared.width as usize);
        let input =
            Chw::new(&prepared.data, [3, h, w]).map_err(|e| failed(InputErrorKind::Model, &e))?;
        let object = match &self.boxes {
            Some(boxes) => match boxes.find(&item.source) {
                Some(object) => Some(
                    object
                        .in_input(
                            prepared.original,
                            &prepared.region,
                            prepared.width,
                            prepared.height,
                        )
                        .map_err(|e| failed(InputErrorKind::Limits, &e))?,
                ),
                None if self.config.metrics.iter().any(|m| m.needs_boxes()) => {
                    return Err(failed(
                        InputErrorKind::Limits,
                        &"no box for this image in --boxes",
                    ));
                }
                None => None,
            },
            None => None,
        };
        let wants = |m: Metric| self.config.metrics.contains(&m);
        let confidence = [
            Metric::AvgDrop,
            Metric::Increase,
            Metric::Drop,
            Metric::IncreasePgc,
        ]
        .into_iter()
        .any(wants);
        let deletion = wants(Metric::Deletion) || wants(Metric::Insertion);
        let road = [Metric::RoadMorf, Metric::RoadLerf, Metric::RoadCombined]
            .into_iter()
            .any(wants);
        let road_options = RoadOptions {
            noise: self.config.road_noise,
            seed: self.config.seed,
            ..RoadOptions::default()
        };
        // Every method's perturbed inputs, scored together.
        struct Planned {
            method: Method,
            map: Vec<f32>,
            masked: Option<usize>,
            deletion: Option<(DeletionPlan, std::ops::Range<usize>)>,
            road: Option<(RoadPlan, std::ops::Range<usize>)>,
        }
        let mut inputs: Vec<Vec<f32>> = Vec::new();
        let mut planned = Vec::new();
        let eval_error = |e: whycam_eval::EvalError| failed(InputErrorKind::Model, &e);
        for method_map in &target.maps {
            let plane = &method_map.map;
            let low = Map::new(&plane.data, [plane.height, plane.width]).map_err(eval_error)?;
            let map = whycam_eval::upsample_and_scale(low, h, w).map_err(eval_error)?;
            let full = Map::new(&map, [h, w]).map_err(eval_error)?;
            let masked = if confidence {
                inputs.push(whycam_eval::avg_drop::masked_input(input, full).map_err(eval_error)?);
                Some(inputs.len() - 1)
            } else {
                None
            };
            let deletion = if deletion {
                let (plan, perturbed) =
                    DeletionPlan::new(input, full, self.config.steps).map_err(eval_error)?;
                let range = inputs.len()..inputs.len() + perturbed.len();
                inputs.extend(perturbed);
                Some((plan, range))
            } else {
                None
            };
            let road = if road {
                let (plan, perturbed) =
                    RoadPlan::new(input, full, &road_options).map_err(eval_error)?;
                let range = inputs.len()..inputs.len() + perturbed.len();
                inputs.extend(perturbed);
                Some((plan, range))
            } else {
                None
            };
            planned.push(Planned {
                method: method_map.method,
                map,
                masked,
                deletion,
                road,
            });
        }
        let scores = self
            .score(&inputs, [3, h, w], &target.target)
            .map_err(|e| failed(InputErrorKind::Model, &e))?;
        if let Some(bad) = scores.iter().position(|s| !s.is_finite()) {
            return Err(failed(
                InputErrorKind::Model,
                &format!("a perturbed input (number {bad}) scored {}", scores[bad]),
            ));
        }
        let mut methods = BTreeMap::new();
        let mut curves = BTreeMap::new();
        for p in planned {
            let mut values = BTreeMap::new();
            let mut put = |metric: Metric, value: f64| {
                if wants(metric) {
                    values.insert(metric.id().to_string(), value);
                }
            };
            if let Some(at) = p.masked {
                let torchcam = whycam_eval::avg_drop::from_scores(original, scores[at]);
                let pgc = whycam_eval::confidence::from_scores(original, scores[at]);
                put(Metric::AvgDrop, f64::from(torchcam.avg_drop));
                put(Metric::Increase, f64::from(u8::from(torchcam.increase)));
                put(Metric::Drop, f64::from(pgc.drop));
                put(Metric::IncreasePgc, f64::from(u8::from(pgc.increase)));
            }
            if let Some((plan, range)) = &p.deletion {
                let curve = plan
                    .finish(original, &scores[range.clone()])
                    .map_err(eval_error)?;
                put(Metric::Deletion, f64::from(curve.deletion_auc));
                put(Metric::Insertion, f64::from(curve.insertion_auc));
                curves.insert(
                    p.method.id().to_string(),
                    Curves {
                        fractions: curve.fractions,
                        deletion: curve.deletion,
                        insertion: curve.insertion,
                    },
                );
            }
            if let Some((plan, range)) = &p.road {
                let road = plan
                    .finish(original, &scores[range.clone()])
                    .map_err(eval_error)?;
                put(Metric::RoadMorf, f64::from(road.morf));
                put(Metric::RoadLerf, f64::from(road.lerf));
                put(Metric::RoadCombined, f64::from(road.combined));
            }
            put(
                Metric::Sparseness,
                f64::from(whycam_eval::sparseness::gini(&p.map)),
            );
            if let Some(object) = object {
                let full = Map::new(&p.map, [h, w]).map_err(eval_error)?;
                if wants(Metric::PointingGame) {
                    let hit =
                        whycam_eval::pointing::pointing_game(full, object, POINTING_TOLERANCE)
                            .map_err(eval_error)?;
                    put(Metric::PointingGame, f64::from(u8::from(hit)));
                }
                if wants(Metric::EnergyPointingGame) {
                    let energy = whycam_eval::pointing::energy_pointing_game(full, object)
                        .map_err(eval_error)?;
                    put(Metric::EnergyPointingGame, f64::from(energy));
                }
                if wants(Metric::BoxIou) || wants(Metric::Iou) {
                    let found = whycam_eval::localisation::box_localisation(full, object)
                        .map_err(eval_error)?;
                    put(Metric::BoxIou, f64::from(u8::from(found.hit)));
                    put(Metric::Iou, f64::from(found.iou));
                }
            }
            methods.insert(p.method.id().to_string(), values);
        }
        Ok(ImageScores {
            image: input_name.clone(),
            target: target.target.name.clone(),
            probability: original,
            methods,
            curves,
        })
    }

    /// The probability of `target` for each of `inputs` (`shape` each), in forward passes
    /// of at most `score_batch_size` inputs.
    fn score(
        &self,
        inputs: &[Vec<f32>],
        [c, h, w]: [usize; 3],
        target: &whycam_cam::Target,
    ) -> whycam_models::Result<Vec<f32>> {
        let mut scores = Vec::with_capacity(inputs.len());
        let device = self.opened.model.device();
        for chunk in inputs.chunks(self.config.score_batch_size.max(1)) {
            let data: Vec<f32> = chunk.iter().flatten().copied().collect();
            let x = Tensor::<4>::from_data(TensorData::new(data, [chunk.len(), c, h, w]), device);
            for row in crate::predict::logit_rows(self.opened, x)? {
                scores.push(target_probability(target, &class_probabilities(&row)));
            }
        }
        Ok(scores)
    }
}

/// The run's results in an output directory (`whycam evaluate --out`), which the HTML
/// report of an `explain` run in the same directory shows as its "Faithfulness" section.
pub const EVALUATION_FILE: &str = "evaluation.json";

/// Writes the run's files into `dir` (atomically): [`EVALUATION_FILE`], `evaluation.csv`
/// (one row per image, method and metric) and the mean curves ([`write_curves`]). When an
/// explain run wrote there, its report gains a Faithfulness section: the page rebuilt is
/// returned.
pub fn write_outputs(dir: &std::path::Path, report: &EvaluateReport) -> Result<Option<PathBuf>> {
    let json = serde_json::to_vec_pretty(report).expect("a report serialises");
    crate::write::atomically(&dir.join(EVALUATION_FILE), &json)?;
    let csv_path = dir.join("evaluation.csv");
    crate::write::atomically(&csv_path, &per_image_csv(report, &csv_path)?)?;
    write_curves(dir, report)?;
    if !dir
        .join(crate::explain::summary::JsonSummary::FILE)
        .is_file()
    {
        return Ok(None);
    }
    crate::report::write(dir, &dir.join("report.html")).map(Some)
}

/// `image,target,method,metric,value` rows (`path` names the file in errors).
fn per_image_csv(report: &EvaluateReport, path: &std::path::Path) -> Result<Vec<u8>> {
    let fail = |source| PipelineError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(["image", "target", "method", "metric", "value"])
        .map_err(fail)?;
    for image in &report.images {
        for (method, values) in &image.methods {
            for (metric, value) in values {
                writer
                    .write_record([
                        image.image.as_str(),
                        image.target.as_str(),
                        method,
                        metric,
                        &value.to_string(),
                    ])
                    .map_err(fail)?;
            }
        }
    }
    writer
        .into_inner()
        .map_err(|e| PipelineError::io("writing", path)(e.into_error()))
}

/// Plots the mean deletion and insertion curves of each method over the images into
/// `dir/deletion.png` and `dir/insertion.png` (written atomically); the files written.
/// Images whose curves are sampled at other fractions than the first image's (inputs of
/// other sizes) are left out of the means.
pub fn write_curves(dir: &std::path::Path, report: &EvaluateReport) -> Result<Vec<PathBuf>> {
    let methods: Vec<&String> = report.metrics.keys().collect();
    let mut written = Vec::new();
    for (name, pick) in [
        (
            "deletion",
            (|c: &Curves| &c.deletion) as fn(&Curves) -> &Vec<f32>,
        ),
        ("insertion", |c: &Curves| &c.insertion),
    ] {
        let mut points = Vec::new();
        let mut labels = Vec::new();
        for (label, method) in methods.iter().enumerate() {
            let curves: Vec<&Curves> = report
                .images
                .iter()
                .filter_map(|i| i.curves.get(method.as_str()))
                .collect();
            let Some(first) = curves.first() else {
                continue;
            };
            let same: Vec<&&Curves> = curves
                .iter()
                .filter(|c| c.fractions == first.fractions)
                .collect();
            for (k, &fraction) in first.fractions.iter().enumerate() {
                let mean =
                    same.iter().map(|c| f64::from(pick(c)[k])).sum::<f64>() / same.len() as f64;
                points.push([fraction, mean as f32]);
                labels.push(label);
            }
        }
        if points.is_empty() {
            continue;
        }
        let classes: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
        let plot = whycam_render::Scatter {
            points: &points,
            labels: &labels,
            classes: &classes,
            title: format!("{name}: mean over {} image(s)", report.images.len()),
            axes: [
                format!(
                    "fraction of pixels {}",
                    if name == "deletion" {
                        "removed"
                    } else {
                        "restored"
                    }
                ),
                "probability of the target".into(),
            ],
        };
        let path = dir.join(format!("{name}.png"));
        crate::write::png(&plot.line_png(800, 500), &path)?;
        written.push(path);
    }
    Ok(written)
}

/// Sample `index` of `data`, prepared for the network, named as the dataset describes it.
fn decode_sample(
    data: &dyn Dataset,
    index: usize,
    preprocess: &whycam_data::PreprocessConfig,
) -> std::result::Result<Decoded, InputError> {
    let name = data.describe(index);
    let fail = |e: whycam_data::DataError| InputError::data(&name, &e);
    let original = data.image(index).map_err(fail)?;
    let prepared = whycam_data::prepare(&original, preprocess).map_err(fail)?;
    Ok(Decoded {
        source: Source::File(PathBuf::from(&name)),
        original,
        prepared,
        warnings: Vec::new(),
    })
}

/// Mean and 95% percentile-bootstrap interval of `values` (seeded); `None` when empty.
pub fn summarise(values: &[f64], seed: u64) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (BOOTSTRAP_RESAMPLES - 1) as f64).round()) as usize];
    Some(Summary {
        mean,
        low: at(0.025),
        high: at(0.975),
        images: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_parse_and_unknown_ones_list_the_known() {
        assert_eq!("road-morf".parse::<Metric>().unwrap(), Metric::RoadMorf);
        assert_eq!("Avg_Drop".parse::<Metric>().unwrap(), Metric::AvgDrop);
        let error = "faithfulness".parse::<Metric>().unwrap_err().to_string();
        assert!(
            error.contains("faithfulness") && error.contains("avg-drop, increase, deletion"),
            "{error}"
        );
        assert!(!Metric::defaults().iter().any(|m| m.needs_boxes()));
        assert_eq!("box-iou".parse::<Metric>().unwrap(), Metric::BoxIou);
        assert!(Metric::BoxIou.needs_boxes() && Metric::Iou.needs_boxes());
        assert!(Metric::BoxIou.higher_is_better() && Metric::Iou.higher_is_better());
    }

    #[test]
    fn the_bootstrap_interval_holds_the_mean_and_narrows_with_more_images() {
        let few: Vec<f64> = (0..8).map(|i| f64::from(i % 3)).collect();
        let many: Vec<f64> = (0..800).map(|i| f64::from(i % 3)).collect();
        let (a, b) = (summarise(&few, 1).unwrap(), summarise(&many, 1).unwrap());
        assert!((a.mean - 7.0 / 8.0).abs() < 1e-12 && (b.mean - 1.0).abs() < 0.01);
        for s in [a, b] {
            assert!(s.low <= s.mean && s.mean <= s.high, "{s:?}");
        }
        assert!(b.high - b.low < (a.high - a.low) / 4.0, "{a:?} {b:?}");
        // One image: no spread.
        let one = summarise(&[0.5], 3).unwrap();
        assert_eq!((one.low, one.high), (0.5, 0.5));
        assert!(summarise(&[], 0).is_none());
    }
}

// Scoring inputs a front end decoded itself (the Python module's arrays).
pub mod decoded;
