//! Scatter plots of 2-D layouts (PCA, t-SNE), coloured by class with a legend, as PNG (drawn
//! here) and SVG (written as text), both in matplotlib's `tab10`/`tab20` colours.

use crate::bounds::{MAX_PIXELS, MAX_SIDE, fitted_size};
use crate::text::Text;
use image::{Rgb, RgbImage};
use std::fmt::Write as _;

const TAB10: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

const TAB20_LIGHT: [[u8; 3]; 10] = [
    [174, 199, 232],
    [255, 187, 120],
    [152, 223, 138],
    [255, 152, 150],
    [197, 176, 213],
    [196, 156, 148],
    [247, 182, 210],
    [199, 199, 199],
    [219, 219, 141],
    [158, 218, 229],
];

/// The colour of class `i` of `n`: tab10 up to 10 classes, tab20 up to 20, then hues.
pub fn class_colour(i: usize, n: usize) -> [u8; 3] {
    if n <= 10 {
        TAB10[i % 10]
    } else if n <= 20 {
        if i.is_multiple_of(2) {
            TAB10[(i / 2) % 10]
        } else {
            TAB20_LIGHT[(i / 2) % 10]
        }
    } else {
        let h = i as f32 / n as f32 * 6.0;
        let x = 1.0 - (h % 2.0 - 1.0).abs();
        let (r, g, b) = match h as u32 {
            0 => (1.0, x, 0.0),
            1 => (x, 1.0, 0.0),
            2 => (0.0, 1.0, x),
            3 => (0.0, x, 1.0),
            4 => (x, 0.0, 1.0),
            _ => (1.0, 0.0, x),
        };
        [r, g, b].map(|c: f32| (c * 0.85 * 255.0) as u8)
    }
}

/// A labelled 2-D point cloud.
#[derive(Debug, Clone)]
pub struct Scatter<'a> {
    /// `(x, y)` per point.
    pub points: &'a [[f32; 2]],
    /// Class of each point.
    pub labels: &'a [usize],
    /// Class names, for the legend.
    pub classes: &'a [String],
    /// Above the plot.
    pub title: String,
    /// Under the x axis and beside the y axis.
    pub axes: [String; 2],
}

/// An axis tick placed on the canvas.
struct CanvasTick<'a> {
    /// The mark, `[x0, y0, x1, y1]`.
    line: [f32; 4],
    /// Where the label goes: its top centre, or (right-aligned) the middle of its right edge.
    text: [f32; 2],
    right_aligned: bool,
    label: &'a str,
}

/// Where things go on a `width × height` canvas.
struct Frame {
    left: f32,
    top: f32,
    right: f32,
    bottom: f32,
    bounds: [f32; 4],
    /// Axis ticks: value and label.
    xticks: Vec<(f32, String)>,
    yticks: Vec<(f32, String)>,
    legend_x: f32,
    legend_rows: usize,
    legend_column: f32,
}

const FONT: f32 = 14.0;
const TICK_FONT: f32 = 11.0;
/// Height of a legend row.
const LINE: f32 = FONT + 8.0;
const RADIUS: f32 = 2.2;
const ALPHA: f32 = 0.7;

