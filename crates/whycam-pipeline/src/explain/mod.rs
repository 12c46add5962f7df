//! The explain run: inputs decoded in parallel, explained in batches, each image handed to
//! every [`ExplainSink`], failures recorded per input, a [`RunSummary`] at the end.

pub mod files;
pub mod merge;
pub mod sink;
pub mod summary;
pub mod truth;

use crate::batch::{Decoded, Feeding, batch_tensor, same_size_runs};
use crate::error::{InputError, InputErrorKind, PipelineError, Result};
use crate::open::OpenedModel;
use crate::rank::{class_probabilities, label_of, rank};
use rayon::prelude::*;
use sink::{ExplainSink, ExplainedImage, ExplainedMap, FileRole, WrittenFile, with_suffix};
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use summary::{
    ClassProbability, ExplanationSummary, ImageError, ImageSummary, RecordedFile, RunSummary,
    TargetSummary, Truth,
};
use truth::Truths;
use whycam_cam::{
    ClassGroups, ExplainOptions, Explainer, ImageExplanation, Method, MethodSettings, TargetSpec,
};
use whycam_data::{FetchLimits, Source};
use whycam_render::OverlayStyle;

/// What to explain and how.
#[derive(Debug, Clone)]
pub struct ExplainConfig {
    /// The methods; each gives one map per image and target.
    pub methods: Vec<Method>,
    /// Target layers (empty: the model's default); several are averaged.
    pub layers: Vec<String>,
    /// `auto` (the best classes), a class index, a label or a class group.
    pub target: String,
    /// With `auto`, how many of the best classes.
    pub top_k: usize,
    /// Extra class groups, a JSON file `{"name": [class, ...]}`.
    pub groups: Option<PathBuf>,
    /// True labels, a `path,label` CSV (default: folder names that are labels).
    pub truth: Option<PathBuf>,
    /// Average over flips and scalings.
    pub aug_smooth: bool,
    /// First principal component instead of the channel sum.
    pub eigen_smooth: bool,
    /// Images explained together.
    pub batch_size: usize,
    /// Masked inputs or ablations per forward pass (default: the method's).
    pub probe_batch_size: Option<usize>,
    /// Samples, noise, steps and windows of the sampling, perturbation and path methods.
    pub settings: MethodSettings,
    /// Limits on downloading URL inputs.
    pub fetch: FetchLimits,
    /// How heatmaps are drawn over the images.
    pub style: OverlayStyle,
    /// Set (by Ctrl-C, say) to stop after the current batch; the summary holds what is done.
    pub stop: Option<Arc<AtomicBool>>,
    /// The output directory of an interrupted run to go on with: its complete images are
    /// kept, not explained again.
    pub resume: Option<PathBuf>,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        ExplainConfig {
            methods: vec![Method::GradCam],
            layers: Vec::new(),
            target: "auto".into(),
            top_k: 1,
            groups: None,
            truth: None,
            aug_smooth: false,
            eigen_smooth: false,
            batch_size: 8,
            probe_batch_size: None,
            settings: MethodSettings::default(),
            fetch: FetchLimits::default(),
            style: OverlayStyle::default(),
            stop: None,
            resume: None,
        }
    }
}

/// An explain run over one model, ready to take inputs.
pub struct ExplainRun<'m> {
    opened: &'m OpenedModel,
    explainer: Explainer<'m>,
    plan: Arc<ExplainPlan>,
}

/// What an explain run reads and checks once, apart from the model it borrows: its
/// configuration, the target and the true labels. A front end that cannot keep a borrow of the
/// model between calls (a Python object) keeps this and makes the run of each call with
/// [`ExplainRun::of`], which only looks the layers up again.
pub struct ExplainPlan {
    config: ExplainConfig,
    spec: TargetSpec,
    truths: Truths,
}

impl ExplainPlan {
    /// The configuration the run was made with.
    pub fn config(&self) -> &ExplainConfig {
        &self.config
    }
}

