//! Explanations shown: overlays drawn by whycam's own renderer (`whycam_render::overlay`, the
//! command line's), handed to Python as PNG bytes (the command line's encoder, so the same
//! bytes as its files) or as PIL images (Pillow imported only then).

use crate::errors::{InvalidArgument, WhycamError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Arc;
use whycam_cam::Plane;
use whycam_data::{CropRegion, RgbImage};
use whycam_render::{Colormap, Heatmap, OverlayStyle};

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
