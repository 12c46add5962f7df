//! What can go wrong in a run: [`PipelineError`] for the run as a whole, [`InputError`] for one
//! input of a batch (the run reports it and goes on).

use std::path::PathBuf;
use whycam_data::DataError;

/// A run that could not start or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    #[error(transparent)]
    Model(#[from] whycam_models::ModelError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Cam(#[from] whycam_cam::CamError),
    #[error(transparent)]
    Eval(#[from] whycam_eval::EvalError),
    /// Boxed: training errors are large and rare.
    #[error(transparent)]
    Train(Box<whycam_train::TrainError>),
    #[error(transparent)]
    Render(#[from] whycam_render::RenderError),
    #[error(transparent)]
    Embed(#[from] whycam_embed::EmbedError),

    /// The sample photos could not be fetched.
    #[error("fetching the sample photos")]
    Samples(#[source] Box<whycam_assets::AssetError>),
    /// An architecture's pretrained weights could not be fetched.
    #[error("fetching the pretrained weights of {architecture}")]
    PretrainedWeights {
        architecture: String,
        #[source]
        source: Box<whycam_assets::AssetError>,
    },
    /// No weights are shipped for the architecture and none were given.
    #[error(
        "whycam ships no pretrained weights for {architecture}; give a weights file \
         (for example a torchvision state dict saved with torch.save(model.state_dict(), FILE))"
    )]
    NoPretrainedWeights { architecture: String },
    /// The architecture asked for (`requested`) is not the one a checkpoint's sidecar records.
    #[error("{} holds a {holds} (see {})", whycam_data::shown_path(.weights), whycam_data::shown_path(.sidecar))]
    ArchitectureMismatch {
        requested: String,
        weights: PathBuf,
        holds: String,
        sidecar: PathBuf,
    },
    /// An architecture was named for an ONNX graph, which brings its own.
    #[error(
        "{} is an ONNX graph, which brings its own architecture; name no architecture \
         ({requested}) for it",
        whycam_data::shown_path(.path)
    )]
    ArchitectureForOnnx { requested: String, path: PathBuf },
    /// A token grid was given for a zoo network, which has no token layers.
    #[error(
        "token grid {height}x{width}: {architecture} is a CNN without token layers; the grid \
         is for vision transformers loaded from ONNX"
    )]
    TokensGridForZoo {
        architecture: String,
        height: usize,
        width: usize,
    },
    /// The input size is below what the architecture's pooling layers accept.
    #[error("{architecture} needs inputs of at least {min}x{min} px, got size {size}")]
    InputTooSmall {
        architecture: String,
        min: u32,
        size: u32,
    },
    /// An ONNX graph with a fixed input shape and a different requested size.
    #[error(
        "{} takes only {native}x{native} inputs (its input shape is fixed), got size {size}; \
         export it with dynamic height and width to feed other sizes",
        whycam_data::shown_path(.path)
    )]
    FixedInputSize {
        path: PathBuf,
        native: usize,
        size: u32,
    },
    /// Resizing the shorter side (`--preprocess shorter`) with an ONNX graph whose input
    /// shape is fixed.
    #[error(
        "{}: resizing the shorter side keeps each photo's aspect ratio, but this graph's input \
         shape is fixed ({native}x{native}); export it with dynamic height and width",
        whycam_data::shown_path(.path)
    )]
    ShorterOnFixedInput { path: PathBuf, native: usize },
    /// A normalisation deviation that is zero, negative or not finite.
    #[error("normalisation std {std:?}: every deviation must be positive")]
    BadDeviation { std: [f32; 3] },
    /// A labels file with the wrong number of classes.
    #[error("{} holds {found} labels but the model has {classes} classes", whycam_data::shown_path(.path))]
    LabelCount {
        path: PathBuf,
        found: usize,
        classes: usize,
    },
    /// A checkpoint's sidecar naming another number of classes than its weights have.
    #[error("{} names {found} classes but the weights have {classes}", whycam_data::shown_path(.path))]
    SidecarLabelCount {
        path: PathBuf,
        found: usize,
        classes: usize,
    },
    /// Nothing to run on.
    #[error("no inputs: name image files, directories or URLs, or take the sample photos")]
    NoInputs,
    /// A setting outside its range; `option` is its name as a setting (`road_noise`), which
    /// the command line spells as its flag (`--road-noise`).
    #[error("{option} must be {expected}, got {value}")]
    OutOfRange {
        option: &'static str,
        expected: &'static str,
        value: String,
    },
    /// `--shard` that is not `K/N` with `1 <= K <= N`.
    #[error(
        "--shard {given}: expected K/N with 1 <= K <= N (e.g. 2/8: the second of eight shards)"
    )]
    BadShard { given: String },
    /// `whycam merge` of runs made with other settings.
    #[error(
        "{} holds a run with other settings ({found}) than {} ({wanted}); merge the shards of one run",
        whycam_data::shown_path(.dir),
        whycam_data::shown_path(.first)
    )]
    MergeMismatch {
        dir: PathBuf,
        first: PathBuf,
        found: String,
        wanted: String,
    },
    /// `whycam merge` given the same input in two runs.
    #[error("{image} is in both {} and {}; shards of one run never share an input", whycam_data::shown_path(.first), whycam_data::shown_path(.second))]
    MergeDuplicate {
        image: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// Several best classes (`top_k` above 1) asked for with a fixed target.
    #[error("top_k explains the best classes; it cannot be combined with the target {target}")]
    TopKWithTarget { target: String },
    /// A file or directory could not be read or written.
    #[error("{action} {}: {source}", whycam_data::shown_path(.path))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A directory without `explanations.json`.
    #[error(
        "reading {} (is {} the output directory of whycam explain?): {source}",
        whycam_data::shown_path(.path),
        whycam_data::shown_path(.dir)
    )]
    NoSummary {
        path: PathBuf,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Resuming into a directory whose run had other settings.
    #[error(
        "{} holds a run with other settings ({found}); this run has {wanted}; \
         resume with the same model, layers, methods and target, or write into another directory",
        whycam_data::shown_path(.dir)
    )]
    ResumeMismatch {
        dir: PathBuf,
        found: String,
        wanted: String,
    },
    /// An entry of a resumed run without the overlay a contact sheet needs.
    #[error("the earlier entry of {image} lists no overlay for every method")]
    ResumedEntry { image: String },
    /// Another run is writing into the same directory.
    #[error(
        "{} is in use by another whycam run (process {pid}); wait for it, or write into \
         another directory (if no such run is going on, delete {})",
        whycam_data::shown_path(.dir),
        whycam_data::shown_path(.lock)
    )]
    DirectoryInUse {
        dir: PathBuf,
        pid: u32,
        lock: PathBuf,
    },
    /// `explanations.json` that is not one.
    #[error("{}: not an explain summary: {source}", whycam_data::shown_path(.path))]
    NotASummary {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A summary with nothing in it to report.
    #[error("{}: the run has no images and no errors", whycam_data::shown_path(.path))]
    EmptyRun { path: PathBuf },
    /// A true-labels CSV line that is not `path,label`.
    #[error("{}:{line}: expected path,label", whycam_data::shown_path(.path))]
    TruthLineMalformed { path: PathBuf, line: usize },
    /// A `--metric` name that is not one.
    #[error("unknown metric \"{name}\"; the metrics are {known}")]
    UnknownMetric { name: String, known: String },
    /// A localisation metric without the boxes it needs.
    #[error(
        "metric {metric} needs each image's object box: give a boxes file (path,x0,y0,x1,y1[,label])"
    )]
    MetricNeedsBoxes { metric: &'static str },
    /// A `--boxes` CSV line that is not a box.
    #[error("{}:{line}: {problem}", whycam_data::shown_path(.path))]
    BoxLine {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    /// A CSV line (true labels, boxes) naming a class the model does not have.
    #[error("{}:{line}: \"{label}\" is not one of the model's {classes} classes", whycam_data::shown_path(.path))]
    TruthUnknownLabel {
        path: PathBuf,
        line: usize,
        label: String,
        classes: usize,
    },
    /// A selection that leaves no samples.
    #[error("the dataset has no samples")]
    EmptyDataset,
    /// Validation data with other classes than the training data.
    #[error(
        "the validation data's classes ({}) differ from the training data's ({})",
        .valid.join(", "),
        .train.join(", ")
    )]
    ValidationClasses {
        valid: Vec<String>,
        train: Vec<String>,
    },
    /// Validation data that cannot be opened.
    #[error("opening the validation data {}", whycam_data::shown_path(.path))]
    ValidationData {
        path: PathBuf,
        #[source]
        source: DataError,
    },
    /// The model's classes and the data's do not match; `unknown` images belong to classes
    /// the model does not know (0: none of the names match).
    #[error("{}", class_mismatch(.model, .data, *.unknown))]
    ClassMismatch {
        model: Vec<String>,
        data: Vec<String>,
        unknown: usize,
    },
    /// Scoring a model failed.
    #[error("testing on {data}")]
    Testing {
        data: String,
        #[source]
        source: Box<whycam_train::TrainError>,
    },
    /// `embed` without inputs.
    #[error(
        "no inputs: name a dataset, image files or directories, or take the sample photos or \
         saved features"
    )]
    NoEmbedInputs,
    /// A class choice for loose images, which have no labels.
    #[error(
        "a choice of classes needs a labelled dataset; loose images are coloured by predicted class"
    )]
    ClassesOfLooseImages,
    /// Folders without a single image file.
    #[error("no image files in {}", display_paths(.inputs))]
    NoImageFiles { inputs: Vec<PathBuf> },
    /// A features file that is not a `.npy` array.
    #[error("{}: not a .npy array: {source}", whycam_data::shown_path(.path))]
    NotNpy {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Features that are not a 2-D array.
    #[error("{}: expected a 2-D array (points x features), got shape {shape:?}", whycam_data::shown_path(.path))]
    FeatureShape { path: PathBuf, shape: Vec<u64> },
    /// A features array with no rows or no columns.
    #[error("{}: holds no features (shape {shape:?})", whycam_data::shown_path(.path))]
    NoFeatures { path: PathBuf, shape: Vec<u64> },
    /// A features array whose header declares more values than whycam reads.
    #[error(
        "{}: its header declares shape {shape:?}, over the limit of {limit} values",
        whycam_data::shown_path(.path)
    )]
    FeatureLimit {
        path: PathBuf,
        shape: Vec<u64>,
        limit: u64,
    },
    /// A features array whose header declares more values than the file holds.
    #[error(
        "{}: its header declares shape {shape:?}, more than the {holds} bytes the file holds",
        whycam_data::shown_path(.path)
    )]
    FeaturesCut {
        path: PathBuf,
        shape: Vec<u64>,
        holds: u64,
    },
    /// Features of a type other than float32 or float64.
    #[error("{}: features must be float32 or float64, got {dtype}", whycam_data::shown_path(.path))]
    FeatureType { path: PathBuf, dtype: String },
    /// A `samples.csv` with another number of rows than its features.
    #[error("{} names {rows} points but {} holds {points}", whycam_data::shown_path(.csv), whycam_data::shown_path(.features))]
    FeatureRows {
        csv: PathBuf,
        rows: usize,
        features: PathBuf,
        points: usize,
    },
    /// A CSV file that cannot be read.
    #[error("reading {}: {source}", whycam_data::shown_path(.path))]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    /// Too few images for t-SNE at the perplexity asked for.
    #[error(
        "{images} image(s) are too few for t-SNE with perplexity {perplexity}: it needs at least \
         {needed}; lower the perplexity, add images or lay them out by PCA only"
    )]
    TooFewForTsne {
        images: usize,
        perplexity: f32,
        needed: usize,
    },
    /// A checkpoint to resume (`path`) without the sidecar `whycam train` writes.
    #[error(
        "no {} beside it; resume takes a checkpoint written by whycam train",
        whycam_data::shown_path(.sidecar)
    )]
    NotACheckpoint { path: PathBuf, sidecar: PathBuf },
    /// A checkpoint to resume (`path`) of another architecture.
    #[error("the checkpoint is a {holds}, not a {wanted}")]
    CheckpointArchitecture {
        path: PathBuf,
        holds: String,
        wanted: String,
    },
    /// Training data with fewer than two classes: nothing to tell apart.
    #[error(
        "training needs at least two classes to tell apart, the data has {}{}; give it a \
         folder per class (or a CSV with two or more labels)",
        .classes.len(),
        if .classes.is_empty() { String::new() } else { format!(": {}", .classes.join(", ")) }
    )]
    OneClass { classes: Vec<String> },
    /// A binary head for data without exactly two classes.
    #[error(
        "a binary head needs two classes, the data has {}: {} (pick two of them)",
        .classes.len(),
        .classes.join(", ")
    )]
    BinaryHeadClasses { classes: Vec<String> },
    /// A checkpoint to resume trained on other classes.
    #[error(
        "the checkpoint was trained on the classes {} but the data has {}",
        .checkpoint.join(", "),
        .data.join(", ")
    )]
    CheckpointClasses {
        checkpoint: Vec<String>,
        data: Vec<String>,
    },
    /// A checkpoint that has done every epoch asked for.
    #[error("the checkpoint has done {done} of {total} epochs already; ask for more epochs")]
    CheckpointDone { done: usize, total: usize },
    /// An ONNX graph as the starting weights of fine-tuning.
    #[error(
        "{} is an ONNX graph: whycam explains, predicts with and embeds ONNX models, but \
         fine-tunes only from a state dict (.pth or .safetensors) of a zoo architecture",
        whycam_data::shown_path(.path)
    )]
    FineTuneOnnx { path: PathBuf },
    /// No image of the training data's sample could be read.
    #[error("no readable image in the first samples of the training data")]
    NoReadableSample,
    /// PCA of the features failed.
    #[error("PCA of the features")]
    Pca(#[source] whycam_embed::EmbedError),
    /// t-SNE of the features failed.
    #[error("t-SNE of the features")]
    Tsne(#[source] whycam_embed::EmbedError),
}

impl From<whycam_train::TrainError> for PipelineError {
    fn from(e: whycam_train::TrainError) -> Self {
        PipelineError::Train(Box::new(e))
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| whycam_data::shown_path(p))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An error and its causes, `outer: inner: innermost`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn class_mismatch(model: &[String], data: &[String], unknown: usize) -> String {
    if unknown == 0 {
        format!(
            "the model's classes ({}) do not match the data's ({})",
            model.join(", "),
            data.join(", ")
        )
    } else {
        format!(
            "{unknown} image(s) of the data belong to classes the model does not know \
             (model: {}; data: {}); pick the model's classes of the data",
            model.join(", "),
            data.join(", ")
        )
    }
}

impl PipelineError {
    /// An I/O error while `action` (`"writing"`, `"reading"`, `"creating"`) on `path`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| PipelineError::Io {
            action,
            path,
            source,
        }
    }
}

