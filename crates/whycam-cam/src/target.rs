//! What to explain: the target score whose map is computed.
//!
//! A target is a linear combination of logits (`Σ_j coef_j · logit_j`): one class, a group of
//! classes whose logits are summed (`cat`, `dog`, or groups from a file), or, for a one-logit
//! binary model, `+logit` for class 1 and `-logit` for class 0 — so a negative logit explains
//! class 0 with the negated map, as the seed notebooks do.

use crate::error::{CamError, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use whycam_data::find_label;

/// A target as asked for on the command line, before it meets an image.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetSpec {
    /// The predicted class (and with `top_k`, the `k` best).
    Auto,
    /// One class index.
    Class(usize),
    /// Classes whose logits are summed.
    Group {
        /// The group's name.
        name: String,
        /// Its class indices.
        classes: Vec<usize>,
    },
}

/// Named groups of classes.
#[derive(Debug, Clone, Default)]
pub struct ClassGroups {
    groups: BTreeMap<String, Vec<usize>>,
}

impl ClassGroups {
    /// The built-in groups for a model with `classes` outputs: for ImageNet-1k, `cat`
    /// (281–285: tabby to Egyptian cat) and `dog` (151–268: Chihuahua to Mexican hairless).
    pub fn builtin(classes: usize) -> Self {
        let mut groups = BTreeMap::new();
        if classes == 1000 {
            groups.insert("cat".to_string(), (281..=285).collect());
            groups.insert("dog".to_string(), (151..=268).collect());
        }
        Self { groups }
    }

