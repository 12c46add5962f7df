//! Deep Feature Factorization (Collins, Achanta and Süsstrunk, "Deep Feature Factorization for
//! Concept Discovery", ECCV 2018): a layer's activations of one or more images, as a
//! `channels × (batch·h·w)` matrix, factorised by non-negative matrix factorisation into `k`
//! concepts (`channels × k`, what each concept looks like to the network) and `k` maps per
//! image (where each concept is).
//!
//! Matches pytorch-grad-cam 1.5.7's `feature_factorization/deep_feature_factorization.py`
//! (`dff()` and `DeepFeatureFactorization.__call__`): NaN activations become 0, each channel is
//! shifted by its minimum, and the matrix goes to scikit-learn's
//! `NMF(n_components=k, init='random', random_state=0)`, whose solver ([`nmf`]) is reproduced
//! here from scikit-learn 1.9's `_nmf.py` (`_fit_coordinate_descent`) and `_cdnmf_fast.pyx`
//! (`_update_cdnmf_fast`): cyclic coordinate descent on the Frobenius loss, no regularisation,
//! the same stopping rule, in `f64`. Its random start can be scikit-learn's own draws
//! ([`NmfInit::ScikitLearn`], numpy's `RandomState` replayed bit for bit), so whycam finds the
//! reference's concepts, not merely equally good ones. The concepts are the NMF's `W` plus the
//! channel offsets; scoring them with the classifier (pytorch-grad-cam's
//! `computation_on_concepts`) is the caller's, and [`concept_legend`] turns those scores into
//! `create_labels_legend`'s top classes.

use crate::error::{CamError, Result};
use crate::plane::Plane;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Where the NMF's random start `(W0, H0)` comes from. Every random start is scikit-learn's
/// `init='random'`: standard normal draws, `H0` (`k × cols`) first and then `W0` (`rows × k`),
/// scaled by `sqrt(mean(X) / k)` and made non-negative with `abs`.
#[derive(Debug, Clone, PartialEq)]
pub enum NmfInit {
    /// numpy's `RandomState(seed)` (MT19937 and its legacy polar Gaussian), drawn exactly as
    /// scikit-learn's `random_state=seed` draws: pytorch-grad-cam's DFF uses seed 0.
    ScikitLearn(u32),
    /// whycam's seeded generator (ChaCha8), for a start independent of numpy's.
    Seeded(u64),
    /// A given start: `w` is `rows × k` and `h` is `k × cols`, row-major, non-negative.
    Given {
        /// `W0`, `rows × k`.
        w: Vec<f64>,
        /// `H0`, `k × cols`.
        h: Vec<f64>,
    },
}

impl Default for NmfInit {
    /// pytorch-grad-cam's: scikit-learn's draws with `random_state=0`.
    fn default() -> Self {
        Self::ScikitLearn(0)
    }
}

/// The solver's stopping rule, scikit-learn's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NmfOptions {
    /// Stop once the sweep's projected-gradient violation falls to `tol` times the first one's.
    pub tol: f64,
    /// At most this many sweeps (each updates `W`, then `H`).
    pub max_iter: usize,
}

impl Default for NmfOptions {
    fn default() -> Self {
        Self {
            tol: 1e-4,
            max_iter: 200,
        }
    }
}

/// A non-negative factorisation `X ≈ W H`.
#[derive(Debug, Clone, PartialEq)]
pub struct Nmf {
    /// `rows × k`, row-major.
    pub w: Vec<f64>,
    /// `k × cols`, row-major.
    pub h: Vec<f64>,
    /// Rows of `X`.
    pub rows: usize,
    /// Columns of `X`.
    pub cols: usize,
    /// Components.
    pub k: usize,
    /// Sweeps done (scikit-learn's `n_iter_`).
    pub n_iter: usize,
    /// Whether the stopping rule was met before `max_iter` sweeps (scikit-learn warns otherwise).
    pub converged: bool,
    /// `‖X − W H‖_F`, scikit-learn's `reconstruction_err_`.
    pub reconstruction_err: f64,
}

