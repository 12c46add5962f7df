//! `whycam.Model` and `whycam.Explanation`: a model opened as the command line opens it,
//! predicting and explaining Python inputs with the GIL released.

use crate::display::{Overlay, pil_image, png};
use crate::errors::{InvalidArgument, ModelError, cam_error, input_error, pipeline_error};
use crate::evaluate::{EvaluateRequest, evaluate};
use crate::inputs::{ImageName, Input, decode_all, read_inputs};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::sync::{Arc, Mutex};
use whycam_cam::{
    ClassGroups, ExplainOptions, Explainer, ImageExplanation, Method, MethodSettings, Plane,
    TargetSpec,
};
use whycam_data::{CropRegion, RgbImage};
use whycam_pipeline::batch::{Decoded, batch_tensor, same_size_runs};
use whycam_pipeline::explain::files::combined_signed;
use whycam_pipeline::explain::target_probability;
use whycam_pipeline::rank::{class_probabilities, rank};
use whycam_pipeline::{ModelSpec, OpenedModel, PipelineError};

/// A classifier opened for predicting and explaining.
#[pyclass(module = "whycam", frozen)]
pub struct Model {
    spec: ModelSpec,
    /// Opened for the default layer (BatchNorms folded).
    default: Arc<OpenedModel>,
    /// Opened for named target layers that folding would remove, by layer list.
    for_layers: Mutex<Vec<(Vec<String>, Arc<OpenedModel>)>>,
}

impl Model {
    /// Opens the model `spec` names, without the GIL.
    pub fn open(py: Python<'_>, spec: ModelSpec) -> PyResult<Self> {
        let opened = py.detach(|| spec.open()).map_err(|e| pipeline_error(&e))?;
        Ok(Model {
            spec,
            default: Arc::new(opened),
            for_layers: Mutex::new(Vec::new()),
        })
    }

    /// The model opened so that `layers` can be read, as `whycam explain --layer` opens it.
    pub(crate) fn opened_for(&self, layers: &[String]) -> Result<Arc<OpenedModel>, PipelineError> {
        if layers.is_empty() {
            return Ok(self.default.clone());
        }
        let mut cache = self
            .for_layers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, opened)) = cache.iter().find(|(l, _)| l == layers) {
            return Ok(opened.clone());
        }
        let opened = Arc::new(self.spec.open_for_layers(layers)?);
        cache.push((layers.to_vec(), opened.clone()));
        Ok(opened)
    }
}

/// Why a batch fails when the network computed NaN or infinity for an image.
const NON_FINITE: &str =
    "the network computed NaN or infinity for this input (its logits or maps are not numbers)";

#[pymethods]
impl Model {
    /// The model's name: the architecture (``efficientnet-lite0``) or the ONNX file's name.
    #[getter]
    fn name(&self) -> String {
        self.default.model.name.clone()
    }

    /// How many classes the model tells apart (two for a one-logit binary head).
    #[getter]
    fn num_classes(&self) -> usize {
        self.default.labels.len()
    }

