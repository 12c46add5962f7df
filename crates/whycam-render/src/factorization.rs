//! Deep Feature Factorization drawn as pytorch-grad-cam 1.5.7 draws it
//! (`utils/image.py`, `show_factorization_on_image` and `create_labels_legend`): one colour per
//! concept from matplotlib's `gist_rainbow` at `i / k`, each pixel painted in the colour of its
//! strongest concept with the brightness (HSV value) of that concept's scaled map there, blended
//! with the image; and beside it a legend, each concept's colour swatch with its best classes.
//!
//! The colours go through OpenCV's 8-bit RGB→HSV and HSV→RGB conversions as the reference's
//! do (reproduced here, HSV→RGB as OpenCV's vector loop computes it: a concept's hue and
//! saturation, then its colour at each of the 256 values), and the blend is the reference's
//! arithmetic (the image in `f64`, the colour in `f32`, truncated to 8 bits), so an overlay is
//! the reference's picture to the byte (`tests/factorization.rs`). Maps at a layer's resolution
//! are sampled bilinearly with half-pixel centres, as `cv2.resize` in `scale_cam_image` does.

use crate::bounds::{MAX_FONT_SIZE, MAX_PIXELS, centred, fitted_size, white_canvas};
use crate::error::RenderError;
use crate::figure::{Layout, fit_within};
use crate::overlay::Heatmap;
use crate::text::Text;
use image::{Rgb, RgbImage, imageops};
use whycam_data::CropRegion;

/// `run_dff_on_image`'s (the tutorial's) image weight: 30% image, 70% concept colour.
/// `show_factorization_on_image` itself defaults to 0.5.
pub const DFF_IMAGE_WEIGHT: f64 = 0.3;

/// matplotlib's `gist_rainbow` (`_cm.py`): `(x, (r, g, b))` control points.
const GIST_RAINBOW: [(f64, [f64; 3]); 8] = [
    (0.000, [1.00, 0.00, 0.16]),
    (0.030, [1.00, 0.00, 0.00]),
    (0.215, [1.00, 1.00, 0.00]),
    (0.400, [0.00, 1.00, 0.00]),
    (0.586, [0.00, 1.00, 1.00]),
    (0.770, [0.00, 0.00, 1.00]),
    (0.954, [1.00, 0.00, 1.00]),
    (1.000, [1.00, 0.00, 0.75]),
];

/// Entry `index` of matplotlib's 256-entry `gist_rainbow` table, as `_create_lookup_table`
/// computes it (control points scaled by 255, sampled at `255 · linspace(0, 1, 256)`).
fn gist_rainbow_entry(index: usize) -> [f64; 3] {
    let last = GIST_RAINBOW.len() - 1;
    if index == 0 {
        return GIST_RAINBOW[0].1;
    }
    if index >= 255 {
        return GIST_RAINBOW[last].1;
    }
    let xi = 255.0 * (index as f64 * (1.0 / 255.0));
    // searchsorted(x, xi, side='left'): the first control point at or after xi.
    let ind = GIST_RAINBOW
        .iter()
        .position(|(x, _)| x * 255.0 >= xi)
        .unwrap_or(last)
        .max(1);
    let (x0, y0) = (GIST_RAINBOW[ind - 1].0 * 255.0, GIST_RAINBOW[ind - 1].1);
    let (x1, y1) = (GIST_RAINBOW[ind].0 * 255.0, GIST_RAINBOW[ind].1);
    let distance = (xi - x0) / (x1 - x0);
    std::array::from_fn(|c| (distance * (y1[c] - y0[c]) + y0[c]).clamp(0.0, 1.0))
}

/// The colours of `k` concepts, as `show_factorization_on_image` picks them: `gist_rainbow` at
/// `np.arange(0, 1, 1/k)`, drawn as `np.uint8(colour · 255)`.
pub fn concept_colours(k: usize) -> Vec<[u8; 3]> {
    let step = 1.0 / k.max(1) as f64;
    (0..k)
        .map(|i| {
            // Colormap.__call__: floor(x · N), N = 256.
            let index = ((i as f64 * step) * 256.0).floor().clamp(0.0, 255.0) as usize;
            gist_rainbow_entry(index).map(|v| (v * 255.0) as u8)
        })
        .collect()
}

