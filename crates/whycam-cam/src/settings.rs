//! What the sampling, perturbation and path methods are told besides the method itself: sample
//! counts, noise, integration steps, windows, and where their random draws come from.
//!
//! Every field is optional where the methods disagree on a default (torchcam's SS-CAM takes 35
//! samples, Captum's NoiseTunnel 5): `None` means "the method's own default, as its reference
//! implementation has it". The random draws come from [`Noise`]: seeded (the default, so a run
//! is reproducible from `--seed`), or replayed from a recording, which is how the parity tests
//! give whycam exactly the noise the reference implementation drew.

use crate::error::{CamError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The options of the methods that sample, perturb or integrate.
#[derive(Debug, Clone)]
pub struct MethodSettings {
    /// Where random draws come from.
    pub noise: Noise,
    /// Noisy samples (SmoothGrad, SmoothGrad-CAM++, SS-CAM), masks (RISE) or interpolation
    /// steps of IS-CAM; `None`: the method's default.
    pub samples: Option<usize>,
    /// The noise's standard deviation, in the units of the normalised input; `None`: the
    /// method's default.
    pub noise_std: Option<f32>,
    /// Integration steps (Integrated Gradients); `None`: the method's default.
    pub steps: Option<usize>,
    /// Integrated Gradients' baseline.
    pub baseline: Baseline,
    /// Integrated Gradients' quadrature.
    pub integration: Integration,
    /// Occlusion's window side in input pixels; `None`: the method's default.
    pub window: Option<usize>,
    /// Occlusion's stride in input pixels; `None`: the method's default.
    pub stride: Option<usize>,
    /// The gradient method SmoothGrad averages under noise: `Saliency` or `GradientInput`;
    /// `None`: Saliency (SmoothGrad's paper, Captum's NoiseTunnel over Saliency).
    pub smoothgrad_base: Option<crate::method::Method>,
    /// RISE's grid side `s` (the mask is an `s × s` grid of cells, upsampled); `None`: 7.
    pub grid_cells: Option<usize>,
    /// RISE's probability `p1` that a grid cell is kept; `None`: 0.5.
    pub keep_probability: Option<f32>,
    /// FEM's `k` in its threshold `mean + k · std`; `None`: 2 (pytorch-grad-cam's default).
    pub fem_k: Option<f32>,
    /// KPCA-CAM's kernel; `None`: sigmoid (pytorch-grad-cam's default).
    pub kpca_kernel: Option<crate::methods::kpcacam::KpcaKernel>,
    /// KPCA-CAM's kernel coefficient `gamma`; `None`: 1 / channels (scikit-learn's default).
    pub kpca_gamma: Option<f32>,
    /// Finer-CAM's comparison strength `alpha`; `None`: 1 (pytorch-grad-cam's default).
    pub finer_alpha: Option<f32>,
}

impl Default for MethodSettings {
    fn default() -> Self {
        Self {
            noise: Noise::Seeded(0),
            samples: None,
            noise_std: None,
            steps: None,
            baseline: Baseline::Black,
            integration: Integration::GaussLegendre,
            window: None,
            stride: None,
            smoothgrad_base: None,
            grid_cells: None,
            keep_probability: None,
            fem_k: None,
            kpca_kernel: None,
            kpca_gamma: None,
            finer_alpha: None,
        }
    }
}

impl MethodSettings {
    /// Refuses values no method can use, before any image is explained.
    pub fn validate(&self) -> Result<()> {
        self.noise_std_or(0.0)?;
        for (name, value) in [
            ("samples", self.samples),
            ("steps", self.steps),
            ("window", self.window),
            ("stride", self.stride),
            ("grid-cells", self.grid_cells),
        ] {
            if let Some(v) = value {
                positive(name, v)?;
            }
        }
        for (name, value) in [
            ("fem-k", self.fem_k),
            ("kpca-gamma", self.kpca_gamma),
            ("finer-alpha", self.finer_alpha),
        ] {
            if let Some(v) = value.filter(|v| !v.is_finite()) {
                return Err(CamError::Setting {
                    name,
                    reason: format!("{v} is not a finite number"),
                });
            }
        }
        if let Some(p) = self.keep_probability.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
            return Err(CamError::Setting {
                name: "keep-probability",
                reason: format!("{p} is not a probability in (0, 1]"),
            });
        }
        Ok(())
    }

    /// `samples`, or `default` when not given; zero is refused.
    pub fn samples_or(&self, default: usize) -> Result<usize> {
        positive("samples", self.samples.unwrap_or(default))
    }

    /// `steps`, or `default` when not given; zero is refused.
    pub fn steps_or(&self, default: usize) -> Result<usize> {
        positive("steps", self.steps.unwrap_or(default))
    }

    /// `noise_std`, or `default` when not given; a negative or non-finite value is refused.
    pub fn noise_std_or(&self, default: f32) -> Result<f32> {
        let std = self.noise_std.unwrap_or(default);
        if std.is_finite() && std >= 0.0 {
            Ok(std)
        } else {
            Err(CamError::Setting {
                name: "noise-std",
                reason: format!("{std} is not a finite value >= 0"),
            })
        }
    }
}