/// Result of a pipeline call.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// What kind of failure stopped one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum InputErrorKind {
    /// The input is not a readable image (corrupt, truncated, unsupported).
    Decode,
    /// Refused to stay within limits (pixel count, size, aspect).
    Limits,
    /// A URL could not be downloaded.
    Fetch,
    /// A file could not be read, or an output of it could not be written.
    Io,
    /// The network failed on the batch that held it.
    Model,
    /// A 2-D layout of embedded points (t-SNE beside PCA) could not be computed.
    Layout,
}

/// One input that could not be done; the rest of the run goes on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.message())]
pub struct InputError {
    /// The input as the user gave it (path or URL).
    pub input: String,
    /// What kind of failure it was.
    pub kind: InputErrorKind,
    /// The cause.
    pub cause: String,
    /// Whether `cause` already names the input (errors about a file name it).
    names_input: bool,
}

impl InputError {
    /// A failure to read or prepare `input`; data errors name their file.
    pub fn data(input: impl Into<String>, error: &DataError) -> Self {
        let kind = match error {
            DataError::Io { .. } | DataError::NotRegularFile { .. } => InputErrorKind::Io,
            DataError::Limits { .. }
            | DataError::Size { .. }
            | DataError::FileTooLarge { .. }
            | DataError::DeclaredSize { .. } => InputErrorKind::Limits,
            DataError::Fetch { .. } => InputErrorKind::Fetch,
            _ => InputErrorKind::Decode,
        };
        InputError {
            input: input.into(),
            kind,
            cause: error.to_string(),
            names_input: true,
        }
    }

