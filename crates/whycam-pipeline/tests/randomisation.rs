//! The model-randomisation sanity check on the default model (EfficientNet-Lite0 with its real
//! weights) and three sample photos: Grad-CAM's maps change as the layers are randomised from
//! the top, and a "method" that ignores the model (the Sobel edge magnitude of the input) is
//! flagged. `cargo test --release -p whycam-pipeline --test randomisation -- --nocapture`
//! prints the values per step.

use whycam_cam::{ExplainOptions, Explainer, Method, TargetSpec};
use whycam_data::{FetchLimits, Source};
use whycam_pipeline::batch::{Decoded, Feeding, batch_tensor};
use whycam_pipeline::evaluate::randomisation::{
    HEAD_STEP, ImageMaps, RandomisationOptions, RandomisationReport, cascade, cascade_steps,
    maps_of, model_randomisation, reopen,
};
use whycam_pipeline::open::{ModelSpec, OpenedModel, sample_photos};

fn photos(opened: &OpenedModel) -> Vec<Decoded> {
    let feeding = Feeding {
        preprocess: &opened.preprocess,
        limits: &opened.limits,
        fetch: &FetchLimits::default(),
    };
    sample_photos()
        .unwrap()
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            ["chelsea", "coffee", "astronaut"]
                .iter()
                .any(|n| name.starts_with(n))
        })
        .map(|p| feeding.decode(&Source::File(p)).unwrap())
        .collect()
}

/// The Sobel gradient magnitude of the input's channel mean, min-max scaled: an edge map that
/// never looks at the model.
fn sobel(image: &Decoded) -> ImageMaps {
    let (h, w) = (
        image.prepared.height as usize,
        image.prepared.width as usize,
    );
    let data = &image.prepared.data;
    let gray: Vec<f32> = (0..h * w)
        .map(|i| (data[i] + data[h * w + i] + data[2 * h * w + i]) / 3.0)
        .collect();
    let at = |y: isize, x: isize| {
        let y = y.clamp(0, h as isize - 1) as usize;
        let x = x.clamp(0, w as isize - 1) as usize;
        gray[y * w + x]
    };
    let mut map = Vec::with_capacity(h * w);
    for y in 0..h as isize {
        for x in 0..w as isize {
            let gx = at(y - 1, x + 1) + 2.0 * at(y, x + 1) + at(y + 1, x + 1)
                - at(y - 1, x - 1)
                - 2.0 * at(y, x - 1)
                - at(y + 1, x - 1);
            let gy = at(y + 1, x - 1) + 2.0 * at(y + 1, x) + at(y + 1, x + 1)
                - at(y - 1, x - 1)
                - 2.0 * at(y - 1, x)
                - at(y - 1, x + 1);
            map.push((gx * gx + gy * gy).sqrt());
        }
    }
    let (lo, hi) = map
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, u), &v| {
            (l.min(v), u.max(v))
        });
    let scaled = map.iter().map(|v| (v - lo) / (hi - lo)).collect();
    ImageMaps::from([("sobel".to_string(), (scaled, [h, w]))])
}

fn print(report: &RandomisationReport) {
    for step in &report.steps {
        let values: Vec<String> = step
            .methods
            .iter()
            .map(|(m, s)| format!("{m}: spearman {:.3} ssim {:.3}", s.spearman, s.ssim))
            .collect();
        eprintln!(
            "{:>12} ({:>2} tensors)  {}",
            step.layer,
            step.tensors,
            values.join("  ")
        );
    }
    eprintln!("flagged: {:?}", report.flagged);
}

