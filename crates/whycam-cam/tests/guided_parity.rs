//! Guided back-propagation and Guided Grad-CAM against pytorch-grad-cam 1.5.7
//! (`GuidedBackpropReLUModel`, and `GradCAM` times it), golden maps from
//! `~/venvs/ref/bin/python tools/reference/guided_goldens.py` (float64, a 64x64 crop of the
//! photo; on EfficientNet-Lite0 with ReLU6 guided as whycam does, see the script).
//!
//! The signed maps (the guided gradient summed over colour channels, times the Grad-CAM map
//! for Guided Grad-CAM) are compared relative to their largest magnitude, the final [0, 1]
//! maps absolutely; both within 1e-4.

use serde::Deserialize;
use whycam_cam::{ExplainOptions, Explainer, Method, TargetSpec};
use whycam_models::Model;
use whycam_testkit::{cropped_photo, default_model, golden_json, max_abs_diff, random_resnet50};

#[derive(Debug, Deserialize)]
struct Goldens {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    model: String,
    method: String,
    layer: String,
    image: String,
    crop: [usize; 3],
    target: usize,
    shape: [usize; 2],
    signed: Vec<f32>,
}

/// whycam's [0, 1] map of a signed map: ReLU, then `(x - min) / (1e-7 + max)`.
fn scaled(signed: &[f32]) -> Vec<f32> {
    let relu: Vec<f32> = signed.iter().map(|v| v.max(0.0)).collect();
    let min = relu.iter().copied().fold(f32::INFINITY, f32::min);
    let max = relu.iter().map(|v| v - min).fold(0.0f32, f32::max);
    relu.iter().map(|v| (v - min) / (1e-7 + max)).collect()
}

const TOLERANCE: f32 = 1e-4;

fn load_model(name: &str) -> (Option<tempfile::TempDir>, Model) {
    if name == "efficientnet-lite0" {
        return (None, default_model());
    }
    let (dir, model) = random_resnet50();
    (Some(dir), model)
}

#[test]
fn guided_maps_match_pytorch_grad_cam() {
    let goldens: Goldens = golden_json("guided");
    assert!(goldens.cases.len() >= 6);
    let mut failures = Vec::new();
    let mut models: Vec<(String, (Option<tempfile::TempDir>, Model))> = Vec::new();
    for case in &goldens.cases {
        if !models.iter().any(|(n, _)| n == &case.model) {
            models.push((case.model.clone(), load_model(&case.model)));
        }
        let model = &models.iter().find(|(n, _)| n == &case.model).unwrap().1.1;
        let method: Method = case.method.parse().unwrap();
        let explainer = Explainer::new(
            model,
            ExplainOptions {
                methods: vec![method],
                layers: vec![case.layer.clone()],
                ..ExplainOptions::default()
            },
        )
        .unwrap();
        let labels: Vec<String> = (0..model.net.num_classes())
            .map(|i| i.to_string())
            .collect();
        let x = cropped_photo(model, &case.image, case.crop);
        let result = explainer
            .explain(x, &TargetSpec::Class(case.target), 1, &labels)
            .unwrap();
        let map = &result[0].targets[0].maps[0];
        assert_eq!([map.map.height, map.map.width], case.shape, "{case:?}");
        let scale = case.signed.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let signed = max_abs_diff(&map.signed[0].data, &case.signed) / scale;
        let scaled = max_abs_diff(&map.map.data, &scaled(&case.signed));
        println!(
            "{} {} {}: signed max |difference| {signed:.2e} of the largest value, map {scaled:.2e}",
            case.model, case.method, case.image
        );
        if signed > TOLERANCE || scaled > TOLERANCE {
            failures.push(format!(
                "{} {} {}: {signed:.2e} / {scaled:.2e}",
                case.model, case.method, case.image
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Guiding changes the gradient: on ResNet-50 the guided map is not the plain gradient summed
/// over colour channels, which the same network gives outside the guided scope.
#[test]
fn guided_backprop_differs_from_the_plain_gradient() {
    let (_dir, model) = random_resnet50();
    let x = cropped_photo(&model, "chelsea.png", [80, 80, 64]);
    let labels = vec!["0".to_string(), "1".to_string()];
    let explainer = Explainer::new(
        &model,
        ExplainOptions {
            methods: vec![Method::GuidedBackprop],
            ..ExplainOptions::default()
        },
    )
    .unwrap();
    let result = explainer
        .explain(x.clone(), &TargetSpec::Class(0), 1, &labels)
        .unwrap();
    let guided = &result[0].targets[0].maps[0].signed[0].data;
    let leaf = x.autodiff().require_grad();
    let logits = model.net.forward(leaf.clone()).unwrap();
    let grads = logits.narrow(1, 0, 1).sum().backward();
    let plain: Vec<f32> = leaf
        .grad(&grads)
        .unwrap()
        .sum_dim(1)
        .into_data()
        .try_into_vec()
        .unwrap();
    let scale = plain.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let diff = max_abs_diff(guided, &plain) / scale;
    println!("guided vs plain gradient: {diff:.3}");
    assert!(diff > 0.05, "{diff}");
}
