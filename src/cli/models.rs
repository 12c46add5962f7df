//! `whycam models`: what can be loaded, and which layers can be targets.

use clap::Args;
use whycam_models::{Architecture, HeadSpec};

/// List architectures, or one architecture's layers.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Show the layer names of this architecture (in execution order; the last is the
    /// default explanation target).
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
            let stages = net.stages();
            for (i, stage) in stages.list().iter().enumerate() {
                let aliases = stages.aliases_of(i);
                let aliases = if aliases.is_empty() {
                    String::new()
                } else {
                    format!("  (also {})", aliases.join(", "))
                };
                let mark = if i == net.default_stage() {
                    "  (default target)"
                } else {
                    ""
                };
                println!("{}{aliases}{mark}", stage.name);
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
