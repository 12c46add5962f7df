//! ROAD, RemOve And Debias (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy
//! for Attribution Methods", ICML, arXiv:2202.00449), with its noisy linear imputation, as
//! pytorch-grad-cam 1.5.7 `pytorch_grad_cam/metrics/road.py` (taken from the authors'
//! `road_evaluation/imputations.py`) and `perturbation_confidence.py` compute it.
//!
//! For a percentile `q` (pytorch-grad-cam averages q = 10, 20, …, 90):
//!
//! ```text
//! MoRF: t = percentile(m, q),     known = m < t          (strict; the rest is imputed)
//! LeRF: t = percentile(1 − m, q), known = (1 − m) < t    (1 − m in f32)
//! percentile = numpy's default "linear": sorted v, i = (n − 1)·q/100, lerp of v[⌊i⌋], v[⌊i⌋+1]
//!              in f32, as numpy computes it for an f32 array
//! score_q = score(imputed) − p                 morf = mean_q score_q,  lerf likewise
//! combined = (lerf − morf) / 2                 (pytorch-grad-cam's ROADCombined)
//! ```
//!
//! So "MoRF at 10" imputes the 90 % most relevant pixels, keeping the 10 % least relevant.
//!
//! Imputation, per channel in the normalised space: every imputed pixel is the weighted mean of
//! its in-image 8 neighbours, known ones entering as constants, with weights 1/6 for the four
//! edge neighbours and 1/12 for the four diagonal ones:
//!
//! ```text
//! for each imputed i:  (Σ_{j ∈ N(i)} w_ij) v_i − Σ_{j ∈ N(i), imputed} w_ij v_j = Σ_{j ∈ N(i), known} w_ij x_j
//! ```
//!
//! pytorch-grad-cam builds this system (negated) as a scipy `lil_matrix` and solves it with
//! `spsolve` (SuperLU) in f64, casts the solution to f32 and adds `noise · N(0, 1)` (default
//! noise 0.01). The matrix above is symmetric (w_ij = w_ji), weakly diagonally dominant and,
//! as long as every connected imputed region touches a known pixel, positive definite: a graph
//! Laplacian with Dirichlet conditions. So it is solved here exactly by a sparse Cholesky
//! factorisation (faer, already in the workspace for PCA; AMD ordering, supernodal): half the
//! work of an LU, no pivoting, and a failure to factorise can only mean a singular system.
//! That happens in one case only: when no pixel is known (a maximal imputed region whose
//! in-image neighbours are all imputed is the whole image), e.g. MoRF on a map whose q-th
//! percentile is its minimum, such as a constant map. pytorch-grad-cam's `spsolve` then
//! returns NaN; here the image is filled with 0, the normalised mean (deletion's baseline), so
//! the score is defined. With noise > 0 the noise comes from a generator seeded by the caller's
//! seed, the percentile and the ordering (not PyTorch's `randn`, so it matches only in law).

use faer::linalg::solvers::Solve;
use faer::sparse::{SparseColMat, Triplet};
use faer::{Mat, Side};
use rayon::prelude::*;

use crate::{Chw, EvalError, Map, Result, score_batch};

/// pytorch-grad-cam's percentiles.
pub const DEFAULT_PERCENTILES: [f64; 9] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0];

/// pytorch-grad-cam's `NoisyLinearImputer` noise (absolute, in normalised units).
pub const DEFAULT_NOISE: f32 = 0.01;

/// The 8 neighbours `(row offset, column offset, weight)` of pytorch-grad-cam's
/// `neighbors_weights`.
pub const NEIGHBOURS: [(isize, isize, f64); 8] = [
    (1, 1, 1.0 / 12.0),
    (0, 1, 1.0 / 6.0),
    (-1, 1, 1.0 / 12.0),
    (1, -1, 1.0 / 12.0),
    (0, -1, 1.0 / 6.0),
    (-1, -1, 1.0 / 12.0),
    (1, 0, 1.0 / 6.0),
    (-1, 0, 1.0 / 6.0),
];

