//! `whycam embed`: a model's feature space in two dimensions. Each image's activation at a
//! stage (by default the last, whose average is what the classifier reads) is globally
//! average-pooled into a feature vector; PCA and Barnes-Hut t-SNE lay the vectors out in 2-D,
//! drawn coloured by class, with the coordinates as CSV and the features as `.npy`.

use super::data_args::{Data, EvalData, limited, loader};
use super::model_args::{LoadedModel, ModelArgs};
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use whycam_data::datasets::{self, FileList};
use whycam_data::{DecodeLimits, collect_inputs};
use whycam_embed::{Init, Pca, TsneConfig, neighbour_agreement};
use whycam_models::{LoadOptions, ModelError};
use whycam_render::Scatter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
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
    /// Stage whose output is average-pooled into the features (see `whycam models NAME`).
    /// Default: the last, whose pooled output is what a linear classifier reads.
    #[arg(long)]
    pub layer: Option<String>,
    /// Which layouts to compute.
    #[arg(long, value_enum, default_value_t = Method::Both)]
    pub method: Method,
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

/// What the points are and how they are coloured.
struct Points {
    /// Features, row-major `n × dim`.
    features: Vec<f32>,
    dim: usize,
    /// Where each point comes from.
    paths: Vec<String>,
    /// Colour class of each point (index into `classes`).
    labels: Vec<usize>,
    /// Legend names.
    classes: Vec<String>,
    /// Predicted class name of each point, when a model ran.
    predicted: Option<Vec<String>>,
    /// What the colours mean, for titles.
    coloured_by: &'static str,
    /// Inputs that could not be used: (input, error).
    failures: Vec<(String, String)>,
    /// The dataset and the index of each point in it, for thumbnails.
    images: Option<(Data, Vec<usize>)>,
}

impl Points {
    /// The picture of point `i`: from the dataset, or the file its path names.
    fn image(&self, i: usize, limits: &DecodeLimits) -> Option<whycam_data::RgbImage> {
        match &self.images {
            Some((data, indices)) => data.image(indices[i]).ok(),
            None => whycam_data::load_rgb8(Path::new(&self.paths[i]), limits).ok(),
        }
    }
}

#[derive(Debug, Serialize)]
struct Layout {
    method: &'static str,
    seconds: f64,
    /// Mean share of each point's k nearest neighbours in 2-D with its colour class.
    neighbour_agreement: Option<f64>,
    csv: String,
    png: String,
    svg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnails: Option<String>,
    #[serde(flatten)]
    details: serde_json::Value,
    /// The coordinates, `x, y` per point (in the CSV, not the summary).
    #[serde(skip)]
    xy: Vec<f32>,
}

#[derive(Debug, Serialize)]
struct Summary {
    source: String,
    model: Option<String>,
    weights: Option<String>,
    layer: Option<String>,
    points: usize,
    dimensions: usize,
    coloured_by: &'static str,
    classes: Vec<String>,
    neighbours: usize,
    /// The same score in the feature space itself.
    feature_neighbour_agreement: Option<f64>,
    extraction_seconds: f64,
    layouts: Vec<Layout>,
    failures: Vec<Failure>,
}

