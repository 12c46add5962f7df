//! Deep Feature Factorization over a stream of inputs, as pytorch-grad-cam's tutorial runs it
//! (`run_dff_on_image`, one image at a time): the layer's activations of each image factorised
//! into `k` concepts ([`whycam_cam::dff::factorize`], scikit-learn's NMF and start), each
//! concept scored by the classifier and drawn over the image with a legend of its best
//! classes. Inputs are decoded in batches and the network traces a batch at once; each image's
//! failure is its own ([`InputError`]), the rest of the run goes on.
//!
//! What the concept scores mean: a concept is a point in the layer's activation space (one
//! value per channel). Its scores are the network resumed at the layer from a map holding that
//! point at every position (the layer's own `h × w`). Where the layer feeds global average
//! pooling and the classifier (the default layer of every zoo model), that is exactly the
//! classifier applied to the concept vector, pytorch-grad-cam's `computation_on_concepts`; at an
//! earlier layer it is what the rest of the network makes of an image that is that concept
//! everywhere, a looser reading (pytorch-grad-cam has none: its tutorial scores concepts with
//! the classifier alone, at the last layer).
//!
//! Files, in the output directory: `<stem>.dff.png` (the concepts over the image and the
//! legend beside it), with `save_raw` `<stem>.dff.npy` (`k × h × w` float32, each concept's map
//! at the layer's resolution scaled to `[0, 1]` as pytorch-grad-cam scales it), and
//! [`DffSummary::FILE`] for the whole run.

use crate::batch::{Decoded, Feeding, batch_tensor, same_size_runs};
use crate::error::{InputError, InputErrorKind, PipelineError, Result};
use crate::explain::summary::{ClassProbability, ImageError};
use crate::explain::unique_stem;
use crate::open::OpenedModel;
use crate::rank::{label_of, rank};
use crate::write;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use whycam_cam::Plane;
use whycam_cam::dff::{Factorization, NmfInit, concept_legend, factorize};
use whycam_data::{FetchLimits, Source};
use whycam_render::factorization::{
    DFF_IMAGE_WEIGHT, LegendEntry, concept_colours, factorization_figure, factorization_overlay,
    legend_line,
};
use whycam_render::{Heatmap, Layout};

/// The tutorial's number of concepts (`run_dff_on_image`'s and `dff()`'s default).
pub const DEFAULT_CONCEPTS: usize = 5;
/// Classes listed per concept, as `create_labels_legend`'s `top_k`.
pub const DEFAULT_TOP: usize = 2;

/// How a DFF run goes.
#[derive(Debug, Clone)]
pub struct DffConfig {
    /// The layer whose activations are factorised (default: the model's default CAM layer,
    /// the one its classifier pools).
    pub layer: Option<String>,
    /// Concepts per image, `k`: 1 to the layer's positions per image.
    pub concepts: usize,
    /// Classes listed per concept.
    pub top: usize,
    /// Inputs decoded and traced together (each is factorised on its own).
    pub batch_size: usize,
    /// Also write each image's scaled concept maps as `<stem>.dff.npy`.
    pub save_raw: bool,
    /// The image's weight in the blend, 0 to 1 (the tutorial's 0.3).
    pub image_weight: f64,
    /// Where the NMF starts (default: scikit-learn's own draws, seed 0, as pytorch-grad-cam).
    pub init: NmfInit,
    /// Limits on downloading URL inputs.
    pub fetch: FetchLimits,
    /// Set (by Ctrl-C, say) to stop after the current batch; the summary holds what is done.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for DffConfig {
    fn default() -> Self {
        DffConfig {
            layer: None,
            concepts: DEFAULT_CONCEPTS,
            top: DEFAULT_TOP,
            batch_size: 8,
            save_raw: false,
            image_weight: DFF_IMAGE_WEIGHT,
            init: NmfInit::default(),
            fetch: FetchLimits::default(),
            stop: None,
        }
    }
}

/// `dff.json`: the whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DffSummary {
    pub model: String,
    pub weights: String,
    pub layer: String,
    /// Concepts per image.
    pub concepts: usize,
    pub images: Vec<DffImage>,
    pub errors: Vec<ImageError>,
    /// Stopped before every input was done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

impl DffSummary {
    /// The summary's file name in the output directory.
    pub const FILE: &'static str = "dff.json";

    /// The summary as `dff.json` holds it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary serialises")
    }
}

