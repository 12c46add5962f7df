//! `whycam evaluate`: which map to trust, as the peers' faithfulness and localisation
//! metrics per method.

use super::method_args::MethodArgs;
use super::model_args::ModelArgs;
use super::progress::ImagesBar;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use whycam_pipeline::evaluate::{EvaluateConfig, EvaluateRun, Metric};
use whycam_pipeline::explain::summary::ImageError;
use whycam_pipeline::text;
use whycam_pipeline::write::DirLock;

/// Score the methods' maps: faithfulness (Average Drop, Deletion/Insertion, ROAD...) and,
/// with boxes, localisation.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Methods compared, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "gradcam")]
    pub method: Vec<String>,
    /// Target layers, comma-separated (see `whycam models NAME`); several are averaged.
    #[arg(long, value_delimiter = ',')]
    pub layer: Vec<String>,
    /// What to explain: auto (the top class), a class index, a label, or a class group.
    #[arg(long, default_value = "auto")]
    pub target: String,
    /// Metrics, comma-separated: avg-drop, increase, deletion, insertion, road-morf,
    /// road-lerf, road-combined, drop, increase-pgc, sparseness, pointing-game,
    /// energy-pointing-game, box-iou (1 when the box of the map thresholded at 15% of its
    /// maximum, largest 8-connected component, has IoU >= 0.5 with the object's; reports iou
    /// too), iou, randomisation (the model-randomisation sanity check: the layers are
    /// re-initialised from the top one by one and each map compared with the trained
    /// model's; a method whose maps keep a Spearman correlation above 0.5 is flagged).
    /// Default: all but randomisation (one more explanation per layer) and those that need
    /// --boxes (the pointing games, box-iou, iou).
    #[arg(long, value_delimiter = ',')]
    pub metric: Vec<String>,
    /// Deletion/insertion steps (torchcam's default).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub steps: u32,
    /// Standard deviation of ROAD's imputation noise (pytorch-grad-cam's default).
    #[arg(long, default_value_t = 0.01)]
    pub road_noise: f32,
    /// Seed of ROAD's noise, of the bootstrap intervals and of the sampling methods' draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Object boxes, a CSV of path,x0,y0,x1,y1[,label] in the original image's pixels
    /// (for pointing-game, energy-pointing-game, box-iou and iou).
    #[arg(long)]
    pub boxes: Option<PathBuf>,
    #[command(flatten)]
    pub method_options: MethodArgs,
    /// Images explained together.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub batch_size: u32,
    /// Perturbed inputs scored in one forward pass.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub score_batch_size: u32,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write evaluation.json, evaluation.csv (one row per image, method and metric)
    /// and the mean deletion and insertion curves (deletion.png, insertion.png) into this
    /// directory. When an `explain` run wrote there, its report.html is rebuilt with a
    /// Faithfulness section.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Add the sample photos (fetched into the cache on first use) to the inputs.
    #[arg(long)]
    pub samples: bool,
    /// With a dataset: at most this many samples, spread evenly.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Image files, directories (searched recursively) or http(s) URLs; or one labelled
    /// dataset (a path,label CSV, an ImageFolder, or MNIST/Fashion-MNIST, CIFAR-10, STL-10
    /// or Oxford-IIIT Pet files, their test split), each sample named file#record.
    pub inputs: Vec<std::ffi::OsString>,
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let inputs = whycam_pipeline::open::inputs_or_samples(&args.inputs, args.samples)?;
    let methods = super::parse_methods(&args.method)?;
    let metrics = if args.metric.is_empty() {
        Metric::defaults()
    } else {
        args.metric
            .iter()
            .map(|m| m.parse::<Metric>())
            .collect::<Result<Vec<_>, _>>()?
    };
    let model = args.model.load_for_layers(&args.layer)?;
    let config = EvaluateConfig {
        methods,
        layers: args.layer.clone(),
        target: args.target.clone(),
        metrics,
        steps: args.steps as usize,
        road_noise: args.road_noise,
        seed: args.seed,
        settings: args.method_options.settings(args.seed),
        boxes: args.boxes.clone(),
        batch_size: args.batch_size as usize,
        score_batch_size: args.score_batch_size as usize,
        stop: Some(super::stop_on_ctrl_c()?),
        ..EvaluateConfig::default()
    };
    let run = EvaluateRun::new(&model, config)?;
    let _lock = match &args.out {
        Some(out) => {
            whycam_pipeline::explain::files::create_dir(out)?;
            Some(DirLock::acquire(out)?)
        }
        None => None,
    };
    let mut progress = ImagesBar::at_start();
    let report = run.run_inputs(&inputs, args.limit, &mut progress)?;
    drop(progress);
    if let Some(out) = &args.out
        && let Some(page) = whycam_pipeline::evaluate::write_outputs(out, &report)?
    {
        // An explain run's report in the same directory gained its Faithfulness section.
        eprintln!("report: {}", super::shown(&whycam_data::shown_path(&page)));
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        text::evaluate(&mut stdout, &report)?;
    }
    let interrupted = report
        .interrupted
        .then(|| format!("{} image(s) done", report.images.len()));
    Ok(super::finish(
        super::NO_WARNINGS,
        report.errors.iter().map(ImageError::message),
        interrupted,
    ))
}