    /// The class names, indexed by class.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.default.labels.clone()
    }

    /// The side of the square network input, in pixels.
    #[getter]
    fn input_size(&self) -> u32 {
        self.default.preprocess.size
    }

    /// The layers a map can be computed at, in network order, as ``explain(layer=...)``
    /// takes them.
    fn layers(&self) -> Vec<String> {
        self.default
            .model
            .net
            .layers()
            .list()
            .iter()
            .map(|l| l.name.clone())
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "whycam.Model({:?}, classes={}, input_size={})",
            self.default.model.name,
            self.default.labels.len(),
            self.default.preprocess.size
        )
    }

    /// The ``top_k`` most probable classes of each image, as ``(index, label, probability)``.
    #[pyo3(signature = (images, top_k = 5, batch_size = 8))]
    fn predict(
        &self,
        py: Python<'_>,
        images: &Bound<'_, PyAny>,
        top_k: usize,
        batch_size: usize,
    ) -> PyResult<Vec<Vec<(usize, String, f32)>>> {
        let inputs = read_inputs(images)?;
        let opened = self.default.clone();
        py.detach(move || {
            let mut out = Vec::with_capacity(inputs.len());
            for chunk in inputs.chunks(batch_size.max(1)) {
                let decoded = decode_all(chunk, &opened).map_err(|e| input_error(&e))?;
                for run in same_size_runs(&decoded, |d| &d.prepared) {
                    let (h, w) = (run[0].prepared.height, run[0].prepared.width);
                    let pixels: Vec<f32> = run
                        .iter()
                        .flat_map(|d| d.prepared.data.iter().copied())
                        .collect();
                    let logits = opened
                        .model
                        .logits_hw(pixels, run.len(), h as usize, w as usize)
                        .map_err(|e| pipeline_error(&PipelineError::Model(e)))?;
                    let classes = logits.len() / run.len();
                    for (item, row) in run.iter().zip(logits.chunks(classes)) {
                        if row.iter().any(|v| !v.is_finite()) {
                            return Err(non_finite(item));
                        }
                        out.push(
                            rank(row, &opened.labels, top_k)
                                .into_iter()
                                .map(|p| (p.index, p.label, p.probability))
                                .collect(),
                        );
                    }
                }
            }
            Ok(out)
        })
    }

    /// Which map to trust: the faithfulness and localisation metrics of each method's maps,
    /// as ``whycam evaluate`` computes them; the report as ``whycam evaluate --json`` prints it.
    #[pyo3(signature = (
        images,
        method = None,
        layer = None,
        target = None,
        metric = None,
        steps = 20,
        road_noise = 0.01,
        seed = 0,
        boxes = None,
        batch_size = 8,
        score_batch_size = 32,
        limit = None,
    ))]
    #[pyo3(
        text_signature = "(self, images, method='gradcam', layer=None, target='auto', \
                             metric=None, steps=20, road_noise=0.01, seed=0, boxes=None, \
                             batch_size=8, score_batch_size=32, limit=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        py: Python<'_>,
        images: &Bound<'_, PyAny>,
        method: Option<&Bound<'_, PyAny>>,
        layer: Option<&Bound<'_, PyAny>>,
        target: Option<&Bound<'_, PyAny>>,
        metric: Option<&Bound<'_, PyAny>>,
        steps: usize,
        road_noise: f32,
        seed: u64,
        boxes: Option<std::path::PathBuf>,
        batch_size: usize,
        score_batch_size: usize,
        limit: Option<usize>,
    ) -> PyResult<Py<PyAny>> {
        let request = EvaluateRequest {
            methods: parse_methods(method)?,
            layers: names(layer, "layer")?,
            target: match target {
                None => "auto".to_string(),
                Some(t) => t.str()?.to_string(),
            },
            metrics: names(metric, "metric")?
                .iter()
                .flat_map(|m| m.split(','))
                .map(str::to_string)
                .collect(),
            steps,
            road_noise,
            seed,
            boxes,
            batch_size,
            score_batch_size,
            limit,
        };
        evaluate(self, py, images, request)
    }

    /// Class activation maps of each image: one :class:`Explanation` per image, target and
    /// method, in that order.
    #[pyo3(signature = (
        images,
        method = None,
        layer = None,
        target = None,
        top_k = 1,
        aug_smooth = false,
        eigen_smooth = false,
        batch_size = 8,
    ))]
    #[pyo3(
        text_signature = "(self, images, method='gradcam', layer=None, target='auto', \
                             top_k=1, aug_smooth=False, eigen_smooth=False, batch_size=8)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn explain(
        &self,
        py: Python<'_>,
        images: &Bound<'_, PyAny>,
        method: Option<&Bound<'_, PyAny>>,
        layer: Option<&Bound<'_, PyAny>>,
        target: Option<&Bound<'_, PyAny>>,
        top_k: usize,
        aug_smooth: bool,
        eigen_smooth: bool,
        batch_size: usize,
    ) -> PyResult<Py<PyAny>> {
        let methods = parse_methods(method)?;
        let layers = names(layer, "layer")?;
        let target = match target {
            None => "auto".to_string(),
            Some(t) => t.str()?.to_string(),
        };
        let inputs = read_inputs(images)?;
        let request = Request {
            methods,
            layers,
            target,
            top_k,
            aug_smooth,
            eigen_smooth,
            batch_size: batch_size.max(1),
        };
        let results = py.detach(|| self.explain_inputs(&inputs, &request))?;
        let explanations = results
            .into_iter()
            .map(|r| r.into_python(py))
            .collect::<PyResult<Vec<_>>>()?;
        // A list that a notebook shows as overlays (`python/whycam/_display.py`).
        let list = PyList::new(py, explanations)?;
        let class = py.import("whycam._display")?.getattr("Explanations")?;
        Ok(class.call1((list,))?.unbind())
    }
}

/// What `explain` was asked, checked.
struct Request {
    methods: Vec<Method>,
    layers: Vec<String>,
    target: String,
    top_k: usize,
    aug_smooth: bool,
    eigen_smooth: bool,
    batch_size: usize,
}

