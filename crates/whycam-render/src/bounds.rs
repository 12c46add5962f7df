//! How big a picture drawn here may be.
//!
//! Every size this crate derives from an input image goes through [`fitted_size`] or
//! [`white_canvas`], so neither the size nor the aspect ratio of an input can make a picture
//! grow without bound (a 200000 × 1 PNG of 662 bytes once made a titled figure of 20 GB). A
//! picture that would not fit its place is letterboxed: scaled into a bounded box, aspect
//! kept, never below 1 px a side, and padded; a figure whose own layout is too big is
//! refused with [`RenderError::TooLarge`].

use crate::error::RenderError;
use image::{Rgb, RgbImage};

/// The longest side of any picture this crate draws, in pixels.
pub const MAX_SIDE: u32 = 1 << 17;

/// The most pixels of any picture this crate draws: 128 Mi, 384 MiB as 8-bit RGB.
pub const MAX_PIXELS: u64 = 1 << 27;

/// The largest text, in pixels (the em height); larger sizes are drawn at this one.
pub const MAX_FONT_SIZE: f32 = 256.0;

/// `w × h` scaled to fit inside `max_w × max_h` and `max_pixels` (each bound itself capped
/// at [`MAX_SIDE`] and [`MAX_PIXELS`]), aspect kept, enlarged or reduced, each side at least
/// 1 px. An empty size stays empty.
pub(crate) fn fitted_size(w: u32, h: u32, max_w: u32, max_h: u32, max_pixels: u64) -> (u32, u32) {
    let (max_w, max_h) = (max_w.clamp(1, MAX_SIDE), max_h.clamp(1, MAX_SIDE));
    if w == 0 || h == 0 {
        return (w.min(max_w), h.min(max_h));
    }
    let max_pixels = max_pixels.clamp(u64::from(MAX_SIDE), MAX_PIXELS) as f64;
    let (wf, hf) = (f64::from(w), f64::from(h));
    let scale = (f64::from(max_w) / wf).min(f64::from(max_h) / hf);
    let fit = |scale: f64, round: fn(f64) -> f64| {
        let side = |v: f64, max: u32| (round(v * scale) as u32).clamp(1, max);
        (side(wf, max_w), side(hf, max_h))
    };
    let (nw, nh) = fit(scale, f64::round);
    if (u64::from(nw) * u64::from(nh)) as f64 <= max_pixels {
        return (nw, nh);
    }
    // Limited by the pixel count: round down, so the product stays within it. A side
    // raised to 1 px leaves the other at most MAX_SIDE, still within the budget.
    fit(scale.min((max_pixels / (wf * hf)).sqrt()), f64::floor)
}

/// A white `width × height` picture, or [`RenderError::TooLarge`] naming `what` when either
/// side exceeds [`MAX_SIDE`] or the area [`MAX_PIXELS`]. Sizes come in as `u64`, summed
/// with saturating arithmetic by the caller, so no layout can overflow on its way here.
pub(crate) fn white_canvas(
    what: &'static str,
    width: u64,
    height: u64,
) -> Result<RgbImage, RenderError> {
    let too_large = width > u64::from(MAX_SIDE)
        || height > u64::from(MAX_SIDE)
        || width.saturating_mul(height) > MAX_PIXELS;
    if too_large {
        return Err(RenderError::TooLarge {
            what,
            width,
            height,
        });
    }
    Ok(RgbImage::from_pixel(
        width as u32,
        height as u32,
        Rgb([255, 255, 255]),
    ))
}

/// The offset that centres `inner` in `outer` (0 when it does not fit).
pub(crate) fn centred(outer: u32, inner: u32) -> u32 {
    outer.saturating_sub(inner) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_sizes_stay_in_their_box_and_never_vanish() {
        assert_eq!(fitted_size(160, 120, 256, 256, MAX_PIXELS), (256, 192));
        assert_eq!(fitted_size(200_000, 1, 192, 192, MAX_PIXELS), (192, 1));
        assert_eq!(fitted_size(1, 200_000, 192, 192, MAX_PIXELS), (1, 192));
        assert_eq!(fitted_size(0, 7, 192, 192, MAX_PIXELS), (0, 7));
        // A zero box is a 1 px box; a huge one is capped.
        assert_eq!(fitted_size(10, 10, 0, 0, MAX_PIXELS), (1, 1));
        let (w, h) = fitted_size(1, 1, u32::MAX, u32::MAX, u64::MAX);
        assert!(w <= MAX_SIDE && u64::from(w) * u64::from(h) <= MAX_PIXELS);
        // The pixel budget binds before the box does.
        let (w, h) = fitted_size(3000, 2000, MAX_SIDE, MAX_SIDE, 1 << 20);
        assert!(u64::from(w) * u64::from(h) <= 1 << 20, "{w}x{h}");
        assert!(
            w > 1000 && (w as f64 / h as f64 - 1.5).abs() < 0.01,
            "{w}x{h}"
        );
    }

    #[test]
    fn canvases_over_the_limits_are_refused() {
        assert_eq!(white_canvas("a", 3, 2).unwrap().dimensions(), (3, 2));
        for (w, h) in [
            (u64::from(MAX_SIDE) + 1, 1),
            (1, u64::from(MAX_SIDE) + 1),
            (1 << 14, 1 << 14),
            (u64::MAX, u64::MAX),
        ] {
            assert!(matches!(
                white_canvas("a figure", w, h),
                Err(RenderError::TooLarge { width, height, .. }) if (width, height) == (w, h)
            ));
        }
    }
}
