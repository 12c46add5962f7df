//! `whycam explain`: class activation maps for images, written as overlays, raw maps and a
//! JSON summary.

mod output;

use super::model_args::{LoadedModel, ModelArgs};
use super::predict::rank;
use anyhow::{Context, bail};
use burn::prelude::*;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use output::{
    ClassScore, ExplanationSummary, ImageError, ImageSummary, Item, MapWriter, OverlayPng, RawNpy,
    Summary, TargetSummary,
};
use rayon::prelude::*;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use whycam_cam::{
    CamError, ClassGroups, ExplainOptions, Explainer, ImageExplanation, Method, TargetSpec,
};
use whycam_data::{FetchLimits, Prepared, RgbImage, Source, collect_sources, prepare};
use whycam_models::{LoadOptions, ModelError};
use whycam_render::Colormap;

/// Explain what the model looked at.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// CAM methods, comma-separated: cam, gradcam, gradcampp, xgradcam, hirescam,
    /// gradcam-elementwise, layercam, eigencam, eigengradcam, scorecam, ablationcam.
    #[arg(long, value_delimiter = ',', default_value = "gradcam")]
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
    /// Also write each map as float32 .npy at the target layer's resolution.
    #[arg(long)]
    pub save_raw: bool,
    /// Colour map of the overlays.
    #[arg(long, default_value = "jet")]
    pub colormap: Colormap,
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
    /// Print explanations.json on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Add the sample photos (fetched into the cache on first use) to the inputs.
    #[arg(long)]
    pub samples: bool,
    /// Seconds allowed for downloading one URL input.
    #[arg(long, default_value_t = 30)]
    pub fetch_timeout: u64,
    /// Image files, directories (searched recursively) or http(s) URLs.
    pub inputs: Vec<String>,
}

/// An image decoded and prepared for the network.
struct Decoded {
    source: Source,
    original: RgbImage,
    prepared: Prepared,
}

pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let mut inputs = args.inputs.clone();
    if args.samples {
        let photos = whycam_assets::ensure_sample_photos().context("fetching the sample photos")?;
        inputs.extend(photos.into_iter().map(|p| p.display().to_string()));
    }
    if inputs.is_empty() {
        bail!("no inputs: name image files, directories or URLs, or pass --samples");
    }
    if !(0.0..=1.0).contains(&args.alpha) {
        bail!("--alpha must be between 0 and 1, got {}", args.alpha);
    }
    let methods = args
        .method
        .iter()
        .map(|m| m.parse::<Method>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut loaded = args.model.load()?;
    let options = ExplainOptions {
        methods,
        layers: args.layer.clone(),
        aug_smooth: args.aug_smooth,
        eigen_smooth: args.eigen_smooth,
        probe_batch_size: args.probe_batch_size.map(|b| b as usize),
    };
    // A layer that BatchNorm folding removed (a convolution before its BatchNorm) needs the
    // model loaded unfolded.
    if let Err(CamError::Model(ModelError::StageFolded { .. })) =
        Explainer::new(&loaded.model, options.clone())
    {
        loaded = args.model.load_with(LoadOptions {
            fold_batchnorm: false,
        })?;
    }
    let explainer = Explainer::new(&loaded.model, options)?;
    let mut groups = ClassGroups::builtin(loaded.model.net.num_classes());
    if let Some(path) = &args.groups {
        groups.extend_from_file(path, &loaded.labels)?;
    }
    let spec = TargetSpec::parse(&args.target, &loaded.labels, &groups)?;
    if spec != TargetSpec::Auto && args.top_k > 1 {
        bail!(
            "--top-k explains the best classes; it cannot be combined with --target {}",
            args.target
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    let (sources, missing) = collect_sources(&inputs);
    let mut errors: Vec<ImageError> = missing
        .into_iter()
        .map(|(source, e)| ImageError {
            image: source.to_string(),
            error: e.to_string(),
        })
        .collect();
    let mut writers: Vec<Box<dyn MapWriter>> = vec![Box::new(OverlayPng {
        colormap: args.colormap,
        alpha: args.alpha,
    })];
    if args.save_raw {
        writers.push(Box::new(RawNpy));
    }
    let fetch = FetchLimits {
        timeout: std::time::Duration::from_secs(args.fetch_timeout),
        ..FetchLimits::default()
    };
    let progress = ProgressBar::new(sources.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images {elapsed} (eta {eta})")
            .expect("valid template"),
    );
    let mut stems = HashSet::new();
    let mut images = Vec::new();
    for chunk in sources.chunks(args.batch_size as usize) {
        let decoded: Vec<Result<Decoded, ImageError>> = chunk
            .par_iter()
            .map(|source| decode(source, &loaded, &fetch))
            .collect();
        let mut batch = Vec::new();
        for d in decoded {
            match d {
                Ok(d) => batch.push(d),
                Err(e) => errors.push(e),
            }
        }
        if !batch.is_empty() {
            match explain_batch(&explainer, &loaded, &spec, args.top_k as usize, &batch) {
                Ok(explanations) => {
                    for (item, explanation) in batch.iter().zip(explanations) {
                        let stem = unique_stem(&mut stems, &item.source.stem());
                        match write_image(
                            &args,
                            &explainer,
                            &loaded,
                            &writers,
                            item,
                            &explanation,
                            &stem,
                        ) {
                            Ok(summary) => images.push(summary),
                            Err(e) => errors.push(ImageError {
                                image: item.source.to_string(),
                                error: format!("{e:#}"),
                            }),
                        }
                    }
                }
                Err(e) => errors.extend(batch.iter().map(|item| ImageError {
                    image: item.source.to_string(),
                    error: e.to_string(),
                })),
            }
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();

    let summary = Summary {
        model: loaded.model.architecture.name(),
        weights: loaded.model.weights.display().to_string(),
        layers: explainer
            .layer_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        methods: explainer
            .methods()
            .iter()
            .map(|m| m.id().to_string())
            .collect(),
        target: args.target.clone(),
        aug_smooth: args.aug_smooth,
        eigen_smooth: args.eigen_smooth,
        images,
        errors,
    };
    let json_path = args.out.join("explanations.json");
    let json = serde_json::to_string_pretty(&summary)?;
    std::fs::write(&json_path, format!("{json}\n"))
        .with_context(|| format!("writing {}", json_path.display()))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{json}")?;
    } else {
        print_table(&mut out, &summary, &json_path)?;
    }
    Ok(super::exit_for_failures(
        summary
            .errors
            .iter()
            .map(|e| (e.image.as_str(), e.error.as_str())),
    ))
}

fn decode(
    source: &Source,
    loaded: &LoadedModel,
    fetch: &FetchLimits,
) -> Result<Decoded, ImageError> {
    // Errors of `prepare` do not know the input yet: `with_path` names it, as for files.
    let fail = |e: whycam_data::DataError| ImageError {
        image: source.to_string(),
        error: e.with_path(Path::new(source.name().as_ref())).to_string(),
    };
    let original = source.load_rgb8(&loaded.limits, fetch).map_err(fail)?;
    let prepared = prepare(&original, &loaded.preprocess).map_err(fail)?;
    Ok(Decoded {
        source: source.clone(),
        original,
        prepared,
    })
}

fn explain_batch(
    explainer: &Explainer<'_>,
    loaded: &LoadedModel,
    spec: &TargetSpec,
    top_k: usize,
    batch: &[Decoded],
) -> whycam_cam::Result<Vec<ImageExplanation>> {
    let size = loaded.preprocess.size as usize;
    let mut data = Vec::with_capacity(batch.len() * 3 * size * size);
    for item in batch {
        data.extend_from_slice(&item.prepared.data);
    }
    let x = Tensor::<4>::from_data(
        TensorData::new(data, [batch.len(), 3, size, size]),
        &Device::default(),
    );
    explainer.explain(x, spec, top_k, &loaded.labels)
}

/// `stem`, or `stem-2`, `stem-3`… when an earlier input had the same stem.
fn unique_stem(used: &mut HashSet<String>, stem: &str) -> String {
    let mut candidate = stem.to_string();
    let mut n = 1;
    while !used.insert(candidate.clone()) {
        n += 1;
        candidate = format!("{stem}-{n}");
    }
    candidate
}

fn write_image(
    args: &ExplainArgs,
    explainer: &Explainer<'_>,
    loaded: &LoadedModel,
    writers: &[Box<dyn MapWriter>],
    item: &Decoded,
    explanation: &ImageExplanation,
    stem: &str,
) -> anyhow::Result<ImageSummary> {
    let top = rank(&explanation.logits, &loaded.labels, 5);
    let several = explanation.targets.len() > 1;
    let layers: Vec<String> = explainer
        .layer_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut explanations = Vec::new();
    for target in &explanation.targets {
        for map in &target.maps {
            let mut name = format!("{stem}.{}", map.method.id());
            if several {
                name = format!("{name}.{}", target.target.tag());
            }
            let item = Item {
                original: &item.original,
                region: &item.prepared.region,
                map: &map.map,
                base: args.out.join(name),
            };
            let files = writers
                .par_iter()
                .map(|w| w.write(&item).map(|p| p.display().to_string()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            explanations.push(ExplanationSummary {
                target: TargetSummary {
                    index: target.target.class,
                    label: target.target.name.clone(),
                    score: target.score,
                },
                method: map.method.id().to_string(),
                layers: layers.clone(),
                files,
            });
        }
    }
    let scores: Vec<ClassScore> = top
        .into_iter()
        .map(|p| ClassScore {
            index: p.index,
            label: p.label,
            probability: p.probability,
        })
        .collect();
    Ok(ImageSummary {
        image: item.source.to_string(),
        prediction: ClassScore {
            index: scores[0].index,
            label: scores[0].label.clone(),
            probability: scores[0].probability,
        },
        top: scores,
        explanations,
    })
}

fn print_table(
    out: &mut impl Write,
    summary: &Summary,
    json_path: &std::path::Path,
) -> std::io::Result<()> {
    writeln!(
        out,
        "model {} ({}), layer {}, {}",
        summary.model,
        summary.weights,
        summary.layers.join("+"),
        summary.methods.join(", ")
    )?;
    for image in &summary.images {
        writeln!(
            out,
            "\n{}: {} ({:.1}%)",
            image.image,
            image.prediction.label,
            100.0 * image.prediction.probability
        )?;
        for e in &image.explanations {
            writeln!(
                out,
                "  {:<20} {:<24} {}",
                e.method,
                e.target.label,
                e.files.join(" ")
            )?;
        }
    }
    let total = summary.images.len() + summary.errors.len();
    if !summary.errors.is_empty() {
        writeln!(out, "\n{} of {total} inputs failed", summary.errors.len())?;
    }
    writeln!(out, "\nsummary: {}", json_path.display())?;
    Ok(())
}
