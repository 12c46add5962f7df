//! Explanation time: Grad-CAM on ResNet-50 (`layer4`) and on the default model (its feature
//! output) at batch 1 and 8, beside the forward pass alone, and Score-CAM on the default model
//! (1280 channels) at batch 1. `tools/bench/compare_cam.sh` runs this and pytorch-grad-cam on
//! the same machine in the same run and prints the ratios.
//!
//! With `WHYCAM_BENCH_ONNX=DIR` (what `tools/reference/export_bench_models.py DIR` writes: the
//! TorchScript ONNX exports of torchvision's ResNet-50 and of the default model), the same
//! forward passes and Grad-CAM run through whycam's ONNX interpreter too (`onnx-forward`,
//! `onnx-gradcam`), on the same inputs as the zoo networks, and their time over the zoo
//! network's is also measured in interleaved pairs (`target/criterion/cam/onnx-paired.json`).
//!
//! The default model has its real weights and the inputs are real photos when the sample
//! photos are in the cache (Score-CAM's cost depends on how many distinct masks the activations
//! give); ResNet-50 is untrained, which changes nothing for Grad-CAM's cost.

use burn::prelude::*;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use std::time::Duration;
use whycam_cam::{ExplainOptions, Explainer, ImageExplanation, Method, TargetSpec};
use whycam_data::{PreprocessConfig, prepare_file};
use whycam_models::{Architecture, HeadSpec, LoadOptions, Model};

fn default_model() -> Model {
    let asset = whycam_assets::weights_asset("efficientnet-lite0").expect("catalogued");
    let weights = whycam_assets::ensure(asset).expect("fetch the default model");
    Model::load(Architecture::DEFAULT, &weights, LoadOptions::default()).expect("load")
}

/// `batch` sample photos prepared for `model` (cycled), as one tensor.
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

fn explainer(model: &Model, method: Method) -> Explainer<'_> {
    let options = ExplainOptions {
        methods: vec![method],
        ..ExplainOptions::default()
    };
    Explainer::new(model, options).expect("default layer")
}

/// One forward pass of `model` on `x`, its logits read back.
fn forward(model: &Model, x: &Tensor<4>) -> TensorData {
    model.net.forward(x.clone()).expect("forward").into_data()
}

/// One Grad-CAM explanation of `x`'s top class.
fn gradcam(explainer: &Explainer<'_>, x: &Tensor<4>, labels: &[String]) -> Vec<ImageExplanation> {
    explainer
        .explain(x.clone(), &TargetSpec::Auto, 1, labels)
        .expect("explain")
}

/// Benchmarks `{prefix}forward` and `{prefix}gradcam` of `model` on `x`.
fn forward_and_gradcam(
    group: &mut BenchmarkGroup<'_, WallTime>,
    prefix: &str,
    id: &str,
    model: &Model,
    explainer: &Explainer<'_>,
    x: &Tensor<4>,
    labels: &[String],
) {
    group.bench_with_input(
        BenchmarkId::new(format!("{prefix}forward"), id),
        x,
        |b, x| b.iter(|| forward(model, x)),
    );
    group.bench_with_input(
        BenchmarkId::new(format!("{prefix}gradcam"), id),
        x,
        |b, x| b.iter(|| gradcam(explainer, x, labels)),
    );
}

fn cam(c: &mut Criterion) {
    // The binary's allocator and setting, so the timings are the program's.
    whycam_alloc::keep_freed_memory();
    let resnet = Model::untrained(
        "resnet50".parse().unwrap(),
        HeadSpec {
            classes: 1000,
            bias: true,
        },
        LoadOptions::default(),
    );
    let lite = default_model();
    let labels: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let mut group = c.benchmark_group("cam");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(2));
    for (name, model) in [("resnet50", &resnet), ("efficientnet-lite0", &lite)] {
        let zoo_gradcam = explainer(model, Method::GradCam);
        for batch in [1usize, 8] {
            let x = photos(model, batch);
            let id = format!("{name}/b{batch}");
            forward_and_gradcam(&mut group, "", &id, model, &zoo_gradcam, &x, &labels);
        }
    }
    if let Some(dir) = std::env::var_os("WHYCAM_BENCH_ONNX") {
        let dir = std::path::PathBuf::from(dir);
        let mut paired = serde_json::Map::new();
        for (name, zoo) in [("resnet50", &resnet), ("efficientnet-lite0", &lite)] {
            let model = Model::load_onnx(&dir.join(format!("{name}.onnx"))).expect("ONNX export");
            let onnx_gradcam = explainer(&model, Method::GradCam);
            let zoo_gradcam = explainer(zoo, Method::GradCam);
            for batch in [1usize, 8] {
                let x = photos(zoo, batch);
                let id = format!("{name}/b{batch}");
                forward_and_gradcam(&mut group, "onnx-", &id, &model, &onnx_gradcam, &x, &labels);
                paired.insert(
                    format!("forward/{id}"),
                    paired_ratio(|| drop(forward(&model, &x)), || drop(forward(zoo, &x))).into(),
                );
                paired.insert(
                    format!("gradcam/{id}"),
                    paired_ratio(
                        || drop(gradcam(&onnx_gradcam, &x, &labels)),
                        || drop(gradcam(&zoo_gradcam, &x, &labels)),
                    )
                    .into(),
                );
            }
        }
        let out = std::path::Path::new("target/criterion/cam/onnx-paired.json");
        std::fs::create_dir_all(out.parent().unwrap()).expect("criterion folder");
        std::fs::write(out, serde_json::Value::Object(paired).to_string()).expect("write");
    }
    let scorecam = explainer(&lite, Method::ScoreCam);
    let x = photos(&lite, 1);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(30));
    group.bench_with_input(
        BenchmarkId::new("scorecam", "efficientnet-lite0/b1"),
        &x,
        |b, x| {
            b.iter(|| {
                scorecam
                    .explain(x.clone(), &TargetSpec::Auto, 1, &labels)
                    .expect("explain")
            })
        },
    );
    group.finish();
}

/// The median over 15 interleaved pairs of `a`'s time over `b`'s (after 2 pairs of warm-up).
/// The two run back to back, each first in turn, so a machine whose speed drifts between
/// criterion's separate measurements (a shared virtual machine) still gives a fair ratio.
fn paired_ratio(mut a: impl FnMut(), mut b: impl FnMut()) -> f64 {
    let time = |f: &mut dyn FnMut()| {
        let start = std::time::Instant::now();
        f();
        start.elapsed().as_secs_f64()
    };
    let mut ratios: Vec<f64> = (0..17)
        .map(|i| {
            if i % 2 == 0 {
                time(&mut a) / time(&mut b)
            } else {
                let tb = time(&mut b);
                time(&mut a) / tb
            }
        })
        .skip(2)
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

criterion_group!(benches, cam);
criterion_main!(benches);
