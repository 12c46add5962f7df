//! From logits to ranked classes with probabilities. The one-logit binary rule (class 1 for a
//! positive logit, sigmoid for its probability) is whycam-cam's, shared with the targets, so
//! the class reported as predicted is the class explained.

use serde::Serialize;
pub use whycam_cam::class_probabilities;
use whycam_cam::{class_logits, ranked_classes};

/// One class of an image's ranking.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub index: usize,
    pub label: String,
    pub probability: f32,
    pub logit: f32,
}

/// The best `k` classes (at least one) with their probabilities (softmax, or sigmoid for a
/// one-logit head, whose classes are 0 for a negative logit and 1 for a positive one).
pub fn rank(logits: &[f32], labels: &[String], k: usize) -> Vec<Prediction> {
    let scores = class_logits(logits);
    let probabilities = class_probabilities(logits);
    ranked_classes(logits)
        .into_iter()
        .take(k.max(1))
        .map(|index| Prediction {
            index,
            label: label_of(labels, index),
            probability: probabilities[index],
            logit: scores[index],
        })
        .collect()
}

/// The label of class `index`, or `class N` past the end of `labels`.
pub fn label_of(labels: &[String], index: usize) -> String {
    labels
        .get(index)
        .cloned()
        .unwrap_or_else(|| format!("class {index}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_ranking_is_sorted_and_sums_to_one() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let top = rank(&[1.0, 3.0, 2.0], &labels, 3);
        assert_eq!(top.iter().map(|p| p.index).collect::<Vec<_>>(), [1, 2, 0]);
        let sum: f32 = top.iter().map(|p| p.probability).sum();
        assert!((sum - 1.0).abs() < 1e-6);
        assert!((top[0].probability - 0.665_240_9).abs() < 1e-6);
        let all = class_probabilities(&[1.0, 3.0, 2.0]);
        assert_eq!(all[1], top[0].probability);
        assert_eq!(all[0], top[2].probability);
    }

    #[test]
    fn one_logit_heads_rank_both_classes() {
        let labels: Vec<String> = vec!["cat".into(), "dog".into()];
        let top = rank(&[-2.0], &labels, 5);
        assert_eq!(top[0].label, "cat");
        assert!((top[0].probability - 0.880_797).abs() < 1e-5);
        assert_eq!(top[0].logit, 2.0);
        assert_eq!(top[1].label, "dog");
        let all = class_probabilities(&[-2.0]);
        assert_eq!(all.len(), 2);
        assert!((all[0] - 0.880_797).abs() < 1e-5);
    }

    #[test]
    fn a_one_logit_head_at_zero_predicts_the_class_it_explains() {
        let labels: Vec<String> = vec!["cat".into(), "dog".into()];
        for l in [0.0f32, 1e-9, -1e-9, 2.0, -2.0] {
            let predicted = rank(&[l], &labels, 1)[0].index;
            let explained = whycam_cam::TargetSpec::Auto.resolve(&[l], 1, &labels)[0].class;
            assert_eq!(Some(predicted), explained, "logit {l}");
        }
        assert_eq!(rank(&[0.0], &labels, 1)[0].label, "cat");
    }
}
