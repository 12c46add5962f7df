//! Deep Feature Factorization through the library, as a Python module or a server would run
//! it: the default model on two photos and a corrupt file, the files and the summary, and
//! settings refused before any input is read.

use std::path::{Path, PathBuf};
use whycam_pipeline::dff::{DffConfig, DffImage, DffRun, DffSink, DffSummary};
use whycam_pipeline::{InputError, InputErrorKind, ModelSpec, PipelineError, Sources};

fn photo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/photos224")
        .join(name)
}

#[derive(Default)]
struct Seen {
    images: Vec<String>,
    errors: Vec<InputError>,
}

impl DffSink for Seen {
    fn image(&mut self, result: &DffImage) {
        self.images.push(result.image.clone());
    }
    fn error(&mut self, error: &InputError) {
        self.errors.push(error.clone());
    }
}

#[test]
fn factorises_each_image_and_records_failures() {
    let opened = ModelSpec::default().open().expect("the default model");
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let config = DffConfig {
        concepts: 3,
        save_raw: true,
        batch_size: 2,
        ..DffConfig::default()
    };
    let run = DffRun::new(&opened, config).unwrap();
    assert_eq!(run.layer(), "features");
    let inputs = Sources::collect(&[photo("chelsea.png"), corrupt.clone(), photo("coffee.png")]);
    let mut seen = Seen::default();
    let summary = run
        .run(&inputs.found, inputs.failed, &out, &mut seen)
        .unwrap();

    assert_eq!(summary.images.len(), 2, "{:?}", summary.errors);
    assert_eq!(seen.images.len(), 2);
    assert_eq!(summary.errors.len(), 1);
    assert_eq!(seen.errors[0].kind, InputErrorKind::Decode);
    assert!(seen.errors[0].message().contains("corrupt.png"));
    for image in &summary.images {
        assert_eq!((image.k, image.shape), (3, [7, 7]));
        assert!(image.nmf_iterations >= 1);
        let shares: f32 = image.concept_list.iter().map(|c| c.share).sum();
        assert!((shares - 1.0).abs() < 1e-5, "{shares}");
        for concept in &image.concept_list {
            assert_eq!(concept.top.len(), 2);
            assert!(concept.top[0].probability >= concept.top[1].probability);
        }
    }
    let stem = |i: usize| {
        Path::new(&summary.images[i].image)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    assert_eq!(stem(0), "chelsea");
    for i in 0..2 {
        let png = out.join(format!("{}.dff.png", stem(i)));
        let picture = image::open(&png).unwrap();
        // The 224 px photo and a legend beside it.
        assert!(picture.width() > 224 && picture.height() >= 224);
        let npy = std::fs::read(out.join(format!("{}.dff.npy", stem(i)))).unwrap();
        let array = npyz::NpyFile::new(&npy[..]).unwrap();
        assert_eq!(array.shape(), &[3, 7, 7]);
        let values: Vec<f32> = array.into_vec().unwrap();
        assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    let text = std::fs::read_to_string(out.join(DffSummary::FILE)).unwrap();
    let written: DffSummary = serde_json::from_str(&text).unwrap();
    assert_eq!(written.images.len(), 2);
    assert_eq!(written.layer, "features");
}

#[test]
fn bad_settings_are_refused_before_any_input() {
    let opened = ModelSpec::default().open().expect("the default model");
    for (concepts, top) in [(0, 2), (50, 2), (5, 0), (5, 1001)] {
        let config = DffConfig {
            concepts,
            top,
            ..DffConfig::default()
        };
        let Err(err) = DffRun::new(&opened, config) else {
            panic!("{concepts} concepts, top {top} accepted");
        };
        assert!(
            matches!(err, PipelineError::OutOfRange { .. }),
            "{concepts}/{top}: {err}"
        );
        if concepts == 50 {
            let text = err.to_string();
            assert!(text.contains("7x7 = 49"), "{text}");
        }
    }
    let config = DffConfig {
        layer: Some("no.such.layer".into()),
        ..DffConfig::default()
    };
    assert!(DffRun::new(&opened, config).is_err());
    // The largest k the layer allows works.
    let config = DffConfig {
        concepts: 49,
        ..DffConfig::default()
    };
    assert!(DffRun::new(&opened, config).is_ok());
}

/// At the default layer (it feeds global average pooling) a concept's probabilities are the
/// classifier's on the concept vector: pytorch-grad-cam's `computation_on_concepts`.
#[test]
fn concept_scores_are_the_classifier_on_the_concept() {
    use burn::prelude::*;
    use whycam_cam::dff::{NmfInit, concept_legend, factorize};

    let opened = ModelSpec::default().open().expect("the default model");
    let dir = tempfile::tempdir().unwrap();
    let config = DffConfig {
        concepts: 4,
        top: 3,
        ..DffConfig::default()
    };
    let run = DffRun::new(&opened, config).unwrap();
    let inputs = Sources::collect(&[photo("chelsea.png")]);
    let summary = run
        .run(&inputs.found, inputs.failed, dir.path(), &mut ())
        .unwrap();
    let ours = &summary.images[0];

    // The same by hand: trace, factorise, classifier head on each concept.
    let model = &opened.model;
    let image = image::open(photo("chelsea.png")).unwrap().to_rgb8();
    let prepared = whycam_data::prepare(&image, &opened.preprocess).unwrap();
    let x = Tensor::<4>::from_data(
        TensorData::new(prepared.data, [1, 3, 224, 224]),
        model.device(),
    );
    let layer = model.layer("features").unwrap();
    let trace = model.net.trace(x, &[layer]).unwrap();
    let [_, channels, h, w] = trace.activations[0].dims();
    let acts: Vec<f32> = trace.activations[0]
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let f = factorize(&acts, 1, channels, h, w, 4, &NmfInit::default()).unwrap();
    assert_eq!(f.n_iter, ours.nmf_iterations);
    let head = model.net.linear_head().expect("a linear head");
    let concepts = Tensor::<2>::from_data(
        TensorData::new(f.concepts_as_maps(), [4, channels]),
        model.device(),
    );
    let mut logits = concepts.matmul(head.weight.transpose());
    if let Some(bias) = head.bias {
        logits = logits + bias.unsqueeze_dim(0);
    }
    let logits: Vec<f32> = logits.into_data().try_into_vec::<f32>().unwrap();
    let expected = concept_legend(&logits, model.net.num_classes(), 3).unwrap();
    let mut max_diff = 0.0f32;
    for (concept, theirs) in ours.concept_list.iter().zip(&expected) {
        let classes: Vec<usize> = concept.top.iter().map(|c| c.index).collect();
        let want: Vec<usize> = theirs.iter().map(|(c, _)| *c).collect();
        assert_eq!(classes, want);
        for (c, (_, p)) in concept.top.iter().zip(theirs) {
            max_diff = max_diff.max((c.probability - p).abs());
        }
    }
    println!("concept probabilities: max difference {max_diff:.1e} from the classifier's");
    assert!(max_diff < 1e-5, "{max_diff}");
}