fn positive(name: &'static str, value: usize) -> Result<usize> {
    if value == 0 {
        return Err(CamError::Setting {
            name,
            reason: "must be at least 1".into(),
        });
    }
    Ok(value)
}

/// What Integrated Gradients integrates from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Baseline {
    /// A black image: raw pixels of 0, which the normalisation makes `-mean / std` per channel
    /// (not the 0 of the normalised input that Captum users often pass, the mean colour).
    #[default]
    Black,
    /// The image blurred (a Gaussian of sigma 5% of the shorter side).
    Blur,
    /// Uniform noise over the input's range.
    Noise,
}

/// How Integrated Gradients approximates the path integral (Captum's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Integration {
    /// Gauss-Legendre quadrature (Captum's default).
    #[default]
    #[cfg_attr(feature = "clap", value(name = "gausslegendre"))]
    GaussLegendre,
    /// Left Riemann sum.
    RiemannLeft,
    /// Right Riemann sum.
    RiemannRight,
    /// Midpoint Riemann sum.
    RiemannMiddle,
    /// Trapezoid rule.
    RiemannTrapezoid,
}

/// Where a method's random draws come from.
#[derive(Debug, Clone)]
pub enum Noise {
    /// A ChaCha8 stream seeded by this seed and what is being explained (the image's values,
    /// the target, the method, the layer), so an image's noise does not depend on its batch.
    Seeded(u64),
    /// Arrays recorded from a reference implementation, handed out in order, each exactly as
    /// the reference used it (already scaled and shifted).
    Replay(Arc<Mutex<VecDeque<Vec<f32>>>>),
}

impl Noise {
    /// A replay of `draws`, in order.
    pub fn replay(draws: Vec<Vec<f32>>) -> Self {
        Noise::Replay(Arc::new(Mutex::new(draws.into())))
    }

    /// The stream for one explained item; `key` identifies it (see [`Noise::Seeded`]).
    pub fn stream(&self, key: u64) -> NoiseStream {
        match self {
            Noise::Seeded(seed) => NoiseStream {
                source: Source::Seeded(Box::new(Mutex::new(ChaCha8Rng::seed_from_u64(mix(
                    *seed, key,
                ))))),
            },
            Noise::Replay(draws) => NoiseStream {
                source: Source::Replay(Arc::clone(draws)),
            },
        }
    }
}

/// The random draws of one method on one image, target and layer.
#[derive(Debug)]
pub struct NoiseStream {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Seeded(Box<Mutex<ChaCha8Rng>>),
    Replay(Arc<Mutex<VecDeque<Vec<f32>>>>),
}

impl NoiseStream {
    /// `count` draws from a normal distribution of mean 0 and standard deviation `std`.
    pub fn normal(&self, count: usize, std: f32) -> Result<Vec<f32>> {
        match &self.source {
            Source::Seeded(rng) => {
                let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
                Ok((0..count)
                    .map(|_| {
                        let z: f32 = StandardNormal.sample(&mut *rng);
                        z * std
                    })
                    .collect())
            }
            Source::Replay(draws) => next_recorded(draws, count),
        }
    }