impl<'m> ExplainRun<'m> {
    /// Checks the configuration against the model: layers, target, groups, true labels.
    pub fn new(opened: &'m OpenedModel, config: ExplainConfig) -> Result<Self> {
        if !(0.0..=1.0).contains(&config.style.alpha) {
            return Err(PipelineError::OutOfRange {
                option: "alpha",
                expected: "between 0 and 1",
                value: config.style.alpha.to_string(),
            });
        }
        let explainer = explainer(opened, &config)?;
        let mut groups = ClassGroups::builtin(opened.model.net.num_classes());
        if let Some(path) = &config.groups {
            groups.extend_from_file(path, &opened.labels)?;
        }
        let spec = TargetSpec::parse(&config.target, &opened.labels, &groups)?;
        if spec != TargetSpec::Auto && config.top_k > 1 {
            return Err(PipelineError::TopKWithTarget {
                target: config.target.clone(),
            });
        }
        let truths = match &config.truth {
            Some(path) => Truths::from_csv(path, &opened.labels)?,
            None => Truths::default(),
        };
        Ok(ExplainRun {
            opened,
            explainer,
            plan: Arc::new(ExplainPlan {
                config,
                spec,
                truths,
            }),
        })
    }

    /// The run of `plan` (from [`ExplainRun::plan`] of a run over the same `opened`), without
    /// reading and checking it again.
    pub fn of(opened: &'m OpenedModel, plan: Arc<ExplainPlan>) -> Result<Self> {
        Ok(ExplainRun {
            opened,
            explainer: explainer(opened, &plan.config)?,
            plan,
        })
    }

    /// What this run read and checked, to make it again with [`ExplainRun::of`].
    pub fn plan(&self) -> Arc<ExplainPlan> {
        self.plan.clone()
    }

