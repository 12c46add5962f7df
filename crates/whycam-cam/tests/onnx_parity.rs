//! ONNX classifiers exported by `torch.onnx.export` (TorchScript and dynamo exporters, opsets
//! 11 to 20, static and dynamic batch) run through whycam's interpreter: logits and
//! pytorch-grad-cam 1.5.7 maps against goldens of the PyTorch models in float64, made by
//! `~/venvs/ref/bin/python tools/reference/export_onnx.py` (which also wrote the small
//! seeded-random models under tests/data/onnx/).
//!
//! Bounds: logits within 1e-3 of the logit scale; maps within max(1e-3, 4 × PyTorch's own
//! float32 gap), as in `cam_parity.rs`.

use burn::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use whycam_cam::{ExplainOptions, Explainer, Method, TargetSpec};
use whycam_data::Normalization;
use whycam_models::Model;
use whycam_testkit::{
    assert_resumed_gradient_is_the_full_gradient, data_dir, max_abs_diff, photo_batch,
};

const LOGIT_TOLERANCE: f32 = 1e-3;
const MAP_FLOOR: f32 = 1e-3;
const FLOAT32_MULTIPLE: f32 = 4.0;

#[derive(Debug, Deserialize)]
struct OnnxGolden {
    model: String,
    files: Vec<OnnxFile>,
    images: Vec<String>,
    logits: Vec<Vec<f32>>,
    /// `default` is the module path a pytorch-grad-cam user passes as the target layer.
    layers: BTreeMap<String, String>,
    cases: Vec<OnnxCase>,
}

#[derive(Debug, Deserialize)]
struct OnnxFile {
    file: String,
    exporter: String,
    opset: i64,
    dynamic_batch: bool,
}

#[derive(Debug, Deserialize)]
struct OnnxCase {
    id: String,
    method: String,
    onnx_layer: String,
    #[serde(default)]
    onnx_layer_dynamo: Option<String>,
    image: usize,
    target: usize,
    shape: [usize; 2],
    map: Vec<f32>,
    float32_gap: f32,
}

