//! Naming a dataset on the command line: its path, the split, a choice of classes, a size
//! limit, and turning that into loaders.

use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use whycam_data::datasets::{self, Dataset, PetTarget, Subset};
use whycam_data::{Augment, Loader, LoaderConfig, Preprocess, PreprocessConfig, Split};

/// A dataset shared with the loader's threads.
pub type Data = Arc<dyn Dataset>;

/// What an Oxford-IIIT Pet image is labelled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PetTargetArg {
    /// The 37 breeds.
    Breed,
    /// Cat or dog, from the annotation.
    Species,
    /// Cat or dog by fastai's rule (a capitalised file name is a cat).
    Fastai,
}

impl From<PetTargetArg> for PetTarget {
    fn from(t: PetTargetArg) -> Self {
        match t {
            PetTargetArg::Breed => PetTarget::Breed,
            PetTargetArg::Species => PetTarget::Species,
            PetTargetArg::Fastai => PetTarget::FastaiRule,
        }
    }
}

/// Which part of a dataset with fixed splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    Train,
    Test,
}

impl From<SplitArg> for Split {
    fn from(s: SplitArg) -> Self {
        match s {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        }
    }
}

/// Which samples of a dataset.
#[derive(Debug, Args)]
pub struct Selection {
    /// Only these classes (comma-separated names), labelled in this order.
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// At most this many images, spread evenly over the dataset.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Labels of Oxford-IIIT Pet.
    #[arg(long, value_enum, default_value_t = PetTargetArg::Breed)]
    pub pet_target: PetTargetArg,
}

impl Selection {
    /// Opens `path`'s `split` with the classes and limit applied.
    pub fn open(&self, path: &Path, split: Split) -> anyhow::Result<Data> {
        let data: Data = Arc::from(datasets::open(path, split, self.pet_target.into())?);
        self.select(data, self.limit)
    }

    fn select(&self, mut data: Data, limit: Option<usize>) -> anyhow::Result<Data> {
        if !self.classes.is_empty() {
            data = Arc::new(Subset::of_classes(data, &self.classes)?);
        }
        let data = limited(data, limit)?;
        anyhow::ensure!(!data.is_empty(), "the dataset has no samples");
        Ok(data)
    }
}

/// A dataset read in order to score or picture a model: which split, which samples, and the
/// batch size.
#[derive(Debug, Args)]
pub struct EvalData {
    /// Which split of a dataset that has two.
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    pub split: SplitArg,
    #[command(flatten)]
    pub selection: Selection,
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_size: u32,
}

/// At most `limit` samples of `data`, spread evenly.
pub fn limited(data: Data, limit: Option<usize>) -> anyhow::Result<Data> {
    match limit.filter(|&l| l < data.len()) {
        Some(limit) => {
            anyhow::ensure!(limit > 0, "--limit must be at least 1");
            let len = data.len();
            let indices = (0..limit).map(|i| i * len / limit).collect();
            Ok(Arc::new(Subset::new(data, indices)?))
        }
        None => Ok(data),
    }
}

/// Training data and where validation data comes from.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The training data: an ImageFolder (one folder per class, or train/ and valid/ inside),
    /// a path,label CSV, or Oxford-IIIT Pet, STL-10, CIFAR-10 or MNIST/Fashion-MNIST files in
    /// torchvision's layout.
    pub data: PathBuf,
    /// Validation data. Default: the dataset's test split where it has one, a valid/ (val/,
    /// test/) folder beside train/, else a random --valid-fraction of the training data.
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Fraction held out for validation when there is no validation data (fastai's
    /// valid_pct); 0 trains on everything.
    #[arg(long, default_value_t = 0.2)]
    pub valid_fraction: f64,
    /// At most this many validation images, spread evenly.
    #[arg(long)]
    pub valid_limit: Option<usize>,
    #[command(flatten)]
    pub selection: Selection,
    /// Input size in pixels. Default: the model's native size when fine-tuning; the images'
    /// own size (at most 224) from scratch.
    #[arg(long)]
    pub size: Option<u32>,
    /// How images are brought to the input size (default stretch, fastai's squish).
    #[arg(long)]
    pub preprocess: Option<Preprocess>,
}

impl DataArgs {
    /// The training set and, when there is one, the validation set.
    pub fn open_train_valid(&self, seed: u64) -> anyhow::Result<(Data, Option<Data>)> {
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
            anyhow::bail!(
                "the validation data's classes ({}) differ from the training data's ({})",
                valid.classes().join(", "),
                train.classes().join(", ")
            );
        }
        Ok((train, valid))
    }
}

/// Validation data opened whole (no class subset or limit yet): a dataset's test split, or a
/// folder given on its own.
fn open_any(path: &Path, s: &Selection) -> anyhow::Result<Data> {
    let split = if datasets::has_test_split(path) {
        Split::Test
    } else {
        Split::Train
    };
    Ok(Arc::from(
        datasets::open(path, split, s.pet_target.into())
            .with_context(|| format!("opening the validation data {}", path.display()))?,
    ))
}

/// A loader over `data`. `augment` is `Some` for training (shuffled, with the given
/// augmentation if any) and `None` for evaluation.
pub fn loader(
    data: Data,
    preprocess: PreprocessConfig,
    batch_size: u32,
    augment: Option<Option<Augment>>,
    seed: u64,
) -> anyhow::Result<Loader> {
    let config = LoaderConfig {
        batch_size: batch_size as usize,
        preprocess,
        augment: augment.flatten(),
        shuffle: augment.is_some(),
        drop_last: false,
        seed,
        prefetch: 4,
    };
    Ok(Loader::new(data, config)?)
}
