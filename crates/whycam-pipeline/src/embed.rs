//! A model's feature space in two dimensions. Each image's activation at a layer (by default
//! the one the classifier pools) is globally average-pooled into a feature vector; PCA and
//! Barnes-Hut t-SNE lay the vectors out in 2-D, drawn coloured by class, with the coordinates
//! as CSV, the features as `.npy` and a `summary.json`.

use crate::data::{Data, Selection, eval_loader, limited};
use crate::error::{InputError, InputErrorKind, PipelineError, Result};
use crate::open::OpenedModel;
use crate::write;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use whycam_data::datasets::{self, FileList};
use whycam_data::{DecodeLimits, Split, collect_inputs};
use whycam_embed::{Init, Pca, TsneConfig, neighbour_agreement};
use whycam_render::Scatter;

/// What the points are and how they are coloured.
pub struct Points {
    /// Features, row-major `n × dim`.
    pub features: Vec<f32>,
    pub dim: usize,
    /// Where each point comes from.
    pub paths: Vec<String>,
    /// Colour class of each point (index into `classes`).
    pub labels: Vec<usize>,
    /// Legend names.
    pub classes: Vec<String>,
    /// Predicted class name of each point, when a model ran.
    pub predicted: Option<Vec<String>>,
    /// What the colours mean, for titles.
    pub coloured_by: &'static str,
    /// Inputs that could not be used.
    pub failures: Vec<InputError>,
    /// The dataset and the index of each point in it, for thumbnails.
    images: Option<(Data, Vec<usize>)>,
}

impl Points {
    /// The number of points.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The picture of point `i`: from the dataset, or the file its path names.
    fn image(&self, i: usize, limits: &DecodeLimits) -> Option<whycam_data::RgbImage> {
        match &self.images {
            Some((data, indices)) => data.image(indices[i]).ok(),
            None => whycam_data::load_rgb8(Path::new(&self.paths[i]), limits).ok(),
        }
    }
}

/// `summary.json`'s failures: `{input, error, kind}` each.
fn failure_records<S: serde::Serializer>(
    failures: &[InputError],
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Record<'a> {
        input: &'a str,
        error: &'a str,
        kind: InputErrorKind,
    }
    serializer.collect_seq(failures.iter().map(|f| Record {
        input: &f.input,
        error: &f.cause,
        kind: f.kind,
    }))
}

/// One 2-D projection of the features (a PCA or t-SNE layout) and its files.
#[derive(Debug, Clone, Serialize)]
pub struct Projection {
    pub method: &'static str,
    pub seconds: f64,
    /// Mean share of each point's k nearest neighbours in 2-D with its colour class.
    pub neighbour_agreement: Option<f64>,
    pub csv: String,
    pub png: String,
    pub svg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnails: Option<String>,
    /// What the method reports of itself (explained variance, t-SNE settings).
    #[serde(flatten)]
    pub details: serde_json::Value,
    /// The same, typed, for a front end to show (not in the summary: `details` is).
    #[serde(skip)]
    pub made_by: ProjectionMethod,
    /// The coordinates, `x, y` per point (in the CSV, not the summary).
    #[serde(skip)]
    pub xy: Vec<f32>,
}

/// How a projection was made.
#[derive(Debug, Clone)]
pub enum ProjectionMethod {
    /// PCA, with every component's share of the variance.
    Pca { explained_variance_ratio: Vec<f64> },
    /// t-SNE with these settings.
    Tsne(TsneConfig),
}

/// The name of a t-SNE start, as `summary.json` records it.
pub fn init_name(init: Init) -> &'static str {
    match init {
        Init::Pca => "pca",
        Init::Random => "random",
    }
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedSummary {
    pub source: String,
    pub model: Option<String>,
    pub weights: Option<String>,
    pub layer: Option<String>,
    pub points: usize,
    pub dimensions: usize,
    pub coloured_by: &'static str,
    pub classes: Vec<String>,
    pub neighbours: usize,
    /// The same score in the feature space itself.
    pub feature_neighbour_agreement: Option<f64>,
    pub extraction_seconds: f64,
    pub layouts: Vec<Projection>,
    /// Inputs (and a t-SNE layout beside PCA) that could not be done.
    #[serde(serialize_with = "failure_records")]
    pub failures: Vec<InputError>,
}