impl Model {
    /// The explain run of `whycam explain` on `inputs`: the same explainer options, target
    /// parsing and batches (`batch_size` inputs at a time, split where sizes change).
    fn explain_inputs(&self, inputs: &[Input], request: &Request) -> PyResult<Vec<MapResult>> {
        let opened = self
            .opened_for(&request.layers)
            .map_err(|e| pipeline_error(&e))?;
        let cam = |e: whycam_cam::CamError| {
            let message = whycam_pipeline::error::chain(&e);
            cam_error(&e, message)
        };
        let explainer = Explainer::new(
            &opened.model,
            ExplainOptions {
                methods: request.methods.clone(),
                layers: request.layers.clone(),
                aug_smooth: request.aug_smooth,
                eigen_smooth: request.eigen_smooth,
                probe_batch_size: None,
                settings: MethodSettings::default(),
                normalization: Some(opened.preprocess.normalization),
            },
        )
        .map_err(cam)?;
        let groups = ClassGroups::builtin(opened.model.net.num_classes());
        let spec = TargetSpec::parse(&request.target, &opened.labels, &groups).map_err(cam)?;
        if spec != TargetSpec::Auto && request.top_k > 1 {
            return Err(pipeline_error(&PipelineError::TopKWithTarget {
                target: request.target.clone(),
            }));
        }
        let layer_names: Vec<String> = explainer
            .layer_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut results = Vec::new();
        for chunk in inputs.chunks(request.batch_size) {
            let decoded = decode_all(chunk, &opened).map_err(|e| input_error(&e))?;
            let mut explanations = Vec::with_capacity(decoded.len());
            for run in same_size_runs(&decoded, |d| &d.prepared) {
                let x = batch_tensor(run.iter().map(|d| &d.prepared), opened.model.device());
                explanations.extend(
                    explainer
                        .explain(x, &spec, request.top_k, &opened.labels)
                        .map_err(cam)?,
                );
            }
            for ((input, item), explanation) in chunk.iter().zip(&decoded).zip(explanations) {
                results.extend(map_results(input, item, explanation, &layer_names)?);
            }
        }
        Ok(results)
    }
}

/// One map, computed without the GIL.
struct MapResult {
    image: ImageName,
    method: Method,
    layers: Vec<String>,
    target_index: Option<usize>,
    target_label: String,
    score: f32,
    probability: f32,
    raw: Plane,
    map: Plane,
    signed: Option<Plane>,
    /// The image as decoded and the part of it the network saw, for overlays.
    original: Arc<RgbImage>,
    region: CropRegion,
}

/// The maps of one image, refused if the network computed NaN or infinity for it.
fn map_results(
    input: &Input,
    item: &Decoded,
    explanation: ImageExplanation,
    layers: &[String],
) -> PyResult<Vec<MapResult>> {
    if let Some(e) = whycam_pipeline::explain::non_finite(item, &explanation) {
        return Err(input_error(&e));
    }
    let probabilities = class_probabilities(&explanation.logits);
    let (height, width) = (item.prepared.height as usize, item.prepared.width as usize);
    let original = Arc::new(item.original.clone());
    let mut results = Vec::new();
    for target in explanation.targets {
        let probability = target_probability(&target.target, &probabilities);
        for map in target.maps {
            results.push(MapResult {
                image: input.name(),
                method: map.method,
                layers: layers.to_vec(),
                target_index: target.target.class,
                target_label: target.target.name.clone(),
                score: target.score,
                probability,
                map: map.map.resized(height, width),
                raw: map.map,
                signed: combined_signed(&map.signed),
                original: original.clone(),
                region: item.prepared.region,
            });
        }
    }
    Ok(results)
}

fn non_finite(item: &Decoded) -> PyErr {
    ModelError::new_err(format!("{}: {NON_FINITE}", item.source))
}

