//! `whycam train`: fine-tune a zoo model with a new CAM-ready head, or train `whycam-small`
//! from scratch, writing checkpoints and per-epoch metrics into a run folder.

use super::data_args::{DataArgs, loader};
use super::model_args::pretrained_weights;
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use whycam_data::datasets::Dataset;
use whycam_data::{Augment, Normalization, Preprocess, PreprocessConfig};
use whycam_models::{Architecture, HeadSpec, Network, WhycamSmallConfig};
use whycam_train::{
    EpochStats, FitConfig, Observer, OptimizerKind, Schedule, Sidecar, TrainingRecord, fit,
};

/// The head put on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HeadKind {
    /// Global average pooling and one linear layer over the classes (cross-entropy).
    Linear,
    /// Global average pooling and one logit for two classes (binary cross-entropy with
    /// logits; the second class is the positive one).
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    Adam,
    Adamw,
    Sgd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// fastai's fit_one_cycle: warm up over the first quarter, then cosine annealing.
    OneCycle,
    /// Cosine annealing from the learning rate to zero.
    Cosine,
    /// The same learning rate throughout.
    Constant,
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
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adamw)]
    pub optimizer: OptimizerArg,
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    #[arg(long, value_enum, default_value_t = ScheduleArg::OneCycle)]
    pub schedule: ScheduleArg,
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
    let architecture: Architecture = args.model.parse()?;
    let resume = match &args.resume {
        Some(path) => Some(resume_sidecar(path, architecture)?),
        None => None,
    };
    let scratch = architecture == Architecture::WhycamSmall || args.from_scratch;
    let (train_set, valid_set) = args.data.open_train_valid(args.seed)?;
    let classes = train_set.classes().to_vec();
    if args.head == HeadKind::Binary && classes.len() != 2 {
        bail!(
            "--head binary needs two classes, the data has {}: {} (pick two with --classes)",
            classes.len(),
            classes.join(", ")
        );
    }
    if let Some(sidecar) = &resume
        && sidecar.labels != classes
    {
        bail!(
            "the checkpoint was trained on the classes {} but the data has {}",
            sidecar.labels.join(", "),
            classes.join(", ")
        );
    }
    let head = HeadSpec {
        classes: if args.head == HeadKind::Binary {
            1
        } else {
            classes.len()
        },
        bias: !args.no_bias,
    };
    let sample = match (&resume, scratch) {
        (None, true) => Some(ImageSample::of(train_set.as_ref())?),
        _ => None,
    };
    let preprocess = match &resume {
        Some(sidecar) => sidecar.preprocess,
        None => preprocessing(&args, architecture, sample.as_ref())?,
    };
    let device = burn::prelude::Device::default().autodiff();
    device.seed(args.seed);
    let small = WhycamSmallConfig {
        widths: args.widths.clone(),
        in_channels: if sample.as_ref().is_some_and(|s| s.grey) {
            1
        } else {
            3
        },
    };
    anyhow::ensure!(
        !small.widths.is_empty() && small.widths.iter().all(|&w| (1..=4096).contains(&w)),
        "--widths takes 1 to 4096 channels per block"
    );
    let network = match &args.resume {
        Some(weights) => architecture.load_network(weights, Some(head), &device, &[])?,
        None if scratch => architecture.network(head, &small, &device)?,
        None => {
            let weights = match &args.weights {
                Some(w) => w.clone(),
                None => pretrained_weights(architecture)?,
            };
            anyhow::ensure!(
                !super::model_args::is_onnx(&weights),
                "{} is an ONNX graph: whycam explains, predicts with and embeds ONNX models, but \
                 fine-tunes only from a state dict (.pth or .safetensors) of a zoo architecture",
                weights.display()
            );
            let (w, b) = architecture.classifier_keys();
            architecture.load_network(&weights, Some(head), &device, &[w, b])?
        }
    };
    let lr = args.lr.unwrap_or(if scratch { 1e-2 } else { 2e-3 });
    let freeze_epochs = args.freeze_epochs.unwrap_or(if scratch { 0 } else { 1 });
    let record = TrainingRecord {
        data: args.data.data.display().to_string(),
        epochs: args.epochs,
        freeze_epochs,
        batch_size: args.batch_size as usize,
        lr,
        weight_decay: args.weight_decay,
        optimizer: match args.optimizer {
            OptimizerArg::Adam => OptimizerKind::Adam,
            OptimizerArg::Adamw => OptimizerKind::AdamW,
            OptimizerArg::Sgd => OptimizerKind::Sgd,
        },
        schedule: match args.schedule {
            ScheduleArg::OneCycle => Schedule::OneCycle,
            ScheduleArg::Cosine => Schedule::Cosine,
            ScheduleArg::Constant => Schedule::Constant,
        },
        seed: args.seed,
    };
    let stop = Arc::new(AtomicBool::new(false));
    install_ctrl_c(stop.clone())?;
    let config = FitConfig {
        epochs: args.epochs,
        freeze_epochs,
        lr,
        weight_decay: args.weight_decay,
        optimizer: record.optimizer,
        schedule: record.schedule,
        start_epoch: resume.as_ref().map_or(0, |s| s.epoch),
        stop: Some(stop),
        optimizer_state: match &args.resume {
            Some(weights) => {
                let state = whycam_train::optimizer_path(weights);
                if state.is_file() {
                    Some(state)
                } else {
                    eprintln!(
                        "warning: no {}; the optimiser starts afresh",
                        state.display()
                    );
                    None
                }
            }
            None => None,
        },
        stop_after: args.stop_after,
    };
    anyhow::ensure!(
        config.start_epoch < config.total_epochs(),
        "the checkpoint has done {} of {} epochs already; ask for more with --epochs",
        config.start_epoch,
        config.total_epochs()
    );
    let augment = (!args.no_augment).then_some(Augment {
        scale: (args.crop_scale.clamp(0.01, 1.0), 1.0),
        ratio: (3.0 / 4.0, 4.0 / 3.0),
        flip: true,
    });
    let train = loader(
        train_set.clone(),
        preprocess,
        args.batch_size,
        Some(augment),
        args.seed,
    )?;
    let valid = match &valid_set {
        Some(set) => Some(loader(set.clone(), preprocess, 256, None, args.seed)?),
        None => None,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the run folder {}", args.out.display()))?;
    eprintln!(
        "training {architecture} ({} head, {} classes) on {} images{}, {} epochs{}; run folder {}",
        match args.head {
            HeadKind::Linear => "linear",
            HeadKind::Binary => "binary",
        },
        classes.len(),
        train_set.len(),
        valid_set
            .as_ref()
            .map(|v| format!(", validating on {}", v.len()))
            .unwrap_or_default(),
        config.total_epochs(),
        if freeze_epochs > 0 {
            format!(" ({freeze_epochs} with the body frozen)")
        } else {
            String::new()
        },
        args.out.display()
    );
    let mut run = Run {
        out: args.out.clone(),
        architecture,
        head,
        labels: classes,
        preprocess,
        record,
        best: resume.as_ref().and_then(|s| s.metrics.as_ref()).map(score),
        bar: None,
        batches: train.batches_per_epoch() as u64,
        total_epochs: config.total_epochs(),
        skipped_seen: Default::default(),
    };
    let fitted = fit(network, &train, valid.as_ref(), &config, &mut run)?;
    if let Some(bar) = run.bar.take() {
        bar.finish_and_clear();
    }
    let last = run.out.join("last.safetensors");
    if fitted.interrupted {
        eprintln!("interrupted: saved {}", last.display());
        return Ok(ExitCode::from(130));
    }
    if let Some(n) = args.stop_after.filter(|&n| n < config.total_epochs()) {
        eprintln!(
            "stopped after epoch {n} of {}; continue with --resume {}",
            config.total_epochs(),
            last.display()
        );
    }
    println!("best: {}", run.out.join("best.safetensors").display());
    println!("last: {}", last.display());
    if !run.skipped_seen.is_empty() {
        eprintln!(
            "error: {} unreadable image(s) were skipped (listed in {})",
            run.skipped_seen.len(),
            run.out.join("skipped.txt").display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The sidecar of the checkpoint to resume, which must be one of `architecture`.
fn resume_sidecar(path: &Path, architecture: Architecture) -> anyhow::Result<Sidecar> {
    let Some(sidecar) = Sidecar::for_weights(path)? else {
        bail!(
            "--resume {}: no {} beside it; resume takes a checkpoint written by whycam train",
            path.display(),
            whycam_train::sidecar_path(path).display()
        );
    };
    if sidecar.architecture != architecture.name() {
        bail!(
            "--resume {}: the checkpoint is a {}, not a {architecture}",
            path.display(),
            sidecar.architecture
        );
    }
    Ok(sidecar)
}

/// Size, resizing and normalisation: a pretrained model's own; from scratch (`sample`), the
/// images' own size (capped at 224) and the data's channel statistics.
fn preprocessing(
    args: &TrainArgs,
    architecture: Architecture,
    sample: Option<&ImageSample>,
) -> anyhow::Result<PreprocessConfig> {
    let (size, normalization) = match sample {
        Some(sample) => (sample.side.clamp(16, 224), sample.normalization),
        None => (
            architecture.native_size() as u32,
            architecture.normalization(),
        ),
    };
    let config = PreprocessConfig {
        size: args.data.size.unwrap_or(size),
        mode: args.data.preprocess.unwrap_or(Preprocess::Stretch),
        normalization,
        ..PreprocessConfig::default()
    };
    config.validate()?;
    Ok(config)
}

/// What a network trained from scratch learns from up to 500 training images spread evenly
/// over the data, each decoded once: their largest side, the mean and standard deviation of
/// each channel (0..1 units), and whether the first 50 are grey (R = G = B), in which case
/// whycam-small reads one channel.
struct ImageSample {
    side: u32,
    normalization: Normalization,
    grey: bool,
}

impl ImageSample {
    fn of(data: &dyn Dataset) -> anyhow::Result<Self> {
        let step = (data.len() / 500).max(1);
        let images = (0..data.len())
            .step_by(step)
            .take(500)
            .filter_map(|i| data.image(i).ok());
        let (mut side, mut grey, mut seen) = (0u32, true, 0usize);
        let (mut sum, mut sq, mut n) = ([0f64; 3], [0f64; 3], 0f64);
        for image in images {
            side = side.max(image.width().max(image.height()));
            if seen < 50 {
                grey &= image.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]);
            }
            seen += 1;
            for p in image.pixels() {
                for c in 0..3 {
                    let v = p.0[c] as f64 / 255.0;
                    sum[c] += v;
                    sq[c] += v * v;
                }
                n += 1.0;
            }
        }
        anyhow::ensure!(
            seen > 0,
            "no readable image in the first samples of the training data"
        );
        let mean = sum.map(|s| s / n);
        let std = [0, 1, 2].map(|c| (sq[c] / n - mean[c] * mean[c]).max(1e-6).sqrt());
        Ok(Self {
            side,
            normalization: Normalization {
                mean: mean.map(|m| m as f32),
                std: std.map(|s| s as f32),
            },
            grey,
        })
    }
}

/// The first Ctrl-C asks training to stop after the current batch and save; a second one
/// ends the process at once.
fn install_ctrl_c(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after this batch (Ctrl-C again to quit at once)");
    })
    .context("installing the Ctrl-C handler")
}

