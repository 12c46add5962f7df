//! The interface the explanation pipeline takes a model through, whatever built it: a *trace*
//! (one forward pass without autodiff that keeps what later cuts need) and a *resume* (the
//! logits recomputed from a replacement of one cut's activations, re-running only what lies
//! downstream of it and reading every other input from the trace).
//!
//! A cut can be any 4-D value of the network: for a zoo network a layer of its list, for an ONNX
//! graph any node's output, inside a residual block or a DenseNet block included. Gradients
//! of the resumed logits with respect to the replacement are exactly the full network's
//! gradients at that value, because everything the trace supplies does not depend on it.

use crate::classifier::{Classifier, LayerList, LinearHead};
use crate::error::{ModelError, Result};
use crate::onnx::value::Value;
use crate::parameters::ParameterReplacer;
use burn::prelude::*;

/// What one forward pass kept.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The logits `[N, classes]`.
    pub logits: Tensor<2>,
    /// The activations at the requested layers, in the order they were asked for.
    pub activations: Vec<Tensor<4>>,
    /// Per requested layer, the values that the part after it reads besides the cut itself.
    pub(crate) side_inputs: Vec<Vec<(usize, Value)>>,
    /// The layers the trace was made for.
    pub(crate) layers: Vec<usize>,
    /// The batch size.
    pub(crate) batch: usize,
}

impl Trace {
    /// A trace from logits and activations alone (a network whose cuts have no side inputs).
    pub fn new(logits: Tensor<2>, activations: Vec<Tensor<4>>, layers: &[usize]) -> Self {
        let batch = logits.dims()[0];
        let side_inputs = vec![Vec::new(); activations.len()];
        Self {
            logits,
            activations,
            side_inputs,
            layers: layers.to_vec(),
            batch,
        }
    }

    /// The layer at `position` of the trace's layers.
    pub(crate) fn layer(&self, position: usize) -> Result<usize> {
        self.layers
            .get(position)
            .copied()
            .ok_or(ModelError::TracePosition { position })
    }

    /// What resuming `count` variants of image `image`'s activations needs (Score-CAM's and
    /// Ablation-CAM's probes): the side inputs of that image repeated `count` times. Its logits
    /// and activations are the image's own, once (a resume does not read them).
    pub fn for_image(&self, image: usize, count: usize) -> Trace {
        Trace {
            logits: self.logits.clone().narrow(0, image, 1),
            activations: self
                .activations
                .iter()
                .map(|a| a.clone().narrow(0, image, 1))
                .collect(),
            side_inputs: self
                .side_inputs
                .iter()
                .map(|values| {
                    values
                        .iter()
                        .map(|(id, v)| (*id, v.batch_row(image, self.batch, count)))
                        .collect()
                })
                .collect(),
            layers: self.layers.clone(),
            batch: count,
        }
    }
}

/// A classifier that whycam can explain: named layers, a trace and a resume.
pub trait Explainable: Send + Sync + std::fmt::Debug {
    /// The layers a CAM can target, with every name they answer to.
    fn layers(&self) -> &LayerList;

    /// The layer whose output the classifier pools: the default CAM target.
    fn default_layer(&self) -> usize;

    /// Number of logits.
    fn num_classes(&self) -> usize;

    /// The head's weights when the default layer feeds global-average-pool + linear.
    fn linear_head(&self) -> Option<LinearHead>;

    /// Whether BatchNorms are folded into their convolutions (always, for an exported graph).
    fn is_folded(&self) -> bool;

    /// Replaces parameter tensors in place, each offered by its PyTorch name, shape and values
    /// (see [`crate::parameters`]): the model-randomisation check's re-initialisation.
    fn replace_parameters(&mut self, replace: &mut ParameterReplacer<'_>) -> Result<()>;

    /// Finds a layer by name (a PyTorch module path, or for ONNX a node or value name).
    fn find_layer(&self, name: &str, model: &str) -> Result<usize>;

    /// The whole network: images `[N, 3, H, W]` to logits `[N, classes]`.
    fn forward(&self, images: Tensor<4>) -> Result<Tensor<2>>;

    /// One forward pass keeping the activations of `layers` and what resuming there needs.
    fn trace(&self, images: Tensor<4>, layers: &[usize]) -> Result<Trace>;

    /// The whole network with `delta` added to the output of `layer`: every layer runs, so
    /// the logits are differentiable from the input through the layer. What a resume's
    /// gradient is checked against.
    fn forward_perturbed(
        &self,
        images: Tensor<4>,
        layer: usize,
        delta: Tensor<4>,
    ) -> Result<Tensor<2>>;

    /// The logits from `activations` replacing the output of `layers[position]` of the trace
    /// (`position` indexes the layers the trace was made for).
    fn resume(&self, trace: &Trace, position: usize, activations: Tensor<4>) -> Result<Tensor<2>>;
}

/// A zoo network explains through its layer list: a trace runs the layers one after the other
/// keeping the requested outputs, a resume runs the layers after the cut and the head.
impl<C: Classifier> Explainable for C {
    fn layers(&self) -> &LayerList {
        self.layer_list()
    }

    fn default_layer(&self) -> usize {
        self.default_layer_index()
    }

    fn num_classes(&self) -> usize {
        Classifier::num_classes(self)
    }

    fn linear_head(&self) -> Option<LinearHead> {
        Classifier::linear_head(self)
    }

    fn is_folded(&self) -> bool {
        Classifier::is_folded(self)
    }

    fn replace_parameters(&mut self, replace: &mut ParameterReplacer<'_>) -> Result<()> {
        Classifier::replace_parameters(self, replace)
    }

    fn find_layer(&self, name: &str, model: &str) -> Result<usize> {
        let layer_list = self.layer_list();
        let index = layer_list
            .find(name)
            .ok_or_else(|| ModelError::LayerNotFound {
                name: name.to_string(),
                model: model.to_string(),
                known: layer_list.all_names().join(", "),
            })?;
        if self.is_folded() && layer_list.list()[index].before_batchnorm {
            return Err(ModelError::LayerFolded {
                name: name.to_string(),
                model: model.to_string(),
            });
        }
        Ok(index)
    }

    fn forward(&self, images: Tensor<4>) -> Result<Tensor<2>> {
        Ok(Classifier::forward(self, images))
    }

    fn forward_perturbed(
        &self,
        images: Tensor<4>,
        layer: usize,
        delta: Tensor<4>,
    ) -> Result<Tensor<2>> {
        Ok(self.logits_from(self.features_at(images, layer) + delta, layer))
    }

    fn trace(&self, images: Tensor<4>, layers: &[usize]) -> Result<Trace> {
        let mut activations = vec![None; layers.len()];
        let mut x = images;
        for index in 0..self.layer_list().len() {
            x = self.run_layer(index, x);
            for (slot, &layer) in activations.iter_mut().zip(layers) {
                if layer == index {
                    *slot = Some(x.clone());
                }
            }
        }
        let logits = self.head(x);
        let activations = activations
            .into_iter()
            .zip(layers)
            .map(|(a, &layer)| {
                a.ok_or_else(|| ModelError::LayerNotFound {
                    name: format!("#{layer}"),
                    model: "this network".to_string(),
                    known: self.layer_list().all_names().join(", "),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Trace::new(logits, activations, layers))
    }

    fn resume(&self, trace: &Trace, position: usize, activations: Tensor<4>) -> Result<Tensor<2>> {
        Ok(self.logits_from(activations, trace.layer(position)?))
    }
}
