//! Scoring a model on labelled data: accuracy, loss, per-class accuracy and the confusion
//! matrix.

use crate::data::{Data, eval_loader};
use crate::error::{PipelineError, Result};
use crate::open::OpenedModel;
use serde::Serialize;
use std::sync::Arc;
use whycam_data::datasets::{Dataset, Subset};

/// One class's share of right answers.
#[derive(Debug, Clone, Serialize)]
pub struct ClassAccuracy {
    pub label: String,
    pub images: usize,
    pub correct: usize,
    /// `None` when the data has no image of the class.
    pub accuracy: Option<f64>,
}

/// What `whycam test` reports.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub model: String,
    pub weights: String,
    pub data: String,
    pub images: usize,
    pub accuracy: f64,
    pub loss: f64,
    pub per_class: Vec<ClassAccuracy>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub labels: Vec<String>,
    /// Samples that could not be read.
    pub skipped: Vec<whycam_data::Skipped>,
}

/// Scores `opened` on `data` (named `name` in the report), `batch_size` images at a time.
/// The data's classes are put in the model's order first ([`match_labels`]).
pub fn test(opened: &OpenedModel, data: Data, name: &str, batch_size: usize) -> Result<TestReport> {
    let data = match_labels(data, &opened.labels)?;
    let loader = eval_loader(data, opened.preprocess, batch_size)?;
    let e = whycam_train::evaluate(opened.model.net.as_ref(), &loader, opened.model.device())
        .map_err(|source| PipelineError::Testing {
            data: name.to_string(),
            source: Box::new(source),
        })?;
    let labels = opened.labels.clone();
    let confusion = e.confusion(labels.len());
    let per_class = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let images: usize = confusion[i].iter().sum();
            ClassAccuracy {
                label: label.clone(),
                images,
                correct: confusion[i][i],
                accuracy: (images > 0).then(|| confusion[i][i] as f64 / images as f64),
            }
        })
        .collect();
    Ok(TestReport {
        model: opened.model.name.clone(),
        weights: whycam_data::shown_path(&opened.model.weights).into_owned(),
        data: name.to_string(),
        images: e.labels.len(),
        accuracy: e.accuracy,
        loss: e.loss,
        per_class,
        confusion,
        labels,
        skipped: e.skipped,
    })
}

/// Puts the dataset's labels in the model's order. The class names must match (ignoring case,
/// `_`, `-` and spaces); a model without names (`class 0`, ...) takes the data's order when
/// the counts agree.
pub fn match_labels(data: Data, labels: &[String]) -> Result<Data> {
    let unnamed = labels
        .iter()
        .enumerate()
        .all(|(i, l)| *l == format!("class {i}"));
    if unnamed && data.classes().len() == labels.len() {
        return Ok(data);
    }
    let mismatch = |unknown: usize| PipelineError::ClassMismatch {
        model: labels.to_vec(),
        data: data.classes().to_vec(),
        unknown,
    };
    match Subset::of_classes(data.clone(), labels) {
        Ok(subset) if subset.len() > 0 => {
            let unknown = data.len() - subset.len();
            if unknown > 0 {
                return Err(mismatch(unknown));
            }
            Ok(Arc::new(subset))
        }
        _ => Err(mismatch(0)),
    }
}
