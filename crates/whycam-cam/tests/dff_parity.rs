//! Parity with pytorch-grad-cam 1.5.7's Deep Feature Factorization (`dff()` and
//! `DeepFeatureFactorization.__call__`, scikit-learn 1.9's NMF underneath): whycam's concepts,
//! concept maps and concept scores against the float64 goldens of
//! `tools/reference/dff_goldens.py`, on the default model (EfficientNet-Lite0, real weights,
//! layer `features`: one photo with k = 4, two photos with k = 8) and on the seeded-random
//! torchvision ResNet-50 (`layer4`, k = 4). Regenerate with
//!
//! ```text
//! flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/dff_goldens.py
//! ```
//!
//! whycam takes the layer's activations from its own float32 forward pass (the model's trace)
//! and starts the NMF from scikit-learn's own random draws (`NmfInit::ScikitLearn(0)`, numpy's
//! `RandomState(0)` replayed; the golden's fingerprint of those draws is checked first), so it
//! must find the reference's concepts, not merely equally good ones. Bounds, each the larger of
//! 1e-4 and 4 times the farthest pytorch-grad-cam's own float32 lands from the float64 golden:
//! concepts relative to the largest |concept value|, raw maps (the NMF's H) relative to the
//! largest |map value|, scaled maps absolute (they span [0, 1]), concept scores relative to the
//! largest |score|. The scores are the network resumed at the layer from each concept as a
//! `channels × 1 × 1` map; both layers feed global average pooling and a Linear layer, so that
//! is the classifier on the concept vector (pytorch-grad-cam's `computation_on_concepts`), which
//! the test checks too. A run from whycam's own seeded start (ChaCha8) is held to the
//! reference's reconstruction error loosely: another local minimum, but as good a one.

use burn::prelude::*;
use serde::Deserialize;
use whycam_cam::dff::{NmfInit, concept_legend, factorize, initial_factors};
use whycam_models::Model;
use whycam_testkit::{default_model, golden_json, photo_batch, random_resnet50};

#[derive(Debug, Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    model: String,
    layer: String,
    images: Vec<String>,
    k: usize,
    channels: usize,
    shape: [usize; 2],
    init: Init,
    n_iter: usize,
    reconstruction_err: f64,
    concepts: Vec<f64>,
    maps: Vec<f64>,
    scaled: Vec<f64>,
    concept_outputs: Vec<f64>,
    legend: Vec<Vec<(usize, f64)>>,
    float32_gap: Gap,
}

#[derive(Debug, Deserialize)]
struct Init {
    seed: u32,
    avg: f64,
    stride: usize,
    h0: Vec<f64>,
    w0: Vec<f64>,
    h0_sum: f64,
    w0_sum: f64,
}

#[derive(Debug, Deserialize)]
struct Gap {
    concepts: f64,
    maps: f64,
    scaled: f64,
    concept_outputs: f64,
}

const FLOOR: f64 = 1e-4;
const FLOAT32_MULTIPLE: f64 = 4.0;

fn bound(gap: f64) -> f64 {
    FLOOR.max(FLOAT32_MULTIPLE * gap)
}

/// max |a - b| / max |b|.
fn relative(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((f64::from(*x) - y).abs()));
    diff / scale
}

fn absolute(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((f64::from(*x) - y).abs()))
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

/// The case's NMF matrix as `dff()` builds it (channels × batch·h·w, NaN as 0, shifted by each
/// channel's minimum), for the init fingerprint.
fn nmf_matrix(acts: &[f32], batch: usize, channels: usize, hw: usize) -> Vec<f64> {
    let cols = batch * hw;
    let mut x = vec![0.0; channels * cols];
    for b in 0..batch {
        for c in 0..channels {
            for p in 0..hw {
                let v = acts[(b * channels + c) * hw + p];
                x[c * cols + b * hw + p] = if v.is_nan() { 0.0 } else { f64::from(v) };
            }
        }
    }
    for row in x.chunks_mut(cols) {
        let min = row.iter().copied().fold(f64::INFINITY, f64::min);
        row.iter_mut().for_each(|v| *v -= min);
    }
    x
}

