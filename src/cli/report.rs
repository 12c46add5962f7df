//! `whycam report`: the HTML page of an `explain` run, from its output directory.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

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
