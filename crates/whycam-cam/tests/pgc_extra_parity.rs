//! Parity with pytorch-grad-cam 1.5.7's KPCA-CAM, FEM, Finer-CAM, ShapleyCAM and RandomCAM:
//! whycam's maps against the float64 golden maps of `tools/reference/pgc_extra_goldens.py`, on
//! the default model (EfficientNet-Lite0, real weights, layers `features` and `_blocks.10`), on
//! the seeded-random torchvision ResNet-50 (`layer4`, `layer3`) and, for ShapleyCAM and Finer-CAM
//! with a network that is smooth after the layer, on the seeded-random EfficientNet-B0 ONNX
//! fixture (`features.3`: SiLU and sigmoid squeeze-excitation after it). Regenerate with
//!
//! ```text
//! flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/pgc_extra_goldens.py
//! ```
//!
//! The bound is `cam_parity.rs`'s: 1e-4 of the `[0, 1]` map, or 4 times the farthest PyTorch's
//! own float32 lands from the float64 map where the problem is ill conditioned in float32 (the
//! random ResNet-50's middle layer). RandomCAM replays the reference's `np.random` draw. KPCA-CAM
//! is compared with its sign, which both take from scikit-learn's `svd_flip` convention.
//! Besides the maps: ShapleyCAM equals whycam's own Grad-CAM bit for bit wherever the network
//! after the layer is piecewise linear (torch's Hessian-vector product is 0 there), and differs
//! from it where it is not; Finer-CAM compares against the classes the reference chose.

use burn::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use whycam_cam::methods::finercam::comparison_classes;
use whycam_cam::{ExplainOptions, Explainer, Method, MethodMap, MethodSettings, Noise, TargetSpec};
use whycam_data::Normalization;
use whycam_models::Model;
use whycam_testkit::{
    data_dir, default_model, golden_json, max_abs_diff, photo_batch, random_resnet50,
};

#[derive(Debug, Deserialize)]
struct Golden {
    model: String,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    method: String,
    layers: Vec<String>,
    image: String,
    target: usize,
    shape: [usize; 2],
    map: Vec<f32>,
    float32_gap: f32,
    #[serde(default)]
    noise: Option<Vec<Vec<f32>>>,
    #[serde(default)]
    compared: Option<Vec<usize>>,
    #[serde(default)]
    hvp_max: Option<f64>,
}

/// 1e-4 of the `[0, 1]` map: some 1,000 float32 ulps.
const FLOOR: f32 = 1e-4;
/// Where PyTorch's float32 is itself far from the float64 map, whycam (float32 too) may be this
/// many times as far (`cam_parity.rs`).
const FLOAT32_MULTIPLE: f32 = 4.0;

fn bound(case: &Case) -> f32 {
    FLOOR.max(FLOAT32_MULTIPLE * case.float32_gap)
}

fn load_golden(model: &str) -> Golden {
    golden_json(&format!("pgc_extra_{model}"))
}

/// An ONNX fixture of `tools/reference/export_onnx.py`.
fn fixture(name: &str) -> Model {
    Model::load_onnx(&data_dir().join(format!("onnx/{name}.torchscript.onnx"))).unwrap()
}

fn input(image: &str, normalization: &Normalization) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(
            photo_batch(&[image.to_string()], normalization),
            [1, 3, 224, 224],
        ),
        &Device::default(),
    )
}

/// `methods` on one image at `layers` for `target`, with `noise` as the settings' noise.
fn explain(
    model: &Model,
    normalization: &Normalization,
    image: &str,
    layers: &[String],
    target: usize,
    methods: Vec<Method>,
    noise: Noise,
) -> (Vec<MethodMap>, Vec<f32>) {
    let options = ExplainOptions {
        methods,
        layers: layers.to_vec(),
        settings: MethodSettings {
            noise,
            ..MethodSettings::default()
        },
        ..ExplainOptions::default()
    };
    let explainer = Explainer::new(model, options).unwrap();
    let labels: Vec<String> = (0..model.net.num_classes())
        .map(|i| i.to_string())
        .collect();
    let mut result = explainer
        .explain(
            input(image, normalization),
            &TargetSpec::Class(target),
            1,
            &labels,
        )
        .unwrap();
    let image = result.remove(0);
    let logits = image.logits;
    (image.targets.into_iter().next().unwrap().maps, logits)
}

