//! `whycam explain --shard K/N` and `whycam merge`: shards split the inputs without overlap or
//! gaps, each shard writes what the unsharded run writes for its inputs, and the merged
//! summary and report name every shard's files.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use support::{data_dir, fails_with, json, s, stderr, whycam};

fn explain(out: &Path, extra: &[&str]) -> std::process::Output {
    let photos = s(&data_dir().join("photos224"));
    let mut args = vec!["explain", "--method", "gradcam", "--out"];
    let out = s(out);
    args.push(&out);
    args.extend(extra);
    args.push(&photos);
    whycam(&args)
}

fn images(summary: &serde_json::Value) -> Vec<String> {
    summary["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn shards_partition_the_inputs_and_merge_into_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let out = explain(&whole, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = images(&json(&whole.join("explanations.json")));
    assert_eq!(all.len(), 5);

    let mut union = BTreeSet::new();
    let mut shard_dirs = Vec::new();
    for k in 1..=3 {
        let shard_dir = dir.path().join(format!("shard{k}"));
        let out = explain(&shard_dir, &["--shard", &format!("{k}/3")]);
        assert!(out.status.success(), "{}", stderr(&out));
        for image in images(&json(&shard_dir.join("explanations.json"))) {
            assert!(union.insert(image.clone()), "{image} is in two shards");
            // The same bytes as the unsharded run's overlay.
            let stem = Path::new(&image)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let file = format!("{stem}.gradcam.png");
            assert_eq!(
                std::fs::read(shard_dir.join(&file)).unwrap(),
                std::fs::read(whole.join(&file)).unwrap(),
                "{file}"
            );
        }
        shard_dirs.push(s(&shard_dir));
    }
    assert_eq!(union, all.iter().cloned().collect::<BTreeSet<_>>());

    let merged = dir.path().join("merged");
    let mut args = vec!["merge", "--out"];
    let merged_arg = s(&merged);
    args.push(&merged_arg);
    args.extend(shard_dirs.iter().map(String::as_str));
    let out = whycam(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = json(&merged.join("explanations.json"));
    let mut merged_images = images(&summary);
    merged_images.sort();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(merged_images, sorted);
    // Files are named relative to the merged directory and exist.
    for image in summary["images"].as_array().unwrap() {
        for file in image["explanations"][0]["files"].as_array().unwrap() {
            let file = file.as_str().unwrap();
            assert!(file.starts_with("../shard"), "{file}");
            assert!(merged.join(file).is_file(), "{file}");
        }
    }
    let page = std::fs::read_to_string(merged.join("report.html")).unwrap();
    assert!(
        !page.contains("\"missing\":[\""),
        "the report misses pictures"
    );
    assert!(page.matches("data:image/jpeg;base64").count() >= 10);
}

#[test]
fn bad_shards_and_mismatched_runs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0/3", "4/3", "1/0", "two/3", "3"] {
        let out = explain(&dir.path().join("x"), &["--shard", bad]);
        assert!(!out.status.success(), "{bad}");
        assert!(
            stderr(&out).contains("expected K/N"),
            "{bad}: {}",
            stderr(&out)
        );
    }
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    assert!(explain(&a, &["--shard", "1/2"]).status.success());
    let photos = s(&data_dir().join("photos224"));
    let out = whycam(&[
        "explain",
        "--method",
        "hirescam",
        "--shard",
        "2/2",
        "--out",
        &s(&b),
        &photos,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    fails_with(
        &["merge", "--out", &s(&dir.path().join("m")), &s(&a), &s(&b)],
        &["other settings", "merge the shards of one run"],
    );
    // The same shard twice shares its inputs.
    fails_with(
        &["merge", "--out", &s(&dir.path().join("m")), &s(&a), &s(&a)],
        &["is in both"],
    );
}
