//! End-to-end tests of `whycam dff` (alias `factorize`) on the default model: the files and
//! dff.json, a corrupt input among good ones, and bad settings refused before any input.

mod support;

use std::path::Path;
use support::{data_dir, fails_with, json, stderr, whycam};

fn photo(name: &str) -> String {
    data_dir()
        .join("photos224")
        .join(name)
        .display()
        .to_string()
}

/// Whether an ImageNet label names a cat (the domestic cats are classes 281 to 285).
fn is_cat(index: u64) -> bool {
    (281..=285).contains(&index)
}

#[test]
fn dff_writes_pictures_raw_maps_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let result = whycam(&[
        "dff",
        "--save-raw",
        "--out",
        out,
        &photo("chelsea.png"),
        &photo("coffee.png"),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let table = String::from_utf8_lossy(&result.stdout);
    assert!(table.contains("layer features, 5 concepts"), "{table}");
    for stem in ["chelsea", "coffee"] {
        let png = dir.path().join(format!("{stem}.dff.png"));
        let picture = image::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(picture.width() > 224 && picture.height() >= 224);
        let bytes = std::fs::read(dir.path().join(format!("{stem}.dff.npy"))).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[5, 7, 7]);
    }
    let summary = json(&dir.path().join("dff.json"));
    assert_eq!(summary["layer"], "features");
    assert_eq!(summary["concepts"], 5);
    let images = summary["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    let chelsea = &images[0];
    assert!(chelsea["image"].as_str().unwrap().ends_with("chelsea.png"));
    assert!(chelsea["nmf_iterations"].as_u64().unwrap() >= 1);
    let concepts = chelsea["concept_list"].as_array().unwrap();
    assert_eq!(concepts.len(), 5);
    let share = |c: &serde_json::Value| c["share"].as_f64().unwrap();
    let total: f64 = concepts.iter().map(share).sum();
    assert!((total - 1.0).abs() < 1e-4, "{total}");
    // The concept covering most of the photo is the cat: its best class is a cat class.
    let strongest = concepts
        .iter()
        .max_by(|a, b| share(a).total_cmp(&share(b)))
        .unwrap();
    let best = &strongest["top"][0];
    assert!(
        is_cat(best["index"].as_u64().unwrap()),
        "chelsea's largest concept reads as {best}"
    );
    assert_eq!(strongest["top"].as_array().unwrap().len(), 2);
    // The picture's files are listed.
    let files = chelsea["files"].as_array().unwrap();
    assert!(files[0].as_str().unwrap().ends_with("chelsea.dff.png"));
    assert!(files[1].as_str().unwrap().ends_with("chelsea.dff.npy"));
}

#[test]
fn a_corrupt_input_fails_alone_and_the_alias_works() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("broken.jpg");
    std::fs::write(&corrupt, b"\xff\xd8\xff\xe0 not a jpeg").unwrap();
    let out = dir.path().join("out");
    let result = whycam(&[
        "factorize",
        "--concepts",
        "3",
        "--top",
        "1",
        "--out",
        out.to_str().unwrap(),
        &photo("chelsea.png"),
        corrupt.to_str().unwrap(),
        &photo("rocket.png"),
    ]);
    assert!(!result.status.success());
    let err = stderr(&result);
    assert!(err.contains("broken.jpg"), "{err}");
    for stem in ["chelsea", "rocket"] {
        assert!(out.join(format!("{stem}.dff.png")).is_file(), "{stem}");
    }
    assert!(!out.join("broken.dff.png").exists());
    let summary = json(&out.join("dff.json"));
    assert_eq!(summary["images"].as_array().unwrap().len(), 2);
    let errors = summary["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert!(errors[0]["image"].as_str().unwrap().ends_with("broken.jpg"));
    assert_eq!(errors[0]["kind"], "decode");
    assert_eq!(
        summary["images"][0]["concept_list"][0]["top"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn bad_concept_counts_are_refused_before_reading_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    // The input does not exist: a refusal must come before it is looked at.
    let missing = dir.path().join("missing.png");
    let missing = missing.to_str().unwrap();
    fails_with(
        &["dff", "--concepts", "0", "--out", out, missing],
        &["--concepts must be at least 1"],
    );
    fails_with(
        &["dff", "--concepts", "50", "--out", out, missing],
        &["--concepts", "features", "7x7 = 49 positions"],
    );
    fails_with(&["dff", "--top", "0", "--out", out, missing], &["--top"]);
    fails_with(
        &["dff", "--layer", "nope", "--out", out, missing],
        &["nope"],
    );
    assert!(!Path::new(out).join("dff.json").exists());
}
