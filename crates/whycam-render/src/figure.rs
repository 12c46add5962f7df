//! Figures made of several pictures: titled panels side by side, contact sheets with label
//! boxes, and colour bars. White background, DejaVu Sans, as a matplotlib figure would be.

use crate::colormap::Colormap;
use crate::error::RenderError;
use crate::text::Text;
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];
const RED: [u8; 3] = [214, 39, 40];
const PAD: u32 = 10;

/// One picture with a title above it.
#[derive(Debug, Clone)]
pub struct Panel {
    /// The picture.
    pub image: RgbImage,
    /// The title, e.g. `cat prob = 0.999923`.
    pub title: String,
}

/// Whether a prediction matched the true label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The true label is not known.
    Unknown,
    /// The prediction is the true label: a white label box.
    Right,
    /// The prediction is wrong: a red label box.
    Wrong,
}

/// One tile of a contact sheet.
#[derive(Debug, Clone)]
pub struct Tile {
    /// The picture (fitted into the tile, aspect kept).
    pub image: RgbImage,
    /// The label, e.g. `cat(0.97)`.
    pub label: String,
    /// Whether the label is right, which colours its box.
    pub verdict: Verdict,
    /// A second, smaller line, e.g. `true: dog`.
    pub note: Option<String>,
}

/// Sizes of a figure.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Height of each panel, or the side of each tile, in pixels.
    pub size: u32,
    /// Title size in pixels.
    pub font_size: f32,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            size: 256,
            font_size: 16.0,
        }
    }
}

/// The panels side by side, each scaled to `layout.size` pixels high and titled above.
pub fn side_by_side(panels: &[Panel], layout: Layout) -> Result<RgbImage, RenderError> {
    if panels.is_empty() {
        return Err(RenderError::Empty("a figure"));
    }
    let scaled: Vec<RgbImage> = panels
        .iter()
        .map(|p| scale_to_height(&p.image, layout.size))
        .collect();
    let title_height = Text::new("Ag", layout.font_size).height() + PAD / 2;
    let width = PAD + scaled.iter().map(|s| s.width() + PAD).sum::<u32>();
    let height = PAD + title_height + layout.size + PAD;
    let mut figure = RgbImage::from_pixel(width, height, Rgb(WHITE));
    let mut x = PAD;
    for (panel, image) in panels.iter().zip(&scaled) {
        let title = Text::new(panel.title.as_str(), layout.font_size).fitted(image.width());
        title.draw_centred(
            &mut figure,
            (x + image.width() / 2) as i32,
            PAD as i32,
            BLACK,
        );
        imageops::overlay(
            &mut figure,
            image,
            i64::from(x),
            i64::from(PAD + title_height),
        );
        x += image.width() + PAD;
    }
    Ok(figure)
}

/// A contact sheet of `rows × columns` tiles, each `layout.size` pixels square with its label
/// box above the picture. More tiles than fit are an error (page them before).
pub fn contact_sheet(
    tiles: &[Tile],
    rows: u32,
    columns: u32,
    layout: Layout,
) -> Result<RgbImage, RenderError> {
    if tiles.is_empty() {
        return Err(RenderError::Empty("a grid"));
    }
    if rows == 0 || columns == 0 {
        return Err(RenderError::EmptyGrid { rows, columns });
    }
    let capacity = (rows * columns) as usize;
    if tiles.len() > capacity {
        return Err(RenderError::TooManyTiles {
            tiles: tiles.len(),
            rows,
            columns,
        });
    }
    // Fewer tiles than cells: drop the empty rows.
    let rows = (tiles.len() as u32).div_ceil(columns);
    let columns = columns.min(tiles.len() as u32);
    let label_height = Text::new("Ag", layout.font_size).height() + 6;
    let note_size = layout.font_size * 0.8;
    let has_notes = tiles.iter().any(|t| t.note.is_some());
    let note_height = if has_notes {
        Text::new("Ag", note_size).height() + 2
    } else {
        0
    };
    let cell_w = layout.size + PAD;
    let cell_h = label_height + note_height + 4 + layout.size + PAD;
    let mut sheet = RgbImage::from_pixel(PAD + columns * cell_w, PAD + rows * cell_h, Rgb(WHITE));
    for (i, tile) in tiles.iter().enumerate() {
        let (row, col) = (i as u32 / columns, i as u32 % columns);
        let (x0, y0) = (PAD + col * cell_w, PAD + row * cell_h);
        let text = Text::new(tile.label.as_str(), layout.font_size).fitted(layout.size - 8);
        let (fill, ink, border) = match tile.verdict {
            Verdict::Unknown => (WHITE, BLACK, None),
            Verdict::Right => (WHITE, BLACK, Some(BLACK)),
            Verdict::Wrong => (RED, WHITE, Some(RED)),
        };
        let box_w = text.width() + 8;
        fill_rect(&mut sheet, x0, y0, box_w, label_height, fill);
        if let Some(border) = border {
            stroke_rect(&mut sheet, x0, y0, box_w, label_height, border);
        }
        text.draw(&mut sheet, x0 as i32 + 4, y0 as i32 + 3, ink);
        if let Some(note) = &tile.note {
            Text::new(note.as_str(), note_size)
                .fitted(layout.size)
                .draw(&mut sheet, x0 as i32, (y0 + label_height + 2) as i32, RED);
        }
        let fitted = fit_within(&tile.image, layout.size, layout.size);
        let ix = x0 + (layout.size - fitted.width()) / 2;
        let iy = y0 + label_height + note_height + 4 + (layout.size - fitted.height()) / 2;
        imageops::overlay(&mut sheet, &fitted, i64::from(ix), i64::from(iy));
    }
    Ok(sheet)
}

