//! Reading PyTorch (`.pth`/`.pt`, zip or legacy pickle) and safetensors checkpoints into a
//! model, with one clear report when they do not fit.

use crate::classifier::HeadSpec;
use crate::error::{ModelError, Result};
use burn_store::{
    ApplyResult, KeyRemapper, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore,
    SafetensorsStore,
};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The container formats whycam reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    /// A `torch.save` file (zip archive or the legacy pickle of PyTorch ≤ 1.5).
    Pytorch,
    /// A safetensors file in PyTorch's layout (Linear weights `[out, in]`).
    SafetensorsPytorch,
    /// A safetensors file written by burn (whycam's own checkpoints).
    SafetensorsBurn,
}

/// An opened checkpoint.
pub struct WeightsFile {
    path: PathBuf,
    format: WeightsFormat,
    store: Store,
}

enum Store {
    Pytorch(Box<PytorchStore>),
    Safetensors(Box<SafetensorsStore>),
}

fn format_error(path: &Path, message: impl Into<String>) -> ModelError {
    ModelError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Tells the format from the first bytes, not the file name.
fn sniff(path: &Path) -> Result<WeightsFormat> {
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut head = [0u8; 9];
    let n = file.read(&mut head).map_err(io)?;
    if n >= 4 && head[..4] == *b"PK\x03\x04" {
        return Ok(WeightsFormat::Pytorch);
    }
    if n >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        return Ok(WeightsFormat::Pytorch);
    }
    if n == 9 && head[8] == b'{' {
        let header_len = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        if header_len + 8 <= len && header_len < 100 << 20 {
            let mut header = vec![0u8; header_len as usize];
            header[0] = b'{';
            file.read_exact(&mut header[1..]).map_err(io)?;
            let json: serde_json::Value = serde_json::from_slice(&header)
                .map_err(|e| format_error(path, format!("damaged safetensors header: {e}")))?;
            let producer = json
                .get("__metadata__")
                .and_then(|m| m.get("producer"))
                .and_then(|p| p.as_str());
            return Ok(if producer == Some("burn") {
                WeightsFormat::SafetensorsBurn
            } else {
                WeightsFormat::SafetensorsPytorch
            });
        }
    }
    Err(format_error(
        path,
        if len == 0 {
            "the file is empty".to_string()
        } else {
            "not a PyTorch checkpoint (.pth/.pt) or a safetensors file".to_string()
        },
    ))
}

impl WeightsFile {
    /// Opens and indexes a checkpoint. `key_remaps` are `(regex, replacement)` pairs applied
    /// to tensor names first.
    pub fn open(path: &Path, key_remaps: &[(&str, &str)]) -> Result<Self> {
        let format = sniff(path)?;
        let mut remapper = KeyRemapper::new();
        for (from, to) in key_remaps {
            remapper = remapper
                .add_pattern(*from, *to)
                .map_err(|e| format_error(path, format!("bad key remap {from:?}: {e}")))?;
        }
        let store = match format {
            WeightsFormat::Pytorch => Store::Pytorch(Box::new(
                PytorchStore::from_file(path)
                    .remap(remapper)
                    .allow_partial(true)
                    .validate(false),
            )),
            WeightsFormat::SafetensorsPytorch | WeightsFormat::SafetensorsBurn => {
                let mut store = SafetensorsStore::from_file(path)
                    .remap(remapper)
                    .allow_partial(true)
                    .validate(false);
                if format == WeightsFormat::SafetensorsPytorch {
                    store = store.with_from_adapter(PyTorchToBurnAdapter);
                }
                Store::Safetensors(Box::new(store))
            }
        };
        let mut file = Self {
            path: path.to_path_buf(),
            format,
            store,
        };
        file.names()?;
        Ok(file)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The detected container format.
    pub fn format(&self) -> WeightsFormat {
        self.format
    }

    /// Names of all tensors (after remapping and burn-store's contiguous renumbering).
    pub fn names(&mut self) -> Result<Vec<String>> {
        let path = self.path.clone();
        let keys = match &mut self.store {
            Store::Pytorch(s) => s.keys().map_err(|e| format_error(&path, e.to_string())),
            Store::Safetensors(s) => s.keys().map_err(|e| format_error(&path, e.to_string())),
        }?;
        if keys.is_empty() {
            return Err(format_error(&path, "the checkpoint holds no tensors"));
        }
        Ok(keys)
    }

    /// The shape of tensor `name` as stored (PyTorch layout), if present.
    pub fn shape(&mut self, name: &str) -> Result<Option<Vec<usize>>> {
        let path = self.path.clone();
        let tensor = match &mut self.store {
            Store::Pytorch(s) => s
                .get_tensor(name)
                .map_err(|e| format_error(&path, e.to_string()))?
                .map(|t| t.shape.to_vec()),
            Store::Safetensors(s) => s
                .get_tensor(name)
                .map_err(|e| format_error(&path, e.to_string()))?
                .map(|t| t.shape.to_vec()),
        };
        Ok(tensor)
    }

    /// Reads the size of a classifier head from its weight `[classes, in]` (PyTorch layout;
    /// burn's own files store `[in, classes]`) and whether its bias exists.
    pub fn head_spec(&mut self, weight: &str, bias: &str, model: &str) -> Result<HeadSpec> {
        let Some(shape) = self.shape(weight)? else {
            return Err(self.mismatch(model, format!("missing tensor {weight:?} (the classifier)")));
        };
        if shape.len() != 2 {
            return Err(self.mismatch(
                model,
                format!("tensor {weight:?} has shape {shape:?}, expected [classes, features]"),
            ));
        }
        let classes = if self.format == WeightsFormat::SafetensorsBurn {
            shape[1]
        } else {
            shape[0]
        };
        Ok(HeadSpec {
            classes,
            bias: self.shape(bias)?.is_some(),
        })
    }

    fn mismatch(&self, model: &str, report: String) -> ModelError {
        ModelError::Mismatch {
            path: self.path.clone(),
            model: model.to_string(),
            report,
        }
    }

    /// Loads every tensor into `module`; any missing, unexpected or wrongly shaped tensor is an
    /// error that lists them all.
    pub fn apply_to<M: ModuleSnapshot>(&mut self, module: &mut M, model: &str) -> Result<()> {
        let path = self.path.clone();
        let result = match &mut self.store {
            Store::Pytorch(s) => module
                .load_from(s.as_mut())
                .map_err(|e| format_error(&path, e.to_string())),
            Store::Safetensors(s) => module
                .load_from(s.as_mut())
                .map_err(|e| format_error(&path, e.to_string())),
        }?;
        let report = self.describe_problems(&result)?;
        if report.is_empty() {
            Ok(())
        } else {
            Err(self.mismatch(model, report))
        }
    }

    fn describe_problems(&mut self, result: &ApplyResult) -> Result<String> {
        let mut report = String::new();
        for (name, _) in &result.missing {
            let _ = writeln!(report, "  missing tensor {name}");
        }
        for name in &result.unused {
            // Running-statistics counters only matter for training with momentum = None.
            if name.ends_with("num_batches_tracked") {
                continue;
            }
            let shape = self.shape(name)?.unwrap_or_default();
            let _ = writeln!(report, "  unexpected tensor {name} {shape:?}");
        }
        for error in &result.errors {
            let _ = writeln!(report, "  {error}");
        }
        Ok(report.trim_end().to_string())
    }
}
