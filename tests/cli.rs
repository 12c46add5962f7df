//! End-to-end tests of the `whycam` binary.

mod support;

use serde_json::Value;
use std::process::Output;
use support::whycam;

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn top_indices(result: &Value) -> Vec<u64> {
    result["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["index"].as_u64().unwrap())
        .collect()
}

fn result_for<'a>(report: &'a Value, file: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["image"].as_str().unwrap().ends_with(file))
        .unwrap_or_else(|| panic!("no result for {file}: {report}"))
}

#[test]
fn default_model_recognises_the_sample_photos() {
    let out = whycam(&["predict", "--samples", "--json", "--top-k", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    assert_eq!(report["model"], "efficientnet-lite0");
    assert_eq!(report["results"].as_array().unwrap().len(), 5);
    assert!(report["errors"].as_array().unwrap().is_empty());
    // Egyptian cat, tabby and tiger cat for Chelsea; espresso first for the coffee.
    let chelsea = top_indices(result_for(&report, "chelsea.png"));
    for cat in [281, 282, 285] {
        assert!(
            chelsea.contains(&cat),
            "chelsea top-3 {chelsea:?} lacks {cat}"
        );
    }
    let coffee = result_for(&report, "coffee.png");
    assert_eq!(top_indices(coffee)[0], 967);
    assert_eq!(coffee["top"][0]["label"], "espresso");
    let p: f64 = coffee["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["probability"].as_f64().unwrap())
        .sum();
    assert!(p > 0.9 && p <= 1.0 + 1e-6, "probabilities {p}");
}

#[test]
fn bad_inputs_are_reported_and_the_rest_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("a_good.png");
    std::fs::copy(support::data_dir().join("photos224/coffee.png"), &good).unwrap();
    let bytes = std::fs::read(support::data_dir().join("photos224/chelsea.png")).unwrap();
    std::fs::write(
        dir.path().join("b_truncated.png"),
        &bytes[..bytes.len() / 3],
    )
    .unwrap();
    std::fs::write(dir.path().join("c_text.jpg"), b"this is not an image").unwrap();
    std::fs::write(dir.path().join("d_empty.webp"), b"").unwrap();
    let missing = dir.path().join("e_missing.png");
    let out = whycam(&[
        "predict",
        "--json",
        dir.path().to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(top_indices(&results[0])[0], 967);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 4, "{errors:?}");
    for name in [
        "b_truncated.png",
        "c_text.jpg",
        "d_empty.webp",
        "e_missing.png",
    ] {
        let e = errors
            .iter()
            .find(|e| e["image"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not reported: {errors:?}"));
        assert!(
            e["error"].as_str().unwrap().contains(name),
            "error does not name the file: {e}"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("c_text.jpg"), "stderr: {stderr}");
}

#[test]
fn preprocess_none_requires_the_model_size() {
    let photo = support::data_dir().join("photos224/rocket.png");
    let ok = whycam(&[
        "predict",
        "--json",
        "--preprocess",
        "none",
        photo.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let wrong = whycam(&[
        "predict",
        "--json",
        "--preprocess",
        "none",
        "--size",
        "200",
        photo.to_str().unwrap(),
    ]);
    assert_eq!(wrong.status.code(), Some(1));
    let report = json_of(&wrong);
    let message = report["errors"][0]["error"].as_str().unwrap();
    assert!(
        message.contains("rocket.png") && message.contains("200x200"),
        "{message}"
    );
}

#[test]
fn larger_inputs_work_on_the_fully_convolutional_default_model() {
    let photo = support::data_dir().join("photos224/coffee.png");
    let out = whycam(&[
        "predict",
        "--json",
        "--size",
        "320",
        "--preprocess",
        "stretch",
        photo.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(top_indices(&json_of(&out)["results"][0])[0], 967);
}

#[test]
fn absurd_sizes_and_unknown_models_are_clear_errors() {
    let photo = support::data_dir().join("photos224/coffee.png");
    let photo = photo.to_str().unwrap();
    let out = whycam(&["predict", "--size", "0", photo]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("size"));
    let out = whycam(&["predict", "--model", "resnet9000", photo]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resnet9000") && stderr.contains("resnet50"),
        "{stderr}"
    );
    let out = whycam(&["predict", "--model", "resnet50", photo]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--weights"));
}

#[test]
fn efficientnet_lite1_and_lite2_are_fetched_by_name() {
    let photo = support::data_dir().join("photos224/coffee.png");
    for model in ["efficientnet-lite1", "efficientnet_lite2"] {
        let out = whycam(&[
            "predict",
            "--json",
            "--model",
            model,
            photo.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{model}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(top_indices(&json_of(&out)["results"][0])[0], 967, "{model}");
    }
}

#[test]
fn inputs_smaller_than_an_architecture_allows_are_refused() {
    let photo = support::data_dir().join("photos224/coffee.png");
    let out = whycam(&[
        "predict",
        "--model",
        "vgg11",
        "--size",
        "16",
        photo.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("vgg11 needs inputs of at least 32x32 px"),
        "{stderr}"
    );
}

fn default_weights() -> std::path::PathBuf {
    whycam_assets::ensure(whycam_assets::weights_asset("efficientnet-lite0").unwrap()).unwrap()
}

#[test]
fn weights_of_another_architecture_are_refused_with_a_listing() {
    let photo = support::data_dir().join("photos224/coffee.png");
    let weights = default_weights();
    let out = whycam(&[
        "predict",
        "--model",
        "efficientnet-lite1",
        "--weights",
        weights.to_str().unwrap(),
        photo.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("efficientnet-lite1"), "{stderr}");
    assert!(stderr.contains("missing tensor _blocks.16"), "{stderr}");
    let out = whycam(&[
        "predict",
        "--model",
        "resnet18",
        "--weights",
        weights.to_str().unwrap(),
        photo.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fc.weight"), "{stderr}");
}

#[test]
fn broken_weight_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let photo = support::data_dir().join("photos224/coffee.png");
    let cases: [(&str, &[u8]); 3] = [
        ("empty.pth", b""),
        ("text.pth", b"definitely not a checkpoint"),
        (
            "truncated.pth",
            &std::fs::read(default_weights()).unwrap()[..4096],
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = whycam(&[
            "predict",
            "--weights",
            path.to_str().unwrap(),
            photo.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn model_listing_names_layers() {
    let out = whycam(&["models", "resnet50"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("layer4.2  (also layer4)  (default target)"),
        "{text}"
    );
    let out = whycam(&["models"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "efficientnet-lite0",
        "resnet152",
        "vgg19_bn",
        "mobilenet_v2",
        "densenet121",
    ] {
        assert!(text.contains(name), "{text}");
    }
}
