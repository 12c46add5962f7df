//! A network's parameter tensors by their PyTorch names, read and replaced in place: what the
//! model-randomisation sanity check (Adebayo et al. 2018) re-initialises, layer by layer, on
//! whatever model whycam loaded.
//!
//! The names are those of a PyTorch state dict (`layer4.1.conv2.weight`, `features.28.bias`),
//! so they fall under the module paths the layer list uses. A network runs with its
//! BatchNorms folded or not ([`crate::Classifier::is_folded`]): folded, a convolution's weight
//! and bias already hold its BatchNorm and no `bn` tensor is offered, as in an exported graph.

use crate::error::{ModelError, Result};
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;

/// Sees one float parameter (its PyTorch name, shape and values, row-major) and returns new
/// values of the same length to replace it, or `None` to keep it.
pub type ParameterReplacer<'a> = dyn FnMut(&str, &[usize], &[f32]) -> Option<Vec<f32>> + 'a;

/// Runs `replace` over every float parameter (running statistics included) of a burn module.
/// `rename` turns burn's path (enum variants left out) into the PyTorch name. A replacement of
/// the wrong length is refused (the parameter kept) and reported.
pub(crate) fn replace_in_module<M: Module>(
    module: M,
    model: &str,
    rename: &dyn Fn(&str) -> String,
    replace: &mut ParameterReplacer<'_>,
) -> Result<M> {
    let mut mapper = Replacing {
        path: Vec::new(),
        rename,
        replace,
        wrong: None,
    };
    let module = module.map(&mut mapper);
    match mapper.wrong {
        None => Ok(module),
        Some((tensor, shape, got)) => Err(ModelError::Replacement {
            model: model.to_string(),
            tensor,
            shape,
            got,
        }),
    }
}

struct Replacing<'r, 'a> {
    path: Vec<String>,
    rename: &'r dyn Fn(&str) -> String,
    replace: &'r mut ParameterReplacer<'a>,
    /// The first replacement of the wrong length: name, shape, values given.
    wrong: Option<(String, Vec<usize>, usize)>,
}

impl ModuleMapper for Replacing<'_, '_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        // burn's enums (Network, ConvOrNorm, Norm2d) are not modules in PyTorch.
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = (self.rename)(&pytorch_atoms(&self.path.join(".")));
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let device = tensor.device();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("converted to f32");
        match (self.replace)(&name, &shape, &values) {
            Some(new) if new.len() == values.len() => {
                param.map(|_| Tensor::from_data(TensorData::new(new, shape.clone()), &device))
            }
            Some(new) => {
                self.wrong.get_or_insert((name, shape, new.len()));
                param
            }
            None => param,
        }
    }
}

/// burn calls a BatchNorm's scale and shift `gamma` and `beta`; PyTorch `weight` and `bias`.
fn pytorch_atoms(path: &str) -> String {
    if let Some(stem) = path.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = path.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        path.to_string()
    }
}

/// Whether parameter `name` belongs to the module at `path` (`layer4` holds
/// `layer4.1.conv1.weight`, not `layer40.weight`).
pub fn is_under(name: &str, path: &str) -> bool {
    path.is_empty()
        || name
            .strip_prefix(path)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Architecture, HeadSpec, LoadOptions, Model};

    fn names(model: &mut Model) -> Vec<String> {
        let mut names = Vec::new();
        model
            .net
            .replace_parameters(&mut |name, _, _| {
                names.push(name.to_string());
                None
            })
            .unwrap();
        names
    }

    fn small(fold_batchnorm: bool) -> Model {
        let head = HeadSpec {
            classes: 3,
            bias: true,
        };
        Model::untrained(
            Architecture::WhycamSmall,
            head,
            LoadOptions { fold_batchnorm },
        )
    }

    #[test]
    fn zoo_parameters_have_state_dict_names() {
        let names = names(&mut small(false));
        for expected in [
            "blocks.0.conv1.weight",
            "blocks.0.bn1.weight",
            "blocks.0.bn1.bias",
            "blocks.0.bn1.running_var",
            "head.weight",
            "head.bias",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        // Folded, a convolution holds its BatchNorm: a weight, a new bias, no bn tensors.
        let folded = self::names(&mut small(true));
        assert!(
            folded.iter().any(|n| n == "blocks.0.conv1.bias"),
            "{folded:?}"
        );
        assert!(!folded.iter().any(|n| n.contains(".bn")), "{folded:?}");
    }

    #[test]
    fn replaced_parameters_are_what_the_network_runs() {
        let mut model = small(true);
        let size = 16;
        let input = vec![0.5; 3 * size * size];
        let before = model.logits(input.clone(), 1, size).unwrap();
        model
            .net
            .replace_parameters(&mut |name, shape, values| match name {
                "head.weight" => Some(vec![0.0; values.len()]),
                "head.bias" => Some((0..shape[0]).map(|i| i as f32).collect()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            model.logits(input.clone(), 1, size).unwrap(),
            [0.0, 1.0, 2.0]
        );
        assert_ne!(before, [0.0, 1.0, 2.0]);
        let wrong = model
            .net
            .replace_parameters(&mut |name, _, _| (name == "head.bias").then(Vec::new));
        assert!(
            matches!(wrong, Err(ModelError::Replacement { got: 0, .. })),
            "{wrong:?}"
        );
    }

    #[test]
    fn module_paths_contain_their_parameters() {
        assert!(is_under("layer4.1.conv1.weight", "layer4"));
        assert!(is_under("layer4.1.conv1.weight", "layer4.1.conv1"));
        assert!(!is_under("layer40.weight", "layer4"));
        assert!(!is_under("layer4.weight", "layer4.1"));
    }
}
