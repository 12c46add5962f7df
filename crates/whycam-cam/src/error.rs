//! The crate's single error type, grouped by cause.

use whycam_models::ModelError;

/// Everything that can go wrong while setting up or computing an explanation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CamError {
    /// The model refused a layer name (unknown, or folded away).
    #[error(transparent)]
    Model(#[from] ModelError),

    /// A method name that is not one of [`Method::ALL`](crate::Method::ALL).
    #[error("unknown CAM method \"{name}\"; known methods: {known}")]
    UnknownMethod {
        /// What was asked for.
        name: String,
        /// The accepted ids.
        known: String,
    },

    /// The method cannot be used with this model or layer.
    #[error("{method} cannot explain {model} at layer \"{layer}\": {reason}")]
    Unsupported {
        /// The method's id.
        method: String,
        /// The model's name.
        model: String,
        /// The target layer.
        layer: String,
        /// Why, and what to do instead.
        reason: String,
    },

    /// A target (`--target`) that cannot be resolved for this model.
    #[error("invalid target \"{target}\": {reason}")]
    Target {
        /// The target as written.
        target: String,
        /// What is wrong and what is accepted.
        reason: String,
    },

    /// A class-group file that cannot be read or parsed.
    #[error("cannot read class groups from {path}: {reason}")]
    Groups {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },

    /// The options name no CAM method to run.
    #[error("invalid parameter: no CAM method given")]
    NoMethod,

    /// A method option (`--samples`, `--noise-std`, ...) or a recorded noise that cannot be used.
    #[error("invalid parameter {name}: {reason}")]
    Setting {
        /// The option.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A method returned a combination of the wrong size (a bug in the method).
    #[error("internal error: a method returned {got} {what}, expected {expected}")]
    MethodOutput {
        /// What it returned.
        what: &'static str,
        /// How many values.
        got: usize,
        /// How many the layer or input has.
        expected: usize,
    },

    /// A method needs something the pipeline did not compute or provide.
    #[error("invalid parameter: the pipeline did not provide the {what} a method needs")]
    NotProvided {
        /// What is missing: "gradients", "class activation maps", "probe".
        what: &'static str,
    },
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, CamError>;
