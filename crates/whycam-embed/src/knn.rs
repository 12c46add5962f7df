//! How well a layout keeps neighbourhoods: the share of each point's k nearest neighbours
//! (Euclidean, the point itself left out) that carry its label, averaged over the points.

use rayon::prelude::*;

/// Mean fraction of the `k` nearest neighbours of each row of `x` (`n × d`) with the same
/// label. Brute force over all pairs, in parallel.
pub fn neighbour_agreement(x: &[f32], d: usize, labels: &[usize], k: usize) -> f64 {
    let n = labels.len();
    if n < 2 || k == 0 {
        return 0.0;
    }
    let k = k.min(n - 1);
    let total: f64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let row = &x[i * d..(i + 1) * d];
            let mut nearest: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
            for j in (0..n).filter(|&j| j != i) {
                let other = &x[j * d..(j + 1) * d];
                let dist: f32 = row.iter().zip(other).map(|(a, b)| (a - b) * (a - b)).sum();
                if nearest.len() < k || dist < nearest[k - 1].0 {
                    let at = nearest.partition_point(|&(e, _)| e <= dist);
                    nearest.insert(at, (dist, j));
                    nearest.truncate(k);
                }
            }
            nearest
                .iter()
                .filter(|&&(_, j)| labels[j] == labels[i])
                .count() as f64
                / k as f64
        })
        .sum();
    total / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