impl Scatter<'_> {
    /// The largest thumbnail side of [`Scatter::png_with_thumbnails`].
    pub const MAX_THUMBNAIL: u32 = 1024;

    fn frame(&self, width: u32, height: u32) -> Frame {
        let column = self
            .classes
            .iter()
            .map(|c| Text::new(c.as_str(), FONT).width())
            .max()
            .unwrap_or(0) as f32
            + 30.0;
        // As many legend rows as fit under the top margin; more classes take more columns.
        let legend_rows = (((height as f32 - 50.0) / LINE) as usize).max(1);
        let columns = self.classes.len().div_ceil(legend_rows).max(1);
        let legend = column * columns as f32 + 10.0;
        let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in self
            .points
            .iter()
            .filter(|p| p[0].is_finite() && p[1].is_finite())
        {
            x0 = x0.min(p[0]);
            x1 = x1.max(p[0]);
            y0 = y0.min(p[1]);
            y1 = y1.max(p[1]);
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let pad = |a: f32, b: f32| ((b - a) * 0.04).max(1e-6);
        let (px, py) = (pad(x0, x1), pad(y0, y1));
        let bounds = [x0 - px, x1 + px, y0 - py, y1 + py];
        let xticks = ticks(bounds[0], bounds[1]);
        let yticks = ticks(bounds[2], bounds[3]);
        let label_width = yticks
            .iter()
            .map(|(_, l)| Text::new(l.as_str(), TICK_FONT).width())
            .max()
            .unwrap_or(0) as f32;
        let right = width as f32 - legend - 10.0;
        Frame {
            left: (label_width + 14.0).max(40.0),
            top: 40.0,
            right,
            bottom: height as f32 - 52.0,
            bounds,
            xticks,
            yticks,
            legend_x: right + 15.0,
            legend_rows,
            legend_column: column,
        }
    }

    /// Top left of legend entry `i`.
    fn legend_at(f: &Frame, i: usize) -> (f32, f32) {
        (
            f.legend_x + (i / f.legend_rows) as f32 * f.legend_column,
            f.top + 4.0 + (i % f.legend_rows) as f32 * LINE,
        )
    }

    /// The axis ticks on the canvas: x ticks under the frame, y ticks left of it.
    fn canvas_ticks(f: &Frame) -> Vec<CanvasTick<'_>> {
        let x_ticks = f.xticks.iter().map(|(v, label)| {
            let (x, _) = Self::to_canvas(f, [*v, f.bounds[2]]);
            CanvasTick {
                line: [x, f.bottom + 1.0, x, f.bottom + 5.0],
                text: [x, f.bottom + 7.0],
                right_aligned: false,
                label,
            }
        });
        let y_ticks = f.yticks.iter().map(|(v, label)| {
            let (_, y) = Self::to_canvas(f, [f.bounds[0], *v]);
            CanvasTick {
                line: [f.left - 4.0, y, f.left, y],
                text: [f.left - 7.0, y],
                right_aligned: true,
                label,
            }
        });
        x_ticks.chain(y_ticks).collect()
    }

    fn to_canvas(f: &Frame, p: [f32; 2]) -> (f32, f32) {
        let [x0, x1, y0, y1] = f.bounds;
        (
            f.left + (p[0] - x0) / (x1 - x0) * (f.right - f.left),
            f.bottom - (p[1] - y0) / (y1 - y0) * (f.bottom - f.top),
        )
    }

    /// The plot as a picture, `width × height` within [`MAX_SIDE`] a side and [`MAX_PIXELS`]
    /// in all (a larger canvas is cut down to them).
    pub fn png(&self, width: u32, height: u32) -> RgbImage {
        self.drawn(width, height, false)
    }

    /// The plot with each class's points joined in the order given: one curve per class
    /// (the deletion and insertion curves of `whycam evaluate`), sized as [`Scatter::png`].
    pub fn line_png(&self, width: u32, height: u32) -> RgbImage {
        self.drawn(width, height, true)
    }

    fn drawn(&self, width: u32, height: u32, joined: bool) -> RgbImage {
        let (width, height) = canvas_size(width, height);
        let f = self.frame(width, height);
        let mut image = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
        let n = self.classes.len();
        let mut last: Vec<Option<(f32, f32)>> = vec![None; n];
        for (p, &label) in self.points.iter().zip(self.labels) {
            if !(p[0].is_finite() && p[1].is_finite()) {
                continue;
            }
            let (cx, cy) = Self::to_canvas(&f, *p);
            let colour = class_colour(label, n);
            if !joined {
                disc(&mut image, cx, cy, RADIUS, colour, ALPHA);
                continue;
            }
            disc(&mut image, cx, cy, RADIUS + 0.8, colour, 1.0);
            if let Some((px, py)) = last.get(label).copied().flatten() {
                // A segment as discs half a pixel apart.
                let steps = ((cx - px).hypot(cy - py) * 2.0).ceil().min(20_000.0) as usize;
                for k in 1..steps {
                    let t = k as f32 / steps as f32;
                    disc(
                        &mut image,
                        px + t * (cx - px),
                        py + t * (cy - py),
                        1.1,
                        colour,
                        1.0,
                    );
                }
            }
            if let Some(slot) = last.get_mut(label) {
                *slot = Some((cx, cy));
            }
        }
        let black = [0, 0, 0];
        rect_outline(&mut image, f.left, f.top, f.right, f.bottom, black);
        Text::new(self.title.as_str(), FONT + 2.0).draw_centred(
            &mut image,
            ((f.left + f.right) / 2.0) as i32,
            10,
            black,
        );
        Text::new(self.axes[0].as_str(), FONT).draw_centred(
            &mut image,
            ((f.left + f.right) / 2.0) as i32,
            f.bottom as i32 + 26,
            black,
        );
        for tick in Self::canvas_ticks(&f) {
            let [x0, y0, x1, y1] = tick.line.map(|v| v as i64);
            for y in y0..y1.max(y0 + 1) {
                for x in x0..x1.max(x0 + 1) {
                    put(&mut image, x, y, black);
                }
            }
            let text = Text::new(tick.label, TICK_FONT);
            let (x, y) = (tick.text[0] as i32, tick.text[1] as i32);
            if tick.right_aligned {
                let (w, h) = (text.width() as i32, text.height() as i32);
                text.draw(&mut image, x - w, y - h / 2, black);
            } else {
                text.draw_centred(&mut image, x, y, black);
            }
        }
        Text::new(self.axes[1].as_str(), FONT).draw(&mut image, 4, f.top as i32 - 20, black);
        for (i, class) in self.classes.iter().enumerate() {
            let (x, y) = Self::legend_at(&f, i);
            disc(
                &mut image,
                x + 6.0,
                y + FONT / 2.0,
                5.0,
                class_colour(i, n),
                1.0,
            );
            Text::new(class.as_str(), FONT).draw(&mut image, (x + 18.0) as i32, y as i32, black);
        }
        image
    }

    /// The plot with small pictures of the samples drawn over their points, as in
    /// scikit-learn's digits embedding example: points are taken in order and a picture is
    /// drawn where no earlier one lies within `size` pixels, framed in its class's colour.
    /// `picture(i)` gives sample `i`'s image (`None` leaves the point bare); it is letterboxed
    /// into its frame whatever its size or aspect ratio. `size` is kept within 8 px and the
    /// smaller side of the canvas (at most [`Self::MAX_THUMBNAIL`]).
    pub fn png_with_thumbnails(
        &self,
        width: u32,
        height: u32,
        size: u32,
        mut picture: impl FnMut(usize) -> Option<RgbImage>,
    ) -> RgbImage {
        let (width, height) = canvas_size(width, height);
        let mut image = self.png(width, height);
        let f = self.frame(width, height);
        let n = self.classes.len();
        let size = size.min(width.min(height)).clamp(8, Self::MAX_THUMBNAIL);
        // Occupied cells of a grid `size` wide: a new picture only checks its neighbourhood.
        // At most MAX_PIXELS / 64 cells and a border.
        let (cols, rows) = (width / size + 1, height / size + 1);
        let mut taken: Vec<Option<(f32, f32)>> = vec![None; cols as usize * rows as usize];
        for (i, (p, &label)) in self.points.iter().zip(self.labels).enumerate() {
            if !(p[0].is_finite() && p[1].is_finite()) {
                continue;
            }
            let (cx, cy) = Self::to_canvas(&f, *p);
            let (gx, gy) = ((cx / size as f32) as i64, (cy / size as f32) as i64);
            let clear = (gx - 1..=gx + 1).all(|x| {
                (gy - 1..=gy + 1).all(|y| {
                    if x < 0 || y < 0 || x >= cols as i64 || y >= rows as i64 {
                        return true;
                    }
                    taken[(y * cols as i64 + x) as usize].is_none_or(|(ox, oy)| {
                        (ox - cx).abs() >= size as f32 || (oy - cy).abs() >= size as f32
                    })
                })
            });
            if !clear {
                continue;
            }
            let Some(full) = picture(i) else { continue };
            let inner = size - 4;
            let thumb = fit(&full, inner);
            let (x0, y0) = (cx - size as f32 / 2.0, cy - size as f32 / 2.0);
            let colour = class_colour(label, n);
            for dy in 0..size {
                for dx in 0..size {
                    let (x, y) = (x0 as i64 + dx as i64, y0 as i64 + dy as i64);
                    if x < 0 || y < 0 || x >= width as i64 || y >= height as i64 {
                        continue;
                    }
                    let border = dx < 2 || dy < 2 || dx >= size - 2 || dy >= size - 2;
                    let pixel = if border {
                        Rgb(colour)
                    } else {
                        let (tx, ty) = (
                            (dx - 2) as i64 - (inner - thumb.width()) as i64 / 2,
                            (dy - 2) as i64 - (inner - thumb.height()) as i64 / 2,
                        );
                        if tx < 0
                            || ty < 0
                            || tx >= thumb.width() as i64
                            || ty >= thumb.height() as i64
                        {
                            Rgb([255, 255, 255])
                        } else {
                            *thumb.get_pixel(tx as u32, ty as u32)
                        }
                    };
                    image.put_pixel(x as u32, y as u32, pixel);
                }
            }
            taken[(gy.clamp(0, rows as i64 - 1) * cols as i64 + gx.clamp(0, cols as i64 - 1))
                as usize] = Some((cx, cy));
        }
        image
    }

    /// The plot as SVG text.
    pub fn svg(&self, width: u32, height: u32) -> String {
        let f = self.frame(width, height);
        let n = self.classes.len();
        let hex = |c: [u8; 3]| format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
             viewBox=\"0 0 {width} {height}\" font-family=\"DejaVu Sans, sans-serif\" \
             font-size=\"{FONT}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        for class in 0..n {
            let _ = write!(
                s,
                "<g fill=\"{}\" fill-opacity=\"{ALPHA}\">",
                hex(class_colour(class, n))
            );
            for (p, _) in self
                .points
                .iter()
                .zip(self.labels)
                .filter(|(_, l)| **l == class)
            {
                let (x, y) = Self::to_canvas(&f, *p);
                let _ = write!(s, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{RADIUS}\"/>");
            }
            s.push_str("</g>\n");
        }
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>",
            f.left,
            f.top,
            f.right - f.left,
            f.bottom - f.top
        );
        let cx = (f.left + f.right) / 2.0;
        let _ = writeln!(
            s,
            "<text x=\"{cx}\" y=\"26\" text-anchor=\"middle\" font-size=\"{}\">{}</text>",
            FONT + 2.0,
            crate::html::escape_text(&self.title)
        );
        let _ = writeln!(
            s,
            "<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            f.bottom + 40.0,
            crate::html::escape_text(&self.axes[0])
        );
        let ticks = Self::canvas_ticks(&f);
        s.push_str("<g stroke=\"black\">");
        for t in &ticks {
            let [x1, y1, x2, y2] = t.line;
            let _ = write!(
                s,
                "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\"/>"
            );
        }
        let _ = writeln!(s, "</g>\n<g font-size=\"{TICK_FONT}\">");
        for t in &ticks {
            // SVG places text by its baseline.
            let (anchor, baseline) = if t.right_aligned {
                ("end", t.text[1] + 4.0)
            } else {
                ("middle", t.text[1] + 10.0)
            };
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{baseline:.1}\" text-anchor=\"{anchor}\">{}</text>",
                t.text[0], t.label
            );
        }
        s.push_str("</g>\n");
        let _ = writeln!(
            s,
            "<text x=\"4\" y=\"{}\">{}</text>",
            f.top - 8.0,
            crate::html::escape_text(&self.axes[1])
        );
        for (i, class) in self.classes.iter().enumerate() {
            let (x, y) = Self::legend_at(&f, i);
            let _ = writeln!(
                s,
                "<circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>",
                x + 6.0,
                y + FONT / 2.0,
                hex(class_colour(i, n)),
                x + 18.0,
                y + FONT - 2.0,
                crate::html::escape_text(class)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// A canvas of `width × height` cut down to the size limits, at least 1 px a side.
fn canvas_size(width: u32, height: u32) -> (u32, u32) {
    let width = width.clamp(1, MAX_SIDE);
    let most_rows = u32::try_from(MAX_PIXELS / u64::from(width)).unwrap_or(u32::MAX);
    (width, height.clamp(1, MAX_SIDE.min(most_rows)))
}

/// `image` scaled to fit a `side × side` square, keeping its aspect, each side at least 1 px:
/// averaged down, or enlarged with crisp pixels (a 28-pixel Fashion-MNIST image stays
/// legible).
fn fit(image: &RgbImage, side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let (tw, th) = fitted_size(w, h, side, side, MAX_PIXELS);
    if w == 0 || h == 0 {
        RgbImage::new(tw, th)
    } else if tw < w || th < h {
        image::imageops::thumbnail(image, tw, th)
    } else {
        image::imageops::resize(image, tw, th, image::imageops::FilterType::Nearest)
    }
}

/// Four to eight round tick values (steps of 1, 2 or 5 × 10^k) inside `lo..=hi`, with labels
/// carrying as many decimals as the step needs.
fn ticks(lo: f32, hi: f32) -> Vec<(f32, String)> {
    let span = (hi - lo) as f64;
    if !(span > 0.0 && span.is_finite()) {
        return Vec::new();
    }
    let magnitude = 10f64.powf((span / 5.0).log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| span / step <= 8.0)
        .unwrap_or(10.0 * magnitude);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let (first, last) = (
        (lo as f64 / step).ceil() as i64,
        (hi as f64 / step).floor() as i64,
    );
    (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            let label = format!("{v:.decimals$}");
            // No "-0".
            let label = if v == 0.0 {
                format!("{:.decimals$}", 0.0)
            } else {
                label
            };
            (v as f32, label)
        })
        .collect()
}

/// Sets one pixel if it lies inside the picture.
fn put(image: &mut RgbImage, x: i64, y: i64, colour: [u8; 3]) {
    if x >= 0 && y >= 0 && x < image.width() as i64 && y < image.height() as i64 {
        image.put_pixel(x as u32, y as u32, Rgb(colour));
    }
}

/// A filled disc blended over the picture with opacity `alpha`.
fn disc(image: &mut RgbImage, cx: f32, cy: f32, r: f32, colour: [u8; 3], alpha: f32) {
    let (w, h) = (image.width() as i32, image.height() as i32);
    for y in (cy - r).floor() as i32..=(cy + r).ceil() as i32 {
        for x in (cx - r).floor() as i32..=(cx + r).ceil() as i32 {
            if x < 0 || y < 0 || x >= w || y >= h {
                continue;
            }
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let cover = (r + 0.5 - d).clamp(0.0, 1.0) * alpha;
            if cover > 0.0 {
                let p = image.get_pixel_mut(x as u32, y as u32);
                for (v, &c) in p.0.iter_mut().zip(&colour) {
                    *v = (*v as f32 * (1.0 - cover) + c as f32 * cover).round() as u8;
                }
            }
        }
    }
}

/// The outline of a rectangle, the parts inside the picture (a canvas too small for the
/// frame's margins draws what fits).
fn rect_outline(image: &mut RgbImage, x0: f32, y0: f32, x1: f32, y1: f32, colour: [u8; 3]) {
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    let (x0, y0) = (x0 as i64, y0 as i64);
    let (x1, y1) = ((x1 as i64).min(w - 1), (y1 as i64).min(h - 1));
    for x in x0.max(0)..=x1 {
        put(image, x, y0, colour);
        put(image, x, y1, colour);
    }
    for y in y0.max(0)..=y1 {
        put(image, x0, y, colour);
        put(image, x1, y, colour);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_legend_and_svg_agree() {
        let points = [[0.0, 0.0], [1.0, 1.0], [0.5, 0.2]];
        let labels = [0, 1, 1];
        let classes = ["cat".to_string(), "dog & co".to_string()];
        let plot = Scatter {
            points: &points,
            labels: &labels,
            classes: &classes,
            title: "t-SNE".into(),
            axes: ["x".into(), "y".into()],
        };
        let png = plot.png(400, 300);
        let blue = png.pixels().filter(|p| p.0 == [31, 119, 180]).count();
        assert!(blue > 10, "the legend's blue disc and the cat point");
        let svg = plot.svg(400, 300);
        assert_eq!(svg.matches("<circle").count(), 3 + 2);
        assert!(svg.contains("dog &amp; co") && svg.ends_with("</svg>\n"));
        assert_eq!(class_colour(3, 10), [214, 39, 40]);
        assert_eq!(class_colour(1, 12), [174, 199, 232]);
    }

    #[test]
    fn lines_join_each_class_in_order() {
        // Two curves over the same x: a falling one (class 0) and a rising one (class 1).
        let points = [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]];
        let labels = [0, 0, 1, 1];
        let classes = ["deletion".to_string(), "insertion".to_string()];
        let plot = Scatter {
            points: &points,
            labels: &labels,
            classes: &classes,
            title: String::new(),
            axes: [String::new(), String::new()],
        };
        let f = plot.frame(400, 300);
        let png = plot.line_png(400, 300);
        // The middle of each segment is drawn in its class's colour: both cross the centre,
        // so look a quarter of the way along instead.
        for (label, from, to) in [(0, [0.0, 1.0], [1.0, 0.0]), (1, [0.0, 0.0], [1.0, 1.0])] {
            let at = [0.75 * from[0] + 0.25 * to[0], 0.75 * from[1] + 0.25 * to[1]];
            let (x, y) = Scatter::to_canvas(&f, at);
            let pixel = png.get_pixel(x.round() as u32, y.round() as u32).0;
            assert_eq!(pixel, class_colour(label, 2), "{label} at {at:?}");
        }
        // Unjoined, the same place is blank.
        let (x, y) = Scatter::to_canvas(&f, [0.25, 0.75]);
        assert_eq!(plot.png(400, 300).get_pixel(x as u32, y as u32).0, [255; 3]);
    }

    #[test]
    fn ticks_are_round_and_inside_the_range() {
        let t = ticks(-12.3, 47.0);
        let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["-10", "0", "10", "20", "30", "40"]);
        assert_eq!(ticks(-6.0, 8.0).len(), 8, "-6 to 8 in steps of 2");
        let t = ticks(0.0012, 0.0091);
        assert_eq!(t[0].1, "0.002");
        assert!(t.iter().all(|(v, _)| (0.0012..=0.0091).contains(v)));
        assert_eq!(ticks(-0.5, 0.5)[2].1, "0.0");
        assert!(ticks(1.0, 1.0).is_empty());
    }

    #[test]
    fn many_classes_fill_legend_columns_inside_the_picture() {
        let classes: Vec<String> = (0..37).map(|i| format!("breed {i}")).collect();
        let labels: Vec<usize> = (0..37).collect();
        let points: Vec<[f32; 2]> = (0..37).map(|i| [i as f32, (i * i) as f32]).collect();
        let plot = Scatter {
            points: &points,
            labels: &labels,
            classes: &classes,
            title: String::new(),
            axes: [String::new(), String::new()],
        };
        let f = plot.frame(1000, 400);
        assert_eq!(f.legend_rows, 15);
        let (x, y) = Scatter::legend_at(&f, 36);
        assert!(
            x + f.legend_column <= 1000.0 && y + LINE <= 400.0,
            "{x} {y}"
        );
        assert!(f.right > f.left + 100.0, "room is left for the points");
    }

    #[test]
    fn thumbnails_are_spread_out_and_framed_in_class_colour() {
        // Two close points and one far away: the second is hidden behind the first.
        let points = [[0.0, 0.0], [0.001, 0.0], [1.0, 1.0]];
        let labels = [0, 0, 1];
        let classes = ["a".to_string(), "b".to_string()];
        let plot = Scatter {
            points: &points,
            labels: &labels,
            classes: &classes,
            title: String::new(),
            axes: [String::new(), String::new()],
        };
        let mut asked = Vec::new();
        let png = plot.png_with_thumbnails(400, 300, 24, |i| {
            asked.push(i);
            Some(RgbImage::from_pixel(8, 8, Rgb([0, 200, 0])))
        });
        assert_eq!(asked, [0, 2]);
        let green = png.pixels().filter(|p| p.0 == [0, 200, 0]).count();
        assert_eq!(
            green,
            2 * 20 * 20,
            "two thumbnails scaled to 20 px inside their frames"
        );
        let orange = png.pixels().filter(|p| p.0 == class_colour(1, 2)).count();
        assert!(orange >= 4 * 22, "the frame of class b");
    }
}
