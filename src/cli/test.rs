//! `whycam test`: a model's accuracy on a labelled dataset, per class, with the confusion
//! matrix, as text and JSON.

use super::data_args::{EvalData, loader};
use super::model_args::ModelArgs;
use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use whycam_data::datasets::{Dataset, Subset};

/// Score a model on labelled data.
#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The labelled data (any layout `whycam train` reads).
    pub data: PathBuf,
    #[command(flatten)]
    pub eval: EvalData,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct ClassScore {
    label: String,
    images: usize,
    correct: usize,
    accuracy: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    weights: String,
    data: String,
    images: usize,
    accuracy: f64,
    loss: f64,
    per_class: Vec<ClassScore>,
    /// `confusion[true][predicted]`.
    confusion: Vec<Vec<usize>>,
    labels: Vec<String>,
    skipped: Vec<whycam_data::Skipped>,
}

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let loaded = args.model.load()?;
    let data = args
        .eval
        .selection
        .open(&args.data, args.eval.split.into())?;
    let data = match_labels(data, &loaded.labels)?;
    let loader = loader(
        data.clone(),
        loaded.preprocess,
        args.eval.batch_size,
        None,
        0,
    )?;
    let e = whycam_train::evaluate(loaded.model.net.as_ref(), &loader)
        .with_context(|| format!("testing on {}", args.data.display()))?;
    let labels = loaded.labels.clone();
    let confusion = e.confusion(labels.len());
    let per_class = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let images: usize = confusion[i].iter().sum();
            ClassScore {
                label: label.clone(),
                images,
                correct: confusion[i][i],
                accuracy: (images > 0).then(|| confusion[i][i] as f64 / images as f64),
            }
        })
        .collect();
    let report = Report {
        model: loaded.model.name.clone(),
        weights: loaded.model.weights.display().to_string(),
        data: args.data.display().to_string(),
        images: e.labels.len(),
        accuracy: e.accuracy,
        loss: e.loss,
        per_class,
        confusion,
        labels,
        skipped: e.skipped,
    };
    let json = serde_json::to_string_pretty(&report).expect("the report serialises");
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print_text(&report);
    }
    Ok(super::exit_for_failures(
        report
            .skipped
            .iter()
            .map(|s| (s.error.as_str(), s.error.as_str())),
    ))
}

/// Puts the dataset's labels in the model's order. The class names must match (ignoring case,
/// `_`, `-` and spaces); a model without names (`class 0`, ...) takes the data's order when
/// the counts agree.
fn match_labels(data: Arc<dyn Dataset>, labels: &[String]) -> anyhow::Result<Arc<dyn Dataset>> {
    let unnamed = labels
        .iter()
        .enumerate()
        .all(|(i, l)| *l == format!("class {i}"));
    if unnamed && data.classes().len() == labels.len() {
        return Ok(data);
    }
    match Subset::of_classes(data.clone(), labels) {
        Ok(subset) if subset.len() > 0 => {
            let missing = data.len() - subset.len();
            if missing > 0 {
                bail!(
                    "{missing} image(s) of the data belong to classes the model does not know \
                     (model: {}; data: {}); pick the model's with --classes",
                    labels.join(", "),
                    data.classes().join(", ")
                );
            }
            Ok(Arc::new(subset))
        }
        _ => bail!(
            "the model's classes ({}) do not match the data's ({})",
            labels.join(", "),
            data.classes().join(", ")
        ),
    }
}

fn print_text(r: &Report) {
    println!(
        "{}: accuracy {:.2}% on {} images (loss {:.4})",
        r.data,
        r.accuracy * 100.0,
        r.images,
        r.loss
    );
    let width = r.labels.iter().map(|l| l.len()).max().unwrap_or(5).max(5);
    println!("\nper class:");
    for c in &r.per_class {
        let accuracy = c
            .accuracy
            .map_or("-".to_string(), |a| format!("{:.2}%", a * 100.0));
        println!(
            "  {:<width$}  {:>8}  ({}/{})",
            c.label, accuracy, c.correct, c.images
        );
    }
    println!("\nconfusion matrix (rows: true class, columns: predicted):");
    let cell = r
        .confusion
        .iter()
        .flatten()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(1)
        .max(3);
    let names: Vec<String> = r
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{i} {l}"))
        .collect();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(1);
    print!("  {:<width$}", "");
    for i in 0..r.labels.len() {
        print!(" {:>cell$}", i);
    }
    println!();
    for (i, row) in r.confusion.iter().enumerate() {
        print!("  {:<width$}", names[i]);
        for v in row {
            print!(" {v:>cell$}");
        }
        println!();
    }
    if !r.skipped.is_empty() {
        println!("\n{} unreadable image(s) skipped", r.skipped.len());
    }
}
