//! `whycam`: explain what a CNN image classifier looked at.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // whycam-alloc installs mimalloc; keeping freed memory spares every layer's buffers
    // fresh page faults.
    whycam_alloc::keep_freed_memory();
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose);
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", cli::shown(&format!("{error:#}")));
            ExitCode::from(2)
        }
    }
}
