//! `whycam explain`: class activation maps for images, written as overlays, raw maps and a
//! JSON summary. The run is the library's ([`whycam_pipeline::explain`]); this picks the
//! sinks from the options and prints.

use super::method_args::MethodArgs;
use super::model_args::ModelArgs;
use super::progress::ImagesBar;
use anyhow::bail;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use whycam_cam::Method;
use whycam_data::FetchLimits;
use whycam_pipeline::explain::files::{FileOutputs, GridSize, create_dir};
use whycam_pipeline::explain::summary::{ImageError, JsonSummary};
use whycam_pipeline::explain::{ExplainConfig, ExplainRun};
use whycam_pipeline::report::Report;
use whycam_pipeline::write::DirLock;
use whycam_pipeline::{Shard, Sources, text};
use whycam_render::{Colormap, OverlayStyle};

/// Explain what the model looked at.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, value_delimiter = ',', default_value = "gradcam", help = method_help())]
    pub method: Vec<String>,
    /// Target layers, comma-separated (see `whycam models NAME`). Default: the layer that
    /// feeds the classifier's pooling. Several layers are averaged.
    #[arg(long, value_delimiter = ',')]
    pub layer: Vec<String>,
    /// What to explain: auto (the top class), a class index, a label, or a class group
    /// (cat, dog for ImageNet; more with --groups).
    #[arg(long, default_value = "auto")]
    pub target: String,
    /// Explain the K best classes (with --target auto).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub top_k: u32,
    /// Class groups, a JSON file {"name": [class index or label, ...]}.
    #[arg(long)]
    pub groups: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "whycam-out")]
    pub out: PathBuf,
    /// Also write each map as float32 .npy at the target layer's resolution, and the map
    /// before ReLU and scaling as .signed.npy (for CAM, its mean is the class's logit).
    #[arg(long)]
    pub save_raw: bool,
    /// Colour map of the overlays: jet, turbo, magma, inferno, viridis, gray, bwr.
    #[arg(long, default_value = "jet")]
    pub colormap: Colormap,
    /// Draw the heatmaps over a grey-scale copy of the image.
    #[arg(long)]
    pub gray_background: bool,
    /// Also write each signed map (before ReLU) in bwr centred on zero, with a colour bar:
    /// <stem>.<method>.signed.png.
    #[arg(long)]
    pub signed: bool,
    /// Also write a titled figure per image and method, the original beside each target's
    /// heatmap: <stem>.<method>.figure.png.
    #[arg(long)]
    pub figure: bool,
    /// Also write contact sheets of ROWSxCOLUMNS heatmaps (e.g. 5x5), one series per method:
    /// grid.<method>.png, then grid.<method>.2.png...
    #[arg(long)]
    pub grid: Option<GridSize>,
    /// True labels: a CSV of path,label (label name or index). Default: an input's folder
    /// name, when it is a class label. Wrong predictions get red label boxes in grids.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Write report.html, a self-contained page of this run, at the end.
    #[arg(long)]
    pub report: bool,
    /// Opacity of the overlay.
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f32,
    /// Average over horizontal flips and input scalings 0.9/1/1.1 (6 passes).
    #[arg(long)]
    pub aug_smooth: bool,
    /// Use the first principal component instead of the channel sum.
    #[arg(long)]
    pub eigen_smooth: bool,
    /// Images explained together.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub batch_size: u32,
    /// Masked inputs (Score-CAM) or ablations (Ablation-CAM) per forward pass. Default: 4 for
    /// Score-CAM, 32 for Ablation-CAM.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub probe_batch_size: Option<u32>,
    #[command(flatten)]
    pub method_options: MethodArgs,
    /// Seed of the random draws of the sampling methods (smoothgrad, rise, randomcam, ...).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print explanations.json on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Add the sample photos (fetched into the cache on first use) to the inputs.
    #[arg(long)]
    pub samples: bool,
    /// Go on with an interrupted run in --out: images whose files and summary entries are
    /// complete are kept, the rest are explained (same model, layers, methods and target).
    #[arg(long)]
    pub resume: bool,
    /// Explain only shard K of N (e.g. 3/8) of the inputs, for job arrays (Slurm, Kubernetes
    /// indexed jobs): each input belongs to one shard, by a hash of its path, so shards never
    /// overlap and an input keeps its shard when others are added. Give each shard its own
    /// --out; `whycam merge` joins them.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Seconds allowed for downloading one URL input.
    #[arg(long, default_value_t = 30)]
    pub fetch_timeout: u64,
    /// Image files, directories (searched recursively) or http(s) URLs.
    pub inputs: Vec<std::ffi::OsString>,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    text.parse()
        .map_err(|e: whycam_pipeline::PipelineError| e.to_string())
}

