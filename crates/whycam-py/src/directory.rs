//! `whycam._native.DirectoryRun`: an explain run that writes into a directory what
//! `whycam explain --out DIR` writes there, cut into parts that run apart (the Ray actors of
//! `whycam.ray.explain`). The run is the pipeline's ([`whycam_pipeline::explain::parts`]): the
//! driver plans it, each part explains whole batches and journals its entries, the driver
//! joins the journals into `explanations.json`. Batches travel between processes as plain
//! tuples `(position, is_url, input, stem)`.

use crate::errors::{InvalidArgument, pipeline_error};
use crate::model::{Model, names, parse_methods};
use pyo3::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use whycam_cam::{MethodSettings, Noise};
use whycam_data::Source;
use whycam_pipeline::explain::files::{self, FileOutputs, create_dir};
use whycam_pipeline::explain::parts::{
    PlannedInput, completed_parts, error_from_json, error_to_json, finish_parts, part_journal,
    plan_parts,
};
use whycam_pipeline::explain::summary::{ImageError, RunHeader};
use whycam_pipeline::explain::{ExplainConfig, ExplainPlan, ExplainRun};
use whycam_pipeline::write::DirLock;
use whycam_pipeline::{ExplainSink, InputError, OpenedModel, PipelineError, Sources};
use whycam_render::{Colormap, OverlayStyle};

/// A batch as it travels: `(position, is_url, input, stem)`.
type Planned = (usize, bool, String, String);

/// An explain run into one directory, as a driver plans and finishes it or as a part runs it.
#[pyclass(module = "whycam._native", frozen)]
pub struct DirectoryRun {
    opened: Arc<OpenedModel>,
    /// The run's configuration, target and true labels, read and checked once.
    plan: Arc<ExplainPlan>,
    /// Which files besides the overlays each image gets (no contact sheets: parts cannot
    /// share one).
    outputs: FileOutputs,
    /// The output directory as the user gave it: entries name their files under it.
    recorded: PathBuf,
    /// The same directory as this process reaches it (absolute): where files are written.
    written: PathBuf,
    /// The driver's inputs and its hold on the directory, from `plan` to `finish`.
    driver: Mutex<Option<Driver>>,
    /// A part's sinks, begun on its first batch (the last one: its journal).
    part: Mutex<Option<Vec<Box<dyn ExplainSink>>>>,
}

struct Driver {
    sources: Vec<Source>,
    failed: Vec<InputError>,
    _lock: DirLock,
}

impl DirectoryRun {
    /// The pipeline's run over this model and plan.
    fn run(&self) -> PyResult<ExplainRun<'_>> {
        ExplainRun::of(&self.opened, self.plan.clone()).map_err(|e| pipeline_error(&e))
    }

    /// The sinks of a part: the files `whycam explain` writes per image, then the journal.
    fn part_sinks(&self, part: &str) -> Result<Vec<Box<dyn ExplainSink>>, PipelineError> {
        let mut sinks = files::sinks(&self.written, self.outputs, self.plan.config().style);
        sinks.push(Box::new(part_journal(&self.written, part)?));
        Ok(sinks)
    }
}