    /// Adds the groups of a JSON file `{"name": [class index or label, ...], ...}`; a group
    /// of the file replaces a built-in one of the same name.
    pub fn extend_from_file(&mut self, path: &Path, labels: &[String]) -> Result<()> {
        let error = |reason: String| CamError::Groups {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let parsed: BTreeMap<String, Vec<serde_json::Value>> = serde_json::from_str(&text)
            .map_err(|e| {
                error(format!(
                    "expected a JSON object of arrays of class indices or labels: {e}"
                ))
            })?;
        for (name, members) in parsed {
            if members.is_empty() {
                return Err(error(format!("group \"{name}\" is empty")));
            }
            let mut classes = Vec::new();
            for member in members {
                let class = match &member {
                    serde_json::Value::Number(n) => {
                        n.as_u64().map(|n| n as usize).filter(|&n| n < labels.len())
                    }
                    serde_json::Value::String(s) => find_label(labels, s),
                    _ => None,
                };
                let class = class.ok_or_else(|| {
                    error(format!(
                        "group \"{name}\": {member} is not a class of this model ({} classes)",
                        labels.len()
                    ))
                })?;
                classes.push(class);
            }
            self.groups.insert(name, classes);
        }
        Ok(())
    }

    /// The classes of group `name`.
    pub fn get(&self, name: &str) -> Option<&[usize]> {
        self.groups.get(name).map(Vec::as_slice)
    }

    /// The group names.
    pub fn names(&self) -> Vec<&str> {
        self.groups.keys().map(String::as_str).collect()
    }
}

impl TargetSpec {
    /// Parses `auto`, a class index, a label (as [`find_label`] matches it: case-insensitive,
    /// `_` and `-` match spaces) or a group name. `labels` has one name per class (two for a
    /// one-logit binary model).
    pub fn parse(text: &str, labels: &[String], groups: &ClassGroups) -> Result<Self> {
        let classes = labels.len();
        let error = |reason: String| CamError::Target {
            target: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("auto") {
            return Ok(TargetSpec::Auto);
        }
        if let Ok(index) = trimmed.parse::<usize>() {
            if index >= classes {
                return Err(error(format!(
                    "class index {index} is out of range: the model has {classes} classes (0..={})",
                    classes.saturating_sub(1)
                )));
            }
            return Ok(TargetSpec::Class(index));
        }
        if let Some(index) = find_label(labels, trimmed) {
            return Ok(TargetSpec::Class(index));
        }
        if let Some(classes) = groups.get(trimmed) {
            return Ok(TargetSpec::Group {
                name: trimmed.to_string(),
                classes: classes.to_vec(),
            });
        }
        let group_names = groups.names();
        Err(error(format!(
            "not \"auto\", a class index (0..={}), one of the model's labels{}",
            classes.saturating_sub(1),
            if group_names.is_empty() {
                " or a group from --groups".to_string()
            } else {
                format!(" or a group ({})", group_names.join(", "))
            }
        )))
    }

    /// The targets to explain for an image with `logits`: this one, or with [`TargetSpec::Auto`]
    /// the `top_k` best classes. `logits.len() == 1` is a one-logit binary model.
    pub fn resolve(&self, logits: &[f32], top_k: usize, labels: &[String]) -> Vec<Target> {
        let coefficient = |class: usize| class_coefficient(logits, class);
        let class_target = |class: usize| Target {
            class: Some(class),
            name: labels
                .get(class)
                .cloned()
                .unwrap_or_else(|| format!("class {class}")),
            coefficients: vec![coefficient(class)],
        };
        match self {
            TargetSpec::Class(c) => vec![class_target(*c)],
            TargetSpec::Group { name, classes } => vec![Target {
                class: None,
                name: name.clone(),
                coefficients: classes.iter().map(|&c| coefficient(c)).collect(),
            }],
            TargetSpec::Auto => ranked_classes(logits)
                .into_iter()
                .take(top_k.max(1))
                .map(class_target)
                .collect(),
        }
    }
}

/// Whether `logits` come from a one-logit head. The one-logit binary rule lives here and in
/// the functions below, nowhere else: such a head is a binary classifier whose class 1 scores
/// the logit `l` and class 0 its negation `-l`; class 1's probability is `sigmoid(l)`, and at
/// `l = 0` the tie goes to class 0. Every other head has one logit per class and softmax
/// probabilities.
fn is_one_logit(logits: &[f32]) -> bool {
    logits.len() == 1
}

/// `(logit index, coefficient)` of class `class`'s score: `(class, 1)`, or on a one-logit head
/// `(0, 1)` for class 1 and `(0, -1)` for class 0.
fn class_coefficient(logits: &[f32], class: usize) -> (usize, f32) {
    if is_one_logit(logits) {
        (0, if class == 1 { 1.0 } else { -1.0 })
    } else {
        (class, 1.0)
    }
}

/// Each class's score, indexed by class: the logits, or `[-l, l]` for a one-logit head.
pub fn class_logits(logits: &[f32]) -> Vec<f32> {
    if is_one_logit(logits) {
        vec![-logits[0], logits[0]]
    } else {
        logits.to_vec()
    }
}

/// Each class's probability, indexed by class: softmax over the logits, or for a one-logit
/// head `[1 - sigmoid(l), sigmoid(l)]`.
pub fn class_probabilities(logits: &[f32]) -> Vec<f32> {
    if is_one_logit(logits) {
        let p = 1.0 / (1.0 + (-logits[0]).exp());
        return vec![1.0 - p, p];
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// Class indices from the most to the least likely, ties to the lower index: the order in
/// which both the prediction (`whycam_pipeline::rank`) and the automatic target are chosen, so
/// a one-logit head at exactly 0 predicts and explains class 0.
pub fn ranked_classes(logits: &[f32]) -> Vec<usize> {
    if is_one_logit(logits) {
        return if logits[0] > 0.0 {
            vec![1, 0]
        } else {
            vec![0, 1]
        };
    }
    // `+ 0.0` makes -0 and +0 one value, a tie like any other.
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| {
        (logits[b] + 0.0)
            .total_cmp(&(logits[a] + 0.0))
            .then(a.cmp(&b))
    });
    order
}

/// A resolved target: the score `Σ coef_j · logit_j` whose map is computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// The class, unless this is a group.
    pub class: Option<usize>,
    /// The class label or group name.
    pub name: String,
    /// `(logit index, coefficient)` pairs.
    pub coefficients: Vec<(usize, f32)>,
}

impl Target {
    /// The target score for `logits`.
    pub fn score(&self, logits: &[f32]) -> f32 {
        self.coefficients.iter().map(|&(j, c)| c * logits[j]).sum()
    }

    /// The tag added to file names when several targets are explained: the class index or
    /// the group name.
    pub fn tag(&self) -> String {
        match self.class {
            Some(c) => c.to_string(),
            None => self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("class {i}")).collect()
    }

