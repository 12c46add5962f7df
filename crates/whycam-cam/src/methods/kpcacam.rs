//! KPCA-CAM: Karmani, Khan, Niazi, "KPCA-CAM: Visual Explainability of Deep Computer Vision
//! Models using Kernel PCA", 2024 (arXiv:2410.00267).
//!
//! Eigen-CAM with kernel PCA in place of PCA: the positions are the samples and the channels the
//! features; the activations are centred per channel, and the map is every position's
//! coordinate on the first kernel principal component. This follows pytorch-grad-cam 1.5.7
//! `kpca_cam.py` (`get_2d_projection_kernel` in `utils/svd_on_activations.py`), which calls
//! scikit-learn's `KernelPCA(n_components=1, kernel="sigmoid", gamma=None)`, exactly:
//!
//! * the kernels and their defaults are scikit-learn's `pairwise_kernels` with `gamma =
//!   1 / channels`, `coef0 = 1` and `degree = 3`: sigmoid `tanh(γ⟨x, y⟩ + coef0)`, rbf
//!   `exp(-γ‖x − y‖²)`, poly `(γ⟨x, y⟩ + coef0)^degree`, linear `⟨x, y⟩`, cosine;
//! * the kernel matrix is centred as `KernelCenterer` does (`K − 1K − K1 + 1K1`);
//! * the projection is the top eigenvector (largest eigenvalue λ) times `sqrt(λ)`
//!   (`fit_transform`'s `eigenvectors_ * sqrt(eigenvalues_)`);
//! * its sign is `svd_flip`'s: the entry of largest magnitude (the first, on a tie) is made
//!   positive. Unlike Eigen-CAM, the sign is therefore the reference's own, not a choice.
//!
//! Like scikit-learn, which computes the eigenvector with LAPACK up to 200 positions and with
//! ARPACK's Lanczos iterations above, whycam decomposes densely (in `f64`) up to 200 positions
//! and above runs restarted Lanczos iterations to a residual of 1e-12 of the kernel's scale
//! (falling back to the dense decomposition if they do not converge): a 56 × 56 layer takes
//! about a second instead of a minute. Where scikit-learn
//! raises because every eigenvalue is negative (an indefinite sigmoid kernel), whycam returns
//! an error naming the options to change. The map ignores `--eigen-smooth`, as the reference's
//! `get_cam_image` does.

use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use std::fmt;
use std::str::FromStr;

/// scikit-learn's `coef0` default (sigmoid and poly kernels).
const COEF0: f64 = 1.0;
/// scikit-learn's `degree` default (poly kernel).
const DEGREE: i32 = 3;

/// The kernel of KPCA-CAM (scikit-learn's `KernelPCA(kernel=...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KpcaKernel {
    /// `tanh(γ⟨x, y⟩ + 1)`: pytorch-grad-cam's default.
    #[default]
    Sigmoid,
    /// `exp(-γ‖x − y‖²)`.
    Rbf,
    /// `(γ⟨x, y⟩ + 1)³`.
    Poly,
    /// `⟨x, y⟩`: plain PCA (Eigen-CAM with scikit-learn's sign).
    Linear,
    /// `⟨x, y⟩ / (‖x‖‖y‖)`.
    Cosine,
}

impl KpcaKernel {
    /// Every kernel, as the command line spells them.
    pub const ALL: [KpcaKernel; 5] = [
        KpcaKernel::Sigmoid,
        KpcaKernel::Rbf,
        KpcaKernel::Poly,
        KpcaKernel::Linear,
        KpcaKernel::Cosine,
    ];

    /// The name scikit-learn gives it.
    pub fn name(self) -> &'static str {
        match self {
            KpcaKernel::Sigmoid => "sigmoid",
            KpcaKernel::Rbf => "rbf",
            KpcaKernel::Poly => "poly",
            KpcaKernel::Linear => "linear",
            KpcaKernel::Cosine => "cosine",
        }
    }
}

