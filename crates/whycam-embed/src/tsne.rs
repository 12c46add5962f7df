//! Barnes-Hut t-SNE through the `bhtsne` crate, started from a deterministic embedding so that
//! a seed gives the same picture.

use crate::error::{EmbedError, Result};
use crate::pca::Pca;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

/// Where the optimisation starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Init {
    /// The first two principal components, scaled to a standard deviation of 1e-4 along
    /// the first (scikit-learn's default `init="pca"`).
    Pca,
    /// Normal noise with standard deviation 1e-4 from the seed.
    Random,
}

/// t-SNE settings (scikit-learn's defaults).
#[derive(Debug, Clone)]
pub struct TsneConfig {
    /// Effective number of neighbours (30).
    pub perplexity: f32,
    /// Step size; `None` is scikit-learn's "auto", max(n / early exaggeration / 4, 50)
    /// (bhtsne's default too).
    pub learning_rate: Option<f32>,
    /// Gradient steps (1000).
    pub iterations: usize,
    /// Barnes-Hut accuracy (0.5).
    pub theta: f32,
    /// Starting layout.
    pub init: Init,
    /// Seed of the random start.
    pub seed: u64,
    /// Reduce to this many principal components first (0: use the features as they are).
    pub pca_dims: usize,
}

impl Default for TsneConfig {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            learning_rate: None,
            iterations: 1000,
            theta: 0.5,
            init: Init::Pca,
            seed: 0,
            pca_dims: 50,
        }
    }
}

impl TsneConfig {
    /// Checks the settings that do not depend on the data.
    pub fn validate(&self) -> Result<()> {
        if !(self.perplexity >= 1.0 && self.perplexity.is_finite()) {
            return Err(EmbedError::Perplexity {
                perplexity: self.perplexity,
            });
        }
        if let Some(lr) = self.learning_rate
            && !(lr > 0.0 && lr.is_finite())
        {
            return Err(EmbedError::LearningRate { learning_rate: lr });
        }
        if self.iterations < 250 {
            return Err(EmbedError::Iterations {
                iterations: self.iterations,
            });
        }
        if !(self.theta > 0.0 && self.theta.is_finite()) {
            return Err(EmbedError::Theta { theta: self.theta });
        }
        Ok(())
    }

    /// The fewest points this perplexity allows: more than 3 × perplexity, since every point
    /// takes its 3 × perplexity nearest neighbours into account.
    pub fn min_points(&self) -> usize {
        (3.0 * self.perplexity).floor() as usize + 2
    }
}

/// Why a perplexity needs more points, and what would do for `n`.
fn perplexity_hint(perplexity: f32, n: usize) -> String {
    // floor(3p) + 2 <= n.
    let most = (n.saturating_sub(2)) as f32 / 3.0;
    let fix = if most >= 1.0 {
        format!(
            "lower --perplexity to at most {:.1}",
            (most * 10.0).floor() / 10.0
        )
    } else {
        "t-SNE needs at least 5 points".to_string()
    };
    format!(" for perplexity {perplexity} (t-SNE needs more than 3 x perplexity points); {fix}")
}

/// A 2-D layout of the rows of `x` (`n × d`): `n × 2` values.
pub fn tsne(x: &[f32], n: usize, d: usize, config: &TsneConfig) -> Result<Vec<f32>> {
    config.validate()?;
    let needed = config.min_points();
    crate::check(x, n, d, 2)?;
    if n < needed {
        return Err(EmbedError::TooFew {
            n,
            needed,
            why: perplexity_hint(config.perplexity, n),
        });
    }
    let (data, dims) = if config.pca_dims > 0 && config.pca_dims < d.min(n) {
        let pca = Pca::fit(x, n, d, config.pca_dims)?;
        (pca.transform(x, d), config.pca_dims)
    } else {
        (x.to_vec(), d)
    };
    let init: Vec<f32> = match config.init {
        Init::Pca => {
            let pca = Pca::fit(&data, n, dims, 2.min(dims))?;
            let mut y = pca.transform(&data, dims);
            if dims == 1 {
                y = y.into_iter().flat_map(|v| [v, 0.0]).collect();
            }
            let first: Vec<f64> = y.iter().step_by(2).map(|&v| v as f64).collect();
            let mean = first.iter().sum::<f64>() / n as f64;
            let std = (first.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            y.iter().map(|&v| (v as f64 / std * 1e-4) as f32).collect()
        }
        Init::Random => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
            let normal = Normal::new(0.0f32, 1e-4).expect("a valid normal");
            (0..n * 2).map(|_| normal.sample(&mut rng)).collect()
        }
    };
    let rows: Vec<&[f32]> = data.chunks_exact(dims).collect();
    // bhtsne sums in parallel, and float sums in a different order make a different picture
    // after a thousand chaotic steps: one thread makes a seed repeat exactly.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|source| EmbedError::ThreadPool { source })?;
    Ok(pool.install(|| {
        let mut t: bhtsne::tSNE<f32, &[f32], 2> = bhtsne::tSNE::new(&rows);
        t.perplexity(config.perplexity)
            .epochs(config.iterations)
            .initial_embedding(init);
        if let Some(lr) = config.learning_rate {
            t.learning_rate(lr);
        }
        t.barnes_hut(config.theta, |a, b| {
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                .sqrt()
        });
        t.embedding()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_few_points_constant_and_nan_features_are_refused() {
        let x: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let e = tsne(&x, 20, 2, &TsneConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("20 point(s)") && e.contains("perplexity"), "{e}");
        let constant = vec![1.0f32; 200];
        let e = tsne(&constant, 100, 2, &TsneConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("same features"), "{e}");
        let mut nan: Vec<f32> = (0..200).map(|i| i as f32).collect();
        nan[7] = f32::NAN;
        let e = tsne(&nan, 100, 2, &TsneConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("feature 1 of point 3"), "{e}");
    }

    #[test]
    fn two_clusters_stay_apart_and_a_seed_repeats() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let normal = Normal::new(0.0f32, 1.0).unwrap();
        let n = 200;
        let x: Vec<f32> = (0..n)
            .flat_map(|i| {
                let shift = if i < n / 2 { 0.0 } else { 20.0 };
                (0..5)
                    .map(|_| normal.sample(&mut rng) + shift)
                    .collect::<Vec<_>>()
            })
            .collect();
        let labels: Vec<usize> = (0..n).map(|i| usize::from(i >= n / 2)).collect();
        let config = TsneConfig {
            perplexity: 20.0,
            iterations: 300,
            ..TsneConfig::default()
        };
        let y = tsne(&x, n, 5, &config).unwrap();
        assert_eq!(y.len(), 2 * n);
        assert!(crate::neighbour_agreement(&y, 2, &labels, 10) > 0.99);
        let again = tsne(&x, n, 5, &config).unwrap();
        assert_eq!(y, again);
    }
}
