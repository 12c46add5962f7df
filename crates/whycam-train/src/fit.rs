//! The training loop: cross-entropy (or binary cross-entropy for a one-logit head), Adam /
//! AdamW / SGD with momentum, a learning rate that follows a one-cycle or cosine schedule
//! step by step, fastai's `fine_tune` freezing, and per-epoch train and validation loss and
//! accuracy.

use crate::error::{Result, TrainError};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use whycam_data::{Batch, Loader};
use whycam_models::{Classifier, Network};

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum OptimizerKind {
    /// Adam (weight decay added to the gradient, as PyTorch's `Adam`).
    Adam,
    /// AdamW (decoupled weight decay).
    #[cfg_attr(feature = "clap", value(name = "adamw"))]
    AdamW,
    /// SGD with momentum 0.9.
    Sgd,
}

/// How the learning rate moves over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Schedule {
    /// fastai's `fit_one_cycle`: cosine warm-up over the first 25% from lr/25 to lr, then
    /// cosine annealing to lr/1e5.
    OneCycle,
    /// Cosine annealing from lr to 0.
    Cosine,
    /// The same all along.
    Constant,
}

impl Schedule {
    /// The learning rate at `progress` in `[0, 1]` of training, for peak `lr`.
    pub fn at(self, lr: f64, progress: f64) -> f64 {
        let cosine = |from: f64, to: f64, t: f64| {
            to + (from - to) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        };
        match self {
            Schedule::Constant => lr,
            Schedule::Cosine => cosine(lr, 0.0, progress),
            Schedule::OneCycle => {
                const WARM: f64 = 0.25;
                if progress < WARM {
                    cosine(lr / 25.0, lr, progress / WARM)
                } else {
                    cosine(lr, lr / 1e5, (progress - WARM) / (1.0 - WARM))
                }
            }
        }
    }
}

/// Training settings.
#[derive(Debug, Clone)]
pub struct FitConfig {
    /// Epochs with every layer trained (after the frozen ones).
    pub epochs: usize,
    /// Epochs first spent on the head alone, the body frozen in inference mode (fastai's
    /// `fine_tune(freeze_epochs=...)`). The unfrozen epochs then run at half the learning rate,
    /// as `fine_tune` does.
    pub freeze_epochs: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Weight decay (0 for none).
    pub weight_decay: f64,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// The learning-rate schedule (per phase: frozen, then unfrozen).
    pub schedule: Schedule,
    /// Epochs already done (when resuming): training continues with the next one, at the
    /// learning rate it would have had.
    pub start_epoch: usize,
    /// Set from elsewhere (Ctrl-C) to stop after the current batch.
    pub stop: Option<Arc<AtomicBool>>,
    /// Optimiser state saved with the checkpoint being resumed (moments, step counts).
    pub optimizer_state: Option<std::path::PathBuf>,
    /// End after this many epochs (counted from the start of the run) even if the schedule
    /// goes on: a long run split over several sittings, resumed later.
    pub stop_after: Option<usize>,
}

impl FitConfig {
    /// All epochs, frozen and unfrozen.
    pub fn total_epochs(&self) -> usize {
        self.freeze_epochs + self.epochs
    }

    /// Whether epoch `epoch` (0-based) trains the head only, and the peak learning rate and
    /// the epoch's place in its phase (`index`, `epochs`).
    fn phase(&self, epoch: usize) -> (bool, f64, usize, usize) {
        if epoch < self.freeze_epochs {
            (true, self.lr, epoch, self.freeze_epochs)
        } else if self.freeze_epochs > 0 {
            (
                false,
                self.lr / 2.0,
                epoch - self.freeze_epochs,
                self.epochs,
            )
        } else {
            (false, self.lr, epoch, self.epochs)
        }
    }
}

/// What one epoch did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy (on the augmented batches, as they were trained on).
    pub train_accuracy: f64,
    /// Mean validation loss, when there is validation data.
    pub valid_loss: Option<f64>,
    /// Validation accuracy.
    pub valid_accuracy: Option<f64>,
    /// Images trained on.
    pub images: usize,
    /// Samples skipped because they could not be read.
    pub skipped: usize,
    /// Wall-clock seconds of the epoch (training and validation).
    pub seconds: f64,
    /// Of which training (batches, forward, backward, optimiser steps).
    pub train_seconds: f64,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Whether only the head was trained.
    pub frozen: bool,
    /// Stopped early (Ctrl-C): the numbers cover the batches done.
    pub interrupted: bool,
}