/// Checks the replayed draws against the golden's fingerprint of scikit-learn's `(W0, H0)`.
fn check_init(case: &Case, x: &[f64], rows: usize, cols: usize) {
    let (w0, h0) =
        initial_factors(x, rows, cols, case.k, &NmfInit::ScikitLearn(case.init.seed)).unwrap();
    // avg comes from whycam's float32 activations, the golden's from float64 ones.
    let avg = (x.iter().sum::<f64>() / x.len() as f64 / case.k as f64).sqrt();
    let avg_rel = (avg - case.init.avg).abs() / case.init.avg;
    let sampled = |v: &[f64]| -> Vec<f64> { v.iter().step_by(case.init.stride).copied().collect() };
    let rel_diff = |a: &[f64], b: &[f64]| -> f64 {
        assert_eq!(a.len(), b.len(), "{}: init sample length", case.id);
        a.iter().zip(b).fold(0.0f64, |m, (x, y)| {
            m.max((x - y).abs() / y.abs().max(1e-300))
        })
    };
    let h_rel = rel_diff(&sampled(&h0), &case.init.h0);
    let w_rel = rel_diff(&sampled(&w0), &case.init.w0);
    let h_sum = (h0.iter().sum::<f64>() - case.init.h0_sum).abs() / case.init.h0_sum;
    let w_sum = (w0.iter().sum::<f64>() - case.init.w0_sum).abs() / case.init.w0_sum;
    println!(
        "{}: init avg rel {avg_rel:.1e}, H0 sample rel {h_rel:.1e} sum {h_sum:.1e}, \
         W0 sample rel {w_rel:.1e} sum {w_sum:.1e}",
        case.id
    );
    // The draws are numpy's to the bit; the scale avg carries the float32 activations, and the
    // golden's samples are rounded to 7 significant digits (up to 5e-7 of a value).
    let tol = avg_rel + 1e-6;
    for (what, d) in [
        ("H0", h_rel),
        ("W0", w_rel),
        ("H0 sum", h_sum),
        ("W0 sum", w_sum),
    ] {
        assert!(
            d <= tol,
            "{}: replayed {what} differs by {d:.2e} (> {tol:.1e})",
            case.id
        );
    }
}

