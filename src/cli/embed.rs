//! `whycam embed`: a model's feature space in two dimensions (the library's
//! [`whycam_pipeline::embed`]); this reads the options, runs it and prints what it found.

use super::data_args::EvalData;
use super::model_args::ModelArgs;
use super::progress::Progress;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use whycam_data::DecodeLimits;
use whycam_embed::{Init, TsneConfig};
use whycam_pipeline::InputError;
use whycam_pipeline::embed::{
    EmbedConfig, EmbedProgress, EmbedSource, EmbedSummary, Extraction, LayoutConfig,
};
use whycam_pipeline::text;

/// Which 2-D layouts `--method` asks for (not a CAM method).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layouts {
    Pca,
    Tsne,
    Both,
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
    #[arg(long, value_enum, default_value_t = Init::Pca)]
    pub init: Init,
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
    let tsne = TsneConfig {
        perplexity: args.perplexity,
        learning_rate: args.learning_rate,
        iterations: args.iterations,
        theta: args.theta,
        init: args.init,
        seed: args.seed,
        pca_dims: args.pca_dims,
    };
    let source = match &args.features {
        Some(path) => EmbedSource::Saved(path.clone()),
        None => EmbedSource::Extracted(Box::new(Extraction {
            model: args.model.spec(),
            layer: args.layer.clone(),
            inputs: args.inputs.clone(),
            samples: args.samples,
            as_images: args.images,
            selection: args.eval.selection(),
            split: args.eval.split,
            batch_size: args.eval.batch_size as usize,
        })),
    };
    let config = EmbedConfig {
        source,
        pca: args.method != Layouts::Tsne,
        tsne: (args.method != Layouts::Pca).then_some(tsne),
        layout: LayoutConfig {
            out: args.out.clone(),
            thumbnails: args.thumbnails.then_some(DecodeLimits {
                max_pixels: args.model.max_pixels,
                max_file_size: args.model.max_file_size,
                allow_truncated: args.model.allow_truncated,
            }),
            neighbours: args.neighbours,
        },
    };
    let mut shown = Shown::default();
    let outcome = config.run(&mut shown);
    drop(shown.progress.take());
    drop(shown.spinner.take());
    if let Some(error) = shown.error {
        return Err(error);
    }
    let outcome = outcome?;
    let Some(summary) = &outcome.summary else {
        let failures = outcome.points.failures.iter().map(InputError::message);
        // Only its messages: with nothing laid out the run failed, whatever the inputs did.
        super::finish(super::NO_WARNINGS, failures, None);
        eprintln!("error: inputs: no image could be read, so there is nothing to lay out");
        return Ok(ExitCode::from(1));
    };
    text::embed_layouts(&mut std::io::stdout().lock(), summary)?;
    println!("wrote {}", args.out.display());
    let interrupted = outcome
        .interrupted
        .then(|| format!("laid out the {} image(s) done", outcome.points.len()));
    Ok(super::finish(
        super::NO_WARNINGS,
        summary.failures.iter().map(InputError::message),
        interrupted,
    ))
}

/// What the user sees while the run goes: the images bar, the features line, the t-SNE
/// spinner; Ctrl-C stops extraction after its batch. `error`: the first failure to set up
/// Ctrl-C or to print, returned once the run is over.
#[derive(Default)]
struct Shown {
    progress: Option<Progress>,
    spinner: Option<Progress>,
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    error: Option<anyhow::Error>,
}

impl EmbedProgress for Shown {
    fn extracting(&mut self, images: usize) {
        self.progress = Some(Progress::images(images));
        match super::stop_on_ctrl_c() {
            Ok(stop) => self.stop = Some(stop),
            Err(e) => self.error = Some(e),
        }
    }

    fn extracted(&mut self, done: usize) -> bool {
        if let Some(progress) = &self.progress {
            progress.advance(done);
        }
        self.error.is_none()
            && !self
                .stop
                .as_ref()
                .is_some_and(|stop| stop.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn features(&mut self, summary: &EmbedSummary) {
        drop(self.progress.take());
        if let Err(e) = text::embed_features(&mut std::io::stdout().lock(), summary) {
            self.error.get_or_insert(e.into());
        }
    }

    fn laying_out(&mut self, points: usize, tsne: Option<&TsneConfig>) {
        self.spinner = tsne.map(|tsne| {
            Progress::spinner(format!(
                "t-SNE of {points} points ({} iterations)",
                tsne.iterations
            ))
        });
    }
}