/// `‖X − W H‖_F` for `x` (`rows × cols`), `w` (`rows × k`) and `h` (`k × cols`) of matching
/// sizes: scikit-learn's `reconstruction_err_`.
fn frobenius_error(x: &[f64], w: &[f64], h: &[f64], cols: usize, k: usize) -> f64 {
    let mut sum = 0.0;
    for (x_row, w_row) in x.chunks(cols).zip(w.chunks(k)) {
        for (j, &xv) in x_row.iter().enumerate() {
            let wh: f64 = (0..k).map(|r| w_row[r] * h[r * cols + j]).sum();
            sum += (xv - wh) * (xv - wh);
        }
    }
    sum.sqrt()
}

/// numpy's `RandomState`: MT19937 seeded by `init_genrand` (numpy's `mt19937_seed` for an
/// integer seed) and `legacy_gauss`, the polar method keeping its second value for the next
/// call.
struct NumpyRandomState {
    key: [u32; 624],
    pos: usize,
    gauss: Option<f64>,
}

impl NumpyRandomState {
    const N: usize = 624;
    const M: usize = 397;

    fn new(seed: u32) -> Self {
        let mut key = [0u32; Self::N];
        key[0] = seed;
        for i in 1..Self::N {
            let prev = key[i - 1];
            key[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Self {
            key,
            pos: Self::N,
            gauss: None,
        }
    }

    fn regenerate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..Self::N {
            let y = (self.key[i] & UPPER) | (self.key[(i + 1) % Self::N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.key[i] = self.key[(i + Self::M) % Self::N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    fn next_u32(&mut self) -> u32 {
        if self.pos == Self::N {
            self.regenerate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `legacy_double`: 53 random bits in `[0, 1)`.
    fn next_double(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `legacy_gauss`.
    fn standard_normal(&mut self) -> f64 {
        if let Some(g) = self.gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.next_double() - 1.0;
            let x2 = 2.0 * self.next_double() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.gauss = Some(f * x1);
                return f * x2;
            }
        }
    }
}

fn setting(name: &'static str, reason: String) -> CamError {
    CamError::Setting { name, reason }
}

/// The start `(W0, H0)` that `init` gives the factorisation of `x` (`rows × cols`) into `k`
/// components: `W0` is `rows × k`, `H0` is `k × cols`, both row-major.
pub fn initial_factors(
    x: &[f64],
    rows: usize,
    cols: usize,
    k: usize,
    init: &NmfInit,
) -> Result<(Vec<f64>, Vec<f64>)> {
    check_matrix(x, rows, cols, k)?;
    let draw = |normal: &mut dyn FnMut() -> f64| {
        let avg = (x.iter().sum::<f64>() / x.len() as f64 / k as f64).sqrt();
        let h: Vec<f64> = (0..k * cols).map(|_| (avg * normal()).abs()).collect();
        let w: Vec<f64> = (0..rows * k).map(|_| (avg * normal()).abs()).collect();
        (w, h)
    };
    match init {
        NmfInit::ScikitLearn(seed) => {
            let mut rng = NumpyRandomState::new(*seed);
            Ok(draw(&mut || rng.standard_normal()))
        }
        NmfInit::Seeded(seed) => {
            let mut rng = ChaCha8Rng::seed_from_u64(*seed);
            Ok(draw(&mut || StandardNormal.sample(&mut rng)))
        }
        NmfInit::Given { w, h } => {
            if w.len() != rows * k || h.len() != k * cols {
                return Err(setting(
                    "NMF start",
                    format!(
                        "W0 has {} values and H0 {}, expected {rows}×{k} and {k}×{cols}",
                        w.len(),
                        h.len()
                    ),
                ));
            }
            if w.iter().chain(h).any(|v| !(*v >= 0.0 && v.is_finite())) {
                return Err(setting(
                    "NMF start",
                    "W0 and H0 must be finite and non-negative".into(),
                ));
            }
            Ok((w.clone(), h.clone()))
        }
    }
}

fn check_matrix(x: &[f64], rows: usize, cols: usize, k: usize) -> Result<()> {
    if k == 0 {
        return Err(setting(
            "k",
            "the number of concepts must be at least 1".into(),
        ));
    }
    if rows == 0 || cols == 0 || x.len() != rows * cols {
        return Err(setting(
            "NMF matrix",
            format!("{} values for a {rows}×{cols} matrix", x.len()),
        ));
    }
    if let Some(v) = x.iter().find(|v| !(**v >= 0.0 && v.is_finite())) {
        return Err(setting(
            "NMF matrix",
            format!("the matrix must be finite and non-negative, it holds {v}"),
        ));
    }
    Ok(())
}

/// Non-negative matrix factorisation of `x` (`rows × cols`, row-major, finite, non-negative)
/// into `W` (`rows × k`) and `H` (`k × cols`), minimising `½‖X − W H‖²_F`: scikit-learn's
/// `NMF(solver='cd')` without regularisation or shuffling. Each sweep runs cyclic coordinate
/// descent over `W` (component by component, row by row, each step the exact minimiser clipped
/// at 0) and then over `H`; the sweep's violation is the sum of the absolute projected
/// gradients it met, and the solver stops after the first sweep whose violation is at most
/// `tol` times the first sweep's (or is 0 there), or after `max_iter` sweeps.
pub fn nmf(
    x: &[f64],
    rows: usize,
    cols: usize,
    k: usize,
    init: &NmfInit,
    options: &NmfOptions,
) -> Result<Nmf> {
    if options.max_iter == 0 || options.tol.is_nan() {
        return Err(setting(
            "NMF options",
            format!(
                "max_iter {} and tol {} (max_iter must be at least 1)",
                options.max_iter, options.tol
            ),
        ));
    }
    let (mut w, h) = initial_factors(x, rows, cols, k, init)?;
    // The H sweep is the W sweep of the transposed problem: H^T (cols × k) against X^T.
    let mut ht = transpose(&h, k, cols);
    let mut violation_init = 0.0;
    let mut n_iter = 0;
    let mut converged = false;
    for sweep in 1..=options.max_iter {
        n_iter = sweep;
        // W: HHt = H H^T, XHt = X H^T.
        let mut violation = update_factor(
            &mut w,
            &gram(&ht, cols, k),
            &x_times(x, rows, cols, &ht, k),
            k,
        );
        // H: W^T W, X^T W.
        violation += update_factor(
            &mut ht,
            &gram(&w, rows, k),
            &xt_times(x, rows, cols, &w, k),
            k,
        );
        if sweep == 1 {
            violation_init = violation;
        }
        if violation_init == 0.0 || violation / violation_init <= options.tol {
            converged = true;
            break;
        }
    }
    if !converged {
        // scikit-learn's ConvergenceWarning; the factors are still its factors.
        tracing::debug!(
            max_iter = options.max_iter,
            "NMF stopped at its sweep limit"
        );
    }
    let h = transpose(&ht, cols, k);
    Ok(Nmf {
        reconstruction_err: frobenius_error(x, &w, &h, cols, k),
        w,
        h,
        rows,
        cols,
        k,
        n_iter,
        converged,
    })
}

/// One coordinate-descent sweep over `factor` (`n × k`) with `hht` (`k × k`) and `xht`
/// (`n × k`) computed before it: `_update_cdnmf_fast`. Returns the violation.
fn update_factor(factor: &mut [f64], hht: &[f64], xht: &[f64], k: usize) -> f64 {
    let n = factor.len() / k;
    let mut violation = 0.0;
    for t in 0..k {
        let hess = hht[t * k + t];
        for i in 0..n {
            let row = &mut factor[i * k..(i + 1) * k];
            let mut grad = -xht[i * k + t];
            for r in 0..k {
                grad += hht[t * k + r] * row[r];
            }
            let pg = if row[t] == 0.0 { grad.min(0.0) } else { grad };
            violation += pg.abs();
            if hess != 0.0 {
                row[t] = (row[t] - grad / hess).max(0.0);
            }
        }
    }
    violation
}

/// `a^T a` for `a` (`n × k`).
fn gram(a: &[f64], n: usize, k: usize) -> Vec<f64> {
    let mut g = vec![0.0; k * k];
    for i in 0..n {
        let row = &a[i * k..(i + 1) * k];
        for r in 0..k {
            for s in 0..k {
                g[r * k + s] += row[r] * row[s];
            }
        }
    }
    g
}

/// `x b` for `x` (`rows × cols`) and `b` (`cols × k`).
fn x_times(x: &[f64], rows: usize, cols: usize, b: &[f64], k: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * k];
    out.par_chunks_mut(k).enumerate().for_each(|(i, out)| {
        for (j, &v) in x[i * cols..(i + 1) * cols].iter().enumerate() {
            for (o, &bv) in out.iter_mut().zip(&b[j * k..(j + 1) * k]) {
                *o += v * bv;
            }
        }
    });
    out
}

/// `x^T b` for `x` (`rows × cols`) and `b` (`rows × k`).
fn xt_times(x: &[f64], rows: usize, cols: usize, b: &[f64], k: usize) -> Vec<f64> {
    let mut out = vec![0.0; cols * k];
    out.par_chunks_mut(k).enumerate().for_each(|(j, out)| {
        for i in 0..rows {
            let v = x[i * cols + j];
            for (o, &bv) in out.iter_mut().zip(&b[i * k..(i + 1) * k]) {
                *o += v * bv;
            }
        }
    });
    out
}

fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; a.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = a[i * cols + j];
        }
    }
    t
}

/// A layer's activations factorised into concepts: pytorch-grad-cam's `dff()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Factorization {
    /// Concept vectors, `channels × k` row-major: the NMF's `W` plus each channel's offset (its
    /// minimum activation), so a concept is a point in the layer's own activation space.
    pub concepts: Vec<f32>,
    /// Channels.
    pub channels: usize,
    /// Concepts.
    pub k: usize,
    /// Per image, the `k` concept maps at the layer's resolution: the NMF's `H`, unscaled.
    pub maps: Vec<Vec<Plane>>,
    /// The NMF's sweeps.
    pub n_iter: usize,
    /// Whether the NMF met its stopping rule before its sweep limit.
    pub converged: bool,
    /// `‖X − W H‖_F` of the shifted activation matrix `X`.
    pub reconstruction_err: f64,
}

impl Factorization {
    /// Concept `j`'s vector (`channels` values): what the classifier scores.
    pub fn concept(&self, j: usize) -> Vec<f32> {
        (0..self.channels)
            .map(|c| self.concepts[c * self.k + j])
            .collect()
    }

    /// The concept vectors as `k` activation maps of `1 × 1`, `[k, channels, 1, 1]`
    /// row-major: a network resumed from the layer with them scores each concept (for a layer
    /// that global average pooling follows, exactly the classifier on the concept vector).
    pub fn concepts_as_maps(&self) -> Vec<f32> {
        (0..self.k).flat_map(|j| self.concept(j)).collect()
    }

    /// The maps as `DeepFeatureFactorization.__call__` returns them, without its resize to the
    /// input: per image and concept, `scale_cam_image`'s min-max scaling to `[0, 1]`.
    pub fn scaled_maps(&self) -> Vec<Vec<Plane>> {
        scale_concept_maps(&self.maps)
    }
}

/// pytorch-grad-cam's `scale_cam_image` applied to each image's concept maps, at their own
/// resolution: `(m − min) / (1e-7 + max(m − min))` per map.
pub fn scale_concept_maps(maps: &[Vec<Plane>]) -> Vec<Vec<Plane>> {
    maps.iter()
        .map(|image| {
            image
                .iter()
                .map(|m| m.clone().normalise_min_max())
                .collect()
        })
        .collect()
}

/// pytorch-grad-cam's `dff()`: `activations` (`batch × channels × h × w`, row-major) as the
/// matrix `channels × (batch·h·w)` (NaN read as 0, each channel shifted by its minimum),
/// factorised into `k` concepts by [`nmf`] with scikit-learn's defaults.
pub fn factorize(
    activations: &[f32],
    batch: usize,
    channels: usize,
    h: usize,
    w: usize,
    k: usize,
    init: &NmfInit,
) -> Result<Factorization> {
    let hw = h * w;
    if batch == 0 || channels == 0 || hw == 0 || activations.len() != batch * channels * hw {
        return Err(setting(
            "activations",
            format!(
                "{} values for {batch}×{channels}×{h}×{w} activations",
                activations.len()
            ),
        ));
    }
    if k == 0 {
        return Err(setting(
            "k",
            "the number of concepts must be at least 1".into(),
        ));
    }
    if let Some(v) = activations.iter().find(|v| v.is_infinite()) {
        return Err(setting(
            "activations",
            format!("the layer's activations hold {v}; NMF needs finite values"),
        ));
    }
    let cols = batch * hw;
    let mut x = vec![0.0f64; channels * cols];
    for b in 0..batch {
        for c in 0..channels {
            let src = &activations[(b * channels + c) * hw..(b * channels + c + 1) * hw];
            let dst = &mut x[c * cols + b * hw..c * cols + (b + 1) * hw];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = if s.is_nan() { 0.0 } else { f64::from(s) };
            }
        }
    }
    let mut offsets = Vec::with_capacity(channels);
    for row in x.chunks_mut(cols) {
        let min = row.iter().copied().fold(f64::INFINITY, f64::min);
        for v in row.iter_mut() {
            *v -= min;
        }
        offsets.push(min);
    }
    let factors = nmf(&x, channels, cols, k, init, &NmfOptions::default())?;
    let concepts = factors
        .w
        .chunks(k)
        .zip(&offsets)
        .flat_map(|(row, offset)| row.iter().map(move |v| (v + offset) as f32))
        .collect();
    let maps = (0..batch)
        .map(|b| {
            (0..k)
                .map(|j| {
                    let row = &factors.h[j * cols + b * hw..j * cols + (b + 1) * hw];
                    Plane::new(h, w, row.iter().map(|&v| v as f32).collect())
                })
                .collect()
        })
        .collect();
    Ok(Factorization {
        concepts,
        channels,
        k,
        maps,
        n_iter: factors.n_iter,
        converged: factors.converged,
        reconstruction_err: factors.reconstruction_err,
    })
}

/// Each concept's `top` classes with their probabilities, as pytorch-grad-cam's
/// `run_dff_on_image` and `create_labels_legend` make its legend: a softmax over the classes of
/// `concept_scores` (`k × classes` row-major, the classifier's logits for each concept), then the
/// classes by decreasing probability (`np.argsort(...)[:, ::-1]`, so of two equal
/// probabilities the higher class index comes first).
pub fn concept_legend(
    concept_scores: &[f32],
    classes: usize,
    top: usize,
) -> Result<Vec<Vec<(usize, f32)>>> {
    if classes == 0 || concept_scores.is_empty() || !concept_scores.len().is_multiple_of(classes) {
        return Err(setting(
            "concept scores",
            format!(
                "{} scores is not a whole number of rows of {classes} classes",
                concept_scores.len()
            ),
        ));
    }
    if let Some(v) = concept_scores.iter().find(|v| !v.is_finite()) {
        return Err(setting(
            "concept scores",
            format!("the classifier's scores must be finite, got {v}"),
        ));
    }
    Ok(concept_scores
        .chunks(classes)
        .map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp()).collect();
            let total: f64 = exp.iter().sum();
            let mut order: Vec<usize> = (0..classes).collect();
            order.sort_by(|&a, &b| exp[b].total_cmp(&exp[a]).then(b.cmp(&a)));
            order
                .into_iter()
                .take(top)
                .map(|c| (c, (exp[c] / total) as f32))
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `rows × cols` non-negative matrix of rank `rank` (plus `noise`), deterministic.
    fn low_rank(rows: usize, cols: usize, rank: usize, noise: f64) -> Vec<f64> {
        let mut rng = NumpyRandomState::new(7);
        let a: Vec<f64> = (0..rows * rank).map(|_| rng.next_double()).collect();
        let b: Vec<f64> = (0..rank * cols).map(|_| rng.next_double()).collect();
        (0..rows * cols)
            .map(|n| {
                let (i, j) = (n / cols, n % cols);
                let v: f64 = (0..rank).map(|r| a[i * rank + r] * b[r * cols + j]).sum();
                v + noise * rng.next_double()
            })
            .collect()
    }

    fn objective(x: &[f64], w: &[f64], h: &[f64], cols: usize, k: usize) -> f64 {
        frobenius_error(x, w, h, cols, k)
    }

    #[test]
    fn numpy_random_state_draws_as_numpy() {
        // np.random.RandomState(0).standard_normal(3); .randint(0, 2**32) twice.
        let mut rng = NumpyRandomState::new(0);
        let draws: Vec<f64> = (0..3).map(|_| rng.standard_normal()).collect();
        let expected = [
            1.764_052_345_967_664,
            0.400_157_208_367_223_3,
            0.978_737_984_105_739_2,
        ];
        for (d, e) in draws.iter().zip(expected) {
            assert!((d - e).abs() < 1e-15, "{draws:?}");
        }
        let mut rng = NumpyRandomState::new(0);
        assert_eq!(
            [rng.next_u32(), rng.next_u32()],
            [2_357_136_044, 2_546_248_239]
        );
    }

    #[test]
    fn nmf_reduces_the_objective_and_stays_non_negative() {
        let (rows, cols, k) = (30, 20, 3);
        let x = low_rank(rows, cols, 3, 0.05);
        for init in [NmfInit::ScikitLearn(0), NmfInit::Seeded(3)] {
            let (w0, h0) = initial_factors(&x, rows, cols, k, &init).unwrap();
            let start = objective(&x, &w0, &h0, cols, k);
            let f = nmf(&x, rows, cols, k, &init, &NmfOptions::default()).unwrap();
            let end = f.reconstruction_err;
            assert!(end < 0.2 * start, "{init:?}: {start} -> {end}");
            assert!(f.w.iter().chain(&f.h).all(|v| *v >= 0.0));
            assert!(f.n_iter > 1, "{init:?}: {} sweeps", f.n_iter);
            // Each sweep is a descent step: more sweeps never do worse.
            let short = NmfOptions {
                tol: 0.0,
                max_iter: 3,
            };
            let g = nmf(&x, rows, cols, k, &init, &short).unwrap();
            assert!(g.reconstruction_err >= end - 1e-12);
            assert_eq!(g.n_iter, 3);
            assert!(!g.converged);
        }
    }

    #[test]
    fn exact_low_rank_is_recovered() {
        let (rows, cols) = (12, 10);
        let x = low_rank(rows, cols, 2, 0.0);
        let options = NmfOptions {
            tol: 1e-12,
            max_iter: 5000,
        };
        let f = nmf(&x, rows, cols, 2, &NmfInit::ScikitLearn(0), &options).unwrap();
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(
            f.reconstruction_err < 1e-4 * norm,
            "{}",
            f.reconstruction_err
        );
    }

    #[test]
    fn more_components_than_rank_work() {
        // k = 6 on a rank-2 matrix with 5 columns: k exceeds both the rank and min(rows, cols),
        // which scikit-learn allows with the random start.
        let (rows, cols) = (8, 5);
        let x = low_rank(rows, cols, 2, 0.0);
        let f = nmf(
            &x,
            rows,
            cols,
            6,
            &NmfInit::ScikitLearn(0),
            &NmfOptions::default(),
        )
        .unwrap();
        assert_eq!((f.w.len(), f.h.len()), (rows * 6, 6 * cols));
        assert!(f.w.iter().chain(&f.h).all(|v| v.is_finite() && *v >= 0.0));
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(f.reconstruction_err < 0.05 * norm);
    }

    #[test]
    fn a_constant_matrix_stops_at_once() {
        // All activations equal: after the shift X = 0, the start is 0 and nothing moves.
        let acts = vec![2.5f32; 2 * 3 * 4];
        let f = factorize(&acts, 2, 3, 2, 2, 2, &NmfInit::default()).unwrap();
        assert_eq!(f.n_iter, 1);
        assert!(f.concepts.iter().all(|&v| v == 2.5));
        assert!(
            f.scaled_maps()
                .iter()
                .flatten()
                .all(|m| m.data.iter().all(|&v| v == 0.0))
        );
    }

    #[test]
    fn factorize_lays_out_concepts_and_maps() {
        let (batch, channels, h, w, k) = (2, 5, 3, 4, 3);
        let mut rng = NumpyRandomState::new(1);
        let acts: Vec<f32> = (0..batch * channels * h * w)
            .map(|_| rng.standard_normal() as f32)
            .collect();
        let f = factorize(&acts, batch, channels, h, w, k, &NmfInit::default()).unwrap();
        assert_eq!(f.concepts.len(), channels * k);
        assert_eq!(f.maps.len(), batch);
        assert!(f.maps.iter().all(|m| m.len() == k));
        assert!(f.maps[1].iter().all(|p| (p.height, p.width) == (h, w)));
        // Rebuilding the activations: concept c of each map, plus the offset, approximates them,
        // which is what reconstruction_err measures.
        let mut err = 0.0f64;
        for b in 0..batch {
            for c in 0..channels {
                let offset = (0..batch * h * w)
                    .map(|n| acts[((n / (h * w)) * channels + c) * h * w + n % (h * w)])
                    .fold(f32::INFINITY, f32::min);
                for p in 0..h * w {
                    let v: f64 = (0..k)
                        .map(|j| {
                            f64::from(f.concepts[c * k + j] - offset)
                                * f64::from(f.maps[b][j].data[p])
                        })
                        .sum();
                    let d = v + f64::from(offset) - f64::from(acts[(b * channels + c) * h * w + p]);
                    err += d * d;
                }
            }
        }
        assert!(
            (err.sqrt() - f.reconstruction_err).abs() < 1e-5,
            "{} vs {}",
            err.sqrt(),
            f.reconstruction_err
        );
        let scaled = f.scaled_maps();
        for m in scaled.iter().flatten() {
            let max = m.data.iter().copied().fold(0.0, f32::max);
            assert!(m.data.iter().all(|&v| (0.0..=1.0).contains(&v)));
            assert!(max > 0.99 || max == 0.0, "{max}");
        }
        assert_eq!(f.concepts_as_maps().len(), k * channels);
        assert_eq!(f.concept(1)[2], f.concepts[2 * k + 1]);
    }

    #[test]
    fn nan_activations_count_as_zero() {
        let (batch, channels, h, w, k) = (1, 4, 3, 3, 2);
        let mut rng = NumpyRandomState::new(2);
        let mut acts: Vec<f32> = (0..batch * channels * h * w)
            .map(|_| rng.next_double() as f32 + 0.5)
            .collect();
        acts[5] = f32::NAN;
        acts[20] = f32::NAN;
        let with_nan = factorize(&acts, batch, channels, h, w, k, &NmfInit::default()).unwrap();
        acts[5] = 0.0;
        acts[20] = 0.0;
        let with_zero = factorize(&acts, batch, channels, h, w, k, &NmfInit::default()).unwrap();
        assert_eq!(with_nan, with_zero);
        // The zeros are the channels' minima: their offsets are 0.
        assert!(with_nan.concepts.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn bad_inputs_are_refused() {
        let acts = vec![1.0f32; 2 * 3 * 3];
        let err = factorize(&acts, 2, 1, 3, 3, 0, &NmfInit::default()).unwrap_err();
        assert!(err.to_string().contains("k"), "{err}");
        assert!(factorize(&acts, 2, 2, 3, 3, 2, &NmfInit::default()).is_err());
        assert!(factorize(&[], 0, 1, 1, 1, 1, &NmfInit::default()).is_err());
        let mut inf = acts.clone();
        inf[3] = f32::INFINITY;
        assert!(factorize(&inf, 2, 1, 3, 3, 1, &NmfInit::default()).is_err());
        let x = vec![1.0; 6];
        let given = NmfInit::Given {
            w: vec![1.0; 2],
            h: vec![1.0; 3],
        };
        assert!(nmf(&x, 2, 3, 1, &given, &NmfOptions::default()).is_ok());
        let short = NmfInit::Given {
            w: vec![1.0; 1],
            h: vec![1.0; 3],
        };
        assert!(nmf(&x, 2, 3, 1, &short, &NmfOptions::default()).is_err());
        let negative = NmfInit::Given {
            w: vec![1.0, -1.0],
            h: vec![1.0; 3],
        };
        assert!(nmf(&x, 2, 3, 1, &negative, &NmfOptions::default()).is_err());
        assert!(
            nmf(
                &[1.0, -1.0],
                1,
                2,
                1,
                &NmfInit::default(),
                &NmfOptions::default()
            )
            .is_err()
        );
        assert!(concept_legend(&[1.0; 5], 2, 1).is_err());
        assert!(concept_legend(&[1.0, f32::NAN], 2, 1).is_err());
    }

    #[test]
    fn legend_orders_by_probability() {
        let scores = [0.0f32, 2.0, 1.0, 2.0, 5.0, -1.0, 5.0, 0.0];
        let legend = concept_legend(&scores, 4, 2).unwrap();
        assert_eq!(legend.len(), 2);
        // Concept 0: classes 1 and 3 tie at the top; the higher index comes first.
        assert_eq!(legend[0][0].0, 3);
        assert_eq!(legend[0][1].0, 1);
        let p: f64 = [0.0f64, 2.0, 1.0, 2.0].iter().map(|v| v.exp()).sum();
        assert!((f64::from(legend[0][0].1) - 2f64.exp() / p).abs() < 1e-7);
        assert_eq!(legend[1][0].0, 2);
        assert_eq!(legend[1][1].0, 0);
    }
}