/// Which pixels go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Most relevant first: the pixels with the highest map values are imputed.
    MostRelevantFirst,
    /// Least relevant first: the pixels with the lowest map values are imputed.
    LeastRelevantFirst,
}

/// ROAD's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RoadOptions {
    /// Percentiles in (0, 100), each one imputed input per ordering.
    pub percentiles: Vec<f64>,
    /// Standard deviation of the Gaussian noise added to imputed values (0: none).
    pub noise: f32,
    /// Seed of the noise.
    pub seed: u64,
}

impl Default for RoadOptions {
    fn default() -> Self {
        Self {
            percentiles: DEFAULT_PERCENTILES.to_vec(),
            noise: DEFAULT_NOISE,
            seed: 0,
        }
    }
}

/// ROAD's values for one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Road {
    /// `score(imputed) − p` per percentile, most relevant first (lower is better).
    pub morf_scores: Vec<f32>,
    /// The same, least relevant first (higher is better).
    pub lerf_scores: Vec<f32>,
    /// Mean of `morf_scores`.
    pub morf: f32,
    /// Mean of `lerf_scores`.
    pub lerf: f32,
    /// `(lerf − morf) / 2` (higher is better).
    pub combined: f32,
}

/// numpy's `percentile(values, q)` (method "linear") for an f32 array, f32 arithmetic included.
pub fn percentile(values: &[f32], q: f64) -> f32 {
    let mut v = values.to_vec();
    v.sort_by(f32::total_cmp);
    let n = v.len();
    let virtual_index = (n - 1) as f64 * (q / 100.0);
    if virtual_index <= 0.0 {
        return v[0];
    }
    if virtual_index >= (n - 1) as f64 {
        return v[n - 1];
    }
    let below = virtual_index.floor();
    let gamma = virtual_index - below;
    let (a, b) = (v[below as usize], v[below as usize + 1]);
    let d = b - a;
    // numpy's _lerp: from the nearer end, the weight rounded to f32.
    if gamma >= 0.5 {
        b - d * (1.0 - gamma) as f32
    } else {
        a + d * gamma as f32
    }
}

/// The pixels kept (not imputed) at percentile `q` for `order`.
pub fn known_pixels(map: &[f32], q: f64, order: Order) -> Vec<bool> {
    let ranked: Vec<f32> = match order {
        Order::MostRelevantFirst => map.to_vec(),
        Order::LeastRelevantFirst => map.iter().map(|m| 1.0 - m).collect(),
    };
    let t = percentile(&ranked, q);
    ranked.iter().map(|&v| v < t).collect()
}

