//! The run folder of a training run: `metrics.jsonl` (one line per epoch), `last.safetensors`
//! every epoch, `best.safetensors` whenever the score improves, each with its JSON sidecar,
//! and `skipped.txt` listing unreadable images once. Also what a run decides before it
//! starts: the checkpoint to resume, and the preprocessing of a network trained from scratch.

use crate::data::{TrainValid, eval_loader, train_loader};
use crate::error::{PipelineError, Result};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use whycam_data::datasets::Dataset;
use whycam_data::{Augment, Normalization, Preprocess, PreprocessConfig};
use whycam_models::{Architecture, HeadSpec, Network, WhycamSmallConfig};
use whycam_train::{
    EpochStats, FitConfig, Observer, OptimizerKind, Schedule, Sidecar, TrainingRecord, fit,
};

/// Sees a training run's progress (a progress bar, a log); every method defaults to nothing.
pub trait TrainSink {
    /// The run is about to start.
    fn start(&mut self, _plan: &TrainPlan) {}
    /// A resumed run found no optimiser state beside its checkpoint (`path`): the optimiser
    /// starts afresh.
    fn fresh_optimizer(&mut self, _path: &Path) {}
    /// `done` batches of epoch `epoch` (from 0), the running loss.
    fn batch(&mut self, _epoch: usize, _done: usize, _loss: f64) {}
    /// An epoch ended; its checkpoint is written.
    fn epoch(&mut self, _stats: &EpochStats) {}
}

/// What to train and how: fine-tune a zoo model with a new head, or train whycam-small (or a
/// zoo model) from scratch.
#[derive(Debug, Clone)]
pub struct TrainJob {
    pub architecture: Architecture,
    /// Starting weights of a zoo model (default: its pretrained ones).
    pub weights: Option<PathBuf>,
    /// Start a zoo model from random weights.
    pub from_scratch: bool,
    /// A checkpoint of `whycam train` to continue.
    pub resume: Option<PathBuf>,
    /// One logit for two classes instead of one per class.
    pub binary_head: bool,
    /// A bias in the head.
    pub bias: bool,
    /// Channels of whycam-small's blocks.
    pub widths: Vec<usize>,
    pub data: TrainValid,
    /// Input size (default: the model's native size, or the images' own from scratch).
    pub size: Option<u32>,
    /// How images are brought to the input size (default: stretch).
    pub preprocess: Option<Preprocess>,
    /// Epochs with every layer trained, after `freeze_epochs` head-only ones.
    pub epochs: usize,
    pub freeze_epochs: Option<usize>,
    /// Peak learning rate (default: 1e-2 from scratch, 2e-3 fine-tuning).
    pub lr: Option<f64>,
    pub weight_decay: f64,
    pub optimizer: OptimizerKind,
    pub schedule: Schedule,
    pub batch_size: usize,
    /// Random crops and flips, with this smallest area of a crop; `None`: no augmentation.
    pub crop_scale: Option<f64>,
    pub seed: u64,
    /// Stop after this many epochs of the run.
    pub stop_after: Option<usize>,
    /// The run folder.
    pub out: PathBuf,
    /// Where training runs (with autodiff on top).
    pub device: burn::prelude::Device,
}

/// What a run is about to do, for its front end to say.
#[derive(Debug, Clone)]
pub struct TrainPlan {
    pub architecture: Architecture,
    pub binary_head: bool,
    pub classes: usize,
    pub train_images: usize,
    pub valid_images: Option<usize>,
    pub total_epochs: usize,
    pub freeze_epochs: usize,
    pub batches_per_epoch: usize,
    pub out: PathBuf,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Stopped by `stop` before the end; the last checkpoint is saved.
    pub interrupted: bool,
    pub last: PathBuf,
    pub best: PathBuf,
    /// Epochs of the schedule, and whether the run stopped early by request.
    pub total_epochs: usize,
    pub stopped_after: Option<usize>,
    /// Distinct unreadable images skipped, listed in `skipped_file`.
    pub skipped: usize,
    pub skipped_file: PathBuf,
}

