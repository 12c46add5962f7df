//! How alike two saliency maps are: Spearman rank correlation and SSIM, the two measures of
//! the model-randomisation sanity check (Adebayo et al. 2018, "Sanity Checks for Saliency
//! Maps", NeurIPS).
//!
//! * [`spearman`] is `scipy.stats.spearmanr` of the two flattened maps: the Pearson
//!   correlation of their ranks, tied values sharing their average rank.
//! * [`ssim`] is `skimage.metrics.structural_similarity(a, b, data_range=1)`
//!   (`skimage/metrics/_structural_similarity.py`, scikit-image 0.19 and later) with its
//!   defaults for a 2-D float image: a 7×7 uniform window (`win_size=7`,
//!   `gaussian_weights=False`), sample covariances (`use_sample_covariance=True`, normalised by
//!   49/48), `K1=0.01`, `K2=0.03`, and the mean over the pixels whose window lies inside the
//!   image (skimage crops `(7 − 1) / 2 = 3` pixels per side, which makes the filter's border
//!   mode irrelevant). Computed in `f64`; skimage computes a `float32` map in `float32`, a
//!   difference below 1e-5.
//!
//! A constant map has no ranking: where scipy returns NaN, [`spearman`] returns 1 for two
//! identical maps and 0 otherwise (no order in common), so a method whose maps all collapse to
//! a constant after randomisation counts as changed, not as an undefined value.

use crate::{EvalError, Map, Result};

/// skimage's default window side.
pub const SSIM_WINDOW: usize = 7;
/// skimage's `K1`.
const K1: f64 = 0.01;
/// skimage's `K2`.
const K2: f64 = 0.03;

/// Spearman's rank correlation of two maps of the same shape, in `[-1, 1]`.
pub fn spearman(a: Map<'_>, b: Map<'_>) -> Result<f64> {
    same_shape(a, b)?;
    if a.data() == b.data() {
        return Ok(1.0);
    }
    let (ra, rb) = (average_ranks(a.data()), average_ranks(b.data()));
    let n = ra.len() as f64;
    // Ranks 1..=n with ties averaged keep the mean (n + 1) / 2.
    let mean = (n + 1.0) / 2.0;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        let (dx, dy) = (x - mean, y - mean);
        cov += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    if va == 0.0 || vb == 0.0 {
        return Ok(0.0);
    }
    Ok((cov / (va * vb).sqrt()).clamp(-1.0, 1.0))
}

