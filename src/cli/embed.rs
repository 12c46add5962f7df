//! `whycam embed`: a model's feature space in two dimensions (the library's
//! [`whycam_pipeline::embed`]); this reads the options, runs it and prints what it found.

use super::data_args::EvalData;
use super::model_args::ModelArgs;
use super::progress::Progress;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use whycam_data::DecodeLimits;
use whycam_embed::{Init, TsneConfig};
use whycam_pipeline::PipelineError;
use whycam_pipeline::embed::{self as embedding, EmbedSummary, Failure, LayoutConfig, Points};

/// Which 2-D layouts `--method` asks for (not a CAM method).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layouts {
    Pca,
    Tsne,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitArg {
    /// The first two principal components (scikit-learn's default).
    Pca,
    /// Small normal noise from --seed.
    Random,
}

/// Lay a model's features out in 2-D.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Layer whose output is average-pooled into the features (see `whycam models NAME`).
    /// Default: the last, whose pooled output is what a linear classifier reads.
    #[arg(long)]
    pub layer: Option<String>,
    /// Which layouts to compute.
    #[arg(long, value_enum, default_value_t = Layouts::Both)]
    pub method: Layouts,
    /// t-SNE perplexity, the effective number of neighbours of each point (it needs more than
    /// 3 × perplexity images).
    #[arg(long, default_value_t = 30.0)]
    pub perplexity: f32,
    /// t-SNE step size. Default: scikit-learn's "auto", max(images / 48, 50).
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// t-SNE gradient steps (at least 250; the first 250 exaggerate the attractions).
    #[arg(long, default_value_t = 1000)]
    pub iterations: usize,
    /// Barnes-Hut accuracy of t-SNE: smaller is slower and closer to exact.
    #[arg(long, default_value_t = 0.5)]
    pub theta: f32,
    /// Where t-SNE starts.
    #[arg(long, value_enum, default_value_t = InitArg::Pca)]
    pub init: InitArg,
    /// Seed of a random t-SNE start. The same seed and inputs give the same picture.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Reduce the features to this many principal components before t-SNE (0: use them as
    /// they are).
    #[arg(long, default_value_t = 50)]
    pub pca_dims: usize,
    /// Neighbours counted by the label-agreement score (0: skip the score).
    #[arg(long, default_value_t = 10)]
    pub neighbours: usize,
    /// Also draw small pictures of the images at their positions (`*.thumbnails.png`).
    #[arg(long)]
    pub thumbnails: bool,
    /// Lay out features saved by an earlier run (its `features.npy`, n × d float32 or
    /// float64) instead of running a model; the `samples.csv` beside it names the points.
    #[arg(long, conflicts_with_all = ["inputs", "samples", "layer", "model", "weights"])]
    pub features: Option<PathBuf>,
    /// Take the inputs as loose image files coloured by predicted class, even a single
    /// folder of class folders.
    #[arg(long)]
    pub images: bool,
    /// Add the sample photos (fetched into the cache on first use) to the inputs.
    #[arg(long)]
    pub samples: bool,
    #[command(flatten)]
    pub eval: EvalData,
    /// Directory for the pictures, CSVs, features and summary.
    #[arg(long, default_value = "whycam-embed")]
    pub out: PathBuf,
    /// A dataset (any layout `whycam train` reads), coloured by its labels; or image files
    /// and folders, coloured by the model's predictions.
    pub inputs: Vec<PathBuf>,
}