impl fmt::Display for KpcaKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KpcaKernel {
    type Err = CamError;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase();
        KpcaKernel::ALL
            .into_iter()
            .find(|k| k.name() == wanted || (wanted == "polynomial" && *k == KpcaKernel::Poly))
            .ok_or_else(|| CamError::Setting {
                name: "kpca-kernel",
                reason: format!(
                    "\"{s}\" is not one of {}",
                    KpcaKernel::ALL.map(KpcaKernel::name).join(", ")
                ),
            })
    }
}

/// Kernel-PCA CAM.
#[derive(Debug, Clone, Copy, Default)]
pub struct KpcaCam;

impl CamMethod for KpcaCam {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let kernel = layer.settings.kpca_kernel.unwrap_or_default();
        let gamma = match layer.settings.kpca_gamma {
            None => 1.0 / layer.channels.max(1) as f64,
            Some(g) if g.is_finite() => f64::from(g),
            Some(g) => {
                return Err(CamError::Setting {
                    name: "kpca-gamma",
                    reason: format!("{g} is not a finite number"),
                });
            }
        };
        let map = kernel_projection(layer.activations, layer.channels, kernel, gamma)?;
        Ok(Combination::Map(
            map.into_iter().map(|v| v as f32).collect(),
        ))
    }
}

/// The first kernel principal component of `activations` (`channels × positions`), one
/// coordinate per position: pytorch-grad-cam's `get_2d_projection_kernel` for one image.
pub fn kernel_projection(
    activations: &[f32],
    channels: usize,
    kernel: KpcaKernel,
    gamma: f64,
) -> Result<Vec<f64>> {
    let channels = channels.max(1);
    let n = activations.len() / channels;
    if n == 0 {
        return Ok(Vec::new());
    }
    // x[(position, channel)], NaN as zero, centred per channel.
    let mut x = DMatrix::<f64>::zeros(n, channels);
    for (c, plane) in activations.chunks(n).enumerate() {
        let clean = |v: f32| if v.is_nan() { 0.0 } else { f64::from(v) };
        let mean = plane.iter().map(|&v| clean(v)).sum::<f64>() / n as f64;
        for (p, &v) in plane.iter().enumerate() {
            x[(p, c)] = clean(v) - mean;
        }
    }
    let mut k = kernel_matrix(&x, kernel, gamma);
    centre(&mut k);
    let (vector, lambda) = top_eigenpair(k);
    if lambda < 0.0 {
        return Err(CamError::Setting {
            name: "kpca-kernel",
            reason: format!(
                "the centred {kernel} kernel matrix of this layer has only negative eigenvalues \
                 (the largest is {lambda:.3e}), so it has no principal component (scikit-learn \
                 refuses it too); choose another kernel or gamma"
            ),
        });
    }
    // svd_flip: the entry of largest magnitude, the first on a tie, becomes positive.
    let mut largest = 0;
    for (i, v) in vector.iter().enumerate() {
        if v.abs() > vector[largest].abs() {
            largest = i;
        }
    }
    let sign = if vector[largest] < 0.0 { -1.0 } else { 1.0 };
    let scale = sign * lambda.sqrt();
    Ok(vector.iter().map(|v| v * scale).collect())
}

/// Up to this many positions the eigenvector comes from the dense decomposition, above from
/// Lanczos iterations (scikit-learn switches from LAPACK to ARPACK above 200 too).
const DENSE_POSITIONS: usize = 200;
/// Lanczos steps before a restart from the current Ritz vector.
const LANCZOS_STEPS: usize = 64;
/// Restarts before giving up on Lanczos and decomposing densely.
const LANCZOS_RESTARTS: usize = 20;

/// The eigenvector of the largest eigenvalue of the symmetric `k`, and that eigenvalue.
fn top_eigenpair(k: DMatrix<f64>) -> (DVector<f64>, f64) {
    if k.nrows() > DENSE_POSITIONS
        && let Some(pair) = lanczos_top(&k)
    {
        return pair;
    }
    dense_top(k)
}

fn dense_top(k: DMatrix<f64>) -> (DVector<f64>, f64) {
    let eigen = SymmetricEigen::new(k);
    let (top, &lambda) = eigen
        .eigenvalues
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .expect("a non-empty matrix");
    (eigen.eigenvectors.column(top).into_owned(), lambda)
}

