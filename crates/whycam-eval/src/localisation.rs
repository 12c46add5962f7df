//! Box localisation by thresholding the map (Selvaraju et al. 2017, "Grad-CAM: Visual
//! Explanations from Deep Networks via Gradient-based Localization", ICCV, arXiv:1610.02391,
//! section 4.1; the rule of Zhou et al. 2016, "Learning Deep Features for Discriminative
//! Localization", CVPR, section 3, with Grad-CAM's threshold), scored as in ILSVRC's
//! localisation task: a hit when the IoU with the object's box is at least 0.5.
//!
//! ```text
//! mask      = pixels with m > BOX_THRESHOLD × max(m)          (Grad-CAM: 15% of the maximum;
//!                                                                CAM uses 20%)
//! predicted = the bounding box of the mask's largest 8-connected component (most pixels; on a
//!             tie, the one met first in raster order)
//! IoU       = |predicted ∩ object| / |predicted ∪ object|     (areas in pixels)
//! hit       = IoU ≥ IOU_HIT (0.5)
//! ```
//!
//! Boxes are [`BoundingBox`]es in map pixels, right and bottom edges excluded. A constant map
//! (the all-zero map of a method that found nothing included) singles nothing out: it predicts
//! no box, its IoU is 0 and it misses. (Thresholding it would select every pixel or none; the
//! whole image as the box would reward a map that knows nothing whenever the object is large.)

use crate::pointing::BoundingBox;
use crate::{Map, Result};

/// The share of the map's maximum above which a pixel belongs to the mask: Grad-CAM's 15%
/// (Selvaraju et al. 2017, section 4.1: "binarize with threshold of 15% of the max intensity").
pub const BOX_THRESHOLD: f32 = 0.15;

/// The IoU from which a predicted box counts as a hit (ILSVRC's localisation criterion).
pub const IOU_HIT: f32 = 0.5;

/// How well a map's thresholded box matches the object's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxLocalisation {
    /// The box of the largest component (none for a constant map).
    pub predicted: Option<BoundingBox>,
    /// Its intersection over union with the object's box (0 without a box).
    pub iou: f32,
    /// Whether `iou ≥ IOU_HIT`.
    pub hit: bool,
}

/// The map's box and its IoU with `object`, with [`BOX_THRESHOLD`] and [`IOU_HIT`].
pub fn box_localisation(map: Map<'_>, object: BoundingBox) -> Result<BoxLocalisation> {
    object.check_inside(map.height(), map.width())?;
    let predicted = thresholded_box(map, BOX_THRESHOLD);
    let iou = predicted.map_or(0.0, |p| box_iou(p, object));
    Ok(BoxLocalisation {
        predicted,
        iou,
        hit: iou >= IOU_HIT,
    })
}

