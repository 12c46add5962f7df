//! `explanations.json`: what `explain` did, read back by `report`.

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageSummary {
    pub image: String,
    /// A copy of a downloaded input (`<stem>.original.jpg`), so the report can show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    pub prediction: ClassScore,
    pub top: Vec<ClassScore>,
    /// The true label, from `--truth` or the input's folder name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<Truth>,
    pub explanations: Vec<ExplanationSummary>,
    /// Titled figures (`--figure`), one per method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub figures: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    pub index: usize,
    pub label: String,
    /// Whether the prediction is this class.
    pub correct: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassScore {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageError {
    pub image: String,
    pub error: String,
}
