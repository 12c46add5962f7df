//! `whycam predict`: top-k classes for each image.

use super::model_args::ModelArgs;
use super::progress::Progress;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use whycam_pipeline::predict::{Classified, PredictConfig, PredictReport, PredictSink, predict};
use whycam_pipeline::{InputError, Sources};

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
    let mut progress = Bar(Progress::images(inputs.found.len() + inputs.failed.len()));
    let report = predict(&model, &inputs.found, inputs.failed, &config, &mut progress)?;
    drop(progress);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &report)?;
    }
    for warning in report.results.iter().flat_map(|r| &r.warnings) {
        eprintln!("warning: {}", super::shown(warning));
    }
    let code = super::exit_for_failures(&report.errors);
    if report.interrupted {
        eprintln!("interrupted: {} input(s) done", report.results.len());
        return Ok(ExitCode::from(super::INTERRUPTED));
    }
    Ok(code)
}

/// The progress bar, stepped by each input done or failed.
struct Bar(Progress);

impl PredictSink for Bar {
    fn image(&mut self, _result: &Classified) {
        self.0.step();
    }
    fn error(&mut self, _error: &InputError) {
        self.0.step();
    }
}

fn print_table(out: &mut impl Write, report: &PredictReport) -> std::io::Result<()> {
    let shown = super::shown;
    writeln!(
        out,
        "model {} ({})",
        shown(&report.model),
        shown(&report.weights)
    )?;
    for r in &report.results {
        writeln!(out, "\n{}", shown(&r.image))?;
        for (rank, p) in r.top.iter().enumerate() {
            writeln!(
                out,
                "  {:>2}. {:<32} {:>8.4}%  (class {:>4}, logit {:>8.3})",
                rank + 1,
                shown(&p.label),
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
