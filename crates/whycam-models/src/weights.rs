//! Reading PyTorch (`.pth`/`.pt`, zip or legacy pickle) and safetensors checkpoints into a
//! model, with one clear report when they do not fit.

use crate::classifier::HeadSpec;
use crate::error::{ModelError, Result};
use burn_store::{
    ApplyError, ApplyResult, BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use std::collections::HashSet;
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
    /// Tensors outside the state dict (optimizer state of a training checkpoint), left alone.
    ignored: HashSet<String>,
}

enum Store {
    Pytorch(Box<PytorchStore>),
    Safetensors(Box<SafetensorsStore>),
}

/// Runs the same code on either store (`ModuleStore` has generic methods, so no trait object).
macro_rules! on_store {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            Store::Pytorch($s) => $body,
            Store::Safetensors($s) => $body,
        }
    };
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
        if (2..100 << 20).contains(&header_len) && header_len <= len.saturating_sub(8) {
            let mut header = vec![0u8; header_len as usize];
            header[0] = b'{';
            file.read_exact(&mut header[1..]).map_err(io)?;
            let json: serde_json::Value = serde_json::from_slice(&header)
                .map_err(|e| format_error(path, format!("damaged safetensors header: {e}")))?;
            let needed = json
                .as_object()
                .into_iter()
                .flat_map(|o| o.values())
                .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
                .max()
                .unwrap_or(0);
            let held = len - 8 - header_len;
            if needed > held {
                return Err(format_error(
                    path,
                    format!(
                        "truncated safetensors file: its header describes {needed} bytes of \
                         tensor data but the file holds {held}"
                    ),
                ));
            }
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
        Self::open_with_prefix(path, key_remaps, None)
    }

    /// Opens a checkpoint whose state dict holds `anchor` (the classifier weight), also when
    /// it is nested or prefixed as training code saves it: `module.` (DataParallel),
    /// `{"model": ...}`, `{"state_dict": ...}`. Tensors outside the state dict are ignored.
    pub fn open_for(path: &Path, key_remaps: &[(&str, &str)], anchor: &str) -> Result<Self> {
        let mut file = Self::open(path, key_remaps)?;
        let names = file.names()?;
        if names.iter().any(|n| n == anchor) {
            return Ok(file);
        }
        let prefix = names
            .iter()
            .filter_map(|n| n.strip_suffix(anchor))
            .filter(|p| p.ends_with('.'))
            .min_by_key(|p| p.len());
        let Some(prefix) = prefix else {
            return Ok(file);
        };
        tracing::info!(path = %path.display(), prefix, "reading the state dict under a prefix");
        let mut file = Self::open_with_prefix(path, key_remaps, Some(prefix))?;
        file.ignored = names
            .iter()
            .filter(|n| !n.starts_with(prefix))
            .cloned()
            .collect();
        Ok(file)
    }

    fn open_with_prefix(
        path: &Path,
        key_remaps: &[(&str, &str)],
        prefix: Option<&str>,
    ) -> Result<Self> {
        let format = sniff(path)?;
        let mut remapper = KeyRemapper::new();
        if let Some(prefix) = prefix {
            remapper = remapper
                .add_pattern(format!("^{}", regex::escape(prefix)), "")
                .map_err(|e| format_error(path, format!("bad prefix {prefix:?}: {e}")))?;
        }
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
                    // Read it as PytorchStore reads a .pth: PyTorch layouts, no enum variant
                    // names in paths, Sequential indices renumbered past parameter-free layers.
                    store = store
                        .with_from_adapter(PyTorchToBurnAdapter)
                        .skip_enum_variants(true)
                        .map_indices_contiguous(true);
                }
                Store::Safetensors(Box::new(store))
            }
        };
        let mut file = Self {
            path: path.to_path_buf(),
            format,
            store,
            ignored: HashSet::new(),
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
        let keys = on_store!(&mut self.store, s => s.keys().map_err(|e| format_error(&path, e.to_string())))?;
        if keys.is_empty() {
            return Err(format_error(&path, "the checkpoint holds no tensors"));
        }
        Ok(keys)
    }

    /// The shape of tensor `name` as stored (PyTorch layout), if present.
    pub fn shape(&mut self, name: &str) -> Result<Option<Vec<usize>>> {
        let path = self.path.clone();
        let tensor = on_store!(&mut self.store, s => s
            .get_tensor(name)
            .map_err(|e| format_error(&path, e.to_string()))?
            .map(|t| t.shape.to_vec()));
        Ok(tensor)
    }

    /// Reads the size of a classifier head from its weight `[classes, in]` (PyTorch layout;
    /// burn's own files store `[in, classes]`) and whether its bias exists. `None` when the
    /// file has no such tensor: the full mismatch report comes from [`Self::apply_to`].
    pub fn head_spec(&mut self, weight: &str, bias: &str, model: &str) -> Result<Option<HeadSpec>> {
        let Some(shape) = self.shape(weight)? else {
            return Ok(None);
        };
        if shape.len() != 2 {
            return Err(self.mismatch(
                model,
                format!("  tensor {weight} has shape {shape:?}, expected [classes, features]"),
            ));
        }
        let classes = if self.format == WeightsFormat::SafetensorsBurn {
            shape[1]
        } else {
            shape[0]
        };
        Ok(Some(HeadSpec {
            classes,
            bias: self.shape(bias)?.is_some(),
        }))
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
        self.apply_except(module, model, &[])
    }

    /// As [`Self::apply_to`], but the tensors named in `keep` (PyTorch names) are left as
    /// `module` has them: a new classifier head on pretrained features.
    pub fn apply_except<M: ModuleSnapshot>(
        &mut self,
        module: &mut M,
        model: &str,
        keep: &[&str],
    ) -> Result<()> {
        let path = self.path.clone();
        let mut result = on_store!(&mut self.store, s => module
            .load_from(s.as_mut())
            .map_err(|e| format_error(&path, e.to_string())))?;
        let kept = |name: &str| keep.contains(&pytorch_name(name).as_str());
        result.missing.retain(|(name, _)| !kept(name));
        result.unused.retain(|name| !kept(name));
        result.errors.retain(|e| match e {
            ApplyError::ShapeMismatch { path, .. } => !kept(path),
            _ => true,
        });
        if result.missing.is_empty()
            && result
                .unused
                .iter()
                .all(|n| n.ends_with("num_batches_tracked"))
            && result.errors.is_empty()
        {
            return self.check_finite(module, keep);
        }
        // Expected names and shapes as PyTorch spells them (weight/bias, not gamma/beta).
        let expected: std::collections::HashMap<String, Vec<usize>> = module
            .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
            .into_iter()
            .map(|t| (t.name.clone(), t.shape.to_vec()))
            .collect();
        let report = self.describe_problems(&result, &expected)?;
        Err(self.mismatch(model, report))
    }

    /// Refuses weights holding NaN or infinity, naming every such tensor (as PyTorch names
    /// it): a network with them computes NaN for every input. Tensors in `fresh` were not
    /// loaded from the file.
    fn check_finite<M: ModuleSnapshot>(&self, module: &M, fresh: &[&str]) -> Result<()> {
        let (mut names, mut nan, mut infinite) = (Vec::new(), false, false);
        for tensor in module.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true) {
            if fresh.contains(&tensor.name.as_str()) {
                continue;
            }
            let Ok((name, dtype, _, _, bytes)) = tensor.into_parts() else {
                continue;
            };
            // The network computes in float32: every loaded float tensor is one.
            if dtype != burn::tensor::DType::F32 {
                continue;
            }
            let (has_nan, has_inf) = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .fold((false, false), |(n, i), v| {
                    (n || v.is_nan(), i || v.is_infinite())
                });
            if has_nan || has_inf {
                names.push(name);
                nan |= has_nan;
                infinite |= has_inf;
            }
        }
        if names.is_empty() {
            return Ok(());
        }
        Err(ModelError::NonFinite {
            path: self.path.clone(),
            tensor: names.join(", "),
            what: match (nan, infinite) {
                (true, true) => "NaN and infinity",
                (true, false) => "NaN",
                _ => "infinity",
            }
            .to_string(),
        })
    }

    /// Running-statistics counters (they only matter for training with momentum = None) and
    /// whatever a training checkpoint keeps beside its state dict.
    fn is_ignorable(&self, name: &str) -> bool {
        name.ends_with("num_batches_tracked") || self.ignored.contains(name)
    }

    fn describe_problems(
        &mut self,
        result: &ApplyResult,
        expected: &std::collections::HashMap<String, Vec<usize>>,
    ) -> Result<String> {
        let mut lines = Vec::new();
        for (name, _) in &result.missing {
            let name = pytorch_name(name);
            let shape = expected.get(&name).cloned().unwrap_or_default();
            lines.push(("missing", format!("missing tensor {name} {shape:?}")));
        }
        for name in &result.unused {
            if self.is_ignorable(name) {
                continue;
            }
            let shape = self.shape(name)?.unwrap_or_default();
            lines.push(("unexpected", format!("unexpected tensor {name} {shape:?}")));
        }
        for error in &result.errors {
            let line = match error {
                ApplyError::ShapeMismatch {
                    path,
                    expected,
                    found,
                } => format!(
                    "wrong shape for {}: expected {:?}, the file has {:?}",
                    pytorch_name(path),
                    expected.to_vec(),
                    found.to_vec()
                ),
                other => other.to_string(),
            };
            lines.push(("shape", line));
        }
        Ok(summarise(&lines))
    }
}

/// burn calls a BatchNorm's weight and bias `gamma` and `beta`; PyTorch users know them as
/// `weight` and `bias`.
fn pytorch_name(burn_name: &str) -> String {
    if let Some(stem) = burn_name.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = burn_name.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        burn_name.to_string()
    }
}

/// At most `SHOWN` lines of each kind, then a count of the rest, so that loading a whole
/// different architecture stays readable.
fn summarise(lines: &[(&str, String)]) -> String {
    const SHOWN: usize = 12;
    let mut report = String::new();
    for kind in ["missing", "unexpected", "shape"] {
        let of_kind: Vec<&String> = lines
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, l)| l)
            .collect();
        for line in of_kind.iter().take(SHOWN) {
            let _ = writeln!(report, "  {line}");
        }
        if of_kind.len() > SHOWN {
            let noun = match kind {
                "missing" => "missing tensors",
                "unexpected" => "unexpected tensors",
                _ => "shape mismatches",
            };
            let _ = writeln!(report, "  ... and {} more {noun}", of_kind.len() - SHOWN);
        }
    }
    report.trim_end().to_string()
}
