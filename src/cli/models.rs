//! `whycam models`: what can be loaded, and which layers can be targets.

use clap::Args;
use std::path::Path;
use whycam_models::{Architecture, LayerLayout, OnnxModel, OnnxOptions};

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
    match args.model {
        None => {
            for arch in Architecture::ALL {
                let pretrained = whycam_assets::weights_asset(&arch.name()).is_some();
                if arch == Architecture::WhycamSmall {
                    println!(
                        "{:<20} any input size  trained from scratch by `whycam train`",
                        arch.name()
                    );
                    continue;
                }
                println!(
                    "{:<20} input {:>3}px{}",
                    arch.name(),
                    arch.native_size(),
                    if pretrained {
                        "  pretrained ImageNet weights available"
                    } else {
                        ""
                    }
                );
            }
        }
        Some(name) if crate::cli::model_args::is_onnx(Path::new(&name)) => {
            list_onnx(Path::new(&name), args.tokens_grid)?;
        }
        Some(name) => {
            let arch: Architecture = name.parse()?;
            for layer in whycam_pipeline::open::zoo_layers(arch, &super::device()) {
                let aliases = if layer.aliases.is_empty() {
                    String::new()
                } else {
                    format!("  (also {})", layer.aliases.join(", "))
                };
                let mark = if layer.default {
                    "  (default target)"
                } else {
                    ""
                };
                println!("{}{aliases}{mark}", layer.name);
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The layers of an ONNX graph: module path, shape (as the map explained) at the native size,
/// op, and for a transformer's layer its own layout.
fn list_onnx(path: &Path, tokens_grid: Option<(usize, usize)>) -> anyhow::Result<()> {
    let options = OnnxOptions { tokens_grid };
    let model = OnnxModel::load_with(path, &super::device(), options)?;
    let (infos, default) = model.layer_infos();
    let size = model.input_size().map_or(
        "any input size (dynamic; 224 shown)".to_string(),
        |(h, w)| format!("{h}x{w} input"),
    );
    println!("{}: {size}", path.display());
    println!("{:<44} {:<20} op", "layer", "shape");
    for (i, layer) in infos.iter().enumerate() {
        let shape = format!("{:?}", &layer.shape[1..]);
        let mark = if i == default {
            "  (default target)"
        } else {
            ""
        };
        let layout = match layer.layout {
            LayerLayout::Map => String::new(),
            LayerLayout::Tokens { prefix, .. } => format!(
                "  tokens {:?}{}",
                &layer.value_shape[1..],
                match prefix {
                    0 => String::new(),
                    1 => ", class token dropped".to_string(),
                    p => format!(", {p} leading tokens dropped"),
                }
            ),
            LayerLayout::ChannelsLast => format!("  channels last {:?}", &layer.value_shape[1..]),
            LayerLayout::UnknownGrid { .. } => {
                "  tokens, grid unknown: needs --tokens-grid HxW".to_string()
            }
        };
        println!(
            "{:<44} {:<20} {}{mark}{layout}",
            layer.name, shape, layer.op
        );
    }
    let transformer = infos.iter().any(|l| l.layout != LayerLayout::Map);
    println!(
        "\nEach layer also answers to its ONNX node and value names. The exporters fold every \
         BatchNorm into the convolution before it, so a BatchNorm's output is its convolution's \
         row (bn2 is accepted for conv2)."
    );
    if transformer {
        println!(
            "A token layer [tokens, channels] is explained as the map shown, [channels, h, w] \
             (the class token dropped, as pytorch-grad-cam's reshape_transform); a \
             channels-last one [h, w, channels] likewise. --tokens-grid HxW sets the grid."
        );
    }
    Ok(())
}
