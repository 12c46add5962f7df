//! `explanations.json`: what an explain run did, written by [`JsonSummary`] and read back by
//! the report.

use super::sink::{ExplainSink, FileRole, WrittenFile};
use crate::error::{InputError, InputErrorKind, PipelineError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub model: String,
    pub weights: String,
    pub layers: Vec<String>,
    pub methods: Vec<String>,
    pub target: String,
    pub aug_smooth: bool,
    pub eigen_smooth: bool,
    pub images: Vec<ImageSummary>,
    /// Contact sheets (`--grid`), per method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grids: Vec<String>,
    pub errors: Vec<ImageError>,
}

impl RunSummary {
    /// The summary as `explanations.json` holds it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary serialises")
    }

    /// Reads `dir/explanations.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(JsonSummary::FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| PipelineError::NoSummary {
            path: path.clone(),
            dir: dir.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| PipelineError::NotASummary { path, source })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageSummary {
    pub image: String,
    /// A copy of a downloaded input (`<stem>.original.jpg`), so the report can show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    pub prediction: ClassProbability,
    pub top: Vec<ClassProbability>,
    /// The true label, from `--truth` or the input's folder name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<Truth>,
    pub explanations: Vec<ExplanationSummary>,
    /// Titled figures (`--figure`), one per method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub figures: Vec<String>,
}

/// An input's true class.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    pub index: usize,
    pub label: String,
    /// Whether the prediction is this class.
    pub correct: bool,
}

/// A class and the model's probability of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassProbability {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

/// One map of one image: its target, method, layers and files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExplanationSummary {
    pub target: TargetSummary,
    pub method: String,
    pub layers: Vec<String>,
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetSummary {
    /// The class index, absent for a group.
    pub index: Option<usize>,
    pub label: String,
    /// The target score (logit, or sum of logits for a group).
    pub score: f32,
    /// The model's probability of the target (summed over a group's classes).
    pub probability: f32,
}

/// An input that failed, as the summary records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageError {
    pub image: String,
    /// What kind of failure (absent in summaries written before kinds were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<InputErrorKind>,
    pub error: String,
    /// The message for the user (the error, naming the input once).
    #[serde(skip)]
    message: Option<String>,
}

impl ImageError {
    /// The message for the user: the error, prefixed with the input unless it names it.
    pub fn message(&self) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| format!("{}: {}", self.image, self.error))
    }
}

impl From<&InputError> for ImageError {
    fn from(e: &InputError) -> Self {
        ImageError {
            image: e.input.clone(),
            kind: Some(e.kind),
            error: e.cause.clone(),
            message: Some(e.message()),
        }
    }
}

/// Writes `explanations.json` into a directory at the end of the run.
pub struct JsonSummary {
    path: PathBuf,
}

impl JsonSummary {
    /// The file's name in the output directory.
    pub const FILE: &'static str = "explanations.json";

    /// A sink writing `dir/explanations.json`.
    pub fn new(dir: &Path) -> Self {
        JsonSummary {
            path: dir.join(Self::FILE),
        }
    }
}

impl ExplainSink for JsonSummary {
    fn finish(&mut self, summary: &RunSummary) -> Result<Vec<WrittenFile>> {
        crate::write::atomically(&self.path, format!("{}\n", summary.to_json()).as_bytes())?;
        Ok(vec![WrittenFile::new(&self.path, FileRole::Summary)])
    }
}