fn optimizer(config: &FitConfig) -> ModuleOptimizer {
    let decay =
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
    match config.optimizer {
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(decay).init(),
        OptimizerKind::AdamW => AdamWConfig::new()
            .with_weight_decay(config.weight_decay as f32)
            .init(),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_weight_decay(decay)
            .with_momentum(Some(
                MomentumConfig::new().with_momentum(0.9).with_dampening(0.0),
            ))
            .init(),
    }
}

/// The loss of a head: cross-entropy over k logits, or binary cross-entropy with logits
/// over one (label 1 is the positive class).
enum Objective {
    CrossEntropy(burn::nn::loss::CrossEntropyLoss),
    Binary(burn::nn::loss::BinaryCrossEntropyLoss),
}

impl Objective {
    fn for_head(classes: usize, device: &Device) -> Self {
        if classes == 1 {
            Objective::Binary(
                BinaryCrossEntropyLossConfig::new()
                    .with_logits(true)
                    .init(device),
            )
        } else {
            Objective::CrossEntropy(CrossEntropyLossConfig::new().init(device))
        }
    }

    /// The classes the labels may take.
    fn label_range(&self, head: usize) -> usize {
        match self {
            Objective::CrossEntropy(_) => head,
            Objective::Binary(_) => 2,
        }
    }

    fn loss(&self, logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
        match self {
            Objective::CrossEntropy(l) => l.forward(logits, labels),
            Objective::Binary(l) => {
                let n = labels.dims()[0];
                l.forward(logits.reshape([n]), labels)
            }
        }
    }

    /// The predicted class of each row: the rule of whycam-cam's `ranked_classes` (the highest
    /// logit, ties to the lower index; a one-logit head predicts class 1 only for a logit above
    /// 0, so exactly 0 is class 0), on the device in the tensor ops of the loss, so that a
    /// training step reads back one integer per image. whycam-train does not depend on
    /// whycam-cam; `predictions_follow_the_ranked_classes_rule` pins the ties.
    fn predict(&self, logits: Tensor<2>) -> Tensor<1, Int> {
        match self {
            Objective::CrossEntropy(_) => logits.argmax(1).flatten::<1>(0, 1),
            Objective::Binary(_) => logits.greater_elem(0.0).int().flatten::<1>(0, 1),
        }
    }
}

/// The batch as tensors on `device` (its images moved, not copied), checking labels against
/// the head.
fn tensors(
    batch: Batch,
    classes: usize,
    device: &Device,
) -> Result<(Tensor<4>, Tensor<1, Int>, Vec<usize>)> {
    if let Some(&label) = batch.labels.iter().find(|&&l| l >= classes) {
        return Err(TrainError::Labels { label, classes });
    }
    let n = batch.len();
    // The loader's images are square (`size × size`).
    let side = ((batch.images.len() / (3 * n)) as f64).sqrt().round() as usize;
    let images = whycam_models::zoo::try_input_batch(batch.images, [n, side, side], device)?;
    let labels: Vec<i64> = batch.labels.iter().map(|&l| l as i64).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    Ok((images, labels, batch.labels))
}

fn to_vec(t: Tensor<1, Int>) -> Vec<usize> {
    t.into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("integer predictions")
        .into_iter()
        .map(|v| v as usize)
        .collect()
}

/// What a model does on a dataset.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f64,
    /// Fraction right.
    pub accuracy: f64,
    /// Samples that could not be read, with why.
    pub skipped: Vec<whycam_data::Skipped>,
    /// The true label of each sample evaluated.
    pub labels: Vec<usize>,
    /// The predicted label of each.
    pub predictions: Vec<usize>,
}

impl Evaluation {
    /// `matrix[true][predicted]` counts over `classes` classes.
    pub fn confusion(&self, classes: usize) -> Vec<Vec<usize>> {
        let mut m = vec![vec![0; classes]; classes];
        for (&t, &p) in self.labels.iter().zip(&self.predictions) {
            if t < classes && p < classes {
                m[t][p] += 1;
            }
        }
        m
    }
}