#[test]
fn grad_cam_passes_and_an_edge_detector_is_flagged() {
    let opened = ModelSpec::default().open().unwrap();
    let images = photos(&opened);
    assert_eq!(images.len(), 3);

    // The steps: the classifier first, the stem last, one per block between.
    let mut copy = reopen(&opened.model).unwrap();
    let steps = cascade_steps(copy.net.as_mut()).unwrap();
    let layers: Vec<&str> = steps.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(layers[0], HEAD_STEP);
    assert_eq!(steps[0].1, ["_fc.weight", "_fc.bias"]);
    assert_eq!(layers[1], "_conv_head");
    assert_eq!(layers[2], "_blocks.15");
    assert_eq!(*layers.last().unwrap(), "_conv_stem");
    assert_eq!(layers.len(), 19, "{layers:?}");

    // Grad-CAM through the library entry point.
    let options = ExplainOptions {
        methods: vec![Method::GradCam],
        ..ExplainOptions::default()
    };
    let explainer = Explainer::new(&opened.model, options.clone()).unwrap();
    let x = batch_tensor(images.iter().map(|d| &d.prepared), opened.model.device());
    let explanations = explainer
        .explain(x, &TargetSpec::Auto, 1, &opened.labels)
        .unwrap();
    let seeded = RandomisationOptions::default();
    let report = model_randomisation(&opened, &options, &images, &explanations, &seeded).unwrap();
    print(&report);
    assert_eq!(report.steps.len(), 19);
    assert!(!report.flagged["gradcam"]);
    let last = &report.steps.last().unwrap().methods["gradcam"];
    assert_eq!(last.images, 3);
    assert!(last.spearman < 0.3, "{last:?}");
    assert!(last.ssim < 0.5, "{last:?}");
    // Per image, the last step's values; their mean is the last step's.
    assert_eq!(report.images.len(), 3);
    let mean = report
        .images
        .iter()
        .map(|i| i["gradcam"].spearman)
        .sum::<f64>()
        / 3.0;
    assert!((mean - last.spearman).abs() < 1e-12);
    // The trained head alone already matters: its step moves the maps.
    let head = &report.steps[0].methods["gradcam"];
    assert!(head.spearman < 0.95, "{head:?}");

    // The edge detector never looks at the model: its maps stay the same at every step.
    let original: Vec<ImageMaps> = images.iter().map(sobel).collect();
    let report = cascade(&opened, &original, &seeded, &mut |_model| {
        Ok(images.iter().map(sobel).collect())
    })
    .unwrap();
    print(&report);
    assert!(report.flagged["sobel"]);
    for step in &report.steps {
        let s = &step.methods["sobel"];
        assert_eq!((s.spearman, s.ssim), (1.0, 1.0), "{}", step.layer);
    }

    // maps_of is what the check compares: the map at the input's size, in [0, 1].
    let maps = maps_of(&explanations[0], &images[0]).unwrap();
    let (map, [h, w]) = &maps["gradcam"];
    assert_eq!((*h, *w), (224, 224));
    assert!(map.iter().all(|v| (0.0..=1.0).contains(v)));
}

/// Opened to read a convolution's output before its BatchNorm, the model runs unfolded and so is
/// randomised: the BatchNorms' scales and shifts are steps of their own, their running
/// statistics are kept.
#[test]
fn unfolded_batchnorms_are_steps_of_their_own() {
    let opened = ModelSpec::default()
        .open_for_layers(&["_conv_head".to_string()])
        .unwrap();
    assert!(!opened.model.net.is_folded());
    let mut copy = reopen(&opened.model).unwrap();
    assert!(!copy.net.is_folded());
    let steps = cascade_steps(copy.net.as_mut()).unwrap();
    let layers: Vec<&str> = steps.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(layers[..4], [HEAD_STEP, "_bn1", "_conv_head", "_blocks.15"]);
    assert_eq!(layers[layers.len() - 2..], ["_bn0", "_conv_stem"]);
    assert_eq!(steps[1].1, ["_bn1.weight", "_bn1.bias"]);
    assert!(
        steps
            .iter()
            .flat_map(|(_, n)| n)
            .all(|n| !n.contains("running"))
    );
}

/// An ONNX graph offers its parameters too, under the module paths of the nodes that read them,
/// from both exporters (BatchNorm folded into each convolution by the exporter): the classifier
/// is the first step, the stem the last, one step per convolution between; Grad-CAM's maps
/// change.
#[test]
fn onnx_graphs_randomise_by_module_path() {
    for (file, stem) in [
        ("resnet18_cifar.torchscript.onnx", "conv1"),
        ("resnet18_cifar.dynamo.onnx", "bn1"),
    ] {
        let spec = ModelSpec {
            weights: Some(whycam_testkit::data_dir().join("onnx").join(file)),
            ..ModelSpec::default()
        };
        let opened = spec.open().unwrap();
        let mut copy = reopen(&opened.model).unwrap();
        let steps = cascade_steps(copy.net.as_mut()).unwrap();
        let layers: Vec<&str> = steps.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(steps[0].1, ["fc.weight", "fc.bias"], "{file}");
        assert_eq!(*layers.last().unwrap(), stem, "{file}");
        // 20 convolutions (17 + 3 downsamples) with their biases, and the classifier.
        assert_eq!(layers.len(), 21, "{file}: {layers:?}");
        assert!(steps.iter().all(|(_, names)| names.len() == 2), "{file}");

        let images = &photos(&opened)[..1];
        let options = ExplainOptions::default();
        let explainer = Explainer::new(&opened.model, options.clone()).unwrap();
        let x = batch_tensor(images.iter().map(|d| &d.prepared), opened.model.device());
        let explanations = explainer
            .explain(x, &TargetSpec::Auto, 1, &opened.labels)
            .unwrap();
        let report = model_randomisation(
            &opened,
            &options,
            images,
            &explanations,
            &RandomisationOptions::default(),
        )
        .unwrap();
        eprintln!("{file}:");
        print(&report);
        assert!(!report.flagged["gradcam"], "{file}");
    }
}
