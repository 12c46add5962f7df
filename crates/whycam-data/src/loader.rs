//! Batches for training and testing: shuffled, decoded, augmented and normalised in parallel,
//! a bounded number of batches ahead of the consumer (torch's `DataLoader` with workers and
//! `prefetch_factor`).
//!
//! Everything random comes from the seed: the order of an epoch from `(seed, epoch)`, each
//! sample's crop and flip from `(seed, epoch, index)`. So a seed gives the same batches
//! whatever the number of threads or the timing. A sample whose image cannot be read is left
//! out of its batch and reported in [`Batch::skipped`].

use crate::datasets::Dataset;
use crate::error::Result;
use crate::preprocess::{PreprocessConfig, crop_resized, normalize_chw, resize_to_input};
use image::RgbImage;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

/// Training augmentation: torchvision's `RandomResizedCrop(size, scale, ratio)` followed by
/// `RandomHorizontalFlip(0.5)` when `flip`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    /// Range of the crop's area as a fraction of the image's.
    pub scale: (f64, f64),
    /// Range of the crop's aspect ratio (width / height).
    pub ratio: (f64, f64),
    /// Flip horizontally with probability one half.
    pub flip: bool,
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip: true,
        }
    }
}

/// How a [`Loader`] makes batches.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// Resizing and normalisation without augmentation (and the size and normalisation with).
    pub preprocess: PreprocessConfig,
    /// Random crops and flips instead of `preprocess`'s deterministic resize.
    pub augment: Option<Augment>,
    /// A new order every epoch.
    pub shuffle: bool,
    /// Leave out a last, smaller batch.
    pub drop_last: bool,
    /// Seed of every random choice.
    pub seed: u64,
    /// Batches prepared ahead of the consumer.
    pub prefetch: usize,
}

/// A sample left out of its batch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    /// Its index in the dataset.
    pub index: usize,
    /// Why, naming where it comes from.
    pub error: String,
    /// The failure itself (`error` is its message), for a caller that sorts failures by kind.
    #[serde(skip)]
    pub cause: Arc<crate::DataError>,
}

/// One batch, ready for the network.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `len × 3 × size × size` normalised values.
    pub images: Vec<f32>,
    /// One label per image.
    pub labels: Vec<usize>,
    /// The dataset index of each image.
    pub indices: Vec<usize>,
    /// Samples of this batch that could not be read.
    pub skipped: Vec<Skipped>,
}

impl Batch {
    /// Images in the batch.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether every sample of the batch was skipped.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Makes the batches of a dataset, epoch after epoch.
pub struct Loader {
    dataset: Arc<dyn Dataset>,
    config: LoaderConfig,
}

impl Loader {
    /// A loader over `dataset`; the configuration is checked here.
    pub fn new(dataset: Arc<dyn Dataset>, config: LoaderConfig) -> Result<Self> {
        config.preprocess.validate()?;
        if config.preprocess.mode == crate::Preprocess::Shorter {
            return Err(crate::DataError::ShorterBatches);
        }
        if config.batch_size == 0 {
            return Err(crate::DataError::ZeroBatchSize);
        }
        if let Some(a) = config.augment {
            let ok = |(lo, hi): (f64, f64)| lo > 0.0 && lo <= hi && hi.is_finite();
            if !ok(a.scale) || a.scale.1 > 1.0 || !ok(a.ratio) {
                return Err(crate::DataError::AugmentRanges { augment: a });
            }
        }
        Ok(Self { dataset, config })
    }

    /// The dataset.
    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.dataset.len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The sample order of `epoch`.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if self.config.shuffle {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(
                self.config.seed,
                epoch,
                u64::MAX,
            )));
        }
        order
    }

    /// The batches of `epoch`, prepared on rayon's threads up to `prefetch` batches ahead.
    /// Dropping the iterator stops the preparation.
    pub fn epoch(&self, epoch: u64) -> impl Iterator<Item = Batch> + use<> {
        let order = self.order(epoch);
        let (sender, receiver) = sync_channel(self.config.prefetch.max(1));
        let dataset = Arc::clone(&self.dataset);
        let config = self.config.clone();
        std::thread::spawn(move || {
            let batches = order
                .chunks(config.batch_size)
                .filter(|chunk| !config.drop_last || chunk.len() == config.batch_size);
            for chunk in batches {
                let batch = make_batch(dataset.as_ref(), &config, epoch, chunk);
                if sender.send(batch).is_err() {
                    return;
                }
            }
        });
        Batches { receiver }
    }
}