/// Every case of `golden`: the deterministic methods of one image and layer in one explanation
/// (with Grad-CAM, for ShapleyCAM's check), RandomCAM with its replayed draw.
fn check(model: &Model, normalization: &Normalization, golden: &Golden) {
    let mut groups: BTreeMap<(String, Vec<String>), Vec<&Case>> = BTreeMap::new();
    for case in &golden.cases {
        groups
            .entry((case.image.clone(), case.layers.clone()))
            .or_default()
            .push(case);
    }
    let mut worst: BTreeMap<&str, (f32, String)> = BTreeMap::new();
    let mut failures = Vec::new();
    for ((image, layers), cases) in &groups {
        let target = cases[0].target;
        assert!(cases.iter().all(|c| c.target == target), "{image}");
        let deterministic: Vec<&Case> = cases
            .iter()
            .copied()
            .filter(|c| c.noise.is_none())
            .collect();
        let mut methods: Vec<Method> = deterministic
            .iter()
            .map(|c| c.method.parse().unwrap())
            .collect();
        methods.push(Method::GradCam);
        let (maps, logits) = explain(
            model,
            normalization,
            image,
            layers,
            target,
            methods,
            Noise::Seeded(0),
        );
        let gradcam = maps.last().unwrap();
        let mut results: Vec<(&Case, MethodMap)> = deterministic
            .iter()
            .copied()
            .zip(maps.iter().cloned())
            .collect();
        for case in cases.iter().filter(|c| c.noise.is_some()) {
            let noise = Noise::replay(case.noise.clone().unwrap());
            let method = case.method.parse().unwrap();
            let (mut maps, _) = explain(
                model,
                normalization,
                image,
                layers,
                target,
                vec![method],
                noise,
            );
            results.push((case, maps.remove(0)));
        }
        for (case, map) in results {
            assert_eq!(map.method.id(), case.method, "{}", case.id);
            assert_eq!([map.map.height, map.map.width], case.shape, "{}", case.id);
            let diff = max_abs_diff(&map.map.data, &case.map);
            let bound = bound(case);
            let entry = worst.entry(case.method.as_str()).or_default();
            if diff >= entry.0 {
                *entry = (diff, case.id.clone());
            }
            if diff > bound {
                failures.push(format!(
                    "{}: max |difference| {diff:.2e} > bound {bound:.2e}",
                    case.id
                ));
            }
            if let Some(compared) = &case.compared {
                let target = whycam_cam::Target {
                    class: Some(case.target),
                    name: String::new(),
                    coefficients: vec![(case.target, 1.0)],
                };
                assert_eq!(
                    &comparison_classes(&target, &logits),
                    compared,
                    "{}: Finer-CAM's comparison classes",
                    case.id
                );
            }
            if let Some(hvp) = case.hvp_max {
                let to_gradcam = max_abs_diff(&map.map.data, &gradcam.map.data);
                if hvp == 0.0 {
                    // Piecewise linear after the layer: exactly Grad-CAM.
                    assert_eq!(
                        map.signed[0].data, gradcam.signed[0].data,
                        "{}: ShapleyCAM is not Grad-CAM where the network after the layer \
                         is piecewise linear",
                        case.id
                    );
                } else {
                    println!(
                        "{}: torch's max |HVP| {hvp:.3e}; ShapleyCAM - Grad-CAM {to_gradcam:.2e}",
                        case.id
                    );
                    assert!(
                        to_gradcam > 10.0 * bound,
                        "{}: the Hessian term changes nothing ({to_gradcam:.2e}); the test \
                         could not catch it missing",
                        case.id
                    );
                }
            }
        }
    }
    for (method, (diff, case)) in &worst {
        println!(
            "{} {method}: max |difference| {diff:.2e} ({case})",
            golden.model
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
fn efficientnet_lite0_matches_pytorch_grad_cam() {
    let golden = load_golden("efficientnet-lite0");
    let model = default_model();
    check(&model, &model.normalization(), &golden);
}

#[test]
fn resnet50_matches_pytorch_grad_cam() {
    let golden = load_golden("resnet50");
    let (_dir, model) = random_resnet50();
    check(&model, &model.normalization(), &golden);
}

/// ShapleyCAM and Finer-CAM where the network after the layer is smooth (SiLU, sigmoid), so
/// that the Hessian-vector product is not zero.
#[test]
fn smooth_network_matches_pytorch_grad_cam() {
    let golden = load_golden("efficientnet_b0");
    check(
        &fixture("efficientnet_b0"),
        &Normalization::IMAGENET,
        &golden,
    );
}

/// ShapleyCAM where ReLUs and smooth layers mix after the layer (the RegNetY fixture at
/// `trunk_output.block2`: ReLUs and sigmoid squeeze-excitation after it): torch's product
/// ignores the ReLUs' kinks, a difference quotient cannot, and its two steps disagree (by more
/// than the weights themselves here), so whycam refuses rather than return a wrong map (the
/// quotient's map measured 1.0 away from torch's there).
#[test]
fn mixed_network_is_refused() {
    let model = fixture("regnet_y_400mf");
    let options = ExplainOptions {
        methods: vec![Method::ShapleyCam],
        layers: vec!["trunk_output.block2".into()],
        ..ExplainOptions::default()
    };
    let explainer = Explainer::new(&model, options).unwrap();
    let labels: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let error = explainer
        .explain(
            input("chelsea.png", &Normalization::IMAGENET),
            &TargetSpec::Auto,
            1,
            &labels,
        )
        .unwrap_err()
        .to_string();
    println!("{error}");
    assert!(
        error.contains("ShapleyCAM") && error.contains("mixes kinks"),
        "{error}"
    );
}

/// KPCA-CAM and FEM make their maps themselves in pytorch-grad-cam (their `get_cam_image`), so
/// `eigen_smooth` changes nothing: whycam's maps under `--eigen-smooth` are still the goldens.
#[test]
fn eigen_smooth_leaves_kpcacam_and_fem_alone() {
    let golden = load_golden("efficientnet-lite0");
    let model = default_model();
    let labels: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    for id in ["kpcacam/features/chelsea", "fem/_blocks.10/coffee"] {
        let case = golden.cases.iter().find(|c| c.id == id).unwrap();
        let options = ExplainOptions {
            methods: vec![case.method.parse().unwrap()],
            layers: case.layers.clone(),
            eigen_smooth: true,
            ..ExplainOptions::default()
        };
        let result = Explainer::new(&model, options)
            .unwrap()
            .explain(
                input(&case.image, &model.normalization()),
                &TargetSpec::Class(case.target),
                1,
                &labels,
            )
            .unwrap();
        let diff = max_abs_diff(&result[0].targets[0].maps[0].map.data, &case.map);
        println!("{id} with eigen_smooth: max |difference| {diff:.2e}");
        assert!(diff <= bound(case), "{id}: {diff:.2e}");
    }
}