    /// `count` draws uniform in `[low, high)`.
    pub fn uniform(&self, count: usize, low: f32, high: f32) -> Result<Vec<f32>> {
        match &self.source {
            Source::Seeded(rng) => {
                let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
                Ok((0..count)
                    .map(|_| low + (high - low) * rng.random::<f32>())
                    .collect())
            }
            Source::Replay(draws) => next_recorded(draws, count),
        }
    }

    /// `count` integers uniform in `0..bound` (as `f32`, exact below 2^24).
    pub fn integers(&self, count: usize, bound: usize) -> Result<Vec<f32>> {
        match &self.source {
            Source::Seeded(rng) => {
                let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
                Ok((0..count)
                    .map(|_| rng.random_range(0..bound.max(1)) as f32)
                    .collect())
            }
            Source::Replay(draws) => next_recorded(draws, count),
        }
    }
}

fn next_recorded(draws: &Mutex<VecDeque<Vec<f32>>>, count: usize) -> Result<Vec<f32>> {
    let mut draws = draws.lock().unwrap_or_else(|e| e.into_inner());
    let next = draws.pop_front().ok_or_else(|| CamError::Setting {
        name: "noise",
        reason: format!("the recording has no more draws ({count} wanted)"),
    })?;
    if next.len() != count {
        return Err(CamError::Setting {
            name: "noise",
            reason: format!(
                "the next recorded draw has {} values, {count} wanted",
                next.len()
            ),
        });
    }
    Ok(next)
}

/// A 64-bit mix of a seed and a key (SplitMix64's finaliser).
fn mix(seed: u64, key: u64) -> u64 {
    let mut z = seed ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A key for [`Noise::stream`] from the values it identifies (FNV-1a over their bytes).
pub fn noise_key(parts: &[&[u8]]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for part in parts {
        for &b in *part {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A key for an image's values: their bit patterns mixed a word at a time, with no copy (an
/// image is some 150,000 values, keyed on every explanation).
pub fn image_key(values: &[f32]) -> u64 {
    values.iter().fold(0x243F_6A88_85A3_08D3u64, |hash, v| {
        (hash ^ u64::from(v.to_bits()))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_streams_repeat_and_differ_by_key() {
        let noise = Noise::Seeded(7);
        let a = noise.stream(1).normal(1000, 2.0).unwrap();
        assert_eq!(a, noise.stream(1).normal(1000, 2.0).unwrap());
        assert_ne!(a, noise.stream(2).normal(1000, 2.0).unwrap());
        let mean = a.iter().sum::<f32>() / 1000.0;
        let var = a.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 1000.0;
        assert!(
            mean.abs() < 0.2 && (var.sqrt() - 2.0).abs() < 0.2,
            "{mean} {var}"
        );
        let u = noise.stream(3).uniform(1000, -1.0, 1.0).unwrap();
        assert!(u.iter().all(|v| (-1.0..1.0).contains(v)));
        let i = noise.stream(3).integers(100, 7).unwrap();
        assert!(i.iter().all(|v| v.fract() == 0.0 && (0.0..7.0).contains(v)));
    }

    #[test]
    fn image_keys_follow_every_bit() {
        let image = vec![0.25f32; 1000];
        let mut other = image.clone();
        other[999] = f32::from_bits(0.25f32.to_bits() ^ 1);
        assert_eq!(image_key(&image), image_key(&image.clone()));
        assert_ne!(image_key(&image), image_key(&other));
    }

    #[test]
    fn replays_hand_out_the_recording_in_order_and_check_lengths() {
        let noise = Noise::replay(vec![vec![1.0, 2.0], vec![3.0]]);
        let stream = noise.stream(0);
        assert_eq!(stream.normal(2, 5.0).unwrap(), vec![1.0, 2.0]);
        assert!(stream.uniform(2, 0.0, 1.0).is_err());
        assert!(
            stream.uniform(1, 0.0, 1.0).is_err(),
            "the recording is used up"
        );
    }

    #[test]
    fn settings_refuse_zero_counts_and_bad_noise() {
        let s = MethodSettings {
            samples: Some(0),
            noise_std: Some(f32::NAN),
            ..MethodSettings::default()
        };
        assert!(s.samples_or(4).is_err());
        assert!(s.noise_std_or(0.3).is_err());
        assert_eq!(MethodSettings::default().steps_or(50).unwrap(), 50);
    }
}
