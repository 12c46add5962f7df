//! `whycam explain`: class activation maps for images, written as overlays, raw maps and a
//! JSON summary.

mod output;
pub mod summary;
mod truth;

use super::model_args::{LoadedModel, ModelArgs};
use super::predict::{Prediction, rank};
use anyhow::{Context, bail};
use burn::prelude::*;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use output::{Item, MapWriter, OverlayPng, RawNpy, SignedPng, save_png};
use rayon::prelude::*;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use summary::{
    ClassScore, ExplanationSummary, ImageError, ImageSummary, Summary, TargetSummary, Truth,
};
use truth::Truths;
use whycam_cam::{
    CamError, ClassGroups, ExplainOptions, Explainer, ImageExplanation, Method, TargetSpec,
};
use whycam_data::{FetchLimits, Prepared, RgbImage, Source, collect_sources, prepare};
use whycam_models::{LoadOptions, ModelError};
use whycam_render::{Colormap, Heatmap, Layout, OverlayStyle, Panel, Tile, Verdict};

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

/// `ROWSxCOLUMNS` of a contact sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridSize {
    pub rows: u32,
    pub columns: u32,
}

impl std::str::FromStr for GridSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected ROWSxCOLUMNS such as 5x5, got \"{s}\"");
        let (r, c) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let (rows, columns): (u32, u32) = (
            r.trim().parse().map_err(|_| bad())?,
            c.trim().parse().map_err(|_| bad())?,
        );
        if rows == 0 || columns == 0 || rows * columns > 400 {
            return Err(format!("a grid needs 1 to 400 tiles, got {rows}x{columns}"));
        }
        Ok(GridSize { rows, columns })
    }
}