/// `method`: a name, comma-separated names, or a list of names (`None`: Grad-CAM).
pub(crate) fn parse_methods(method: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Method>> {
    let given = names(method, "method")?;
    if given.is_empty() {
        return Ok(vec![Method::GradCam]);
    }
    given
        .iter()
        .flat_map(|n| n.split(','))
        .map(|name| {
            name.parse::<Method>().map_err(|e| {
                let message = whycam_pipeline::error::chain(&e);
                cam_error(&e, message)
            })
        })
        .collect()
}

/// A string or a list of strings as names (`None`: none).
pub(crate) fn names(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Vec<String>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    if let Ok(one) = value.extract::<String>() {
        return Ok(vec![one]);
    }
    value.extract::<Vec<String>>().map_err(|_| {
        InvalidArgument::new_err(format!("{what}: expected a string or a list of strings"))
    })
}

impl MapResult {
    fn into_python(self, py: Python<'_>) -> PyResult<Explanation> {
        Ok(Explanation {
            image: match self.image {
                ImageName::Source(s) => s.into_pyobject(py)?.into_any().unbind(),
                ImageName::Index(i) => i.into_pyobject(py)?.into_any().unbind(),
            },
            method: self.method.id().to_string(),
            layers: self.layers,
            target_index: self.target_index,
            target_label: self.target_label,
            score: self.score,
            probability: self.probability,
            raw: plane_array(py, self.raw.clone())?,
            map: plane_array(py, self.map)?,
            signed: self.signed.map(|p| plane_array(py, p)).transpose()?,
            canvas: Overlay {
                map: self.raw,
                original: self.original,
                region: self.region,
            },
        })
    }
}

/// A plane as a float32 numpy array `(height, width)`.
fn plane_array(py: Python<'_>, plane: Plane) -> PyResult<Py<PyAny>> {
    let (h, w) = (plane.height, plane.width);
    Ok(PyArray1::from_vec(py, plane.data)
        .reshape([h, w])?
        .into_any()
        .unbind())
}

/// One map of one image: a target, a method.
#[pyclass(module = "whycam", frozen)]
pub struct Explanation {
    /// The image: its path or URL as given, or its index in ``images`` for an array.
    #[pyo3(get)]
    image: Py<PyAny>,
    /// The method's id (``gradcam``).
    #[pyo3(get)]
    method: String,
    /// The target layers the map was computed at.
    #[pyo3(get)]
    layers: Vec<String>,
    /// The explained class (``None`` for a class group).
    #[pyo3(get)]
    target_index: Option<usize>,
    /// The explained class's (or group's) name.
    #[pyo3(get)]
    target_label: String,
    /// The target's score (its logit, or a group's weighted sum).
    #[pyo3(get)]
    score: f32,
    /// The target's probability (a group's: the sum over its classes).
    #[pyo3(get)]
    probability: f32,
    /// The map in ``[0, 1]`` at the layer's resolution (float32, HxW): what
    /// ``whycam explain --save-raw`` writes as ``<stem>.<method>.npy``.
    #[pyo3(get)]
    raw: Py<PyAny>,
    /// ``raw`` upsampled (bilinear, as OpenCV) to the network input's size.
    #[pyo3(get)]
    map: Py<PyAny>,
    /// The map before ReLU and scaling (``<stem>.<method>.signed.npy``), or ``None``.
    #[pyo3(get)]
    signed: Option<Py<PyAny>>,
    /// What overlays are drawn from.
    canvas: Overlay,
}

impl Explanation {
    /// What a figure or a grid draws of it: the overlay's canvas, its target and probability.
    pub(crate) fn drawn(&self) -> (&Overlay, String, f32) {
        (&self.canvas, self.target_label.clone(), self.probability)
    }
}

#[pymethods]
impl Explanation {
    /// The heatmap drawn over the image as ``whycam explain`` draws ``<stem>.<method>.png``
    /// (the same pixels for the same options), as a PIL image of the original's size.
    #[pyo3(signature = (alpha = 0.5, colormap = "jet", gray_background = false))]
    fn overlay(
        &self,
        py: Python<'_>,
        alpha: f32,
        colormap: &str,
        gray_background: bool,
    ) -> PyResult<Py<PyAny>> {
        let picture = self.canvas.render(py, alpha, colormap, gray_background)?;
        pil_image(py, &picture)
    }

    /// The overlay as PNG bytes: byte for byte the file ``whycam explain`` writes with the
    /// same ``--alpha``, ``--colormap`` and ``--gray-background``. Needs no Pillow.
    #[pyo3(signature = (alpha = 0.5, colormap = "jet", gray_background = false))]
    fn overlay_png(
        &self,
        py: Python<'_>,
        alpha: f32,
        colormap: &str,
        gray_background: bool,
    ) -> PyResult<Py<PyBytes>> {
        let picture = self.canvas.render(py, alpha, colormap, gray_background)?;
        png(py, &picture)
    }

    /// The default overlay as PNG, for notebooks.
    fn _repr_png_(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        self.overlay_png(py, 0.5, "jet", false)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "whycam.Explanation(image={}, method={:?}, target={:?}, probability={:.4})",
            self.image.bind(py).repr()?,
            self.method,
            self.target_label,
            self.probability
        ))
    }
}
