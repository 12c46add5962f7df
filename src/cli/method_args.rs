//! The options of the sampling, perturbation and path methods, shared by `explain` and
//! `evaluate`: each left unset takes the method's reference default.

use clap::{Args, ValueEnum};
use whycam_cam::methods::kpcacam::KpcaKernel;
use whycam_cam::{Baseline, Integration, Method, MethodSettings, Noise};

/// Options of the methods that sample, perturb or integrate.
#[derive(Debug, Args)]
pub struct MethodArgs {
    /// Noisy samples (smoothgrad, smoothgradcampp, sscam), masks (rise) or steps (iscam).
    /// Default: the method's own (Captum's, torchcam's or the paper's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub num_samples: Option<u32>,
    /// Standard deviation of the input noise, in normalised input units (smoothgrad,
    /// smoothgradcampp, sscam). Default: the method's own.
    #[arg(long)]
    pub noise_std: Option<f32>,
    /// Integration steps of integrated-gradients (default 50).
    #[arg(long = "ig-steps", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub steps: Option<u32>,
    /// What integrated-gradients starts from.
    #[arg(long = "ig-baseline", value_enum, default_value_t = Baseline::Black)]
    pub baseline: Baseline,
    /// How integrated-gradients sums its path (Captum's `method`).
    #[arg(long = "ig-method", value_enum, default_value_t = Integration::GaussLegendre)]
    pub integration: Integration,
    /// Side of occlusion's square window, in input pixels.
    #[arg(long = "occlusion-window", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub window: Option<u32>,
    /// Occlusion's stride, in input pixels.
    #[arg(long = "occlusion-stride", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub stride: Option<u32>,
    /// The gradient that smoothgrad averages under noise.
    #[arg(long, value_enum, default_value_t = SmoothGradBase::Saliency)]
    pub smoothgrad_base: SmoothGradBase,
    /// RISE's grid: each mask is an NxN grid of kept or dropped cells, upsampled (default 7).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub rise_cells: Option<u32>,
    /// RISE's probability that a cell is kept (default 0.5).
    #[arg(long)]
    pub rise_keep: Option<f32>,
    /// FEM's k in its threshold mean + k * std (default 2).
    #[arg(long)]
    pub fem_k: Option<f32>,
    /// KPCA-CAM's kernel: sigmoid (default), rbf, poly, linear, cosine.
    #[arg(long, value_parser = parse_kernel)]
    pub kpca_kernel: Option<KpcaKernel>,
    /// KPCA-CAM's kernel coefficient gamma (default 1 / channels).
    #[arg(long)]
    pub kpca_gamma: Option<f32>,
    /// Finer-CAM's weight of the similar classes it subtracts (default 1).
    #[arg(long)]
    pub finer_alpha: Option<f32>,
}

/// `--smoothgrad-base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmoothGradBase {
    /// The gradient itself (SmoothGrad's paper, Captum's NoiseTunnel over Saliency).
    Saliency,
    /// The gradient times the input.
    GradientInput,
}

fn parse_kernel(s: &str) -> Result<KpcaKernel, String> {
    s.parse().map_err(|e: whycam_cam::CamError| e.to_string())
}

impl MethodArgs {
    /// The library's settings, the noise seeded by `seed`.
    pub fn settings(&self, seed: u64) -> MethodSettings {
        MethodSettings {
            noise: Noise::Seeded(seed),
            samples: self.num_samples.map(|n| n as usize),
            noise_std: self.noise_std,
            steps: self.steps.map(|n| n as usize),
            baseline: self.baseline,
            integration: self.integration,
            window: self.window.map(|n| n as usize),
            stride: self.stride.map(|n| n as usize),
            smoothgrad_base: Some(match self.smoothgrad_base {
                SmoothGradBase::Saliency => Method::Saliency,
                SmoothGradBase::GradientInput => Method::GradientInput,
            }),
            grid_cells: self.rise_cells.map(|n| n as usize),
            keep_probability: self.rise_keep,
            fem_k: self.fem_k,
            kpca_kernel: self.kpca_kernel,
            kpca_gamma: self.kpca_gamma,
            finer_alpha: self.finer_alpha,
        }
    }
}