/// `--method`'s long help, listing every method the library has.
fn method_help() -> String {
    format!(
        "CAM methods, comma-separated: {}",
        Method::ALL.map(|m| m.id()).join(", ")
    )
}

pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let inputs = whycam_pipeline::open::inputs_or_samples(&args.inputs, args.samples)?;
    let methods = super::parse_methods(&args.method)?;
    let model = args.model.load_for_layers(&args.layer)?;
    let style = OverlayStyle {
        colormap: args.colormap,
        alpha: args.alpha,
        gray_background: args.gray_background,
    };
    let config = ExplainConfig {
        methods,
        layers: args.layer.clone(),
        target: args.target.clone(),
        top_k: args.top_k as usize,
        groups: args.groups.clone(),
        truth: args.truth.clone(),
        aug_smooth: args.aug_smooth,
        eigen_smooth: args.eigen_smooth,
        batch_size: args.batch_size as usize,
        probe_batch_size: args.probe_batch_size.map(|b| b as usize),
        settings: args.method_options.settings(args.seed),
        fetch: FetchLimits {
            timeout: std::time::Duration::from_secs(args.fetch_timeout),
            ..FetchLimits::default()
        },
        style,
        stop: Some(super::stop_on_ctrl_c()?),
        resume: args.resume.then(|| args.out.clone()),
    };
    let run = ExplainRun::new(&model, config)?;
    create_dir(&args.out)?;
    // One run at a time writes into a directory.
    let _lock = DirLock::acquire(&args.out)?;
    let out = &args.out;
    let outputs = FileOutputs {
        raw: args.save_raw,
        signed: args.signed,
        figure: args.figure,
        grid: args.grid,
    };
    let mut sinks = whycam_pipeline::explain::files::sinks(out, outputs, style);
    sinks.push(Box::new(JsonSummary::new(out)));
    let report = args.report.then(|| out.join("report.html"));
    if let Some(page) = &report {
        sinks.push(Box::new(Report {
            dir: out.clone(),
            page: page.clone(),
            limits: model.limits,
        }));
    }
    sinks.push(Box::new(ImagesBar::at_start()));
    let mut inputs = Sources::collect(&inputs);
    if let Some(shard) = args.shard {
        inputs = inputs.shard(shard);
    }
    let summary = run.run(&inputs.found, inputs.failed, &mut sinks)?;

    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", summary.to_json())?;
    } else {
        text::explain(&mut stdout, &summary, &out.join(JsonSummary::FILE))?;
        if let Some(report) = &report {
            writeln!(stdout, "report: {}", report.display())?;
        }
    }
    let interrupted = summary.interrupted.then(|| {
        format!(
            "{} input(s) done; go on with --resume --out {}",
            summary.images.len(),
            out.display()
        )
    });
    let code = super::finish(
        summary.images.iter().flat_map(|i| &i.warnings),
        summary.errors.iter().map(ImageError::message),
        interrupted,
    );
    if args.grid.is_some() && summary.images.is_empty() && !summary.interrupted {
        bail!("--grid: no image was explained, so there is nothing to put in a grid");
    }
    Ok(code)
}