/// The images to embed.
pub struct EmbedInputs {
    pub data: Data,
    /// Whether `data` carries the labels to colour by (else the predictions do).
    pub labelled: bool,
    /// Inputs that could not be found.
    pub failures: Vec<InputError>,
}

/// The inputs as a dataset: one labelled dataset (unless `as_images`), or loose image files
/// and folders coloured by predicted class.
pub fn open_inputs(
    inputs: &[PathBuf],
    as_images: bool,
    selection: &Selection,
    split: Split,
    limits: DecodeLimits,
) -> Result<EmbedInputs> {
    if inputs.is_empty() {
        return Err(PipelineError::NoEmbedInputs);
    }
    if let [path] = inputs
        && !as_images
        && is_dataset(path)
    {
        return Ok(EmbedInputs {
            data: selection.open(path, split)?,
            labelled: true,
            failures: Vec::new(),
        });
    }
    if !selection.classes.is_empty() {
        return Err(PipelineError::ClassesOfLooseImages);
    }
    let (files, missing) = collect_inputs(inputs);
    let failures: Vec<InputError> = missing
        .into_iter()
        .map(|(path, e)| InputError::data(whycam_data::shown_path(&path), &e))
        .collect();
    if files.is_empty() && failures.is_empty() {
        return Err(PipelineError::NoImageFiles {
            inputs: inputs.to_vec(),
        });
    }
    let data = limited(
        Arc::new(FileList::unlabelled(files, limits)),
        selection.limit,
    )?;
    Ok(EmbedInputs {
        data,
        labelled: false,
        failures,
    })
}

