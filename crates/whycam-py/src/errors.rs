//! whycam's errors as Python exceptions: one class per kind of failure, all under
//! `WhycamError`, each message the Rust error's text with its causes.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use whycam_cam::CamError;
use whycam_models::ModelError as RustModelError;
use whycam_pipeline::{InputError, InputErrorKind, PipelineError};

create_exception!(
    whycam,
    WhycamError,
    PyException,
    "Base class of every error whycam raises."
);
create_exception!(
    whycam,
    InvalidArgument,
    WhycamError,
    "An argument whycam cannot use: an unknown method, layer, target or model name, a bad \
     size, mean or deviation, an array that is not HxWx3."
);
create_exception!(
    whycam,
    DecodeError,
    WhycamError,
    "An input that is not a readable image (corrupt, truncated, unsupported format)."
);
create_exception!(
    whycam,
    LimitsError,
    WhycamError,
    "An input refused to stay within the decoding limits (pixel count, file size)."
);
create_exception!(
    whycam,
    FetchError,
    WhycamError,
    "A URL input or the pretrained weights could not be downloaded."
);
create_exception!(
    whycam,
    IoError,
    WhycamError,
    "A file could not be read (a missing input, an unreadable weights file)."
);
create_exception!(
    whycam,
    ModelError,
    WhycamError,
    "The model could not be loaded or failed on an input (missing tensors, an unsupported \
     ONNX operator, NaN in the logits)."
);

/// Registers the exception classes in the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("WhycamError", py.get_type::<WhycamError>())?;
    m.add("InvalidArgument", py.get_type::<InvalidArgument>())?;
    m.add("DecodeError", py.get_type::<DecodeError>())?;
    m.add("LimitsError", py.get_type::<LimitsError>())?;
    m.add("FetchError", py.get_type::<FetchError>())?;
    m.add("IoError", py.get_type::<IoError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    Ok(())
}

/// An error of one input, as the exception of its kind.
pub fn input_error(error: &InputError) -> PyErr {
    let message = error.message();
    match error.kind {
        InputErrorKind::Decode => DecodeError::new_err(message),
        InputErrorKind::Limits => LimitsError::new_err(message),
        InputErrorKind::Fetch => FetchError::new_err(message),
        InputErrorKind::Io => IoError::new_err(message),
        InputErrorKind::Model => ModelError::new_err(message),
        _ => WhycamError::new_err(message),
    }
}

/// A run-level error, as the exception of its cause.
pub fn pipeline_error(error: &PipelineError) -> PyErr {
    let message = whycam_pipeline::error::chain(error);
    match error {
        PipelineError::Model(e) => model_error(e, message),
        PipelineError::Cam(e) => cam_error(e, message),
        PipelineError::Data(e) => input_error(&InputError::data(String::new(), e)),
        PipelineError::PretrainedWeights { .. } => FetchError::new_err(message),
        PipelineError::Io { .. } => IoError::new_err(message),
        PipelineError::NoPretrainedWeights { .. }
        | PipelineError::ArchitectureMismatch { .. }
        | PipelineError::ArchitectureForOnnx { .. }
        | PipelineError::InputTooSmall { .. }
        | PipelineError::FixedInputSize { .. }
        | PipelineError::ShorterOnFixedInput { .. }
        | PipelineError::BadDeviation { .. }
        | PipelineError::LabelCount { .. }
        | PipelineError::SidecarLabelCount { .. }
        | PipelineError::OutOfRange { .. }
        | PipelineError::TopKWithTarget { .. }
        | PipelineError::UnknownMetric { .. }
        | PipelineError::MetricNeedsBoxes { .. } => InvalidArgument::new_err(message),
        _ => WhycamError::new_err(message),
    }
}

/// A CAM error: a bad method, layer, target or setting is the caller's; the rest the model's.
pub fn cam_error(error: &CamError, message: String) -> PyErr {
    match error {
        CamError::Model(e) => model_error(e, message),
        CamError::UnknownMethod { .. }
        | CamError::Unsupported { .. }
        | CamError::Target { .. }
        | CamError::Groups { .. }
        | CamError::NoMethod
        | CamError::Setting { .. } => InvalidArgument::new_err(message),
        _ => ModelError::new_err(message),
    }
}

/// A model error: an unknown name is the caller's, the rest the model's.
fn model_error(error: &RustModelError, message: String) -> PyErr {
    match error {
        RustModelError::UnknownModel { .. }
        | RustModelError::LayerNotFound { .. }
        | RustModelError::LayerFolded { .. }
        | RustModelError::UnknownLayer { .. }
        | RustModelError::TokenGrid { .. } => InvalidArgument::new_err(message),
        RustModelError::Io { .. } => IoError::new_err(message),
        _ => ModelError::new_err(message),
    }
}
