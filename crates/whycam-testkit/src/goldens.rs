//! The logit goldens of `tools/reference/make_goldens.py` and the seeded-random weights it
//! gives the torchvision models.

use crate::data_dir;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// One `tests/data/goldens/logits_*.json`.
#[derive(Debug, Deserialize)]
pub struct Golden {
    pub model: String,
    pub size: usize,
    pub images: Vec<String>,
    pub logits: Vec<Vec<f32>>,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub gain: f64,
    /// The largest |float32 − float64| of PyTorch's logits on these photos.
    pub float32_noise: f32,
    /// `[name, shape, "norm" | "plain"]` in state-dict order.
    #[serde(default)]
    pub tensors: Vec<(String, Vec<usize>, String)>,
}

/// `tests/data/goldens/logits_{model}.json`.
pub fn golden(model: &str) -> Golden {
    let path = data_dir().join(format!("goldens/logits_{model}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden JSON")
}

/// The golden photos as one normalised NCHW batch, computed as torchvision's ToTensor +
/// Normalize do.
#[cfg(feature = "photos")]
pub fn photo_batch(images: &[String], norm: &whycam_data::Normalization) -> Vec<f32> {
    let mut data = Vec::new();
    for name in images {
        let img = image::open(data_dir().join("photos224").join(name))
            .expect("golden photo")
            .to_rgb8();
        data.extend(whycam_data::normalize_chw(&img, norm));
    }
    data
}

fn fnv1a64(text: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    h
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The values `make_goldens.py::synthetic` gives tensor `name`.
pub fn synthetic(seed: u64, gain: f64, name: &str, shape: &[usize], is_norm: bool) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let key = fnv1a64(&format!("{seed}:{name}"));
    let leaf = name.rsplit('.').next().unwrap_or(name);
    let fan_in: usize = shape.iter().skip(1).product();
    let scale = 3f64.sqrt() * gain / (fan_in as f64).sqrt();
    (0..n as u64)
        .map(|i| {
            let u = (splitmix64(key.wrapping_add(i)) >> 40) as f64 / f64::from(1u32 << 24);
            let v = match (leaf, is_norm, shape.len()) {
                ("weight", _, d) if d >= 2 => (2.0 * u - 1.0) * scale,
                ("weight", true, _) => 0.5 + 0.5 * u,
                ("bias" | "running_mean", true, _) => 0.2 * (2.0 * u - 1.0),
                ("running_var", true, _) => 0.5 + u,
                ("bias", false, _) => 0.1 * (2.0 * u - 1.0),
                _ => panic!("no rule for {name}"),
            };
            v as f32
        })
        .collect()
}

/// Writes the golden's synthetic state dict as a PyTorch-layout safetensors file.
pub fn write_synthetic_weights(golden: &Golden, path: &Path) {
    write_synthetic_weights_renamed(golden, path, |name| name.to_string());
}

/// Like [`write_synthetic_weights`], storing tensor `name` under `rename(name)` (the values
/// still follow the original name).
pub fn write_synthetic_weights_renamed(
    golden: &Golden,
    path: &Path,
    rename: impl Fn(&str) -> String,
) {
    write_synthetic_weights_edited(golden, path, rename, |_, _| {});
}

/// Like [`write_synthetic_weights_renamed`], letting `edit` change each tensor's values
/// (given its original name) before they are written: hostile or broken checkpoints.
pub fn write_synthetic_weights_edited(
    golden: &Golden,
    path: &Path,
    rename: impl Fn(&str) -> String,
    edit: impl Fn(&str, &mut [f32]),
) {
    let buffers: Vec<(String, Vec<usize>, Vec<u8>)> = golden
        .tensors
        .iter()
        .map(|(name, shape, kind)| {
            let mut values = synthetic(golden.seed, golden.gain, name, shape, kind == "norm");
            edit(name, &mut values);
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (rename(name), shape.clone(), bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .expect("tensor view");
            (name.clone(), view)
        })
        .collect();
    let metadata: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    safetensors::serialize_to_file(views, Some(metadata), path).expect("write safetensors");
}
