//! `whycam models`: what can be loaded, and which layers can be targets.

use clap::Args;
use std::path::Path;
use whycam_models::{OnnxModel, OnnxOptions};
use whycam_pipeline::text;

/// List architectures, or the layers of one architecture or ONNX file.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Show the layer names of this architecture, or of this ONNX file (in execution order,
    /// with the default explanation target marked).
    pub model: Option<String>,
    /// The patch grid of a vision transformer's token layers, as HxW (see `explain
    /// --tokens-grid`).
    #[arg(long, value_parser = crate::cli::model_args::parse_grid, value_name = "HxW")]
    pub tokens_grid: Option<(usize, usize)>,
}

pub fn run(args: ModelsArgs) -> anyhow::Result<std::process::ExitCode> {
    let out = &mut std::io::stdout().lock();
    match args.model {
        None => text::architectures(out)?,
        Some(name) if crate::cli::model_args::is_onnx(Path::new(&name)) => {
            let path = Path::new(&name);
            let options = OnnxOptions {
                tokens_grid: args.tokens_grid,
            };
            let model = OnnxModel::load_with(path, &super::device(), options)?;
            let (layers, default) = model.layer_infos();
            text::onnx_layers(out, path, model.input_size(), layers, default)?;
        }
        Some(name) => {
            let layers = whycam_pipeline::open::zoo_layers(name.parse()?, &super::device());
            text::zoo_layers(out, &layers)?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
