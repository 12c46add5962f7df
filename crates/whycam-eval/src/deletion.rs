//! Deletion and Insertion (Petsiuk et al. 2018, "RISE: Randomized Input Sampling for Explanation
//! of Black-box Models", arXiv:1806.07421, section 4.1), as torchcam 0.5.0
//! `torchcam/metrics.py::DeletionInsertionMetric` computes them (steps 20, baseline `None`).
//!
//! ```text
//! order      = pixels sorted by map value, highest first, ties in raster order (stable sort)
//! rank(i)    = position of pixel i in that order
//! N          = h·w,  step = ceil(N / steps),  counts = 0, step, 2·step, … (< N), then N
//! fraction_k = counts_k / N                                       (computed in f32, as torchcam)
//! deletion_k  = score(x where rank ≥ counts_k, 0 elsewhere)       deletion_0 = p
//! insertion_k = score(x where rank < counts_k, 0 elsewhere)       insertion_last = p
//! AUC        = Σ_k (fraction_{k+1} − fraction_k) · (c_k + c_{k+1}) / 2     (torch.trapezoid)
//! ```
//!
//! The baseline is zero in the NORMALISED space (the dataset mean, not black) and the mask is
//! shared by the channels. With N = 224² and 20 steps: step 2509, 21 points, the last interval
//! shorter (0.95 → 1). The all-baseline input is scored once for deletion's last point and
//! insertion's first; the unperturbed input is not scored (its score is given), so a curve of
//! `K` points costs `2K − 3` inputs. A constant map ranks the pixels in raster order: the value
//! is defined, and measures the model's sensitivity to top-to-bottom occlusion.

use crate::{Chw, EvalError, Map, Result, score_batch};

/// torchcam's default steps.
pub const DEFAULT_STEPS: usize = 20;

/// The most perturbed inputs sent to the scorer in one call (torchcam's default batch size).
pub const MAX_BATCH: usize = 32;

/// Both curves and their areas for one image.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionInsertion {
    /// The fraction of pixels removed (deletion) or restored (insertion) at each point.
    pub fractions: Vec<f32>,
    /// Scores as the most relevant pixels are replaced by the baseline.
    pub deletion: Vec<f32>,
    /// Scores as the most relevant pixels are restored onto the baseline.
    pub insertion: Vec<f32>,
    /// Trapezoid area under `deletion` (lower is better).
    pub deletion_auc: f32,
    /// Trapezoid area under `insertion` (higher is better).
    pub insertion_auc: f32,
}

/// The pixel counts at which the curves are sampled: `0, step, 2·step, … < n`, then `n`.
pub fn counts(pixels: usize, steps: usize) -> Vec<usize> {
    let step = pixels.div_ceil(steps);
    (0..pixels).step_by(step).chain([pixels]).collect()
}

/// Each pixel's rank when sorted by map value, highest first, ties in raster order.
pub fn ranks(map: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..map.len()).collect();
    // A stable sort keeps equal values in raster order, as torch.argsort(stable=True).
    order.sort_by(|&a, &b| map[b].total_cmp(&map[a]));
    let mut rank = vec![0; map.len()];
    for (position, &pixel) in order.iter().enumerate() {
        rank[pixel] = position;
    }
    rank
}

/// `∫ curve d fraction` by the trapezoid rule (in f64, rounded once).
pub fn trapezoid(curve: &[f32], fractions: &[f32]) -> f32 {
    let area: f64 = curve
        .windows(2)
        .zip(fractions.windows(2))
        .map(|(c, f)| {
            (f64::from(f[1]) - f64::from(f[0])) * (f64::from(c[0]) + f64::from(c[1])) / 2.0
        })
        .sum();
    area as f32
}

/// One image's perturbed inputs, to be scored in any batches (alongside other maps' and
/// metrics'), then turned into curves by [`DeletionPlan::finish`].
#[derive(Debug, Clone)]
pub struct DeletionPlan {
    fractions: Vec<f32>,
    /// What each perturbed input is: the all-baseline input, then deletion and insertion at
    /// every interior point.
    jobs: Vec<(Curve, usize)>,
}

