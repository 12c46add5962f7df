//! The library called directly, as a Python module or a server would: explain through sinks,
//! the report from a summary, predict, and embed. The command line's own tests are in the
//! workspace's `tests/`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use whycam_cam::Method;
use whycam_pipeline::embed::{self, EmbedSummary, LayoutConfig};
use whycam_pipeline::explain::files::{Overlays, RawArrays};
use whycam_pipeline::explain::summary::{JsonSummary, RunSummary};
use whycam_pipeline::explain::{ExplainConfig, ExplainRun};
use whycam_pipeline::predict::{PredictConfig, predict};
use whycam_pipeline::report::Report;
use whycam_pipeline::{
    ExplainSink, ExplainedImage, FileRole, InputError, InputErrorKind, ModelSpec, OpenedModel,
    RunInfo, Sources, WrittenFile,
};

fn photos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/photos224")
}

fn default_model() -> OpenedModel {
    ModelSpec::default().open().expect("the default model")
}

/// One map as a sink saw it.
struct SeenMap {
    name: String,
    method: Method,
    /// The target's score (its logit).
    score: f32,
    /// The mean of the signed map.
    signed_mean: f32,
    /// The map's smallest and largest value.
    range: (f32, f32),
}

/// What a sink saw, shared with the test after the run.
#[derive(Default)]
struct Seen {
    begun: Vec<RunInfo>,
    /// Per image: its stem and maps.
    images: Vec<(String, Vec<SeenMap>)>,
    errors: Vec<InputError>,
    finished: usize,
}

struct Recorder(Arc<Mutex<Seen>>);

impl ExplainSink for Recorder {
    fn begin(&mut self, run: &RunInfo) -> whycam_pipeline::Result<()> {
        self.0.lock().unwrap().begun.push(run.clone());
        Ok(())
    }

    fn image(&mut self, image: &ExplainedImage<'_>) -> whycam_pipeline::Result<Vec<WrittenFile>> {
        let maps = image
            .maps
            .iter()
            .map(|m| {
                let signed = &m.signed[0].data;
                let mean = signed.iter().sum::<f32>() / signed.len() as f32;
                let range = m
                    .map
                    .data
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                SeenMap {
                    name: m.name.to_string_lossy().into_owned(),
                    method: m.method,
                    score: m.target.score,
                    signed_mean: mean,
                    range,
                }
            })
            .collect();
        self.0
            .lock()
            .unwrap()
            .images
            .push((image.stem.to_string_lossy().into_owned(), maps));
        Ok(Vec::new())
    }

    fn error(&mut self, error: &InputError) {
        self.0.lock().unwrap().errors.push(error.clone());
    }

    fn finish(&mut self, _summary: &RunSummary) -> whycam_pipeline::Result<Vec<WrittenFile>> {
        self.0.lock().unwrap().finished += 1;
        Ok(Vec::new())
    }
}