/// A vertical colour bar `height` pixels high for values from `low` (bottom) to `high`
/// (top), with ticks at both ends and, when the range spans it, at zero.
pub fn colorbar(colormap: Colormap, low: f32, high: f32, height: u32, font_size: f32) -> RgbImage {
    let bar_w = (height / 16).clamp(10, 24);
    let labels: Vec<(f32, Text)> = ticks(low, high)
        .into_iter()
        .map(|v| (v, Text::new(format_tick(v), font_size)))
        .collect();
    let label_w = labels.iter().map(|(_, t)| t.width()).max().unwrap_or(0);
    let text_h = Text::new("0", font_size).height();
    let margin = text_h / 2 + 1;
    let width = bar_w + 6 + label_w + 2;
    let mut image = RgbImage::from_pixel(width, height + 2 * margin, Rgb(WHITE));
    for y in 0..height {
        // Top row is `high`.
        let t = 1.0 - (y as f32 + 0.5) / height as f32;
        let colour = colormap.rgb(t);
        fill_rect(&mut image, 0, margin + y, bar_w, 1, colour);
    }
    stroke_rect(&mut image, 0, margin, bar_w, height, BLACK);
    let span = high - low;
    for (value, text) in labels {
        let t = if span > 0.0 {
            (value - low) / span
        } else {
            0.5
        };
        let y = margin + ((1.0 - t) * (height - 1) as f32).round() as u32;
        fill_rect(&mut image, bar_w, y, 4, 1, BLACK);
        text.draw(
            &mut image,
            (bar_w + 6) as i32,
            y as i32 - text_h as i32 / 2,
            BLACK,
        );
    }
    image
}

/// `picture` with a colour bar of its own height to its right.
pub fn with_colorbar(
    picture: &RgbImage,
    colormap: Colormap,
    low: f32,
    high: f32,
    font_size: f32,
) -> RgbImage {
    let bar = colorbar(colormap, low, high, picture.height(), font_size);
    let margin = (bar.height() - picture.height()) / 2;
    let mut out = RgbImage::from_pixel(
        picture.width() + PAD + bar.width(),
        bar.height(),
        Rgb(WHITE),
    );
    imageops::overlay(&mut out, picture, 0, i64::from(margin));
    imageops::overlay(&mut out, &bar, i64::from(picture.width() + PAD), 0);
    out
}

fn ticks(low: f32, high: f32) -> Vec<f32> {
    let mut ticks = vec![low, high];
    if low < 0.0 && high > 0.0 {
        ticks.push(0.0);
    }
    ticks
}

/// Short tick labels: `0`, `0.25`, `-1.3e-3`, `12.5`.
fn format_tick(v: f32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs();
    if !(1e-2..1e4).contains(&magnitude) {
        return format!("{v:.1e}");
    }
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn scale_to_height(image: &RgbImage, height: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    if h == height || h == 0 {
        return image.clone();
    }
    let width = ((w as f64 * height as f64 / h as f64).round() as u32).max(1);
    imageops::resize(image, width, height, FilterType::Triangle)
}

/// `image` scaled to fit in `max_w × max_h`, aspect ratio kept.
pub fn fit_within(image: &RgbImage, max_w: u32, max_h: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return image.clone();
    }
    let scale = (max_w as f64 / w as f64).min(max_h as f64 / h as f64);
    let nw = ((w as f64 * scale).round() as u32).clamp(1, max_w);
    let nh = ((h as f64 * scale).round() as u32).clamp(1, max_h);
    if (nw, nh) == (w, h) {
        return image.clone();
    }
    imageops::resize(image, nw, nh, FilterType::Triangle)
}

fn fill_rect(image: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, colour: [u8; 3]) {
    let (iw, ih) = image.dimensions();
    for py in y..(y + h).min(ih) {
        for px in x..(x + w).min(iw) {
            image.put_pixel(px, py, Rgb(colour));
        }
    }
}

fn stroke_rect(image: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, colour: [u8; 3]) {
    if w == 0 || h == 0 {
        return;
    }
    fill_rect(image, x, y, w, 1, colour);
    fill_rect(image, x, y + h - 1, w, 1, colour);
    fill_rect(image, x, y, 1, h, colour);
    fill_rect(image, x + w - 1, y, 1, h, colour);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x * 3) as u8, (y * 3) as u8, 90]))
    }

    #[test]
    fn empty_inputs_are_errors() {
        assert!(matches!(
            contact_sheet(&[], 5, 5, Layout::default()),
            Err(RenderError::Empty(_))
        ));
        assert!(matches!(
            side_by_side(&[], Layout::default()),
            Err(RenderError::Empty(_))
        ));
    }

    #[test]
    fn a_grid_shrinks_to_its_tiles_and_refuses_too_many() {
        let tile = Tile {
            image: picture(40, 30),
            label: "cat(0.97)".into(),
            verdict: Verdict::Wrong,
            note: None,
        };
        let layout = Layout {
            size: 64,
            font_size: 12.0,
        };
        let one_row = contact_sheet(&vec![tile.clone(); 3], 5, 5, layout).unwrap();
        let full = contact_sheet(&vec![tile.clone(); 25], 5, 5, layout).unwrap();
        assert_eq!(one_row.width(), PAD + 3 * (64 + PAD));
        assert_eq!(full.width(), PAD + 5 * (64 + PAD));
        assert!(one_row.height() < full.height() / 4);
        assert!(contact_sheet(&vec![tile; 26], 5, 5, layout).is_err());
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(-12.5), "-12.5");
        assert_eq!(format_tick(0.00123), "1.2e-3");
        assert_eq!(ticks(-1.0, 2.0), [-1.0, 2.0, 0.0]);
    }
}
