//! Checkpoints: the weights as safetensors in PyTorch's layout and names (so PyTorch can load
//! them too), and a JSON sidecar beside them that says what the weights are: architecture,
//! head, class names, preprocessing, and how far training got. With both, `whycam predict` and
//! `whycam explain --weights RUN/best.safetensors` need nothing else.

use crate::error::{Result, TrainError};
use crate::fit::{EpochStats, OptimizerKind, Schedule};
use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use whycam_data::PreprocessConfig;
use whycam_models::Network;

/// How training was set up, kept so a run can be resumed and reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The training data as given.
    pub data: String,
    /// Epochs with every layer trained.
    pub epochs: usize,
    /// Head-only epochs before them.
    pub freeze_epochs: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// The seed.
    pub seed: u64,
}

/// The JSON written beside a checkpoint's weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sidecar {
    /// Architecture name as `--model` takes it.
    pub architecture: String,
    /// Number of logits (1 for a binary head).
    pub outputs: usize,
    /// Whether the final linear layer has a bias.
    pub bias: bool,
    /// Class names in label order (two for a binary head: negative, positive).
    pub labels: Vec<String>,
    /// How images are brought to the network.
    pub preprocess: PreprocessConfig,
    /// Epochs done.
    pub epoch: usize,
    /// That epoch's numbers.
    pub metrics: Option<EpochStats>,
    /// The settings of the run.
    pub training: TrainingRecord,
    /// The whycam version that wrote it.
    pub whycam: String,
}

/// The sidecar path of a weights file: `best.safetensors` → `best.json`.
pub fn sidecar_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

/// Where the optimiser state of a checkpoint goes: `last.safetensors` → `last.optim.bpk`
/// (burn's burnpack format).
pub fn optimizer_path(weights: &Path) -> PathBuf {
    weights.with_extension("optim.bpk")
}

impl Sidecar {
    /// Reads the sidecar of `weights`, if there is one.
    pub fn for_weights(weights: &Path) -> Result<Option<Self>> {
        let path = sidecar_path(weights);
        if !path.is_file() || path == weights {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|source| TrainError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| TrainError::Checkpoint {
                path,
                message: format!("not a whycam checkpoint description: {e}"),
            })
    }
}

/// Writes `model`'s weights to `weights`, the optimiser state and `sidecar` beside it. Each
/// file is written to a temporary name first and renamed, so an interrupted save never leaves
/// a torn checkpoint.
pub fn save(
    model: &Network,
    optim: &burn::optim::ModuleOptimizer,
    weights: &Path,
    sidecar: &Sidecar,
) -> Result<()> {
    let state = optimizer_path(weights);
    let tmp = state.with_extension("bpk.partial");
    optim.save(&tmp).map_err(|e| TrainError::Checkpoint {
        path: state.clone(),
        message: format!("cannot write the optimiser state: {e}"),
    })?;
    rename(&tmp, &state)?;
    let tmp = weights.with_extension("safetensors.partial");
    let mut store = SafetensorsStore::from_file(&tmp)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .clear_metadata()
        .metadata("producer", "whycam")
        .metadata("format", "pt")
        .overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|e| TrainError::Checkpoint {
            path: weights.to_path_buf(),
            message: e.to_string(),
        })?;
    rename(&tmp, weights)?;
    let json = serde_json::to_string_pretty(sidecar).expect("a sidecar serialises");
    let path = sidecar_path(weights);
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, json + "\n").map_err(|source| TrainError::Io {
        path: tmp.clone(),
        source,
    })?;
    rename(&tmp, &path)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|source| TrainError::Io {
        path: to.to_path_buf(),
        source,
    })
}
