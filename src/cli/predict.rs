//! `whycam predict`: top-k classes for each image.

use super::model_args::{LoadedModel, ModelArgs};
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use whycam_data::{Prepared, collect_inputs, prepare_file};

/// Classify images.
#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// How many classes to list per image.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Images decoded and classified together.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub batch_size: u32,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Add the sample photos (fetched into the cache on first use) to the inputs.
    #[arg(long)]
    pub samples: bool,
    /// Image files or directories (searched recursively, in sorted order).
    pub inputs: Vec<PathBuf>,
}

/// One class of an image's ranking.
#[derive(Debug, Serialize)]
pub struct Prediction {
    pub index: usize,
    pub label: String,
    pub probability: f32,
    pub logit: f32,
}

#[derive(Debug, Serialize)]
struct ImageResult {
    image: String,
    top: Vec<Prediction>,
}

#[derive(Debug, Serialize)]
struct ImageError {
    image: String,
    error: String,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    weights: String,
    results: Vec<ImageResult>,
    errors: Vec<ImageError>,
}

pub fn run(args: PredictArgs) -> anyhow::Result<ExitCode> {
    let mut inputs = args.inputs.clone();
    if args.samples {
        inputs.extend(whycam_assets::ensure_sample_photos().context("fetching the sample photos")?);
    }
    anyhow::ensure!(
        !inputs.is_empty(),
        "no inputs: name image files or directories, or pass --samples"
    );
    let loaded = args.model.load()?;
    let (files, missing) = collect_inputs(&inputs);
    let mut errors: Vec<ImageError> = missing
        .into_iter()
        .map(|(path, e)| ImageError {
            image: path.display().to_string(),
            error: e.to_string(),
        })
        .collect();

    let progress = ProgressBar::new(files.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images {elapsed} (eta {eta})")
            .expect("valid template"),
    );
    let mut results = Vec::new();
    for chunk in files.chunks(args.batch_size as usize) {
        let prepared: Vec<(PathBuf, whycam_data::Result<Prepared>)> = chunk
            .par_iter()
            .map(|path| {
                (
                    path.clone(),
                    prepare_file(path, &loaded.limits, &loaded.preprocess),
                )
            })
            .collect();
        let mut ok = Vec::new();
        for (path, p) in prepared {
            match p {
                Ok(p) => ok.push((path, p)),
                Err(e) => errors.push(ImageError {
                    image: path.display().to_string(),
                    error: e.to_string(),
                }),
            }
        }
        if !ok.is_empty() {
            let logits = classify(&loaded, &ok)?;
            for ((path, _), row) in ok.iter().zip(logits) {
                results.push(ImageResult {
                    image: path.display().to_string(),
                    top: rank(&row, &loaded.labels, args.top_k),
                });
            }
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();

    let report = Report {
        model: loaded.model.name.clone(),
        weights: loaded.model.weights.display().to_string(),
        results,
        errors,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &report)?;
    }
    Ok(super::exit_for_failures(
        report
            .errors
            .iter()
            .map(|e| (e.image.as_str(), e.error.as_str())),
    ))
}

/// Runs one batch through the network; one row of logits per image.
fn classify(loaded: &LoadedModel, batch: &[(PathBuf, Prepared)]) -> anyhow::Result<Vec<Vec<f32>>> {
    let classes = loaded.model.net.num_classes();
    let mut rows = Vec::with_capacity(batch.len());
    // Inputs of one shape run together (all of them, unless --preprocess shorter).
    for run in batch.chunk_by(|(_, a), (_, b)| (a.width, a.height) == (b.width, b.height)) {
        let (w, h) = (run[0].1.width as usize, run[0].1.height as usize);
        let data: Vec<f32> = run
            .iter()
            .flat_map(|(_, p)| p.data.iter().copied())
            .collect();
        let logits = loaded.model.logits_hw(data, run.len(), h, w)?;
        rows.extend(logits.chunks(classes).map(<[f32]>::to_vec));
    }
    Ok(rows)
}

/// Softmax over the logits (sigmoid for a one-logit head, whose classes are 0 for a negative
/// logit and 1 for a positive one), best `k` first.
pub fn rank(logits: &[f32], labels: &[String], k: usize) -> Vec<Prediction> {
    let scored: Vec<(usize, f32, f32)> = if logits.len() == 1 {
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
    let mut scored = scored;
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
        .into_iter()
        .take(k.max(1))
        .map(|(index, probability, logit)| Prediction {
            index,
            label: labels
                .get(index)
                .cloned()
                .unwrap_or_else(|| format!("class {index}")),
            probability,
            logit,
        })
        .collect()
}

fn print_table(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    writeln!(out, "model {} ({})", report.model, report.weights)?;
    for r in &report.results {
        writeln!(out, "\n{}", r.image)?;
        for (rank, p) in r.top.iter().enumerate() {
            writeln!(
                out,
                "  {:>2}. {:<32} {:>8.4}%  (class {:>4}, logit {:>8.3})",
                rank + 1,
                p.label,
                100.0 * p.probability,
                p.index,
                p.logit
            )?;
        }
    }
    if !report.errors.is_empty() {
        writeln!(
            out,
            "\n{} of {} inputs failed",
            report.errors.len(),
            report.errors.len() + report.results.len()
        )?;
    }
    Ok(())
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
    }

    #[test]
    fn one_logit_heads_rank_both_classes() {
        let labels: Vec<String> = vec!["cat".into(), "dog".into()];
        let top = rank(&[-2.0], &labels, 5);
        assert_eq!(top[0].label, "cat");
        assert!((top[0].probability - 0.880_797).abs() < 1e-5);
        assert_eq!(top[0].logit, 2.0);
        assert_eq!(top[1].label, "dog");
    }
}
