//! FullGrad against pytorch-grad-cam 1.5.7 (`fullgrad_cam.py`), golden maps from
//! `flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/fullgrad_goldens.py` (float64):
//! the random ResNet-50 and the default model on a 64x64 crop of the photo (both targets for
//! ResNet-50), and the EfficientNet-B0 ONNX fixture of `export_onnx.py` through both exporters'
//! graphs on the whole photo (every 4th row and column compared). The [0, 1] maps are compared
//! absolutely, within cam_parity's bound: the larger of 1e-4 and 4 x `float32_gap`, how far
//! PyTorch's own float32 runs land from the float64 map. FullGrad scales every channel of every
//! layer to [0, 1) on its own, so a channel whose |bias x gradient| barely varies stretches its
//! rounding noise over the whole range: on the default model that gap reaches 3e-3.

use serde::Deserialize;
use whycam_cam::{ExplainOptions, Explainer, Method, TargetSpec};
use whycam_models::Model;
use whycam_testkit::{
    cropped_photo, data_dir, default_model, golden_json, max_abs_diff, random_resnet50,
};

#[derive(Debug, Deserialize)]
struct Goldens {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    model: String,
    image: String,
    crop: Option<[usize; 3]>,
    target: usize,
    layers: usize,
    float32_gap: f32,
    shape: [usize; 2],
    stride: usize,
    map: Vec<f32>,
}

/// The bound for a case.
fn tolerance(case: &Case) -> f32 {
    (4.0 * case.float32_gap).max(1e-4)
}

/// whycam's FullGrad map of `case` on `model`, every `case.stride`-th row and column.
fn fullgrad(model: &Model, case: &Case) -> Vec<f32> {
    let explainer = Explainer::new(
        model,
        ExplainOptions {
            methods: vec![Method::FullGrad],
            ..ExplainOptions::default()
        },
    )
    .unwrap();
    let labels: Vec<String> = (0..model.net.num_classes())
        .map(|i| i.to_string())
        .collect();
    let x = cropped_photo(model, &case.image, case.crop.unwrap_or([0, 0, 224]));
    let result = explainer
        .explain(x, &TargetSpec::Class(case.target), 1, &labels)
        .unwrap();
    let map = &result[0].targets[0].maps[0].map;
    assert_eq!([map.height, map.width], case.shape, "{}", case.image);
    map.data
        .chunks(map.width)
        .step_by(case.stride)
        .flat_map(|row| row.iter().step_by(case.stride).copied())
        .collect()
}

fn check(model: &Model, name: &str, cases: &[&Case]) -> Vec<String> {
    assert!(!cases.is_empty(), "no golden case for {name}");
    let mut failures = Vec::new();
    for case in cases {
        let diff = max_abs_diff(&fullgrad(model, case), &case.map);
        let bound = tolerance(case);
        println!(
            "{name} {} target {} ({} biased layers in PyTorch): max |difference| {diff:.2e} \
             (bound {bound:.1e}, PyTorch float32 gap {:.1e})",
            case.image, case.target, case.layers, case.float32_gap
        );
        if diff > bound {
            failures.push(format!("{name} {} {}: {diff:.2e}", case.image, case.target));
        }
    }
    failures
}

fn cases<'a>(goldens: &'a Goldens, model: &str) -> Vec<&'a Case> {
    goldens.cases.iter().filter(|c| c.model == model).collect()
}

#[test]
fn fullgrad_matches_pytorch_grad_cam() {
    let goldens: Goldens = golden_json("fullgrad");
    let mut failures = Vec::new();
    let (_dir, resnet) = random_resnet50();
    failures.extend(check(&resnet, "resnet50", &cases(&goldens, "resnet50")));
    let lite = default_model();
    failures.extend(check(
        &lite,
        "efficientnet-lite0",
        &cases(&goldens, "efficientnet-lite0"),
    ));
    for exporter in ["torchscript", "dynamo"] {
        let path = data_dir().join(format!("onnx/efficientnet_b0.{exporter}.onnx"));
        let model = Model::load_onnx(&path).unwrap();
        failures.extend(check(
            &model,
            &format!("efficientnet_b0 ({exporter})"),
            &cases(&goldens, "efficientnet_b0"),
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
