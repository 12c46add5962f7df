//! Parity of the pixel attributions with their references: Saliency, Gradient × Input,
//! Integrated Gradients, SmoothGrad and Occlusion against Captum 0.9, RISE against its authors'
//! code (github.com/eclique/RISE), on the default model with its real weights and on a
//! seeded-random torchvision ResNet-50, on 32 × 32 crops of the golden photos. The goldens come
//! from `tools/reference/attribution_goldens.py`; regenerate with
//! `flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/attribution_goldens.py`.
//!
//! Each golden is the reference run in float64 (the exact value) with the colour channels
//! reduced as whycam does (the maximum for Saliency, the sum for the others), plus its random
//! draws (IG's noise baseline, SmoothGrad's noise, RISE's grids and shifts), which whycam
//! replays through `Noise::replay` so both use the same noise. whycam's signed map
//! (`MethodMap::signed[0]`) must be within a fraction of the golden's largest |value|: 1e-4 for
//! the deterministic gradient methods, 1e-3 for the sampling and perturbation ones (SmoothGrad,
//! Occlusion, RISE), unless float32 itself is farther: each case carries `float32_gap`, the
//! reference's own float32 run's relative distance to float64, and the bound is at least
//! [`FLOAT32_MULTIPLE`] times it. The final `[0, 1]` map is compared too, its bound that of the
//! signed map scaled by the map's range.

use burn::prelude::*;
use serde::Deserialize;
use whycam_cam::{
    Baseline, ExplainOptions, Explainer, Integration, Method, MethodSettings, Noise, TargetSpec,
};
use whycam_models::Model;
use whycam_testkit::{cropped_photo, default_model, golden_json, max_abs_diff, random_resnet50};

#[derive(Debug, Deserialize)]
struct Golden {
    model: String,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    method: String,
    image: String,
    crop: [usize; 3],
    target: usize,
    settings: Settings,
    draws: Vec<Vec<f32>>,
    shape: [usize; 2],
    signed: Vec<f32>,
    map: Vec<f32>,
    float32_gap: f32,
}

#[derive(Debug, Default, Deserialize)]
struct Settings {
    steps: Option<usize>,
    integration: Option<String>,
    baseline: Option<String>,
    samples: Option<usize>,
    noise_std: Option<f32>,
    smoothgrad_base: Option<String>,
    window: Option<usize>,
    stride: Option<usize>,
    grid_cells: Option<usize>,
    keep_probability: Option<f32>,
}

impl Case {
    fn settings(&self) -> MethodSettings {
        let s = &self.settings;
        MethodSettings {
            noise: Noise::replay(self.draws.clone()),
            samples: s.samples,
            noise_std: s.noise_std,
            steps: s.steps,
            baseline: match s.baseline.as_deref() {
                None | Some("black") => Baseline::Black,
                Some("blur") => Baseline::Blur,
                Some("noise") => Baseline::Noise,
                Some(other) => panic!("{}: baseline {other}", self.id),
            },
            integration: match s.integration.as_deref() {
                None | Some("gausslegendre") => Integration::GaussLegendre,
                Some("riemann_left") => Integration::RiemannLeft,
                Some("riemann_right") => Integration::RiemannRight,
                Some("riemann_middle") => Integration::RiemannMiddle,
                Some("riemann_trapezoid") => Integration::RiemannTrapezoid,
                Some(other) => panic!("{}: integration {other}", self.id),
            },
            window: s.window,
            stride: s.stride,
            smoothgrad_base: s.smoothgrad_base.as_deref().map(|m| m.parse().unwrap()),
            grid_cells: s.grid_cells,
            keep_probability: s.keep_probability,
            ..MethodSettings::default()
        }
    }

    /// The allowed max |whycam − golden| of the signed map, relative to its largest |value|.
    fn tolerance(&self) -> f32 {
        let own = match self.method.as_str() {
            "saliency" | "gradient-input" | "integrated-gradients" => DETERMINISTIC,
            _ => SAMPLED,
        };
        own.max(FLOAT32_MULTIPLE * self.float32_gap)
    }
}

/// Deterministic gradient methods: 1e-4 of the map's largest |value|.
const DETERMINISTIC: f32 = 1e-4;
/// Sampling and perturbation methods: 1e-3.
const SAMPLED: f32 = 1e-3;
/// Where PyTorch's own float32 run lands farther from float64 than the tolerance, whycam (float32
/// too, summing in other orders) may land this many times as far.
const FLOAT32_MULTIPLE: f32 = 4.0;

fn load_golden(model: &str) -> Golden {
    golden_json(&format!("attribution_{model}"))
}

/// The golden photo as a `[1, 3, s, s]` input, cropped as the case says.
fn input(model: &Model, case: &Case) -> Tensor<4> {
    cropped_photo(model, &case.image, case.crop)
}

fn check_model(model: &Model, golden: &Golden) {
    let labels: Vec<String> = (0..model.net.num_classes())
        .map(|i| i.to_string())
        .collect();
    let mut failures = Vec::new();
    for case in &golden.cases {
        let method: Method = case.method.parse().unwrap();
        let options = ExplainOptions {
            methods: vec![method],
            settings: case.settings(),
            ..ExplainOptions::default()
        };
        let explainer = Explainer::new(model, options).unwrap();
        let result = explainer
            .explain(
                input(model, case),
                &TargetSpec::Class(case.target),
                1,
                &labels,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", case.id));
        let map = &result[0].targets[0].maps[0];
        let signed = &map.signed[0];
        assert_eq!([signed.height, signed.width], case.shape, "{}", case.id);
        assert_eq!([map.map.height, map.map.width], case.shape, "{}", case.id);
        let peak = case.signed.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let relu_max = case.signed.iter().fold(0.0f32, |m, &v| m.max(v));
        let relu_min = case
            .signed
            .iter()
            .fold(f32::INFINITY, |m, &v| m.min(v.max(0.0)));
        assert!(
            peak > 0.0,
            "{}: an all-zero golden could not catch a wrong method",
            case.id
        );
        let tolerance = case.tolerance();
        let signed_diff = max_abs_diff(&signed.data, &case.signed) / peak;
        // Min-max scaling divides by the range of the ReLU'd map; both ends may move.
        let map_bound = 2.0 * tolerance * peak / (relu_max - relu_min).max(f32::MIN_POSITIVE);
        let map_diff = max_abs_diff(&map.map.data, &case.map);
        println!(
            "{} {}: signed max |difference| {signed_diff:.2e} of the peak {peak:.3e} \
             (bound {tolerance:.0e}, PyTorch float32 {:.1e}); [0, 1] map {map_diff:.2e} \
             (bound {map_bound:.1e})",
            golden.model, case.id, case.float32_gap
        );
        if signed_diff > tolerance {
            failures.push(format!(
                "{}: signed map off by {signed_diff:.2e} of its peak > {tolerance:.0e}",
                case.id
            ));
        }
        if map_diff > map_bound {
            failures.push(format!(
                "{}: [0, 1] map off by {map_diff:.2e} > {map_bound:.1e}",
                case.id
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}:\n{}",
        golden.model,
        failures.join("\n")
    );
}

#[test]
fn efficientnet_lite0_attributions_match_captum_and_rise() {
    check_model(&default_model(), &load_golden("efficientnet-lite0"));
}

#[test]
fn resnet50_attributions_match_captum_and_rise() {
    let (_dir, model) = random_resnet50();
    check_model(&model, &load_golden("resnet50"));
}
