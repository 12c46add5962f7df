//! Labelled datasets for testing, training and embedding: which split, which classes, how
//! many samples, where validation data comes from, and loaders over them.

use crate::error::{PipelineError, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use whycam_data::datasets::{self, Dataset, PetTarget, Subset};
use whycam_data::{Augment, Loader, LoaderConfig, PreprocessConfig, Split};

/// A dataset shared with the loader's threads.
pub type Data = Arc<dyn Dataset>;

/// Which samples of a dataset.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these classes, labelled in this order (empty: all).
    pub classes: Vec<String>,
    /// At most this many samples, spread evenly.
    pub limit: Option<usize>,
    /// Labels of Oxford-IIIT Pet.
    pub pet_target: PetTarget,
}

impl Selection {
    /// Opens `path`'s `split` with the classes and limit applied.
    pub fn open(&self, path: &Path, split: Split) -> Result<Data> {
        let data: Data = Arc::from(datasets::open(path, split, self.pet_target)?);
        self.select(data, self.limit)
    }

    /// `data` with the classes and `limit` applied.
    pub fn select(&self, mut data: Data, limit: Option<usize>) -> Result<Data> {
        if !self.classes.is_empty() {
            data = Arc::new(Subset::of_classes(data, &self.classes)?);
        }
        let data = limited(data, limit)?;
        if data.is_empty() {
            return Err(PipelineError::EmptyDataset);
        }
        Ok(data)
    }
}

/// At most `limit` samples of `data`, spread evenly.
pub fn limited(data: Data, limit: Option<usize>) -> Result<Data> {
    match limit.filter(|&l| l < data.len()) {
        Some(0) => Err(PipelineError::OutOfRange {
            option: "limit",
            expected: "at least 1",
            value: "0".into(),
        }),
        Some(limit) => {
            let len = data.len();
            let indices = (0..limit).map(|i| i * len / limit).collect();
            Ok(Arc::new(Subset::new(data, indices)?))
        }
        None => Ok(data),
    }
}

/// Training data and where validation data comes from.
#[derive(Debug, Clone)]
pub struct TrainValid {
    /// The training data (any layout [`datasets::open`] reads).
    pub data: PathBuf,
    /// Validation data; default: the test split, a `valid/` (`val/`, `test/`) folder beside
    /// `train/`, else `valid_fraction` of the training data.
    pub valid: Option<PathBuf>,
    /// Fraction held out when there is no validation data (0: none).
    pub valid_fraction: f64,
    /// At most this many validation samples.
    pub valid_limit: Option<usize>,
    pub selection: Selection,
}

impl TrainValid {
    /// The training set and, when there is one, the validation set.
    pub fn open(&self, seed: u64) -> Result<(Data, Option<Data>)> {
        let s = &self.selection;
        let sub = |name: &str| {
            let dir = self.data.join(name);
            dir.is_dir().then_some(dir)
        };
        let (train, valid) = if let Some(valid) = &self.valid {
            (
                s.open(&self.data, Split::Train)?,
                Some(s.select(open_any(valid, s)?, self.valid_limit)?),
            )
        } else if let (Some(train), Some(valid)) = (
            sub("train").filter(|_| !datasets::has_test_split(&self.data)),
            sub("valid").or_else(|| sub("val")).or_else(|| sub("test")),
        ) {
            (
                s.open(&train, Split::Train)?,
                Some(s.select(open_any(&valid, s)?, self.valid_limit)?),
            )
        } else if datasets::has_test_split(&self.data) {
            (
                s.open(&self.data, Split::Train)?,
                Some(s.select(open_any(&self.data, s)?, self.valid_limit)?),
            )
        } else if self.valid_fraction > 0.0 {
            let all = s.open(&self.data, Split::Train)?;
            let (rest, held) = Subset::split(all, self.valid_fraction, seed)?;
            let held: Data = Arc::new(held);
            (
                Arc::new(rest) as Data,
                Some(s.select(held, self.valid_limit)?),
            )
        } else {
            (s.open(&self.data, Split::Train)?, None)
        };
        if let Some(valid) = &valid
            && valid.classes() != train.classes()
        {
            return Err(PipelineError::ValidationClasses {
                valid: valid.classes().to_vec(),
                train: train.classes().to_vec(),
            });
        }
        Ok((train, valid))
    }
}

/// Validation data opened whole (no class subset or limit yet): a dataset's test split, or a
/// folder given on its own.
fn open_any(path: &Path, s: &Selection) -> Result<Data> {
    let split = if datasets::has_test_split(path) {
        Split::Test
    } else {
        Split::Train
    };
    let data = datasets::open(path, split, s.pet_target).map_err(|source| {
        PipelineError::ValidationData {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(Arc::from(data))
}

/// A loader over `data` in order, for scoring or features.
pub fn eval_loader(data: Data, preprocess: PreprocessConfig, batch_size: usize) -> Result<Loader> {
    loader(data, preprocess, batch_size, None, 0)
}

/// A loader over `data`, shuffled by `seed` each epoch, with `augment` if any.
pub fn train_loader(
    data: Data,
    preprocess: PreprocessConfig,
    batch_size: usize,
    augment: Option<Augment>,
    seed: u64,
) -> Result<Loader> {
    loader(data, preprocess, batch_size, Some(augment), seed)
}

fn loader(
    data: Data,
    preprocess: PreprocessConfig,
    batch_size: usize,
    augment: Option<Option<Augment>>,
    seed: u64,
) -> Result<Loader> {
    let config = LoaderConfig {
        batch_size,
        preprocess,
        augment: augment.flatten(),
        shuffle: augment.is_some(),
        drop_last: false,
        seed,
        prefetch: 4,
    };
    Ok(Loader::new(data, config)?)
}