/// The number a checkpoint is ranked by: validation accuracy, else training accuracy.
fn score(stats: &EpochStats) -> f64 {
    stats.valid_accuracy.unwrap_or(stats.train_accuracy)
}

/// Writes what each epoch did and keeps the checkpoints.
struct Run {
    out: PathBuf,
    architecture: Architecture,
    head: HeadSpec,
    labels: Vec<String>,
    preprocess: PreprocessConfig,
    record: TrainingRecord,
    best: Option<f64>,
    bar: Option<ProgressBar>,
    batches: u64,
    total_epochs: usize,
    /// Images skipped (each listed once in skipped.txt).
    skipped_seen: std::collections::HashSet<usize>,
}

impl Run {
    fn sidecar(&self, stats: &EpochStats) -> Sidecar {
        Sidecar {
            architecture: self.architecture.name(),
            outputs: self.head.classes,
            bias: self.head.bias,
            labels: self.labels.clone(),
            preprocess: self.preprocess,
            epoch: stats.epoch,
            metrics: Some(stats.clone()),
            training: self.record.clone(),
            whycam: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    fn append(&self, name: &str, line: &str) -> whycam_train::Result<()> {
        let path = self.out.join(name);
        let io = |source| whycam_train::TrainError::Io {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        writeln!(file, "{line}").map_err(io)
    }
}

impl Observer for Run {
    fn skipped(&mut self, sample: &whycam_data::Skipped) {
        if self.skipped_seen.insert(sample.index) {
            let line = sample.error.replace('\n', " ");
            if let Err(e) = self.append("skipped.txt", &line) {
                tracing::warn!("{e}");
            }
        }
    }

    fn batch(&mut self, epoch: usize, done: usize, loss: f64) {
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(self.batches);
            bar.set_style(
                ProgressStyle::with_template(
                    "epoch {prefix} [{bar:30}] {pos}/{len} batches, loss {msg} ({eta} left)",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar
        });
        bar.set_prefix(format!("{}/{}", epoch + 1, self.total_epochs));
        bar.set_position(done as u64);
        bar.set_message(format!("{loss:.4}"));
    }

    fn epoch(
        &mut self,
        stats: &EpochStats,
        model: &Network,
        optim: &burn::optim::ModuleOptimizer,
    ) -> whycam_train::Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let line = serde_json::to_string(stats).expect("stats serialise");
        self.append("metrics.jsonl", &line)?;
        let valid = match (stats.valid_loss, stats.valid_accuracy) {
            (Some(l), Some(a)) => format!("  valid loss {l:.4} accuracy {:.2}%", a * 100.0),
            _ => String::new(),
        };
        eprintln!(
            "epoch {}/{}: train loss {:.4} accuracy {:.2}%{valid}  {:.0} s{}{}",
            stats.epoch,
            self.total_epochs,
            stats.train_loss,
            stats.train_accuracy * 100.0,
            stats.seconds,
            if stats.frozen { "  (head only)" } else { "" },
            if stats.skipped > 0 {
                format!("  {} unreadable image(s) skipped", stats.skipped)
            } else {
                String::new()
            }
        );
        let sidecar = self.sidecar(stats);
        whycam_train::save(model, optim, &self.out.join("last.safetensors"), &sidecar)?;
        let s = score(stats);
        if !stats.interrupted && self.best.is_none_or(|b| s > b) {
            self.best = Some(s);
            whycam_train::save(model, optim, &self.out.join("best.safetensors"), &sidecar)?;
        }
        Ok(())
    }
}