/// Trains as `job` says, writing the run folder; `stop` (set by Ctrl-C, say) ends the run
/// after the current batch with its checkpoint saved.
pub fn train(
    job: &TrainJob,
    stop: Arc<AtomicBool>,
    sink: &mut dyn TrainSink,
) -> Result<TrainOutcome> {
    let architecture = job.architecture;
    let resume = match &job.resume {
        Some(path) => Some(resume_sidecar(path, architecture)?),
        None => None,
    };
    let scratch = architecture == Architecture::WhycamSmall || job.from_scratch;
    let (train_set, valid_set) = job.data.open(job.seed)?;
    let classes = train_set.classes().to_vec();
    if classes.len() < 2 {
        return Err(PipelineError::OneClass { classes });
    }
    if job.binary_head && classes.len() != 2 {
        return Err(PipelineError::BinaryHeadClasses { classes });
    }
    if let Some(sidecar) = &resume
        && sidecar.labels != classes
    {
        return Err(PipelineError::CheckpointClasses {
            checkpoint: sidecar.labels.clone(),
            data: classes,
        });
    }
    let head = HeadSpec {
        classes: if job.binary_head { 1 } else { classes.len() },
        bias: job.bias,
    };
    let sample = match (&resume, scratch) {
        (None, true) => Some(ImageSample::of(train_set.as_ref())?),
        _ => None,
    };
    let preprocess = match &resume {
        Some(sidecar) => sidecar.preprocess,
        None => preprocessing(job, sample.as_ref())?,
    };
    let device = job.device.clone().autodiff();
    device.seed(job.seed);
    let small = WhycamSmallConfig {
        widths: job.widths.clone(),
        in_channels: if sample.as_ref().is_some_and(|s| s.grey) {
            1
        } else {
            3
        },
    };
    if small.widths.is_empty() || !small.widths.iter().all(|&w| (1..=4096).contains(&w)) {
        return Err(PipelineError::OutOfRange {
            option: "widths",
            expected: "1 to 4096 channels per block",
            value: format!("{:?}", small.widths),
        });
    }
    let network = match &job.resume {
        Some(weights) => architecture.load_network(weights, Some(head), &device, &[])?,
        None if scratch => architecture.network(head, &small, &device)?,
        None => {
            let weights = match &job.weights {
                Some(w) => w.clone(),
                None => crate::open::pretrained_weights(architecture)?,
            };
            if crate::open::is_onnx(&weights) {
                return Err(PipelineError::FineTuneOnnx { path: weights });
            }
            let (w, b) = architecture.classifier_keys();
            architecture.load_network(&weights, Some(head), &device, &[w, b])?
        }
    };
    let lr = job.lr.unwrap_or(if scratch { 1e-2 } else { 2e-3 });
    let freeze_epochs = job.freeze_epochs.unwrap_or(if scratch { 0 } else { 1 });
    let record = TrainingRecord {
        data: whycam_data::shown_path(&job.data.data).into_owned(),
        epochs: job.epochs,
        freeze_epochs,
        batch_size: job.batch_size,
        lr,
        weight_decay: job.weight_decay,
        optimizer: job.optimizer,
        schedule: job.schedule,
        seed: job.seed,
    };
    let optimizer_state = match &job.resume {
        Some(weights) => {
            let state = whycam_train::optimizer_path(weights);
            if state.is_file() {
                Some(state)
            } else {
                sink.fresh_optimizer(&state);
                None
            }
        }
        None => None,
    };
    let config = FitConfig {
        epochs: job.epochs,
        freeze_epochs,
        lr,
        weight_decay: job.weight_decay,
        optimizer: record.optimizer,
        schedule: record.schedule,
        start_epoch: resume.as_ref().map_or(0, |s| s.epoch),
        stop: Some(stop),
        optimizer_state,
        stop_after: job.stop_after,
    };
    if config.start_epoch >= config.total_epochs() {
        return Err(PipelineError::CheckpointDone {
            done: config.start_epoch,
            total: config.total_epochs(),
        });
    }
    let augment = job.crop_scale.map(|scale| Augment {
        scale: (scale.clamp(0.01, 1.0), 1.0),
        ratio: (3.0 / 4.0, 4.0 / 3.0),
        flip: true,
    });
    let train = train_loader(
        train_set.clone(),
        preprocess,
        job.batch_size,
        augment,
        job.seed,
    )?;
    let valid = match &valid_set {
        Some(set) => Some(eval_loader(set.clone(), preprocess, 256)?),
        None => None,
    };
    let plan = TrainPlan {
        architecture,
        binary_head: job.binary_head,
        classes: classes.len(),
        train_images: train_set.len(),
        valid_images: valid_set.as_ref().map(|v| v.len()),
        total_epochs: config.total_epochs(),
        freeze_epochs,
        batches_per_epoch: train.batches_per_epoch(),
        out: job.out.clone(),
    };
    let meta = RunMeta {
        architecture,
        head,
        labels: classes,
        preprocess,
        record,
    };
    let best = resume.as_ref().and_then(|s| s.metrics.as_ref()).map(score);
    let mut run = RunFolder::create(&job.out, meta, best, sink)?;
    run.sink.start(&plan);
    let fitted = fit(network, &train, valid.as_ref(), &config, &mut run)?;
    Ok(TrainOutcome {
        interrupted: fitted.interrupted,
        last: run.last(),
        best: run.best(),
        total_epochs: config.total_epochs(),
        stopped_after: job.stop_after.filter(|&n| n < config.total_epochs()),
        skipped: run.skipped(),
        skipped_file: run.skipped_file(),
    })
}

/// Size, resizing and normalisation: a pretrained model's own; from scratch (`sample`), the
/// images' own size (capped at 224) and the data's channel statistics.
fn preprocessing(job: &TrainJob, sample: Option<&ImageSample>) -> Result<PreprocessConfig> {
    let (size, normalization) = match sample {
        Some(sample) => (sample.input_size(), sample.normalization),
        None => (
            job.architecture.native_size() as u32,
            job.architecture.normalization(),
        ),
    };
    let config = PreprocessConfig {
        size: job.size.unwrap_or(size),
        mode: job.preprocess.unwrap_or(Preprocess::Stretch),
        normalization,
        ..PreprocessConfig::default()
    };
    config.validate()?;
    Ok(config)
}

