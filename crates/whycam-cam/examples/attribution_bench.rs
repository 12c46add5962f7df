//! Explanation time of Integrated Gradients (50 Gauss-Legendre steps, black baseline), RISE and
//! FullGrad on the default model at batch 1 and 8: whycam's side of
//! `tools/bench/compare_attribution.sh`, which runs Captum, the RISE authors' code and
//! pytorch-grad-cam on the same machine in the same run and prints the ratios. Prints one JSON
//! object of median milliseconds per call (`ig/b1`, `ig/b8`, `rise/b1`, `rise/b8`,
//! `fullgrad/b1`, `fullgrad/b8`).
//!
//! `WHYCAM_BENCH_METHODS` picks some of `ig,rise,fullgrad` (default: all);
//! `WHYCAM_BENCH_RISE_MASKS` sets RISE's masks (default 2000, whycam's default), `WHYCAM_BENCH_RUNS`
//! the timed runs of each (default 3; the median is printed), `WHYCAM_BENCH_BATCHES` the batch
//! sizes (default `1,8`), `WHYCAM_BENCH_PROBE_BATCH` the probe batch (default: each method's). The inputs are the sample photos
//! (cycled) when they are in the cache; the model has its real weights.
//!
//!     cargo run --release -p whycam-cam --example attribution_bench

use burn::prelude::*;
use std::time::Instant;
use whycam_cam::{ExplainOptions, Explainer, Method, MethodSettings, TargetSpec};
use whycam_data::{PreprocessConfig, prepare_file};
use whycam_models::{Architecture, LoadOptions, Model};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn photos(model: &Model, batch: usize) -> Tensor<4> {
    let files = whycam_assets::ensure_sample_photos().expect("fetch the sample photos");
    let cfg = PreprocessConfig {
        size: model.native_size() as u32,
        normalization: model.normalization(),
        ..PreprocessConfig::default()
    };
    let size = cfg.size as usize;
    let mut data = Vec::new();
    for path in files.iter().cycle().take(batch) {
        let limits = whycam_data::DecodeLimits::default();
        data.extend(
            prepare_file(path, &limits, &cfg)
                .expect("sample photo")
                .data,
        );
    }
    Tensor::from_data(
        TensorData::new(data, [batch, 3, size, size]),
        &Device::default(),
    )
}

fn main() {
    // The allocator the command line uses (whycam-alloc), so this measures what users run.
    whycam_alloc::keep_freed_memory();
    let asset = whycam_assets::weights_asset("efficientnet-lite0").expect("catalogued");
    let weights = whycam_assets::ensure(asset).expect("fetch the default model");
    let model = Model::load(Architecture::DEFAULT, &weights, LoadOptions::default()).expect("load");
    let labels: Vec<String> = (0..model.net.num_classes())
        .map(|i| i.to_string())
        .collect();
    let runs = env("WHYCAM_BENCH_RUNS", 3).max(1);
    let masks = env("WHYCAM_BENCH_RISE_MASKS", 2000);
    let wanted = std::env::var("WHYCAM_BENCH_METHODS").unwrap_or_default();
    let mut results = Vec::new();
    for (key, method) in [
        ("ig", Method::IntegratedGradients),
        ("rise", Method::Rise),
        ("fullgrad", Method::FullGrad),
    ] {
        if !wanted.is_empty() && !wanted.split(',').any(|w| w == key) {
            continue;
        }
        let options = ExplainOptions {
            methods: vec![method],
            probe_batch_size: std::env::var("WHYCAM_BENCH_PROBE_BATCH")
                .ok()
                .and_then(|v| v.parse().ok()),
            settings: MethodSettings {
                samples: Some(masks),
                steps: Some(50),
                ..MethodSettings::default()
            },
            ..ExplainOptions::default()
        };
        let explainer = Explainer::new(&model, options).expect("explainer");
        let batches: Vec<usize> = std::env::var("WHYCAM_BENCH_BATCHES")
            .ok()
            .map(|v| v.split(',').filter_map(|b| b.parse().ok()).collect())
            .unwrap_or_else(|| vec![1, 8]);
        for &batch in &batches {
            let x = photos(&model, batch);
            let mut times = Vec::new();
            for _ in 0..runs {
                let start = Instant::now();
                let out = explainer
                    .explain(x.clone(), &TargetSpec::Auto, 1, &labels)
                    .expect("explain");
                assert_eq!(out.len(), batch);
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            eprintln!("whycam {key}/b{batch}: {median:.0} ms");
            results.push(format!("\"{key}/b{batch}\": {median:.1}"));
        }
    }
    println!("{{{}}}", results.join(", "));
}
