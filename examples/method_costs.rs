//! What each method costs on the default model: one image (a sample photo), its default layer
//! and every method's default options, timed once after a warm-up forward pass, on this
//! machine's cores. Prints the README's method table rows (family, id, what it needs, ms).
//!
//! `cargo run --release --example method_costs [METHOD...]` (all methods when none is named).

use burn::prelude::*;
use std::time::Instant;
use whycam_cam::{ExplainOptions, Explainer, Method, TargetSpec};
use whycam_data::{PreprocessConfig, prepare_file};

fn main() -> anyhow::Result<()> {
    whycam_alloc::keep_freed_memory();
    let model = whycam_testkit::default_model();
    let photos = whycam_assets::ensure_sample_photos()?;
    let cfg = PreprocessConfig {
        size: model.native_size() as u32,
        normalization: model.normalization(),
        ..PreprocessConfig::default()
    };
    let size = cfg.size as usize;
    let image = prepare_file(&photos[0], &whycam_data::DecodeLimits::default(), &cfg)?;
    let x = Tensor::<4>::from_data(
        TensorData::new(image.data, [1, 3, size, size]),
        &Device::default(),
    );
    let labels: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let wanted: Vec<Method> = std::env::args()
        .skip(1)
        .map(|m| m.parse())
        .collect::<Result<_, _>>()?;
    let methods = if wanted.is_empty() {
        Method::ALL.to_vec()
    } else {
        wanted
    };
    model.net.forward(x.clone())?;
    println!("| method | family (reference) | needs | ms, batch 1 |");
    println!("|---|---|---|---:|");
    for method in methods {
        let explainer = Explainer::new(
            &model,
            ExplainOptions {
                methods: vec![method],
                ..ExplainOptions::default()
            },
        )?;
        let start = Instant::now();
        explainer.explain(x.clone(), &TargetSpec::Auto, 1, &labels)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let (family, needs) = describe(method);
        println!("| `{}` | {family} | {needs} | {ms:.0} |", method.id());
    }
    Ok(())
}

/// The method's family (and the implementation it is held to) and what it computes.
fn describe(method: Method) -> (&'static str, &'static str) {
    const PGC: &str = "CAM at a layer (pytorch-grad-cam)";
    const TORCHCAM: &str = "CAM at a layer (torchcam)";
    const CAPTUM: &str = "pixel attribution (Captum)";
    const GRADIENTS: &str = "gradient after the layer";
    match method {
        Method::Cam => (PGC, "GAP + linear head"),
        Method::GradCam
        | Method::GradCamPlusPlus
        | Method::XGradCam
        | Method::HiResCam
        | Method::GradCamElementwise
        | Method::LayerCam
        | Method::EigenGradCam => (PGC, GRADIENTS),
        Method::ShapleyCam => (PGC, "gradient after the layer (+4 where smooth)"),
        Method::FinerCam => (PGC, "gradient after the layer, its own target"),
        Method::EigenCam | Method::KpcaCam | Method::Fem | Method::RandomCam => {
            (PGC, "activations")
        }
        Method::ScoreCam => (PGC, "a forward pass per distinct mask"),
        Method::AblationCam => (PGC, "a pass after the layer per channel"),
        Method::SmoothGradCamPlusPlus => (TORCHCAM, "layer gradients of noisy inputs"),
        Method::SsCam | Method::IsCam => (TORCHCAM, "forward passes of masked inputs"),
        Method::Saliency | Method::GradientInput => (CAPTUM, "one input gradient"),
        Method::IntegratedGradients => (CAPTUM, "an input gradient per step"),
        Method::SmoothGrad => (CAPTUM, "an input gradient per sample"),
        Method::Occlusion => (CAPTUM, "a forward pass per window"),
        Method::Rise => (
            "pixel attribution (RISE authors)",
            "a forward pass per mask",
        ),
        Method::GuidedBackprop => (
            "pixel attribution (pytorch-grad-cam)",
            "one guided input gradient",
        ),
        Method::GuidedGradCam => (
            "pixel attribution (pytorch-grad-cam)",
            "guided input gradient + gradient after the layer",
        ),
        Method::FullGrad => (
            "pixel attribution (pytorch-grad-cam)",
            "one input gradient, tapping every bias",
        ),
    }
}
