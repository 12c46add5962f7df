//! Vision transformers through ONNX: token layers `[batch, 1 + h·w, channels]` explained as
//! `[channels, h, w]` maps with the class token dropped, against pytorch-grad-cam 1.5.7 with the
//! ViT tutorial's `reshape_transform`, in float64. The goldens and the small seeded-random
//! models under tests/data/onnx/ (a torchvision ViT-B/16-shaped model of 2 blocks and width 64,
//! both exporters; a timm DeiT with a distillation token, 198 tokens, which needs
//! `--tokens-grid`; a torchvision Swin of 2 stages, channels last) come from
//! `~/venvs/ref/bin/python tools/reference/vit_goldens.py`.
//!
//! Bound: maps within 1e-4 (Eigen-CAM up to the projection's sign), logits within 1e-4 of
//! their scale.

use burn::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use whycam_cam::{ExplainOptions, Explainer, Method, TargetSpec};
use whycam_data::Normalization;
use whycam_models::{Model, OnnxOptions};
use whycam_testkit::{
    assert_resumed_gradient_is_the_full_gradient, data_dir, max_abs_diff, photo_batch,
};

const MAP_TOLERANCE: f32 = 1e-4;
const LOGIT_TOLERANCE: f32 = 1e-4;

#[derive(Debug, Deserialize)]
struct VitGolden {
    files: Vec<VitFile>,
    images: Vec<String>,
    logits: Vec<Vec<f32>>,
    layers: BTreeMap<String, String>,
    /// What `--tokens-grid` whycam must be given (`None`: the grid is inferred).
    tokens_grid: Option<(usize, usize)>,
    cases: Vec<VitCase>,
}

#[derive(Debug, Deserialize)]
struct VitFile {
    file: String,
    exporter: String,
}

#[derive(Debug, Deserialize)]
struct VitCase {
    id: String,
    method: String,
    layer: String,
    image: usize,
    target: usize,
    shape: [usize; 2],
    map: Vec<f32>,
    #[serde(default)]
    flipped_map: Option<Vec<f32>>,
}

