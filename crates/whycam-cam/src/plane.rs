//! A single-channel map (`Plane`) and the post-processing pytorch-grad-cam applies to every
//! map: ReLU, min-max scaling (`scale_cam_image`), bilinear resizing and flipping.

use serde::Serialize;

/// A row-major `height × width` map of `f32`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plane {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `height * width` values, row by row.
    pub data: Vec<f32>,
}

impl Plane {
    /// A plane of `data`, which must hold `height * width` values.
    pub fn new(height: usize, width: usize, data: Vec<f32>) -> Self {
        debug_assert_eq!(data.len(), height * width);
        Self {
            height,
            width,
            data,
        }
    }

    /// A plane of zeros.
    pub fn zeros(height: usize, width: usize) -> Self {
        Self::new(height, width, vec![0.0; height * width])
    }

    /// The mean of all values.
    pub fn mean(&self) -> f32 {
        let sum: f64 = self.data.iter().map(|&v| f64::from(v)).sum();
        (sum / self.data.len().max(1) as f64) as f32
    }

    /// `max(v, 0)` for every value.
    #[must_use]
    pub fn relu(mut self) -> Self {
        for v in &mut self.data {
            *v = v.max(0.0);
        }
        self
    }

    /// Multiplies every value by `factor`.
    #[must_use]
    pub fn scaled_by(mut self, factor: f32) -> Self {
        for v in &mut self.data {
            *v *= factor;
        }
        self
    }

    /// pytorch-grad-cam's `scale_cam_image` without the resize: subtract the minimum, then
    /// divide by `1e-7 + max`, so that the values span `[0, 1)` (a constant map becomes zeros).
    #[must_use]
    pub fn normalise_min_max(mut self) -> Self {
        let min = self.data.iter().copied().fold(f32::INFINITY, f32::min);
        for v in &mut self.data {
            *v -= min;
        }
        let max = self.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let scale = 1e-7 + max;
        for v in &mut self.data {
            *v /= scale;
        }
        self
    }

    /// Mirrors the columns (a horizontal flip).
    #[must_use]
    pub fn flipped_horizontally(mut self) -> Self {
        for row in self.data.chunks_mut(self.width.max(1)) {
            row.reverse();
        }
        self
    }

    /// Bilinear resize with half-pixel centres and clamped borders: OpenCV's `INTER_LINEAR`,
    /// which pytorch-grad-cam uses, and PyTorch's `align_corners=False`.
    #[must_use]
    pub fn resized(&self, height: usize, width: usize) -> Self {
        if (height, width) == (self.height, self.width) {
            return self.clone();
        }
        let rows = half_pixel_taps(self.height, height);
        let cols = half_pixel_taps(self.width, width);
        self.resample(height, width, &rows, &cols)
    }

    /// Bilinear resize with `align_corners=True` (corner pixels map onto corner pixels), as
    /// `torch.nn.UpsamplingBilinear2d` does; Score-CAM upsamples its masks this way.
    #[must_use]
    pub fn resized_align_corners(&self, height: usize, width: usize) -> Self {
        let rows = corner_taps(self.height, height);
        let cols = corner_taps(self.width, width);
        self.resample(height, width, &rows, &cols)
    }

    fn resample(&self, height: usize, width: usize, rows: &[Tap], cols: &[Tap]) -> Self {
        let mut data = Vec::with_capacity(height * width);
        for r in rows {
            let top = &self.data[r.first * self.width..(r.first + 1) * self.width];
            let bottom = &self.data[r.second * self.width..(r.second + 1) * self.width];
            for c in cols {
                let t = top[c.first] * (1.0 - c.weight) + top[c.second] * c.weight;
                let b = bottom[c.first] * (1.0 - c.weight) + bottom[c.second] * c.weight;
                data.push(t * (1.0 - r.weight) + b * r.weight);
            }
        }
        Self::new(height, width, data)
    }
}

/// One output coordinate of a linear interpolation: `(1 - weight) * src[first] + weight *
/// src[second]`.
#[derive(Debug, Clone, Copy)]
struct Tap {
    first: usize,
    second: usize,
    weight: f32,
}

fn half_pixel_taps(from: usize, to: usize) -> Vec<Tap> {
    let scale = from as f32 / to as f32;
    taps(from, to, |i| ((i as f32 + 0.5) * scale - 0.5).max(0.0))
}

fn corner_taps(from: usize, to: usize) -> Vec<Tap> {
    let scale = if to > 1 {
        (from - 1) as f32 / (to - 1) as f32
    } else {
        0.0
    };
    taps(from, to, |i| i as f32 * scale)
}

/// The taps of `to` outputs whose source coordinates `source(i)` lie in `[0, from)`.
fn taps(from: usize, to: usize, source: impl Fn(usize) -> f32) -> Vec<Tap> {
    (0..to)
        .map(|i| {
            let x = source(i);
            let first = (x.floor() as usize).min(from - 1);
            let second = (first + 1).min(from - 1);
            Tap {
                first,
                second,
                weight: x - first as f32,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_matches_scale_cam_image() {
        let p = Plane::new(1, 3, vec![2.0, 4.0, 6.0]).normalise_min_max();
        let expected = [0.0, 2.0 / (4.0 + 1e-7), 4.0 / (4.0 + 1e-7)];
        for (a, b) in p.data.iter().zip(expected) {
            assert!((a - b).abs() < 1e-7, "{a} {b}");
        }
        assert_eq!(
            Plane::new(1, 2, vec![3.0, 3.0]).normalise_min_max().data,
            [0.0, 0.0]
        );
    }

    #[test]
    fn half_pixel_resize_matches_opencv() {
        // cv2.resize(np.float32([[0, 1], [2, 3]]), (4, 4)) with INTER_LINEAR.
        let p = Plane::new(2, 2, vec![0.0, 1.0, 2.0, 3.0]).resized(4, 4);
        let expected = [
            0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0,
        ];
        assert_eq!(p.data, expected);
    }

    #[test]
    fn align_corners_resize_keeps_corners() {
        let p = Plane::new(2, 2, vec![0.0, 1.0, 2.0, 3.0]).resized_align_corners(3, 3);
        assert_eq!(p.data, [0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0]);
    }

    #[test]
    fn flip_and_relu() {
        let p = Plane::new(2, 2, vec![-1.0, 1.0, 2.0, -3.0]);
        assert_eq!(
            p.clone().flipped_horizontally().data,
            [1.0, -1.0, -3.0, 2.0]
        );
        assert_eq!(p.relu().data, [0.0, 1.0, 2.0, 0.0]);
    }
}