    /// The target layers' names.
    pub fn layer_names(&self) -> Vec<String> {
        self.explainer
            .layer_names()
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// The methods, in the order of each image's maps.
    pub fn methods(&self) -> &[Method] {
        self.explainer.methods()
    }

    /// Explains `sources` in batches, handing each image to every sink; `failed` are inputs
    /// already known to fail (missing files), recorded first. Per-input failures go into the
    /// summary and to the sinks; an error is returned only when the run itself cannot go on.
    pub fn run(
        &self,
        sources: &[Source],
        failed: Vec<InputError>,
        sinks: &mut [Box<dyn ExplainSink + '_>],
    ) -> Result<RunSummary> {
        let info = self.info(sources.len() + failed.len());
        // Read before the sinks begin: the summary sink starts a fresh journal.
        let mut previous = match &self.plan.config.resume {
            Some(dir) => summary::previous_run(dir, &summary::RunHeader::of(&info))?,
            None => Default::default(),
        };
        for sink in sinks.iter_mut() {
            sink.begin(&info)?;
        }
        let mut errors = Vec::new();
        let mut fail = |error: InputError, sinks: &mut [Box<dyn ExplainSink + '_>]| {
            for sink in sinks.iter_mut() {
                sink.error(&error);
            }
            errors.push(ImageError::from(&error));
        };
        for error in failed {
            fail(error, sinks);
        }
        let feeding = Feeding {
            preprocess: &self.opened.preprocess,
            limits: &self.opened.limits,
            fetch: &self.plan.config.fetch,
        };
        // Names a run-level file takes (grid.<method>.png) are never an input's stem.
        let mut stems: HashSet<String> = RESERVED_STEMS.iter().map(|s| s.to_string()).collect();
        let mut images: Vec<(usize, ImageSummary)> = Vec::new();
        // Batches are the uninterrupted run's (the same inputs together, so the same
        // rounding): a batch whose every input is complete from the earlier run is kept,
        // any other is explained again whole.
        let batch_size = self.plan.config.batch_size.max(1);
        let positioned: Vec<(usize, Source)> = sources.iter().cloned().enumerate().collect();
        let mut pending = Vec::new();
        for chunk in positioned.chunks(batch_size) {
            let kept: Option<Vec<ImageSummary>> = chunk
                .iter()
                .map(|(_, source)| previous.get(&source.to_string()).cloned())
                .collect();
            match kept {
                Some(entries) => {
                    for ((position, _), entry) in chunk.iter().zip(entries) {
                        stems.insert(summary::stem_of(&entry));
                        match record(sinks, &entry, *position, true) {
                            Ok(()) => images.push((*position, entry)),
                            Err(e) => {
                                fail(InputError::other(entry.image, InputErrorKind::Io, e), sinks)
                            }
                        }
                    }
                }
                None => pending.push(chunk),
            }
        }
        previous.clear();
        let mut interrupted = false;
        for chunk in pending {
            if self.stopped() {
                interrupted = true;
                break;
            }
            let chunk_sources: Vec<Source> = chunk.iter().map(|(_, s)| s.clone()).collect();
            let mut batch = Vec::new();
            let mut positions = Vec::new();
            for (decoded, (position, _)) in
                feeding.decode_all(&chunk_sources).into_iter().zip(chunk)
            {
                match decoded {
                    Ok(d) => {
                        batch.push(d);
                        positions.push(*position);
                    }
                    Err(e) => fail(e, sinks),
                }
            }
            if batch.is_empty() {
                continue;
            }
            let explanations = match self.explain_batch(&batch) {
                Ok(explanations) => explanations,
                Err(e) => {
                    for item in &batch {
                        let input = item.source.to_string();
                        fail(InputError::other(input, InputErrorKind::Model, &e), sinks);
                    }
                    continue;
                }
            };
            for ((item, explanation), &position) in batch.iter().zip(&explanations).zip(&positions)
            {
                if let Some(e) = non_finite(item, explanation) {
                    fail(e, sinks);
                    continue;
                }
                let stem = unique_stem(&mut stems, &item.source.stem());
                let image = self.explained_image(item, explanation, &stem, position);
                let written = write_image(&image, sinks).and_then(|files| {
                    let entry = image_summary(&image, files, &info.layers);
                    record(sinks, &entry, position, false)?;
                    Ok(entry)
                });
                match written {
                    Ok(entry) => images.push((position, entry)),
                    Err(e) => {
                        let input = item.source.to_string();
                        fail(InputError::other(input, InputErrorKind::Io, e), sinks);
                    }
                }
            }
        }
        // In input order, whatever order resuming and batching gave them.
        images.sort_by_key(|(position, _)| *position);
        let images = images.into_iter().map(|(_, entry)| entry).collect();
        let mut summary = RunSummary {
            model: info.model,
            weights: info.weights,
            layers: info.layers,
            methods: info.methods.iter().map(|m| m.id().to_string()).collect(),
            target: info.target,
            aug_smooth: info.aug_smooth,
            eigen_smooth: info.eigen_smooth,
            images,
            grids: Vec::new(),
            errors,
            interrupted,
        };
        for sink in sinks.iter_mut() {
            for file in sink.finish(&summary)? {
                if file.role == FileRole::Grid {
                    summary
                        .grids
                        .push(whycam_data::shown_path(&file.path).into_owned());
                }
            }
        }
        Ok(summary)
    }

    /// Whether the caller asked the run to stop (Ctrl-C).
    fn stopped(&self) -> bool {
        self.plan
            .config
            .stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
    }

    pub(crate) fn explain_batch(
        &self,
        batch: &[Decoded],
    ) -> whycam_cam::Result<Vec<ImageExplanation>> {
        let mut out = Vec::with_capacity(batch.len());
        for run in same_size_runs(batch, |d| &d.prepared) {
            let x = batch_tensor(run.iter().map(|d| &d.prepared), self.opened.model.device());
            out.extend(self.explainer.explain(
                x,
                &self.plan.spec,
                self.plan.config.top_k,
                &self.opened.labels,
            )?);
        }
        Ok(out)
    }

    /// The image with its ranking, truth and overlays, as the sinks see it.
    fn explained_image<'a>(
        &self,
        item: &'a Decoded,
        explanation: &'a ImageExplanation,
        stem: &'a OsStr,
        position: usize,
    ) -> ExplainedImage<'a> {
        let labels = &self.opened.labels;
        let probabilities = class_probabilities(&explanation.logits);
        let top: Vec<ClassProbability> = rank(&explanation.logits, labels, 5)
            .into_iter()
            .map(|p| ClassProbability {
                index: p.index,
                label: p.label,
                probability: p.probability,
            })
            .collect();
        let prediction = top[0].clone();
        let truth = self
            .plan
            .truths
            .find(&item.source, labels)
            .map(|index| Truth {
                index,
                label: label_of(labels, index),
                correct: index == prediction.index,
            });
        let several = explanation.targets.len() > 1;
        let maps = explanation
            .targets
            .iter()
            .flat_map(|target| {
                let probability = target_probability(&target.target, &probabilities);
                target
                    .maps
                    .iter()
                    .map(move |map| (target, probability, map))
            })
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|(target, probability, map)| {
                let mut name = with_suffix(stem, &format!(".{}", map.method.id()));
                if several {
                    name.push(format!(".{}", target.target.tag()));
                }
                let heatmap = whycam_render::Heatmap {
                    height: map.map.height,
                    width: map.map.width,
                    data: &map.map.data,
                };
                ExplainedMap {
                    method: map.method,
                    target: TargetSummary {
                        index: target.target.class,
                        label: target.target.name.clone(),
                        score: target.score,
                        probability,
                    },
                    map: &map.map,
                    signed: &map.signed,
                    overlay: whycam_render::overlay(
                        &item.original,
                        &item.prepared.region,
                        heatmap,
                        &self.plan.config.style,
                    ),
                    name,
                }
            })
            .collect();
        ExplainedImage {
            source: &item.source,
            position,
            stem,
            original: &item.original,
            region: &item.prepared.region,
            prediction,
            top,
            truth,
            warnings: &item.warnings,
            maps,
        }
    }
}

