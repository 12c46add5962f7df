//! Command-line parsing and the subcommands. Each subcommand turns its arguments into a
//! validated configuration, calls the libraries, and decides what the user sees.

mod data_args;
mod dff;
mod embed;
mod evaluate;
mod explain;
mod fetch;
mod flags;
mod method_args;
mod model_args;
mod models;
mod predict;
mod progress;
mod report;
mod test;
mod train;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Explain what a CNN image classifier looked at.
#[derive(Debug, Parser)]
#[command(name = "whycam", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); WHYCAM_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Classify images: top-k classes with probabilities.
    Predict(predict::PredictArgs),
    /// Explain classifications with class activation maps (CAM, Grad-CAM, ...).
    Explain(explain::ExplainArgs),
    /// Deep Feature Factorization: each image's activations at a layer split into concepts,
    /// drawn over it with the classes the classifier sees in each.
    #[command(visible_alias = "factorize")]
    Dff(dff::DffArgs),
    /// Which map to trust: faithfulness and localisation metrics of the methods' maps.
    Evaluate(evaluate::EvaluateArgs),
    /// Write a self-contained HTML report of an `explain` run.
    Report(report::ReportArgs),
    /// Join the shards of an `explain --shard K/N` run into one summary and report.
    Merge(report::MergeArgs),
    /// Download pretrained weights and sample photos into the cache.
    Fetch(fetch::FetchArgs),
    /// List the architectures, or the layers of one.
    Models(models::ModelsArgs),
    /// Train a CAM-ready classifier: fine-tune a zoo model with a new head, or train
    /// whycam-small from scratch.
    Train(train::TrainArgs),
    /// Score a model on a labelled dataset: accuracy, per-class accuracy, confusion matrix.
    Test(test::TestArgs),
    /// Picture a model's feature space: PCA and t-SNE scatter plots coloured by class.
    Embed(embed::EmbedArgs),
}

/// Sets up `tracing` output on stderr.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WHYCAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// A flag the first Ctrl-C sets: the run stops after its current batch, writes what is done
/// and exits 130. A second Ctrl-C ends the process at once.
pub(crate) fn stop_on_ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after this batch (Ctrl-C again to quit at once)");
    })
    .context("installing the Ctrl-C handler")?;
    Ok(stop)
}

/// Where every computation of this process runs: the one place the command line chooses a
/// device (a GPU backend would be a feature flag here and nothing else).
pub(crate) fn device() -> burn::prelude::Device {
    burn::prelude::Device::default()
}

/// For [`finish`], from a run that gives no warnings.
pub(crate) const NO_WARNINGS: [&str; 0] = [];

/// The exit code of a run stopped by Ctrl-C.
pub(crate) const INTERRUPTED: u8 = 130;

/// Outside text made safe for the terminal (the library's, shared by every printer).
pub(crate) use whycam_pipeline::text::shown;

/// `--method` names as methods.
pub(crate) fn parse_methods(names: &[String]) -> anyhow::Result<Vec<whycam_cam::Method>> {
    Ok(names
        .iter()
        .map(|m| m.parse::<whycam_cam::Method>())
        .collect::<Result<Vec<_>, _>>()?)
}

/// Ends a run for the user: its warnings and its failed inputs' messages on stderr, then
/// the exit code: 130 when Ctrl-C stopped it (with `interrupted`, what was done), else 1 when
/// an input failed.
pub(crate) fn finish(
    warnings: impl IntoIterator<Item = impl AsRef<str>>,
    failures: impl IntoIterator<Item = impl AsRef<str>>,
    interrupted: Option<String>,
) -> ExitCode {
    for warning in warnings {
        eprintln!("warning: {}", shown(warning.as_ref()));
    }
    let mut failed = false;
    for failure in failures {
        eprintln!("error: {}", shown(failure.as_ref()));
        failed = true;
    }
    if let Some(done) = interrupted {
        eprintln!("interrupted: {}", shown(&done));
        ExitCode::from(INTERRUPTED)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs a parsed command line; the exit code is 1 when some inputs failed.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    run_command(cli).map_err(flags::with_flags)
}

fn run_command(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Predict(args) => predict::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Dff(args) => dff::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Report(args) => report::run(args),
        Command::Merge(args) => report::merge(args),
        Command::Fetch(args) => fetch::run(args),
        Command::Models(args) => models::run(args),
        Command::Train(args) => train::run(args),
        Command::Test(args) => test::run(args),
        Command::Embed(args) => embed::run(args),
    }
}
