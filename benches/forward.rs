//! Forward-pass time of the default model and ResNet-50 at batch 1 and 8 (BatchNorm folded,
//! as `whycam predict` runs them). `tools/bench/compare.sh` runs this and the same forward in
//! PyTorch on the same machine and prints the ratios.

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::time::Duration;
use whycam_models::{Architecture, HeadSpec, LoadOptions, Model};

fn forward(c: &mut Criterion) {
    // The binary's allocator and setting, so the timings are the program's.
    whycam_alloc::keep_freed_memory();
    let device = Device::default();
    let mut group = c.benchmark_group("forward");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(2));
    for name in ["efficientnet-lite0", "resnet50"] {
        let arch: Architecture = name.parse().unwrap();
        let model = Model::untrained(
            arch,
            HeadSpec {
                classes: 1000,
                bias: true,
            },
            LoadOptions::default(),
        );
        let size = arch.native_size();
        for batch in [1usize, 8] {
            let x = Tensor::<4>::random(
                [batch, 3, size, size],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            group.bench_with_input(BenchmarkId::new(name, format!("b{batch}")), &x, |b, x| {
                b.iter(|| {
                    let logits = model.net.forward(x.clone()).expect("forward");
                    // Wait for the result so lazy backends are timed too.
                    logits.into_data()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
