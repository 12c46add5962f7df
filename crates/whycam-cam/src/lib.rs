//! Class activation maps for CNN classifiers: CAM, Grad-CAM and the rest of the family, with
//! the definitions of pytorch-grad-cam 1.5.
//!
//! [`Explainer`] runs the shared pipeline; each method ([`Method`], one file each under
//! [`methods`]) only says how to combine a layer's activations (and gradients, or extra forward
//! passes) into a map. [`TargetSpec`] says what to explain. Maps come back as [`Plane`]s; drawing
//! them is another crate's business.

#![deny(missing_docs)]

pub mod dff;
mod error;
mod explainer;
mod method;
pub mod methods;
mod plane;
pub mod projection;
pub mod settings;
mod target;

pub use error::{CamError, Result};
pub use explainer::{
    ExplainOptions, Explainer, ImageExplanation, MethodMap, TargetExplanation,
    class_activation_maps, target_gradients,
};
pub use method::{Method, MethodInfo};
pub use plane::Plane;
pub use settings::{Baseline, Integration, MethodSettings, Noise};
pub use target::{
    ClassGroups, Target, TargetSpec, class_logits, class_probabilities, ranked_classes,
};