/// The largest eigenpair by restarted Lanczos iterations with full reorthogonalisation, to a
/// residual `‖K v − λ v‖` of 1e-12 of the matrix's scale (what ARPACK's `tol=0` asks); `None`
/// if it does not get there.
fn lanczos_top(k: &DMatrix<f64>) -> Option<(DVector<f64>, f64)> {
    let n = k.nrows();
    let scale = k.iter().fold(0.0f64, |m, v| m.max(v.abs())) * n as f64;
    if scale == 0.0 {
        return None;
    }
    let tolerance = 1e-12 * scale;
    // A fixed start that is not orthogonal to the constant vector's complement (the centred
    // kernel maps the constant vector to zero).
    let mut start = DVector::from_fn(n, |i, _| {
        ((i as f64 + 1.0) * 0.618_033_988_75).fract() - 0.5
    });
    for _ in 0..LANCZOS_RESTARTS {
        let mut basis: Vec<DVector<f64>> = Vec::with_capacity(LANCZOS_STEPS);
        let norm = start.norm();
        if norm == 0.0 {
            return None;
        }
        basis.push(start / norm);
        let mut alphas = Vec::with_capacity(LANCZOS_STEPS);
        let mut betas: Vec<f64> = Vec::with_capacity(LANCZOS_STEPS);
        let mut ritz = None;
        for step in 0..LANCZOS_STEPS.min(n) {
            let mut w = k * &basis[step];
            let alpha = w.dot(&basis[step]);
            alphas.push(alpha);
            // Full reorthogonalisation, twice, against every basis vector.
            for _ in 0..2 {
                for b in &basis {
                    let c = w.dot(b);
                    w.axpy(-c, b, 1.0);
                }
            }
            let beta = w.norm();
            let m = alphas.len();
            let t = DMatrix::from_fn(m, m, |i, j| {
                if i == j {
                    alphas[i]
                } else if i + 1 == j {
                    betas[i]
                } else if j + 1 == i {
                    betas[j]
                } else {
                    0.0
                }
            });
            let (y, theta) = dense_top(t);
            let residual = (beta * y[m - 1]).abs();
            let vector = basis
                .iter()
                .zip(y.iter())
                .fold(DVector::zeros(n), |acc, (b, &c)| acc + b * c);
            if residual <= tolerance || beta <= tolerance {
                let norm = vector.norm();
                return Some((vector / norm, theta));
            }
            ritz = Some(vector);
            betas.push(beta);
            basis.push(w / beta);
        }
        start = ritz?;
    }
    None
}

/// scikit-learn's `pairwise_kernels(x, x, metric=kernel, gamma, degree=3, coef0=1)`.
fn kernel_matrix(x: &DMatrix<f64>, kernel: KpcaKernel, gamma: f64) -> DMatrix<f64> {
    let gram = x * x.transpose();
    let n = gram.nrows();
    match kernel {
        KpcaKernel::Linear => gram,
        KpcaKernel::Sigmoid => gram.map(|d| (gamma * d + COEF0).tanh()),
        KpcaKernel::Poly => gram.map(|d| (gamma * d + COEF0).powi(DEGREE)),
        KpcaKernel::Rbf => DMatrix::from_fn(n, n, |i, j| {
            // euclidean_distances: |x|² - 2⟨x, y⟩ + |y|², clipped at 0, exactly 0 on the
            // diagonal.
            let d = if i == j {
                0.0
            } else {
                (gram[(i, i)] - 2.0 * gram[(i, j)] + gram[(j, j)]).max(0.0)
            };
            (-gamma * d).exp()
        }),
        KpcaKernel::Cosine => {
            // normalize(x) then the dot product; a zero row stays zero.
            let norms: Vec<f64> = (0..n)
                .map(|i| {
                    let s = gram[(i, i)].sqrt();
                    if s == 0.0 { 1.0 } else { s }
                })
                .collect();
            DMatrix::from_fn(n, n, |i, j| gram[(i, j)] / (norms[i] * norms[j]))
        }
    }
}