/// The bounding box of the largest 8-connected component of the pixels above
/// `threshold × max`; `None` for a constant map.
pub fn thresholded_box(map: Map<'_>, threshold: f32) -> Option<BoundingBox> {
    let (h, w, m) = (map.height(), map.width(), map.data());
    let (min, max) = m
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if min == max {
        return None;
    }
    let level = threshold * max;
    let inside: Vec<bool> = m.iter().map(|&v| v > level).collect();
    // Flood fill with an explicit stack: a 224×224 map has 50,176 pixels, too deep to recurse.
    let mut seen = vec![false; m.len()];
    let mut stack = Vec::new();
    let mut best: Option<(usize, BoundingBox)> = None;
    for start in 0..m.len() {
        if !inside[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut size = 0;
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        while let Some(at) = stack.pop() {
            let (row, col) = (at / w, at % w);
            size += 1;
            (x0, y0) = (x0.min(col), y0.min(row));
            (x1, y1) = (x1.max(col + 1), y1.max(row + 1));
            for r in row.saturating_sub(1)..(row + 2).min(h) {
                for c in col.saturating_sub(1)..(col + 2).min(w) {
                    let next = r * w + c;
                    if inside[next] && !seen[next] {
                        seen[next] = true;
                        stack.push(next);
                    }
                }
            }
        }
        // Strictly larger: on a tie the component met first in raster order stays.
        if best.is_none_or(|(most, _)| size > most) {
            best = Some((size, BoundingBox { x0, y0, x1, y1 }));
        }
    }
    // A non-constant map has a pixel at its maximum, which is above any threshold below 1.
    best.map(|(_, b)| b)
}

/// Intersection over union of two boxes (right and bottom edges excluded); 0 when both are
/// empty.
pub fn box_iou(a: BoundingBox, b: BoundingBox) -> f32 {
    let area = |b: BoundingBox| (b.x1.saturating_sub(b.x0) * b.y1.saturating_sub(b.y0)) as f64;
    let overlap = BoundingBox {
        x0: a.x0.max(b.x0),
        y0: a.y0.max(b.y0),
        x1: a.x1.min(b.x1),
        y1: a.y1.min(b.y1),
    };
    let inter = area(overlap);
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        (inter / union) as f32
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bb(x0: usize, y0: usize, x1: usize, y1: usize) -> BoundingBox {
        BoundingBox { x0, y0, x1, y1 }
    }

    /// A `h × w` map, zero but for `value` on the given pixels (row, column).
    fn map_with(h: usize, w: usize, pixels: &[(usize, usize, f32)]) -> Vec<f32> {
        let mut m = vec![0.0; h * w];
        for &(r, c, v) in pixels {
            m[r * w + c] = v;
        }
        m
    }

    #[test]
    fn iou_by_hand() {
        assert_eq!(box_iou(bb(0, 0, 2, 2), bb(0, 0, 2, 2)), 1.0);
        // 2×2 and 2×2 sharing one column of 2 pixels: 2 / (4 + 4 − 2).
        assert!((box_iou(bb(0, 0, 2, 2), bb(1, 0, 3, 2)) - 2.0 / 6.0).abs() < 1e-7);
        // Touching edges do not overlap (right edge excluded).
        assert_eq!(box_iou(bb(0, 0, 2, 2), bb(2, 0, 4, 2)), 0.0);
        // A box inside another: the ratio of the areas.
        assert!((box_iou(bb(0, 0, 4, 4), bb(1, 1, 3, 3)) - 0.25).abs() < 1e-7);
        assert_eq!(box_iou(bb(1, 1, 1, 1), bb(2, 2, 2, 2)), 0.0);
    }

    #[test]
    fn the_largest_8_connected_component_wins() {
        // 5×6: a diagonal of three pixels (8-connected, one component of 3, box x 0..3,
        // y 0..3) and a vertical pair at column 5 (2 pixels). 4-connectivity would split the
        // diagonal into three singletons and pick the pair.
        let m = map_with(
            5,
            6,
            &[
                (0, 0, 0.5),
                (1, 1, 0.5),
                (2, 2, 0.5),
                (3, 5, 1.0),
                (4, 5, 1.0),
            ],
        );
        let map = Map::new(&m, [5, 6]).unwrap();
        assert_eq!(thresholded_box(map, BOX_THRESHOLD), Some(bb(0, 0, 3, 3)));
        // Above half the maximum only the pair is left.
        assert_eq!(thresholded_box(map, 0.5), Some(bb(5, 3, 6, 5)));
    }

    #[test]
    fn the_threshold_is_a_strict_share_of_the_maximum() {
        // 1×4: values 1, 0.15, 0.16, 0 — with the 15% rule, 0.15 is not above the level, so
        // the components are {0} and {2}, sizes 1 and 1: the first in raster order wins.
        let m = [1.0, 0.15, 0.16, 0.0];
        let map = Map::new(&m, [1, 4]).unwrap();
        assert_eq!(thresholded_box(map, BOX_THRESHOLD), Some(bb(0, 0, 1, 1)));
        // Just above the level, the middle pixel joins the three into one component.
        let m = [1.0, 0.151, 0.16, 0.0];
        let map = Map::new(&m, [1, 4]).unwrap();
        assert_eq!(thresholded_box(map, BOX_THRESHOLD), Some(bb(0, 0, 3, 1)));
    }

    #[test]
    fn hits_need_an_iou_of_one_half() {
        // 10×10: a blob over x 2..6, y 2..6 (16 pixels).
        let blob: Vec<(usize, usize, f32)> = (2..6)
            .flat_map(|r| (2..6).map(move |c| (r, c, 0.8)))
            .collect();
        let m = map_with(10, 10, &blob);
        let map = Map::new(&m, [10, 10]).unwrap();
        let exact = box_localisation(map, bb(2, 2, 6, 6)).unwrap();
        assert_eq!(exact.predicted, Some(bb(2, 2, 6, 6)));
        assert_eq!((exact.iou, exact.hit), (1.0, true));
        // Object x 2..8, y 2..6: IoU 16 / 24 = 2/3, a hit.
        let wider = box_localisation(map, bb(2, 2, 8, 6)).unwrap();
        assert!((wider.iou - 2.0 / 3.0).abs() < 1e-6 && wider.hit);
        // Object x 2..10, y 2..6: 16 / 32 = 0.5 exactly, still a hit.
        let half = box_localisation(map, bb(2, 2, 10, 6)).unwrap();
        assert!(half.iou == 0.5 && half.hit, "{half:?}");
        // Object x 2..10, y 2..7: 16 / 40, a miss.
        let miss = box_localisation(map, bb(2, 2, 10, 7)).unwrap();
        assert!((miss.iou - 0.4).abs() < 1e-6 && !miss.hit);
    }

    #[test]
    fn constant_maps_predict_nothing_and_bad_boxes_are_errors() {
        for value in [0.0, 0.7] {
            let m = [value; 12];
            let map = Map::new(&m, [3, 4]).unwrap();
            let whole = box_localisation(map, bb(0, 0, 4, 3)).unwrap();
            assert_eq!(
                whole,
                BoxLocalisation {
                    predicted: None,
                    iou: 0.0,
                    hit: false
                }
            );
        }
        let m = [0.0; 12];
        let map = Map::new(&m, [3, 4]).unwrap();
        assert!(box_localisation(map, bb(0, 0, 5, 1)).is_err());
        assert!(box_localisation(map, bb(2, 0, 2, 1)).is_err());
    }
}