/// One image's factorisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DffImage {
    pub image: String,
    /// The model's best class for the image.
    pub prediction: ClassProbability,
    pub layer: String,
    /// Concepts.
    pub k: usize,
    /// The layer's map size, `[h, w]`.
    pub shape: [usize; 2],
    /// The NMF's sweeps (scikit-learn's `n_iter_`), and whether it met its stopping rule.
    pub nmf_iterations: usize,
    pub converged: bool,
    /// `‖X − W H‖_F` of the image's shifted activation matrix.
    pub reconstruction_error: f64,
    /// Per concept, in the order of the maps and the legend.
    pub concept_list: Vec<ConceptSummary>,
    /// The files written: the picture, then the raw maps.
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One concept of one image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConceptSummary {
    /// Its colour in the picture, `#rrggbb`.
    pub colour: String,
    /// The share of the layer's positions where it is the strongest concept (what the picture
    /// paints in its colour), 0 to 1.
    pub share: f32,
    /// Its best classes: the classifier's probabilities for the concept.
    pub top: Vec<ClassProbability>,
}

/// Sees each result as it comes (a progress bar); every method defaults to nothing.
pub trait DffSink {
    /// One input was factorised and written.
    fn image(&mut self, _result: &DffImage) {}
    /// One input failed.
    fn error(&mut self, _error: &InputError) {}
}

/// A sink that ignores everything.
impl DffSink for () {}

/// A DFF run over one model, its settings checked, ready to take inputs.
pub struct DffRun<'m> {
    opened: &'m OpenedModel,
    layer: String,
    layer_index: usize,
    config: DffConfig,
}

impl<'m> DffRun<'m> {
    /// Checks the configuration against the model before any input is read: the layer
    /// exists, `k` is at least 1 and at most the layer's positions per image (measured by one
    /// pass of a blank input of the model's input size), `top` and the image weight are in
    /// range.
    pub fn new(opened: &'m OpenedModel, config: DffConfig) -> Result<Self> {
        let model = &opened.model;
        if !(0.0..=1.0).contains(&config.image_weight) {
            return Err(PipelineError::OutOfRange {
                option: "image_weight",
                expected: "between 0 and 1",
                value: config.image_weight.to_string(),
            });
        }
        let classes = opened.labels.len().max(model.net.num_classes());
        if config.top == 0 || config.top > classes {
            return Err(PipelineError::OutOfRange {
                option: "top",
                expected: "at least 1 and at most the model's classes",
                value: format!("{} ({} has {classes} classes)", config.top, model.name),
            });
        }
        let layer = match &config.layer {
            Some(name) => name.clone(),
            None => model.layer_name(model.net.default_layer()).to_string(),
        };
        let layer_index = model.layer(&layer)?;
        let size = opened.preprocess.size as usize;
        let probe = Tensor::<4>::zeros([1, 3, size, size], model.device());
        let trace = model.net.trace(probe, &[layer_index])?;
        let [_, _, h, w] = trace.activations[0].dims();
        let positions = h * w;
        if config.concepts == 0 || config.concepts > positions {
            return Err(PipelineError::OutOfRange {
                option: "concepts",
                expected: "at least 1 and at most the layer's positions per image",
                value: format!(
                    "{} (layer {layer} of {} is {h}x{w} = {positions} positions at \
                     {size}x{size} px)",
                    config.concepts, model.name
                ),
            });
        }
        Ok(DffRun {
            opened,
            layer,
            layer_index,
            config,
        })
    }

    /// The layer factorised, as named (or the default one).
    pub fn layer(&self) -> &str {
        &self.layer
    }

