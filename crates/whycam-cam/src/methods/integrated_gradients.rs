//! Integrated Gradients: Sundararajan, Taly, Yan, "Axiomatic Attribution for Deep Networks",
//! ICML 2017.
//!
//! `(x - x') · ∫₀¹ ∂S/∂x (x' + α (x - x')) dα`, the integral approximated as Captum 0.9
//! `captum/attr/_core/integrated_gradients.py` does with the nodes and weights of
//! `captum/attr/_utils/approximation_methods.py`: Gauss-Legendre (Captum's default, `n` nodes
//! mapped to `[0, 1]`) or a Riemann sum (left, right, middle, trapezoid). Then summed over the
//! colour channels (the `sign="all"` reduction of Captum's `visualize_image_attr`); the map is
//! signed and, for a good quadrature, sums to `S(x) - S(x')` (completeness).
//!
//! Captum's trapezoid rule is reproduced as it is: nodes `linspace(0, 1, n)` (spacing
//! `1 / (n - 1)`) with weights `1 / n`, halved at both ends, so its weights sum to
//! `(n - 1) / n`, not 1: the attributions are `(n - 1) / n` of the trapezoid rule's.
//! The Riemann rules need at least 2 steps, as in Captum.
//!
//! Baselines `x'` ([`Baseline`]), in the normalised input the network sees:
//! * `Black`: the raw black pixel, `-mean / std` per channel (Captum's usual `baselines=0`
//!   is the mean colour of a normalised input, not black).
//! * `Blur`: the image under a Gaussian blur of `σ = 5%` of the input's shorter side, the kernel
//!   torchvision's `gaussian_blur` builds (`2⌈3σ⌉ + 1` taps at integer offsets, normalised to
//!   sum 1), applied separably per channel with mirror padding that does not repeat the edge
//!   (`torch.nn.functional.pad(mode="reflect")`, repeated for kernels wider than the image).
//!   Normalisation is affine per channel and the kernel sums to 1, so this is the raw image
//!   blurred, then normalised.
//! * `Noise`: raw pixels uniform in `[0, 1)` (one draw of `3 × height × width` values from the
//!   method's seeded noise), normalised.
//!
//! The steps run through the probe `probe.batch_size()` at a time.

use super::saliency::{input_plane, sum_over_channels};
use super::{CamMethod, Combination, LayerSample};
use crate::error::{CamError, Result};
use crate::settings::{Baseline, Integration};

/// Integrated Gradients.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntegratedGradients;

/// Captum's default number of steps.
pub const DEFAULT_STEPS: usize = 50;

/// The blur baseline's `σ` as a fraction of the input's shorter side.
pub const BLUR_SIGMA_FRACTION: f64 = 0.05;

impl CamMethod for IntegratedGradients {
    fn combine(&self, layer: &LayerSample<'_>) -> Result<Combination> {
        let probe = layer.probe()?;
        let plane = input_plane(probe)?;
        let image = probe.image();
        let settings = layer.settings;
        let steps = settings.steps_or(DEFAULT_STEPS)?;
        let (alphas, weights) = quadrature(settings.integration, steps)?;
        let (height, width) = probe.input_size();
        let normalization = probe.normalization();
        let channels = image.len() / plane;
        let baseline: Vec<f32> = match settings.baseline {
            Baseline::Black => (0..channels)
                .flat_map(|c| {
                    let (mean, std) = channel_statistics(&normalization, c);
                    std::iter::repeat_n(-mean / std, plane)
                })
                .collect(),
            Baseline::Blur => {
                let sigma = BLUR_SIGMA_FRACTION * height.min(width) as f64;
                gaussian_blur(image, channels, height, width, sigma)
            }
            Baseline::Noise => {
                let raw = layer.noise.uniform(image.len(), 0.0, 1.0)?;
                raw.chunks(plane)
                    .enumerate()
                    .flat_map(|(c, values)| {
                        let (mean, std) = channel_statistics(&normalization, c);
                        values.iter().map(move |v| (v - mean) / std)
                    })
                    .collect()
            }
        };
        let difference: Vec<f32> = image.iter().zip(&baseline).map(|(x, b)| x - b).collect();
        let mut total = vec![0.0f64; image.len()];
        let batch = probe.batch_size().max(1);
        let nodes: Vec<(f64, f64)> = alphas.into_iter().zip(weights).collect();
        for chunk in nodes.chunks(batch) {
            let mut inputs = Vec::with_capacity(chunk.len() * image.len());
            for &(alpha, _) in chunk {
                let alpha = alpha as f32;
                inputs.extend(baseline.iter().zip(&difference).map(|(b, d)| b + alpha * d));
            }
            let gradients = probe.input_gradients(&inputs, chunk.len(), layer.target)?;
            for (&(_, weight), g) in chunk.iter().zip(gradients.chunks(image.len())) {
                for (t, &g) in total.iter_mut().zip(g) {
                    *t += weight * f64::from(g);
                }
            }
        }
        let attributions: Vec<f64> = total
            .iter()
            .zip(&difference)
            .map(|(t, &d)| t * f64::from(d))
            .collect();
        Ok(Combination::InputMap(sum_over_channels(
            &attributions,
            plane,
        )))
    }
}

