//! Classification: the best classes of each input, in batches, with failures per input.

use crate::batch::{Feeding, batch_tensor, same_size_runs};
use crate::error::{InputError, InputErrorKind, Result};
use crate::explain::summary::ImageError;
use crate::open::OpenedModel;
use crate::rank::{Prediction, rank};
use burn::prelude::*;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use whycam_data::{FetchLimits, Source};

/// The ranking of one input.
#[derive(Debug, Clone, Serialize)]
pub struct Classified {
    pub image: String,
    pub top: Vec<Prediction>,
    /// What the decoder let through (a truncated JPEG allowed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A whole run: what `whycam predict --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct PredictReport {
    pub model: String,
    pub weights: String,
    pub results: Vec<Classified>,
    pub errors: Vec<ImageError>,
    /// Stopped before every input was done.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

/// Sees each result as it comes (a progress bar, a stream); every method defaults to nothing.
pub trait PredictSink {
    /// One input was classified.
    fn image(&mut self, _result: &Classified) {}
    /// One input failed.
    fn error(&mut self, _error: &InputError) {}
}

/// A sink that ignores everything.
impl PredictSink for () {}

/// How a predict run goes.
#[derive(Debug, Clone)]
pub struct PredictConfig {
    /// Classes listed per input.
    pub top_k: usize,
    /// Inputs decoded and classified together.
    pub batch_size: usize,
    /// Limits on downloading URL inputs.
    pub fetch: FetchLimits,
    /// Set (by Ctrl-C, say) to stop after the current batch.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for PredictConfig {
    fn default() -> Self {
        PredictConfig {
            top_k: 5,
            batch_size: 8,
            fetch: FetchLimits::default(),
            stop: None,
        }
    }
}

/// Classifies `sources` in batches; `failed` are inputs already known to fail.
pub fn predict(
    opened: &OpenedModel,
    sources: &[Source],
    failed: Vec<InputError>,
    config: &PredictConfig,
    sink: &mut dyn PredictSink,
) -> Result<PredictReport> {
    let mut errors = Vec::new();
    let mut fail = |e: InputError, sink: &mut dyn PredictSink| {
        sink.error(&e);
        errors.push(ImageError::from(&e));
    };
    for e in failed {
        fail(e, sink);
    }
    let feeding = Feeding {
        preprocess: &opened.preprocess,
        limits: &opened.limits,
        fetch: &config.fetch,
    };
    let mut results = Vec::new();
    let mut interrupted = false;
    for chunk in sources.chunks(config.batch_size.max(1)) {
        if config
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
        {
            interrupted = true;
            break;
        }
        let mut batch = Vec::new();
        for decoded in feeding.decode_all(chunk) {
            match decoded {
                Ok(d) => batch.push(d),
                Err(e) => fail(e, sink),
            }
        }
        for run in same_size_runs(&batch, |d| &d.prepared) {
            let x = batch_tensor(run.iter().map(|d| &d.prepared), opened.model.device());
            match logit_rows(opened, x) {
                Ok(rows) => {
                    for (item, row) in run.iter().zip(rows) {
                        if row.iter().any(|v| !v.is_finite()) {
                            let input = item.source.to_string();
                            let e = InputError::other(
                                input,
                                InputErrorKind::Model,
                                crate::explain::NON_FINITE,
                            );
                            fail(e, sink);
                            continue;
                        }
                        let result = Classified {
                            image: item.source.to_string(),
                            top: rank(&row, &opened.labels, config.top_k),
                            warnings: item.warnings.clone(),
                        };
                        sink.image(&result);
                        results.push(result);
                    }
                }
                Err(e) => {
                    for item in run {
                        let input = item.source.to_string();
                        fail(InputError::other(input, InputErrorKind::Model, &e), sink);
                    }
                }
            }
        }
    }
    Ok(PredictReport {
        model: opened.model.name.clone(),
        weights: whycam_data::shown_path(&opened.model.weights).into_owned(),
        results,
        errors,
        interrupted,
    })
}

/// One row of logits per image of the batch.
pub(crate) fn logit_rows(
    opened: &OpenedModel,
    x: Tensor<4>,
) -> whycam_models::Result<Vec<Vec<f32>>> {
    let logits = opened.model.net.forward(x)?;
    let [_, classes] = logits.dims();
    let values = logits
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("the network computes in f32");
    Ok(values.chunks(classes).map(<[f32]>::to_vec).collect())
}
