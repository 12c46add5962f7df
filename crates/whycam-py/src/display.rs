//! Explanations shown: overlays drawn by whycam's own renderer (`whycam_render::overlay`, the
//! command line's), titled figures and contact sheets (`whycam explain --figure`, `--grid`),
//! handed to Python as PNG bytes (the command line's encoder, so the same bytes as its files)
//! or as PIL images (Pillow imported only then).

use crate::errors::{InvalidArgument, WhycamError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Arc;
use whycam_cam::Plane;
use whycam_data::{CropRegion, RgbImage};
use whycam_render::{Colormap, Heatmap, Layout, OverlayStyle, Panel, Tile, Verdict};

/// What an explanation's overlay is drawn from: its map at the layer's resolution, the
/// image as decoded (shared by the image's maps) and the part of it the network saw.
pub struct Overlay {
    pub map: Plane,
    pub original: Arc<RgbImage>,
    pub region: CropRegion,
}

impl Overlay {
    /// The heatmap over the image, as `whycam explain --alpha --colormap --gray-background`
    /// draws it; drawn without the GIL.
    pub fn render(
        &self,
        py: Python<'_>,
        alpha: f32,
        colormap: &str,
        gray_background: bool,
    ) -> PyResult<RgbImage> {
        if !(0.0..=1.0).contains(&alpha) {
            return Err(InvalidArgument::new_err(format!(
                "alpha must be between 0 and 1, got {alpha}"
            )));
        }
        let colormap: Colormap = colormap
            .parse()
            .map_err(|e: String| InvalidArgument::new_err(format!("colormap: {e}")))?;
        let style = OverlayStyle {
            colormap,
            alpha,
            gray_background,
        };
        Ok(py.detach(|| {
            let heatmap = Heatmap {
                height: self.map.height,
                width: self.map.width,
                data: &self.map.data,
            };
            whycam_render::overlay(&self.original, &self.region, heatmap, &style)
        }))
    }
}

/// `picture` as PNG bytes, encoded as the command line encodes its files.
pub fn png(py: Python<'_>, picture: &RgbImage) -> PyResult<Py<PyBytes>> {
    let bytes = py
        .detach(|| whycam_pipeline::write::png_bytes(picture))
        .map_err(|e| WhycamError::new_err(format!("encoding a PNG: {e}")))?;
    Ok(PyBytes::new(py, &bytes).unbind())
}

/// `picture` as a PIL image (``RGB``); ImportError without Pillow.
pub fn pil_image(py: Python<'_>, picture: &RgbImage) -> PyResult<Py<PyAny>> {
    let image = py.import("PIL.Image")?;
    let bytes = PyBytes::new(py, picture.as_raw());
    Ok(image
        .call_method1(
            "frombytes",
            ("RGB", (picture.width(), picture.height()), bytes),
        )?
        .unbind())
}

/// How overlays are drawn: `alpha`, a colour map's name, a grey background.
pub type Style<'a> = (f32, &'a str, bool);

/// The titled figure `whycam explain --figure` writes as `<stem>.<method>.figure.png`: the
/// image (titled `title`) beside each overlay, titled with its target and probability.
pub fn figure(
    py: Python<'_>,
    title: String,
    overlays: &[(&Overlay, String, f32)],
    (alpha, colormap, gray): Style<'_>,
) -> PyResult<RgbImage> {
    let Some((first, _, _)) = overlays.first() else {
        return Err(InvalidArgument::new_err(
            "a figure needs at least one explanation",
        ));
    };
    let mut panels = vec![Panel {
        image: (*first.original).clone(),
        title,
    }];
    for (overlay, label, probability) in overlays {
        panels.push(Panel {
            image: overlay.render(py, alpha, colormap, gray)?,
            title: format!("{label} prob = {probability:.6}"),
        });
    }
    py.detach(|| whycam_render::side_by_side(&panels, Layout::default()))
        .map_err(|e| InvalidArgument::new_err(format!("figure: {e}")))
}

/// Side of a contact sheet's tile, as the command line's (`Grids::TILE`).
const TILE: u32 = whycam_pipeline::explain::files::Grids::TILE;

/// The contact sheet `whycam explain --grid ROWSxCOLUMNS` writes as `grid.<method>.png`: one
/// tile per overlay, captioned `label(probability)`.
pub fn grid(
    py: Python<'_>,
    overlays: &[(&Overlay, String, f32)],
    rows: u32,
    columns: u32,
    (alpha, colormap, gray): Style<'_>,
) -> PyResult<RgbImage> {
    let mut tiles = Vec::with_capacity(overlays.len());
    for (overlay, label, probability) in overlays {
        let picture = overlay.render(py, alpha, colormap, gray)?;
        tiles.push(Tile {
            image: whycam_render::fit_within(&picture, TILE, TILE),
            label: format!("{label}({probability:.2})"),
            verdict: Verdict::Unknown,
            note: None,
        });
    }
    let layout = Layout {
        size: TILE,
        font_size: 14.0,
    };
    py.detach(|| whycam_render::contact_sheet(&tiles, rows, columns, layout))
        .map_err(|e| InvalidArgument::new_err(format!("grid: {e}")))
}