/// Loss, accuracy and every prediction of `model` over `loader`'s epoch 0 (no autodiff,
/// BatchNorm in evaluation mode). A one-logit head predicts class 1 for a positive logit.
pub fn evaluate(
    model: &dyn whycam_models::Explainable,
    loader: &Loader,
    device: &Device,
) -> Result<Evaluation> {
    let device = device.clone();
    let objective = Objective::for_head(model.num_classes(), &device);
    let range = objective.label_range(model.num_classes());
    let mut loss_sum = 0.0;
    let mut out = Evaluation {
        loss: 0.0,
        accuracy: 0.0,
        skipped: Vec::new(),
        labels: Vec::new(),
        predictions: Vec::new(),
    };
    for mut batch in loader.epoch(0) {
        out.skipped.append(&mut batch.skipped);
        if batch.is_empty() {
            continue;
        }
        let n = batch.len();
        let (x, y, labels) = tensors(batch, range, &device)?;
        let logits = model.forward(x)?;
        let loss = objective.loss(logits.clone(), y).into_scalar::<f32>() as f64;
        loss_sum += loss * n as f64;
        out.predictions.extend(to_vec(objective.predict(logits)));
        out.labels.extend(labels);
    }
    let seen = out.labels.len();
    if seen == 0 {
        return Err(TrainError::NoEvaluationSample);
    }
    let right = out
        .labels
        .iter()
        .zip(&out.predictions)
        .filter(|(a, b)| a == b)
        .count();
    out.loss = loss_sum / seen as f64;
    out.accuracy = right as f64 / seen as f64;
    Ok(out)
}

/// How [`fit`] ended.
pub struct Fitted {
    /// The trained model (on the autodiff device).
    pub model: Network,
    /// Stopped by [`FitConfig::stop`] before the last epoch's end.
    pub interrupted: bool,
}

/// What a caller sees of training as it goes.
pub trait Observer {
    /// After each batch: the 0-based epoch, batches done in it, and the batch's mean loss.
    fn batch(&mut self, _epoch: usize, _done: usize, _loss: f64) {}
    /// A sample that could not be read and was left out.
    fn skipped(&mut self, _sample: &whycam_data::Skipped) {}
    /// After each epoch (and after an interrupted one), with the model and the optimiser
    /// as they are then; an error (a checkpoint that cannot be written) ends training.
    fn epoch(&mut self, stats: &EpochStats, model: &Network, optim: &ModuleOptimizer)
    -> Result<()>;
}

impl<F: FnMut(&EpochStats, &Network) -> Result<()>> Observer for F {
    fn epoch(&mut self, stats: &EpochStats, model: &Network, _: &ModuleOptimizer) -> Result<()> {
        self(stats, model)
    }
}

/// Numbers a network's parameters 1, 2, 3, ... in module order. burn keys optimiser state by
/// parameter id, and fresh ids are random: with these, the state saved with a checkpoint fits
/// the same architecture rebuilt to resume it.
pub fn stable_ids(network: Network) -> Network {
    struct Renumber(u64);
    impl ModuleMapper for Renumber {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (_, value, mapper) = param.consume();
            self.0 += 1;
            Param::from_mapped_value(ParamId::from(self.0), value, mapper)
        }
    }
    network.map(&mut Renumber(0))
}