pub fn run(args: EmbedArgs) -> anyhow::Result<ExitCode> {
    let tsne_config = TsneConfig {
        perplexity: args.perplexity,
        learning_rate: args.learning_rate,
        iterations: args.iterations,
        theta: args.theta,
        init: match args.init {
            InitArg::Pca => Init::Pca,
            InitArg::Random => Init::Random,
        },
        seed: args.seed,
        pca_dims: args.pca_dims,
    };
    let with_pca = args.method != Layouts::Tsne;
    let with_tsne = args.method != Layouts::Pca;
    if with_tsne {
        tsne_config.validate()?;
    }
    let started = Instant::now();
    let mut interrupted = false;
    let (points, source, model) = match &args.features {
        Some(path) => (
            embedding::read_features(path)?,
            whycam_data::shown_path(path).into_owned(),
            None,
        ),
        None => {
            let loaded = args.model.load_for_layers(args.layer.as_slice())?;
            let layer = match &args.layer {
                Some(name) => loaded.model.layer(name)?,
                None => loaded.model.net.default_layer(),
            };
            let mut inputs = args.inputs.clone();
            if args.samples {
                inputs.extend(whycam_pipeline::open::sample_photos()?);
            }
            let inputs = embedding::open_inputs(
                &inputs,
                args.images,
                &args.eval.selection(),
                args.eval.split.into(),
                loaded.limits,
            )?;
            // Asked for t-SNE alone, too few images fail before the network runs.
            if !with_pca && inputs.data.len() < tsne_config.min_points() {
                return Err(PipelineError::TooFewForTsne {
                    images: inputs.data.len(),
                    perplexity: args.perplexity,
                    needed: tsne_config.min_points(),
                }
                .into());
            }
            let progress = Progress::images(inputs.data.len());
            let stop = super::stop_on_ctrl_c()?;
            let points = embedding::extract(
                &loaded,
                inputs,
                layer,
                args.eval.batch_size as usize,
                &mut |n| {
                    progress.advance(n);
                    !stop.load(std::sync::atomic::Ordering::SeqCst)
                },
            )?;
            drop(progress);
            interrupted = stop.load(std::sync::atomic::Ordering::SeqCst);
            let source = args
                .inputs
                .iter()
                .map(|p| whycam_data::shown_path(p).into_owned())
                .chain(args.samples.then(|| "the sample photos".to_string()))
                .collect::<Vec<_>>()
                .join(" ");
            let model = (
                loaded.model.name.clone(),
                whycam_data::shown_path(&loaded.model.weights).into_owned(),
                loaded.model.layer_name(layer).to_string(),
            );
            (points, source, Some(model))
        }
    };
    let extraction_seconds = started.elapsed().as_secs_f64();
    let n = points.len();
    if n == 0 {
        let mut failures = points.failures.clone();
        failures.push(Failure {
            input: "inputs".into(),
            error: "no image could be read, so there is nothing to lay out".into(),
        });
        return Ok(super::exit_for_failures(&failures));
    }
    let out = &args.out;
    whycam_pipeline::explain::files::create_dir(out)?;
    if args.features.is_none() {
        embedding::write_features(out, &points)?;
    }
    println!(
        "features: {n} images x {} ({}{})",
        points.dim,
        model
            .as_ref()
            .map_or("read from file".to_string(), |(m, _, layer)| format!(
                "{layer} of {m}, average-pooled"
            )),
        if args.features.is_none() {
            format!(", {extraction_seconds:.1} s")
        } else {
            String::new()
        }
    );
    let config = LayoutConfig {
        out: out.clone(),
        thumbnails: args.thumbnails.then_some(DecodeLimits {
            max_pixels: args.model.max_pixels,
            max_file_size: args.model.max_file_size,
            allow_truncated: args.model.allow_truncated,
        }),
        neighbours: args.neighbours,
    };
    let summary = EmbedSummary {
        source,
        model: model.as_ref().map(|m| m.0.clone()),
        weights: model.as_ref().map(|m| m.1.clone()),
        layer: model.as_ref().map(|m| m.2.clone()),
        points: n,
        dimensions: points.dim,
        coloured_by: points.coloured_by,
        classes: points.classes.clone(),
        neighbours: args.neighbours,
        feature_neighbour_agreement: None,
        extraction_seconds,
        layouts: Vec::new(),
        failures: points.failures.clone(),
    };
    let spinner = with_tsne.then(|| {
        Progress::spinner(format!(
            "t-SNE of {n} points ({} iterations)",
            tsne_config.iterations
        ))
    });
    let summary = embedding::lay_out(
        &points,
        &config,
        with_pca,
        with_tsne.then_some(&tsne_config),
        summary,
    )?;
    drop(spinner);
    print_layouts(&summary, &points, &tsne_config);
    println!("wrote {}", out.display());
    let code = super::exit_for_failures(&summary.failures);
    if interrupted {
        eprintln!("interrupted: laid out the {n} image(s) done");
        return Ok(ExitCode::from(super::INTERRUPTED));
    }
    Ok(code)
}

/// What each layout found: explained variance, t-SNE settings, neighbour agreement.
fn print_layouts(summary: &EmbedSummary, points: &Points, tsne: &TsneConfig) {
    let k = summary.neighbours;
    let feature = summary.feature_neighbour_agreement;
    if let Some(a) = feature {
        println!(
            "  {k}-NN label agreement ({}) in feature space: {a:.4}",
            points.coloured_by
        );
    }
    for layout in &summary.layouts {
        match layout.method {
            "PCA" => {
                let ratio: Vec<f64> =
                    serde_json::from_value(layout.details["explained_variance_ratio"].clone())
                        .unwrap_or_default();
                let first = ratio.first().copied().unwrap_or(0.0);
                let second = ratio.get(1).copied().unwrap_or(0.0);
                let shown: Vec<String> = ratio.iter().take(10).map(|r| format!("{r:.4}")).collect();
                println!(
                    "PCA: explained variance ratio PC1 {first:.4}, PC2 {second:.4} (together {:.4}); \
                     first {}: {}",
                    first + second,
                    shown.len(),
                    shown.join(" ")
                );
                if let Some(a) = layout.neighbour_agreement {
                    println!("  {k}-NN label agreement in the PCA plane: {a:.4}");
                }
            }
            _ => {
                println!(
                    "t-SNE: perplexity {}, {} iterations, {} start, seed {}: {:.1} s",
                    tsne.perplexity,
                    tsne.iterations,
                    layout.details["init"].as_str().unwrap_or(""),
                    tsne.seed,
                    layout.seconds
                );
                if let (Some(a), Some(f)) = (layout.neighbour_agreement, feature) {
                    println!(
                        "  {k}-NN label agreement in the t-SNE plane: {a:.4} ({:.3} of the \
                         feature space's)",
                        a / f
                    );
                }
            }
        }
    }
}
