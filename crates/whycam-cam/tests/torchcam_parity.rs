//! Parity with torchcam 0.5.0 for the sampling methods it has and pytorch-grad-cam lacks:
//! SmoothGrad-CAM++, SS-CAM and IS-CAM, on the default model with its real weights and on a
//! seeded-random torchvision ResNet-50, against golden maps computed in float64 by
//! `tools/reference/torchcam_goldens.py`. Regenerate with
//! `flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/torchcam_goldens.py`.
//!
//! Both sides use the same noise: the golden holds the seed torchcam ran under and a
//! fingerprint of every draw torchcam made (its first values, its sum); the test regenerates
//! PyTorch's CPU normal stream from the seed ([`TorchNormal`]), checks each draw against its
//! fingerprint and replays it to whycam ([`Noise::replay`]), which must use up every draw. The
//! maps are compared after ReLU and min-max scaling at the layer's resolution: within 1e-3 (the
//! bound of sampling methods), or 4 × how far PyTorch's own float32 runs land from the float64
//! map where that is larger; a case where PyTorch's float32 itself misses the bound
//! ([`ILL_CONDITIONED`]) is printed but not asserted.

use burn::prelude::*;
use serde::Deserialize;
use std::time::Instant;
use whycam_cam::{ExplainOptions, Explainer, Method, MethodSettings, Noise, TargetSpec};
use whycam_models::Model;
use whycam_testkit::{default_model, golden_json, max_abs_diff, photo_batch, random_resnet50};

#[derive(Debug, Deserialize)]
struct TorchcamGolden {
    model: String,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    method: String,
    layer: String,
    image: String,
    crop: Option<[usize; 3]>,
    target: usize,
    samples: Option<usize>,
    std: Option<f32>,
    seed: u64,
    draws: Vec<Draw>,
    shape: [usize; 2],
    map: Vec<f32>,
    float32_gap: f32,
}

/// One `Normal(0, std).sample(shape)` call of torchcam, by its fingerprint.
#[derive(Debug, Deserialize)]
struct Draw {
    count: usize,
    head: Vec<f32>,
    sum: f64,
}

/// The sampling methods' bound.
const TOLERANCE: f32 = 1e-3;
/// Where PyTorch's float32 is farther than the bound from float64, whycam (float32 too) may be
/// this many times as far.
const FLOAT32_MULTIPLE: f32 = 4.0;
/// Where PyTorch's own float32 lands farther than [`TOLERANCE`] from float64, float32 cannot
/// compute the map to the bound at all (SmoothGrad-CAM++'s α has a pole where
/// `2·D₂ + Σ D₃·A = 0`): such a case is printed, not asserted. At ResNet-50's layer3 and the
/// default model's `_blocks.10` PyTorch's float32 lands 1e-2..1 away from float64, and a few
/// runs can land close by chance (`_blocks.10/rocket`: 1.1e-2 over 4 runs, its neighbours 0.6
/// and 0.9), so the whole range above the tolerance counts as ill-conditioned, not only the
/// cases measured far off.
const ILL_CONDITIONED: f32 = TOLERANCE;

/// PyTorch's CPU generator (`at::mt19937`) and its `normal_` for float tensors of 16 or more
/// values (ATen's `normal_fill`): one 24-bit uniform per value, then Box-Muller over each block
/// of 16 (`u1 = 1 - data[j]`, `u2 = data[j + 8]`, `j < 8`), the last block redrawn from 16 fresh
/// uniforms when the count is not a multiple of 16. `Normal(0, σ).sample` scales the standard
/// draw by σ.
struct TorchNormal {
    state: [u32; 624],
    index: usize,
}

