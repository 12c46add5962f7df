//! Every method through `whycam explain` on the default model: the files each writes (layer
//! maps at the layer's resolution, pixel attributions at the input's), seeded draws that repeat
//! with `--seed`, and options that are refused. The numbers themselves are checked against the
//! reference implementations in `crates/whycam-cam/tests/*_parity.rs`.

mod support;

use std::path::Path;
use support::{data_dir, fails_with, json, stderr, whycam};
use whycam_cam::Method;
use whycam_cam::methods::{Needs, Scope};

fn photo(name: &str) -> String {
    data_dir()
        .join("photos224")
        .join(name)
        .display()
        .to_string()
}

/// A float32 `.npy` written by whycam: shape and values.
fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec().unwrap())
}

/// Options that keep the sampling and perturbation methods quick here.
const QUICK: [&str; 8] = [
    "--num-samples",
    "6",
    "--ig-steps",
    "8",
    "--occlusion-window",
    "32",
    "--occlusion-stride",
    "32",
];

#[test]
fn every_method_writes_a_map_of_its_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    // CAM needs the layer feeding the pooling; tests/explain_cli.rs runs it there.
    let methods: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|m| m.info().needs != Needs::ClassMaps)
        .collect();
    let list = methods.iter().map(|m| m.id()).collect::<Vec<_>>().join(",");
    let mut args = vec![
        "explain",
        "--method",
        &list,
        // A layer with 112 channels keeps Score-CAM and its kin quick.
        "--layer",
        "_blocks.10",
        "--save-raw",
        "--signed",
        "--out",
        out,
    ];
    args.extend(QUICK);
    let image = photo("chelsea.png");
    args.push(&image);
    let result = whycam(&args);
    assert!(result.status.success(), "{}", stderr(&result));
    for &method in &methods {
        let (shape, values) = read_npy(&dir.path().join(format!("chelsea.{method}.npy")));
        let expected = match method.info().scope {
            Scope::Layer => [14, 14],
            Scope::Input => [224, 224],
        };
        assert_eq!(shape, expected, "{method}");
        let max = values.iter().copied().fold(f32::MIN, f32::max);
        let min = values.iter().copied().fold(f32::MAX, f32::min);
        assert!(
            values.iter().all(|v| v.is_finite()) && min >= 0.0 && max <= 1.0 && max > 0.5,
            "{method}: {min}..{max}"
        );
        assert!(
            dir.path().join(format!("chelsea.{method}.png")).is_file(),
            "{method}"
        );
        assert!(
            dir.path()
                .join(format!("chelsea.{method}.signed.png"))
                .is_file(),
            "{method}"
        );
    }
    let summary = json(&dir.path().join("explanations.json"));
    let maps = summary["images"][0]["explanations"].as_array().unwrap();
    assert_eq!(maps.len(), methods.len());
}

/// Runs one sampling method and returns its raw map.
fn sampled_map(method: &str, seed: &str) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let image = photo("coffee.png");
    let mut args = vec![
        "explain",
        "--method",
        method,
        "--seed",
        seed,
        "--save-raw",
        "--out",
        out,
    ];
    args.extend(QUICK);
    args.push(&image);
    let result = whycam(&args);
    assert!(result.status.success(), "{}", stderr(&result));
    read_npy(&dir.path().join(format!("coffee.{method}.npy"))).1
}

#[test]
fn seeded_methods_repeat_with_their_seed_and_change_with_another() {
    for method in ["smoothgrad", "rise", "randomcam"] {
        let first = sampled_map(method, "1");
        assert_eq!(first, sampled_map(method, "1"), "{method}");
        assert_ne!(first, sampled_map(method, "2"), "{method}");
    }
}

#[test]
fn bad_method_options_are_refused_before_any_image() {
    let image = photo("coffee.png");
    fails_with(
        &[
            "explain",
            "--method",
            "smoothgrad",
            "--noise-std=-1",
            "--out",
            "/nonexistent/never",
            &image,
        ],
        &["noise-std", "-1"],
    );
    fails_with(
        &[
            "explain",
            "--method",
            "integrated-gradients",
            "--ig-steps",
            "0",
            &image,
        ],
        &["ig-steps"],
    );
}