    /// Factorises `sources` in batches, writing each image's files into `dir` (which must
    /// exist) and `dff.json` at the end (also when interrupted); `failed` are inputs already
    /// known to fail. Per-input failures go into the summary; an error is returned only when
    /// the run itself cannot go on (the summary cannot be written).
    pub fn run(
        &self,
        sources: &[Source],
        failed: Vec<InputError>,
        dir: &Path,
        sink: &mut dyn DffSink,
    ) -> Result<DffSummary> {
        let mut errors = Vec::new();
        let mut fail = |e: InputError, sink: &mut dyn DffSink| {
            sink.error(&e);
            errors.push(ImageError::from(&e));
        };
        for e in failed {
            fail(e, sink);
        }
        let feeding = Feeding {
            preprocess: &self.opened.preprocess,
            limits: &self.opened.limits,
            fetch: &self.config.fetch,
        };
        // The summary's own name is never an input's stem.
        let mut stems: HashSet<String> = HashSet::from(["dff".to_string()]);
        let mut images = Vec::new();
        let mut interrupted = false;
        for chunk in sources.chunks(self.config.batch_size.max(1)) {
            if self
                .config
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::SeqCst))
            {
                interrupted = true;
                break;
            }
            let mut batch = Vec::new();
            for decoded in feeding.decode_all(chunk) {
                match decoded {
                    Ok(d) => batch.push(d),
                    Err(e) => fail(e, sink),
                }
            }
            for run in same_size_runs(&batch, |d| &d.prepared) {
                let factorised = match self.factorise_run(run) {
                    Ok(f) => f,
                    Err(e) => {
                        for item in run {
                            let input = item.source.to_string();
                            fail(InputError::other(input, InputErrorKind::Model, &e), sink);
                        }
                        continue;
                    }
                };
                for (item, result) in run.iter().zip(factorised) {
                    let input = item.source.to_string();
                    let image = match result {
                        Ok(image) => image,
                        Err(e) => {
                            fail(InputError::other(input, InputErrorKind::Model, e), sink);
                            continue;
                        }
                    };
                    let stem = unique_stem(&mut stems, &item.source.stem());
                    match self.write_image(item, image, dir, &stem) {
                        Ok(entry) => {
                            sink.image(&entry);
                            images.push(entry);
                        }
                        Err(e) => fail(InputError::other(input, InputErrorKind::Io, e), sink),
                    }
                }
            }
        }
        let summary = DffSummary {
            model: self.opened.model.name.clone(),
            weights: whycam_data::shown_path(&self.opened.model.weights).into_owned(),
            layer: self.layer.clone(),
            concepts: self.config.concepts,
            images,
            errors,
            interrupted,
        };
        write::atomically(&dir.join(DffSummary::FILE), summary.to_json().as_bytes())?;
        Ok(summary)
    }

    /// One trace of images of one size, then per image its factorisation and concept scores.
    fn factorise_run(
        &self,
        run: &[Decoded],
    ) -> whycam_models::Result<Vec<std::result::Result<Factorised, String>>> {
        let model = &self.opened.model;
        let x = batch_tensor(run.iter().map(|d| &d.prepared), model.device());
        let trace = model.net.trace(x, &[self.layer_index])?;
        let [n, channels, h, w] = trace.activations[0].dims();
        let activations = host(trace.activations[0].clone());
        let logits = host(trace.logits.clone());
        let classes = logits.len() / n.max(1);
        let k = self.config.concepts;
        let mut out = Vec::with_capacity(n);
        for (i, item_logits) in logits.chunks(classes.max(1)).enumerate() {
            let per_image = channels * h * w;
            let acts = &activations[i * per_image..(i + 1) * per_image];
            let result = (|| {
                if item_logits.iter().any(|v| !v.is_finite()) {
                    return Err(crate::explain::NON_FINITE.to_string());
                }
                let f = factorize(acts, 1, channels, h, w, k, &self.config.init)
                    .map_err(|e| e.to_string())?;
                // Each concept at every position of the layer's map: the classifier on the
                // concept where the layer feeds global average pooling.
                let positions = h * w;
                let tiled: Vec<f32> = (0..k)
                    .flat_map(|j| f.concept(j))
                    .flat_map(|v| std::iter::repeat_n(v, positions))
                    .collect();
                let maps = Tensor::<4>::from_data(
                    TensorData::new(tiled, [k, channels, h, w]),
                    model.device(),
                );
                let scores = model
                    .net
                    .resume(&trace.for_image(i, k), 0, maps)
                    .map_err(|e| e.to_string())?;
                let scores = host(scores);
                let legend = self.legend(&scores, k).map_err(|e| e.to_string())?;
                Ok(Factorised {
                    prediction: rank(item_logits, &self.opened.labels, 1)
                        .into_iter()
                        .map(|p| ClassProbability {
                            index: p.index,
                            label: p.label,
                            probability: p.probability,
                        })
                        .next(),
                    factorization: f,
                    legend,
                })
            })();
            out.push(result);
        }
        Ok(out)
    }

    /// Each concept's best classes from its scores (`k` rows): softmax as pytorch-grad-cam's
    /// legend, or for a one-logit head the sigmoid of the crate's one-logit rule.
    fn legend(&self, scores: &[f32], k: usize) -> whycam_cam::Result<Vec<Vec<ClassProbability>>> {
        let labels = &self.opened.labels;
        let classes = scores.len() / k.max(1);
        let class = |index: usize, probability: f32| ClassProbability {
            index,
            label: label_of(labels, index),
            probability,
        };
        if classes == 1 {
            return Ok(scores
                .iter()
                .map(|&s| {
                    rank(&[s], labels, self.config.top)
                        .into_iter()
                        .map(|p| class(p.index, p.probability))
                        .collect()
                })
                .collect());
        }
        Ok(concept_legend(scores, classes, self.config.top)?
            .into_iter()
            .map(|row| row.into_iter().map(|(c, p)| class(c, p)).collect())
            .collect())
    }

    /// Draws and writes one image's files; its summary entry.
    fn write_image(
        &self,
        item: &Decoded,
        image: Factorised,
        dir: &Path,
        stem: &std::ffi::OsStr,
    ) -> Result<DffImage> {
        let f = &image.factorization;
        let scaled: Vec<Plane> = f.scaled_maps().into_iter().next().unwrap_or_default();
        let (h, w) = scaled.first().map_or((0, 0), |p| (p.height, p.width));
        let colours = concept_colours(f.k);
        let heatmaps: Vec<Heatmap<'_>> = scaled
            .iter()
            .map(|p| Heatmap {
                height: p.height,
                width: p.width,
                data: &p.data,
            })
            .collect();
        let overlay = factorization_overlay(
            &item.original,
            &item.prepared.region,
            &heatmaps,
            self.config.image_weight,
        );
        let legend: Vec<LegendEntry> = image
            .legend
            .iter()
            .zip(&colours)
            .map(|(top, &colour)| LegendEntry {
                colour,
                lines: top
                    .iter()
                    .map(|c| legend_line(&c.label, c.probability))
                    .collect(),
            })
            .collect();
        let size = item.original.height().clamp(160, 1024);
        let layout = Layout {
            size,
            font_size: (size as f32 / 16.0).clamp(11.0, 28.0),
        };
        let figure = factorization_figure(&overlay, &legend, layout)?;
        let mut files = Vec::new();
        let png = dir.join(with_suffix(stem, ".dff.png"));
        write::png(&figure, &png)?;
        files.push(png);
        if self.config.save_raw {
            let npy = dir.join(with_suffix(stem, ".dff.npy"));
            let data: Vec<f32> = scaled.iter().flat_map(|p| p.data.iter().copied()).collect();
            write::npy(&npy, &[f.k as u64, h as u64, w as u64], &data)?;
            files.push(npy);
        }
        let shares = strongest_shares(&scaled);
        let concept_list = image
            .legend
            .into_iter()
            .zip(&colours)
            .zip(shares)
            .map(|((top, [r, g, b]), share)| ConceptSummary {
                colour: format!("#{r:02x}{g:02x}{b:02x}"),
                share,
                top,
            })
            .collect();
        Ok(DffImage {
            image: item.source.to_string(),
            prediction: image.prediction.unwrap_or(ClassProbability {
                index: 0,
                label: label_of(&self.opened.labels, 0),
                probability: 0.0,
            }),
            layer: self.layer.clone(),
            k: f.k,
            shape: [h, w],
            nmf_iterations: f.n_iter,
            converged: f.converged,
            reconstruction_error: f.reconstruction_err,
            concept_list,
            files: files
                .iter()
                .map(|p| whycam_data::shown_path(p).into_owned())
                .collect(),
            warnings: item.warnings.clone(),
        })
    }
}