struct Batches {
    receiver: Receiver<Batch>,
}

impl Iterator for Batches {
    type Item = Batch;
    fn next(&mut self) -> Option<Batch> {
        self.receiver.recv().ok()
    }
}

fn make_batch(
    dataset: &dyn Dataset,
    config: &LoaderConfig,
    epoch: u64,
    indices: &[usize],
) -> Batch {
    let samples: Vec<(usize, Result<Vec<f32>>)> = indices
        .par_iter()
        .map(|&index| (index, sample(dataset, config, epoch, index)))
        .collect();
    let size = config.preprocess.size as usize;
    let mut batch = Batch {
        images: Vec::with_capacity(indices.len() * 3 * size * size),
        labels: Vec::with_capacity(indices.len()),
        indices: Vec::with_capacity(indices.len()),
        skipped: Vec::new(),
    };
    for (index, result) in samples {
        match result {
            Ok(data) => {
                batch.images.extend(data);
                batch.labels.push(dataset.label(index));
                batch.indices.push(index);
            }
            Err(e) => {
                let cause = e.with_path(std::path::Path::new(&dataset.describe(index)));
                batch.skipped.push(Skipped {
                    index,
                    error: cause.to_string(),
                    cause: Arc::new(cause),
                })
            }
        }
    }
    batch
}

fn sample(
    dataset: &dyn Dataset,
    config: &LoaderConfig,
    epoch: u64,
    index: usize,
) -> Result<Vec<f32>> {
    let image = dataset.image(index)?;
    let input = match config.augment {
        Some(augment) => {
            let mut rng = ChaCha8Rng::seed_from_u64(mix(config.seed, epoch, index as u64));
            augmented(&image, config.preprocess.size, &augment, &mut rng)?
        }
        None => resize_to_input(&image, &config.preprocess)?.0,
    };
    Ok(normalize_chw(&input, &config.preprocess.normalization))
}

/// torchvision's `RandomResizedCrop.get_params`, the crop resized to `size`, then the flip.
fn augmented(
    image: &RgbImage,
    size: u32,
    augment: &Augment,
    rng: &mut impl Rng,
) -> Result<RgbImage> {
    let (width, height) = image.dimensions();
    let area = f64::from(width) * f64::from(height);
    let (log_lo, log_hi) = (augment.ratio.0.ln(), augment.ratio.1.ln());
    let mut crop = None;
    for _ in 0..10 {
        let target = area * rng.random_range(augment.scale.0..=augment.scale.1);
        let aspect = rng.random_range(log_lo..=log_hi).exp();
        let w = (target * aspect).sqrt().round() as u32;
        let h = (target / aspect).sqrt().round() as u32;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = rng.random_range(0..=height - h);
            let left = rng.random_range(0..=width - w);
            crop = Some((left, top, w, h));
            break;
        }
    }
    // Fallback: the centre crop with the ratio clamped into range.
    let crop = crop.unwrap_or_else(|| {
        let in_ratio = f64::from(width) / f64::from(height);
        let (w, h) = if in_ratio < augment.ratio.0 {
            (
                width,
                ((f64::from(width) / augment.ratio.0).round() as u32).clamp(1, height),
            )
        } else if in_ratio > augment.ratio.1 {
            (
                ((f64::from(height) * augment.ratio.1).round() as u32).clamp(1, width),
                height,
            )
        } else {
            (width, height)
        };
        ((width - w) / 2, (height - h) / 2, w, h)
    });
    let mut out = crop_resized(image, crop, size)?;
    if augment.flip && rng.random_bool(0.5) {
        image::imageops::flip_horizontal_in_place(&mut out);
    }
    Ok(out)
}

