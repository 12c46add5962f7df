//! PCA as scikit-learn's `PCA(svd_solver="covariance_eigh")` computes it: the eigenvectors of
//! the covariance matrix (divided by n - 1), largest first, each signed so that its entry of
//! largest magnitude is positive (`svd_flip(u_based_decision=False)`, scikit-learn ≥ 1.5).

use crate::error::{EmbedError, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par, Side};

/// A fitted PCA.
#[derive(Debug, Clone)]
pub struct Pca {
    /// Mean of each feature.
    pub mean: Vec<f64>,
    /// `k` unit vectors of `d` values, by decreasing variance (scikit-learn's `components_`).
    pub components: Vec<Vec<f64>>,
    /// Variance along each component (`explained_variance_`, ddof = 1).
    pub explained_variance: Vec<f64>,
    /// Its share of the total variance (`explained_variance_ratio_`).
    pub explained_variance_ratio: Vec<f64>,
}

impl Pca {
    /// Fits `k` components to `x` (`n × d`).
    pub fn fit(x: &[f32], n: usize, d: usize, k: usize) -> Result<Self> {
        crate::check(x, n, d, 2)?;
        if k == 0 || k > d.min(n) {
            return Err(EmbedError::Components { k, n, d });
        }
        let mean: Vec<f64> = (0..d)
            .map(|j| (0..n).map(|i| x[i * d + j] as f64).sum::<f64>() / n as f64)
            .collect();
        let centred = Mat::<f64>::from_fn(n, d, |i, j| x[i * d + j] as f64 - mean[j]);
        let mut cov = Mat::<f64>::zeros(d, d);
        matmul(
            cov.as_mut(),
            Accum::Replace,
            centred.transpose(),
            centred.as_ref(),
            1.0 / (n as f64 - 1.0),
            Par::rayon(0),
        );
        let total: f64 = (0..d).map(|j| cov[(j, j)]).sum();
        let evd = cov
            .self_adjoint_eigen(Side::Lower)
            .map_err(|_| EmbedError::Eigen)?;
        let (u, s) = (evd.U(), evd.S().column_vector());
        let mut components = Vec::with_capacity(k);
        let mut explained_variance = Vec::with_capacity(k);
        // Eigenvalues come in increasing order.
        for col in (d - k..d).rev() {
            let mut v: Vec<f64> = (0..d).map(|j| u[(j, col)]).collect();
            let largest = (0..d).fold(0, |b, j| if v[j].abs() > v[b].abs() { j } else { b });
            if v[largest] < 0.0 {
                v.iter_mut().for_each(|x| *x = -*x);
            }
            components.push(v);
            explained_variance.push(s[col].max(0.0));
        }
        let explained_variance_ratio = explained_variance.iter().map(|v| v / total).collect();
        Ok(Self {
            mean,
            components,
            explained_variance,
            explained_variance_ratio,
        })
    }

    /// Projects `x` (`n × d`) onto the components: `n × k`.
    pub fn transform(&self, x: &[f32], d: usize) -> Vec<f32> {
        x.chunks_exact(d)
            .flat_map(|row| {
                self.components.iter().map(move |c| {
                    row.iter()
                        .zip(&self.mean)
                        .zip(c)
                        .map(|((&v, m), w)| (v as f64 - m) * w)
                        .sum::<f64>() as f32
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_one_component_and_bad_data_is_named() {
        // Points on y = 2x plus a little noise along the normal.
        let x: Vec<f32> = (0..50)
            .flat_map(|i| {
                let t = i as f32 - 25.0;
                let e = if i % 2 == 0 { 0.01 } else { -0.01 };
                [t - 2.0 * e, 2.0 * t + e]
            })
            .collect();
        let pca = Pca::fit(&x, 50, 2, 2).unwrap();
        let c = &pca.components[0];
        assert!(
            (c[0] - 1.0 / 5f64.sqrt()).abs() < 1e-4 && c[1] > 0.0,
            "{c:?}"
        );
        assert!(pca.explained_variance_ratio[0] > 0.9999);
        let y = pca.transform(&x, 2);
        assert_eq!(y.len(), 100);
        assert!(Pca::fit(&[1.0, 2.0, 1.0, 2.0], 2, 2, 1).is_err());
        let nan = [1.0, f32::NAN, 3.0, 4.0];
        let e = Pca::fit(&nan, 2, 2, 1).unwrap_err().to_string();
        assert!(e.contains("feature 1 of point 0"), "{e}");
    }
}