/// Mean and standard deviation of colour channel `c` (the last one's for extra channels).
fn channel_statistics(normalization: &whycam_data::Normalization, c: usize) -> (f32, f32) {
    let c = c.min(2);
    (normalization.mean[c], normalization.std[c])
}

/// Captum's `(alphas, step_sizes)` for `steps` nodes of `integration`.
pub fn quadrature(integration: Integration, steps: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let n = steps;
    if n == 0 || (integration != Integration::GaussLegendre && n < 2) {
        return Err(CamError::Setting {
            name: "steps",
            reason: format!("{n} steps: the Riemann sums need at least 2"),
        });
    }
    let nf = n as f64;
    let linspace = |start: f64, end: f64| -> Vec<f64> {
        (0..n)
            .map(|i| start + (end - start) * i as f64 / (nf - 1.0))
            .collect()
    };
    let riemann = vec![1.0 / nf; n];
    Ok(match integration {
        Integration::GaussLegendre => {
            let (x, w) = gauss_legendre(n);
            (
                x.iter().map(|x| 0.5 * (1.0 + x)).collect(),
                w.iter().map(|w| 0.5 * w).collect(),
            )
        }
        Integration::RiemannLeft => (linspace(0.0, 1.0 - 1.0 / nf), riemann),
        Integration::RiemannRight => (linspace(1.0 / nf, 1.0), riemann),
        Integration::RiemannMiddle => (linspace(0.5 / nf, 1.0 - 0.5 / nf), riemann),
        Integration::RiemannTrapezoid => {
            let mut weights = riemann;
            weights[0] /= 2.0;
            weights[n - 1] /= 2.0;
            (linspace(0.0, 1.0), weights)
        }
    })
}

/// The `n` Gauss-Legendre nodes on `[-1, 1]` (ascending) and their weights, as numpy's
/// `leggauss`: Newton's method on the Legendre polynomial from Chebyshev-like starting points.
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0f64; n];
    let mut weights = vec![0.0f64; n];
    let nf = n as f64;
    for i in 0..n.div_ceil(2) {
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        let mut derivative = 1.0;
        for _ in 0..100 {
            // P_n(z) by the three-term recurrence, and its derivative.
            let (mut p1, mut p2) = (1.0f64, 0.0f64);
            for j in 1..=n {
                let jf = j as f64;
                let p3 = p2;
                p2 = p1;
                p1 = ((2.0 * jf - 1.0) * z * p2 - (jf - 1.0) * p3) / jf;
            }
            derivative = nf * (z * p1 - p2) / (z * z - 1.0);
            let step = p1 / derivative;
            z -= step;
            if step.abs() <= 1e-15 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - z * z) * derivative * derivative);
        nodes[i] = -z;
        nodes[n - 1 - i] = z;
        weights[i] = w;
        weights[n - 1 - i] = w;
    }
    if n % 2 == 1 {
        nodes[n / 2] = 0.0;
    }
    (nodes, weights)
}

/// `values` (`channels × height × width`) under torchvision's Gaussian blur of `sigma`.
pub fn gaussian_blur(
    values: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    sigma: f64,
) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil().max(0.0) as usize;
    let kernel: Vec<f64> = {
        let pdf: Vec<f64> = (0..=2 * radius)
            .map(|i| {
                let x = i as f64 - radius as f64;
                (-0.5 * (x / sigma.max(f64::MIN_POSITIVE)).powi(2)).exp()
            })
            .collect();
        let sum: f64 = pdf.iter().sum();
        pdf.into_iter().map(|p| p / sum).collect()
    };
    let plane = height * width;
    let mut out = Vec::with_capacity(values.len());
    for channel in values.chunks(plane).take(channels) {
        let mut rows = vec![0.0f64; plane];
        for y in 0..height {
            for x in 0..width {
                rows[y * width + x] = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, w)| {
                        let xs = mirror(x as isize + k as isize - radius as isize, width);
                        w * f64::from(channel[y * width + xs])
                    })
                    .sum();
            }
        }
        for y in 0..height {
            for x in 0..width {
                let v: f64 = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, w)| {
                        let ys = mirror(y as isize + k as isize - radius as isize, height);
                        w * rows[ys * width + x]
                    })
                    .sum();
                out.push(v as f32);
            }
        }
    }
    out
}