#[pymethods]
impl DirectoryRun {
    /// The run of `model` into `output` with `whycam explain`'s options; `written`: where this
    /// process reaches `output` (default: `output` made absolute).
    #[new]
    #[pyo3(signature = (
        model, output, written = None, method = None, layer = None, target = None, top_k = 1,
        aug_smooth = false, eigen_smooth = false, batch_size = 8, save_raw = false,
        signed = false, figure = false, colormap = "jet", alpha = 0.5, gray_background = false,
        groups = None, truth = None, seed = 0,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: &Bound<'_, Model>,
        output: PathBuf,
        written: Option<PathBuf>,
        method: Option<&Bound<'_, PyAny>>,
        layer: Option<&Bound<'_, PyAny>>,
        target: Option<&Bound<'_, PyAny>>,
        top_k: usize,
        aug_smooth: bool,
        eigen_smooth: bool,
        batch_size: usize,
        save_raw: bool,
        signed: bool,
        figure: bool,
        colormap: &str,
        alpha: f32,
        gray_background: bool,
        groups: Option<PathBuf>,
        truth: Option<PathBuf>,
        seed: u64,
    ) -> PyResult<Self> {
        let methods = parse_methods(method)?;
        let layers = names(layer, "layer")?;
        let target = match target {
            None => "auto".to_string(),
            Some(t) => t.str()?.to_string(),
        };
        if top_k == 0 || batch_size == 0 {
            return Err(InvalidArgument::new_err(
                "top_k and batch_size must be at least 1",
            ));
        }
        let colormap: Colormap = colormap
            .parse()
            .map_err(|e: String| InvalidArgument::new_err(format!("colormap: {e}")))?;
        let written = match written {
            Some(w) => w,
            None => std::path::absolute(&output)
                .map_err(|e| pipeline_error(&PipelineError::io("opening", &output)(e)))?,
        };
        let model = model.get();
        let opened = py
            .detach(|| model.opened_for(&layers))
            .map_err(|e| pipeline_error(&e))?;
        let config = ExplainConfig {
            methods,
            layers,
            target,
            top_k,
            groups,
            truth,
            aug_smooth,
            eigen_smooth,
            batch_size,
            settings: MethodSettings {
                noise: Noise::Seeded(seed),
                ..MethodSettings::default()
            },
            style: OverlayStyle {
                colormap,
                alpha,
                gray_background,
            },
            ..ExplainConfig::default()
        };
        // Bad layers, targets, groups or settings fail here, before any work is planned.
        let plan = ExplainRun::new(&opened, config)
            .map_err(|e| pipeline_error(&e))?
            .plan();
        Ok(DirectoryRun {
            opened,
            plan,
            outputs: FileOutputs {
                raw: save_raw,
                signed,
                figure,
                grid: None,
            },
            recorded: output,
            written,
            driver: Mutex::new(None),
            part: Mutex::new(None),
        })
    }

    /// Plans the run over `inputs` (files, directories, URLs, as the command line takes
    /// them): locks the output directory and returns the batches still to explain and how
    /// many inputs are complete already.
    fn plan(&self, py: Python<'_>, inputs: Vec<OsString>) -> PyResult<(Vec<Vec<Planned>>, usize)> {
        let run = self.run()?;
        py.detach(|| {
            create_dir(&self.written)?;
            let lock = DirLock::acquire(&self.written)?;
            let sources = Sources::collect(&inputs);
            let header = RunHeader::of(&run.info(sources.found.len()));
            let done = completed_parts(&self.written, &header)?;
            let plan = plan_parts(&sources.found, self.plan.config().batch_size, &done);
            let pending = plan
                .pending
                .iter()
                .map(|batch| batch.iter().map(planned_tuple).collect())
                .collect();
            *self.driver.lock().unwrap_or_else(PoisonError::into_inner) = Some(Driver {
                sources: sources.found,
                failed: sources.failed,
                _lock: lock,
            });
            Ok((pending, plan.done))
        })
        .map_err(|e: PipelineError| pipeline_error(&e))
    }

    /// Explains one planned batch as part `part`: writes its files into the output directory
    /// and its entries into the part's journal. Returns the inputs that failed, each a line
    /// of JSON for :meth:`finish`.
    fn explain_part(
        &self,
        py: Python<'_>,
        batch: Vec<Planned>,
        part: &str,
    ) -> PyResult<Vec<String>> {
        let run = self.run()?;
        let batch: Vec<PlannedInput> = batch.into_iter().map(planned_input).collect();
        py.detach(|| {
            let mut guard = self.part.lock().unwrap_or_else(PoisonError::into_inner);
            let sinks = match &mut *guard {
                Some(sinks) => sinks,
                None => {
                    let mut sinks = self.part_sinks(part)?;
                    let info = run.info(batch.len());
                    for sink in &mut sinks {
                        sink.begin(&info)?;
                    }
                    guard.insert(sinks)
                }
            };
            let errors = run.explain_part(&batch, sinks, &self.written, &self.recorded);
            Ok(errors.iter().map(error_to_json).collect())
        })
        .map_err(|e: PipelineError| pipeline_error(&e))
    }

    /// Joins the parts' journals into ``explanations.json`` (with `errors`, the parts' failed
    /// inputs) and releases the directory; returns the summary as JSON.
    fn finish(&self, py: Python<'_>, errors: Vec<String>) -> PyResult<String> {
        let run = self.run()?;
        let driver = self
            .driver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| InvalidArgument::new_err("finish: the run was not planned"))?;
        py.detach(|| {
            let mut all: Vec<ImageError> = driver.failed.iter().map(ImageError::from).collect();
            all.extend(errors.iter().filter_map(|line| error_from_json(line)));
            let info = run.info(driver.sources.len() + driver.failed.len());
            let summary = finish_parts(&self.written, &info, &driver.sources, all)?;
            Ok(summary.to_json())
        })
        .map_err(|e: PipelineError| pipeline_error(&e))
    }
}

/// An input as it travels to a part.
fn planned_tuple(input: &PlannedInput) -> Planned {
    let (is_url, text) = match &input.source {
        Source::File(path) => (false, whycam_data::shown_path(path).into_owned()),
        Source::Url(url) => (true, url.clone()),
    };
    let stem = whycam_data::shown_name(&input.stem).into_owned();
    (input.position, is_url, text, stem)
}

/// An input as a part gets it.
fn planned_input((position, is_url, text, stem): Planned) -> PlannedInput {
    PlannedInput {
        position,
        source: if is_url {
            Source::Url(text)
        } else {
            Source::File(whycam_data::path_from_shown(&text))
        },
        stem: whycam_data::path_from_shown(&stem).into_os_string(),
    }
}
