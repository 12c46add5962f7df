//! Figures made of several pictures: titled panels side by side, contact sheets with label
//! boxes, and colour bars. White background, DejaVu Sans, as a matplotlib figure would be.
//!
//! Every picture is letterboxed into a box of bounded size (see [`crate::bounds`]): an input
//! of any aspect ratio, a 200000 × 1 PNG say, takes no more room than an ordinary one.

use crate::bounds::{MAX_FONT_SIZE, MAX_PIXELS, MAX_SIDE, centred, fitted_size, white_canvas};
use crate::colormap::Colormap;
use crate::error::RenderError;
use crate::text::Text;
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};
use std::borrow::Cow;

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

impl Layout {
    /// The largest panel height or tile side.
    pub const MAX_SIZE: u32 = 4096;

    /// The layout, or [`RenderError::InvalidLayout`] when a size is out of range.
    fn checked(self) -> Result<Self, RenderError> {
        // NaN is in no range.
        let font_ok = (1.0..=MAX_FONT_SIZE).contains(&self.font_size);
        if (1..=Self::MAX_SIZE).contains(&self.size) && font_ok {
            Ok(self)
        } else {
            Err(RenderError::InvalidLayout {
                size: self.size,
                font_size: self.font_size,
            })
        }
    }
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            size: 256,
            font_size: 16.0,
        }
    }
}

/// A panel of a titled figure is at most this many times as wide as it is high, and at least
/// this many times narrower than it is high: wider or taller pictures are letterboxed.
const MAX_PANEL_ASPECT: u32 = 4;

/// The panels side by side, each scaled to `layout.size` pixels high and titled above. A
/// picture wider than [`MAX_PANEL_ASPECT`] times its height is letterboxed into a panel that
/// wide; a very tall one sits in a panel a quarter as wide as it is high, so the title has
/// room.
pub fn side_by_side(panels: &[Panel], layout: Layout) -> Result<RgbImage, RenderError> {
    if panels.is_empty() {
        return Err(RenderError::Empty("a figure"));
    }
    let layout = layout.checked()?;
    let size = layout.size;
    let (max_w, min_w) = (size * MAX_PANEL_ASPECT, size.div_ceil(MAX_PANEL_ASPECT));
    // The layout from the pictures' sizes alone: nothing is scaled before the figure is known
    // to fit, and then one panel at a time.
    let slots: Vec<u32> = panels
        .iter()
        .map(|p| {
            let (w, h) = p.image.dimensions();
            fitted_size(w, h, max_w, size, MAX_PIXELS).0.max(min_w)
        })
        .collect();
    let title_height = Text::new("Ag", layout.font_size).height() + PAD / 2;
    let width = slots.iter().fold(u64::from(PAD), |w, slot| {
        w.saturating_add(u64::from(slot + PAD))
    });
    let height = u64::from(PAD + title_height + size + PAD);
    let mut figure = white_canvas("a titled figure", width, height)?;
    let mut x = PAD;
    for (panel, &slot) in panels.iter().zip(&slots) {
        let image = fit_into(&panel.image, max_w, size, MAX_PIXELS);
        let title = Text::new(panel.title.as_str(), layout.font_size).fitted(slot);
        title.draw_centred(&mut figure, (x + slot / 2) as i32, PAD as i32, BLACK);
        imageops::overlay(
            &mut figure,
            image.as_ref(),
            i64::from(x + centred(slot, image.width())),
            i64::from(PAD + title_height + centred(size, image.height())),
        );
        x += slot + PAD;
    }
    Ok(figure)
}

/// A contact sheet of `rows × columns` tiles, each `layout.size` pixels square with its label
/// box above the picture (letterboxed into the square). More tiles than fit are an error
/// (page them before).
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
    let layout = layout.checked()?;
    let capacity = u64::from(rows) * u64::from(columns);
    if tiles.len() as u64 > capacity {
        return Err(RenderError::TooManyTiles {
            tiles: tiles.len(),
            rows,
            columns,
        });
    }
    // Fewer tiles than cells: drop the empty rows.
    let columns = columns.min(u32::try_from(tiles.len()).unwrap_or(u32::MAX));
    let rows = (tiles.len() as u64).div_ceil(u64::from(columns));
    let size = layout.size;
    let label_height = Text::new("Ag", layout.font_size).height() + 6;
    let note_size = layout.font_size * 0.8;
    let has_notes = tiles.iter().any(|t| t.note.is_some());
    let note_height = if has_notes {
        Text::new("Ag", note_size).height() + 2
    } else {
        0
    };
    let cell_w = size + PAD;
    let cell_h = label_height + note_height + 4 + size + PAD;
    let mut sheet = white_canvas(
        "a contact sheet",
        u64::from(PAD) + u64::from(columns) * u64::from(cell_w),
        u64::from(PAD).saturating_add(rows.saturating_mul(u64::from(cell_h))),
    )?;
    for (i, tile) in tiles.iter().enumerate() {
        // Inside the canvas, so within u32.
        let (row, col) = (i as u32 / columns, i as u32 % columns);
        let (x0, y0) = (PAD + col * cell_w, PAD + row * cell_h);
        let text = Text::new(tile.label.as_str(), layout.font_size).fitted(size.saturating_sub(8));
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
            Text::new(note.as_str(), note_size).fitted(size).draw(
                &mut sheet,
                x0 as i32,
                (y0 + label_height + 2) as i32,
                RED,
            );
        }
        let fitted = fit_within(&tile.image, size, size);
        let ix = x0 + centred(size, fitted.width());
        let iy = y0 + label_height + note_height + 4 + centred(size, fitted.height());
        imageops::overlay(&mut sheet, &fitted, i64::from(ix), i64::from(iy));
    }
    Ok(sheet)
}

