//! The pointing game (Zhang et al. 2018, "Top-Down Neural Attention by Excitation Backprop",
//! IJCV, arXiv:1608.00507) and the energy-based pointing game (Wang et al. 2020, "Score-CAM:
//! Score-Weighted Visual Explanations for Convolutional Neural Networks", CVPR workshops,
//! arXiv:1910.01279, section 4.3), against one bounding box of the explained object.
//!
//! ```text
//! pointing hit = the map's maximum lies in the box grown by `tolerance` pixels on every side
//!                (a square neighbourhood: TorchRay grows it by a disc, which differs at the
//!                 corners only)
//!                (the first maximum in raster order, as numpy's argmax; TorchRay's
//!                 PointingGame uses a 15 px tolerance, Zhang et al. likewise)
//! energy       = Σ_{pixels in the box} m / Σ_{all pixels} m        (m ≥ 0, a map in [0, 1])
//! ```
//!
//! Boxes are in pixels of the map, `x0 ≤ x < x1`, `y0 ≤ y < y1` (the right and bottom edges
//! excluded, as PIL's crop). A constant map points nowhere: it is a miss, and its energy is the
//! box's share of the image's area (the all-zero map too, where the ratio is 0/0), the value of a
//! map that knows nothing.

use crate::{EvalError, Map, Result};

/// An object's box in map pixels, right and bottom edges excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundingBox {
    /// Left column.
    pub x0: usize,
    /// Top row.
    pub y0: usize,
    /// One past the right column.
    pub x1: usize,
    /// One past the bottom row.
    pub y1: usize,
}

impl BoundingBox {
    /// Checks that the box is non-empty and inside a `height × width` map.
    pub fn check_inside(&self, height: usize, width: usize) -> Result<()> {
        if self.x0 >= self.x1 || self.y0 >= self.y1 || self.x1 > width || self.y1 > height {
            return Err(EvalError::BoxOutside {
                region: *self,
                height,
                width,
            });
        }
        Ok(())
    }

    fn contains(&self, row: usize, col: usize, tolerance: usize) -> bool {
        row + tolerance >= self.y0
            && row < self.y1 + tolerance
            && col + tolerance >= self.x0
            && col < self.x1 + tolerance
    }
}

/// Whether the map's maximum falls in `object` grown by `tolerance` pixels (a constant map: no).
pub fn pointing_game(map: Map<'_>, object: BoundingBox, tolerance: usize) -> Result<bool> {
    object.check_inside(map.height(), map.width())?;
    let m = map.data();
    let (mut best, mut at) = (m[0], 0);
    let mut constant = true;
    for (i, &v) in m.iter().enumerate() {
        constant &= v == m[0];
        if v > best {
            (best, at) = (v, i);
        }
    }
    if constant {
        return Ok(false);
    }
    Ok(object.contains(at / map.width(), at % map.width(), tolerance))
}

/// The share of the map's mass inside `object` (a constant map: the box's share of the area).
pub fn energy_pointing_game(map: Map<'_>, object: BoundingBox) -> Result<f32> {
    object.check_inside(map.height(), map.width())?;
    let (w, m) = (map.width(), map.data());
    let first = m[0];
    if m.iter().all(|&v| v == first) {
        let area = (object.x1 - object.x0) * (object.y1 - object.y0);
        return Ok((area as f64 / m.len() as f64) as f32);
    }
    let total: f64 = m.iter().map(|&v| f64::from(v)).sum();
    let inside: f64 = (object.y0..object.y1)
        .flat_map(|r| m[r * w + object.x0..r * w + object.x1].iter())
        .map(|&v| f64::from(v))
        .sum();
    Ok((inside / total) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOX: BoundingBox = BoundingBox {
        x0: 1,
        y0: 1,
        x1: 3,
        y1: 2,
    };

    #[test]
    fn pointing_by_hand() {
        // 3×4 map, maximum at row 1, col 2 (inside the box).
        let m = [0.0, 0.1, 0.2, 0.0, 0.0, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, 0.3];
        let map = Map::new(&m, [3, 4]).unwrap();
        assert!(pointing_game(map, BOX, 0).unwrap());
        let away = BoundingBox {
            x0: 0,
            y0: 2,
            x1: 1,
            y1: 3,
        };
        assert!(!pointing_game(map, away, 0).unwrap());
        // Row 1, col 2 is two columns right of the box's only column and a row above it: a
        // miss with a tolerance of 1, a hit with 2.
        assert!(!pointing_game(map, away, 1).unwrap());
        assert!(pointing_game(map, away, 2).unwrap());
        let energy = energy_pointing_game(map, BOX).unwrap();
        assert!((energy - 1.5 / 2.1).abs() < 1e-6, "{energy}");
    }

    #[test]
    fn constant_maps_are_defined() {
        let m = [0.0; 12];
        let map = Map::new(&m, [3, 4]).unwrap();
        assert!(!pointing_game(map, BOX, 0).unwrap());
        assert!((energy_pointing_game(map, BOX).unwrap() - 2.0 / 12.0).abs() < 1e-7);
    }

    #[test]
    fn boxes_outside_or_empty_are_errors() {
        let m = [0.0; 12];
        let map = Map::new(&m, [3, 4]).unwrap();
        for b in [
            BoundingBox {
                x0: 0,
                y0: 0,
                x1: 5,
                y1: 1,
            },
            BoundingBox {
                x0: 0,
                y0: 0,
                x1: 1,
                y1: 4,
            },
            BoundingBox {
                x0: 2,
                y0: 0,
                x1: 2,
                y1: 1,
            },
        ] {
            assert!(
                matches!(pointing_game(map, b, 0), Err(EvalError::BoxOutside { .. })),
                "{b:?}"
            );
            assert!(energy_pointing_game(map, b).is_err());
        }
    }
}
