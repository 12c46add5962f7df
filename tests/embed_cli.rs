//! End-to-end tests of `whycam embed` on real Fashion-MNIST: the layouts keep the feature
//! space's neighbourhoods, a seed repeats, saved features lay out again, and bad inputs are
//! named.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use support::{data_dir, fails_with, fashion_mnist, json, s, stderr, whycam};

/// A small whycam-small trained once for all tests of this file (two epochs on 6,000 images,
/// about 15 s).
fn model() -> &'static str {
    static MODEL: OnceLock<String> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let run = dir.join("run");
        let out = whycam(&[
            "train",
            &s(&fashion_mnist()),
            "--limit",
            "6000",
            "--valid-limit",
            "300",
            "--widths",
            "8,16,32",
            "--batch-size",
            "100",
            "--epochs",
            "2",
            "--out",
            &s(&run),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        s(&run.join("best.safetensors"))
    })
}

/// Runs `whycam embed` on the Fashion-MNIST test images; its summary and standard output.
fn embed(out: &Path, extra: &[&str]) -> (Value, String) {
    let data = s(&fashion_mnist());
    let out_s = s(out);
    let mut args = vec!["embed", "--weights", model(), "--out", &out_s];
    args.extend_from_slice(extra);
    args.push(&data);
    let run = whycam(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    (json(&out.join("summary.json")), stdout)
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write_npy(path: &Path, shape: &[u64], data: &[f32]) {
    use npyz::WriterBuilder;
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(std::fs::File::create(path).unwrap())
        .begin_nd()
        .unwrap();
    writer.extend(data.iter().copied()).unwrap();
    writer.finish().unwrap();
}

/// Checks a layout's files and returns its 10-NN agreement.
fn check_layout(out: &Path, summary: &Value, method: &str, stem: &str, points: usize) -> f64 {
    let layout = summary["layouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["method"] == method)
        .unwrap_or_else(|| panic!("no {method} in {summary}"));
    let csv = String::from_utf8(read(out.join(format!("{stem}.csv")))).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "path,label,x,y");
    assert_eq!(lines.len(), points + 1);
    let classes: Vec<&str> = summary["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for line in &lines[1..] {
        let fields: Vec<&str> = line.rsplitn(3, ',').collect();
        assert!(fields[0].parse::<f32>().unwrap().is_finite(), "{line}");
        assert!(fields[1].parse::<f32>().unwrap().is_finite(), "{line}");
        let label = fields[2].rsplit_once(',').unwrap().1;
        assert!(classes.contains(&label), "{line}");
    }
    let png = image::open(out.join(format!("{stem}.png"))).unwrap();
    assert_eq!((png.width(), png.height()), (1000, 800));
    let svg = String::from_utf8(read(out.join(format!("{stem}.svg")))).unwrap();
    assert_eq!(svg.matches("<circle").count(), points + classes.len());
    assert!(svg.contains("Ankle boot"));
    layout["neighbour_agreement"].as_f64().unwrap()
}

#[test]
fn fashion_mnist_layouts_keep_neighbourhoods_and_a_seed_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let (summary, stdout) = embed(&first, &["--limit", "1500"]);
    assert!(stdout.contains("explained variance ratio PC1"), "{stdout}");
    assert_eq!(summary["points"], 1500);
    assert_eq!(summary["dimensions"], 32);
    assert_eq!(summary["layer"], "blocks.2");
    assert_eq!(summary["coloured_by"], "true class");

    let npy = read(first.join("features.npy"));
    let features = npyz::NpyFile::new(&npy[..]).unwrap();
    assert_eq!(features.shape(), [1500, 32]);
    let samples = String::from_utf8(read(first.join("samples.csv"))).unwrap();
    assert!(samples.starts_with("path,label,predicted\n"));
    assert!(samples.contains("t10k-images-idx3-ubyte"));

    let pca = &summary["layouts"][0];
    let ratio: Vec<f64> = pca["explained_variance_ratio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(ratio.len(), 32);
    assert!(ratio.windows(2).all(|w| w[0] >= w[1]), "{ratio:?}");
    assert!((ratio.iter().sum::<f64>() - 1.0).abs() < 1e-9);

    let features = summary["feature_neighbour_agreement"].as_f64().unwrap();
    let in_pca = check_layout(&first, &summary, "PCA", "pca", 1500);
    let in_tsne = check_layout(&first, &summary, "t-SNE", "tsne", 1500);
    eprintln!("10-NN agreement: features {features:.4}, PCA {in_pca:.4}, t-SNE {in_tsne:.4}");
    assert!(
        features > 0.65,
        "a trained model separates the classes: {features}"
    );
    assert!(
        in_tsne >= 0.9 * features,
        "t-SNE {in_tsne} against {features}"
    );
    assert!(
        in_pca < in_tsne,
        "two principal components lose more than t-SNE"
    );

    // The same inputs and seed give the same picture, with or without running the model.
    let again = dir.path().join("again");
    embed(&again, &["--limit", "1500", "--method", "tsne"]);
    assert_eq!(read(first.join("tsne.csv")), read(again.join("tsne.csv")));
    assert_eq!(read(first.join("tsne.png")), read(again.join("tsne.png")));
    let saved = dir.path().join("saved");
    let run = whycam(&[
        "embed",
        "--features",
        &s(&first.join("features.npy")),
        "--method",
        "tsne",
        "--out",
        &s(&saved),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(read(first.join("tsne.csv")), read(saved.join("tsne.csv")));

    // A random start from another seed is another picture.
    let other = dir.path().join("other");
    embed(
        &other,
        &[
            "--limit", "1500", "--method", "tsne", "--init", "random", "--seed", "7",
        ],
    );
    assert_ne!(read(first.join("tsne.csv")), read(other.join("tsne.csv")));
}

#[test]
fn bad_features_and_too_few_points_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = s(&dir.path().join("out"));
    let data = s(&fashion_mnist());
    // t-SNE alone fails before the network runs.
    fails_with(
        &[
            "embed",
            "--weights",
            model(),
            "--limit",
            "50",
            "--method",
            "tsne",
            &data,
        ],
        &[
            "50 image(s) are too few for t-SNE with perplexity 30",
            "at least 92",
        ],
    );
    // Both: the PCA picture is kept, the t-SNE error named, and the exit code is 1.
    let run = whycam(&[
        "embed",
        "--weights",
        model(),
        "--limit",
        "50",
        "--out",
        &out,
        &data,
    ]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(
        err.contains("t-SNE of the features: 50 point(s) are too few: at least 92"),
        "{err}"
    );
    assert!(dir.path().join("out/pca.png").is_file());
    assert!(!dir.path().join("out/tsne.png").exists());
    fails_with(
        &["embed", "--weights", model(), "--perplexity", "0.5", &data],
        &["perplexity must be a number of at least 1"],
    );
    fails_with(
        &["embed", "--weights", model(), "--layer", "layer4", &data],
        &["layer4", "blocks.2"],
    );

    let features = |name: &str, shape: &[u64], data: &[f32]| {
        let path = dir.path().join(name);
        write_npy(&path, shape, data);
        s(&path)
    };
    let spread: Vec<f32> = (0..200 * 3).map(|i| ((i * 37) % 101) as f32).collect();
    let few = features("few.npy", &[40, 3], &spread[..120]);
    fails_with(
        &["embed", "--features", &few, "--out", &out],
        &[
            "t-SNE of the features",
            "40 point(s) are too few",
            "perplexity",
        ],
    );
    let constant = features("constant.npy", &[200, 3], &[0.5; 600]);
    fails_with(
        &["embed", "--features", &constant, "--out", &out],
        &["all 200 points have the same features"],
    );
    let mut with_nan = spread.clone();
    with_nan[3 * 3 + 1] = f32::NAN;
    let nan = features("nan.npy", &[200, 3], &with_nan);
    fails_with(
        &[
            "embed",
            "--features",
            &nan,
            "--method",
            "pca",
            "--out",
            &out,
        ],
        &["feature 1 of point 3 is not a finite number"],
    );
    let empty = features("empty.npy", &[0, 3], &[]);
    fails_with(
        &["embed", "--features", &empty, "--out", &out],
        &["empty.npy: holds no features"],
    );
    let flat = features("flat.npy", &[600], &spread);
    fails_with(
        &["embed", "--features", &flat, "--out", &out],
        &["flat.npy", "expected a 2-D array"],
    );
}

#[test]
fn loose_images_are_coloured_by_prediction_and_a_corrupt_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for name in ["astronaut.png", "chelsea.png", "coffee.png", "rocket.png"] {
        std::fs::copy(data_dir().join("photos224").join(name), photos.join(name)).unwrap();
    }
    std::fs::write(photos.join("broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let out = dir.path().join("out");
    let run = whycam(&[
        "embed",
        "--weights",
        model(),
        "--method",
        "pca",
        "--thumbnails",
        "--out",
        &s(&out),
        &s(&photos),
    ]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("broken.png"), "{err}");
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["points"], 4);
    assert_eq!(summary["coloured_by"], "predicted class");
    assert_eq!(summary["failures"].as_array().unwrap().len(), 1);
    let thumbs = image::open(out.join("pca.thumbnails.png"))
        .unwrap()
        .to_rgb8();
    // The astronaut photo's colours show up among the plot's.
    let colourful = thumbs
        .pixels()
        .filter(|p| {
            let [r, g, b] = p.0.map(i32::from);
            (r - g).abs() + (g - b).abs() > 60
        })
        .count();
    assert!(colourful > 1000, "{colourful}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    fails_with(
        &["embed", "--weights", model(), &s(&empty)],
        &["no image files in", "empty"],
    );
    fails_with(
        &[
            "embed",
            "--weights",
            model(),
            "--classes",
            "Bag",
            &s(&photos),
        ],
        &["--classes needs a labelled dataset"],
    );
}

/// The evidence: all 10,000 Fashion-MNIST test images, with the whycam-small trained
/// as in the training issue (`$WHYCAM_EMBED_WEIGHTS`, else trained here: 3 epochs, ~10 min).
/// t-SNE within 5 minutes, 10-NN agreement in 2-D at least 0.9 of the feature space's.
#[test]
#[ignore = "trains for ~10 minutes unless WHYCAM_EMBED_WEIGHTS names a checkpoint"]
fn full_fashion_mnist_test_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = s(&fashion_mnist());
    let weights = match std::env::var("WHYCAM_EMBED_WEIGHTS") {
        Ok(w) => w,
        Err(_) => {
            let run = dir.path().join("run");
            let out = whycam(&[
                "train",
                &data,
                "--epochs",
                "3",
                "--batch-size",
                "128",
                "--out",
                &s(&run),
            ]);
            assert!(out.status.success(), "{}", stderr(&out));
            s(&run.join("best.safetensors"))
        }
    };
    let out = dir.path().join("embed");
    let run = whycam(&["embed", "--weights", &weights, "--out", &s(&out), &data]);
    assert!(run.status.success(), "{}", stderr(&run));
    println!("{}", String::from_utf8_lossy(&run.stdout));
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["points"], 10000);
    let features = summary["feature_neighbour_agreement"].as_f64().unwrap();
    let tsne = &summary["layouts"][1];
    let (seconds, in_tsne) = (
        tsne["seconds"].as_f64().unwrap(),
        tsne["neighbour_agreement"].as_f64().unwrap(),
    );
    println!("t-SNE {seconds:.1} s; 10-NN agreement {in_tsne:.4} vs {features:.4} in features");
    assert!(seconds < 300.0, "t-SNE took {seconds} s");
    assert!(in_tsne >= 0.9 * features);
}