/// Side of a contact-sheet tile in pixels.
const TILE: u32 = 192;

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

    let truths = match &args.truth {
        Some(path) => Truths::from_csv(path, &loaded.labels)?,
        None => Truths::default(),
    };
    let (sources, missing) = collect_sources(&inputs);
    let mut errors: Vec<ImageError> = missing
        .into_iter()
        .map(|(source, e)| ImageError {
            image: source.to_string(),
            error: e.to_string(),
        })
        .collect();
    let style = OverlayStyle {
        colormap: args.colormap,
        alpha: args.alpha,
        gray_background: args.gray_background,
    };
    let mut writers: Vec<Box<dyn MapWriter>> = vec![Box::new(OverlayPng)];
    if args.save_raw {
        writers.push(Box::new(RawNpy));
    }
    if args.signed {
        writers.push(Box::new(SignedPng { style }));
    }
    let mut tiles: Vec<Vec<Tile>> = vec![Vec::new(); explainer.methods().len()];
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
                        let truth = truths.find(&item.source, &loaded.labels);
                        let context = WriteContext {
                            args: &args,
                            explainer: &explainer,
                            loaded: &loaded,
                            writers: &writers,
                            style: &style,
                        };
                        match write_image(&context, item, &explanation, &stem, truth) {
                            Ok((summary, image_tiles)) => {
                                images.push(summary);
                                if args.grid.is_some() {
                                    for (all, tile) in tiles.iter_mut().zip(image_tiles) {
                                        all.push(tile);
                                    }
                                }
                            }
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
    let grids = match args.grid {
        Some(size) if !images.is_empty() => write_grids(&args.out, &explainer, &tiles, size)?,
        _ => Vec::new(),
    };

    let summary = Summary {
        model: loaded.model.name.clone(),
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
        grids,
        errors,
    };
    let json_path = args.out.join("explanations.json");
    let json = serde_json::to_string_pretty(&summary)?;
    std::fs::write(&json_path, format!("{json}\n"))
        .with_context(|| format!("writing {}", json_path.display()))?;
    let report = if args.report {
        Some(super::report::write(
            &args.out,
            &args.out.join("report.html"),
        )?)
    } else {
        None
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{json}")?;
    } else {
        print_table(&mut out, &summary, &json_path)?;
        if let Some(report) = &report {
            writeln!(out, "report: {}", report.display())?;
        }
    }
    if args.grid.is_some() && summary.images.is_empty() {
        bail!("--grid: no image was explained, so there is nothing to put in a grid");
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
    // Inputs of one shape run together (all of them, unless --preprocess shorter).
    let mut out = Vec::with_capacity(batch.len());
    for run in batch.chunk_by(|a, b| {
        (a.prepared.width, a.prepared.height) == (b.prepared.width, b.prepared.height)
    }) {
        let (w, h) = (
            run[0].prepared.width as usize,
            run[0].prepared.height as usize,
        );
        let data: Vec<f32> = run
            .iter()
            .flat_map(|i| i.prepared.data.iter().copied())
            .collect();
        let x = Tensor::<4>::from_data(
            TensorData::new(data, [run.len(), 3, h, w]),
            &Device::default(),
        );
        out.extend(explainer.explain(x, spec, top_k, &loaded.labels)?);
    }
    Ok(out)
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

/// What writing one image's files needs besides the image.
struct WriteContext<'a> {
    args: &'a ExplainArgs,
    explainer: &'a Explainer<'a>,
    loaded: &'a LoadedModel,
    writers: &'a [Box<dyn MapWriter>],
    style: &'a OverlayStyle,
}

/// Writes one image's files; returns its summary and, with `--grid`, its contact-sheet tile
/// per method.
fn write_image(
    cx: &WriteContext<'_>,
    item: &Decoded,
    explanation: &ImageExplanation,
    stem: &str,
    truth: Option<usize>,
) -> anyhow::Result<(ImageSummary, Vec<Tile>)> {
    let labels = &cx.loaded.labels;
    let ranked = rank(&explanation.logits, labels, explanation.logits.len().max(2));
    let probabilities = class_probabilities(&ranked);
    let several = explanation.targets.len() > 1;
    let layers: Vec<String> = cx
        .explainer
        .layer_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let methods = cx.explainer.methods();
    // Per method, the overlays of every target with their titles (figures and tiles).
    let mut panels: Vec<Vec<Panel>> = vec![Vec::new(); methods.len()];
    let mut explanations = Vec::new();
    for target in &explanation.targets {
        let probability = target_probability(&target.target, &probabilities);
        for map in &target.maps {
            let mut name = format!("{stem}.{}", map.method.id());
            if several {
                name = format!("{name}.{}", target.target.tag());
            }
            let heatmap = Heatmap {
                height: map.map.height,
                width: map.map.width,
                data: &map.map.data,
            };
            let overlay =
                whycam_render::overlay(&item.original, &item.prepared.region, heatmap, cx.style);
            let out = Item {
                original: &item.original,
                region: &item.prepared.region,
                map: &map.map,
                signed: &map.signed,
                overlay: &overlay,
                base: cx.args.out.join(name),
            };
            let files = cx
                .writers
                .par_iter()
                .map(|w| w.write(&out).map(|p| p.display().to_string()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if let Some(slot) = methods.iter().position(|&m| m == map.method) {
                panels[slot].push(Panel {
                    image: overlay,
                    title: format!("{} prob = {probability:.6}", target.target.name),
                });
            }
            explanations.push(ExplanationSummary {
                target: TargetSummary {
                    index: target.target.class,
                    label: target.target.name.clone(),
                    score: target.score,
                    probability,
                },
                method: map.method.id().to_string(),
                layers: layers.clone(),
                files,
            });
        }
    }
    let scores: Vec<ClassScore> = ranked
        .into_iter()
        .take(5)
        .map(|p| ClassScore {
            index: p.index,
            label: p.label,
            probability: p.probability,
        })
        .collect();
    let prediction = scores[0].clone();
    let truth = truth.map(|index| Truth {
        index,
        label: labels
            .get(index)
            .cloned()
            .unwrap_or_else(|| format!("class {index}")),
        correct: index == prediction.index,
    });
    let mut figures = Vec::new();
    if cx.args.figure {
        for (method, method_panels) in methods.iter().zip(&panels) {
            let mut all = vec![Panel {
                image: item.original.clone(),
                title: stem.to_string(),
            }];
            all.extend(method_panels.iter().cloned());
            let figure = whycam_render::side_by_side(&all, Layout::default())?;
            let path = cx
                .args
                .out
                .join(format!("{stem}.{}.figure.png", method.id()));
            figures.push(save_png(&figure, path)?.display().to_string());
        }
    }
    let tiles = panels
        .iter()
        .filter(|_| cx.args.grid.is_some())
        .map(|method_panels| Tile {
            image: method_panels
                .first()
                .map(|p| whycam_render::fit_within(&p.image, TILE, TILE))
                .unwrap_or_else(|| whycam_render::fit_within(&item.original, TILE, TILE)),
            label: format!("{}({:.2})", prediction.label, prediction.probability),
            verdict: match &truth {
                None => Verdict::Unknown,
                Some(t) if t.correct => Verdict::Right,
                Some(_) => Verdict::Wrong,
            },
            note: truth
                .as_ref()
                .filter(|t| !t.correct)
                .map(|t| format!("true: {}", t.label)),
        })
        .collect();
    // A downloaded image exists nowhere else: keep a copy beside the maps for the report.
    let original = match &item.source {
        Source::Url(_) => {
            let path = cx.args.out.join(format!("{stem}.original.jpg"));
            item.original
                .save(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            Some(path.display().to_string())
        }
        Source::File(_) => None,
    };
    let summary = ImageSummary {
        image: item.source.to_string(),
        original,
        prediction,
        top: scores,
        truth,
        explanations,
        figures,
    };
    Ok((summary, tiles))
}

/// Every class's probability, indexed by class, from a ranking of all classes (softmax; for a
/// one-logit head, sigmoid for class 1 and its complement for class 0).
fn class_probabilities(ranked: &[Prediction]) -> Vec<f32> {
    let mut probabilities = vec![0.0; ranked.iter().map(|p| p.index + 1).max().unwrap_or(0)];
    for p in ranked {
        probabilities[p.index] = p.probability;
    }
    probabilities
}

/// The probability of a target: its class's, or the sum over a group's classes.
fn target_probability(target: &whycam_cam::Target, probabilities: &[f32]) -> f32 {
    match target.class {
        Some(c) => probabilities.get(c).copied().unwrap_or(0.0),
        None => target
            .coefficients
            .iter()
            .filter(|(_, c)| *c > 0.0)
            .map(|&(j, _)| probabilities.get(j).copied().unwrap_or(0.0))
            .sum(),
    }
}

/// Writes the contact sheets, `rows × columns` tiles a page, and returns their paths.
fn write_grids(
    out: &Path,
    explainer: &Explainer<'_>,
    tiles: &[Vec<Tile>],
    size: GridSize,
) -> anyhow::Result<Vec<String>> {
    let per_page = (size.rows * size.columns) as usize;
    let layout = Layout {
        size: TILE,
        font_size: 14.0,
    };
    let mut paths = Vec::new();
    for (method, method_tiles) in explainer.methods().iter().zip(tiles) {
        for (page, chunk) in method_tiles.chunks(per_page).enumerate() {
            let sheet = whycam_render::contact_sheet(chunk, size.rows, size.columns, layout)?;
            let name = match page {
                0 => format!("grid.{}.png", method.id()),
                n => format!("grid.{}.{}.png", method.id(), n + 1),
            };
            paths.push(save_png(&sheet, out.join(name))?.display().to_string());
        }
    }
    Ok(paths)
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
