//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while naming, building or loading a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The weights file could not be read.
    #[error("cannot read weights {path}: {source}")]
    Io {
        /// The weights file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint whycam can read, or it is damaged.
    #[error("cannot load weights {path}: {message}")]
    Format {
        /// The weights file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The file's tensors do not fit the architecture.
    #[error("weights {path} do not fit {model}:\n{report}")]
    Mismatch {
        /// The weights file.
        path: PathBuf,
        /// The architecture asked for.
        model: String,
        /// Missing, unexpected and wrongly shaped tensors, one per line.
        report: String,
    },
    /// No such architecture.
    #[error("unknown model {name:?}; known models: {known}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The names whycam knows.
        known: String,
    },
    /// No such layer in the model.
    #[error("{model} has no layer {name:?}; its layers are: {known}")]
    LayerNotFound {
        /// The layer asked for.
        name: String,
        /// The architecture.
        model: String,
        /// The accepted layer names.
        known: String,
    },
    /// The layer only exists when BatchNorms are not folded.
    #[error(
        "layer {name:?} of {model} is a convolution whose BatchNorm was folded into it; load the model without folding"
    )]
    LayerFolded {
        /// The layer asked for.
        name: String,
        /// The architecture.
        model: String,
    },
    /// An ONNX file that is damaged, not ONNX, or a graph whycam cannot use.
    #[error("cannot load ONNX model {path}: {message}")]
    Onnx {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Operators whycam does not interpret, all listed (refused before any image is read).
    #[error(
        "cannot run ONNX model {path}: unsupported operators {ops}\n  nodes: {nodes}\n\
         (whycam interprets the operators that CNN and vision-transformer classifiers export \
         to; please report the missing ones)"
    )]
    OnnxUnsupported {
        /// The model file.
        path: PathBuf,
        /// The op types, each with its count.
        ops: String,
        /// The nodes (or the first of them).
        nodes: String,
    },
    /// An external data file the model names could not be read.
    #[error("ONNX model {path} keeps its weights in {data}, which cannot be read: {source}")]
    ExternalData {
        /// The model file.
        path: PathBuf,
        /// The data file.
        data: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The graph's input is not one batch of RGB images.
    #[error("ONNX model {path} does not take images: {reason}")]
    NotAnImage {
        /// The model file.
        path: PathBuf,
        /// What its inputs are.
        reason: String,
    },
    /// A weight holds NaN or infinity.
    #[error("weights {path}: tensor {tensor:?} holds {what}")]
    NonFinite {
        /// The weights file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// `NaN` or `infinity`.
        what: String,
    },
    /// The layer exists but has no spatial map (it lies after global pooling).
    #[error(
        "layer {name:?} of {model} has shape {shape:?}: no spatial map to explain (it comes after \
         the global pooling); pass a layer before it, such as the default {default:?}"
    )]
    NoSpatialMap {
        /// The layer asked for.
        name: String,
        /// The model.
        model: String,
        /// Its output shape.
        shape: Vec<usize>,
        /// The default target layer.
        default: String,
    },
    /// An ONNX node failed on the given input.
    #[error("{model}: node {node:?} ({op}) failed: {message}")]
    Execution {
        /// The model.
        model: String,
        /// The node's name.
        node: String,
        /// Its op type.
        op: String,
        /// What went wrong (shapes, usually).
        message: String,
    },
    /// No layer of an ONNX graph has this name.
    #[error(
        "{model} has no layer {name:?}; closest names: {closest} (`whycam models {path}` lists \
         them all; BatchNorms are folded into their convolutions, pass the convolution's name)"
    )]
    UnknownLayer {
        /// The name asked for.
        name: String,
        /// The model.
        model: String,
        /// The most similar names.
        closest: String,
        /// The model file.
        path: PathBuf,
    },
    /// A token layer whose patch grid is unknown: its length is neither a square plus one
    /// class token nor a square, or does not fit the grid given.
    #[error(
        "layer {name:?} of {model} is a sequence of {length} tokens {shape:?}, {}; pass its patch \
         grid as --tokens-grid HxW (e.g. 14x14 for a 224 px ViT-B/16; the leading tokens beyond \
         H*W, at most {max_prefix}, are taken as class tokens and dropped)",
        grid_problem(*length, *grid),
        max_prefix = crate::onnx::LayerLayout::MAX_PREFIX
    )]
    TokenGrid {
        /// The layer asked for.
        name: String,
        /// The model.
        model: String,
        /// Its shape `[N, length, channels]`.
        shape: Vec<usize>,
        /// The number of tokens.
        length: usize,
        /// The grid given with `--tokens-grid`, if any.
        grid: Option<(usize, usize)>,
    },
    /// A parameter replacement of the wrong size (the model-randomisation check's noise).
    #[error("{model}: replacement for {tensor} {shape:?} has {got} values")]
    Replacement {
        /// The model.
        model: String,
        /// The parameter's PyTorch name.
        tensor: String,
        /// Its shape.
        shape: Vec<usize>,
        /// How many values the replacement had.
        got: usize,
    },
    /// A network that cannot offer its parameters by name.
    #[error("{model} cannot replace its parameters by name")]
    NoParameterNames {
        /// The model.
        model: String,
    },
    /// Image values that do not fill a batch of `n × 3 × height × width`.
    #[error("a batch of {n} images of 3x{height}x{width} takes {expected} values, got {got}")]
    BatchLength {
        /// Images in the batch.
        n: usize,
        /// Their height.
        height: usize,
        /// Their width.
        width: usize,
        /// `n × 3 × height × width` (saturated where it overflows).
        expected: usize,
        /// The values given.
        got: usize,
    },
    /// A trace was resumed at a layer it was not made for.
    #[error("internal: no traced layer at position {position}")]
    TracePosition {
        /// The position asked for.
        position: usize,
    },
}

/// Why a token count has no grid, for [`ModelError::TokenGrid`].
fn grid_problem(length: usize, grid: Option<(usize, usize)>) -> String {
    match grid {
        None => format!(
            "and {length} is neither a square number of patches plus one class token nor a \
             square, so its grid cannot be inferred"
        ),
        Some((h, w)) => format!(
            "which --tokens-grid {h}x{w} does not fit ({} patches plus 0 to {} leading tokens)",
            h.saturating_mul(w),
            crate::onnx::LayerLayout::MAX_PREFIX
        ),
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