fn check(model: &Model, case: &Case) -> Vec<String> {
    let net = &*model.net;
    let n = case.images.len();
    let x = Tensor::<4>::from_data(
        TensorData::new(
            photo_batch(&case.images, &model.normalization()),
            [n, 3, 224, 224],
        ),
        model.device(),
    );
    let layer = model.layer(&case.layer).unwrap();
    let trace = net.trace(x, &[layer]).unwrap();
    let activations = trace.activations[0].clone();
    let [batch, channels, h, w] = activations.dims();
    assert_eq!(
        (batch, channels, [h, w]),
        (n, case.channels, case.shape),
        "{}",
        case.id
    );
    let acts = to_vec(activations);

    check_init(
        case,
        &nmf_matrix(&acts, batch, channels, h * w),
        channels,
        batch * h * w,
    );

    let start = std::time::Instant::now();
    let f = factorize(
        &acts,
        batch,
        channels,
        h,
        w,
        case.k,
        &NmfInit::ScikitLearn(0),
    )
    .unwrap();
    let elapsed = start.elapsed();
    let maps: Vec<f32> = f
        .maps
        .iter()
        .flatten()
        .flat_map(|p| p.data.clone())
        .collect();
    let scaled: Vec<f32> = f
        .scaled_maps()
        .iter()
        .flatten()
        .flat_map(|p| p.data.clone())
        .collect();

    // The concept scores: the network resumed at the layer from each concept as a 1 × 1 map,
    // and (both layers feed average pooling + Linear) the classifier on the concept vector.
    let concept_maps = Tensor::<4>::from_data(
        TensorData::new(f.concepts_as_maps(), [case.k, channels, 1, 1]),
        model.device(),
    );
    let resumed = to_vec(net.resume(&trace, 0, concept_maps).unwrap());
    let head = net.linear_head().expect("a linear head");
    let concepts = Tensor::<2>::from_data(
        TensorData::new(f.concepts_as_maps(), [case.k, channels]),
        model.device(),
    );
    let mut direct = concepts.matmul(head.weight.transpose());
    if let Some(bias) = head.bias {
        direct = direct + bias.unsqueeze_dim(0);
    }
    let direct = to_vec(direct);
    let classes = net.num_classes();
    let legend = concept_legend(&resumed, classes, case.legend[0].len()).unwrap();

    let gap = &case.float32_gap;
    let results = [
        (
            "concepts (rel)",
            relative(&f.concepts, &case.concepts),
            bound(gap.concepts),
        ),
        ("maps (rel)", relative(&maps, &case.maps), bound(gap.maps)),
        (
            "scaled maps (abs)",
            absolute(&scaled, &case.scaled),
            bound(gap.scaled),
        ),
        (
            "concept outputs, resumed (rel)",
            relative(&resumed, &case.concept_outputs),
            bound(gap.concept_outputs),
        ),
        (
            "concept outputs, classifier (rel)",
            relative(&direct, &case.concept_outputs),
            bound(gap.concept_outputs),
        ),
    ];
    println!(
        "{}: NMF sweeps whycam {} / scikit-learn {}, {:.0} ms; reconstruction error {:.6} / {:.6}",
        case.id,
        f.n_iter,
        case.n_iter,
        elapsed.as_secs_f64() * 1e3,
        f.reconstruction_err,
        case.reconstruction_err
    );
    let mut failures = Vec::new();
    for (what, diff, bound) in results {
        println!(
            "{}: {what} max difference {diff:.2e} (bound {bound:.1e})",
            case.id
        );
        if diff.is_nan() || diff > bound {
            failures.push(format!("{}: {what} {diff:.2e} > {bound:.1e}", case.id));
        }
    }
    if f.n_iter != case.n_iter {
        failures.push(format!(
            "{}: {} NMF sweeps, scikit-learn took {}",
            case.id, f.n_iter, case.n_iter
        ));
    }
    let err_rel = (f.reconstruction_err - case.reconstruction_err).abs() / case.reconstruction_err;
    if err_rel > FLOOR {
        failures.push(format!(
            "{}: reconstruction error differs by {err_rel:.2e}",
            case.id
        ));
    }
    for (j, (ours, theirs)) in legend.iter().zip(&case.legend).enumerate() {
        let classes: Vec<usize> = ours.iter().map(|(c, _)| *c).collect();
        let expected: Vec<usize> = theirs.iter().map(|(c, _)| *c).collect();
        let p_diff = ours.iter().zip(theirs).fold(0.0f64, |m, ((_, p), (_, q))| {
            m.max((f64::from(*p) - q).abs())
        });
        if classes != expected || p_diff > 1e-4 {
            failures.push(format!(
                "{}: concept {j}'s legend {ours:?}, expected {theirs:?}",
                case.id
            ));
        }
    }

    // whycam's own seeded start: another local minimum, about as good.
    let seeded = factorize(&acts, batch, channels, h, w, case.k, &NmfInit::Seeded(0)).unwrap();
    let ratio = seeded.reconstruction_err / case.reconstruction_err;
    println!(
        "{}: seeded start: {} sweeps, reconstruction error {:.4} ({ratio:.3} of scikit-learn's)",
        case.id, seeded.n_iter, seeded.reconstruction_err
    );
    if !(0.9..=1.1).contains(&ratio) {
        failures.push(format!(
            "{}: the seeded start's reconstruction error is {ratio:.3} of scikit-learn's",
            case.id
        ));
    }
    failures
}

fn check_model(name: &str, model: &Model) {
    let golden: Golden = golden_json("dff");
    let cases: Vec<&Case> = golden.cases.iter().filter(|c| c.model == name).collect();
    assert!(!cases.is_empty(), "no {name} case in dff.json");
    let failures: Vec<String> = cases.iter().flat_map(|c| check(model, c)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn efficientnet_lite0_matches_pytorch_grad_cam() {
    check_model("efficientnet-lite0", &default_model());
}

#[test]
fn resnet50_matches_pytorch_grad_cam() {
    let (_dir, model) = random_resnet50();
    check_model("resnet50", &model);
}
