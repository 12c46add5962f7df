//! `Model.evaluate`: which map to trust, as `whycam evaluate` scores it (the pipeline's
//! [`EvaluateRun`]), the report returned as the dict `whycam evaluate --json` prints.

use crate::errors::{InvalidArgument, pipeline_error};
use crate::inputs::read_inputs;
use crate::model::Model;
use pyo3::prelude::*;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use whycam_cam::{Method, MethodSettings, Noise};
use whycam_data::datasets::Split;
use whycam_pipeline::PipelineError;
use whycam_pipeline::data::Selection;
use whycam_pipeline::evaluate::decoded::report_json;
use whycam_pipeline::evaluate::{EvaluateConfig, EvaluateRun, Metric};

/// What `evaluate` was asked, checked.
pub struct EvaluateRequest {
    pub methods: Vec<Method>,
    pub layers: Vec<String>,
    pub target: String,
    /// Metric ids (empty: the defaults, as `whycam evaluate`).
    pub metrics: Vec<String>,
    pub steps: usize,
    pub road_noise: f32,
    pub seed: u64,
    pub boxes: Option<PathBuf>,
    pub batch_size: usize,
    pub score_batch_size: usize,
    /// With one labelled dataset as `images`: at most this many samples.
    pub limit: Option<usize>,
}

/// Scores `images` (paths, arrays, PIL images, tensors; or one labelled dataset, as
/// `whycam evaluate` takes it) and returns the report as a dict.
pub fn evaluate(
    model: &Model,
    py: Python<'_>,
    images: &Bound<'_, PyAny>,
    request: EvaluateRequest,
) -> PyResult<Py<PyAny>> {
    let metrics = if request.metrics.is_empty() {
        Metric::defaults()
    } else {
        request
            .metrics
            .iter()
            .map(|m| m.parse::<Metric>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pipeline_error(&e))?
    };
    if request.batch_size == 0 || request.score_batch_size == 0 {
        return Err(InvalidArgument::new_err(
            "batch_size and score_batch_size must be at least 1",
        ));
    }
    let dataset = dataset_path(images);
    let inputs = match dataset {
        Some(_) => Vec::new(),
        None => read_inputs(images)?,
    };
    let json = py
        .detach(|| {
            let opened = model.opened_for(&request.layers)?;
            let config = EvaluateConfig {
                methods: request.methods.clone(),
                layers: request.layers.clone(),
                target: request.target.clone(),
                metrics,
                steps: request.steps,
                road_noise: request.road_noise,
                seed: request.seed,
                settings: MethodSettings {
                    noise: Noise::Seeded(request.seed),
                    ..MethodSettings::default()
                },
                boxes: request.boxes.clone(),
                batch_size: request.batch_size,
                score_batch_size: request.score_batch_size,
                ..EvaluateConfig::default()
            };
            let run = EvaluateRun::new(&opened, config)?;
            let report = match &dataset {
                Some(path) => {
                    let selection = Selection {
                        limit: request.limit,
                        ..Selection::default()
                    };
                    let data = selection.open(path, Split::Test)?;
                    run.run_dataset(data.as_ref(), &mut ())?
                }
                None => {
                    let batches = inputs
                        .chunks(request.batch_size)
                        .map(|chunk| chunk.par_iter().map(|i| i.decode(&opened)).collect());
                    run.run_decoded(inputs.len(), Vec::new(), batches, &mut ())?
                }
            };
            Ok::<_, PipelineError>(report_json(&report))
        })
        .map_err(|e| pipeline_error(&e))?;
    Ok(py.import("json")?.call_method1("loads", (json,))?.unbind())
}

/// The path of `images` when it is one labelled dataset (a path,label CSV, an ImageFolder,
/// MNIST, CIFAR-10...) rather than images.
fn dataset_path(images: &Bound<'_, PyAny>) -> Option<PathBuf> {
    let path: PathBuf = images.extract().ok()?;
    whycam_pipeline::embed::is_dataset(Path::new(&path)).then_some(path)
}