impl TorchNormal {
    /// `torch.manual_seed(seed)`.
    fn new(seed: u64) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed as u32;
        for i in 1..624 {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Self { state, index: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for i in 0..624 {
                let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
                let mut next = self.state[(i + 397) % 624] ^ (y >> 1);
                if y & 1 == 1 {
                    next ^= 0x9908_b0df;
                }
                self.state[i] = next;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn uniform(&mut self) -> f32 {
        (self.next_u32() & 0xff_ffff) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// `count` (at least 16) draws of `Normal(0, std)`.
    fn normal(&mut self, count: usize, std: f32) -> Vec<f32> {
        assert!(
            count >= 16,
            "PyTorch draws fewer than 16 values another way"
        );
        let mut data: Vec<f32> = (0..count).map(|_| self.uniform()).collect();
        let fill = |block: &mut [f32]| {
            for j in 0..8 {
                let u1 = 1.0 - block[j];
                let u2 = block[j + 8];
                let radius = (-2.0 * u1.ln()).sqrt();
                let theta = (2.0 * std::f64::consts::PI * f64::from(u2)) as f32;
                block[j] = radius * theta.cos() * std;
                block[j + 8] = radius * theta.sin() * std;
            }
        };
        for block in data.chunks_exact_mut(16) {
            fill(block);
        }
        if !count.is_multiple_of(16) {
            let tail = &mut data[count - 16..];
            for v in tail.iter_mut() {
                *v = self.uniform();
            }
            fill(tail);
        }
        data
    }
}

fn load_golden(model: &str) -> TorchcamGolden {
    golden_json(&format!("torchcam_{model}"))
}

/// The golden photo as a `[1, 3, s, s]` input, cropped as the case says.
fn input(model: &Model, case: &Case) -> (Tensor<4>, usize) {
    let full = photo_batch(std::slice::from_ref(&case.image), &model.normalization());
    let (top, left, size) = match case.crop {
        Some([t, l, s]) => (t, l, s),
        None => (0, 0, 224),
    };
    let mut data = Vec::with_capacity(3 * size * size);
    for c in 0..3 {
        for y in top..top + size {
            let row = (c * 224 + y) * 224;
            data.extend_from_slice(&full[row + left..row + left + size]);
        }
    }
    let x = Tensor::from_data(
        TensorData::new(data, [1, 3, size, size]),
        &Device::default(),
    );
    (x, size)
}

/// torchcam's draws for the case, regenerated from its seed and checked against the golden's
/// fingerprints, cut into whycam's draws: SS-CAM draws `height × width` values per channel.
/// The check allows 1e-5 relative: PyTorch's vectorised `log`/`cos` (AVX-512 here) and the
/// scalar ones used here differ by some ulps, which moves no map by a measurable amount.
fn replayed_draws(case: &Case, input_side: usize) -> Vec<Vec<f32>> {
    let std = case.std.unwrap_or(match case.method.as_str() {
        "sscam" => 2.0,
        _ => 0.3,
    });
    let mut torch = TorchNormal::new(case.seed);
    let mut draws = Vec::new();
    for (i, draw) in case.draws.iter().enumerate() {
        let values = torch.normal(draw.count, std);
        for (k, (&ours, &theirs)) in values.iter().zip(&draw.head).enumerate() {
            assert!(
                (ours - theirs).abs() <= 1e-5 * theirs.abs().max(1.0),
                "{}: draw {i} value {k}: regenerated {ours}, torch drew {theirs}",
                case.id
            );
        }
        let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
        let scale: f64 = values.iter().map(|&v| f64::from(v).abs()).sum();
        assert!(
            (sum - draw.sum).abs() <= 1e-5 * scale,
            "{}: draw {i} sums to {sum}, torch's to {}",
            case.id,
            draw.sum
        );
        if case.method == "sscam" {
            draws.extend(values.chunks(input_side * input_side).map(<[f32]>::to_vec));
        } else {
            draws.push(values);
        }
    }
    draws
}

fn check_model(model: &Model, golden: &TorchcamGolden) {
    assert!(!golden.cases.is_empty(), "{}: no cases", golden.model);
    let labels: Vec<String> = (0..model.net.num_classes())
        .map(|i| i.to_string())
        .collect();
    let mut failures = Vec::new();
    let mut asserted = std::collections::BTreeSet::new();
    for case in &golden.cases {
        let start = Instant::now();
        let method: Method = case.method.parse().unwrap();
        let (x, side) = input(model, case);
        let noise = Noise::replay(replayed_draws(case, side));
        let options = ExplainOptions {
            methods: vec![method],
            layers: vec![case.layer.clone()],
            settings: MethodSettings {
                noise: noise.clone(),
                samples: case.samples,
                noise_std: case.std,
                ..MethodSettings::default()
            },
            // torchcam's batch of masked inputs: on the small crops one item is a small pass.
            probe_batch_size: (case.method != "smoothgradcampp").then_some(32),
            ..ExplainOptions::default()
        };
        let explainer = Explainer::new(model, options).unwrap();
        let result = explainer
            .explain(x, &TargetSpec::Class(case.target), 1, &labels)
            .unwrap();
        let map = &result[0].targets[0].maps[0];
        assert_eq!([map.map.height, map.map.width], case.shape, "{}", case.id);
        if let Noise::Replay(left) = &noise {
            let left = left.lock().unwrap().len();
            assert_eq!(
                left, 0,
                "{}: whycam left {left} of torchcam's draws",
                case.id
            );
        }
        let diff = max_abs_diff(&map.map.data, &case.map);
        let bound = TOLERANCE.max(FLOAT32_MULTIPLE * case.float32_gap);
        if case.float32_gap > ILL_CONDITIONED {
            println!(
                "{} {}: max |difference| {diff:.2e}; ill-conditioned (PyTorch float32 gap {:.1e}), \
                 not asserted",
                golden.model, case.id, case.float32_gap
            );
            continue;
        }
        asserted.insert(case.method.as_str());
        println!(
            "{} {}: max |difference| {diff:.2e} (bound {bound:.1e}, PyTorch float32 gap {:.1e}), \
             {:.1} s",
            golden.model,
            case.id,
            case.float32_gap,
            start.elapsed().as_secs_f32()
        );
        if diff > bound {
            failures.push(format!(
                "{}: max |difference| {diff:.2e} > {bound:.1e}",
                case.id
            ));
        }
    }
    for case in &golden.cases {
        assert!(
            asserted.contains(case.method.as_str()),
            "{}: no well-conditioned case of {}",
            golden.model,
            case.method
        );
    }
    assert!(
        failures.is_empty(),
        "{}:\n{}",
        golden.model,
        failures.join("\n")
    );
}

#[test]
fn efficientnet_lite0_maps_match_torchcam() {
    check_model(&default_model(), &load_golden("efficientnet-lite0"));
}

#[test]
fn resnet50_maps_match_torchcam() {
    let (_dir, model) = random_resnet50();
    check_model(&model, &load_golden("resnet50"));
}

/// The regenerated stream is PyTorch's: `torch.manual_seed(123); torch.randn(40)` then
/// `Normal(0, 0.3).sample((1, 3, 2, 5))` (a count that is not a multiple of 16).
#[test]
fn torch_normal_stream_is_regenerated() {
    let mut torch = TorchNormal::new(123);
    let first = torch.normal(40, 1.0);
    let want = [0.3374, -0.1778, -0.3035, -0.5880, 0.3486];
    assert!(max_abs_diff(&first[..5], &want) < 1e-4, "{first:?}");
    let second = torch.normal(30, 0.3);
    let want = [
        -0.385_150_4,
        -0.087_036_02,
        0.383_022_07,
        -0.298_440_43,
        0.365_270_85,
    ];
    assert!(max_abs_diff(&second[25..], &want) < 1e-6, "{second:?}");
}
