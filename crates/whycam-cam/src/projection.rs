//! The first principal component of a `C × h × w` activation tensor, as a `h × w` map: the
//! projection Eigen-CAM, EigenGrad-CAM and `--eigen-smooth` use (pytorch-grad-cam's
//! `get_2d_projection`).
//!
//! The positions are the samples and the channels the features: centre each channel over the
//! positions, then project every position onto the first right singular vector. With `n`
//! positions and `C` channels that projection equals `σ₁·u₁`, so it is computed from the
//! eigen-decomposition of whichever Gram matrix is smaller (`n × n` or `C × C`), in `f64`.
//!
//! The sign of a principal component is arbitrary (pytorch-grad-cam leaves it to LAPACK).
//! whycam fixes it: the projection is made to correlate positively with the channel sum of the
//! tensor it projects, so that Eigen-CAM highlights where the activations are large.

use crate::plane::Plane;
use nalgebra::{DMatrix, SymmetricEigen};

/// Projects `tensor` (`channels × height × width`, row-major) onto its first principal
/// component. NaNs count as zero, as in pytorch-grad-cam.
pub fn first_component(tensor: &[f32], channels: usize, height: usize, width: usize) -> Plane {
    let n = height * width;
    debug_assert_eq!(tensor.len(), channels * n);
    // x[(position, channel)], centred per channel.
    let mut x = DMatrix::<f64>::zeros(n, channels);
    for c in 0..channels {
        let plane = &tensor[c * n..(c + 1) * n];
        let clean = |v: f32| if v.is_nan() { 0.0 } else { f64::from(v) };
        let mean = plane.iter().map(|&v| clean(v)).sum::<f64>() / n as f64;
        for (p, &v) in plane.iter().enumerate() {
            x[(p, c)] = clean(v) - mean;
        }
    }
    let projection: Vec<f64> = if n <= channels {
        // u₁ of x: the top eigenvector of x·xᵀ, scaled by σ₁ = sqrt(λ₁).
        let gram = &x * x.transpose();
        let (vector, value) = top_eigenpair(gram);
        let sigma = value.max(0.0).sqrt();
        vector.iter().map(|v| v * sigma).collect()
    } else {
        // v₁: the top eigenvector of xᵀ·x; the projection is x·v₁.
        let gram = x.transpose() * &x;
        let (vector, _) = top_eigenpair(gram);
        (&x * vector).iter().copied().collect()
    };
    let channel_sum: Vec<f64> = (0..n).map(|p| x.row(p).sum()).collect();
    let correlation: f64 = projection
        .iter()
        .zip(&channel_sum)
        .map(|(a, b)| a * b)
        .sum();
    let sign = if correlation < 0.0 { -1.0 } else { 1.0 };
    Plane::new(
        height,
        width,
        projection.iter().map(|v| (sign * v) as f32).collect(),
    )
}

/// The eigenvector of the largest eigenvalue of a symmetric matrix, and that eigenvalue.
fn top_eigenpair(gram: DMatrix<f64>) -> (nalgebra::DVector<f64>, f64) {
    let eigen = SymmetricEigen::new(gram);
    let (index, value) = eigen.eigenvalues.iter().copied().enumerate().fold(
        (0, f64::NEG_INFINITY),
        |best, (i, v)| {
            if v > best.1 { (i, v) } else { best }
        },
    );
    (eigen.eigenvectors.column(index).into_owned(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Channels that are all multiples of one pattern: the first component is that pattern
    /// (centred), scaled by the norm of the multipliers, with the sign of the channel sum.
    #[test]
    fn rank_one_tensor_projects_onto_its_pattern() {
        let pattern = [1.0f32, 2.0, 3.0, 6.0];
        let centred: Vec<f32> = pattern.iter().map(|p| p - 3.0).collect();
        // 5 channels ≥ 4 positions: the n × n branch; 3 channels < 4 positions: the C × C one.
        for multipliers in [&[1.0f32, -0.5, 2.0, 0.5, 1.0][..], &[-1.0, 0.5, -2.0]] {
            let tensor: Vec<f32> = multipliers
                .iter()
                .flat_map(|m| pattern.iter().map(move |p| m * p))
                .collect();
            let norm = multipliers.iter().map(|m| m * m).sum::<f32>().sqrt();
            let sign = multipliers.iter().sum::<f32>().signum();
            let p = first_component(&tensor, multipliers.len(), 2, 2);
            for (a, b) in p.data.iter().zip(&centred) {
                assert!((a - sign * b * norm).abs() < 1e-4, "{:?}", p.data);
            }
        }
    }

    #[test]
    fn nan_counts_as_zero_and_zeros_give_zeros() {
        let p = first_component(&[f32::NAN, 0.0, 0.0, 0.0], 1, 2, 2);
        assert_eq!(p.data, [0.0; 4]);
    }
}