/// `KernelCenterer`: `K − column means − row means + overall mean`.
fn centre(k: &mut DMatrix<f64>) {
    let n = k.nrows();
    let column_means: Vec<f64> = (0..n).map(|j| k.column(j).sum() / n as f64).collect();
    let row_means: Vec<f64> = (0..n).map(|i| k.row(i).sum() / n as f64).collect();
    let all = column_means.iter().sum::<f64>() / n as f64;
    for i in 0..n {
        for j in 0..n {
            k[(i, j)] += all - column_means[j] - row_means[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel's projection against scikit-learn 1.9.1
    /// `KernelPCA(n_components=1, kernel=k).fit_transform(x - x.mean(0))[:, 0]` (float64, its
    /// default gamma 1/3, coef0 1, degree 3).
    #[test]
    fn kernels_match_scikit_learn() {
        // x (4 positions × 3 channels), stored channel-major as whycam's layers are.
        let x = [
            [0.5f32, 1.0, -0.25],
            [2.0, 0.0, 1.0],
            [-1.0, 0.5, 0.0],
            [0.0, -2.0, 0.75],
        ];
        let a: Vec<f32> = (0..3).flat_map(|c| x.iter().map(move |r| r[c])).collect();
        let expected: [(KpcaKernel, [f64; 4]); 5] = [
            (
                KpcaKernel::Sigmoid,
                [
                    -0.4311072287959828,
                    0.40918842339475897,
                    -0.47309413488714336,
                    0.4950129402883671,
                ],
            ),
            (
                KpcaKernel::Rbf,
                [
                    -0.48042243705488225,
                    0.3175668571693105,
                    -0.5288588939864587,
                    0.6917144738720313,
                ],
            ),
            (
                KpcaKernel::Poly,
                [
                    -0.8507696249640588,
                    -1.1151788046918936,
                    -0.8006269025109342,
                    2.7665753321668873,
                ],
            ),
            (
                KpcaKernel::Linear,
                [
                    -1.1858044787854567,
                    0.6027526237096825,
                    -1.095480284966663,
                    1.678532140042439,
                ],
            ),
            (
                KpcaKernel::Cosine,
                [
                    -0.7566786964020399,
                    0.5946773654379053,
                    -0.7033417050421671,
                    0.8653430360063014,
                ],
            ),
        ];
        for (kernel, theirs) in expected {
            let ours = kernel_projection(&a, 3, kernel, 1.0 / 3.0).unwrap();
            for (o, t) in ours.iter().zip(theirs) {
                assert!((o - t).abs() < 1e-9, "{kernel}: {ours:?} vs {theirs:?}");
            }
        }
    }

    /// Above 200 positions the Lanczos eigenpair is the dense one.
    #[test]
    fn lanczos_agrees_with_the_dense_decomposition() {
        let n = 300;
        let c = 12;
        let a: Vec<f32> = (0..n * c)
            .map(|i| ((i * 7919 % 1009) as f32 / 100.0).sin())
            .collect();
        let mut x = DMatrix::<f64>::zeros(n, c);
        for (i, v) in a.iter().enumerate() {
            x[(i % n, i / n)] = f64::from(*v);
        }
        let mut k = kernel_matrix(&x, KpcaKernel::Sigmoid, 1.0 / c as f64);
        centre(&mut k);
        let (lv, ll) = lanczos_top(&k).expect("converges");
        let (dv, dl) = dense_top(k);
        assert!((ll - dl).abs() < 1e-9 * dl.abs(), "{ll} vs {dl}");
        let sign = lv.dot(&dv).signum();
        let diff = (lv * sign - dv).amax();
        assert!(diff < 1e-8, "{diff}");
    }

    #[test]
    fn kernels_parse_and_zeros_give_zeros() {
        assert_eq!("RBF".parse::<KpcaKernel>().unwrap(), KpcaKernel::Rbf);
        assert_eq!(
            "polynomial".parse::<KpcaKernel>().unwrap(),
            KpcaKernel::Poly
        );
        let e = "laplacian".parse::<KpcaKernel>().unwrap_err().to_string();
        assert!(e.contains("sigmoid, rbf"), "{e}");
        for kernel in KpcaKernel::ALL {
            let p = kernel_projection(&[0.0; 8], 2, kernel, 0.5).unwrap();
            assert!(p.iter().all(|v| *v == 0.0), "{kernel}: {p:?}");
        }
    }
}