/// Trains `model` (made on an autodiff device) for the epochs of `config` after
/// `config.start_epoch`, evaluating on `valid` after each and reporting to `observer`.
pub fn fit(
    model: Network,
    train: &Loader,
    valid: Option<&Loader>,
    config: &FitConfig,
    observer: &mut dyn Observer,
) -> Result<Fitted> {
    if config.total_epochs() == 0 || !(config.lr > 0.0 && config.lr.is_finite()) {
        return Err(TrainError::Schedule {
            epochs: config.total_epochs(),
            lr: config.lr,
        });
    }
    // Training runs where the caller made the model.
    let device = model
        .devices()
        .into_iter()
        .next()
        .unwrap_or_else(|| Device::default().autodiff());
    let classes = model.num_classes();
    let objective = Objective::for_head(classes, &device);
    let range = objective.label_range(classes);
    if train.dataset().classes().len() > range {
        return Err(TrainError::HeadTooSmall {
            classes: train.dataset().classes().len(),
            outputs: classes,
        });
    }
    let mut model = stable_ids(model);
    let mut optim = optimizer(config);
    if let Some(path) = &config.optimizer_state {
        optim = optim.load(path).map_err(|e| TrainError::Checkpoint {
            path: path.clone(),
            message: format!("cannot read the optimiser state: {e}"),
        })?;
    }
    let per_epoch = train.batches_per_epoch().max(1);
    let last = model.layer_list().len() - 1;
    let mut lr = config.lr;
    for epoch in config.start_epoch..config.total_epochs() {
        let start = Instant::now();
        let (frozen, peak, index, phase_epochs) = config.phase(epoch);
        let steps = (per_epoch * phase_epochs).max(1);
        let mut step = per_epoch * index;
        // The frozen body runs without autodiff, in inference mode.
        let body = frozen.then(|| model.valid());
        let (mut loss_sum, mut right, mut seen, mut skipped) = (0.0, 0usize, 0usize, 0usize);
        let mut interrupted = false;
        for batch in train.epoch(epoch as u64) {
            skipped += batch.skipped.len();
            for sample in &batch.skipped {
                observer.skipped(sample);
            }
            if batch.is_empty() {
                continue;
            }
            let n = batch.len();
            let (x, y, labels) = tensors(batch, range, &device)?;
            let logits = match &body {
                Some(body) => {
                    let features = body.features_at(x.without_autodiff(), last);
                    model.head(features.autodiff())
                }
                None => model.forward(x),
            };
            let loss = objective.loss(logits.clone(), y);
            let batch_loss = f64::from(loss.clone().into_scalar::<f32>());
            loss_sum += batch_loss * n as f64;
            right += to_vec(objective.predict(logits.detach()))
                .iter()
                .zip(&labels)
                .filter(|(p, t)| p == t)
                .count();
            seen += n;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            lr = config.schedule.at(peak, step as f64 / steps as f64);
            model = optim.step(lr, model, grads);
            step += 1;
            observer.batch(epoch, step - per_epoch * index, batch_loss);
            if config
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
            {
                interrupted = true;
                break;
            }
        }
        if seen == 0 {
            return Err(TrainError::NoTrainingSample);
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let (valid_loss, valid_accuracy) = match valid.filter(|_| !interrupted) {
            Some(loader) => {
                let e = evaluate(&model.valid(), loader, &device.clone().inner())?;
                (Some(e.loss), Some(e.accuracy))
            }
            None => (None, None),
        };
        let stats = EpochStats {
            epoch: epoch + 1,
            train_loss: loss_sum / seen as f64,
            train_accuracy: right as f64 / seen as f64,
            valid_loss,
            valid_accuracy,
            images: seen,
            skipped,
            seconds: start.elapsed().as_secs_f64(),
            train_seconds,
            lr,
            frozen,
            interrupted,
        };
        observer.epoch(&stats, &model, &optim)?;
        if interrupted {
            return Ok(Fitted {
                model,
                interrupted: true,
            });
        }
        if config.stop_after.is_some_and(|n| epoch + 1 >= n) {
            break;
        }
    }
    Ok(Fitted {
        model,
        interrupted: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same predictions as whycam-cam's `ranked_classes(..)[0]` (whose tests pin the same
    /// cases): the highest logit, ties to the lower index; one logit: class 1 above 0, class 0
    /// at 0 and below.
    #[test]
    fn predictions_follow_the_ranked_classes_rule() {
        let device = Device::default();
        let predict = |classes: usize, logits: Vec<f32>| {
            let n = logits.len() / classes;
            let logits = Tensor::<2>::from_data(TensorData::new(logits, [n, classes]), &device);
            to_vec(Objective::for_head(classes, &device).predict(logits))
        };
        assert_eq!(
            predict(3, vec![0.5, 2.0, -1.0, 1.0, 3.0, 3.0, 0.0, 0.0, 0.0]),
            [1, 1, 0]
        );
        assert_eq!(predict(1, vec![0.25, 0.0, -0.0, -0.25]), [1, 0, 0, 0]);
    }

    #[test]
    fn one_cycle_warms_up_then_anneals() {
        let s = Schedule::OneCycle;
        assert!((s.at(1.0, 0.0) - 0.04).abs() < 1e-12);
        assert!((s.at(1.0, 0.25) - 1.0).abs() < 1e-12);
        assert!(s.at(1.0, 1.0) < 1e-4);
        assert!(s.at(1.0, 0.1) < s.at(1.0, 0.2) && s.at(1.0, 0.5) > s.at(1.0, 0.9));
        assert_eq!(Schedule::Cosine.at(2.0, 0.0), 2.0);
        assert!(Schedule::Cosine.at(2.0, 1.0).abs() < 1e-12);
        assert_eq!(Schedule::Constant.at(0.3, 0.7), 0.3);
    }

    #[test]
    fn fine_tune_trains_the_head_first_then_everything_at_half_the_rate() {
        let config = FitConfig {
            epochs: 3,
            freeze_epochs: 2,
            lr: 0.01,
            weight_decay: 0.0,
            optimizer: OptimizerKind::AdamW,
            schedule: Schedule::OneCycle,
            start_epoch: 0,
            stop: None,
            optimizer_state: None,
            stop_after: None,
        };
        assert_eq!(config.total_epochs(), 5);
        assert_eq!(config.phase(1), (true, 0.01, 1, 2));
        assert_eq!(config.phase(2), (false, 0.005, 0, 3));
        assert_eq!(config.phase(4), (false, 0.005, 2, 3));
        let scratch = FitConfig {
            freeze_epochs: 0,
            ..config
        };
        assert_eq!(scratch.phase(2), (false, 0.01, 2, 3));
    }
}