/// Noisy linear imputation of `input` where `known` is false (see the module docs); `noise`
/// standard deviations of Gaussian noise drawn from `seed`.
pub fn impute(input: Chw<'_>, known: &[bool], noise: f32, seed: u64) -> Result<Vec<f32>> {
    let (h, w, plane) = (input.height(), input.width(), input.plane());
    if known.len() != plane {
        return Err(EvalError::Shape {
            what: "ROAD mask",
            expected: format!("{h}×{w} values"),
            got: format!("{} values", known.len()),
        });
    }
    let mut out = input.data().to_vec();
    // Variable index of each imputed pixel, in raster order.
    let mut variable = vec![usize::MAX; plane];
    let mut imputed = Vec::new();
    for (i, &k) in known.iter().enumerate() {
        if !k {
            variable[i] = imputed.len();
            imputed.push(i);
        }
    }
    let n = imputed.len();
    if n == 0 {
        return Ok(out);
    }
    if n == plane {
        // Nothing known: the system is singular (see the module docs); the baseline instead.
        out.iter_mut().for_each(|v| *v = 0.0);
        return Ok(out);
    }
    let channels = input.channels();
    let x = input.data();
    let mut triplets = Vec::with_capacity(5 * n);
    let mut rhs = Mat::<f64>::zeros(n, channels);
    for (row, &pixel) in imputed.iter().enumerate() {
        let (r, c) = ((pixel / w) as isize, (pixel % w) as isize);
        let mut diagonal = 0.0;
        for &(dr, dc, weight) in &NEIGHBOURS {
            let (nr, nc) = (r + dr, c + dc);
            if nr < 0 || nc < 0 || nr >= h as isize || nc >= w as isize {
                continue;
            }
            diagonal += weight;
            let neighbour = nr as usize * w + nc as usize;
            if known[neighbour] {
                for ch in 0..channels {
                    rhs[(row, ch)] += weight * f64::from(x[ch * plane + neighbour]);
                }
            } else if variable[neighbour] < row {
                // The lower triangle only: Cholesky reads no other (the matrix is symmetric).
                triplets.push(Triplet::new(row, variable[neighbour], -weight));
            }
        }
        triplets.push(Triplet::new(row, row, diagonal));
    }
    let matrix =
        SparseColMat::<usize, f64>::try_new_from_triplets(n, n, &triplets).map_err(|e| {
            EvalError::Solver {
                step: "building",
                size: n,
                detail: format!("{e:?}"),
            }
        })?;
    let llt = matrix
        .sp_cholesky(Side::Lower)
        .map_err(|e| EvalError::Solver {
            step: "factorising",
            size: n,
            detail: format!("{e:?}"),
        })?;
    llt.solve_in_place(rhs.as_mut());
    let mut gaussian = Gaussian::new(seed);
    for ch in 0..channels {
        for (row, &pixel) in imputed.iter().enumerate() {
            // f32 first, then the noise, as pytorch-grad-cam adds it to the f32 solution.
            let mut v = rhs[(row, ch)] as f32;
            if noise != 0.0 {
                v += noise * gaussian.next() as f32;
            }
            out[ch * plane + pixel] = v;
        }
    }
    Ok(out)
}

/// One image's imputed inputs (MoRF at every percentile, then LeRF), to be scored in any
/// batches, then turned into [`Road`] by [`RoadPlan::finish`].
#[derive(Debug, Clone)]
pub struct RoadPlan {
    percentiles: usize,
}

impl RoadPlan {
    /// The plan and its `2 × percentiles` imputed inputs (the solves run in parallel).
    pub fn new(
        input: Chw<'_>,
        map: Map<'_>,
        options: &RoadOptions,
    ) -> Result<(Self, Vec<Vec<f32>>)> {
        map.check_covers(&input)?;
        if options.percentiles.is_empty() {
            return Err(EvalError::NoPercentiles);
        }
        if let Some(q) = options
            .percentiles
            .iter()
            .find(|q| !(**q > 0.0 && **q < 100.0))
        {
            return Err(EvalError::Percentile { percentile: *q });
        }
        if !options.noise.is_finite() || options.noise < 0.0 {
            return Err(EvalError::Noise {
                noise: options.noise,
            });
        }
        let mut jobs = Vec::new();
        for order in [Order::MostRelevantFirst, Order::LeastRelevantFirst] {
            for (k, &q) in options.percentiles.iter().enumerate() {
                jobs.push((order, k, q));
            }
        }
        // The solves are independent and each mostly sequential: one per thread.
        let inputs = jobs
            .par_iter()
            .map(|&(order, k, q)| {
                let seed = options.seed ^ ((k as u64) << 32) ^ (order as u64);
                impute(
                    input,
                    &known_pixels(map.data(), q, order),
                    options.noise,
                    seed,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let plan = Self {
            percentiles: options.percentiles.len(),
        };
        Ok((plan, inputs))
    }

    /// ROAD's values from `original` (the explained class's score on the unperturbed input)
    /// and the scores of the plan's inputs, in their order.
    pub fn finish(&self, original: f32, scores: &[f32]) -> Result<Road> {
        if scores.len() != 2 * self.percentiles {
            return Err(EvalError::ScoreCount {
                expected: 2 * self.percentiles,
                got: scores.len(),
            });
        }
        let mut morf_scores: Vec<f32> = scores.iter().map(|s| s - original).collect();
        let lerf_scores = morf_scores.split_off(self.percentiles);
        let mean =
            |s: &[f32]| (s.iter().map(|&v| f64::from(v)).sum::<f64>() / s.len() as f64) as f32;
        let (morf, lerf) = (mean(&morf_scores), mean(&lerf_scores));
        Ok(Road {
            combined: (lerf - morf) / 2.0,
            morf_scores,
            lerf_scores,
            morf,
            lerf,
        })
    }
}

/// ROAD for one image: MoRF and LeRF at every percentile, `original` the explained class's score
/// on the unperturbed input: a [`RoadPlan`] whose inputs go to `score` in calls of at most
/// [`crate::deletion::MAX_BATCH`].
pub fn road<E>(
    input: Chw<'_>,
    map: Map<'_>,
    original: f32,
    options: &RoadOptions,
    mut score: impl FnMut(&[Vec<f32>]) -> std::result::Result<Vec<f32>, E>,
) -> Result<Road>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (plan, inputs) = RoadPlan::new(input, map, options)?;
    let mut scores = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(crate::deletion::MAX_BATCH) {
        scores.extend(score_batch(&mut score, chunk)?);
    }
    plan.finish(original, &scores)
}

/// Standard normal deviates from splitmix64 and the Box–Muller transform (no extra dependency).
struct Gaussian {
    state: u64,
    spare: Option<f64>,
}

impl Gaussian {
    fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare: None,
        }
    }

    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // (0, 1]: never 0, so the logarithm below is finite.
        ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        let radius = (-2.0 * self.uniform().ln()).sqrt();
        let angle = std::f64::consts::TAU * self.uniform();
        self.spare = Some(radius * angle.sin());
        radius * angle.cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    #[test]
    fn percentile_as_numpy() {
        // np.percentile(np.float32([3, 1, 2, 4]), q) for q = 10, 50, 90, 25.
        let v = [3.0, 1.0, 2.0, 4.0];
        assert!((percentile(&v, 10.0) - 1.3).abs() < 1e-6);
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert!((percentile(&v, 90.0) - 3.7).abs() < 1e-6);
        assert_eq!(percentile(&v, 25.0), 1.75);
        assert_eq!(percentile(&[5.0], 40.0), 5.0);
    }