impl DeletionPlan {
    /// The plan and its perturbed inputs (`2K − 3` for `K` points), `steps` intervals
    /// (torchcam: 20).
    pub fn new(input: Chw<'_>, map: Map<'_>, steps: usize) -> Result<(Self, Vec<Vec<f32>>)> {
        map.check_covers(&input)?;
        if steps == 0 {
            return Err(EvalError::NoSteps);
        }
        let n = input.plane();
        let counts = counts(n, steps);
        let points = counts.len();
        let rank = ranks(map.data());
        let mut jobs = vec![(Curve::Baseline, points - 1)];
        for k in 1..points - 1 {
            jobs.push((Curve::Deletion, k));
            jobs.push((Curve::Insertion, k));
        }
        let inputs = jobs
            .iter()
            .map(|&(curve, k)| perturb(input, &rank, counts[k], curve))
            .collect();
        let fractions = counts.iter().map(|&c| c as f32 / n as f32).collect();
        Ok((Self { fractions, jobs }, inputs))
    }

    /// The curves and areas from `original` (the explained class's score on the unperturbed
    /// input) and the scores of the plan's inputs, in their order.
    pub fn finish(&self, original: f32, scores: &[f32]) -> Result<DeletionInsertion> {
        if scores.len() != self.jobs.len() {
            return Err(EvalError::ScoreCount {
                expected: self.jobs.len(),
                got: scores.len(),
            });
        }
        let points = self.fractions.len();
        let mut deletion = vec![0.0; points];
        let mut insertion = vec![0.0; points];
        deletion[0] = original;
        insertion[points - 1] = original;
        for (&(curve, k), &s) in self.jobs.iter().zip(scores) {
            match curve {
                Curve::Deletion => deletion[k] = s,
                Curve::Insertion => insertion[k] = s,
                Curve::Baseline => {
                    deletion[points - 1] = s;
                    insertion[0] = s;
                }
            }
        }
        Ok(DeletionInsertion {
            deletion_auc: trapezoid(&deletion, &self.fractions),
            insertion_auc: trapezoid(&insertion, &self.fractions),
            fractions: self.fractions.clone(),
            deletion,
            insertion,
        })
    }
}

/// Deletion and Insertion for one image, `steps` intervals (torchcam: 20), `original` the
/// explained class's score on the unperturbed input: a [`DeletionPlan`] whose inputs go to
/// `score` in calls of at most [`MAX_BATCH`].
pub fn deletion_insertion<E>(
    input: Chw<'_>,
    map: Map<'_>,
    original: f32,
    steps: usize,
    mut score: impl FnMut(&[Vec<f32>]) -> std::result::Result<Vec<f32>, E>,
) -> Result<DeletionInsertion>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (plan, inputs) = DeletionPlan::new(input, map, steps)?;
    let mut scores = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(MAX_BATCH) {
        scores.extend(score_batch(&mut score, chunk)?);
    }
    plan.finish(original, &scores)
}

#[derive(Debug, Clone, Copy)]
enum Curve {
    Deletion,
    Insertion,
    Baseline,
}

