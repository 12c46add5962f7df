//! The training loop: cross-entropy, Adam / AdamW / SGD with momentum, a learning rate that
//! follows a one-cycle or cosine schedule step by step, and per-epoch train and validation
//! loss and accuracy.

use crate::error::{Result, TrainError};
use crate::small::WhycamSmall;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use serde::Serialize;
use std::time::Instant;
use whycam_data::{Batch, Loader};

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// Adam (weight decay added to the gradient, as PyTorch's `Adam`).
    Adam,
    /// AdamW (decoupled weight decay).
    AdamW,
    /// SGD with momentum 0.9.
    Sgd,
}

/// How the learning rate moves over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// The same all along.
    Constant,
    /// fastai's `fit_one_cycle`: cosine warm-up over the first 25% from lr/25 to lr, then
    /// cosine annealing to lr/1e5.
    OneCycle,
    /// Cosine annealing from lr to 0.
    Cosine,
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
    /// Passes over the training data.
    pub epochs: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Weight decay (0 for none).
    pub weight_decay: f64,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// The learning-rate schedule.
    pub schedule: Schedule,
}

/// What one epoch did.
#[derive(Debug, Clone, Serialize)]
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
    /// Learning rate at the end of the epoch.
    pub lr: f64,
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

/// The batch as tensors on `device` (its images moved, not copied), checking labels against
/// the head.
fn tensors(batch: Batch, classes: usize, device: &Device) -> Result<(Tensor<4>, Tensor<1, Int>)> {
    if let Some(&label) = batch.labels.iter().find(|&&l| l >= classes) {
        return Err(TrainError::Labels { label, classes });
    }
    let n = batch.len();
    let side = ((batch.images.len() / (3 * n)) as f64).sqrt() as usize;
    let images = Tensor::<4>::from_data(TensorData::new(batch.images, [n, 3, side, side]), device);
    let labels: Vec<i64> = batch.labels.iter().map(|&l| l as i64).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    Ok((images, labels))
}

/// Correct predictions of `logits` against `labels`.
fn correct(logits: &Tensor<2>, labels: &Tensor<1, Int>) -> usize {
    let predicted = logits.clone().argmax(1).flatten::<1>(0, 1);
    predicted
        .equal(labels.clone())
        .int()
        .sum()
        .into_scalar::<i64>() as usize
}

/// Mean loss and accuracy of `model` over `loader`'s epoch 0 (no autodiff, BatchNorm in
/// evaluation mode).
pub fn evaluate(model: &WhycamSmall, loader: &Loader) -> Result<(f64, f64, usize)> {
    let device = Device::default();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let (mut loss_sum, mut right, mut seen, mut skipped) = (0.0, 0usize, 0usize, 0usize);
    for batch in loader.epoch(0) {
        skipped += batch.skipped.len();
        if batch.is_empty() {
            continue;
        }
        let n = batch.len();
        let (x, y) = tensors(batch, model.classes(), &device)?;
        let logits = model.forward(x);
        let loss = loss_fn
            .forward(logits.clone(), y.clone())
            .into_scalar::<f32>() as f64;
        loss_sum += loss * n as f64;
        right += correct(&logits, &y);
        seen += n;
    }
    if seen == 0 {
        return Err(TrainError::Parameter(
            "no readable sample to evaluate on".into(),
        ));
    }
    Ok((loss_sum / seen as f64, right as f64 / seen as f64, skipped))
}

/// Trains `model` (made on an autodiff device) for `config.epochs` epochs of `train`,
/// evaluating on `valid` after each; `on_epoch` sees each epoch's numbers. Returns the
/// trained model.
pub fn fit(
    mut model: WhycamSmall,
    train: &Loader,
    valid: Option<&Loader>,
    config: &FitConfig,
    mut on_epoch: impl FnMut(&EpochStats, &WhycamSmall),
) -> Result<WhycamSmall> {
    if config.epochs == 0 || !(config.lr > 0.0 && config.lr.is_finite()) {
        return Err(TrainError::Parameter(format!(
            "need at least one epoch and a positive learning rate, got {} and {}",
            config.epochs, config.lr
        )));
    }
    let device = Device::default().autodiff();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut optim = optimizer(config);
    let steps = (train.batches_per_epoch() * config.epochs).max(1);
    let mut step = 0usize;
    let mut lr = config.schedule.at(config.lr, 0.0);
    for epoch in 0..config.epochs {
        let start = Instant::now();
        let (mut loss_sum, mut right, mut seen, mut skipped) = (0.0, 0usize, 0usize, 0usize);
        for batch in train.epoch(epoch as u64) {
            skipped += batch.skipped.len();
            if batch.is_empty() {
                continue;
            }
            let n = batch.len();
            let (x, y) = tensors(batch, model.classes(), &device)?;
            let logits = model.forward(x);
            let loss = loss_fn.forward(logits.clone(), y.clone());
            loss_sum += f64::from(loss.clone().into_scalar::<f32>()) * n as f64;
            right += correct(&logits, &y);
            seen += n;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            lr = config.schedule.at(config.lr, step as f64 / steps as f64);
            model = optim.step(lr, model, grads);
            step += 1;
        }
        if seen == 0 {
            return Err(TrainError::Parameter(
                "no readable sample to train on".into(),
            ));
        }
        let (valid_loss, valid_accuracy) = match valid {
            Some(loader) => {
                let (loss, accuracy, _) = evaluate(&model.valid(), loader)?;
                (Some(loss), Some(accuracy))
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
            lr,
        };
        on_epoch(&stats, &model);
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