/// The explainer of `config`'s methods and layers over the model.
fn explainer<'m>(opened: &'m OpenedModel, config: &ExplainConfig) -> Result<Explainer<'m>> {
    Ok(Explainer::new(
        &opened.model,
        ExplainOptions {
            methods: config.methods.clone(),
            layers: config.layers.clone(),
            aug_smooth: config.aug_smooth,
            eigen_smooth: config.eigen_smooth,
            probe_batch_size: config.probe_batch_size,
            settings: config.settings.clone(),
            normalization: Some(opened.preprocess.normalization),
        },
    )?)
}

/// Stems an input never gets: the contact sheets are `grid.<method>.png`.
const RESERVED_STEMS: &[&str] = &["grid"];

/// Tells every sink that an image's entry is complete (written now, or by the run resumed).
fn record(
    sinks: &mut [Box<dyn ExplainSink + '_>],
    entry: &ImageSummary,
    position: usize,
    resumed: bool,
) -> Result<()> {
    for sink in sinks.iter_mut() {
        sink.recorded(entry, position, resumed)?;
    }
    Ok(())
}

/// Hands one image to every sink at once; the files they wrote, in sink order.
fn write_image(
    image: &ExplainedImage<'_>,
    sinks: &mut [Box<dyn ExplainSink + '_>],
) -> Result<Vec<WrittenFile>> {
    let written: Vec<Result<Vec<WrittenFile>>> =
        sinks.par_iter_mut().map(|s| s.image(image)).collect();
    let mut files = Vec::new();
    for w in written {
        files.extend(w?);
    }
    Ok(files)
}

/// What `explanations.json` records of one image.
fn image_summary(
    image: &ExplainedImage<'_>,
    files: Vec<WrittenFile>,
    layers: &[String],
) -> ImageSummary {
    let listed =
        |f: &WrittenFile| matches!(f.role, FileRole::Overlay | FileRole::Raw | FileRole::Signed);
    let explanations = image
        .maps
        .iter()
        .enumerate()
        .map(|(i, map)| {
            let of_map: Vec<&WrittenFile> = files
                .iter()
                .filter(|f| f.map == Some(i) && listed(f))
                .collect();
            ExplanationSummary {
                target: map.target.clone(),
                method: map.method.id().to_string(),
                layers: layers.to_vec(),
                files: of_map
                    .iter()
                    .map(|f| whycam_data::shown_path(&f.path).into_owned())
                    .collect(),
                roles: of_map.iter().map(|f| f.role).collect(),
                other_files: files
                    .iter()
                    .filter(|f| f.map == Some(i) && !listed(f))
                    .map(|f| RecordedFile {
                        file: whycam_data::shown_path(&f.path).into_owned(),
                        role: f.role,
                    })
                    .collect(),
            }
        })
        .collect();
    let of_role = |role: FileRole| {
        files
            .iter()
            .filter(move |f| f.role == role)
            .map(|f| whycam_data::shown_path(&f.path).into_owned())
    };
    ImageSummary {
        image: image.source.to_string(),
        original: of_role(FileRole::Original).next(),
        prediction: image.prediction.clone(),
        top: image.top.clone(),
        truth: image.truth.clone(),
        explanations,
        figures: of_role(FileRole::Figure).collect(),
        warnings: image.warnings.to_vec(),
    }
}

/// The input's error when the network computed NaN or infinity for it: its maps and
/// probabilities would mean nothing, and JSON has no number for them.
pub fn non_finite(item: &Decoded, explanation: &ImageExplanation) -> Option<InputError> {
    let finite = explanation.logits.iter().all(|v| v.is_finite())
        && explanation.targets.iter().all(|t| {
            t.score.is_finite()
                && t.maps.iter().all(|m| {
                    m.map
                        .data
                        .iter()
                        .chain(m.signed.iter().flat_map(|p| &p.data))
                        .all(|v| v.is_finite())
                })
        });
    (!finite).then(|| InputError::other(item.source.to_string(), InputErrorKind::Model, NON_FINITE))
}

/// Why an input whose logits or maps are not numbers fails.
pub(crate) const NON_FINITE: &str =
    "the network computed NaN or infinity for this input (its logits or maps are not numbers)";

/// `stem`, or `stem-2`, `stem-3`… when an earlier input had the same stem.
/// `stem`, or `stem-2`, `stem-3`... if taken. Stems are compared as they are shown
/// ([`whycam_data::shown_name`], which is what a resumed run reads back from the summary),
/// so two names that differ only in how they are not UTF-8 still get distinct stems.
pub(crate) fn unique_stem(used: &mut HashSet<String>, stem: &OsStr) -> OsString {
    let mut candidate = stem.to_os_string();
    let mut n = 1;
    while !used.insert(whycam_data::shown_name(&candidate).into_owned()) {
        n += 1;
        candidate = with_suffix(stem, &format!("-{n}"));
    }
    candidate
}

/// The probability of a target: its class's, or the sum over a group's classes (as
/// `explanations.json` records it).
pub fn target_probability(target: &whycam_cam::Target, probabilities: &[f32]) -> f32 {
    match target.class {
        Some(c) => probabilities.get(c).copied().unwrap_or(0.0),
        None => target
            .coefficients
            .iter()
            .filter(|(_, c)| *c > 0.0)
            .map(|&(j, _)| probabilities.get(j).copied().unwrap_or(0.0))
            .sum(),
    }
}

// An explain run cut into parts that run apart and write into one directory (Ray actors).
pub mod parts;
