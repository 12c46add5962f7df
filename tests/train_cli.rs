//! End-to-end tests of `whycam train` and `whycam test` on real Fashion-MNIST (Debian's
//! `dataset-fashion-mnist`, which `tools/test.sh` installs): checkpoints that predict and
//! explain read without further flags, resuming, Ctrl-C, fine-tuning the default model with a
//! binary head, and bad inputs.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::{fails_with, fashion_mnist, json, s, stderr, whycam};

fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .expect("metrics.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Trains a tiny whycam-small on 1,000 Fashion-MNIST images into `run`.
fn train_small(run: &Path, extra: &[&str]) -> Output {
    let data = s(&fashion_mnist());
    let run = s(run);
    let mut args = vec![
        "train",
        &data,
        "--limit",
        "1000",
        "--valid-limit",
        "300",
        "--widths",
        "8,16,32",
        "--batch-size",
        "100",
        "--out",
        &run,
    ];
    args.extend_from_slice(extra);
    whycam(&args)
}

#[test]
fn whycam_small_trains_and_its_checkpoint_needs_no_other_flag() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = train_small(&run, &["--epochs", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for file in [
        "best.safetensors",
        "best.json",
        "last.safetensors",
        "last.json",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let epochs = metrics(&run);
    assert_eq!(epochs.len(), 1);
    let valid_accuracy = epochs[0]["valid_accuracy"].as_f64().unwrap();
    assert_eq!(epochs[0]["images"], 1000);
    let sidecar = json(&run.join("best.json"));
    assert_eq!(sidecar["architecture"], "whycam-small");
    assert_eq!(sidecar["labels"][9], "Ankle boot");
    assert_eq!(sidecar["preprocess"]["size"], 28);
    assert_eq!(sidecar["epoch"], 1);

    // `whycam test` on the same 300 test images scores exactly what training reported.
    let weights = s(&run.join("best.safetensors"));
    let report = dir.path().join("test.json");
    let out = whycam(&[
        "test",
        "--weights",
        &weights,
        &s(&fashion_mnist()),
        "--limit",
        "300",
        "--out",
        &s(&report),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("confusion matrix") && text.contains("Ankle boot"),
        "{text}"
    );
    let report = json(&report);
    assert_eq!(report["images"], 300);
    assert!(
        (report["accuracy"].as_f64().unwrap() - valid_accuracy).abs() < 1e-9,
        "test {} vs training's validation {valid_accuracy}",
        report["accuracy"]
    );
    let confusion = report["confusion"].as_array().unwrap();
    let total: u64 = confusion
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 300);

    // predict and explain take the architecture, labels and size from the sidecar.
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    image::GrayImage::from_fn(28, 28, |x, _| image::Luma([(x * 9) as u8]))
        .save(images.join("stripes.png"))
        .unwrap();
    let out = whycam(&["predict", "--weights", &weights, "--json", &s(&images)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let predicted: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(predicted["model"], "whycam-small");
    let label = predicted["results"][0]["top"][0]["label"].as_str().unwrap();
    assert!(
        sidecar["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == label)
    );
    let explained = dir.path().join("explained");
    let out = whycam(&[
        "explain",
        "--weights",
        &weights,
        "--method",
        "gradcam",
        "--out",
        &s(&explained),
        &s(&images),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(explained.join("stripes.gradcam.png").is_file());

    let out = train_small(
        &run,
        &[
            "--epochs",
            "1",
            "--resume",
            &s(&run.join("last.safetensors")),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already"), "{}", stderr(&out));
}

#[test]
fn a_run_split_in_two_and_resumed_matches_the_run_in_one_go() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let out = train_small(&whole, &["--epochs", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let split = dir.path().join("split");
    let out = train_small(&split, &["--epochs", "2", "--stop-after", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped after epoch 1 of 2"),
        "{}",
        stderr(&out)
    );
    assert_eq!(metrics(&split).len(), 1);
    // A copy without the optimiser state, to show that the state matters.
    let cold = dir.path().join("cold");
    std::fs::create_dir(&cold).unwrap();
    for file in ["last.safetensors", "last.json"] {
        std::fs::copy(split.join(file), cold.join(file)).unwrap();
    }
    for (run, expect_same) in [(&split, true), (&cold, false)] {
        let last = s(&run.join("last.safetensors"));
        let out = train_small(run, &["--epochs", "2", "--resume", &last]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stderr(&out).contains("optimiser starts afresh"),
            !expect_same
        );
        let resumed = metrics(run).pop().unwrap();
        assert_eq!(resumed["epoch"], 2);
        let reference = &metrics(&whole)[1];
        let diff = (resumed["train_loss"].as_f64().unwrap()
            - reference["train_loss"].as_f64().unwrap())
        .abs();
        eprintln!("resumed ({expect_same}) vs whole: train loss differs by {diff:.2e}");
        assert_eq!(diff < 1e-5, expect_same, "difference {diff}");
    }
}

#[test]
fn the_default_model_fine_tuned_with_a_binary_head_tells_sneakers_from_sandals() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = whycam(&[
        "train",
        &s(&fashion_mnist()),
        "--model",
        "efficientnet-lite0",
        "--head",
        "binary",
        "--classes",
        "sandal,sneaker",
        "--limit",
        "200",
        "--valid-limit",
        "200",
        "--freeze-epochs",
        "2",
        "--epochs",
        "0",
        "--batch-size",
        "32",
        "--lr",
        "1e-2",
        "--out",
        &s(&run),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let epochs = metrics(&run);
    assert!(epochs.iter().all(|e| e["frozen"] == true));
    let accuracy = epochs.last().unwrap()["valid_accuracy"].as_f64().unwrap();
    eprintln!("sneaker vs sandal validation accuracy {accuracy:.4}");
    assert!(accuracy > 0.9, "validation accuracy {accuracy}");
    let sidecar = json(&run.join("best.json"));
    assert_eq!(sidecar["outputs"], 1);
    assert_eq!(sidecar["labels"], serde_json::json!(["Sandal", "Sneaker"]));

    // CAM on the result: the map before ReLU averages to the logit.
    let image = dir.path().join("shoe.png");
    image::GrayImage::from_fn(28, 28, |x, y| {
        image::Luma([if y > 14 && x > 4 && x < 24 { 200 } else { 0 }])
    })
    .save(&image)
    .unwrap();
    let explained = dir.path().join("explained");
    let out = whycam(&[
        "explain",
        "--weights",
        &s(&run.join("best.safetensors")),
        "--method",
        "cam",
        "--save-raw",
        "--out",
        &s(&explained),
        &s(&image),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = json(&explained.join("explanations.json"));
    let explanation = &summary["images"][0]["explanations"][0];
    let logit = explanation["target"]["score"].as_f64().unwrap();
    let bytes = std::fs::read(explained.join("shoe.cam.signed.npy")).unwrap();
    let map: Vec<f32> = npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap();
    let mean = map.iter().map(|&v| v as f64).sum::<f64>() / map.len() as f64;
    assert!(
        (mean - logit).abs() < 1e-4 * logit.abs().max(1.0),
        "CAM mean {mean} vs logit {logit}"
    );
}

#[test]
fn ctrl_c_finishes_the_batch_saves_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let data = s(&fashion_mnist());
    let mut child = Command::new(env!("CARGO_BIN_EXE_whycam"))
        .args([
            "train",
            &data,
            "--widths",
            "8,16,32",
            "--epochs",
            "50",
            "--out",
            &s(&run),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    // The handler is installed before this line is printed.
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("training whycam-small") {}
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{line}{rest}");
    assert!(rest.contains("interrupted: saved"), "{rest}");
    let last = json(&run.join("last.json"));
    assert_eq!(last["metrics"]["interrupted"], true);
    assert_eq!(last["epoch"], 1);
    assert!(last["metrics"]["images"].as_u64().unwrap() < 60_000);
    assert!(run.join("last.safetensors").is_file());
}

/// Two classes of 12 small pictures each, one file of them corrupt.
fn tiny_folder(root: &Path) {
    for (class, value) in [("circle", 40u8), ("square", 200u8)] {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..12u32 {
            image::RgbImage::from_fn(16, 16, |x, _| image::Rgb([value, (x * 10 + i) as u8, 0]))
                .save(dir.join(format!("{i}.png")))
                .unwrap();
        }
    }
    std::fs::write(
        root.join("square/broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
}

#[test]
fn a_corrupt_image_is_skipped_and_counted_and_mismatches_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes");
    tiny_folder(&data);
    let run = dir.path().join("run");
    let out = whycam(&[
        "train",
        &s(&data),
        "--widths",
        "4,8",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--valid-fraction",
        "0",
        "--out",
        &s(&run),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("1 unreadable image(s) were skipped"), "{err}");
    let epochs = metrics(&run);
    assert_eq!(epochs.len(), 2, "training went on");
    assert!(
        epochs
            .iter()
            .all(|e| e["skipped"] == 1 && e["images"] == 24)
    );
    let skipped = std::fs::read_to_string(run.join("skipped.txt")).unwrap();
    assert!(
        skipped.contains("broken.png") && skipped.lines().count() == 1,
        "{skipped}"
    );

    // A model of the shapes tested on Fashion-MNIST: the class sets differ.
    let weights = s(&run.join("last.safetensors"));
    let fm = s(&fashion_mnist());
    fails_with(
        &["test", "--weights", &weights, &fm, "--limit", "10"],
        &["circle, square", "Ankle boot"],
    );

    // Resuming on other classes, a binary head on ten classes, an unknown class.
    let out_dir = s(&run);
    fails_with(
        &[
            "train", &fm, "--limit", "20", "--widths", "4,8", "--resume", &weights, "--epochs",
            "3", "--out", &out_dir,
        ],
        &["trained on the classes circle, square"],
    );
    fails_with(
        &["train", &fm, "--head", "binary", "--limit", "20"],
        &["--head binary needs two classes"],
    );
    fails_with(
        &["train", &fm, "--classes", "sneaker,zebra"],
        &["no class \"zebra\""],
    );

    // A truncated checkpoint.
    let bytes = std::fs::read(run.join("last.safetensors")).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(run.join("last.json"), dir.path().join("cut.json")).unwrap();
    let (cut, image) = (s(&cut), s(&data.join("circle/0.png")));
    fails_with(
        &["predict", "--weights", &cut, &image],
        &["cut.safetensors", "truncated"],
    );
    let run2 = s(&dir.path().join("run2"));
    fails_with(
        &[
            "train",
            &s(&data),
            "--widths",
            "4,8",
            "--resume",
            &cut,
            "--epochs",
            "3",
            "--out",
            &run2,
        ],
        &["cut.safetensors"],
    );
}
