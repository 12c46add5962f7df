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
//! - [`text`]: each result as the tables a terminal shows.
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
pub mod dff;
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
pub mod text;
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

/// One of `count` shards of a run's inputs (`--shard K/N`, `index = K - 1`), so that job
/// arrays (Slurm, Kubernetes indexed jobs) split a folder without talking to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = PipelineError;

    /// `K/N`, `1 <= K <= N`.
    fn from_str(text: &str) -> Result<Self> {
        let bad = || PipelineError::BadShard {
            given: text.to_string(),
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if k == 0 || k > count {
            return Err(bad());
        }
        Ok(Shard {
            index: k - 1,
            count,
        })
    }
}

impl Shard {
    /// Whether `source` belongs to this shard. The split is by a hash (FNV-1a) of the input as
    /// it was found (its path, or a URL without credentials), not by position: an input stays
    /// in its shard when others are added or removed, so a shard resumed after its folder
    /// changed neither redoes nor skips the inputs it had.
    pub fn holds(&self, source: &Source) -> bool {
        let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
        let shown;
        let bytes: &[u8] = match source {
            Source::File(path) => path.as_os_str().as_encoded_bytes(),
            Source::Url(_) => {
                shown = source.to_string();
                shown.as_bytes()
            }
        };
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01B3);
        }
        (hash % self.count as u64) as usize == self.index
    }
}

impl Sources {
    /// Keeps only the inputs of `shard`. Inputs that failed before decoding (a missing file)
    /// stay with the first shard only, so each is reported once.
    pub fn shard(mut self, shard: Shard) -> Self {
        self.found.retain(|s| shard.holds(s));
        if shard.index != 0 {
            self.failed.clear();
        }
        self
    }

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