    #[test]
    fn known_pixels_by_order() {
        let m = [0.0, 0.25, 0.5, 1.0];
        // MoRF at 50: t = 0.375, known = m < t.
        assert_eq!(
            known_pixels(&m, 50.0, Order::MostRelevantFirst),
            vec![true, true, false, false]
        );
        // LeRF at 50 on 1 − m = [1, .75, .5, 0]: t = 0.625, known = 1 − m < t.
        assert_eq!(
            known_pixels(&m, 50.0, Order::LeastRelevantFirst),
            vec![false, false, true, true]
        );
        // Ties at the threshold are imputed: a constant map keeps nothing.
        assert_eq!(
            known_pixels(&[0.0; 4], 30.0, Order::MostRelevantFirst),
            vec![false; 4]
        );
    }

    /// One imputed pixel in the centre of a 3×3 image is the weighted mean of its neighbours.
    #[test]
    fn one_pixel_is_the_weighted_mean() {
        let x: Vec<f32> = (0..9).map(|v| v as f32 * v as f32).collect();
        let mut known = vec![true; 9];
        known[4] = false;
        let out = impute(Chw::new(&x, [1, 3, 3]).unwrap(), &known, 0.0, 0).unwrap();
        let edge = (1.0 + 9.0 + 25.0 + 49.0) / 6.0;
        let diagonal = (0.0 + 4.0 + 36.0 + 64.0) / 12.0;
        assert!(
            (out[4] - (edge + diagonal) as f32).abs() < 1e-5,
            "{}",
            out[4]
        );
        for i in (0..9).filter(|&i| i != 4) {
            assert_eq!(out[i], x[i]);
        }
    }

