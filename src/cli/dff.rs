//! `whycam dff` (alias `factorize`): Deep Feature Factorization, each image's activations at a
//! layer split into concepts, drawn over the image with a legend of what the classifier sees in
//! each. The run is the library's ([`whycam_pipeline::dff`]); this parses, configures, prints.

use super::model_args::ModelArgs;
use super::progress::ImagesBar;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use whycam_data::FetchLimits;
use whycam_pipeline::dff::{DEFAULT_CONCEPTS, DEFAULT_TOP, DffConfig, DffRun, DffSummary};
use whycam_pipeline::explain::files::create_dir;
use whycam_pipeline::explain::summary::ImageError;
use whycam_pipeline::write::DirLock;
use whycam_pipeline::{Sources, text};

/// Deep Feature Factorization of each image.
#[derive(Debug, Args)]
pub struct DffArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The layer whose activations are factorised (see `whycam models NAME`). Default: the
    /// layer that feeds the classifier's pooling, where a concept's scores are the classifier
    /// applied to it.
    #[arg(long)]
    pub layer: Option<String>,
    /// Concepts per image (NMF components), at most the layer's positions per image.
    /// Default: 5, as pytorch-grad-cam's run_dff_on_image and its tutorial.
    #[arg(long, default_value_t = DEFAULT_CONCEPTS)]
    pub concepts: usize,
    /// Classes listed per concept in the legend (create_labels_legend's top_k).
    #[arg(long, default_value_t = DEFAULT_TOP)]
    pub top: usize,
    /// Also write each image's concept maps at the layer's resolution, scaled to [0, 1], as
    /// float32 <stem>.dff.npy of shape (concepts, h, w).
    #[arg(long)]
    pub save_raw: bool,
    /// The image's weight in the picture, 0 to 1 (the tutorial's 0.3).
    #[arg(long, default_value_t = whycam_render::factorization::DFF_IMAGE_WEIGHT)]
    pub image_weight: f64,
    /// Output directory.
    #[arg(long, default_value = "whycam-out")]
    pub out: PathBuf,
    /// Images decoded and traced together (each is factorised on its own).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub batch_size: u32,
    /// Print dff.json on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Add the sample photos (fetched into the cache on first use) to the inputs.
    #[arg(long)]
    pub samples: bool,
    /// Seconds allowed for downloading one URL input.
    #[arg(long, default_value_t = 30)]
    pub fetch_timeout: u64,
    /// Image files, directories (searched recursively) or http(s) URLs.
    pub inputs: Vec<std::ffi::OsString>,
}

pub fn run(args: DffArgs) -> anyhow::Result<ExitCode> {
    let inputs = whycam_pipeline::open::inputs_or_samples(&args.inputs, args.samples)?;
    let layers: Vec<String> = args.layer.iter().cloned().collect();
    let model = args.model.load_for_layers(&layers)?;
    let config = DffConfig {
        layer: args.layer.clone(),
        concepts: args.concepts,
        top: args.top,
        batch_size: args.batch_size as usize,
        save_raw: args.save_raw,
        image_weight: args.image_weight,
        fetch: FetchLimits {
            timeout: std::time::Duration::from_secs(args.fetch_timeout),
            ..FetchLimits::default()
        },
        stop: Some(super::stop_on_ctrl_c()?),
        ..DffConfig::default()
    };
    // Settings are checked against the model before any input is read.
    let run = DffRun::new(&model, config)?;
    create_dir(&args.out)?;
    let _lock = DirLock::acquire(&args.out)?;
    let inputs = Sources::collect(&inputs);
    let mut progress = ImagesBar::new(inputs.found.len() + inputs.failed.len());
    let summary = run.run(&inputs.found, inputs.failed, &args.out, &mut progress)?;
    drop(progress);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", summary.to_json())?;
    } else {
        text::dff(&mut stdout, &summary, &args.out.join(DffSummary::FILE))?;
    }
    let interrupted = summary
        .interrupted
        .then(|| format!("{} input(s) done", summary.images.len()));
    Ok(super::finish(
        summary.images.iter().flat_map(|i| &i.warnings),
        summary.errors.iter().map(ImageError::message),
        interrupted,
    ))
}
