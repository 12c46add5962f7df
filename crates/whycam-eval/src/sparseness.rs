//! Sparseness: the Gini index of a map (Chalasani et al. 2020, "Concise Explanations of Neural
//! Networks using Adversarial Training", ICML, arXiv:1810.06583; the index of Hurley & Rickard
//! 2009), as Quantus `quantus/metrics/complexity/sparseness.py` computes it, without Quantus'
//! `+ 1e-7` on every value:
//!
//! ```text
//! v = |m| sorted ascending (n values)      gini = Σ_k (2k − n − 1) v_k / (n Σ_k v_k),  k = 1..n
//! ```
//!
//! 0 when all the mass is spread evenly, (n − 1)/n when one pixel holds it all. A constant map,
//! the all-zero one included (Σ v = 0, where the formula is 0/0), has sparseness 0: it singles
//! nothing out. Quantus' `+ 1e-7` gives the same 0 for the all-zero map.

/// The Gini index of `map` (any shape, any sign: absolute values are ranked).
pub fn gini(map: &[f32]) -> f32 {
    let mut v: Vec<f64> = map.iter().map(|m| f64::from(m.abs())).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let total: f64 = v.iter().sum();
    if v.is_empty() || total <= 0.0 || !total.is_finite() {
        return 0.0;
    }
    let weighted: f64 = v
        .iter()
        .enumerate()
        .map(|(k, x)| (2.0 * (k + 1) as f64 - n - 1.0) * x)
        .sum();
    (weighted / (n * total)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        assert_eq!(gini(&[0.0, 0.0, 0.0, 1.0]), 0.75);
        assert_eq!(gini(&[0.5; 8]), 0.0);
        assert_eq!(gini(&[0.0; 8]), 0.0);
        assert_eq!(gini(&[]), 0.0);
        // [1, 2, 3]: (−2·1 + 0·2 + 2·3) / (3·6) = 4/18.
        assert!((gini(&[3.0, 1.0, 2.0]) - 4.0 / 18.0).abs() < 1e-7);
        // Signs do not matter.
        assert_eq!(gini(&[-1.0, 0.0, 0.0, 0.0]), 0.75);
    }
}