/// The input with the `count` most relevant pixels removed (deletion) or alone kept (insertion,
/// and the all-baseline input, which keeps none).
fn perturb(input: Chw<'_>, rank: &[usize], count: usize, curve: Curve) -> Vec<f32> {
    let keep = |r: usize| match curve {
        Curve::Deletion => r >= count,
        Curve::Insertion => r < count,
        Curve::Baseline => false,
    };
    input
        .data()
        .chunks_exact(input.plane())
        .flat_map(|plane| {
            plane
                .iter()
                .zip(rank)
                .map(|(&x, &r)| if keep(r) { x } else { 0.0 })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    #[test]
    fn counts_as_torchcam() {
        assert_eq!(counts(224 * 224, 20).len(), 21);
        assert_eq!(counts(224 * 224, 20)[1], 2509);
        assert_eq!(counts(224 * 224, 20)[19], 47671);
        assert_eq!(counts(10, 4), vec![0, 3, 6, 9, 10]);
        assert_eq!(counts(4, 8), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn ranks_are_stable() {
        assert_eq!(ranks(&[0.5, 1.0, 0.5, 0.0, 1.0]), vec![2, 0, 3, 4, 1]);
        assert_eq!(ranks(&[0.0; 4]), vec![0, 1, 2, 3]);
    }

    #[test]
    fn trapezoid_by_hand() {
        assert_eq!(trapezoid(&[1.0, 0.0], &[0.0, 1.0]), 0.5);
        assert!((trapezoid(&[1.0, 1.0, 0.0], &[0.0, 0.25, 1.0]) - 0.625).abs() < 1e-7);
    }

    /// A 1×2×2 input whose score is the sum of the kept values: the curves can be read off.
    #[test]
    fn curves_by_hand() {
        let x = [4.0, 3.0, 2.0, 1.0];
        let m = [0.1, 0.9, 0.5, 0.0]; // order: pixel 1 (3), 2 (2), 0 (4), 3 (1)
        let mut calls = 0;
        let r = deletion_insertion(
            Chw::new(&x, [1, 2, 2]).unwrap(),
            Map::new(&m, [2, 2]).unwrap(),
            10.0,
            2,
            |batch: &[Vec<f32>]| {
                calls += 1;
                Ok::<_, Infallible>(batch.iter().map(|b| b.iter().sum()).collect())
            },
        )
        .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(r.fractions, vec![0.0, 0.5, 1.0]);
        assert_eq!(r.deletion, vec![10.0, 5.0, 0.0]);
        assert_eq!(r.insertion, vec![0.0, 5.0, 10.0]);
        assert_eq!(r.deletion_auc, 5.0);
        assert_eq!(r.insertion_auc, 5.0);
    }

    #[test]
    fn a_plan_scored_elsewhere_gives_the_same_curves() {
        let x = [4.0, 3.0, 2.0, 1.0];
        let m = [0.1, 0.9, 0.5, 0.0];
        let input = Chw::new(&x, [1, 2, 2]).unwrap();
        let map = Map::new(&m, [2, 2]).unwrap();
        let (plan, inputs) = DeletionPlan::new(input, map, 2).unwrap();
        assert_eq!(inputs.len(), 3);
        let scores: Vec<f32> = inputs.iter().map(|b| b.iter().sum()).collect();
        let r = plan.finish(10.0, &scores).unwrap();
        assert_eq!(r.deletion, vec![10.0, 5.0, 0.0]);
        assert!(matches!(
            plan.finish(10.0, &scores[..2]),
            Err(EvalError::ScoreCount {
                expected: 3,
                got: 2
            })
        ));
    }

    #[test]
    fn a_constant_map_deletes_in_raster_order() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let m = [0.0; 4];
        let r = deletion_insertion(
            Chw::new(&x, [1, 2, 2]).unwrap(),
            Map::new(&m, [2, 2]).unwrap(),
            10.0,
            4,
            |batch: &[Vec<f32>]| {
                Ok::<_, Infallible>(batch.iter().map(|b| b.iter().sum()).collect())
            },
        )
        .unwrap();
        assert_eq!(r.deletion, vec![10.0, 9.0, 7.0, 4.0, 0.0]);
        assert_eq!(r.insertion, vec![0.0, 1.0, 3.0, 6.0, 10.0]);
        assert!(r.deletion_auc.is_finite() && r.insertion_auc.is_finite());
        assert!(matches!(
            deletion_insertion(
                Chw::new(&x, [1, 2, 2]).unwrap(),
                Map::new(&m, [2, 2]).unwrap(),
                10.0,
                0,
                |_: &[Vec<f32>]| Ok::<_, Infallible>(vec![]),
            ),
            Err(EvalError::NoSteps)
        ));
    }
}