/// Index `i` mirrored into `0..n` without repeating the edge (`-1 → 1`, `n → n - 2`).
fn mirror(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let i = i.rem_euclid(period);
    (if i >= n as isize { period - i } else { i }) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::saliency::test_support::{LinearProbe, run, seeded};
    use crate::settings::MethodSettings;

    /// numpy.polynomial.legendre.leggauss(5).
    #[test]
    fn gauss_legendre_matches_numpy() {
        let (x, w) = gauss_legendre(5);
        let xs = [
            -0.906_179_845_938_664,
            -0.538_469_310_105_683_1,
            0.0,
            0.538_469_310_105_683_1,
            0.906_179_845_938_664,
        ];
        let ws = [
            0.236_926_885_056_189_08,
            0.478_628_670_499_366_47,
            0.568_888_888_888_888_9,
            0.478_628_670_499_366_47,
            0.236_926_885_056_189_08,
        ];
        for i in 0..5 {
            assert!((x[i] - xs[i]).abs() < 1e-14, "{x:?}");
            assert!((w[i] - ws[i]).abs() < 1e-14, "{w:?}");
        }
        for n in [2, 7, 50, 300] {
            let (x, w) = gauss_legendre(n);
            assert!((w.iter().sum::<f64>() - 2.0).abs() < 1e-12, "n = {n}");
            // Exact for x^(2n-1) and x^(2n-2): ∫ x² = 2/3.
            let x2: f64 = x.iter().zip(&w).map(|(x, w)| w * x * x).sum();
            assert!((x2 - 2.0 / 3.0).abs() < 1e-12, "n = {n}");
            assert!(x.windows(2).all(|p| p[0] < p[1]));
        }
    }

    #[test]
    fn riemann_rules_are_captums() {
        let (a, w) = quadrature(Integration::RiemannLeft, 4).unwrap();
        assert_eq!(a, vec![0.0, 0.25, 0.5, 0.75]);
        assert_eq!(w, vec![0.25; 4]);
        let (a, _) = quadrature(Integration::RiemannRight, 4).unwrap();
        assert_eq!(a, vec![0.25, 0.5, 0.75, 1.0]);
        let (a, _) = quadrature(Integration::RiemannMiddle, 4).unwrap();
        assert_eq!(a, vec![0.125, 0.375, 0.625, 0.875]);
        let (a, w) = quadrature(Integration::RiemannTrapezoid, 5).unwrap();
        assert_eq!(a, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(w, vec![0.1, 0.2, 0.2, 0.2, 0.1]);
        assert!(quadrature(Integration::RiemannLeft, 1).is_err());
        assert!(quadrature(Integration::GaussLegendre, 1).is_ok());
    }

    #[test]
    fn linear_model_attributions_are_exact_and_complete_with_batched_steps() {
        let probe = LinearProbe::new(4, 5, 3);
        let settings = MethodSettings {
            steps: Some(7),
            ..seeded(0)
        };
        let map = run(&IntegratedGradients, &probe, &settings).unwrap();
        assert_eq!(*probe.items.lock().unwrap(), 7);
        assert_eq!(*probe.largest_batch.lock().unwrap(), 3);
        let norm = whycam_data::Normalization::IMAGENET;
        let black: Vec<f32> = (0..60)
            .map(|i| -norm.mean[i / 20] / norm.std[i / 20])
            .collect();
        for p in 0..20 {
            let expected: f32 = (0..3)
                .map(|c| probe.weights[c * 20 + p] * (probe.image[c * 20 + p] - black[c * 20 + p]))
                .sum();
            assert!(
                (map[p] - expected).abs() < 1e-4,
                "{p}: {} vs {expected}",
                map[p]
            );
        }
        let total: f32 = map.iter().sum();
        let gap = probe.score(&probe.image) - probe.score(&black);
        assert!(
            (total - gap).abs() < 1e-3 * gap.abs().max(1.0),
            "{total} vs {gap}"
        );
    }

    #[test]
    fn noise_baselines_repeat_by_seed_and_blur_keeps_constants() {
        let probe = LinearProbe::new(4, 4, 8);
        let noisy = |seed| {
            run(
                &IntegratedGradients,
                &probe,
                &MethodSettings {
                    baseline: Baseline::Noise,
                    ..seeded(seed)
                },
            )
            .unwrap()
        };
        assert_eq!(noisy(3), noisy(3));
        assert_ne!(noisy(3), noisy(4));
        let constant = vec![0.25f32; 2 * 5 * 3];
        for v in gaussian_blur(&constant, 2, 5, 3, 2.0) {
            assert!((v - 0.25).abs() < 1e-6);
        }
    }

    /// torchvision.transforms.functional.gaussian_blur(x, [5, 5], [0.5, 0.5]) of a 1 × 4 × 4 ramp
    /// x = arange(16).
    #[test]
    fn blur_matches_torchvision() {
        let ramp: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let blurred = gaussian_blur(&ramp, 1, 4, 4, 0.5);
        let expected = [
            1.069_785,
            1.856_355_7,
            2.855_300_3,
            3.641_871,
            4.216_068,
            5.002_639,
            6.001_583,
            6.788_154,
            8.211_846,
            8.998_417,
            9.997_361,
            10.783_932,
            11.358_129,
            12.144_7,
            13.143_644,
            13.930_215,
        ];
        for (a, b) in blurred.iter().zip(expected) {
            assert!((a - b).abs() < 1e-4, "{blurred:?}");
        }
    }
}
