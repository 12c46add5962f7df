//! RISE: Petsiuk, Das, Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
//! Models", BMVC 2018.
//!
//! `N` random masks, each an `s × s` grid of cells kept with probability `p1`, upsampled
//! bilinearly to `(s + 1) · cell` (`cell = ⌈side / s⌉`) and cropped at a random shift in
//! `[0, cell)` on each axis, multiply the input; the saliency is the masks weighted by the
//! target scores of the masked inputs, `Σ_i S(x ⊙ M_i) · M_i / (N · p1)`. This follows the
//! authors' code (github.com/eclique/RISE, `explanations.py`: `generate_masks` and `forward`),
//! whose upsampling is scikit-image's `resize(order=1, mode="reflect", anti_aliasing=False)`:
//! pixel centres aligned (`in = (out + ½) · s / up - ½`), mirrored without repeating the edge
//! outside the grid.
//!
//! Two differences from the authors' code, both shared by the golden script: the score is the
//! target's score as every whycam method takes it (the logit, or the target's combination of
//! logits) where the authors wrap the model in a softmax; and the masked input is the
//! normalised image times the mask (as in the authors' code), so a masked-out pixel is the
//! dataset's mean colour.
//!
//! Defaults: `N = 2000` masks (the paper uses 4000-8000 for ResNet-50; 2000 already gives a
//! stable map at a quarter of the cost), `s = 7`, `p1 = 0.5` (the paper's), changed by
//! [`MethodSettings::samples`](crate::MethodSettings::samples),
//! [`grid_cells`](crate::MethodSettings::grid_cells) and
//! [`keep_probability`](crate::MethodSettings::keep_probability). The draws are the grid's
//! `N · s · s` uniform values (a cell is kept where `u < p1`), then `N` row shifts, then `N`
//! column shifts; the masks are built a batch at a time, never all at once.

use super::saliency::input_plane;
use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};

/// RISE.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rise;

/// Masks when not given.
pub const DEFAULT_MASKS: usize = 2000;

/// Grid cells per side when not given.
pub const DEFAULT_GRID_CELLS: usize = 7;

/// The probability that a cell is kept when not given.
pub const DEFAULT_KEEP_PROBABILITY: f32 = 0.5;

impl CamMethod for Rise {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let plane = input_plane(probe)?;
        let (height, width) = probe.input_size();
        let settings = layer.settings;
        let masks = settings.samples_or(DEFAULT_MASKS)?;
        let cells = settings.grid_cells.unwrap_or(DEFAULT_GRID_CELLS);
        if cells == 0 {
            return Err(CamError::Setting {
                name: "grid-cells",
                reason: "must be at least 1".into(),
            });
        }
        let keep = settings
            .keep_probability
            .unwrap_or(DEFAULT_KEEP_PROBABILITY);
        if !(keep > 0.0 && keep <= 1.0) {
            return Err(CamError::Setting {
                name: "keep-probability",
                reason: format!("{keep} is not in (0, 1]"),
            });
        }
        let rows = Upsampling::new(cells, height);
        let columns = Upsampling::new(cells, width);
        let grid = layer.noise.uniform(masks * cells * cells, 0.0, 1.0)?;
        let row_shifts = shifts(layer.noise.integers(masks, rows.cell)?, rows.cell)?;
        let column_shifts = shifts(layer.noise.integers(masks, columns.cell)?, columns.cell)?;
        let mut saliency = vec![0.0f64; plane];
        let batch = probe.batch_size().max(1);
        let mut start = 0;
        while start < masks {
            let count = batch.min(masks - start);
            let mut stack = Vec::with_capacity(count * plane);
            for i in start..start + count {
                let kept: Vec<f32> = grid[i * cells * cells..(i + 1) * cells * cells]
                    .iter()
                    .map(|&u| if u < keep { 1.0 } else { 0.0 })
                    .collect();
                stack.extend(mask(
                    &kept,
                    cells,
                    &rows,
                    &columns,
                    row_shifts[i],
                    column_shifts[i],
                ));
            }
            let scores = probe.score_masked_inputs(&stack, count)?;
            for (m, score) in stack.chunks(plane).zip(scores) {
                let score = f64::from(score);
                for (s, &v) in saliency.iter_mut().zip(m) {
                    *s += score * f64::from(v);
                }
            }
            start += count;
        }
        let scale = 1.0 / (masks as f64 * f64::from(keep));
        Ok(Combination::InputMap(
            saliency.into_iter().map(|s| (s * scale) as f32).collect(),
        ))
    }
}

/// Recorded or drawn shifts as indices below `bound`.
fn shifts(values: Vec<f32>, bound: usize) -> Result<Vec<usize>> {
    values
        .into_iter()
        .map(|v| {
            if v >= 0.0 && v.fract() == 0.0 && (v as usize) < bound {
                Ok(v as usize)
            } else {
                Err(CamError::Setting {
                    name: "noise",
                    reason: format!("RISE shift {v} is not an integer in 0..{bound}"),
                })
            }
        })
        .collect()
}

