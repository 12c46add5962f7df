//! Helpers shared by the tests of the whycam crates and of the `whycam` binary: where the
//! committed fixtures and the Fashion-MNIST dataset are, the golden files written by
//! `tools/reference/make_goldens.py` with the counter-based "seeded-random" weights that script
//! gives the torchvision models (reproduced bit for bit), and the SIMD level a test runs at.
//!
//! The helpers that need whycam's own crates sit behind features, so that a crate's tests pull
//! in only crates below it: `photos` (whycam-data) and `cam` (whycam-models and whycam-cam).
//! `fuzz` adds the harness of the mutation tests ([`mutate`], with proptest).

mod goldens;
#[cfg(feature = "cam")]
mod gradients;
#[cfg(feature = "cam")]
mod models;
#[cfg(feature = "fuzz")]
pub mod mutate;
pub mod simd;

#[cfg(feature = "photos")]
pub use goldens::photo_batch;
pub use goldens::{
    Golden, golden, synthetic, write_synthetic_weights, write_synthetic_weights_edited,
    write_synthetic_weights_renamed,
};
#[cfg(feature = "cam")]
pub use gradients::assert_resumed_gradient_is_the_full_gradient;
#[cfg(feature = "cam")]
pub use models::{cropped_photo, default_model, golden_json, random_resnet50};

use std::path::{Path, PathBuf};

/// Root of the committed test data, the workspace's `tests/data`.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// Debian's Fashion-MNIST (`tools/test.sh` installs `dataset-fashion-mnist`), or
/// `$WHYCAM_FASHION_MNIST`.
pub fn fashion_mnist() -> PathBuf {
    let dir = std::env::var_os("WHYCAM_FASHION_MNIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"));
    assert!(
        dir.is_dir(),
        "{} is missing: install Debian's dataset-fashion-mnist (tools/test.sh does)",
        dir.display()
    );
    dir
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
