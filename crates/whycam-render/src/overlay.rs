//! A heatmap drawn over the original image, where the network looked.

use crate::colormap::Colormap;
use image::{Rgb, RgbImage};
use whycam_data::CropRegion;

/// A map to draw: row-major values in `[0, 1]`.
#[derive(Debug, Clone, Copy)]
pub struct Heatmap<'a> {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `height * width` values.
    pub data: &'a [f32],
}

impl Heatmap<'_> {
    /// Bilinear sample with half-pixel centres at `(y, x)` in map pixels, borders clamped
    /// (`cv2.resize`'s `INTER_LINEAR`).
    pub(crate) fn sample(&self, y: f32, x: f32) -> f32 {
        let clamp = |v: f32, n: usize| v.max(0.0).min((n - 1) as f32);
        let (y, x) = (clamp(y, self.height), clamp(x, self.width));
        let (y0, x0) = (y.floor() as usize, x.floor() as usize);
        let (y1, x1) = ((y0 + 1).min(self.height - 1), (x0 + 1).min(self.width - 1));
        let (fy, fx) = (y - y0 as f32, x - x0 as f32);
        let at = |r: usize, c: usize| self.data[r * self.width + c];
        let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
        let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// How an overlay looks.
#[derive(Debug, Clone, Copy)]
pub struct OverlayStyle {
    /// The colour map of the heatmap.
    pub colormap: Colormap,
    /// Opacity of the heatmap, 0 to 1.
    pub alpha: f32,
    /// Draw over a grey-scale copy of the image, so the heatmap's colours stand out.
    pub gray_background: bool,
}

impl Default for OverlayStyle {
    fn default() -> Self {
        Self {
            colormap: Colormap::Jet,
            alpha: 0.5,
            gray_background: false,
        }
    }
}

/// A signed map as values in `[0, 1]` for a diverging colour map: zero at 0.5, `±m` at the
/// ends, where `m` is the largest magnitude (returned). An all-zero map is all 0.5.
pub fn centre_signed(data: &[f32]) -> (Vec<f32>, f32) {
    let m = data
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    let unit = data
        .iter()
        .map(|&v| if m > 0.0 { 0.5 + 0.5 * v / m } else { 0.5 })
        .collect();
    (unit, m)
}

/// Draws `map` over `original` inside `region`, the part of the original the network saw (a
/// centre crop covers only part of it; outside, the image stays as it is). The map is upsampled
/// bilinearly with half-pixel centres.
pub fn overlay(
    original: &RgbImage,
    region: &CropRegion,
    map: Heatmap<'_>,
    style: &OverlayStyle,
) -> RgbImage {
    let mut out = if style.gray_background {
        grayscale(original)
    } else {
        original.clone()
    };
    // A map whose values do not fill its declared size is drawn as no map, not read past.
    let complete = map
        .height
        .checked_mul(map.width)
        .is_some_and(|n| n > 0 && map.data.len() >= n);
    if !(complete && region.width > 0.0 && region.height > 0.0) {
        return out;
    }
    let (colormap, alpha) = (style.colormap, style.alpha.clamp(0.0, 1.0));
    let sy = map.height as f32 / region.height;
    let sx = map.width as f32 / region.width;
    let (w, h) = original.dimensions();
    let x_start = region.x.max(0.0).floor() as u32;
    let x_end = ((region.x + region.width).ceil() as u32).min(w);
    let y_start = region.y.max(0.0).floor() as u32;
    let y_end = ((region.y + region.height).ceil() as u32).min(h);
    for py in y_start..y_end {
        let cy = py as f32 + 0.5;
        if cy < region.y || cy > region.y + region.height {
            continue;
        }
        let my = (cy - region.y) * sy - 0.5;
        for px in x_start..x_end {
            let cx = px as f32 + 0.5;
            if cx < region.x || cx > region.x + region.width {
                continue;
            }
            let value = map.sample(my, (cx - region.x) * sx - 0.5);
            let colour = colormap.rgb(value);
            let Rgb(pixel) = out.get_pixel_mut(px, py);
            for (p, c) in pixel.iter_mut().zip(colour) {
                *p = (f32::from(*p) * (1.0 - alpha) + f32::from(c) * alpha).round() as u8;
            }
        }
    }
    out
}

/// Luma (ITU-R BT.601, as PIL's `convert("L")`) in all three channels.
fn grayscale(image: &RgbImage) -> RgbImage {
    let mut out = image.clone();
    for Rgb(p) in out.pixels_mut() {
        let y = (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .round()
            .clamp(0.0, 255.0) as u8;
        *p = [y; 3];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_region_is_coloured() {
        let original = RgbImage::from_pixel(8, 4, Rgb([100, 100, 100]));
        let region = CropRegion {
            x: 2.0,
            y: 0.0,
            width: 4.0,
            height: 4.0,
        };
        let data = [1.0f32; 4];
        let map = Heatmap {
            height: 2,
            width: 2,
            data: &data,
        };
        let out = overlay(&original, &region, map, &OverlayStyle::default());
        assert_eq!(out.get_pixel(0, 0), &Rgb([100, 100, 100]));
        assert_eq!(out.get_pixel(7, 3), &Rgb([100, 100, 100]));
        // jet(1) = (128, 0, 0), blended half and half.
        assert_eq!(out.get_pixel(3, 2), &Rgb([114, 50, 50]));
        let tinted = RgbImage::from_pixel(8, 4, Rgb([200, 100, 0]));
        let gray = overlay(
            &tinted,
            &region,
            map,
            &OverlayStyle {
                gray_background: true,
                ..OverlayStyle::default()
            },
        );
        assert_eq!(gray.get_pixel(0, 0), &Rgb([119, 119, 119]));
    }

    #[test]
    fn signed_maps_centre_on_zero() {
        let (unit, m) = centre_signed(&[-2.0, 0.0, 1.0]);
        assert_eq!((unit, m), (vec![0.0, 0.5, 0.75], 2.0));
        assert_eq!(centre_signed(&[0.0, 0.0]).0, [0.5, 0.5]);
    }
}