#[test]
fn explain_hands_each_image_to_every_sink_and_types_its_failures() {
    let model = default_model();
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\n not really").unwrap();
    let missing = tmp.path().join("missing.jpg");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let config = ExplainConfig {
        methods: vec![Method::GradCam, Method::Cam],
        top_k: 2,
        batch_size: 2,
        ..ExplainConfig::default()
    };
    let run = ExplainRun::new(&model, config).unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut sinks: Vec<Box<dyn ExplainSink>> = vec![
        Box::new(Overlays { dir: out.clone() }),
        Box::new(RawArrays { dir: out.clone() }),
        Box::new(Recorder(seen.clone())),
    ];
    let inputs = Sources::collect(&[
        photos().join("chelsea.png"),
        broken.clone(),
        missing.clone(),
        photos().join("coffee.png"),
    ]);
    let summary = run.run(&inputs.found, inputs.failed, &mut sinks).unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.begun.len(), 1);
    assert_eq!(seen.begun[0].inputs, 4);
    assert_eq!(seen.begun[0].methods, [Method::GradCam, Method::Cam]);
    assert_eq!(seen.finished, 1);
    let stems: Vec<&str> = seen.images.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(stems, ["chelsea", "coffee"]);
    for (stem, maps) in &seen.images {
        // Two targets, two methods each; names carry the class when there are several.
        assert_eq!(maps.len(), 4, "{stem}");
        for m in maps {
            let name = &m.name;
            assert!(
                name.starts_with(&format!("{stem}.{}.", m.method.id())),
                "{name}"
            );
            let (lo, hi) = m.range;
            assert!(lo >= 0.0 && (hi - 1.0).abs() < 1e-6, "{name}: [{lo}, {hi}]");
            if m.method == Method::Cam {
                // CAM's signed map averages to the class's logit (a linear head).
                assert!(
                    (m.signed_mean - m.score).abs() <= 1e-3 * m.score.abs().max(1.0),
                    "{name}: mean {} vs logit {}",
                    m.signed_mean,
                    m.score
                );
            }
        }
    }
    // The failures, typed: the corrupt file cannot be decoded, the missing one read.
    let kinds: Vec<(String, InputErrorKind)> = seen
        .errors
        .iter()
        .map(|e| (e.input.clone(), e.kind))
        .collect();
    assert!(
        kinds.contains(&(missing.display().to_string(), InputErrorKind::Io)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(broken.display().to_string(), InputErrorKind::Decode)),
        "{kinds:?}"
    );
    for e in &seen.errors {
        // Each message names its input exactly once.
        assert_eq!(
            e.message().matches(e.input.as_str()).count(),
            1,
            "{}",
            e.message()
        );
    }
    // The summary lists each map's overlay and raw array, in sink order, all on disk, each
    // with its role (in the JSON too).
    assert_eq!(summary.images.len(), 2);
    assert_eq!(summary.errors.len(), 2);
    for image in &summary.images {
        for explanation in &image.explanations {
            assert_eq!(explanation.files.len(), 2, "{explanation:?}");
            assert!(explanation.files[0].ends_with(".png"));
            assert!(explanation.files[1].ends_with(".npy"));
            assert!(explanation.files.iter().all(|f| Path::new(f).is_file()));
            assert_eq!(explanation.roles, [FileRole::Overlay, FileRole::Raw]);
            assert_eq!(
                explanation.file(FileRole::Overlay),
                Some(explanation.files[0].as_str())
            );
        }
    }
    let json: serde_json::Value = serde_json::from_str(&summary.to_json()).unwrap();
    assert_eq!(
        json["images"][0]["explanations"][0]["roles"],
        serde_json::json!(["overlay", "raw"])
    );
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_report_sink_and_the_report_of_a_folder_write_the_same_page() {
    let model = default_model();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_path_buf();
    let run = ExplainRun::new(&model, ExplainConfig::default()).unwrap();
    let page = out.join("report.html");
    let mut sinks: Vec<Box<dyn ExplainSink>> = vec![
        Box::new(Overlays { dir: out.clone() }),
        Box::new(JsonSummary::new(&out)),
        Box::new(Report {
            dir: out.clone(),
            page: page.clone(),
            limits: model.limits,
        }),
    ];
    let inputs = Sources::collect(&[photos().join("rocket.png"), photos().join("coffee.png")]);
    let summary = run.run(&inputs.found, inputs.failed, &mut sinks).unwrap();
    assert_eq!(summary.images.len(), 2);
    let html = std::fs::read_to_string(&page).unwrap();
    // Every picture is inlined: per image its original and one overlay, each as a thumbnail
    // and a detail picture.
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), 2 * 2 * 2);
    assert!(html.contains("rocket.png") && html.contains("coffee.png"));
    let again = out.join("again.html");
    whycam_pipeline::report::write(&out, &again).unwrap();
    assert_eq!(std::fs::read_to_string(&again).unwrap(), html);
}

#[test]
fn predict_ranks_each_input_and_keeps_going_past_a_bad_one() {
    let model = default_model();
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let inputs = Sources::collect(&[photos().join("chelsea.png"), empty.clone()]);
    let config = PredictConfig {
        top_k: 3,
        ..PredictConfig::default()
    };
    let report = predict(&model, &inputs.found, inputs.failed, &config, &mut ()).unwrap();
    assert_eq!(report.results.len(), 1);
    let top = &report.results[0].top;
    assert_eq!(top.len(), 3);
    assert!((281..=285).contains(&top[0].index), "{top:?}");
    assert!(top.windows(2).all(|w| w[0].probability >= w[1].probability));
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].image, empty.display().to_string());
    assert_eq!(report.errors[0].kind, Some(InputErrorKind::Decode));

    // The plain-text printer: the model, one ranked block per image, then the failures.
    let mut table = Vec::new();
    whycam_pipeline::text::predict(&mut table, &report).unwrap();
    let table = String::from_utf8(table).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("model efficientnet-lite0 ("),
        "{table}"
    );
    assert!(lines[2].ends_with("chelsea.png"), "{table}");
    assert!(
        lines[3].starts_with("   1. ") && lines[5].starts_with("   3. "),
        "{table}"
    );
    assert!(
        lines[3].contains(&format!("(class {:>4},", top[0].index)),
        "{table}"
    );
    assert_eq!(lines.last(), Some(&"1 of 2 inputs failed"), "{table}");
}

/// Three well-separated clusters of 20 points in 6 dimensions, written as an earlier run
/// would: `features.npy` and `samples.csv`.
fn clustered_features(dir: &Path) -> PathBuf {
    let (n, d) = (60, 6);
    let mut features = Vec::with_capacity(n * d);
    let mut csv = String::from("path,label,predicted\n");
    for i in 0..n {
        let class = i % 3;
        for j in 0..d {
            // A deterministic wobble around the cluster's centre.
            let wobble = (((i * 7 + j * 13) % 17) as f32 - 8.0) / 40.0;
            features.push(if j == class { 5.0 } else { 0.0 } + wobble);
        }
        csv.push_str(&format!("p{i}.png,c{class},\n"));
    }
    let npy = dir.join("features.npy");
    whycam_pipeline::write::npy(&npy, &[n as u64, d as u64], &features).unwrap();
    std::fs::write(dir.join("samples.csv"), csv).unwrap();
    npy
}

