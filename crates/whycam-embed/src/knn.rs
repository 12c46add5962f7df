//! How well a layout keeps neighbourhoods: the share of each point's k nearest neighbours
//! (Euclidean, the point itself left out) that carry its label, averaged over the points.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

/// Rows whose distances to all points are computed at once.
const BLOCK: usize = 256;

/// Mean fraction of the `k` nearest neighbours of each row of `x` (`n × d`) with the same
/// label. Exact: all pairwise distances, a block of rows at a time as one matrix product
/// (`|a|² + |b|² - 2 a·b`), blocks in parallel.
pub fn neighbour_agreement(x: &[f32], d: usize, labels: &[usize], k: usize) -> f64 {
    let n = labels.len();
    if n < 2 || k == 0 || d == 0 || x.len() != n * d {
        return 0.0;
    }
    let k = k.min(n - 1);
    let all = MatRef::from_row_major_slice(x, n, d);
    let norms: Vec<f32> = x
        .chunks_exact(d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    let starts: Vec<usize> = (0..n).step_by(BLOCK).collect();
    let total: f64 = starts
        .par_iter()
        .map(|&start| {
            let rows = BLOCK.min(n - start);
            let mut dots = Mat::<f32>::zeros(rows, n);
            matmul(
                dots.as_mut(),
                Accum::Replace,
                all.subrows(start, rows),
                all.transpose(),
                1.0,
                Par::Seq,
            );
            let mut row: Vec<(f32, usize)> = Vec::with_capacity(n);
            (0..rows)
                .map(|r| {
                    let i = start + r;
                    row.clear();
                    row.extend(
                        (0..n)
                            .filter(|&j| j != i)
                            .map(|j| (norms[i] + norms[j] - 2.0 * dots[(r, j)], j)),
                    );
                    row.select_nth_unstable_by(k - 1, |a, b| {
                        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
                    });
                    row[..k]
                        .iter()
                        .filter(|&&(_, j)| labels[j] == labels[i])
                        .count() as f64
                        / k as f64
                })
                .sum::<f64>()
        })
        .sum();
    total / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same measure by brute force, one pair at a time.
    fn naive(x: &[f32], d: usize, labels: &[usize], k: usize) -> f64 {
        let n = labels.len();
        let mut total = 0.0;
        for i in 0..n {
            let mut dist: Vec<(f32, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let s = (0..d).map(|c| (x[i * d + c] - x[j * d + c]).powi(2)).sum();
                    (s, j)
                })
                .collect();
            dist.sort_by(|a, b| a.0.total_cmp(&b.0));
            total += dist[..k]
                .iter()
                .filter(|p| labels[p.1] == labels[i])
                .count() as f64
                / k as f64;
        }
        total / n as f64
    }

    #[test]
    fn separated_clusters_agree_fully_and_mixed_ones_do_not() {
        let x: Vec<f32> = (0..20)
            .flat_map(|i| [(i / 10) as f32 * 100.0 + i as f32 * 0.1, 0.0])
            .collect();
        let labels: Vec<usize> = (0..20).map(|i| i / 10).collect();
        assert_eq!(neighbour_agreement(&x, 2, &labels, 5), 1.0);
        let mixed: Vec<usize> = (0..20).map(|i| i % 2).collect();
        assert!(neighbour_agreement(&x, 2, &mixed, 5) < 0.6);
    }

    #[test]
    fn blocked_products_match_pairwise_distances() {
        // More rows than a block; random values, so no distances tie.
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let (n, d) = (600, 7);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let normal = Normal::new(0.0f32, 1.0).unwrap();
        let x: Vec<f32> = (0..n * d).map(|_| normal.sample(&mut rng)).collect();
        let labels: Vec<usize> = (0..n).map(|i| (i * 31 % 17) % 4).collect();
        let fast = neighbour_agreement(&x, d, &labels, 10);
        let slow = naive(&x, d, &labels, 10);
        assert!((fast - slow).abs() < 1e-12, "{fast} vs {slow}");
        assert!(fast > 0.0 && fast < 1.0);
    }
}
