//! `whycam train`: fine-tune a zoo model with a new CAM-ready head, or train `whycam-small`
//! from scratch, writing checkpoints and per-epoch metrics into a run folder.

use super::data_args::DataArgs;
use super::progress::Progress;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use whycam_pipeline::text;
use whycam_pipeline::train::{TrainJob, TrainPlan, TrainSink};
use whycam_train::{EpochStats, OptimizerKind, Schedule};

/// The head put on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HeadKind {
    /// Global average pooling and one linear layer over the classes (cross-entropy).
    Linear,
    /// Global average pooling and one logit for two classes (binary cross-entropy with
    /// logits; the second class is the positive one).
    Binary,
}

/// Train a CAM-ready classifier.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Architecture: whycam-small (trained from scratch) or any zoo model (fine-tuned from
    /// --weights with a new head).
    #[arg(long, default_value = "whycam-small")]
    pub model: String,
    /// Starting weights for a zoo model. Default: its pretrained ImageNet weights where
    /// whycam ships them.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Start a zoo model from random weights instead of pretrained ones.
    #[arg(long, conflicts_with = "weights")]
    pub from_scratch: bool,
    /// The new head.
    #[arg(long, value_enum, default_value_t = HeadKind::Linear)]
    pub head: HeadKind,
    /// A linear head without bias (then a CAM's mean over positions is exactly the logit).
    #[arg(long)]
    pub no_bias: bool,
    /// Channels of whycam-small's blocks.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64")]
    pub widths: Vec<usize>,
    /// Epochs with every layer trained.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Head-only epochs first, the body frozen (fastai's fine_tune). Default: 1 for a
    /// pretrained zoo model, 0 for whycam-small.
    #[arg(long)]
    pub freeze_epochs: Option<usize>,
    /// Peak learning rate. Default: 1e-2 from scratch, 2e-3 when fine-tuning (fastai's).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, value_enum, default_value_t = OptimizerKind::AdamW)]
    pub optimizer: OptimizerKind,
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    #[arg(long, value_enum, default_value_t = Schedule::OneCycle)]
    pub schedule: Schedule,
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_size: u32,
    /// Smallest area of a random crop, as a fraction of the image (torchvision's
    /// RandomResizedCrop scale; fastai uses 0.35). 1 disables cropping.
    #[arg(long, default_value_t = 0.35)]
    pub crop_scale: f64,
    /// No random crops or flips.
    #[arg(long)]
    pub no_augment: bool,
    /// Seed of the initial weights, the order, the augmentation and the validation split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue a run from its last.safetensors (or best.safetensors), with its optimiser
    /// state.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Stop after this many epochs of the run (its schedule still spans --epochs); resume
    /// later with --resume RUN/last.safetensors.
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// The run folder: last/best checkpoints with their JSON, metrics.jsonl.
    #[arg(long, default_value = "whycam-run")]
    pub out: PathBuf,
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let job = TrainJob {
        architecture: args.model.parse()?,
        weights: args.weights.clone(),
        from_scratch: args.from_scratch,
        resume: args.resume.clone(),
        binary_head: args.head == HeadKind::Binary,
        bias: !args.no_bias,
        widths: args.widths.clone(),
        data: args.data.train_valid(),
        size: args.data.size,
        preprocess: args.data.preprocess,
        epochs: args.epochs,
        freeze_epochs: args.freeze_epochs,
        lr: args.lr,
        weight_decay: args.weight_decay,
        optimizer: args.optimizer,
        schedule: args.schedule,
        batch_size: args.batch_size as usize,
        crop_scale: (!args.no_augment).then_some(args.crop_scale),
        seed: args.seed,
        stop_after: args.stop_after,
        out: args.out.clone(),
        device: super::device(),
    };
    let stop = super::stop_on_ctrl_c()?;
    let mut bar = EpochBar::default();
    let outcome = whycam_pipeline::train::train(&job, stop, &mut bar)?;
    drop(bar.bar.take());
    if outcome.interrupted {
        eprintln!("interrupted: saved {}", outcome.last.display());
        return Ok(ExitCode::from(super::INTERRUPTED));
    }
    if let Some(n) = outcome.stopped_after {
        eprintln!(
            "stopped after epoch {n} of {}; continue with --resume {}",
            outcome.total_epochs,
            outcome.last.display()
        );
    }
    println!("best: {}", outcome.best.display());
    println!("last: {}", outcome.last.display());
    if outcome.skipped > 0 {
        eprintln!(
            "error: {} unreadable image(s) were skipped (listed in {})",
            outcome.skipped,
            outcome.skipped_file.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The progress bar of an epoch and the lines a run prints.
#[derive(Default)]
struct EpochBar {
    bar: Option<Progress>,
    batches: u64,
    total_epochs: usize,
}

impl TrainSink for EpochBar {
    fn start(&mut self, plan: &TrainPlan) {
        self.total_epochs = plan.total_epochs;
        self.batches = plan.batches_per_epoch as u64;
        // Progress lines: a stderr that cannot be written to must not stop the training.
        let _ = text::train_plan(&mut std::io::stderr(), plan);
    }

    fn fresh_optimizer(&mut self, path: &Path) {
        eprintln!(
            "warning: no {}; the optimiser starts afresh",
            path.display()
        );
    }

    fn batch(&mut self, epoch: usize, done: usize, loss: f64) {
        let batches = self.batches;
        let bar = self.bar.get_or_insert_with(|| Progress::batches(batches));
        bar.at_batch(epoch, self.total_epochs, done, loss);
    }

    fn epoch(&mut self, stats: &EpochStats) {
        drop(self.bar.take());
        // The epoch is also in metrics.jsonl; see `start` for why a failed write is let go.
        let _ = text::train_epoch(&mut std::io::stderr(), stats, self.total_epochs);
    }
}