    /// A corner pixel's weights are renormalised over its 3 in-image neighbours; two imputed
    /// neighbours solve jointly. Checked against the closed form of the 2×2 system.
    #[test]
    fn two_unknowns_solve_jointly() {
        // 1×3 image [a, ?, ?]: v1 = a (only in-image neighbour known besides v2), v2 = v1.
        let x = [2.0, 7.0, 9.0];
        let out = impute(
            Chw::new(&x, [1, 1, 3]).unwrap(),
            &[true, false, false],
            0.0,
            0,
        )
        .unwrap();
        assert!(
            (out[1] - 2.0).abs() < 1e-6 && (out[2] - 2.0).abs() < 1e-6,
            "{out:?}"
        );
        // A linear ramp is harmonic for these weights: imputing its interior gives it back.
        let ramp: Vec<f32> = (0..5 * 5)
            .map(|i| (i % 5) as f32 + 2.0 * (i / 5) as f32)
            .collect();
        let known: Vec<bool> = (0..25)
            .map(|i| i % 5 == 0 || i % 5 == 4 || i / 5 == 0 || i / 5 == 4)
            .collect();
        let out = impute(Chw::new(&ramp, [1, 5, 5]).unwrap(), &known, 0.0, 0).unwrap();
        for (a, b) in out.iter().zip(&ramp) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn nothing_known_is_the_zero_baseline_not_nan() {
        let x = [1.0; 8];
        let out = impute(Chw::new(&x, [2, 2, 2]).unwrap(), &[false; 4], 0.0, 0).unwrap();
        assert_eq!(out, vec![0.0; 8]);
        // A constant map through the whole metric: every value finite.
        let m = [0.0; 4];
        let r = road(
            Chw::new(&x, [2, 2, 2]).unwrap(),
            Map::new(&m, [2, 2]).unwrap(),
            0.5,
            &RoadOptions::default(),
            |batch: &[Vec<f32>]| {
                Ok::<_, Infallible>(batch.iter().map(|b| b.iter().sum::<f32>() / 8.0).collect())
            },
        )
        .unwrap();
        assert!(
            r.morf.is_finite() && r.lerf.is_finite() && r.combined.is_finite(),
            "{r:?}"
        );
    }

    #[test]
    fn noise_is_seeded_and_sized() {
        let x = vec![0.0; 64 * 64];
        let known: Vec<bool> = (0..64 * 64).map(|i| i % 2 == 0).collect();
        let input = Chw::new(&x, [1, 64, 64]).unwrap();
        let a = impute(input, &known, 0.5, 7).unwrap();
        assert_eq!(a, impute(input, &known, 0.5, 7).unwrap());
        assert_ne!(a, impute(input, &known, 0.5, 8).unwrap());
        let noisy: Vec<f64> = a
            .iter()
            .zip(&known)
            .filter(|(_, k)| !**k)
            .map(|(v, _)| f64::from(*v))
            .collect();
        let sd = (noisy.iter().map(|v| v * v).sum::<f64>() / noisy.len() as f64).sqrt();
        assert!((sd - 0.5).abs() < 0.03, "{sd}");
    }

    #[test]
    fn bad_options_are_errors() {
        let x = [1.0; 4];
        let m = [0.5; 4];
        let run = |options: RoadOptions| {
            road(
                Chw::new(&x, [1, 2, 2]).unwrap(),
                Map::new(&m, [2, 2]).unwrap(),
                0.5,
                &options,
                |b: &[Vec<f32>]| Ok::<_, Infallible>(vec![0.0; b.len()]),
            )
        };
        let bad = |percentiles: Vec<f64>| RoadOptions {
            percentiles,
            ..RoadOptions::default()
        };
        assert!(matches!(run(bad(vec![])), Err(EvalError::NoPercentiles)));
        assert!(matches!(
            run(bad(vec![0.0])),
            Err(EvalError::Percentile { percentile }) if percentile == 0.0
        ));
        assert!(matches!(
            run(bad(vec![100.0])),
            Err(EvalError::Percentile { percentile }) if percentile == 100.0
        ));
        assert!(matches!(
            run(RoadOptions {
                noise: -1.0,
                ..RoadOptions::default()
            }),
            Err(EvalError::Noise { noise }) if noise == -1.0
        ));
        assert!(run(bad(vec![50.0])).is_ok());
    }
}
