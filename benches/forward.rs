//! Forward-pass time at batch 1 and 8 of the default model (its real weights), ResNet-18 and
//! ResNet-50 (untrained), zoo networks with BatchNorm folded as `whycam predict` runs them, and,
//! with
//! `WHYCAM_BENCH_ONNX=DIR`, of the torchvision exports that
//! `tools/reference/export_bench_models.py DIR` writes there, run by whycam's ONNX interpreter
//! (`onnx-NAME`): MobileNetV3-Large, ConvNeXt-Tiny, RegNetY-400MF and ResNeXt-50. An export
//! that is missing or that the interpreter refuses is reported on stderr and skipped, so the
//! others are still timed.
//!
//! `tools/bench/compare.sh` runs this and the same forward passes in PyTorch on the same machine
//! with the same threads, and prints the ratios beside the goals of issue 20.

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode};
use criterion::{criterion_group, criterion_main};
use std::path::Path;
use std::time::Duration;
use whycam_models::{Architecture, HeadSpec, LoadOptions, Model};

/// The default model (`Architecture::DEFAULT`), by the name PyTorch's side keys it by.
const DEFAULT_MODEL: &str = "efficientnet-lite0";

/// Zoo networks timed with random weights, by their `--model` name.
const UNTRAINED: [&str; 2] = ["resnet18", "resnet50"];

/// ONNX exports in `WHYCAM_BENCH_ONNX`, by file stem (torchvision's model names).
const ONNX: [&str; 4] = [
    "mobilenet_v3_large",
    "convnext_tiny",
    "regnet_y_400mf",
    "resnext50_32x4d",
];

const BATCHES: [usize; 2] = [1, 8];

/// The default model with its real weights, as users run it; PyTorch's side loads the same.
fn default_model() -> Model {
    let arch: Architecture = DEFAULT_MODEL.parse().expect("a zoo architecture");
    let asset = whycam_assets::weights_asset(DEFAULT_MODEL).expect("catalogued");
    let weights = whycam_assets::ensure(asset).expect("fetch the default model");
    Model::load(arch, &weights, LoadOptions::default()).expect("load")
}

/// Times `model`'s forward pass at each of [`BATCHES`] on a standard-normal image batch.
fn bench_model(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, model: &Model) {
    let size = model.native_size();
    for batch in BATCHES {
        let x = Tensor::<4>::random(
            [batch, 3, size, size],
            Distribution::Normal(0.0, 1.0),
            model.device(),
        );
        group.bench_with_input(BenchmarkId::new(id, format!("b{batch}")), &x, |b, x| {
            b.iter(|| {
                let logits = model.net.forward(x.clone()).expect("forward");
                // Wait for the result so lazy backends are timed too.
                logits.into_data()
            })
        });
    }
}

fn forward(c: &mut Criterion) {
    // The binary's allocator and setting, so the timings are the program's.
    whycam_alloc::keep_freed_memory();
    let mut group = c.benchmark_group("forward");
    // Flat sampling: a slow case (ResNeXt-50 at batch 8, ~1 s) runs 10 iterations instead of
    // the 55 of linear sampling, which keeps the whole comparison within minutes on 2 cores.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    bench_model(&mut group, DEFAULT_MODEL, &default_model());
    for name in UNTRAINED {
        let arch: Architecture = name.parse().expect("a zoo architecture");
        let model = Model::untrained(
            arch,
            HeadSpec {
                classes: 1000,
                bias: true,
            },
            LoadOptions::default(),
        );
        bench_model(&mut group, name, &model);
    }
    if let Some(dir) = std::env::var_os("WHYCAM_BENCH_ONNX") {
        for name in ONNX {
            let path = Path::new(&dir).join(format!("{name}.onnx"));
            match Model::load_onnx(&path) {
                Ok(model) => bench_model(&mut group, &format!("onnx-{name}"), &model),
                Err(err) => eprintln!("skipping {}: {err}", path.display()),
            }
        }
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
