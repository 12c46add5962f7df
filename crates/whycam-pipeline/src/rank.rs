//! From logits to ranked classes with probabilities: the one place that knows a one-logit
//! head is binary (class 1 for a positive logit, sigmoid for its probability).

use serde::Serialize;

/// One class of an image's ranking.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub index: usize,
    pub label: String,
    pub probability: f32,
    pub logit: f32,
}

/// Softmax over the logits (sigmoid for a one-logit head, whose classes are 0 for a negative
/// logit and 1 for a positive one), best `k` first.
pub fn rank(logits: &[f32], labels: &[String], k: usize) -> Vec<Prediction> {
    let mut scored: Vec<(usize, f32, f32)> = if logits.len() == 1 {
        let l = logits[0];
        let p = 1.0 / (1.0 + (-l).exp());
        vec![(1, p, l), (0, 1.0 - p, -l)]
    } else {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        logits
            .iter()
            .zip(&exp)
            .enumerate()
            .map(|(i, (&l, &e))| (i, e / sum, l))
            .collect()
    };
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
        .into_iter()
        .take(k.max(1))
        .map(|(index, probability, logit)| Prediction {
            index,
            label: label_of(labels, index),
            probability,
            logit,
        })
        .collect()
}

/// Every class's probability, indexed by class (two for a one-logit head).
pub fn class_probabilities(logits: &[f32]) -> Vec<f32> {
    let ranked = rank(logits, &[], logits.len().max(2));
    let mut probabilities = vec![0.0; ranked.iter().map(|p| p.index + 1).max().unwrap_or(0)];
    for p in ranked {
        probabilities[p.index] = p.probability;
    }
    probabilities
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
}