fn golden(model: &str) -> VitGolden {
    let path = data_dir().join(format!("goldens/onnx_{model}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn batch(images: &[String]) -> Tensor<4> {
    Tensor::<4>::from_data(
        TensorData::new(
            photo_batch(images, &Normalization::IMAGENET),
            [images.len(), 3, 224, 224],
        ),
        &Device::default(),
    )
}

fn load(file: &str, tokens_grid: Option<(usize, usize)>) -> Model {
    let path = data_dir().join(file);
    Model::load_onnx_with(&path, &Device::default(), OnnxOptions { tokens_grid })
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Every export of one model: the default layer (`default`, or the golden's "last" layer), the
/// logits, then every map case.
fn check(name: &str, default: Option<&str>) {
    let golden = golden(name);
    assert!(!golden.files.is_empty() && !golden.cases.is_empty());
    let mut failures = Vec::new();
    for file in &golden.files {
        let model = load(&file.file, golden.tokens_grid);
        let tag = format!("{} ({})", file.file, file.exporter);
        // A ViT's default target is the last block's first LayerNorm, the tutorial's.
        let last = default.unwrap_or(&golden.layers["last"]);
        assert_eq!(
            model.layer(last).unwrap_or_else(|e| panic!("{tag}: {e}")),
            model.net.default_layer(),
            "{tag}: the default target is {:?}",
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

        let mut groups: BTreeMap<(usize, &str, usize), Vec<&VitCase>> = BTreeMap::new();
        for case in &golden.cases {
            groups
                .entry((case.image, case.layer.as_str(), case.target))
                .or_default()
                .push(case);
        }
        let labels: Vec<String> = (0..model.net.num_classes())
            .map(|i| i.to_string())
            .collect();
        let mut worst: BTreeMap<&str, f32> = BTreeMap::new();
        for ((image, layer, target), cases) in groups {
            let methods: Vec<Method> = cases.iter().map(|c| c.method.parse().unwrap()).collect();
            let options = ExplainOptions {
                methods,
                layers: vec![layer.to_string()],
                ..ExplainOptions::default()
            };
            let explainer =
                Explainer::new(&model, options).unwrap_or_else(|e| panic!("{tag}: {e}"));
            let x = batch(&golden.images[image..=image]);
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
                let mut diff = max_abs_diff(&map.map.data, &case.map);
                if let Some(flipped) = &case.flipped_map {
                    diff = diff.min(max_abs_diff(&map.map.data, flipped));
                }
                let w = worst.entry(case.method.as_str()).or_default();
                *w = w.max(diff);
                if diff > MAP_TOLERANCE {
                    failures.push(format!("{tag} {}: {diff:.2e}", case.id));
                }
            }
        }
        for (method, diff) in &worst {
            println!("{tag}: {method:<12} maps max |difference| {diff:.2e}");
        }
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

#[test]
fn vit_token_layers_match_pytorch_grad_cam() {
    check("vit_tiny", None);
}

/// DeiT's 198 tokens (class, distillation, 14x14 patches) are explained on the grid given, its
/// two leading tokens dropped.
#[test]
fn deit_with_a_tokens_grid_matches_pytorch_grad_cam() {
    check("deit_tiny_distilled", None);
}

/// Swin's channels-last layers `[batch, h, w, channels]` (both exporters; shifted windows with
/// their mask, patch merging) are explained as `[channels, h, w]` maps; the default target is
/// the final LayerNorm's output as the pooling reads it (after the permute to channels first).
#[test]
fn swin_channels_last_layers_match_pytorch_grad_cam() {
    check("swin_tiny", Some("permute"));
}

/// The gradient at a token layer from resuming the graph after it (the class token read from
/// the trace) equals the gradient of the whole graph with a zero probe added to its patch
/// tokens, at the block output (residual sum) and the last block's LayerNorm.
#[test]
fn resumed_gradient_at_a_token_layer_is_the_full_gradient() {
    let model = load("onnx/vit_tiny.torchscript.onnx", None);
    let names: Vec<String> = ["chelsea.png", "coffee.png"].map(String::from).to_vec();
    let x = batch(&names);
    let classes = model.net.num_classes();
    let mut coefficients = vec![0.0f32; 2 * classes];
    coefficients[3] = 1.0;
    coefficients[classes + 7] = -1.0;
    let coef = Tensor::<2>::from_data(
        TensorData::new(coefficients, [2, classes]),
        &Device::default(),
    );
    for layer in [
        "encoder.layers.encoder_layer_0",
        "encoder.layers.encoder_layer_1.ln_1",
    ] {
        assert_resumed_gradient_is_the_full_gradient(&model, layer, &x, &coef);
    }
}

/// Without a grid, DeiT's token layers (198 tokens: not a square plus one, not a square) are
/// refused with a message that asks for --tokens-grid, whether named or the default; a grid
/// that does not fit is refused the same way. (The command line's side, with the grid given
/// making them 14x14 maps, is `tests/onnx_vit_cli.rs` in the workspace root.)
#[test]
fn a_token_count_without_a_grid_asks_for_tokens_grid() {
    let file = "onnx/deit_tiny_distilled.torchscript.onnx";
    let model = load(file, None);
    let err = model.layer("blocks.0.norm1").unwrap_err().to_string();
    assert!(
        err.contains("198 tokens") && err.contains("--tokens-grid HxW"),
        "{err}"
    );
    let default = model.layer_name(model.net.default_layer()).to_string();
    assert_eq!(default, "blocks.0.norm1");
    let err = match Explainer::new(&model, ExplainOptions::default()) {
        Ok(_) => panic!("the default layer needs a grid"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("--tokens-grid"), "{err}");

    let misfit = load(file, Some((10, 10)));
    let err = misfit.layer("blocks.0.norm1").unwrap_err().to_string();
    assert!(
        err.contains("--tokens-grid 10x10 does not fit") && err.contains("--tokens-grid HxW"),
        "{err}"
    );
}

/// --tokens-grid overrides the inferred grid: the ViT's 197 tokens on a 7x28 grid give 7x28
/// maps (the same tokens, another arrangement), and Grad-CAM's channel weights (means over all
/// patches) are unchanged, so the map is the inferred one's values rearranged.
#[test]
fn tokens_grid_overrides_the_inferred_grid() {
    let file = "onnx/vit_tiny.torchscript.onnx";
    let layer = "encoder.layers.encoder_layer_1.ln_1";
    let names: Vec<String> = vec!["chelsea.png".to_string()];
    let explain = |grid| {
        let model = load(file, grid);
        let options = ExplainOptions {
            methods: vec![Method::GradCam],
            layers: vec![layer.to_string()],
            ..ExplainOptions::default()
        };
        let labels: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let result = Explainer::new(&model, options)
            .unwrap()
            .explain(batch(&names), &TargetSpec::Class(8), 1, &labels)
            .unwrap();
        result[0].targets[0].maps[0].map.clone()
    };
    let square = explain(None);
    let wide = explain(Some((7, 28)));
    assert_eq!([square.height, square.width], [14, 14]);
    assert_eq!([wide.height, wide.width], [7, 28]);
    // Row-major over the patches either way: the same sequence.
    assert!(max_abs_diff(&square.data, &wide.data) < 1e-6);
    let same = explain(Some((14, 14)));
    assert_eq!(same.data, square.data);
}