/// One axis of the upsampling of an `s`-cell grid to `(s + 1) · cell` pixels: per upsampled
/// pixel, the two grid cells it interpolates and the weight of the second.
struct Upsampling {
    cell: usize,
    taps: Vec<(usize, usize, f64)>,
    /// Pixels of the cropped axis.
    side: usize,
}

impl Upsampling {
    fn new(cells: usize, side: usize) -> Self {
        let cell = side.div_ceil(cells).max(1);
        let up = (cells + 1) * cell;
        let scale = cells as f64 / up as f64;
        let taps = (0..up)
            .map(|o| {
                let c = (o as f64 + 0.5) * scale - 0.5;
                let i0 = c.floor();
                let t = c - i0;
                let i0 = i0 as isize;
                (mirror(i0, cells), mirror(i0 + 1, cells), t)
            })
            .collect();
        Self { cell, taps, side }
    }
}

/// Index `i` mirrored into `0..n` without repeating the edge (`-1 → 1`, `n → n - 2`).
fn mirror(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let i = i.rem_euclid(period);
    (if i >= n as isize { period - i } else { i }) as usize
}

/// The `rows.side × columns.side` mask of a kept-cell grid (`cells × cells` of 0/1), upsampled
/// and cropped at `(row_shift, column_shift)`.
fn mask(
    grid: &[f32],
    cells: usize,
    rows: &Upsampling,
    columns: &Upsampling,
    row_shift: usize,
    column_shift: usize,
) -> Vec<f32> {
    let column_taps = &columns.taps[column_shift..column_shift + columns.side];
    let mut out = Vec::with_capacity(rows.side * columns.side);
    for &(r0, r1, ty) in &rows.taps[row_shift..row_shift + rows.side] {
        let (g0, g1) = (&grid[r0 * cells..][..cells], &grid[r1 * cells..][..cells]);
        for &(c0, c1, tx) in column_taps {
            let top = (1.0 - tx) * f64::from(g0[c0]) + tx * f64::from(g0[c1]);
            let bottom = (1.0 - tx) * f64::from(g1[c0]) + tx * f64::from(g1[c1]);
            out.push(((1.0 - ty) * top + ty * bottom) as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::saliency::test_support::{LinearProbe, run, seeded};
    use crate::settings::{MethodSettings, Noise};

    /// skimage.transform.resize(g, (9, 9), order=1, mode="reflect", anti_aliasing=False)
    /// [1:6, 2:7] for the 2 × 2 grid g = [[1, 0], [0, 1]] (s = 2, side 5, cell 3, up 9).
    #[test]
    fn masks_are_the_authors_skimage_upsampling() {
        let grid = [1.0, 0.0, 0.0, 1.0];
        let (rows, columns) = (Upsampling::new(2, 5), Upsampling::new(2, 5));
        assert_eq!((rows.cell, rows.taps.len()), (3, 9));
        let m = mask(&grid, 2, &rows, &columns, 1, 2);
        let expected = [
            [0.796_296_3, 0.648_148_1, 0.5, 0.351_851_85, 0.203_703_7],
            [0.895_061_7, 0.697_530_87, 0.5, 0.302_469_13, 0.104_938_27],
            [0.697_530_87, 0.598_765_4, 0.5, 0.401_234_57, 0.302_469_13],
            [0.5, 0.5, 0.5, 0.5, 0.5],
            [0.302_469_13, 0.401_234_57, 0.5, 0.598_765_4, 0.697_530_87],
        ];
        for (y, row) in expected.iter().enumerate() {
            for (x, &v) in row.iter().enumerate() {
                assert!((m[y * 5 + x] - v).abs() < 1e-6, "({y}, {x}): {m:?}");
            }
        }
    }

    #[test]
    fn constant_scores_give_the_mean_mask_over_p1_near_one() {
        let mut probe = LinearProbe::new(8, 8, 64);
        probe.weights.fill(0.0);
        probe.bias = 1.0;
        let settings = MethodSettings {
            samples: Some(4000),
            ..seeded(5)
        };
        let map = run(&Rise, &probe, &settings).unwrap();
        assert_eq!(*probe.items.lock().unwrap(), 4000);
        let mean = map.iter().sum::<f32>() / 64.0;
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
        assert!(map.iter().all(|&v| (v - 1.0).abs() < 0.15), "{map:?}");
    }

    #[test]
    fn replayed_draws_choose_the_cells_and_shifts() {
        // One mask of a 1-cell grid kept: the mask is all ones whatever the shift, so the map
        // is the image's score / p1.
        let probe = LinearProbe::new(3, 3, 1);
        let settings = MethodSettings {
            samples: Some(1),
            grid_cells: Some(1),
            keep_probability: Some(0.5),
            noise: Noise::replay(vec![vec![0.25], vec![2.0], vec![1.0]]),
            ..MethodSettings::default()
        };
        let map = run(&Rise, &probe, &settings).unwrap();
        let expected = probe.score(&probe.image) / 0.5;
        assert!(map.iter().all(|&v| (v - expected).abs() < 1e-4), "{map:?}");
        let out_of_range = MethodSettings {
            noise: Noise::replay(vec![vec![0.25], vec![3.0], vec![1.0]]),
            ..settings
        };
        assert!(run(&Rise, &probe, &out_of_range).is_err());
    }
}
