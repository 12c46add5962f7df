//! whycam's runs as a library, for the command line, a Python module or a server alike.
//!
//! - [`open`]: a model from what the user gave (zoo name, weights file, ONNX graph, a
//!   checkpoint's sidecar), with its labels and preprocessing.
//! - [`explain`]: class activation maps over a stream of inputs, in batches, each result
//!   handed to [`ExplainSink`]s (overlays, raw arrays, figures, grids, `explanations.json`,
//!   the HTML [`report`]).
//! - [`predict`], [`test`], [`embed`]: classification, accuracy on labelled data, and the
//!   feature space.
//!
//! Per-input failures are [`InputError`]s with a kind; the run goes on without them.
//!
//! ```no_run
//! use whycam_pipeline::explain::{ExplainConfig, ExplainRun, files::Overlays, summary::JsonSummary};
//! use whycam_pipeline::{ExplainSink, ModelSpec, Sources};
//!
//! # fn main() -> whycam_pipeline::Result<()> {
//! let model = ModelSpec::default().open()?; // EfficientNet-Lite0, pretrained on ImageNet
//! let run = ExplainRun::new(&model, ExplainConfig::default())?;
//! let out = std::path::PathBuf::from("maps");
//! whycam_pipeline::explain::files::create_dir(&out)?;
//! let mut sinks: Vec<Box<dyn ExplainSink>> = vec![
//!     Box::new(Overlays { dir: out.clone() }),
//!     Box::new(JsonSummary::new(&out)),
//! ];
//! let inputs = Sources::collect(&["photos/".to_string()]);
//! let summary = run.run(&inputs.found, inputs.failed, &mut sinks)?;
//! println!("{} explained, {} failed", summary.images.len(), summary.errors.len());
//! # Ok(())
//! # }
//! ```

pub mod batch;
pub mod data;
pub mod embed;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod open;
mod per_input;
pub mod predict;
pub mod rank;
pub mod report;
pub mod test;
pub mod train;
pub mod write;

pub use error::{InputError, InputErrorKind, PipelineError, Result};
pub use explain::sink::{
    ExplainSink, ExplainedImage, ExplainedMap, FileRole, RunInfo, WrittenFile,
};
pub use open::{ModelSpec, OpenedModel};

use whycam_data::Source;

/// The inputs of a run: those found, and those that failed before decoding (missing files,
/// unreadable directories).
#[derive(Debug, Default)]
pub struct Sources {
    pub found: Vec<Source>,
    pub failed: Vec<InputError>,
}

impl Sources {
    /// Image files, directories (searched recursively, in sorted order) or URLs.
    pub fn collect<S: AsRef<std::ffi::OsStr>>(inputs: &[S]) -> Self {
        let (found, missing) = whycam_data::collect_sources(inputs);
        Sources {
            found,
            failed: missing
                .into_iter()
                .map(|(source, e)| InputError::data(source.to_string(), &e))
                .collect(),
        }
    }
}