    #[test]
    fn parses_indices_labels_and_groups() {
        let names: Vec<String> = ["tabby", "tiger cat", "Egyptian cat"]
            .map(String::from)
            .to_vec();
        let groups = ClassGroups::builtin(3);
        assert_eq!(
            TargetSpec::parse("auto", &names, &groups).unwrap(),
            TargetSpec::Auto
        );
        assert_eq!(
            TargetSpec::parse("2", &names, &groups).unwrap(),
            TargetSpec::Class(2)
        );
        assert_eq!(
            TargetSpec::parse("Tiger_Cat", &names, &groups).unwrap(),
            TargetSpec::Class(1)
        );
        let e = TargetSpec::parse("3", &names, &groups)
            .unwrap_err()
            .to_string();
        assert!(e.contains("out of range") && e.contains("3 classes"), "{e}");
        assert!(TargetSpec::parse("dog", &names, &groups).is_err());
        let imagenet = ClassGroups::builtin(1000);
        let spec = TargetSpec::parse("cat", &labels(1000), &imagenet).unwrap();
        let TargetSpec::Group { classes, .. } = &spec else {
            panic!()
        };
        assert_eq!(classes, &[281, 282, 283, 284, 285]);
        assert_eq!(imagenet.get("dog").unwrap().len(), 118);
        let logits: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let t = &spec.resolve(&logits, 1, &labels(1000))[0];
        assert!((t.score(&logits) - (281 + 282 + 283 + 284 + 285) as f32 / 1000.0).abs() < 1e-4);
    }

    #[test]
    fn a_one_logit_tie_ranks_class_0_first() {
        assert_eq!(ranked_classes(&[0.0]), vec![0, 1]);
        assert_eq!(ranked_classes(&[1e-6]), vec![1, 0]);
        assert_eq!(ranked_classes(&[2.0, 2.0, 1.0]), vec![0, 1, 2]);
    }

    #[test]
    fn a_one_logit_head_at_zero_predicts_and_explains_class_0() {
        for l in [0.0f32, -0.0] {
            assert_eq!(class_probabilities(&[l]), vec![0.5, 0.5]);
            assert_eq!(ranked_classes(&[l])[0], 0);
            let target = &TargetSpec::Auto.resolve(&[l], 1, &labels(2))[0];
            assert_eq!(target.class, Some(0));
            assert_eq!(target.coefficients, vec![(0, -1.0)]);
        }
        // A logit too small to move sigmoid off 0.5 in f32 still predicts class 1.
        assert_eq!(class_probabilities(&[1e-9]), vec![0.5, 0.5]);
        assert_eq!(ranked_classes(&[1e-9]), vec![1, 0]);
        assert_eq!(class_logits(&[-2.0]), vec![2.0, -2.0]);
        assert_eq!(ranked_classes(&[0.0, -0.0]), vec![0, 1]);
        assert_eq!(ranked_classes(&[-0.0, 0.0]), vec![0, 1]);
    }

    #[test]
    fn auto_ranks_and_binary_negates() {
        let names = labels(3);
        let top = TargetSpec::Auto.resolve(&[0.1, 2.0, 1.0], 2, &names);
        assert_eq!(
            top.iter().map(|t| t.class).collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );
        let binary = labels(2);
        let neg = &TargetSpec::Auto.resolve(&[-3.0], 1, &binary)[0];
        assert_eq!((neg.class, neg.score(&[-3.0])), (Some(0), 3.0));
        let pos = &TargetSpec::Class(1).resolve(&[-3.0], 1, &binary)[0];
        assert_eq!(pos.score(&[-3.0]), -3.0);
        let group = TargetSpec::Group {
            name: "both".into(),
            classes: vec![0, 1],
        };
        assert_eq!(group.resolve(&[-3.0], 1, &binary)[0].score(&[-3.0]), 0.0);
    }

    #[test]
    fn group_files_take_indices_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.json");
        std::fs::write(&path, r#"{"pets": [0, "class 2"], "cat": [1]}"#).unwrap();
        let mut groups = ClassGroups::builtin(3);
        groups.extend_from_file(&path, &labels(3)).unwrap();
        assert_eq!(groups.get("pets").unwrap(), &[0, 2]);
        std::fs::write(&path, r#"{"bad": [7]}"#).unwrap();
        let e = groups
            .extend_from_file(&path, &labels(3))
            .unwrap_err()
            .to_string();
        assert!(e.contains("groups.json") && e.contains("7"), "{e}");
    }
}