#[derive(Debug, Serialize)]
struct Failure {
    input: String,
    error: String,
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
    let with_pca = args.method != Method::Tsne;
    let with_tsne = args.method != Method::Pca;
    if with_tsne {
        tsne_config.validate()?;
    }
    let started = Instant::now();
    let (points, source, model) = match &args.features {
        Some(path) => (read_features(path)?, path.display().to_string(), None),
        None => {
            let mut loaded = args.model.load()?;
            let stage = match &args.layer {
                Some(name) => match loaded.model.stage(name) {
                    // A convolution's output before its BatchNorm: load the model unfolded.
                    Err(ModelError::StageFolded { .. }) => {
                        loaded = args.model.load_with(LoadOptions {
                            fold_batchnorm: false,
                        })?;
                        loaded.model.stage(name)?
                    }
                    found => found?,
                },
                None => loaded.model.net.default_layer(),
            };
            let layer = loaded.model.layer_name(stage).to_string();
            let inputs = open_inputs(&args, &loaded)?;
            // Asked for t-SNE alone, too few images fail before the network runs.
            if !with_pca && inputs.data.len() < tsne_config.min_points() {
                bail!(
                    "{} image(s) are too few for t-SNE with perplexity {}: it needs at least {}; \
                     lower --perplexity, add images or use --method pca or both",
                    inputs.data.len(),
                    args.perplexity,
                    tsne_config.min_points()
                );
            }
            let points = extract(&loaded, inputs, stage, args.eval.batch_size)?;
            let source = args
                .inputs
                .iter()
                .map(|p| p.display().to_string())
                .chain(args.samples.then(|| "the sample photos".to_string()))
                .collect::<Vec<_>>()
                .join(" ");
            let model = (
                loaded.model.name.clone(),
                loaded.model.weights.display().to_string(),
                layer,
            );
            (points, source, Some(model))
        }
    };
    let extraction_seconds = started.elapsed().as_secs_f64();
    let n = points.paths.len();
    if n == 0 {
        return Ok(super::exit_for_failures(
            points
                .failures
                .iter()
                .map(|(i, e)| (i.as_str(), e.as_str()))
                .chain([(
                    "inputs",
                    "no image could be read, so there is nothing to lay out",
                )]),
        ));
    }
    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if args.features.is_none() {
        write_features(out, &points)?;
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
    let k = args.neighbours;
    // The score means something with at least two classes and more points than neighbours.
    let scored = k > 0 && points.classes.len() > 1 && n > k + 1;
    let score = |x: &[f32], d: usize| scored.then(|| neighbour_agreement(x, d, &points.labels, k));
    let feature_agreement = score(&points.features, points.dim);
    if let Some(a) = feature_agreement {
        println!(
            "  {k}-NN label agreement ({}) in feature space: {a:.4}",
            points.coloured_by
        );
    }

    let mut layouts = Vec::new();
    if with_pca {
        let layout = pca_layout(&args, &points)?;
        let agreement = score(&layout.xy, 2);
        if let Some(a) = agreement {
            println!("  {k}-NN label agreement in the PCA plane: {a:.4}");
        }
        layouts.push(Layout {
            neighbour_agreement: agreement,
            ..layout
        });
    }
    let mut tsne_failure = None;
    if with_tsne {
        match tsne_layout(&args, &points, &tsne_config) {
            Ok(layout) => {
                let agreement = score(&layout.xy, 2);
                if let (Some(a), Some(f)) = (agreement, feature_agreement) {
                    println!(
                        "  {k}-NN label agreement in the t-SNE plane: {a:.4} ({:.3} of the \
                         feature space's)",
                        a / f
                    );
                }
                layouts.push(Layout {
                    neighbour_agreement: agreement,
                    ..layout
                });
            }
            // Asked for both, the PCA picture stays and the t-SNE error counts as a failure.
            Err(e) if with_pca => tsne_failure = Some(format!("{e:#}")),
            Err(e) => return Err(e),
        }
    }

    let summary = Summary {
        source,
        model: model.as_ref().map(|m| m.0.clone()),
        weights: model.as_ref().map(|m| m.1.clone()),
        layer: model.as_ref().map(|m| m.2.clone()),
        points: n,
        dimensions: points.dim,
        coloured_by: points.coloured_by,
        classes: points.classes.clone(),
        neighbours: k,
        feature_neighbour_agreement: feature_agreement,
        extraction_seconds,
        layouts,
        failures: points
            .failures
            .iter()
            .map(|(input, error)| Failure {
                input: input.clone(),
                error: error.clone(),
            })
            .chain(tsne_failure.map(|error| Failure {
                input: "t-SNE".to_string(),
                error,
            }))
            .collect(),
    };
    let path = out.join("summary.json");
    let json = serde_json::to_string_pretty(&summary).expect("the summary serialises");
    std::fs::write(&path, format!("{json}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", out.display());
    Ok(super::exit_for_failures(
        summary
            .failures
            .iter()
            .map(|f| (f.input.as_str(), f.error.as_str())),
    ))
}

/// The images to embed.
struct Inputs {
    data: Data,
    /// Whether `data` carries the labels to colour by (else the predictions do).
    labelled: bool,
    /// Inputs that could not be found: (input, error).
    failures: Vec<(String, String)>,
}

/// The inputs as a dataset.
fn open_inputs(args: &EmbedArgs, loaded: &LoadedModel) -> anyhow::Result<Inputs> {
    let mut inputs = args.inputs.clone();
    if args.samples {
        inputs.extend(whycam_assets::ensure_sample_photos().context("fetching the sample photos")?);
    }
    anyhow::ensure!(
        !inputs.is_empty(),
        "no inputs: name a dataset, image files or directories, or pass --samples or --features"
    );
    if let [path] = inputs.as_slice()
        && !args.images
        && is_dataset(path)
    {
        let data = args.eval.selection.open(path, args.eval.split.into())?;
        return Ok(Inputs {
            data,
            labelled: true,
            failures: Vec::new(),
        });
    }
    if !args.eval.selection.classes.is_empty() {
        bail!("--classes needs a labelled dataset; loose images are coloured by predicted class");
    }
    let (files, missing) = collect_inputs(&inputs);
    let failures: Vec<(String, String)> = missing
        .into_iter()
        .map(|(path, e)| (path.display().to_string(), e.to_string()))
        .collect();
    if files.is_empty() && failures.is_empty() {
        bail!(
            "no image files in {}",
            inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let data = limited(
        Arc::new(FileList::unlabelled(files, loaded.limits)),
        args.eval.selection.limit,
    )?;
    Ok(Inputs {
        data,
        labelled: false,
        failures,
    })
}

/// Whether `path` is a labelled dataset rather than a folder of loose images: a CSV list, a
/// layout with fixed splits, or a folder whose subfolders are classes.
fn is_dataset(path: &Path) -> bool {
    if path.is_file() {
        return path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    }
    datasets::has_test_split(path)
        || std::fs::read_dir(path).is_ok_and(|entries| {
            let entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
            entries.iter().any(|e| e.path().is_dir())
                && !entries
                    .iter()
                    .any(|e| e.path().is_file() && whycam_data::has_image_extension(&e.path()))
        })
}

/// Runs the network over `data` in batches, pooling stage `stage`.
fn extract(
    loaded: &LoadedModel,
    inputs: Inputs,
    stage: usize,
    batch_size: u32,
) -> anyhow::Result<Points> {
    let Inputs {
        data,
        labelled,
        mut failures,
    } = inputs;
    let loader = loader(data.clone(), loaded.preprocess, batch_size, None, 0)?;
    let size = loaded.preprocess.size as usize;
    let progress = ProgressBar::new(data.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images {elapsed} (eta {eta})")
            .expect("valid template"),
    );
    let (mut features, mut dim) = (Vec::new(), 0);
    let (mut paths, mut truth, mut predicted) = (Vec::new(), Vec::new(), Vec::new());
    let mut indices = Vec::new();
    for batch in loader.epoch(0) {
        let done = (batch.len() + batch.skipped.len()) as u64;
        failures.extend(
            batch
                .skipped
                .iter()
                .map(|s| (data.describe(s.index), s.error.clone())),
        );
        if !batch.is_empty() {
            let n = batch.len();
            let (pooled, logits) = loaded.model.pooled_features(batch.images, n, size, stage)?;
            dim = pooled.len() / n;
            features.extend(pooled);
            let classes = logits.len() / n;
            predicted.extend(
                logits
                    .chunks(classes)
                    .map(|row| super::predict::rank(row, &loaded.labels, 1).remove(0).label),
            );
            truth.extend(batch.labels);
            paths.extend(batch.indices.iter().map(|&i| data.describe(i)));
            indices.extend(batch.indices);
        }
        progress.inc(done);
    }
    progress.finish_and_clear();
    let (labels, classes, coloured_by) = if labelled {
        (truth, data.classes().to_vec(), "true class")
    } else {
        let (labels, classes) = legend(&predicted);
        (labels, classes, "predicted class")
    };
    Ok(Points {
        features,
        dim,
        paths,
        labels,
        classes,
        predicted: Some(predicted),
        coloured_by,
        failures,
        images: Some((data, indices)),
    })
}

/// Most classes a legend lists; the rest share one colour.
const LEGEND: usize = 20;

/// Colour classes for names: the most frequent first (ties by first appearance), at most
/// [`LEGEND`] of them with the rest as "other".
fn legend(names: &[String]) -> (Vec<usize>, Vec<String>) {
    let mut counts: Vec<(String, usize, usize)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match counts.iter_mut().find(|c| c.0 == *name) {
            Some(c) => c.1 += 1,
            None => counts.push((name.clone(), 1, i)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    let mut classes: Vec<String> = counts.into_iter().map(|c| c.0).collect();
    if classes.len() > LEGEND {
        classes.truncate(LEGEND - 1);
        classes.push("other".to_string());
    }
    let labels = names
        .iter()
        .map(|n| {
            classes
                .iter()
                .position(|c| c == n)
                .unwrap_or(classes.len() - 1)
        })
        .collect();
    (labels, classes)
}

/// `features.npy` and `samples.csv` (`path,label,predicted`, one row per feature row).
fn write_features(out: &Path, points: &Points) -> anyhow::Result<()> {
    let npy = out.join("features.npy");
    super::write_npy(
        &npy,
        &[points.paths.len() as u64, points.dim as u64],
        &points.features,
    )
    .with_context(|| format!("writing {}", npy.display()))?;
    let path = out.join("samples.csv");
    let mut csv =
        csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    let predicted = points.predicted.as_deref();
    let write = |csv: &mut csv::Writer<std::fs::File>| -> csv::Result<()> {
        csv.write_record(["path", "label", "predicted"])?;
        for (i, p) in points.paths.iter().enumerate() {
            let label = &points.classes[points.labels[i]];
            let pred = predicted.map_or("", |p| p[i].as_str());
            csv.write_record([p.as_str(), label.as_str(), pred])?;
        }
        csv.flush()?;
        Ok(())
    };
    write(&mut csv).with_context(|| format!("writing {}", path.display()))
}

/// Features saved by an earlier run, with the names and labels of its `samples.csv`.
fn read_features(path: &Path) -> anyhow::Result<Points> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file))
        .with_context(|| format!("{}: not a .npy array", path.display()))?;
    let shape = npy.shape().to_vec();
    let [n, d] = shape[..] else {
        bail!(
            "{}: expected a 2-D array (points x features), got shape {shape:?}",
            path.display()
        );
    };
    let (n, d) = (n as usize, d as usize);
    if n == 0 || d == 0 {
        bail!("{}: holds no features (shape {shape:?})", path.display());
    }
    let features: Vec<f32> = match npy.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 => {
            npy.into_vec::<f32>()
                .with_context(|| format!("reading {}", path.display()))?
        }
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 => {
            npy.into_vec::<f64>()
                .with_context(|| format!("reading {}", path.display()))?
                .into_iter()
                .map(|v| v as f32)
                .collect()
        }
        other => bail!(
            "{}: features must be float32 or float64, got {}",
            path.display(),
            other.descr()
        ),
    };
    let csv_path = path.with_file_name("samples.csv");
    let (paths, names) = if csv_path.is_file() {
        let mut reader = csv::Reader::from_path(&csv_path)
            .with_context(|| format!("reading {}", csv_path.display()))?;
        let mut paths = Vec::new();
        let mut names = Vec::new();
        for record in reader.records() {
            let record = record.with_context(|| format!("reading {}", csv_path.display()))?;
            paths.push(record.get(0).unwrap_or("").to_string());
            names.push(record.get(1).unwrap_or("").to_string());
        }
        if paths.len() != n {
            bail!(
                "{} names {} points but {} holds {n}",
                csv_path.display(),
                paths.len(),
                path.display()
            );
        }
        (paths, names)
    } else {
        (
            (0..n).map(|i| format!("{}#{i}", path.display())).collect(),
            vec!["points".to_string(); n],
        )
    };
    // The class order of the run that saved the features keeps its colours; else the order
    // of first appearance.
    let mut classes: Vec<String> = std::fs::read_to_string(path.with_file_name("summary.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|summary| serde_json::from_value(summary["classes"].clone()).ok())
        .unwrap_or_default();
    let labels = names
        .iter()
        .map(|name| {
            classes.iter().position(|c| c == name).unwrap_or_else(|| {
                classes.push(name.clone());
                classes.len() - 1
            })
        })
        .collect();
    Ok(Points {
        features,
        dim: d,
        paths,
        labels,
        classes,
        predicted: None,
        coloured_by: "label",
        failures: Vec::new(),
        images: None,
    })
}

/// The PCA layout: all components' explained variance ratio, the first two drawn.
fn pca_layout(args: &EmbedArgs, points: &Points) -> anyhow::Result<Layout> {
    let (n, d) = (points.paths.len(), points.dim);
    let t = Instant::now();
    let pca = Pca::fit(&points.features, n, d, n.min(d)).context("PCA of the features")?;
    let mut two = pca.clone();
    two.components.truncate(2);
    let mut xy = two.transform(&points.features, d);
    if two.components.len() == 1 {
        xy = xy.into_iter().flat_map(|v| [v, 0.0]).collect();
    }
    let seconds = t.elapsed().as_secs_f64();
    let ratio = &pca.explained_variance_ratio;
    let second = ratio.get(1).copied().unwrap_or(0.0);
    let first: Vec<String> = ratio.iter().take(10).map(|r| format!("{r:.4}")).collect();
    println!(
        "PCA: explained variance ratio PC1 {:.4}, PC2 {second:.4} (together {:.4}); first {}: {}",
        ratio[0],
        ratio[0] + second,
        first.len(),
        first.join(" ")
    );
    let axes = [
        format!("PC1 ({:.1}%)", ratio[0] * 100.0),
        format!("PC2 ({:.1}%)", second * 100.0),
    ];
    let details = serde_json::json!({
        "explained_variance_ratio": ratio,
        "explained_variance": pca.explained_variance,
    });
    write_layout(args, points, "pca", "PCA", axes, xy, seconds, details)
}

/// The t-SNE layout.
fn tsne_layout(args: &EmbedArgs, points: &Points, config: &TsneConfig) -> anyhow::Result<Layout> {
    let n = points.paths.len();
    let t = Instant::now();
    let progress = spinner(format!(
        "t-SNE of {n} points ({} iterations)",
        config.iterations
    ));
    let xy = whycam_embed::tsne(&points.features, n, points.dim, config);
    progress.finish_and_clear();
    let xy = xy.context("t-SNE of the features")?;
    let seconds = t.elapsed().as_secs_f64();
    let init = match config.init {
        Init::Pca => "pca",
        Init::Random => "random",
    };
    println!(
        "t-SNE: perplexity {}, {} iterations, {init} start, seed {}: {seconds:.1} s",
        config.perplexity, config.iterations, config.seed
    );
    let details = serde_json::json!({
        "perplexity": config.perplexity,
        "learning_rate": config.learning_rate.map_or("auto".to_string(), |l| l.to_string()),
        "iterations": config.iterations,
        "theta": config.theta,
        "init": init,
        "seed": config.seed,
        "pca_dims": config.pca_dims,
    });
    let axes = ["t-SNE 1".to_string(), "t-SNE 2".to_string()];
    write_layout(args, points, "tsne", "t-SNE", axes, xy, seconds, details)
}

/// Writes a layout's CSV (`path,label,x,y`), PNG and SVG (and thumbnails when asked).
#[allow(clippy::too_many_arguments)]
fn write_layout(
    args: &EmbedArgs,
    points: &Points,
    stem: &str,
    name: &'static str,
    axes: [String; 2],
    xy: Vec<f32>,
    seconds: f64,
    details: serde_json::Value,
) -> anyhow::Result<Layout> {
    let out = &args.out;
    let csv_path = out.join(format!("{stem}.csv"));
    let write_csv = || -> anyhow::Result<()> {
        let mut csv = csv::Writer::from_path(&csv_path)?;
        csv.write_record(["path", "label", "x", "y"])?;
        for (i, p) in points.paths.iter().enumerate() {
            csv.write_record([
                p.as_str(),
                points.classes[points.labels[i]].as_str(),
                &xy[2 * i].to_string(),
                &xy[2 * i + 1].to_string(),
            ])?;
        }
        csv.flush()?;
        Ok(())
    };
    write_csv().with_context(|| format!("writing {}", csv_path.display()))?;
    let xy2: Vec<[f32; 2]> = xy.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
    let plot = Scatter {
        points: &xy2,
        labels: &points.labels,
        classes: &points.classes,
        title: format!(
            "{name} of {} points, coloured by {}",
            points.paths.len(),
            points.coloured_by
        ),
        axes,
    };
    let png = out.join(format!("{stem}.png"));
    plot.png(1000, 800)
        .save(&png)
        .with_context(|| format!("writing {}", png.display()))?;
    let svg = out.join(format!("{stem}.svg"));
    std::fs::write(&svg, plot.svg(1000, 800))
        .with_context(|| format!("writing {}", svg.display()))?;
    let thumbnails = if args.thumbnails {
        let path = out.join(format!("{stem}.thumbnails.png"));
        let limits = DecodeLimits {
            max_pixels: args.model.max_pixels,
        };
        // Large pictures for a few points, 40 px for thousands.
        let side = (1000.0 / (points.paths.len() as f32).sqrt()).clamp(40.0, 160.0) as u32;
        plot.png_with_thumbnails(1600, 1280, side, |i| points.image(i, &limits))
            .save(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        Some(path.display().to_string())
    } else {
        None
    };
    Ok(Layout {
        method: name,
        seconds,
        neighbour_agreement: None,
        csv: csv_path.display().to_string(),
        png: png.display().to_string(),
        svg: svg.display().to_string(),
        thumbnails,
        details,
        xy,
    })
}

fn spinner(message: String) -> ProgressBar {
    let progress = ProgressBar::new_spinner().with_message(message);
    progress.enable_steady_tick(std::time::Duration::from_millis(200));
    progress
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legend_lists_frequent_classes_first_and_folds_the_tail() {
        let names: Vec<String> = ["b", "a", "a", "c"].iter().map(|s| s.to_string()).collect();
        let (labels, classes) = legend(&names);
        assert_eq!(classes, ["a", "b", "c"]);
        assert_eq!(labels, [1, 0, 0, 2]);
        let many: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        let (labels, classes) = legend(&many);
        assert_eq!(classes.len(), LEGEND);
        assert_eq!(classes[LEGEND - 1], "other");
        assert_eq!(labels[29], LEGEND - 1);
        assert_eq!(labels[3], 3);
    }
}