#[test]
fn embed_lays_out_saved_features_and_scores_the_neighbourhoods() {
    let tmp = tempfile::tempdir().unwrap();
    let npy = clustered_features(tmp.path());
    let points = embed::read_features(&npy).unwrap();
    assert_eq!((points.len(), points.dim), (60, 6));
    assert_eq!(points.classes, ["c0", "c1", "c2"]);
    let out = tmp.path().join("layout");
    std::fs::create_dir(&out).unwrap();
    let config = LayoutConfig {
        out: out.clone(),
        thumbnails: None,
        neighbours: 5,
    };
    let summary = EmbedSummary {
        source: npy.display().to_string(),
        model: None,
        weights: None,
        layer: None,
        points: points.len(),
        dimensions: points.dim,
        coloured_by: points.coloured_by,
        classes: points.classes.clone(),
        neighbours: 5,
        feature_neighbour_agreement: None,
        extraction_seconds: 0.0,
        layouts: Vec::new(),
        failures: Vec::new(),
    };
    let summary = embed::lay_out(&points, &config, true, None, summary).unwrap();
    assert_eq!(summary.feature_neighbour_agreement, Some(1.0));
    let [pca] = summary.layouts.as_slice() else {
        panic!("one layout: {:?}", summary.layouts);
    };
    assert_eq!(pca.neighbour_agreement, Some(1.0));
    let ratio: Vec<f64> =
        serde_json::from_value(pca.details["explained_variance_ratio"].clone()).unwrap();
    // Three clusters span two directions: the first two components hold almost everything.
    assert!(ratio[0] + ratio[1] > 0.95, "{ratio:?}");
    let csv = std::fs::read_to_string(&pca.csv).unwrap();
    assert_eq!(csv.lines().count(), 61);
    assert!(out.join("summary.json").is_file() && Path::new(&pca.svg).is_file());
}

#[test]
fn embed_extracts_pooled_features_of_loose_images_coloured_by_prediction() {
    let model = default_model();
    let layer = model.model.net.default_layer();
    let inputs = embed::open_inputs(
        &[photos()],
        true,
        &Default::default(),
        whycam_data::Split::Test,
        model.limits,
    )
    .unwrap();
    assert!(!inputs.labelled);
    let mut done = 0;
    let points = embed::extract(&model, inputs, layer, 2, &mut |n| {
        done += n;
        true
    })
    .unwrap();
    assert_eq!(done, 5);
    assert_eq!(points.len(), 5);
    // EfficientNet-Lite0's last block has 1280 channels.
    assert_eq!(points.dim, 1280);
    assert_eq!(points.coloured_by, "predicted class");
    assert!(points.features.iter().all(|v| v.is_finite()));
    let predicted = points.predicted.as_ref().unwrap();
    let chelsea = points
        .paths
        .iter()
        .position(|p| p.ends_with("chelsea.png"))
        .unwrap();
    assert!(
        predicted[chelsea].to_lowercase().contains("cat"),
        "{predicted:?}"
    );
}

/// A `.npy` file with `header` (the dict) and `data` as its bytes, as numpy writes them.
fn npy_with(path: &Path, header: &str, data: &[u8]) {
    let mut dict = header.to_string();
    // Magic (6) + version (2) + length (2) + dict + newline, padded to 64 bytes.
    while !(10 + dict.len() + 1).is_multiple_of(64) {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((dict.len() as u16).to_le_bytes());
    bytes.extend(dict.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn features_whose_header_lies_are_refused_before_allocating_and_fortran_order_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let bomb = tmp.path().join("bomb.npy");
    npy_with(
        &bomb,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
        &[0; 16],
    );
    let error = embed::read_features(&bomb).err().unwrap().to_string();
    assert!(
        error.contains("bomb.npy") && error.contains("over the limit"),
        "{error}"
    );
    let cut = tmp.path().join("cut.npy");
    npy_with(
        &cut,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 10), }",
        &[0; 40],
    );
    let error = embed::read_features(&cut).err().unwrap().to_string();
    assert!(
        error.contains("more than the") && error.contains("bytes the file holds"),
        "{error}"
    );
    // [[1, 2, 3], [4, 5, 6]] stored column by column.
    let fortran = tmp.path().join("fortran.npy");
    let data: Vec<u8> = [1f32, 4., 2., 5., 3., 6.]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    npy_with(
        &fortran,
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
        &data,
    );
    let points = embed::read_features(&fortran).unwrap();
    assert_eq!((points.len(), points.dim), (2, 3));
    assert_eq!(points.features, [1., 2., 3., 4., 5., 6.]);
}
