//! `whycam models`: what can be loaded, and which layers can be targets.

use clap::Args;
use std::path::Path;
use whycam_models::{Architecture, HeadSpec, OnnxModel};

/// List architectures, or the layers of one architecture or ONNX file.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Show the layer names of this architecture, or of this ONNX file (in execution order,
    /// with the default explanation target marked).
    pub model: Option<String>,
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
            list_onnx(Path::new(&name))?;
        }
        Some(name) => {
            let arch: Architecture = name.parse()?;
            let device = burn::prelude::Device::default();
            let net = arch.build(
                HeadSpec {
                    classes: 1,
                    bias: true,
                },
                &device,
            );
            let layer_list = net.layer_list();
            for (i, layer) in layer_list.list().iter().enumerate() {
                let aliases = layer_list.aliases_of(i);
                let aliases = if aliases.is_empty() {
                    String::new()
                } else {
                    format!("  (also {})", aliases.join(", "))
                };
                let mark = if i == net.default_layer_index() {
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

/// The layers of an ONNX graph: module path, shape at the native size, op.
fn list_onnx(path: &Path) -> anyhow::Result<()> {
    let model = OnnxModel::load(path)?;
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
        println!("{:<44} {:<20} {}{mark}", layer.name, shape, layer.op);
    }
    println!(
        "\nEach layer also answers to its ONNX node and value names. The exporters fold every \
         BatchNorm into the convolution before it, so a BatchNorm's output is its convolution's \
         row (bn2 is accepted for conv2)."
    );
    Ok(())
}
