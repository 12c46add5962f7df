//! `whycam predict`: top-k classes for each image.

use super::model_args::ModelArgs;
use super::progress::ImagesBar;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use whycam_pipeline::explain::summary::ImageError;
use whycam_pipeline::predict::{PredictConfig, predict};
use whycam_pipeline::{Sources, text};

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

pub fn run(args: PredictArgs) -> anyhow::Result<ExitCode> {
    let mut inputs = args.inputs.clone();
    if args.samples {
        inputs.extend(whycam_pipeline::open::sample_photos()?);
    }
    anyhow::ensure!(
        !inputs.is_empty(),
        "no inputs: name image files or directories, or pass --samples"
    );
    let model = args.model.load()?;
    let inputs = Sources::collect(&inputs);
    let config = PredictConfig {
        top_k: args.top_k,
        batch_size: args.batch_size as usize,
        stop: Some(super::stop_on_ctrl_c()?),
        ..PredictConfig::default()
    };
    let mut progress = ImagesBar::new(inputs.found.len() + inputs.failed.len());
    let report = predict(&model, &inputs.found, inputs.failed, &config, &mut progress)?;
    drop(progress);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        text::predict(&mut out, &report)?;
    }
    let interrupted = report
        .interrupted
        .then(|| format!("{} input(s) done", report.results.len()));
    Ok(super::finish(
        report.results.iter().flat_map(|r| &r.warnings),
        report.errors.iter().map(ImageError::message),
        interrupted,
    ))
}
