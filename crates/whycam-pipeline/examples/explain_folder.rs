//! Explains every image in a folder with the library alone: Grad-CAM overlays and
//! `explanations.json` written through the sink trait, beside a sink of its own that prints
//! one line per image.
//!
//! ```sh
//! cargo run --release -p whycam-pipeline --example explain_folder -- photos/ maps/
//! ```
//!
//! The test suite runs it on the committed test photos (`cargo test -p whycam-pipeline`).

use std::path::Path;
use whycam_pipeline::explain::files::{Overlays, create_dir};
use whycam_pipeline::explain::summary::{JsonSummary, RunSummary};
use whycam_pipeline::explain::{ExplainConfig, ExplainRun};
use whycam_pipeline::{ExplainSink, ExplainedImage, InputError, ModelSpec, Sources, WrittenFile};

/// A sink of the program's own: one line per image, its prediction and how many maps.
struct Lines;

impl ExplainSink for Lines {
    fn image(&mut self, image: &ExplainedImage<'_>) -> whycam_pipeline::Result<Vec<WrittenFile>> {
        println!(
            "{}: {} ({:.1}%), {} map(s)",
            image.source,
            image.prediction.label,
            100.0 * image.prediction.probability,
            image.maps.len()
        );
        Ok(Vec::new())
    }

    fn error(&mut self, error: &InputError) {
        eprintln!("skipped {}", error);
    }
}

/// Explains the images in `folder` with the default model (EfficientNet-Lite0 on ImageNet,
/// fetched on first use) and writes the overlays and the summary into `out`.
fn explain_folder(folder: &Path, out: &Path) -> whycam_pipeline::Result<RunSummary> {
    let model = ModelSpec::default().open()?;
    let run = ExplainRun::new(&model, ExplainConfig::default())?;
    create_dir(out)?;
    let mut sinks: Vec<Box<dyn ExplainSink>> = vec![
        Box::new(Overlays {
            dir: out.to_path_buf(),
        }),
        Box::new(JsonSummary::new(out)),
        Box::new(Lines),
    ];
    let inputs = Sources::collect(&[folder]);
    run.run(&inputs.found, inputs.failed, &mut sinks)
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [folder, out] = args.as_slice() else {
        eprintln!("usage: explain_folder FOLDER OUT");
        return std::process::ExitCode::from(2);
    };
    match explain_folder(Path::new(folder), Path::new(out)) {
        Ok(summary) if summary.errors.is_empty() => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", whycam_pipeline::error::chain(&e));
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_the_test_photos_into_overlays_and_a_summary() {
        let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/photos224");
        let out = tempfile::tempdir().unwrap();
        let summary = explain_folder(&photos, out.path()).unwrap();
        assert_eq!(summary.images.len(), 5, "{:?}", summary.errors);
        assert!(summary.errors.is_empty());
        assert_eq!(summary.methods, ["gradcam"]);
        for image in &summary.images {
            let [explanation] = image.explanations.as_slice() else {
                panic!("one map per image: {image:?}");
            };
            let [overlay] = explanation.files.as_slice() else {
                panic!("one file per map: {explanation:?}");
            };
            let picture = image::open(overlay).unwrap();
            assert_eq!((picture.width(), picture.height()), (224, 224));
        }
        // The summary on disk is the one returned.
        let written = RunSummary::read(out.path()).unwrap();
        assert_eq!(written.to_json(), summary.to_json());
        // ImageNet classes 281-285 are the cats: Chelsea is one.
        let chelsea = summary
            .images
            .iter()
            .find(|i| i.image.ends_with("chelsea.png"))
            .unwrap();
        assert!(
            (281..=285).contains(&chelsea.prediction.index),
            "{chelsea:?}"
        );
    }
}
