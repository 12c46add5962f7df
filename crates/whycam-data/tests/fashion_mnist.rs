//! The IDX reader and the loader on the real Fashion-MNIST, as Debian's
//! `dataset-fashion-mnist` installs it (`tools/test.sh` installs the package when missing;
//! `WHYCAM_FASHION_MNIST` points elsewhere).

use std::sync::Arc;
use whycam_data::datasets::{self, Dataset, PetTarget};
use whycam_data::{Loader, LoaderConfig, Normalization, Preprocess, PreprocessConfig, Split};
use whycam_testkit::fashion_mnist;

#[test]
fn both_splits_have_the_published_sizes_and_balanced_classes() {
    for (split, count) in [(Split::Train, 60_000), (Split::Test, 10_000)] {
        let d = datasets::open(&fashion_mnist(), split, PetTarget::Breed).unwrap();
        assert_eq!(d.len(), count);
        assert_eq!(d.classes()[9], "Ankle boot");
        let mut per_class = [0usize; 10];
        for i in 0..d.len() {
            per_class[d.label(i)] += 1;
        }
        assert_eq!(per_class, [count / 10; 10]);
        let image = d.image(0).unwrap();
        assert_eq!(image.dimensions(), (28, 28));
        let p = image.get_pixel(14, 14).0;
        assert!(p[0] == p[1] && p[1] == p[2]);
    }
    // The test split's first item is an ankle boot, its second a pullover (published order).
    let test = datasets::open(&fashion_mnist(), Split::Test, PetTarget::Breed).unwrap();
    assert_eq!((test.label(0), test.label(1)), (9, 2));
}

#[test]
fn the_loader_delivers_every_test_image_once() {
    let d: Arc<dyn Dataset> =
        Arc::from(datasets::open(&fashion_mnist(), Split::Test, PetTarget::Breed).unwrap());
    let config = LoaderConfig {
        batch_size: 512,
        preprocess: PreprocessConfig {
            size: 28,
            mode: Preprocess::None,
            crop_fraction: 0.875,
            normalization: Normalization {
                mean: [0.2860; 3],
                std: [0.3530; 3],
            },
        },
        augment: None,
        shuffle: true,
        drop_last: false,
        seed: 1,
        prefetch: 2,
    };
    let loader = Loader::new(d, config).unwrap();
    let mut seen = vec![false; 10_000];
    let mut batches = 0;
    for batch in loader.epoch(0) {
        assert!(batch.skipped.is_empty());
        assert_eq!(batch.images.len(), batch.len() * 3 * 28 * 28);
        for i in batch.indices {
            assert!(!seen[i]);
            seen[i] = true;
        }
        batches += 1;
    }
    assert_eq!(batches, loader.batches_per_epoch());
    assert!(seen.iter().all(|&s| s));
}