/// Whether `path` is a labelled dataset rather than a folder of loose images: a CSV list, a
/// layout with fixed splits, or a folder whose subfolders are classes.
pub fn is_dataset(path: &Path) -> bool {
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

/// Runs the network over the inputs in batches, pooling layer `layer`; `progress` is told how
/// many inputs each batch finished, and returns `false` to stop after it (Ctrl-C): the
/// points are then those done.
pub fn extract(
    opened: &OpenedModel,
    inputs: EmbedInputs,
    layer: usize,
    batch_size: usize,
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<Points> {
    let EmbedInputs {
        data,
        labelled,
        mut failures,
    } = inputs;
    let loader = eval_loader(data.clone(), opened.preprocess, batch_size)?;
    let size = opened.preprocess.size as usize;
    let (mut features, mut dim) = (Vec::new(), 0);
    let (mut paths, mut truth, mut predicted) = (Vec::new(), Vec::new(), Vec::new());
    let mut indices = Vec::new();
    for batch in loader.epoch(0) {
        let done = batch.len() + batch.skipped.len();
        failures.extend(
            batch
                .skipped
                .iter()
                .map(|s| InputError::data(data.describe(s.index), &s.cause)),
        );
        if !batch.is_empty() {
            let n = batch.len();
            let (pooled, logits) = opened.model.pooled_features(batch.images, n, size, layer)?;
            dim = pooled.len() / n;
            features.extend(pooled);
            let classes = logits.len() / n;
            predicted.extend(
                logits
                    .chunks(classes)
                    .map(|row| crate::rank::rank(row, &opened.labels, 1).remove(0).label),
            );
            truth.extend(batch.labels);
            paths.extend(batch.indices.iter().map(|&i| data.describe(i)));
            indices.extend(batch.indices);
        }
        if !progress(done) {
            break;
        }
    }
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

/// Writes a CSV file whole, or nothing.
fn write_csv(
    path: &Path,
    rows: impl FnOnce(&mut csv::Writer<&mut dyn std::io::Write>) -> csv::Result<()>,
) -> Result<()> {
    write::with_writer(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        rows(&mut csv).map_err(std::io::Error::other)?;
        csv.flush()
    })
}

/// `features.npy` and `samples.csv` (`path,label,predicted`, one row per feature row).
pub fn write_features(out: &Path, points: &Points) -> Result<()> {
    write::npy(
        &out.join("features.npy"),
        &[points.len() as u64, points.dim as u64],
        &points.features,
    )?;
    let predicted = points.predicted.as_deref();
    write_csv(&out.join("samples.csv"), |csv| {
        csv.write_record(["path", "label", "predicted"])?;
        for (i, p) in points.paths.iter().enumerate() {
            let label = &points.classes[points.labels[i]];
            let pred = predicted.map_or("", |p| p[i].as_str());
            csv.write_record([p.as_str(), label.as_str(), pred])?;
        }
        Ok(())
    })
}

/// The most feature values a `.npy` may declare (1 GiB of float32).
pub const MAX_FEATURE_VALUES: u64 = 1 << 28;

/// Features saved by an earlier run, with the names and labels of its `samples.csv`. The
/// array may be float32 or float64, in C or Fortran order.
pub fn read_features(path: &Path) -> Result<Points> {
    let file = std::fs::File::open(path).map_err(PipelineError::io("opening", path))?;
    let holds = file
        .metadata()
        .map_err(PipelineError::io("reading", path))?
        .len();
    npy_header_fits(path, &file, holds)?;
    // npyz computes strides from the declared shape without checked arithmetic.
    let opened = std::panic::catch_unwind(|| npyz::NpyFile::new(std::io::BufReader::new(file)));
    let npy = match opened {
        Ok(npy) => npy.map_err(|source| PipelineError::NotNpy {
            path: path.to_path_buf(),
            source,
        })?,
        Err(_) => {
            return Err(PipelineError::NotNpy {
                path: path.to_path_buf(),
                source: std::io::Error::other("its header declares a shape too large to index"),
            });
        }
    };
    let shape = npy.shape().to_vec();
    let [n, d] = shape[..] else {
        return Err(PipelineError::FeatureShape {
            path: path.to_path_buf(),
            shape,
        });
    };
    if n == 0 || d == 0 {
        return Err(PipelineError::NoFeatures {
            path: path.to_path_buf(),
            shape,
        });
    }
    let item_size = match npy.dtype() {
        npyz::DType::Plain(t)
            if t.type_char() == npyz::TypeChar::Float && matches!(t.size_field(), 4 | 8) =>
        {
            t.size_field()
        }
        other => {
            return Err(PipelineError::FeatureType {
                path: path.to_path_buf(),
                dtype: other.descr(),
            });
        }
    };
    // What the header declares must be in the file, and within the limit, before anything
    // is allocated.
    let values = n.checked_mul(d).filter(|&v| v <= MAX_FEATURE_VALUES);
    let Some(values) = values else {
        return Err(PipelineError::FeatureLimit {
            path: path.to_path_buf(),
            shape,
            limit: MAX_FEATURE_VALUES,
        });
    };
    if values.saturating_mul(item_size) > holds {
        return Err(PipelineError::FeaturesCut {
            path: path.to_path_buf(),
            shape,
            holds,
        });
    }
    let fortran = npy.order() == npyz::Order::Fortran;
    let (n, d) = (n as usize, d as usize);
    let read_error = PipelineError::io("reading", path);
    let mut features: Vec<f32> = if item_size == 4 {
        npy.into_vec::<f32>().map_err(read_error)?
    } else {
        npy.into_vec::<f64>()
            .map_err(read_error)?
            .into_iter()
            .map(|v| v as f32)
            .collect()
    };
    if fortran {
        // Column-major (numpy's order='F'): value (i, j) is at j * n + i.
        features = (0..n * d).map(|k| features[(k % d) * n + k / d]).collect();
    }
    let csv_path = path.with_file_name("samples.csv");
    let (paths, names) = if csv_path.is_file() {
        let csv_error = |e: csv::Error| PipelineError::Csv {
            path: csv_path.clone(),
            source: e,
        };
        let mut reader = csv::Reader::from_path(&csv_path).map_err(csv_error)?;
        let mut paths = Vec::new();
        let mut names = Vec::new();
        for record in reader.records() {
            let record = record.map_err(csv_error)?;
            paths.push(record.get(0).unwrap_or("").to_string());
            names.push(record.get(1).unwrap_or("").to_string());
        }
        if paths.len() != n {
            return Err(PipelineError::FeatureRows {
                csv: csv_path.clone(),
                rows: paths.len(),
                features: path.to_path_buf(),
                points: n,
            });
        }
        (paths, names)
    } else {
        (
            (0..n)
                .map(|i| format!("{}#{i}", whycam_data::shown_path(path)))
                .collect(),
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

/// Refuses a `.npy` whose preamble declares a header longer than the file: npyz allocates
/// that length (up to 4 GiB in format versions 2 and 3) before reading it. Leaves `file` at
/// its start; anything else wrong with the preamble is left for npyz to report.
fn npy_header_fits(path: &Path, mut file: &std::fs::File, holds: u64) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let read_error = PipelineError::io("reading", path);
    let mut preamble = Vec::with_capacity(12);
    file.take(12)
        .read_to_end(&mut preamble)
        .map_err(read_error)?;
    file.seek(SeekFrom::Start(0))
        .map_err(PipelineError::io("reading", path))?;
    if preamble.len() < 12 || !preamble.starts_with(b"\x93NUMPY") {
        return Ok(());
    }
    let (start, declared) = match preamble[6] {
        1 => (
            10,
            u64::from(u16::from_le_bytes([preamble[8], preamble[9]])),
        ),
        2 | 3 => (
            12,
            u64::from(u32::from_le_bytes([
                preamble[8],
                preamble[9],
                preamble[10],
                preamble[11],
            ])),
        ),
        _ => return Ok(()),
    };
    if start + declared > holds {
        return Err(PipelineError::NotNpy {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("its header declares {declared} bytes, but the file holds {holds} in all"),
            ),
        });
    }
    Ok(())
}

/// Which layouts, and how they are drawn.
#[derive(Debug, Clone)]
pub struct LayoutConfig {
    /// Where the pictures, CSVs and summary go.
    pub out: PathBuf,
    /// Also draw small pictures of the images at their positions, decoded within these
    /// limits.
    pub thumbnails: Option<DecodeLimits>,
    /// Neighbours counted by the label-agreement score (0: no score).
    pub neighbours: usize,
}

/// The PCA layout: all components' explained variance ratio, the first two drawn.
pub fn pca_layout(points: &Points, config: &LayoutConfig) -> Result<Projection> {
    let (n, d) = (points.len(), points.dim);
    let t = Instant::now();
    let pca = Pca::fit(&points.features, n, d, n.min(d)).map_err(PipelineError::Pca)?;
    let mut two = pca.clone();
    two.components.truncate(2);
    let mut xy = two.transform(&points.features, d);
    if two.components.len() == 1 {
        xy = xy.into_iter().flat_map(|v| [v, 0.0]).collect();
    }
    let seconds = t.elapsed().as_secs_f64();
    let ratio = &pca.explained_variance_ratio;
    let second = ratio.get(1).copied().unwrap_or(0.0);
    let axes = [
        format!("PC1 ({:.1}%)", ratio[0] * 100.0),
        format!("PC2 ({:.1}%)", second * 100.0),
    ];
    let details = serde_json::json!({
        "explained_variance_ratio": ratio,
        "explained_variance": pca.explained_variance,
    });
    let drawn = Drawn {
        stem: "pca",
        name: "PCA",
        axes,
        xy,
        seconds,
        details,
        made_by: ProjectionMethod::Pca {
            explained_variance_ratio: ratio.clone(),
        },
    };
    write_layout(points, config, drawn)
}

/// The t-SNE layout.
pub fn tsne_layout(
    points: &Points,
    config: &LayoutConfig,
    tsne: &TsneConfig,
) -> Result<Projection> {
    let n = points.len();
    let t = Instant::now();
    let xy =
        whycam_embed::tsne(&points.features, n, points.dim, tsne).map_err(PipelineError::Tsne)?;
    let seconds = t.elapsed().as_secs_f64();
    let details = serde_json::json!({
        "perplexity": tsne.perplexity,
        "learning_rate": tsne.learning_rate.map_or("auto".to_string(), |l| l.to_string()),
        "iterations": tsne.iterations,
        "theta": tsne.theta,
        "init": init_name(tsne.init),
        "seed": tsne.seed,
        "pca_dims": tsne.pca_dims,
    });
    let drawn = Drawn {
        stem: "tsne",
        name: "t-SNE",
        axes: ["t-SNE 1".to_string(), "t-SNE 2".to_string()],
        xy,
        seconds,
        details,
        made_by: ProjectionMethod::Tsne(tsne.clone()),
    };
    write_layout(points, config, drawn)
}

/// A computed layout before it is written.
struct Drawn {
    stem: &'static str,
    name: &'static str,
    axes: [String; 2],
    xy: Vec<f32>,
    seconds: f64,
    details: serde_json::Value,
    made_by: ProjectionMethod,
}

/// Writes a layout's CSV (`path,label,x,y`), PNG and SVG (and thumbnails when asked).
fn write_layout(points: &Points, config: &LayoutConfig, drawn: Drawn) -> Result<Projection> {
    let Drawn {
        stem,
        name,
        axes,
        xy,
        seconds,
        details,
        made_by,
    } = drawn;
    let out = &config.out;
    let csv_path = out.join(format!("{stem}.csv"));
    write_csv(&csv_path, |csv| {
        csv.write_record(["path", "label", "x", "y"])?;
        for (i, p) in points.paths.iter().enumerate() {
            csv.write_record([
                p.as_str(),
                points.classes[points.labels[i]].as_str(),
                &xy[2 * i].to_string(),
                &xy[2 * i + 1].to_string(),
            ])?;
        }
        Ok(())
    })?;
    let xy2: Vec<[f32; 2]> = xy.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
    let plot = Scatter {
        points: &xy2,
        labels: &points.labels,
        classes: &points.classes,
        title: format!(
            "{name} of {} points, coloured by {}",
            points.len(),
            points.coloured_by
        ),
        axes,
    };
    let png = out.join(format!("{stem}.png"));
    write::png(&plot.png(1000, 800), &png)?;
    let svg = out.join(format!("{stem}.svg"));
    write::atomically(&svg, plot.svg(1000, 800).as_bytes())?;
    let thumbnails = match &config.thumbnails {
        Some(limits) => {
            let path = out.join(format!("{stem}.thumbnails.png"));
            // Large pictures for a few points, 40 px for thousands.
            let side = (1000.0 / (points.len() as f32).sqrt()).clamp(40.0, 160.0) as u32;
            let picture = plot.png_with_thumbnails(1600, 1280, side, |i| points.image(i, limits));
            write::png(&picture, &path)?;
            Some(whycam_data::shown_path(&path).into_owned())
        }
        None => None,
    };
    Ok(Projection {
        method: name,
        seconds,
        neighbour_agreement: None,
        csv: whycam_data::shown_path(&csv_path).into_owned(),
        png: whycam_data::shown_path(&png).into_owned(),
        svg: whycam_data::shown_path(&svg).into_owned(),
        thumbnails,
        details,
        made_by,
        xy,
    })
}

/// The `k`-nearest-neighbour label agreement of points `x` (`d` columns), when it means
/// something: at least two classes and more points than neighbours.
pub fn agreement(points: &Points, x: &[f32], d: usize, k: usize) -> Option<f64> {
    let n = points.len();
    (k > 0 && points.classes.len() > 1 && n > k + 1)
        .then(|| neighbour_agreement(x, d, &points.labels, k))
}

/// Every layout asked for, scored, and `summary.json`. A t-SNE failure with PCA also asked
/// for is recorded as a failure and the PCA picture stays; alone, it is the error.
pub fn lay_out(
    points: &Points,
    config: &LayoutConfig,
    pca: bool,
    tsne: Option<&TsneConfig>,
    mut summary: EmbedSummary,
) -> Result<EmbedSummary> {
    let k = config.neighbours;
    summary.feature_neighbour_agreement = agreement(points, &points.features, points.dim, k);
    if pca {
        let mut layout = pca_layout(points, config)?;
        layout.neighbour_agreement = agreement(points, &layout.xy, 2, k);
        summary.layouts.push(layout);
    }
    if let Some(tsne) = tsne {
        match tsne_layout(points, config, tsne) {
            Ok(mut layout) => {
                layout.neighbour_agreement = agreement(points, &layout.xy, 2, k);
                summary.layouts.push(layout);
            }
            Err(e) if pca => summary.failures.push(InputError::other(
                "t-SNE",
                InputErrorKind::Layout,
                crate::error::chain(&e),
            )),
            Err(e) => return Err(e),
        }
    }
    let json = serde_json::to_string_pretty(&summary).expect("the summary serialises");
    write::atomically(
        &config.out.join("summary.json"),
        format!("{json}\n").as_bytes(),
    )?;
    Ok(summary)
}

/// Where the points of an embed run come from.
pub enum EmbedSource {
    /// Features saved by an earlier run (its `features.npy`, with `samples.csv` beside it).
    Saved(PathBuf),
    /// Images run through a model, each pooled at a layer.
    Extracted(Box<Extraction>),
}

/// Features to extract: the model, the layer and the inputs.
pub struct Extraction {
    /// The model, opened when the run starts.
    pub model: crate::open::ModelSpec,
    /// The layer whose output is average-pooled (default: the one the classifier pools).
    pub layer: Option<String>,
    /// A dataset, or image files and folders.
    pub inputs: Vec<PathBuf>,
    /// Add the sample photos (fetched into the cache on first use).
    pub samples: bool,
    /// Take the inputs as loose images even when they look like a dataset.
    pub as_images: bool,
    pub selection: Selection,
    pub split: Split,
    pub batch_size: usize,
}

/// An embed run: the points, then each layout asked for, written to `layout.out` with the
/// features (when extracted) and `summary.json`.
pub struct EmbedConfig {
    pub source: EmbedSource,
    /// Whether to lay the points out with PCA.
    pub pca: bool,
    /// The t-SNE layout's settings, when asked for.
    pub tsne: Option<TsneConfig>,
    pub layout: LayoutConfig,
}

/// What an embed run reports as it goes, for a front end to show progress.
pub trait EmbedProgress {
    /// Feature extraction starts over `images` inputs.
    fn extracting(&mut self, _images: usize) {}
    /// `done` more inputs are finished; `false` stops after this batch (the points are then
    /// those done).
    fn extracted(&mut self, _done: usize) -> bool {
        true
    }
    /// The features are ready (and written); `summary` has everything but the layouts.
    fn features(&mut self, _summary: &EmbedSummary) {}
    /// The layouts start (t-SNE, when asked, takes a while).
    fn laying_out(&mut self, _points: usize, _tsne: Option<&TsneConfig>) {}
}

/// What an embed run did.
pub struct EmbedOutcome {
    /// The points laid out.
    pub points: Points,
    /// `summary.json`, or `None` when no input could be read (nothing was laid out; the
    /// failures are in `points.failures`).
    pub summary: Option<EmbedSummary>,
    /// Whether extraction was stopped before the end.
    pub interrupted: bool,
}

impl EmbedConfig {
    /// Runs the embedding: extracts or reads the points, writes the features, lays them out.
    pub fn run(&self, progress: &mut dyn EmbedProgress) -> Result<EmbedOutcome> {
        if let Some(tsne) = &self.tsne {
            tsne.validate()?;
        }
        let started = Instant::now();
        let mut interrupted = false;
        let (points, source, model) = match &self.source {
            EmbedSource::Saved(path) => (
                read_features(path)?,
                whycam_data::shown_path(path).into_owned(),
                None,
            ),
            EmbedSource::Extracted(extraction) => {
                let (points, model) = self.extract(extraction, progress, &mut interrupted)?;
                let source = extraction
                    .inputs
                    .iter()
                    .map(|p| whycam_data::shown_path(p).into_owned())
                    .chain(extraction.samples.then(|| "the sample photos".to_string()))
                    .collect::<Vec<_>>()
                    .join(" ");
                (points, source, Some(model))
            }
        };
        let extraction_seconds = started.elapsed().as_secs_f64();
        if points.is_empty() {
            return Ok(EmbedOutcome {
                points,
                summary: None,
                interrupted,
            });
        }
        let out = &self.layout.out;
        crate::explain::files::create_dir(out)?;
        if model.is_some() {
            write_features(out, &points)?;
        }
        let [model, weights, layer] = model.map_or([None, None, None], |m| m.map(Some));
        let summary = EmbedSummary {
            source,
            model,
            weights,
            layer,
            points: points.len(),
            dimensions: points.dim,
            coloured_by: points.coloured_by,
            classes: points.classes.clone(),
            neighbours: self.layout.neighbours,
            feature_neighbour_agreement: None,
            extraction_seconds,
            layouts: Vec::new(),
            failures: points.failures.clone(),
        };
        progress.features(&summary);
        progress.laying_out(points.len(), self.tsne.as_ref());
        let summary = lay_out(&points, &self.layout, self.pca, self.tsne.as_ref(), summary)?;
        Ok(EmbedOutcome {
            points,
            summary: Some(summary),
            interrupted,
        })
    }

    /// Opens the model and the inputs and extracts the points; with them the model's name,
    /// weights and layer.
    fn extract(
        &self,
        extraction: &Extraction,
        progress: &mut dyn EmbedProgress,
        interrupted: &mut bool,
    ) -> Result<(Points, [String; 3])> {
        let opened = extraction
            .model
            .open_for_layers(extraction.layer.as_slice())?;
        let layer = match &extraction.layer {
            Some(name) => opened.model.layer(name)?,
            None => opened.model.net.default_layer(),
        };
        let mut inputs = extraction.inputs.clone();
        if extraction.samples {
            inputs.extend(crate::open::sample_photos()?);
        }
        let inputs = open_inputs(
            &inputs,
            extraction.as_images,
            &extraction.selection,
            extraction.split,
            opened.limits,
        )?;
        // Asked for t-SNE alone, too few images fail before the network runs.
        if let Some(tsne) = self.tsne.as_ref().filter(|_| !self.pca)
            && inputs.data.len() < tsne.min_points()
        {
            return Err(PipelineError::TooFewForTsne {
                images: inputs.data.len(),
                perplexity: tsne.perplexity,
                needed: tsne.min_points(),
            });
        }
        progress.extracting(inputs.data.len());
        let points = extract(&opened, inputs, layer, extraction.batch_size, &mut |n| {
            let go_on = progress.extracted(n);
            *interrupted |= !go_on;
            go_on
        })?;
        let model = [
            opened.model.name.clone(),
            whycam_data::shown_path(&opened.model.weights).into_owned(),
            opened.model.layer_name(layer).to_string(),
        ];
        Ok((points, model))
    }
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
