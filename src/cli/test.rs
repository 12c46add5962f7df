//! `whycam test`: a model's accuracy on a labelled dataset, per class, with the confusion
//! matrix, as text and JSON.

use super::data_args::EvalData;
use super::model_args::ModelArgs;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use whycam_pipeline::test::TestReport;

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

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    let data = args
        .eval
        .selection()
        .open(&args.data, args.eval.split.into())?;
    let name = whycam_data::shown_path(&args.data).into_owned();
    let report = whycam_pipeline::test::test(&model, data, &name, args.eval.batch_size as usize)?;
    let json = serde_json::to_string_pretty(&report).expect("the report serialises");
    if let Some(path) = &args.out {
        whycam_pipeline::write::atomically(path, format!("{json}\n").as_bytes())?;
    }
    if args.json {
        println!("{json}");
    } else {
        print_text(&report);
    }
    Ok(super::exit_for_failures(&report.skipped))
}

fn print_text(r: &TestReport) {
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