/// OpenCV's 8-bit `COLOR_RGB2HSV` (`RGB2HSV_b`): hue in `0..180`, saturation and value in
/// `0..=255`, by its fixed-point tables.
pub fn rgb_to_hsv(rgb: [u8; 3]) -> [u8; 3] {
    const SHIFT: i32 = 12;
    let [r, g, b] = rgb.map(i32::from);
    let v = r.max(g).max(b);
    let vmin = r.min(g).min(b);
    let diff = v - vmin;
    // saturate_cast<int>(double) rounds half to even.
    let sdiv = |x: i32| {
        if x == 0 {
            0
        } else {
            (f64::from(255 << SHIFT) / f64::from(x)).round_ties_even() as i32
        }
    };
    let hdiv = |x: i32| {
        if x == 0 {
            0
        } else {
            (f64::from(180 << SHIFT) / (6.0 * f64::from(x))).round_ties_even() as i32
        }
    };
    let s = (diff * sdiv(v) + (1 << (SHIFT - 1))) >> SHIFT;
    let h = if v == r {
        g - b
    } else if v == g {
        b - r + 2 * diff
    } else {
        r - g + 4 * diff
    };
    let mut h = (h * hdiv(diff) + (1 << (SHIFT - 1))) >> SHIFT;
    if h < 0 {
        h += 180;
    }
    [h.clamp(0, 255) as u8, s as u8, v as u8]
}

/// OpenCV's 8-bit `COLOR_HSV2RGB` (`HSV2RGB_b`) as its vector loop computes it: in `f32`, hue
/// scaled by `6/180`, saturation and value by `1/255`, truncated back to 8 bits. (Its scalar
/// loop, which OpenCV runs only on the last `width mod (4 × lanes)` pixels of a row, rounds
/// instead: pytorch-grad-cam's pictures differ by 1 there, depending on the CPU.)
pub fn hsv_to_rgb(hsv: [u8; 3]) -> [u8; 3] {
    let h = f32::from(hsv[0]);
    let s = f32::from(hsv[1]) * (1.0 / 255.0);
    let v = f32::from(hsv[2]) * (1.0 / 255.0);
    let (r, g, b) = if s == 0.0 {
        (v, v, v)
    } else {
        const SECTORS: [[usize; 3]; 6] = [
            [1, 3, 0],
            [1, 0, 2],
            [3, 0, 1],
            [0, 2, 1],
            [0, 1, 3],
            [2, 1, 0],
        ];
        let mut h = (h * (6.0 / 180.0)) % 6.0;
        let mut sector = h.floor() as i32;
        h -= sector as f32;
        if !(0..6).contains(&sector) {
            sector = 0;
            h = 0.0;
        }
        let tab = [
            v,
            v * (1.0 - s),
            v * (1.0 - s * h),
            v * (1.0 - s * (1.0 - h)),
        ];
        let [bi, gi, ri] = SECTORS[sector as usize];
        (tab[ri], tab[gi], tab[bi])
    };
    [r, g, b].map(|c| (c * 255.0).clamp(0.0, 255.0) as u8)
}

/// A concept's colour at each of the 256 strengths: its hue and saturation, the strength as
/// the HSV value.
fn value_ramp(colour: [u8; 3]) -> Vec<[u8; 3]> {
    let [h, s, _] = rgb_to_hsv(colour);
    (0..=255u8).map(|v| hsv_to_rgb([h, s, v])).collect()
}

