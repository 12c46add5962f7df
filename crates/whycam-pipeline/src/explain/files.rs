//! Where explanations go: one writer per file kind, all fed the same [`Item`] (ripgrep's
//! `Sink` idea), and the `explanations.json` summary.

use anyhow::Context;
use std::path::{Path, PathBuf};
use whycam_cam::Plane;
use whycam_data::{CropRegion, RgbImage};
use whycam_render::{Colormap, Heatmap, OverlayStyle};

/// One map of one image, ready to be written.
pub struct Item<'a> {
    /// The original image, as decoded.
    pub original: &'a RgbImage,
    /// The part of it the network saw.
    pub region: &'a CropRegion,
    /// The map in `[0, 1]`.
    pub map: &'a Plane,
    /// Per target layer, the map before ReLU and scaling.
    pub signed: &'a [Plane],
    /// The heatmap drawn over the original.
    pub overlay: &'a RgbImage,
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
pub struct OverlayPng;

impl MapWriter for OverlayPng {
    fn write(&self, item: &Item<'_>) -> anyhow::Result<PathBuf> {
        save_png(item.overlay, item.path("png"))
    }
}

/// The signed map (before ReLU) in bwr centred on zero over the original, with a colour bar.
pub struct SignedPng {
    pub style: OverlayStyle,
}

impl MapWriter for SignedPng {
    fn write(&self, item: &Item<'_>) -> anyhow::Result<PathBuf> {
        let signed = combined_signed(item.signed);
        let (unit, m) = whycam_render::centre_signed(&signed.data);
        let heatmap = Heatmap {
            height: signed.height,
            width: signed.width,
            data: &unit,
        };
        let style = OverlayStyle {
            colormap: Colormap::Bwr,
            ..self.style
        };
        let picture = whycam_render::overlay(item.original, item.region, heatmap, &style);
        let font = (picture.height() as f32 / 24.0).clamp(11.0, 28.0);
        let figure = whycam_render::with_colorbar(&picture, Colormap::Bwr, -m, m, font);
        save_png(&figure, item.path("signed.png"))
    }
}

/// Saves `image` as PNG at `path`, naming the file in the error.
pub fn save_png(image: &RgbImage, path: PathBuf) -> anyhow::Result<PathBuf> {
    image
        .save(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The map itself as float32 `.npy`, shape `(h, w)`, and beside it the map before ReLU and
/// scaling as `.signed.npy` (for CAM, its mean over positions is the class's logit).
pub struct RawNpy;

impl MapWriter for RawNpy {
    fn write(&self, item: &Item<'_>) -> anyhow::Result<PathBuf> {
        let path = item.path("npy");
        write_npy(&path, item.map).with_context(|| format!("writing {}", path.display()))?;
        let signed = item.path("signed.npy");
        write_npy(&signed, &combined_signed(item.signed))
            .with_context(|| format!("writing {}", signed.display()))?;
        Ok(path)
    }
}

fn write_npy(path: &Path, map: &Plane) -> std::io::Result<()> {
    crate::cli::write_npy(path, &[map.height as u64, map.width as u64], &map.data)
}

/// One signed map from the per-layer ones: the map itself for one layer, else the mean at the
/// finest layer's resolution.
fn combined_signed(planes: &[Plane]) -> Plane {
    let Some(finest) = planes.iter().max_by_key(|p| p.height * p.width) else {
        return Plane::zeros(1, 1);
    };
    if planes.len() == 1 {
        return finest.clone();
    }
    let (h, w) = (finest.height, finest.width);
    let mut mean = Plane::zeros(h, w);
    for plane in planes {
        for (m, v) in mean.data.iter_mut().zip(plane.resized(h, w).data) {
            *m += v / planes.len() as f32;
        }
    }
    mean
}