/// What a checkpoint records of the run besides its weights.
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub architecture: Architecture,
    pub head: HeadSpec,
    /// Class names in the head's order.
    pub labels: Vec<String>,
    pub preprocess: PreprocessConfig,
    pub record: TrainingRecord,
}

/// The run folder, written as training goes: an [`Observer`] of [`whycam_train::fit`].
pub struct RunFolder<'s> {
    out: PathBuf,
    meta: RunMeta,
    best: Option<f64>,
    /// Images skipped (each listed once in skipped.txt).
    skipped: HashSet<usize>,
    sink: &'s mut dyn TrainSink,
}

impl<'s> RunFolder<'s> {
    /// Creates `out`; `best` is the score to beat (a resumed checkpoint's).
    pub fn create(
        out: &Path,
        meta: RunMeta,
        best: Option<f64>,
        sink: &'s mut dyn TrainSink,
    ) -> Result<Self> {
        std::fs::create_dir_all(out).map_err(PipelineError::io("creating the run folder", out))?;
        Ok(RunFolder {
            out: out.to_path_buf(),
            meta,
            best,
            skipped: HashSet::new(),
            sink,
        })
    }

    /// The checkpoint written every epoch.
    pub fn last(&self) -> PathBuf {
        self.out.join("last.safetensors")
    }

    /// The checkpoint of the best epoch.
    pub fn best(&self) -> PathBuf {
        self.out.join("best.safetensors")
    }

    /// The list of unreadable images.
    pub fn skipped_file(&self) -> PathBuf {
        self.out.join("skipped.txt")
    }

    /// How many distinct images were skipped as unreadable.
    pub fn skipped(&self) -> usize {
        self.skipped.len()
    }

    fn sidecar(&self, stats: &EpochStats) -> Sidecar {
        let meta = &self.meta;
        Sidecar {
            architecture: meta.architecture.name(),
            outputs: meta.head.classes,
            bias: meta.head.bias,
            labels: meta.labels.clone(),
            preprocess: meta.preprocess,
            epoch: stats.epoch,
            metrics: Some(stats.clone()),
            training: meta.record.clone(),
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

/// The number a checkpoint is ranked by: validation accuracy, else training accuracy.
pub fn score(stats: &EpochStats) -> f64 {
    stats.valid_accuracy.unwrap_or(stats.train_accuracy)
}

impl Observer for RunFolder<'_> {
    fn skipped(&mut self, sample: &whycam_data::Skipped) {
        if self.skipped.insert(sample.index) {
            let line = sample.error.replace('\n', " ");
            if let Err(e) = self.append("skipped.txt", &line) {
                tracing::warn!("{e}");
            }
        }
    }

    fn batch(&mut self, epoch: usize, done: usize, loss: f64) {
        self.sink.batch(epoch, done, loss);
    }

    fn epoch(
        &mut self,
        stats: &EpochStats,
        model: &Network,
        optim: &burn::optim::ModuleOptimizer,
    ) -> whycam_train::Result<()> {
        let line = serde_json::to_string(stats).expect("stats serialise");
        self.append("metrics.jsonl", &line)?;
        let sidecar = self.sidecar(stats);
        whycam_train::save(model, optim, &self.last(), &sidecar)?;
        let s = score(stats);
        if !stats.interrupted && self.best.is_none_or(|b| s > b) {
            self.best = Some(s);
            whycam_train::save(model, optim, &self.best(), &sidecar)?;
        }
        self.sink.epoch(stats);
        Ok(())
    }
}

/// The sidecar of the checkpoint to resume, which must be one of `architecture`.
pub fn resume_sidecar(path: &Path, architecture: Architecture) -> Result<Sidecar> {
    let Some(sidecar) = Sidecar::for_weights(path)? else {
        return Err(PipelineError::NotACheckpoint {
            path: path.to_path_buf(),
            sidecar: whycam_train::sidecar_path(path),
        });
    };
    if sidecar.architecture != architecture.name() {
        return Err(PipelineError::CheckpointArchitecture {
            path: path.to_path_buf(),
            holds: sidecar.architecture,
            wanted: architecture.name(),
        });
    }
    Ok(sidecar)
}

/// What a network trained from scratch learns from up to 500 training images spread evenly
/// over the data, each decoded once: their largest side, the mean and standard deviation of
/// each channel (0..1 units), and whether the first 50 are grey (R = G = B), in which case
/// whycam-small reads one channel.
#[derive(Debug, Clone, Copy)]
pub struct ImageSample {
    pub side: u32,
    pub normalization: Normalization,
    pub grey: bool,
}

impl ImageSample {
    /// Samples `data`.
    pub fn of(data: &dyn Dataset) -> Result<Self> {
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
        if seen == 0 {
            return Err(PipelineError::NoReadableSample);
        }
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

    /// The input size a network trained from scratch on these images takes: their own,
    /// between 16 and 224 px.
    pub fn input_size(&self) -> u32 {
        self.side.clamp(16, 224)
    }
}
