//! `whycam test`: a model's accuracy on a labelled dataset, per class, with the confusion
//! matrix, as text and JSON.

use super::data_args::EvalData;
use super::model_args::ModelArgs;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use whycam_pipeline::text;

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
    let data = args.eval.selection().open(&args.data, args.eval.split)?;
    let name = whycam_data::shown_path(&args.data).into_owned();
    let report = whycam_pipeline::test::test(&model, data, &name, args.eval.batch_size as usize)?;
    let json = serde_json::to_string_pretty(&report).expect("the report serialises");
    if let Some(path) = &args.out {
        whycam_pipeline::write::atomically(path, format!("{json}\n").as_bytes())?;
    }
    if args.json {
        println!("{json}");
    } else {
        text::test(&mut std::io::stdout().lock(), &report)?;
    }
    let failures = report.skipped.iter().map(|s| s.error.clone());
    Ok(super::finish(super::NO_WARNINGS, failures, None))
}