    /// A failure of `kind` that does not name the input itself.
    pub fn other(input: impl Into<String>, kind: InputErrorKind, cause: impl ToString) -> Self {
        let input = input.into();
        let cause = cause.to_string();
        InputError {
            input,
            kind,
            cause,
            names_input: false,
        }
    }

    /// The message for the user: the cause, prefixed with the input unless it names it.
    pub fn message(&self) -> String {
        if self.names_input {
            self.cause.clone()
        } else {
            format!("{}: {}", self.input, self.cause)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PipelineError as E;
    use std::path::PathBuf;

    /// The library serves front ends without flags (Python, a server): its messages about
    /// settings name them as settings; the command line names its flags itself.
    #[test]
    fn messages_about_settings_name_no_flag() {
        let classes = || vec!["cat".to_string(), "dog".to_string(), "fox".to_string()];
        let path = || PathBuf::from("net.onnx");
        let errors = [
            E::TopKWithTarget {
                target: "cat".into(),
            },
            E::OutOfRange {
                option: "road_noise",
                expected: "a standard deviation >= 0",
                value: "-1".into(),
            },
            E::BadDeviation { std: [0.0; 3] },
            E::TokensGridForZoo {
                architecture: "resnet18".into(),
                height: 14,
                width: 14,
            },
            E::ArchitectureForOnnx {
                requested: "resnet18".into(),
                path: path(),
            },
            E::InputTooSmall {
                architecture: "vgg11".into(),
                min: 32,
                size: 16,
            },
            E::FixedInputSize {
                path: path(),
                native: 224,
                size: 256,
            },
            E::ShorterOnFixedInput {
                path: path(),
                native: 224,
            },
            E::NoInputs,
            E::NoEmbedInputs,
            E::NoPretrainedWeights {
                architecture: "vgg11".into(),
            },
            E::TooFewForTsne {
                images: 5,
                perplexity: 30.0,
                needed: 92,
            },
            E::BinaryHeadClasses { classes: classes() },
            E::CheckpointDone { done: 2, total: 2 },
            E::MetricNeedsBoxes {
                metric: "pointing-game",
            },
            E::ClassesOfLooseImages,
            E::ClassMismatch {
                model: classes(),
                data: classes(),
                unknown: 3,
            },
        ];
        for error in errors {
            let message = error.to_string();
            assert!(!message.contains("--"), "{message}");
        }
    }
}