/// Draws concept `maps` (each in `[0, 1]`, all of one size) over `original` inside `region`,
/// the part of it the network saw (outside, the image stays as it is): each pixel takes the
/// colour of its strongest concept (the first of equals), at that concept's strength, blended
/// as `image_weight · image + (1 − image_weight) · colour` (clamped to `[0, 1]`). Colours are
/// [`concept_colours`]. No maps, maps of mismatched sizes or an empty region: the image as it is.
pub fn factorization_overlay(
    original: &RgbImage,
    region: &CropRegion,
    maps: &[Heatmap<'_>],
    image_weight: f64,
) -> RgbImage {
    let mut out = original.clone();
    let Some(first) = maps.first() else {
        return out;
    };
    let (mh, mw) = (first.height, first.width);
    let complete = mh.checked_mul(mw).is_some_and(|n| {
        n > 0
            && maps
                .iter()
                .all(|m| (m.height, m.width) == (mh, mw) && m.data.len() >= n)
    });
    if !(complete && region.width > 0.0 && region.height > 0.0) {
        return out;
    }
    let weight = if image_weight.is_nan() {
        DFF_IMAGE_WEIGHT
    } else {
        image_weight.clamp(0.0, 1.0)
    };
    let colour_weight = (1.0 - weight) as f32;
    let ramps: Vec<Vec<[u8; 3]>> = concept_colours(maps.len())
        .into_iter()
        .map(value_ramp)
        .collect();
    let sy = mh as f32 / region.height;
    let sx = mw as f32 / region.width;
    let (w, h) = original.dimensions();
    let x_start = region.x.max(0.0).floor() as u32;
    let x_end = ((region.x + region.width).ceil().max(0.0) as u32).min(w);
    let y_start = region.y.max(0.0).floor() as u32;
    let y_end = ((region.y + region.height).ceil().max(0.0) as u32).min(h);
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
            let mx = (cx - region.x) * sx - 0.5;
            // np.argmax: the first largest.
            let (mut best, mut strength) = (0, f32::NEG_INFINITY);
            for (j, map) in maps.iter().enumerate() {
                let v = map.sample(my, mx);
                if v > strength {
                    (best, strength) = (j, v);
                }
            }
            // np.uint8(255 · explanation): truncated.
            let value = (255.0 * strength.clamp(0.0, 1.0)) as u8;
            let colour = ramps[best][usize::from(value)];
            let Rgb(pixel) = out.get_pixel_mut(px, py);
            for (p, c) in pixel.iter_mut().zip(colour) {
                let image = f64::from(*p) / 255.0 * weight;
                let mask = f32::from(c) / 255.0 * colour_weight;
                *p = ((image + f64::from(mask)) * 255.0).clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// One concept's entry in the legend.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    /// Its colour ([`concept_colours`]).
    pub colour: [u8; 3],
    /// Its lines, e.g. `tiger cat 0.62`, `tabby 0.21` (see [`legend_line`]).
    pub lines: Vec<String>,
}

/// A legend line as `create_labels_legend` writes one, with a space for its colon: the
/// label's first three comma-separated names and the probability to two decimals,
/// `tiger cat 0.62`.
pub fn legend_line(label: &str, probability: f32) -> String {
    let names: Vec<&str> = label.split(',').take(3).collect();
    format!("{} {probability:.2}", names.join(","))
}

const PAD: u32 = 10;
const BLACK: [u8; 3] = [0, 0, 0];
/// The smallest legend text, in pixels: a legend of many concepts shrinks to it, then grows.
const MIN_LEGEND_FONT: f32 = 8.0;

/// The picture (scaled to `layout.size` pixels high, letterboxed as a figure panel is) with
/// the legend to its right: per concept a colour swatch and its lines, in `layout.font_size`
/// text, smaller when the concepts would not fit beside the picture (down to 8 px; then the
/// figure grows taller). White background, as the crate's other figures.
pub fn factorization_figure(
    picture: &RgbImage,
    legend: &[LegendEntry],
    layout: Layout,
) -> Result<RgbImage, RenderError> {
    let font_ok = (1.0..=MAX_FONT_SIZE).contains(&layout.font_size);
    if !((1..=Layout::MAX_SIZE).contains(&layout.size) && font_ok) {
        return Err(RenderError::InvalidLayout {
            size: layout.size,
            font_size: layout.font_size,
        });
    }
    let size = layout.size;
    let (pw, ph) = picture.dimensions();
    let (slot_w, _) = fitted_size(pw, ph, size * 4, size, MAX_PIXELS);
    let slot_w = slot_w.max(size.div_ceil(4));
    let lines: usize = legend.iter().map(|e| e.lines.len().max(1)).sum();
    let gap = PAD / 2;
    let fits = |font: f32| {
        let line_h = Text::new("Ag", font).height();
        lines as u64 * u64::from(line_h) + legend.len().saturating_sub(1) as u64 * u64::from(gap)
    };
    let mut font = layout.font_size;
    while font > MIN_LEGEND_FONT && fits(font) > u64::from(size) {
        font = (font - 1.0).max(MIN_LEGEND_FONT);
    }
    let line_h = Text::new("Ag", font).height();
    let swatch = line_h;
    let text_w = size.max(160);
    let widest = legend
        .iter()
        .flat_map(|e| &e.lines)
        .map(|l| Text::new(l.as_str(), font).width().min(text_w))
        .max()
        .unwrap_or(0);
    let legend_w = if legend.is_empty() {
        0
    } else {
        swatch * 2 + PAD / 2 + widest
    };
    let legend_h = fits(font);
    let body_h = u64::from(size).max(legend_h);
    let width =
        u64::from(PAD) + u64::from(slot_w) + u64::from(PAD) + u64::from(legend_w) + u64::from(PAD);
    let height = u64::from(PAD) + body_h + u64::from(PAD);
    let mut figure = white_canvas("a factorization figure", width, height)?;
    let fitted = fit_within(picture, slot_w, size);
    imageops::overlay(
        &mut figure,
        &fitted,
        i64::from(PAD + centred(slot_w, fitted.width())),
        i64::from(PAD) + (body_h - u64::from(fitted.height())) as i64 / 2,
    );
    let x0 = PAD + slot_w + PAD;
    let mut y = PAD as i64 + (body_h - legend_h) as i64 / 2;
    for entry in legend {
        // A swatch as wide as two lines are high, centred on the entry's first line.
        let sy = y + i64::from(line_h - swatch / 2) / 2;
        for dy in 0..swatch / 2 {
            for dx in 0..swatch * 2 {
                let (px, py) = (x0 + dx, sy + i64::from(dy));
                if py >= 0 && (py as u32) < figure.height() && px < figure.width() {
                    figure.put_pixel(px, py as u32, Rgb(entry.colour));
                }
            }
        }
        let tx = (x0 + swatch * 2 + PAD / 2) as i32;
        for line in &entry.lines {
            Text::new(line.as_str(), font)
                .fitted(text_w)
                .draw(&mut figure, tx, y as i32, BLACK);
            y += i64::from(line_h);
        }
        if entry.lines.is_empty() {
            y += i64::from(line_h);
        }
        y += i64::from(gap);
    }
    Ok(figure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_round_trips_pure_colours() {
        for rgb in [[255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 0, 0]] {
            assert_eq!(hsv_to_rgb(rgb_to_hsv(rgb)), rgb, "{rgb:?}");
        }
        // Hue in 2-degree steps: other colours come back near, not equal (as in OpenCV).
        assert_eq!(hsv_to_rgb(rgb_to_hsv([255, 234, 0])), [255, 238, 0]);
        assert_eq!(rgb_to_hsv([255, 0, 0]), [0, 255, 255]);
        assert_eq!(rgb_to_hsv([0, 0, 255]), [120, 255, 255]);
    }

    #[test]
    fn the_strongest_concept_colours_each_pixel() {
        let original = RgbImage::from_pixel(2, 1, Rgb([0, 0, 0]));
        let region = CropRegion {
            x: 0.0,
            y: 0.0,
            width: 2.0,
            height: 1.0,
        };
        let a = [1.0f32, 0.0];
        let b = [0.5f32, 1.0];
        let maps = [
            Heatmap {
                height: 1,
                width: 2,
                data: &a,
            },
            Heatmap {
                height: 1,
                width: 2,
                data: &b,
            },
        ];
        let out = factorization_overlay(&original, &region, &maps, 0.0);
        // Full strength, no image: each concept's colour through HSV at value 255.
        let colours = concept_colours(2);
        assert_eq!(out.get_pixel(0, 0).0, value_ramp(colours[0])[255]);
        assert_eq!(out.get_pixel(1, 0).0, value_ramp(colours[1])[255]);
        // No maps: the image as it is.
        assert_eq!(
            factorization_overlay(&original, &region, &[], 0.3),
            original
        );
    }

    #[test]
    fn legend_lines_read_as_the_reference_writes_them() {
        assert_eq!(legend_line("tiger cat", 0.6249), "tiger cat 0.62");
        assert_eq!(
            legend_line("Egyptian cat, a, b, c", 0.8),
            "Egyptian cat, a, b 0.80"
        );
    }

    #[test]
    fn figures_put_the_legend_beside_the_picture() {
        let picture = RgbImage::from_pixel(40, 30, Rgb([10, 20, 30]));
        let legend: Vec<LegendEntry> = concept_colours(12)
            .into_iter()
            .map(|colour| LegendEntry {
                colour,
                lines: vec!["tiger cat 0.62".into(), "tabby 0.21".into()],
            })
            .collect();
        let layout = Layout {
            size: 64,
            font_size: 14.0,
        };
        let figure = factorization_figure(&picture, &legend, layout).unwrap();
        // 12 concepts of two lines do not fit 64 px even at 8 px: the figure grows.
        assert!(figure.height() > 64 + 2 * PAD);
        assert!(figure.width() > 85 + 3 * PAD);
        let bad = Layout {
            size: 0,
            font_size: 14.0,
        };
        assert!(factorization_figure(&picture, &legend, bad).is_err());
        assert!(factorization_figure(&picture, &[], layout).is_ok());
    }
}
