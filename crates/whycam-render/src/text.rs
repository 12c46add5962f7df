//! Text in figures, set in DejaVu Sans (matplotlib's default font), which ships inside the
//! program (`fonts/`, with its licence), so figures look the same on every machine.

use crate::bounds::MAX_FONT_SIZE;
use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};
use std::sync::OnceLock;

static DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).expect("the bundled font parses"))
}

/// A line of text at a pixel size, measured.
#[derive(Debug, Clone)]
pub struct Text {
    text: String,
    scale: PxScale,
}

impl Text {
    /// `text` at `size` pixels (the font's em height), 1 to [`MAX_FONT_SIZE`].
    pub fn new(text: impl Into<String>, size: f32) -> Self {
        Self {
            text: text.into(),
            scale: PxScale::from(if size.is_nan() {
                1.0
            } else {
                size.clamp(1.0, MAX_FONT_SIZE)
            }),
        }
    }

    /// The text, with `…` in place of its end, narrowed to at most `max_width` pixels: the
    /// longest prefix, trailing spaces trimmed, that fits with the ellipsis. Measured once
    /// along the text, so a label of any length costs time in proportion to it.
    pub fn fitted(self, max_width: u32) -> Self {
        if self.width() <= max_width {
            return self;
        }
        let scaled = font().as_scaled(self.scale);
        let chars: Vec<char> = self.text.chars().collect();
        // `prefix[k]`: the width of the first k characters, summed exactly as `width` sums
        // them, so a candidate measures the same here as it would on its own.
        let mut ids = Vec::with_capacity(chars.len());
        let mut prefix = Vec::with_capacity(chars.len() + 1);
        let mut width = 0.0f32;
        prefix.push(width);
        for &c in &chars {
            let id = font().glyph_id(c);
            if let Some(&p) = ids.last() {
                width += scaled.kern(p, id);
            }
            width += scaled.h_advance(id);
            ids.push(id);
            prefix.push(width);
        }
        // `kept[k]`: how many of the first k characters remain once trailing spaces go.
        let mut kept = vec![0; chars.len() + 1];
        for k in 1..=chars.len() {
            kept[k] = if chars[k - 1].is_whitespace() {
                kept[k - 1]
            } else {
                k
            };
        }
        let ellipsis = font().glyph_id('…');
        for k in (0..chars.len()).rev() {
            let n = kept[k];
            let mut width = prefix[n];
            if n > 0 {
                width += scaled.kern(ids[n - 1], ellipsis);
            }
            width += scaled.h_advance(ellipsis);
            if width.ceil() as u32 <= max_width {
                let candidate: String = chars[..n].iter().chain(['…'].iter()).collect();
                return Text::new(candidate, self.scale.y);
            }
        }
        Text::new("", self.scale.y)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        let scaled = font().as_scaled(self.scale);
        let mut width = 0.0;
        let mut previous: Option<GlyphId> = None;
        for c in self.text.chars() {
            let id = font().glyph_id(c);
            if let Some(p) = previous {
                width += scaled.kern(p, id);
            }
            width += scaled.h_advance(id);
            previous = Some(id);
        }
        width.ceil() as u32
    }

    /// Height of a line in pixels (ascent + descent).
    pub fn height(&self) -> u32 {
        let scaled = font().as_scaled(self.scale);
        (scaled.ascent() - scaled.descent()).ceil() as u32
    }

    /// Draws the text with its line box's top-left corner at `(x, y)`, blending `colour` by
    /// glyph coverage. Parts outside the image are skipped.
    pub fn draw(&self, image: &mut RgbImage, x: i32, y: i32, colour: [u8; 3]) {
        let scaled = font().as_scaled(self.scale);
        let baseline = y as f32 + scaled.ascent();
        let mut caret = x as f32;
        let mut previous: Option<GlyphId> = None;
        let (w, h) = image.dimensions();
        for c in self.text.chars() {
            let id = font().glyph_id(c);
            if let Some(p) = previous {
                caret += scaled.kern(p, id);
            }
            let glyph = id.with_scale_and_position(self.scale, point(caret, baseline));
            caret += scaled.h_advance(id);
            previous = Some(id);
            let Some(outline) = font().outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i64 + i64::from(gx);
                let py = bounds.min.y as i64 + i64::from(gy);
                if px < 0 || py < 0 || px >= i64::from(w) || py >= i64::from(h) {
                    return;
                }
                let Rgb(pixel) = image.get_pixel_mut(px as u32, py as u32);
                let a = coverage.clamp(0.0, 1.0);
                for (p, c) in pixel.iter_mut().zip(colour) {
                    *p = (f32::from(*p) * (1.0 - a) + f32::from(c) * a).round() as u8;
                }
            });
        }
    }

    /// Draws the text centred horizontally on `centre_x`, its line box starting at `y`.
    pub fn draw_centred(&self, image: &mut RgbImage, centre_x: i32, y: i32, colour: [u8; 3]) {
        self.draw(image, centre_x - self.width() as i32 / 2, y, colour);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_grow_with_text_and_drawing_marks_pixels() {
        let short = Text::new("cat", 16.0);
        let long = Text::new("cat prob = 0.999923", 16.0);
        assert!(long.width() > 3 * short.width());
        assert!((16..=22).contains(&short.height()));
        let mut image = RgbImage::from_pixel(200, 30, Rgb([255; 3]));
        long.draw(&mut image, 2, 2, [0, 0, 0]);
        let dark = image.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 100, "{dark} dark pixels");
        // Drawing partly outside the image is fine.
        long.draw(&mut image, -50, 20, [0, 0, 0]);
    }

    #[test]
    fn fitting_shortens_with_an_ellipsis() {
        let fitted = Text::new("a very long class name indeed", 14.0).fitted(80);
        assert!(fitted.width() <= 80);
        assert!(fitted.text.ends_with('…'));
        assert_eq!(Text::new("ok", 14.0).fitted(80).text, "ok");
    }

    /// The one-character-at-a-time search `fitted` replaced, as the reference.
    fn fitted_slowly(text: &str, size: f32, max_width: u32) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        if Text::new(text, size).width() <= max_width {
            return text.to_string();
        }
        while !chars.is_empty() {
            chars.pop();
            let candidate = format!("{}…", chars.iter().collect::<String>().trim_end());
            if Text::new(candidate.as_str(), size).width() <= max_width {
                return candidate;
            }
        }
        String::new()
    }

    #[test]
    fn fitting_picks_what_the_slow_search_picks() {
        for text in [
            "a rather long class name(0.99)",
            "AVAWAV To. Ty LT  spaced   out   words ",
            "\u{2028}<!--<script>\tx  \u{3000}",
            "ééé 漢字 mixed scripts",
        ] {
            for size in [9.0, 12.0, 16.0] {
                for max_width in [0, 5, 12, 30, 64, 100, 400] {
                    assert_eq!(
                        Text::new(text, size).fitted(max_width).text,
                        fitted_slowly(text, size, max_width),
                        "{text:?} at {size} px in {max_width}"
                    );
                }
            }
        }
    }

    #[test]
    fn long_labels_fit_quickly_and_huge_fonts_are_capped() {
        let label = "x".repeat(200_000);
        let fitted = Text::new(label, 14.0).fitted(100);
        assert!(fitted.width() <= 100 && fitted.text.ends_with('…'));
        let huge = Text::new("A", 1e9);
        assert!(huge.height() <= 2 * MAX_FONT_SIZE as u32);
        assert!(Text::new("A", f32::NAN).height() <= 2);
        let mut image = RgbImage::new(4, 4);
        huge.draw(&mut image, 0, 0, [255, 0, 0]);
    }
}