/// The largest tick labels of a colour bar, in pixels.
const MAX_COLORBAR_FONT: f32 = 64.0;

fn colorbar_font(font_size: f32) -> f32 {
    if font_size.is_nan() {
        1.0
    } else {
        font_size.clamp(1.0, MAX_COLORBAR_FONT)
    }
}

/// A vertical colour bar `height` pixels high (1 to [`MAX_SIDE`] / 2) for values from `low`
/// (bottom) to `high` (top), with ticks at both ends and, when the range spans it, at zero.
/// Labels are at most 64 px.
pub fn colorbar(colormap: Colormap, low: f32, high: f32, height: u32, font_size: f32) -> RgbImage {
    let height = height.clamp(1, MAX_SIDE / 2);
    let font_size = colorbar_font(font_size);
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

/// `picture` with a colour bar of its own height to its right. The bar is at least four
/// label lines high (a picture lower than that is centred beside it), and a picture over half
/// the size limits ([`MAX_SIDE`], [`MAX_PIXELS`]) is scaled down to them first, so the figure
/// stays within the limits whatever the picture's size or aspect ratio.
pub fn with_colorbar(
    picture: &RgbImage,
    colormap: Colormap,
    low: f32,
    high: f32,
    font_size: f32,
) -> RgbImage {
    let (w, h) = picture.dimensions();
    let picture = fit_into(
        picture,
        w.min(MAX_SIDE / 2),
        h.min(MAX_SIDE / 2),
        MAX_PIXELS / 2,
    );
    let (fw, fh) = picture.dimensions();
    let text_h = Text::new("0", colorbar_font(font_size)).height();
    let bar = colorbar(colormap, low, high, fh.max(4 * text_h), font_size);
    let mut out = RgbImage::from_pixel(fw + PAD + bar.width(), bar.height(), Rgb(WHITE));
    imageops::overlay(
        &mut out,
        picture.as_ref(),
        0,
        i64::from(centred(bar.height(), fh)),
    );
    imageops::overlay(&mut out, &bar, i64::from(fw + PAD), 0);
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

/// `image` scaled to fit in `max_w × max_h`, aspect ratio kept, each side at least 1 px; the
/// box itself is capped at [`MAX_SIDE`] a side and [`MAX_PIXELS`] in all, so the result is
/// bounded whatever the image.
pub fn fit_within(image: &RgbImage, max_w: u32, max_h: u32) -> RgbImage {
    fit_into(image, max_w, max_h, MAX_PIXELS).into_owned()
}

/// [`fit_within`] with a pixel budget, borrowing the image when it fits as it is.
fn fit_into(image: &RgbImage, max_w: u32, max_h: u32, max_pixels: u64) -> Cow<'_, RgbImage> {
    let (w, h) = image.dimensions();
    let (nw, nh) = fitted_size(w, h, max_w, max_h, max_pixels);
    if (nw, nh) == (w, h) {
        Cow::Borrowed(image)
    } else if w == 0 || h == 0 {
        Cow::Owned(RgbImage::new(nw, nh))
    } else {
        Cow::Owned(imageops::resize(image, nw, nh, FilterType::Triangle))
    }
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

    /// A 1 px line of an extreme aspect ratio, and a 160 × 120 picture for comparison.
    fn extremes() -> [RgbImage; 4] {
        [
            picture(200_000, 1),
            picture(1, 200_000),
            picture(2000, 1),
            picture(160, 120),
        ]
    }

    #[test]
    fn extreme_panels_are_letterboxed_into_bounded_slots() {
        let panels: Vec<Panel> = extremes()
            .into_iter()
            .map(|image| Panel {
                image,
                title: "a title".into(),
            })
            .collect();
        let layout = Layout::default();
        let figure = side_by_side(&panels, layout).unwrap();
        // 1024 (4 × 256) for each wide line, 64 (256 / 4) for the tall one, 341 for 4:3.
        assert_eq!(
            figure.width(),
            PAD + (1024 + PAD) * 2 + (64 + PAD) + (341 + PAD)
        );
        let title_height = Text::new("Ag", layout.font_size).height() + PAD / 2;
        assert_eq!(figure.height(), PAD + title_height + 256 + PAD);
        // The wide line sits in the middle of its slot: white above it, drawn on its row.
        let line_y = PAD + title_height + 127;
        assert_eq!(figure.get_pixel(PAD + 500, line_y - 2), &Rgb(WHITE));
        assert_ne!(figure.get_pixel(PAD + 500, line_y), &Rgb(WHITE));
    }

    #[test]
    fn extreme_tiles_fill_no_more_than_a_tile() {
        let layout = Layout {
            size: 64,
            font_size: 12.0,
        };
        let tiles: Vec<Tile> = extremes()
            .into_iter()
            .map(|image| Tile {
                image,
                label: "cat(0.97)".into(),
                verdict: Verdict::Right,
                note: Some("true: dog".into()),
            })
            .collect();
        let sheet = contact_sheet(&tiles, 2, 2, layout).unwrap();
        let same = vec![tiles[3].clone(); 4];
        assert_eq!(
            sheet.dimensions(),
            contact_sheet(&same, 2, 2, layout).unwrap().dimensions()
        );
        for image in extremes() {
            let fitted = fit_within(&image, 192, 192);
            assert!(fitted.width() <= 192 && fitted.height() <= 192);
            assert!(fitted.width() >= 1 && fitted.height() >= 1);
        }
        let huge_box = fit_within(&picture(2, 2), u32::MAX, u32::MAX);
        assert!(u64::from(huge_box.width()) * u64::from(huge_box.height()) <= MAX_PIXELS);
    }

    #[test]
    fn colour_bar_figures_stay_within_the_limits() {
        for image in extremes() {
            let (w, h) = image.dimensions();
            let figure = with_colorbar(&image, Colormap::Bwr, -1.0, 1.0, 28.0);
            let (fw, fh) = figure.dimensions();
            assert!(fw <= MAX_SIDE && fh <= MAX_SIDE, "{w}x{h}: {fw}x{fh}");
            assert!(
                u64::from(fw) * u64::from(fh) <= MAX_PIXELS,
                "{w}x{h}: {fw}x{fh}"
            );
            // Room for the bar's labels even beside a 1 px line.
            assert!(
                fh >= 4 * Text::new("0", 28.0).height(),
                "{w}x{h}: {fw}x{fh}"
            );
        }
        // Wide lines are kept to half the side limit; a 2000 px one is kept as it is.
        let wide = with_colorbar(&picture(200_000, 1), Colormap::Bwr, -1.0, 1.0, 12.0);
        assert!(wide.width() <= MAX_SIDE / 2 + 100);
        let line = with_colorbar(&picture(2000, 1), Colormap::Bwr, -1.0, 1.0, 12.0);
        assert!((2000..2100).contains(&line.width()));
        for height in [0, 1, u32::MAX] {
            let bar = colorbar(Colormap::Jet, f32::NAN, f32::INFINITY, height, 1e9);
            assert!(bar.height() <= MAX_SIDE && bar.width() < 1000);
        }
    }

    #[test]
    fn layouts_out_of_range_and_figures_over_the_limits_are_refused() {
        let panel = Panel {
            image: picture(8, 8),
            title: String::new(),
        };
        for (size, font_size) in [
            (0, 16.0),
            (Layout::MAX_SIZE + 1, 16.0),
            (256, f32::NAN),
            (256, 0.0),
            (256, 1e9),
        ] {
            let layout = Layout { size, font_size };
            let err = side_by_side(std::slice::from_ref(&panel), layout).unwrap_err();
            assert!(matches!(err, RenderError::InvalidLayout { .. }), "{err}");
            assert!(err.to_string().contains("1 to 4096 px"), "{err}");
        }
        // 600 panels at 4096 px: far over the side limit, refused before anything is drawn.
        let layout = Layout {
            size: Layout::MAX_SIZE,
            font_size: 16.0,
        };
        let err = side_by_side(&vec![panel.clone(); 600], layout).unwrap_err();
        let RenderError::TooLarge { what, width, .. } = err else {
            panic!("{err}");
        };
        assert!(
            what == "a titled figure" && width > u64::from(MAX_SIDE),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("over the limit of 131072 px a side"),
            "{err}"
        );
        let tile = Tile {
            image: picture(8, 8),
            label: String::new(),
            verdict: Verdict::Unknown,
            note: None,
        };
        let err = contact_sheet(&vec![tile; 40], u32::MAX, u32::MAX, layout).unwrap_err();
        assert!(matches!(err, RenderError::TooLarge { .. }), "{err}");
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
