//! The whycam side of `tools/bench/compare_smoothgradcampp.sh`: SmoothGrad-CAM++ (torchcam's
//! defaults: 4 noisy samples, σ 0.3) on the default model with its real weights, at its default
//! layer, on the sample photos (cycled) at batch 1 and 8. Prints the median milliseconds of one
//! `explain` call (forward pass, noisy passes, map) as one JSON object on stdout.
//!
//! `cargo run --release --example bench_smoothgradcampp [RUNS]` (default 5 runs after a warm-up).

use burn::prelude::*;
use std::time::Instant;
use whycam_cam::{ExplainOptions, Explainer, Method, TargetSpec};
use whycam_data::{PreprocessConfig, prepare_file};

fn main() -> anyhow::Result<()> {
    whycam_alloc::keep_freed_memory();
    let runs: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 5,
    };
    let model = whycam_testkit::default_model();
    let photos = whycam_assets::ensure_sample_photos()?;
    let cfg = PreprocessConfig {
        size: model.native_size() as u32,
        normalization: model.normalization(),
        ..PreprocessConfig::default()
    };
    let size = cfg.size as usize;
    let labels: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let explainer = Explainer::new(
        &model,
        ExplainOptions {
            methods: vec![Method::SmoothGradCamPlusPlus],
            ..ExplainOptions::default()
        },
    )?;
    let mut results = Vec::new();
    for batch in [1usize, 8] {
        let mut data = Vec::new();
        for path in photos.iter().cycle().take(batch) {
            data.extend(prepare_file(path, &whycam_data::DecodeLimits::default(), &cfg)?.data);
        }
        let x = Tensor::<4>::from_data(
            TensorData::new(data, [batch, 3, size, size]),
            &Device::default(),
        );
        explainer.explain(x.clone(), &TargetSpec::Auto, 1, &labels)?;
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                explainer.explain(x.clone(), &TargetSpec::Auto, 1, &labels)?;
                Ok(start.elapsed().as_secs_f64() * 1e3)
            })
            .collect::<anyhow::Result<_>>()?;
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        eprintln!("smoothgradcampp/efficientnet-lite0/b{batch}: {median:.1} ms");
        results.push(format!(
            "\"smoothgradcampp/efficientnet-lite0/b{batch}\": {median:.3}"
        ));
    }
    println!("{{{}}}", results.join(", "));
    Ok(())
}
