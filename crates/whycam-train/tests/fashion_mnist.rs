//! whycam-small on the real Fashion-MNIST (Debian's `dataset-fashion-mnist`, which
//! `tools/test.sh` installs). The default suite trains one epoch on a tenth of the training
//! set and must beat a floor on a tenth of the test set; the full run is `--ignored`.

use std::sync::Arc;
use std::time::Instant;
use whycam_data::datasets::{self, Dataset, PetTarget, Subset};
use whycam_data::{
    Augment, Loader, LoaderConfig, Normalization, Preprocess, PreprocessConfig, Split,
};
use whycam_models::{Architecture, HeadSpec, WhycamSmallConfig};
use whycam_testkit::fashion_mnist;
use whycam_train::{FitConfig, OptimizerKind, Schedule, fit};

fn loader(dataset: Arc<dyn Dataset>, train: bool, seed: u64) -> Loader {
    let config = LoaderConfig {
        batch_size: if train { 128 } else { 500 },
        preprocess: PreprocessConfig {
            size: 28,
            mode: Preprocess::None,
            crop_fraction: 0.875,
            normalization: Normalization {
                mean: [0.2860; 3],
                std: [0.3530; 3],
            },
        },
        augment: train.then_some(Augment {
            scale: (1.0, 1.0),
            ..Augment::default()
        }),
        shuffle: train,
        drop_last: false,
        seed,
        prefetch: 4,
    };
    Loader::new(dataset, config).unwrap()
}

/// Trains a `widths` whycam-small for `epochs` on every `step`-th training image and returns
/// the accuracy on every `step`-th test image, and the seconds it took.
fn run(widths: [usize; 3], step: usize, epochs: usize) -> (f64, f64) {
    let small = WhycamSmallConfig {
        widths: widths.to_vec(),
        in_channels: 1,
    };
    let open = |split| -> Arc<dyn Dataset> {
        Arc::from(datasets::open(&fashion_mnist(), split, PetTarget::Breed).unwrap())
    };
    let train: Arc<dyn Dataset> = Arc::new(Subset::every(open(Split::Train), step).unwrap());
    let test: Arc<dyn Dataset> = Arc::new(Subset::every(open(Split::Test), step).unwrap());
    let device = burn::prelude::Device::default().autodiff();
    device.seed(1);
    let head = HeadSpec {
        classes: 10,
        bias: true,
    };
    let model = Architecture::WhycamSmall
        .network(head, &small, &device)
        .unwrap();
    let config = FitConfig {
        epochs,
        freeze_epochs: 0,
        start_epoch: 0,
        stop: None,
        optimizer_state: None,
        stop_after: None,
        lr: 1e-2,
        weight_decay: 0.01,
        optimizer: OptimizerKind::AdamW,
        schedule: Schedule::OneCycle,
    };
    let start = Instant::now();
    let mut last = None;
    fit(
        model,
        &loader(train, true, 1),
        Some(&loader(test, false, 1)),
        &config,
        &mut |stats: &whycam_train::EpochStats, _: &whycam_models::Network| {
            eprintln!("{}", serde_json::to_string(stats).unwrap());
            last = stats.valid_accuracy;
            Ok(())
        },
    )
    .unwrap();
    (last.unwrap(), start.elapsed().as_secs_f64())
}

#[test]
fn one_epoch_on_a_tenth_beats_the_floor() {
    // A narrow network so the default suite stays quick.
    let (accuracy, seconds) = run([16, 32, 64], 10, 1);
    eprintln!("accuracy {accuracy:.4} in {seconds:.1} s");
    assert!(
        accuracy >= 0.65,
        "test accuracy {accuracy:.4} after one epoch on 6,000 images"
    );
}

/// The README's run, the whole training set for three epochs (about 11 minutes on 2 cores):
/// `cargo test --release --workspace --test fashion_mnist -- --ignored --nocapture`.
#[test]
#[ignore]
fn full_training_set() {
    let (accuracy, seconds) = run([16, 32, 64], 1, 3);
    eprintln!("accuracy {accuracy:.4} in {seconds:.1} s");
    assert!(accuracy >= 0.91, "test accuracy {accuracy:.4}");
}
