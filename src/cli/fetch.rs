//! `whycam fetch`: fill the cache ahead of time (or check it).

use anyhow::Context;
use clap::Args;

/// What to fetch.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Pretrained weights to fetch (default: efficientnet-lite0).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Also fetch the sample photos.
    #[arg(long)]
    pub samples: bool,
    /// Fetch every known asset.
    #[arg(long)]
    pub all: bool,
}

pub fn run(args: FetchArgs) -> anyhow::Result<std::process::ExitCode> {
    let mut assets = Vec::new();
    if args.all {
        assets.extend(whycam_assets::weights_assets());
        assets.extend(whycam_assets::sample_photos());
    } else {
        let models = if args.models.is_empty() && !args.samples {
            vec!["efficientnet-lite0".to_string()]
        } else {
            args.models.clone()
        };
        for name in &models {
            // Accept every spelling `--model` accepts (efficientnet_lite0, EfficientNet-Lite0).
            let name = &name
                .parse::<whycam_models::Architecture>()
                .map(|a| a.name())
                .unwrap_or_else(|_| name.clone());
            let asset = whycam_assets::weights_asset(name).with_context(|| {
                let known: Vec<_> = whycam_assets::weights_assets()
                    .iter()
                    .map(|a| a.name)
                    .collect();
                format!(
                    "no pretrained weights named {name:?}; known: {}",
                    known.join(", ")
                )
            })?;
            assets.push(asset);
        }
        if args.samples {
            assets.extend(whycam_assets::sample_photos());
        }
    }
    let paths = whycam_assets::ensure_all(assets.iter().copied())?;
    for (asset, path) in assets.iter().zip(paths) {
        println!("{:<20} {}", asset.name, path.display());
    }
    Ok(std::process::ExitCode::SUCCESS)
}
