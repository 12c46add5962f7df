//! `whycam report`: the HTML page of an `explain` run, from its output directory; `whycam
//! merge`: the shards of one run joined.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use whycam_pipeline::explain::summary::ImageError;

/// Write a self-contained HTML report of an `explain` run.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The output directory of `whycam explain` (it holds explanations.json).
    pub dir: PathBuf,
    /// The HTML file to write. Default: DIR/report.html.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let out = args.out.unwrap_or_else(|| args.dir.join("report.html"));
    let written = whycam_pipeline::report::write(&args.dir, &out)?;
    println!("report: {}", written.display());
    Ok(ExitCode::SUCCESS)
}

/// Join the shards of an `explain --shard K/N` run into one summary and report.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The directory to write explanations.json and report.html into (created if missing);
    /// the pictures stay in the shards' directories and are named relative to it.
    #[arg(long)]
    pub out: PathBuf,
    /// Do not write report.html.
    #[arg(long)]
    pub no_report: bool,
    /// The shards' output directories (each holds an explanations.json).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
}

pub fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    whycam_pipeline::explain::files::create_dir(&args.out)?;
    let summary = whycam_pipeline::explain::merge::merge(&args.dirs, &args.out)?;
    let path = whycam_pipeline::explain::merge::write_summary(&summary, &args.out)?;
    println!(
        "{} images, {} errors from {} runs: {}",
        summary.images.len(),
        summary.errors.len(),
        args.dirs.len(),
        path.display()
    );
    if !args.no_report {
        let page = args.out.join("report.html");
        whycam_pipeline::report::write(&args.out, &page)?;
        println!("report: {}", page.display());
    }
    let unfinished = "at least one shard was interrupted: resume it, then merge again";
    Ok(super::finish(
        summary.interrupted.then_some(unfinished),
        summary.errors.iter().map(ImageError::message),
        None,
    ))
}
