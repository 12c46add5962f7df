//! `whycam evaluate` end to end (issue 17): the binary's values against the peers' own
//! (torchcam 0.5.0 and pytorch-grad-cam 1.5.7, `tools/reference/metric_goldens.py`) on the
//! default model and the test photos, and what it says about bad requests.

mod support;

use serde_json::Value;
use std::collections::HashMap;
use support::{data_dir, s, stderr, whycam};

/// The peers' metric names in the golden file, and whycam's.
const NAMES: [(&str, &str); 9] = [
    ("avg_drop", "avg-drop"),
    ("increase", "increase"),
    ("deletion", "deletion"),
    ("insertion", "insertion"),
    ("pgc_drop", "drop"),
    ("pgc_increase", "increase-pgc"),
    ("road_morf", "road-morf"),
    ("road_lerf", "road-lerf"),
    ("road_combined", "road-combined"),
];

fn evaluate_json(args: &[&str]) -> Value {
    let run = whycam(args);
    assert!(run.status.success(), "{}", stderr(&run));
    serde_json::from_slice(&run.stdout).expect("JSON on stdout")
}

#[test]
fn every_metric_matches_torchcam_and_pytorch_grad_cam_per_image() {
    let golden = support::json(&data_dir().join("goldens/metrics_efficientnet-lite0.json"));
    let photos = data_dir().join("photos224");
    // The goldens feed the 224x224 photos as they are, with ROAD's noise off.
    let out = tempfile::tempdir().unwrap();
    let report = evaluate_json(&[
        "evaluate",
        "--out",
        &s(out.path()),
        "--preprocess",
        "none",
        "--road-noise",
        "0",
        "--method",
        "gradcam,gradcam++",
        "--json",
        &s(&photos),
    ]);
    let mut ours = HashMap::new();
    for image in report["images"].as_array().unwrap() {
        let name = image["image"].as_str().unwrap().rsplit('/').next().unwrap();
        for (method, values) in image["methods"].as_object().unwrap() {
            ours.insert((name.to_string(), method.clone()), (image, values));
        }
    }
    let cases = golden["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    let mut worst: HashMap<&str, f64> = HashMap::new();
    for case in cases {
        let key = (
            case["image"].as_str().unwrap().to_string(),
            case["method"].as_str().unwrap().to_string(),
        );
        let (image, values) = ours.get(&key).unwrap_or_else(|| panic!("{key:?} missing"));
        let p = image["probability"].as_f64().unwrap();
        assert!(
            (p - case["probability"].as_f64().unwrap()).abs() < 1e-4,
            "{key:?}"
        );
        for (peer, name) in NAMES {
            let expected = case["metrics"][peer].as_f64().unwrap();
            let got = values[name].as_f64().unwrap();
            let diff = (got - expected).abs();
            let tolerance = match name {
                // Yes or no: equal.
                "increase" | "increase-pgc" => 0.0,
                n if n.starts_with("road") => 1e-2,
                _ => 2e-3,
            };
            assert!(
                diff <= tolerance,
                "{key:?} {name}: whycam {got}, peer {expected}"
            );
            let w = worst.entry(name).or_default();
            *w = w.max(diff);
        }
    }
    println!("largest differences from the peers: {worst:?}");
    // The mean curves, one line per method.
    for curve in ["deletion.png", "insertion.png"] {
        let plot = image::open(out.path().join(curve)).unwrap();
        assert_eq!((plot.width(), plot.height()), (800, 500), "{curve}");
    }
    // The means are the images' means.
    let mean = report["metrics"]["gradcam"]["deletion"].as_f64().unwrap();
    let by_image: f64 = cases
        .iter()
        .filter(|c| c["method"] == "gradcam")
        .map(|c| c["metrics"]["deletion"].as_f64().unwrap())
        .sum::<f64>()
        / 5.0;
    assert!((mean - by_image).abs() < 2e-3, "{mean} vs {by_image}");
}

#[test]
fn boxes_give_the_pointing_games_and_bad_requests_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let photo = data_dir().join("photos224/chelsea.png");
    let (photo_arg, boxes) = (s(&photo), tmp.path().join("boxes.csv"));
    // A box over the cat's head, and one for a photo not in the run.
    std::fs::write(
        &boxes,
        "path,x0,y0,x1,y1\nchelsea.png,60,10,180,130\nx.png,0,0,1,1\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let report = evaluate_json(&[
        "evaluate",
        "--metric",
        "pointing-game,energy-pointing-game,sparseness,box-iou",
        "--boxes",
        &s(&boxes),
        "--out",
        &s(&out),
        "--json",
        &photo_arg,
    ]);
    let values = &report["images"][0]["methods"]["gradcam"];
    let energy = values["energy-pointing-game"].as_f64().unwrap();
    assert!(values["pointing-game"] == 1.0, "{values}");
    assert!(energy > 0.3 && energy <= 1.0, "{values}");
    // box-iou brings the IoU itself along.
    let iou = values["iou"].as_f64().unwrap();
    assert_eq!(
        values["box-iou"],
        f64::from(u8::from(iou >= 0.5)),
        "{values}"
    );
    let csv = std::fs::read_to_string(out.join("evaluation.csv")).unwrap();
    assert!(
        csv.starts_with("image,target,method,metric,value\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 6, "{csv}");
    let saved = support::json(&out.join("evaluation.json"));
    assert_eq!(saved["metrics"], report["metrics"]);

    let refused = |args: &[&str], needles: &[&str]| {
        let run = whycam(args);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{err}");
        assert!(needles.iter().all(|n| err.contains(n)), "{err}");
    };
    refused(
        &["evaluate", "--metric", "pointing-game", &photo_arg],
        &["--metric pointing-game needs", "--boxes"],
    );
    refused(
        &["evaluate", "--metric", "faithfulness", &photo_arg],
        &[
            "unknown metric \"faithfulness\"",
            "avg-drop",
            "road-combined",
        ],
    );
    refused(&["evaluate", "--target", "5000", &photo_arg], &["5000"]);
    // A box past the image's edge fails that image only, naming it.
    let coffee = s(&data_dir().join("photos224/coffee.png"));
    std::fs::write(
        &boxes,
        "chelsea.png,100,100,300,120\ncoffee.png,10,10,100,100\n",
    )
    .unwrap();
    let run = whycam(&[
        "evaluate",
        "--metric",
        "pointing-game",
        "--boxes",
        &s(&boxes),
        "--json",
        &photo_arg,
        &coffee,
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["images"].as_array().unwrap().len(), 1);
    let error = &report["errors"][0];
    assert!(error["image"].as_str().unwrap().ends_with("chelsea.png"));
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("outside the 224x224 image"), "{message}");
    assert!(stderr(&run).contains("chelsea.png"), "{}", stderr(&run));
}

#[test]
fn the_randomisation_check_runs_through_every_layer_and_passes_grad_cam() {
    let photo = s(&data_dir().join("photos224/chelsea.png"));
    let report = evaluate_json(&[
        "evaluate",
        "--metric",
        "randomisation",
        "--method",
        "gradcam,gradcam++",
        "--json",
        &photo,
    ]);
    let check = &report["randomisation"];
    let steps = check["steps"].as_array().unwrap();
    // The default model: its classifier, _conv_head, 16 blocks and the stem.
    assert_eq!(steps.len(), 19, "{check}");
    assert_eq!(steps[0]["layer"], "head");
    assert_eq!(steps[18]["layer"], "_conv_stem");
    for method in ["gradcam", "gradcampp"] {
        assert_eq!(check["flagged"][method], false, "{check}");
        let last = steps[18]["methods"][method]["spearman"].as_f64().unwrap();
        let per_image = report["images"][0]["methods"][method]["randomisation"]
            .as_f64()
            .unwrap();
        assert!(
            last < 0.5 && (last - per_image).abs() < 1e-12,
            "{method}: {last}"
        );
    }
}

#[test]
fn a_dataset_is_scored_sample_by_sample() {
    let report = evaluate_json(&[
        "evaluate",
        "--metric",
        "avg-drop,sparseness",
        "--limit",
        "3",
        "--json",
        &s(&support::fashion_mnist()),
    ]);
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 3, "{report}");
    // Fashion-MNIST's test split, spread evenly, each sample named file#record.
    let names: Vec<&str> = images
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    assert!(
        names[0].ends_with("t10k-images-idx3-ubyte.gz#0"),
        "{names:?}"
    );
    assert!(names[1].ends_with("#3333"), "{names:?}");
    let s = report["intervals"]["gradcam"]["sparseness"]["images"].as_u64();
    assert_eq!(s, Some(3));
}

#[test]
fn an_onnx_model_with_one_logit_is_evaluated_with_sigmoid_scores() {
    let model = data_dir().join("onnx/resnet18_cifar_binary.dynamo.onnx");
    let report = evaluate_json(&[
        "evaluate",
        "--weights",
        &s(&model),
        "--metric",
        "avg-drop,deletion,road-combined,randomisation",
        "--steps",
        "4",
        "--json",
        &s(&data_dir().join("photos224/chelsea.png")),
    ]);
    let image = &report["images"][0];
    // One logit: the explained class is 0 or 1 and its probability a sigmoid, in (0, 1).
    let p = image["probability"].as_f64().unwrap();
    assert!(p > 0.0 && p < 1.0, "{image}");
    for metric in ["avg-drop", "deletion", "road-combined", "randomisation"] {
        let v = image["methods"]["gradcam"][metric].as_f64();
        assert!(v.is_some_and(f64::is_finite), "{metric}: {image}");
    }
    // An ONNX graph's steps are its modules with weights, from the head down.
    let steps = report["randomisation"]["steps"].as_array().unwrap();
    assert!(steps.len() > 10 && steps[0]["layer"] == "head", "{steps:?}");
}
