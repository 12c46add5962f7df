//! Naming a dataset on the command line: its path, the split, a choice of classes, a size
//! limit, turned into the library's [`whycam_pipeline::data`] types.

use clap::Args;
use std::path::PathBuf;
use whycam_data::datasets::PetTarget;
use whycam_data::{Preprocess, Split};

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
    #[arg(long, value_enum, default_value_t = PetTarget::Breed)]
    pub pet_target: PetTarget,
}

impl Selection {
    /// The library's selection.
    pub fn selection(&self) -> whycam_pipeline::data::Selection {
        whycam_pipeline::data::Selection {
            classes: self.classes.clone(),
            limit: self.limit,
            pet_target: self.pet_target,
        }
    }
}

/// A dataset read in order to score or picture a model: which split, which samples, and the
/// batch size.
#[derive(Debug, Args)]
pub struct EvalData {
    /// Which split of a dataset that has two.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    #[command(flatten)]
    pub selection: Selection,
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_size: u32,
}

impl EvalData {
    /// The library's selection.
    pub fn selection(&self) -> whycam_pipeline::data::Selection {
        self.selection.selection()
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
    /// The library's description of the training and validation data.
    pub fn train_valid(&self) -> whycam_pipeline::data::TrainValid {
        whycam_pipeline::data::TrainValid {
            data: self.data.clone(),
            valid: self.valid.clone(),
            valid_fraction: self.valid_fraction,
            valid_limit: self.valid_limit,
            selection: self.selection.selection(),
        }
    }
}