/// The ranks (1-based) of `values`, ties sharing the mean of the ranks they span.
fn average_ranks(values: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start + 1 ..= end.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// The mean structural similarity of two maps in `[0, 1]` (data range 1), as skimage's
/// `structural_similarity` with its defaults. Both sides must be at least 7 pixels.
pub fn ssim(a: Map<'_>, b: Map<'_>) -> Result<f64> {
    same_shape(a, b)?;
    let (h, w) = (a.height(), a.width());
    if h < SSIM_WINDOW || w < SSIM_WINDOW {
        return Err(EvalError::MapTooSmall {
            metric: "SSIM",
            min: SSIM_WINDOW,
            height: h,
            width: w,
        });
    }
    let x: Vec<f64> = a.data().iter().map(|&v| f64::from(v)).collect();
    let y: Vec<f64> = b.data().iter().map(|&v| f64::from(v)).collect();
    let products = |f: &dyn Fn(usize) -> f64| -> Vec<f64> { (0..h * w).map(f).collect() };
    let sums = [
        integral(&x, h, w),
        integral(&y, h, w),
        integral(&products(&|i| x[i] * x[i]), h, w),
        integral(&products(&|i| y[i] * y[i]), h, w),
        integral(&products(&|i| x[i] * y[i]), h, w),
    ];
    let np = (SSIM_WINDOW * SSIM_WINDOW) as f64;
    let cov_norm = np / (np - 1.0);
    let (c1, c2) = (K1 * K1, K2 * K2);
    let mut total = 0.0;
    let mut count = 0usize;
    for top in 0..=h - SSIM_WINDOW {
        for left in 0..=w - SSIM_WINDOW {
            let [ux, uy, uxx, uyy, uxy] = sums.each_ref().map(|s| window_sum(s, w, top, left) / np);
            let vx = cov_norm * (uxx - ux * ux);
            let vy = cov_norm * (uyy - uy * uy);
            let vxy = cov_norm * (uxy - ux * uy);
            let numerator = (2.0 * ux * uy + c1) * (2.0 * vxy + c2);
            let denominator = (ux * ux + uy * uy + c1) * (vx + vy + c2);
            total += numerator / denominator;
            count += 1;
        }
    }
    Ok(total / count as f64)
}

/// The summed-area table of an `h × w` image, `(h + 1) × (w + 1)` with a zero first row and
/// column.
fn integral(values: &[f64], h: usize, w: usize) -> Vec<f64> {
    let stride = w + 1;
    let mut table = vec![0.0; (h + 1) * stride];
    for r in 0..h {
        let mut row = 0.0;
        for c in 0..w {
            row += values[r * w + c];
            table[(r + 1) * stride + c + 1] = table[r * stride + c + 1] + row;
        }
    }
    table
}

/// The sum of the 7×7 window whose top-left pixel is `(top, left)`.
fn window_sum(table: &[f64], w: usize, top: usize, left: usize) -> f64 {
    let stride = w + 1;
    let (bottom, right) = (top + SSIM_WINDOW, left + SSIM_WINDOW);
    table[bottom * stride + right] - table[top * stride + right] - table[bottom * stride + left]
        + table[top * stride + left]
}

fn same_shape(a: Map<'_>, b: Map<'_>) -> Result<()> {
    if (a.height(), a.width()) != (b.height(), b.width()) {
        return Err(EvalError::Shape {
            what: "second map",
            expected: format!("{}×{}", a.height(), a.width()),
            got: format!("{}×{}", b.height(), b.width()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(data: &[f32], h: usize, w: usize) -> Map<'_> {
        Map::new(data, [h, w]).unwrap()
    }

    #[test]
    fn spearman_of_identical_and_reversed_orders() {
        let a = [0.1, 0.4, 0.2, 0.9];
        let same_order = [1.0, 3.0, 2.0, 7.0];
        let reversed = [0.9, 0.6, 0.8, 0.1];
        assert_eq!(spearman(map(&a, 2, 2), map(&a, 2, 2)).unwrap(), 1.0);
        let r = spearman(map(&a, 2, 2), map(&same_order, 2, 2)).unwrap();
        assert!((r - 1.0).abs() < 1e-12, "{r}");
        let r = spearman(map(&a, 2, 2), map(&reversed, 2, 2)).unwrap();
        assert!((r + 1.0).abs() < 1e-12, "{r}");
    }

    #[test]
    fn spearman_averages_tied_ranks() {
        // Ranks [1, 2.5, 2.5, 4] against [1, 2, 3, 4]: deviations [-1.5, 0, 0, 1.5] and
        // [-1.5, -0.5, 0.5, 1.5], so r = 4.5 / sqrt(4.5 · 5) = sqrt(0.9)
        // (scipy.stats.spearmanr([1, 2, 2, 3], [1, 2, 3, 4]) = 0.9486832980505138).
        let r = spearman(
            map(&[1.0, 2.0, 2.0, 3.0], 1, 4),
            map(&[1.0, 2.0, 3.0, 4.0], 1, 4),
        )
        .unwrap();
        assert!((r - 0.9_f64.sqrt()).abs() < 1e-12, "{r}");
        assert_eq!(
            average_ranks(&[5.0, 1.0, 5.0, 5.0]),
            vec![3.0, 1.0, 3.0, 3.0]
        );
    }

    #[test]
    fn spearman_of_a_constant_map_is_defined() {
        let zeros = [0.0; 4];
        let ramp = [0.0, 0.1, 0.2, 0.3];
        assert_eq!(spearman(map(&zeros, 2, 2), map(&zeros, 2, 2)).unwrap(), 1.0);
        assert_eq!(spearman(map(&zeros, 2, 2), map(&ramp, 2, 2)).unwrap(), 0.0);
    }

    #[test]
    fn ssim_of_identical_maps_is_one() {
        let a: Vec<f32> = (0..12 * 9)
            .map(|i| ((i * 37) % 101) as f32 / 100.0)
            .collect();
        let s = ssim(map(&a, 12, 9), map(&a, 12, 9)).unwrap();
        assert!((s - 1.0).abs() < 1e-12, "{s}");
        let zeros = vec![0.0; 49];
        assert_eq!(ssim(map(&zeros, 7, 7), map(&zeros, 7, 7)).unwrap(), 1.0);
    }

    #[test]
    fn ssim_of_two_constant_maps() {
        // One window; no variance: S = C1 / (0 + 1 + C1) with C1 = 0.01².
        let zeros = vec![0.0; 49];
        let ones = vec![1.0; 49];
        let s = ssim(map(&zeros, 7, 7), map(&ones, 7, 7)).unwrap();
        assert!((s - 1e-4 / 1.0001).abs() < 1e-15, "{s}");
    }

    #[test]
    fn ssim_of_a_checkerboard_and_its_negative() {
        // One 7×7 window: x has 25 ones, y = 1 − x has 24. Means 25/49 and 24/49; sample
        // variances (49/48)(25·24/49²) = 600/2352 each; covariance −600/2352.
        let x: Vec<f32> = (0..49)
            .map(|i| ((i / 7 + i % 7) % 2 == 0) as u8 as f32)
            .collect();
        let y: Vec<f32> = x.iter().map(|v| 1.0 - v).collect();
        let (ux, uy, v) = (25.0 / 49.0, 24.0 / 49.0, 600.0 / 2352.0);
        let (c1, c2) = (1e-4, 9e-4);
        let expected =
            (2.0 * ux * uy + c1) * (-2.0 * v + c2) / ((ux * ux + uy * uy + c1) * (2.0 * v + c2));
        let s = ssim(map(&x, 7, 7), map(&y, 7, 7)).unwrap();
        assert!((s - expected).abs() < 1e-12, "{s} vs {expected}");
        assert!(s < -0.99);
    }

    #[test]
    fn ssim_averages_every_full_window() {
        // 7×8: two windows, columns 0..7 and 1..8. y differs from x only in column 7, which
        // only the second window sees, so the mean is (1 + S₂) / 2 with S₂ < 1.
        let x: Vec<f32> = (0..56).map(|i| (i % 8) as f32 / 8.0).collect();
        let mut y = x.clone();
        for r in 0..7 {
            y[r * 8 + 7] = 0.0;
        }
        let s = ssim(map(&x, 7, 8), map(&y, 7, 8)).unwrap();
        let only_first = ssim(
            map(
                &x.iter()
                    .enumerate()
                    .filter(|(i, _)| i % 8 < 7)
                    .map(|(_, v)| *v)
                    .collect::<Vec<_>>(),
                7,
                7,
            ),
            map(
                &y.iter()
                    .enumerate()
                    .filter(|(i, _)| i % 8 < 7)
                    .map(|(_, v)| *v)
                    .collect::<Vec<_>>(),
                7,
                7,
            ),
        )
        .unwrap();
        assert_eq!(only_first, 1.0);
        assert!(s < 1.0 && s > 0.5, "{s}");
    }

    #[test]
    fn ssim_refuses_small_or_mismatched_maps() {
        let a = vec![0.0; 36];
        assert!(matches!(
            ssim(map(&a, 6, 6), map(&a, 6, 6)),
            Err(EvalError::MapTooSmall { .. })
        ));
        let b = vec![0.0; 49];
        assert!(matches!(
            ssim(map(&b, 7, 7), map(&a[..35], 5, 7)),
            Err(EvalError::Shape { .. })
        ));
    }
}
