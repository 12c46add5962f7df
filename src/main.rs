//! `whycam`: explain what a CNN image classifier looked at.

mod cli;

use clap::Parser;
use std::process::ExitCode;

// glibc's malloc returns large freed blocks to the kernel, and the page faults on fresh
// memory dominated batched convolutions (../shared/PERF_NOTES.md); mimalloc reuses them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose);
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
