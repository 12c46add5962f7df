//! whycam's Python module (`whycam._native`, re-exported by `python/whycam/__init__.py`):
//! open a model as `whycam explain` opens it, predict classes and compute class activation
//! maps of image files or numpy arrays, results as numpy arrays. A thin front end over
//! `whycam_pipeline` (opening, decoding, batching) and `whycam_cam` (the explainer); every
//! computation runs with the GIL released.

mod directory;
mod display;
mod errors;
mod evaluate;
mod inputs;
mod model;

use errors::{InvalidArgument, WhycamError};
use model::{Explanation, Model};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;
use whycam_cam::Method;
use whycam_pipeline::ModelSpec;

/// Opens a model: a zoo architecture by name, or a weights file or ONNX graph by path.
#[pyfunction]
#[pyo3(signature = (model = None, weights = None, labels = None, mean = None, std = None, size = None))]
fn load(
    py: Python<'_>,
    model: Option<&Bound<'_, PyAny>>,
    weights: Option<PathBuf>,
    labels: Option<PathBuf>,
    mean: Option<[f32; 3]>,
    std: Option<[f32; 3]>,
    size: Option<u32>,
) -> PyResult<Model> {
    let (architecture, weights) = match model {
        None => (None, weights),
        Some(m) => {
            let text: PathBuf = m.extract().map_err(|_| {
                InvalidArgument::new_err("model: expected an architecture name or a path")
            })?;
            if names_a_file(&text) {
                if weights.is_some() {
                    return Err(InvalidArgument::new_err(format!(
                        "model {} is a weights file; give the architecture as model= and the \
                         file as weights=, or the file alone",
                        text.display()
                    )));
                }
                (None, Some(text))
            } else {
                (Some(text.to_string_lossy().into_owned()), weights)
            }
        }
    };
    let spec = ModelSpec {
        architecture,
        weights,
        labels,
        size,
        mean,
        std,
        ..ModelSpec::default()
    };
    Model::open(py, spec)
}

/// Whether `model` names a file rather than an architecture: it has a weights or graph
/// extension, or a path separator, or it exists.
fn names_a_file(model: &std::path::Path) -> bool {
    let extension = model
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    matches!(
        extension.as_deref(),
        Some("pth" | "pt" | "bin" | "safetensors" | "onnx")
    ) || model.components().count() > 1
        || model.is_file()
}

/// The ids of every CAM method, from the Rust method table.
#[pyfunction]
fn methods() -> Vec<&'static str> {
    Method::ALL.iter().map(|m| m.id()).collect()
}

/// Sets the number of threads of the computation pool; must come before the first
/// load/predict/explain.
#[pyfunction]
fn set_num_threads(threads: usize) -> PyResult<()> {
    if threads == 0 {
        return Err(InvalidArgument::new_err(
            "set_num_threads: at least one thread",
        ));
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|_| {
            WhycamError::new_err(format!(
                "set_num_threads({threads}): the thread pool already runs with {} threads; \
                 call it before the first load, predict or explain",
                rayon::current_num_threads()
            ))
        })
}

/// The titled figure of `explanations` (one image's, one method's) as PNG bytes: the image,
/// titled `title`, beside each overlay (``Explanations.figure``).
#[pyfunction]
#[pyo3(signature = (explanations, title, alpha = 0.5, colormap = "jet", gray_background = false))]
fn figure_png(
    py: Python<'_>,
    explanations: Vec<PyRef<'_, Explanation>>,
    title: String,
    alpha: f32,
    colormap: &str,
    gray_background: bool,
) -> PyResult<Py<PyBytes>> {
    let drawn: Vec<_> = explanations.iter().map(|e| e.drawn()).collect();
    let picture = display::figure(py, title, &drawn, (alpha, colormap, gray_background))?;
    display::png(py, &picture)
}

/// The contact sheet of `explanations` (a tile each) as PNG bytes (``Explanations.grid``).
#[pyfunction]
#[pyo3(signature = (explanations, rows, columns, alpha = 0.5, colormap = "jet", gray_background = false))]
fn grid_png(
    py: Python<'_>,
    explanations: Vec<PyRef<'_, Explanation>>,
    rows: u32,
    columns: u32,
    alpha: f32,
    colormap: &str,
    gray_background: bool,
) -> PyResult<Py<PyBytes>> {
    let drawn: Vec<_> = explanations.iter().map(|e| e.drawn()).collect();
    let picture = display::grid(
        py,
        &drawn,
        rows,
        columns,
        (alpha, colormap, gray_background),
    )?;
    display::png(py, &picture)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // whycam-alloc (linked through Cargo.toml) makes mimalloc this module's allocator; it keeps
    // what whycam frees for the next batch. Python's and other modules' memory is untouched.
    whycam_alloc::keep_freed_memory();
    errors::register(m)?;
    m.add_class::<Model>()?;
    m.add_class::<Explanation>()?;
    m.add_class::<directory::DirectoryRun>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(methods, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(figure_png, m)?)?;
    m.add_function(wrap_pyfunction!(grid_png, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