/// One image's factorisation with its legend, before drawing.
struct Factorised {
    prediction: Option<ClassProbability>,
    factorization: Factorization,
    legend: Vec<Vec<ClassProbability>>,
}

/// Per concept, the share of positions where its scaled map is the largest (the first of
/// equals, as the picture decides).
fn strongest_shares(maps: &[Plane]) -> Vec<f32> {
    let mut counts = vec![0usize; maps.len()];
    let positions = maps.first().map_or(0, |m| m.data.len());
    for p in 0..positions {
        let mut best = 0;
        for (j, m) in maps.iter().enumerate() {
            if m.data[p] > maps[best].data[p] {
                best = j;
            }
        }
        counts[best] += 1;
    }
    counts
        .into_iter()
        .map(|c| c as f32 / positions.max(1) as f32)
        .collect()
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("the network computes in f32")
}

fn with_suffix(name: &std::ffi::OsStr, suffix: &str) -> OsString {
    let mut out = name.to_os_string();
    out.push(suffix);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_count_the_strongest_concept() {
        let a = Plane::new(1, 4, vec![1.0, 0.0, 0.5, 0.2]);
        let b = Plane::new(1, 4, vec![0.0, 1.0, 0.5, 0.9]);
        assert_eq!(strongest_shares(&[a, b]), [0.5, 0.5]);
        let mut used = HashSet::from(["dff".to_string()]);
        assert_eq!(unique_stem(&mut used, "dff".as_ref()), "dff-2");
        assert_eq!(unique_stem(&mut used, "cat".as_ref()), "cat");
        assert_eq!(unique_stem(&mut used, "cat".as_ref()), "cat-2");
    }
}