fn golden(model: &str) -> OnnxGolden {
    let path = data_dir().join(format!("goldens/onnx_{model}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn batch(images: &[String], n: usize) -> Tensor<4> {
    Tensor::<4>::from_data(
        TensorData::new(
            photo_batch(images, &Normalization::IMAGENET),
            [n, 3, 224, 224],
        ),
        &Device::default(),
    )
}

/// Every export of one model: logits of the golden batch, then every map case.
fn check(name: &str) {
    let golden = golden(name);
    assert!(
        !golden.files.is_empty() && !golden.cases.is_empty(),
        "{name}: empty golden"
    );
    let mut failures = Vec::new();
    for file in &golden.files {
        let path = data_dir().join(&file.file);
        let model = Model::load_onnx(&path).unwrap_or_else(|e| panic!("{e}"));
        let tag = format!(
            "{} ({} opset {}, dynamic batch {})",
            file.file, file.exporter, file.opset, file.dynamic_batch
        );

        // whycam's default target is the layer pytorch-grad-cam users pass.
        let default = &golden.layers["default"];
        assert_eq!(
            model
                .layer(default)
                .unwrap_or_else(|e| panic!("{tag}: {e}")),
            model.net.default_layer(),
            "{tag}: the default target is {:?}, not {default:?}",
            model.layer_name(model.net.default_layer())
        );
        let n = golden.images.len();
        let logits = model
            .logits(
                photo_batch(&golden.images, &Normalization::IMAGENET),
                n,
                224,
            )
            .unwrap();
        let expected: Vec<f32> = golden.logits.concat();
        let scale = expected.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(&logits, &expected);
        println!("{tag}: logits max |difference| {diff:.2e} (scale {scale:.2})");
        if diff > LOGIT_TOLERANCE * scale {
            failures.push(format!("{tag}: logits off by {diff:.2e}"));
        }

        let mut groups: BTreeMap<(usize, String), Vec<&OnnxCase>> = BTreeMap::new();
        for case in &golden.cases {
            let layer = match (&case.onnx_layer_dynamo, file.exporter.as_str()) {
                (Some(l), "dynamo") => l.clone(),
                _ => case.onnx_layer.clone(),
            };
            groups.entry((case.image, layer)).or_default().push(case);
        }
        let labels: Vec<String> = (0..model.net.num_classes().max(2))
            .map(|i| i.to_string())
            .collect();
        let mut worst = 0.0f32;
        for ((image, layer), cases) in &groups {
            let mut by_target: BTreeMap<usize, Vec<&OnnxCase>> = BTreeMap::new();
            for c in cases {
                by_target.entry(c.target).or_default().push(c);
            }
            for (target, cases) in by_target {
                // pytorch-grad-cam's ClassifierOutputTarget(0) on a one-logit head explains the
                // logit itself, which whycam calls class 1 (class 0 is the negated logit).
                let target = if model.net.num_classes() == 1 {
                    1
                } else {
                    target
                };
                let methods: Vec<Method> =
                    cases.iter().map(|c| c.method.parse().unwrap()).collect();
                let options = ExplainOptions {
                    methods,
                    layers: vec![layer.clone()],
                    ..ExplainOptions::default()
                };
                let explainer =
                    Explainer::new(&model, options).unwrap_or_else(|e| panic!("{tag}: {e}"));
                let x = batch(&golden.images[*image..=*image], 1);
                let result = explainer
                    .explain(x, &TargetSpec::Class(target), 1, &labels)
                    .unwrap_or_else(|e| panic!("{tag}: {e}"));
                for (case, map) in cases.iter().zip(&result[0].targets[0].maps) {
                    assert_eq!(
                        [map.map.height, map.map.width],
                        case.shape,
                        "{tag} {}",
                        case.id
                    );
                    let diff = max_abs_diff(&map.map.data, &case.map);
                    let bound = MAP_FLOOR.max(FLOAT32_MULTIPLE * case.float32_gap);
                    worst = worst.max(diff);
                    if diff > bound {
                        failures.push(format!(
                            "{tag} {} at {layer}: {diff:.2e} > {bound:.2e}",
                            case.id
                        ));
                    }
                }
            }
        }
        println!(
            "{tag}: maps max |difference| {worst:.2e} over {} cases",
            golden.cases.len()
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
fn resnet18_cifar_matches_pytorch() {
    check("resnet18_cifar");
}

#[test]
fn resnet18_cifar_binary_head_matches_pytorch() {
    check("resnet18_cifar_binary");
}

#[test]
fn mobilenet_v3_large_matches_pytorch() {
    check("mobilenet_v3_large");
}

#[test]
fn convnext_tiny_matches_pytorch() {
    check("convnext_tiny");
}

#[test]
fn regnet_y_400mf_matches_pytorch() {
    check("regnet_y_400mf");
}

#[test]
fn efficientnet_b0_matches_pytorch() {
    check("efficientnet_b0");
}

#[test]
fn resnext50_matches_pytorch() {
    check("resnext50");
}

#[test]
fn timm_lcnet_matches_pytorch() {
    check("lcnet_035");
}

#[test]
fn fastai_learner_matches_pytorch() {
    check("fastai_resnet34");
}

/// A small network built to exercise the operators: grouped, dilated and asymmetrically padded
/// convolutions, reflect/edge padding, ceil-mode pooling with and without padded counts,
/// Group/Instance/Layer normalisation, every activation, chunk/split/concat, a channel softmax,
/// expand, reductions, and (dynamo) Softplus as Where(x > 20, x, Softplus(x)).
#[test]
fn operator_zoo_matches_pytorch() {
    check("ops_zoo");
}

/// The gradient at a layer from resuming the graph after it equals the gradient of the whole
/// graph run from the input with a zero probe added at that layer, for a cut between blocks,
/// one inside a residual block (the skip branch is read from the trace) and one on the skip
/// branch itself.
#[test]
fn resumed_gradient_equals_the_full_graph_gradient() {
    let path = data_dir().join("onnx/resnet18_cifar.torchscript.onnx");
    let model = Model::load_onnx(&path).unwrap();
    let net = &*model.net;
    let device = Device::default();
    let names: Vec<String> = ["chelsea.png", "coffee.png"].map(String::from).to_vec();
    let x = batch(&names, 2);
    let classes = net.num_classes();
    let mut coefficients = vec![0.0f32; 2 * classes];
    coefficients[3] = 1.0;
    coefficients[classes + 7] = 1.0;
    let coef = Tensor::<2>::from_data(TensorData::new(coefficients, [2, classes]), &device);
    for layer in ["layer4", "layer3.0.bn2", "layer3.0.downsample"] {
        assert_resumed_gradient_is_the_full_gradient(&model, layer, &x, &coef);
    }
}

/// The same weights as a zoo network and as its ONNX export give the same maps, at the
/// default layer and a middle one. Needs the full-size exports (100 MB, not committed):
/// `~/venvs/ref/bin/python tools/reference/export_bench_models.py DIR`, then
/// `WHYCAM_BENCH_ONNX=DIR cargo test --release -p whycam-cam --test onnx_parity -- --ignored zoo`.
#[test]
#[ignore = "needs WHYCAM_BENCH_ONNX: the full-size exports of tools/reference/export_bench_models.py"]
fn a_zoo_network_and_its_onnx_export_give_the_same_maps() {
    let dir = std::path::PathBuf::from(
        std::env::var_os("WHYCAM_BENCH_ONNX").expect("WHYCAM_BENCH_ONNX=DIR"),
    );
    let images: Vec<String> = ["chelsea.png", "coffee.png"].map(String::from).to_vec();
    let cases = [
        (
            "resnet50",
            ["layer4", "layer3"],
            vec![Method::GradCam, Method::GradCamPlusPlus, Method::HiResCam],
        ),
        (
            "efficientnet-lite0",
            ["features", "_blocks.10"],
            vec![
                Method::GradCam,
                Method::GradCamPlusPlus,
                Method::HiResCam,
                Method::ScoreCam,
            ],
        ),
    ];
    for (name, layers, methods) in cases {
        let architecture: whycam_models::Architecture = name.parse().unwrap();
        let zoo = Model::load(
            architecture,
            &dir.join(format!("{name}.pth")),
            Default::default(),
        )
        .unwrap();
        let onnx = Model::load_onnx(&dir.join(format!("{name}.onnx"))).unwrap();
        let data = photo_batch(&images, &zoo.normalization());
        let x = Tensor::<4>::from_data(TensorData::new(data, [2, 3, 224, 224]), &Device::default());
        let labels: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        for layer in layers {
            // The ONNX export names the default model's last feature map by its module path.
            let onnx_layer = if layer == "features" {
                onnx.layer_name(onnx.net.default_layer()).to_string()
            } else {
                layer.to_string()
            };
            let explain = |model: &Model, layer: &str| {
                let options = ExplainOptions {
                    methods: methods.clone(),
                    layers: vec![layer.to_string()],
                    ..ExplainOptions::default()
                };
                Explainer::new(model, options)
                    .unwrap()
                    .explain(x.clone(), &TargetSpec::Auto, 1, &labels)
                    .unwrap()
            };
            let (a, b) = (explain(&zoo, layer), explain(&onnx, &onnx_layer));
            for (ia, ib) in a.iter().zip(&b) {
                assert_eq!(ia.targets[0].target.class, ib.targets[0].target.class);
                for (ma, mb) in ia.targets[0].maps.iter().zip(&ib.targets[0].maps) {
                    let diff = max_abs_diff(&ma.map.data, &mb.map.data);
                    println!(
                        "{name} {layer} ({onnx_layer}) {}: max |difference| {diff:.2e}",
                        ma.method.title()
                    );
                    assert!(
                        diff <= MAP_FLOOR,
                        "{name} {layer} {}: {diff}",
                        ma.method.title()
                    );
                }
            }
        }
    }
}
