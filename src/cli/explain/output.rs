//! Where explanations go: one writer per file kind, all fed the same [`Item`] (ripgrep's
//! `Sink` idea), and the `explanations.json` summary.

use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};
use whycam_cam::Plane;
use whycam_data::{CropRegion, RgbImage};
use whycam_render::{Colormap, Heatmap};

/// One map of one image, ready to be written.
pub struct Item<'a> {
    /// The original image, as decoded.
    pub original: &'a RgbImage,
    /// The part of it the network saw.
    pub region: &'a CropRegion,
    /// The map in `[0, 1]`.
    pub map: &'a Plane,
    /// `DIR/<stem>.<method>[.<class>]`, without extension.
    pub base: PathBuf,
}

impl Item<'_> {
    /// `base.ext`: `base` already has dots (`cat.gradcam`), which `with_extension` would cut.
    fn path(&self, ext: &str) -> PathBuf {
        let mut name = self.base.clone().into_os_string();
        name.push(".");
        name.push(ext);
        name.into()
    }
}

/// Writes one kind of file per item.
pub trait MapWriter: Sync {
    /// Writes the item's file and returns its path.
    fn write(&self, item: &Item<'_>) -> anyhow::Result<PathBuf>;
}

/// The heatmap over the original image, as PNG.
pub struct OverlayPng {
    pub colormap: Colormap,
    pub alpha: f32,
}

impl MapWriter for OverlayPng {
    fn write(&self, item: &Item<'_>) -> anyhow::Result<PathBuf> {
        let path = item.path("png");
        let heatmap = Heatmap {
            height: item.map.height,
            width: item.map.width,
            data: &item.map.data,
        };
        whycam_render::overlay(
            item.original,
            item.region,
            heatmap,
            self.colormap,
            self.alpha,
        )
        .save(&path)
        .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// The map itself as float32 `.npy`, shape `(h, w)`.
pub struct RawNpy;

impl MapWriter for RawNpy {
    fn write(&self, item: &Item<'_>) -> anyhow::Result<PathBuf> {
        let path = item.path("npy");
        write_npy(&path, item.map).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

fn write_npy(path: &Path, map: &Plane) -> std::io::Result<()> {
    use npyz::WriterBuilder;
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[map.height as u64, map.width as u64])
        .writer(file)
        .begin_nd()?;
    writer.extend(map.data.iter().copied())?;
    writer.finish()
}

/// `explanations.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub model: String,
    pub weights: String,
    pub layers: Vec<String>,
    pub methods: Vec<String>,
    pub target: String,
    pub aug_smooth: bool,
    pub eigen_smooth: bool,
    pub images: Vec<ImageSummary>,
    pub errors: Vec<ImageError>,
}

#[derive(Debug, Serialize)]
pub struct ImageSummary {
    pub image: String,
    pub prediction: ClassScore,
    pub top: Vec<ClassScore>,
    pub explanations: Vec<ExplanationSummary>,
}

#[derive(Debug, Serialize)]
pub struct ClassScore {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

#[derive(Debug, Serialize)]
pub struct ExplanationSummary {
    pub target: TargetSummary,
    pub method: String,
    pub layers: Vec<String>,
    pub files: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TargetSummary {
    /// The class index, absent for a group.
    pub index: Option<usize>,
    pub label: String,
    /// The target score (logit, or sum of logits for a group).
    pub score: f32,
}

#[derive(Debug, Serialize)]
pub struct ImageError {
    pub image: String,
    pub error: String,
}