/// One 64-bit seed from three numbers (SplitMix64 finalisers), so nearby epochs and indices
/// give unrelated streams.
fn mix(seed: u64, epoch: u64, index: u64) -> u64 {
    let finalise = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    finalise(finalise(finalise(seed) ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15)) ^ index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::{Normalization, Preprocess};
    use crate::{DataError, datasets::Dataset};
    use image::Rgb;

    /// Ten 12×8 images whose pixels encode their index; index 3 is "corrupt".
    struct Numbers;

    impl Dataset for Numbers {
        fn len(&self) -> usize {
            10
        }
        fn classes(&self) -> &[String] {
            &[]
        }
        fn label(&self, index: usize) -> usize {
            index % 2
        }
        fn image(&self, index: usize) -> Result<RgbImage> {
            if index == 3 {
                return Err(DataError::dataset(
                    std::path::Path::new("numbers#3"),
                    "corrupt",
                ));
            }
            Ok(RgbImage::from_fn(12, 8, |x, y| {
                Rgb([index as u8 * 20, (x * 20) as u8, (y * 30) as u8])
            }))
        }
        fn describe(&self, index: usize) -> String {
            format!("numbers#{index}")
        }
    }

    fn config(seed: u64, augment: Option<Augment>) -> LoaderConfig {
        LoaderConfig {
            batch_size: 4,
            preprocess: PreprocessConfig {
                size: 6,
                mode: Preprocess::Stretch,
                crop_fraction: 0.875,
                normalization: Normalization {
                    mean: [0.0; 3],
                    std: [1.0; 3],
                },
            },
            augment,
            shuffle: true,
            drop_last: false,
            seed,
            prefetch: 2,
        }
    }

    fn run(seed: u64, epoch: u64, augment: Option<Augment>) -> Vec<Batch> {
        Loader::new(Arc::new(Numbers), config(seed, augment))
            .unwrap()
            .epoch(epoch)
            .collect()
    }

    #[test]
    fn a_seed_gives_the_same_batches_and_skips_are_counted() {
        let a = run(7, 0, Some(Augment::default()));
        let b = run(7, 0, Some(Augment::default()));
        assert_eq!(a.len(), 3);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((&x.indices, &x.labels), (&y.indices, &y.labels));
            assert_eq!(x.images, y.images);
        }
        let seen: usize = a.iter().map(Batch::len).sum();
        let skipped: Vec<&Skipped> = a.iter().flat_map(|b| &b.skipped).collect();
        assert_eq!((seen, skipped.len()), (9, 1));
        assert!(skipped[0].error.contains("numbers#3"));
        let mut all: Vec<usize> = a.iter().flat_map(|b| b.indices.clone()).collect();
        all.sort();
        assert_eq!(all, [0, 1, 2, 4, 5, 6, 7, 8, 9]);
        // Another epoch or seed: another order.
        let order = |bs: &[Batch]| {
            bs.iter()
                .flat_map(|b| b.indices.clone())
                .collect::<Vec<_>>()
        };
        assert_ne!(order(&a), order(&run(7, 1, None)));
        assert_ne!(order(&a), order(&run(8, 0, None)));
    }

    #[test]
    fn without_augmentation_images_are_the_plain_resize() {
        let batches = run(1, 0, None);
        let batch = &batches[0];
        let index = batch.indices[0];
        let expected = resize_to_input(&Numbers.image(index).unwrap(), &config(1, None).preprocess)
            .unwrap()
            .0;
        let plane = 36;
        assert_eq!(
            batch.images[0],
            f32::from(expected.get_pixel(0, 0)[0]) / 255.0
        );
        assert_eq!(batch.images.len(), batch.len() * 3 * plane);
    }

    #[test]
    fn crops_stay_inside_and_flips_happen() {
        let image = RgbImage::from_fn(40, 10, |x, _| Rgb([x as u8 * 6, 0, 0]));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut flipped = 0;
        for _ in 0..50 {
            let out = augmented(&image, 8, &Augment::default(), &mut rng).unwrap();
            assert_eq!(out.dimensions(), (8, 8));
            if out.get_pixel(0, 0)[0] > out.get_pixel(7, 0)[0] {
                flipped += 1;
            }
        }
        assert!((10..=40).contains(&flipped), "{flipped} of 50 flipped");
    }

    #[test]
    fn bad_configurations_are_refused() {
        let mut c = config(0, None);
        c.batch_size = 0;
        assert!(Loader::new(Arc::new(Numbers), c).is_err());
        let bad = Augment {
            scale: (0.5, 2.0),
            ..Augment::default()
        };
        assert!(Loader::new(Arc::new(Numbers), config(0, Some(bad))).is_err());
    }
}
