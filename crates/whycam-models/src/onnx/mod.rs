//! Any CNN or vision-transformer classifier exported with `torch.onnx.export`, run by whycam's
//! own interpreter on burn tensors, so gradients flow through it like through a zoo network.
//!
//! Loading parses the protobuf, reads the initializers (inline or external data), parses every
//! node (refusing the graph with the list of operators whycam lacks), names values by the
//! PyTorch module paths the exporter recorded, and runs the graph once on a blank image: that
//! checks it end to end before any user image, and gives every value's shape, from which the
//! layers (4-D maps, token sequences and channels-last grids, see [`LayerLayout`]) and the default
//! CAM target (the last map before the spatial dimensions collapse; for a ViT the last
//! attention's input) are found.

mod names;
pub(crate) mod ops;
pub(crate) mod proto;
mod tokens;
pub(crate) mod value;

use crate::classifier::{Layer, LayerList, LinearHead};
use crate::error::{ModelError, Result};
use crate::explainable::{Explainable, Trace};
use burn::prelude::*;
use ops::{Inputs, Op, Reduce};
use proto::{ExternalData, ReadError};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use value::{Float, Value};

pub use proto::looks_like_onnx;
pub use tokens::LayerLayout;

/// How an ONNX graph is read, besides the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnnxOptions {
    /// The patch grid `(h, w)` of token layers (`--tokens-grid HxW`), when their length does
    /// not tell it (a square plus one class token, or a square).
    pub tokens_grid: Option<(usize, usize)>,
}

/// One interpreted node.
#[derive(Debug, Clone)]
struct Node {
    op: Op,
    op_type: String,
    name: String,
    inputs: Vec<Option<usize>>,
    outputs: Vec<usize>,
}

/// A layer whycam can explain, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// The name shown: the shortest PyTorch module path, else the node's name.
    pub name: String,
    /// Every other name it answers to (longer module paths, the node's and the value's names).
    pub aliases: Vec<String>,
    /// The op type of the node that computes it.
    pub op: String,
    /// Its shape as a map `[N, C, h, w]` at the graph's native input size, batch 1 (for a
    /// token layer whose grid is unknown, the value's own shape).
    pub shape: Vec<usize>,
    /// How the value is laid out (a map, tokens, channels last).
    pub layout: LayerLayout,
    /// The value's own shape (differs from `shape` for token and channels-last layers).
    pub value_shape: Vec<usize>,
}

/// An ONNX classifier.
#[derive(Debug)]
pub struct OnnxModel {
    path: PathBuf,
    /// Where its weights live and its values are computed.
    device: Device,
    value_names: Vec<String>,
    nodes: Vec<Node>,
    constants: Vec<Option<Value>>,
    input: usize,
    output: usize,
    /// The graph's fixed input height and width, if it has them.
    input_size: Option<(usize, usize)>,
    /// The graph's fixed batch size, if it has one (inputs are then run in chunks of it).
    static_batch: Option<usize>,
    /// Per value, the last node that reads it (values the output reads: past the end).
    last_use: Vec<usize>,
    layer_list: LayerList,
    /// Per layer (index of `layer_list`), its value and listing.
    layer_values: Vec<usize>,
    /// Per layer, how its value becomes a map.
    layouts: Vec<LayerLayout>,
    options: OnnxOptions,
    infos: Vec<LayerInfo>,
    /// Module paths and node names of values that are not layers (no spatial map): name →
    /// shape, for a clear refusal.
    flat_names: HashMap<String, Vec<usize>>,
    default_layer: usize,
    classes: usize,
    head: Option<LinearHead>,
    /// The float constants nodes read as parameters (more than one value), each with the
    /// PyTorch name it answers to in [`Explainable::replace_parameters`].
    parameters: Vec<(usize, String)>,
}

/// Value names to dense ids.
#[derive(Default)]
struct ValueIds {
    ids: HashMap<String, usize>,
    names: Vec<String>,
}

impl ValueIds {
    fn id(&mut self, name: &str) -> usize {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }
}

/// Runs once, at load time, every node whose inputs are all constants (the shape arithmetic
/// and padding amounts exporters emit, transposed weights): their outputs become constants.
fn fold_constants(
    nodes: Vec<Node>,
    scopes: Vec<Vec<String>>,
    constants: &mut HashMap<usize, Value>,
    device: &Device,
) -> (Vec<Node>, Vec<Vec<String>>) {
    let mut kept = (
        Vec::with_capacity(nodes.len()),
        Vec::with_capacity(nodes.len()),
    );
    for (node, scope) in nodes.into_iter().zip(scopes) {
        let constant = node.inputs.iter().any(Option::is_some)
            && node
                .inputs
                .iter()
                .flatten()
                .all(|v| constants.contains_key(v));
        if constant {
            let values = node
                .inputs
                .iter()
                .map(|v| v.map(|v| constants[&v].clone()))
                .collect();
            let mut inputs = Inputs { values, device };
            // A node that fails here fails again at run time, with its name in the error.
            if let Ok(outs) = node.op.eval(&mut inputs, node.outputs.len()) {
                for (o, v) in node.outputs.iter().zip(outs) {
                    constants.insert(*o, v);
                }
                continue;
            }
        }
        kept.0.push(node);
        kept.1.push(scope);
    }
    kept
}

/// Folds a zero `Pad` of the spatial axes into the explicit padding of the convolutions that
/// read it (TensorFlow-style "same" padding exports as Pad + Conv): one copy of the feature map
/// less per convolution, as burn's convolution pads asymmetrically itself.
fn fuse_pads_into_convs(
    nodes: &mut Vec<Node>,
    scopes: &mut Vec<Vec<String>>,
    constants: &HashMap<usize, Value>,
    output: usize,
) {
    let mut p = 0;
    while p < nodes.len() {
        let pads = match &nodes[p].op {
            Op::Pad { mode, pads, value } if mode == "constant" && *value == 0.0 => {
                let from_input = |slot: usize| {
                    nodes[p]
                        .inputs
                        .get(slot)
                        .copied()
                        .flatten()
                        .map(|v| constants.get(&v).map(Value::int))
                };
                let pads = match pads {
                    Some(pads) => Some(pads.clone()),
                    None => from_input(1).flatten().map(|i| i.data),
                };
                let zero_fill = match from_input(2) {
                    None => true,
                    Some(Some(v)) => v.data.iter().all(|&x| x == 0),
                    Some(None) => false,
                };
                let no_axes = nodes[p].inputs.get(3).copied().flatten().is_none();
                pads.filter(|p| {
                    zero_fill
                        && no_axes
                        && p.len() == 8
                        && p.iter().all(|&x| x >= 0)
                        && [p[0], p[1], p[4], p[5]] == [0; 4]
                })
            }
            _ => None,
        };
        let (Some(pads), Some(&out), Some(input)) = (
            pads,
            nodes[p].outputs.first(),
            nodes[p].inputs.first().copied().flatten(),
        ) else {
            p += 1;
            continue;
        };
        let readers: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].inputs.contains(&Some(out)))
            .collect();
        let fusable = out != output
            && !readers.is_empty()
            && readers.iter().all(|&i| {
                let n = &nodes[i];
                n.inputs.iter().filter(|&&x| x == Some(out)).count() == 1
                    && n.inputs.first() == Some(&Some(out))
                    && matches!(&n.op, Op::Conv { window, .. } if matches!(window.pad, ops::AutoPad::Explicit(_)))
            });
        if !fusable {
            p += 1;
            continue;
        }
        let extra = [pads[2], pads[3], pads[6], pads[7]].map(|x| x as usize);
        for &i in &readers {
            if let Op::Conv { window, .. } = &mut nodes[i].op
                && let ops::AutoPad::Explicit(own) = &mut window.pad
            {
                for (o, e) in own.iter_mut().zip(extra) {
                    // Saturating: huge pads are refused when the convolution runs.
                    *o = o.saturating_add(e);
                }
            }
            nodes[i].inputs[0] = Some(input);
        }
        nodes.remove(p);
        scopes.remove(p);
    }
}

/// For each value, the nodes that read it (a node once per input slot that reads it).
fn readers(nodes: &[Node]) -> HashMap<usize, Vec<usize>> {
    let mut readers: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for v in node.inputs.iter().flatten() {
            readers.entry(*v).or_default().push(i);
        }
    }
    readers
}

/// Fuses GELU as exporters write it before opset 20, `Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)`
/// (either operand order of the `Add` and the `Mul`s), into one GELU node: five passes over the
/// activations become one parallel pass ([`crate::activation::gelu`]). A chain is fused only when
/// each value inside it has no other reader and is not the graph's output, so nothing a user
/// can read disappears but the inner values of the activation; the fused node keeps the last
/// `Mul`'s output and scope, the GELU module's.
fn fuse_erf_gelu(
    nodes: &mut Vec<Node>,
    scopes: &mut Vec<Vec<String>>,
    constants: &HashMap<usize, Value>,
    output: usize,
) {
    let scalar = |v: Option<usize>| constants.get(&v?)?.scalar();
    let readers = readers(nodes);
    // The one node reading `v` (once), if `v` is a node's first output with no other use.
    let sole_reader = |v: usize| match readers.get(&v).map(Vec::as_slice) {
        Some(&[i]) if v != output => Some(i),
        _ => None,
    };
    // The other operand of a binary node that reads `v`.
    let other = |node: &Node, v: usize| match node.inputs.as_slice() {
        [Some(a), b] if *a == v && *b != Some(v) => *b,
        [a, Some(b)] if *b == v && *a != Some(v) => *a,
        _ => None,
    };
    let near = |v: Option<f32>, target: f32| v.is_some_and(|v| (v - target).abs() <= 1e-6);
    let mut fused: Vec<(usize, [usize; 4], usize)> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let (Op::Binary(ops::Binary::Div), [Some(x), divisor]) = (&node.op, node.inputs.as_slice())
        else {
            continue;
        };
        if !near(scalar(*divisor), std::f32::consts::SQRT_2) || *divisor == Some(*x) {
            continue;
        }
        let chain = || -> Option<([usize; 4], usize)> {
            let e = sole_reader(*node.outputs.first()?)?;
            let erf = &nodes[e];
            if !matches!(erf.op, Op::Unary(ops::Unary::Erf)) {
                return None;
            }
            let a = sole_reader(*erf.outputs.first()?)?;
            let add = &nodes[a];
            if !matches!(add.op, Op::Binary(ops::Binary::Add))
                || !near(scalar(other(add, *erf.outputs.first()?)), 1.0)
            {
                return None;
            }
            let m = sole_reader(*add.outputs.first()?)?;
            let mul = &nodes[m];
            if !matches!(mul.op, Op::Binary(ops::Binary::Mul))
                || other(mul, *add.outputs.first()?) != Some(*x)
            {
                return None;
            }
            let h = sole_reader(*mul.outputs.first()?)?;
            let half = &nodes[h];
            if !matches!(half.op, Op::Binary(ops::Binary::Mul))
                || !near(scalar(other(half, *mul.outputs.first()?)), 0.5)
            {
                return None;
            }
            Some(([i, e, a, m], h))
        };
        if let Some((removed, last)) = chain() {
            fused.push((*x, removed, last));
        }
    }
    let mut removed: Vec<usize> = Vec::new();
    for (x, gone, last) in fused {
        nodes[last].op = Op::Unary(ops::Unary::Gelu { tanh: false });
        nodes[last].op_type = "Gelu".to_string();
        nodes[last].inputs = vec![Some(x)];
        removed.extend(gone);
    }
    removed.sort_unstable();
    for i in removed.into_iter().rev() {
        nodes.remove(i);
        scopes.remove(i);
    }
}

/// Fuses a Linear layer's bias into its product: `Add(MatMul(x, W), b)` with `W` a constant
/// matrix and `b` a constant of one value per column (nn.Linear over pixels or tokens, as
/// ConvNeXt and transformers export it) becomes one MatMul that the GEMM starts from the bias
/// (one pass over the activations less). The fused node takes the `Add`'s place, output and
/// scope (the Linear module's); the product alone, an inner value, is no longer listed.
fn fuse_matmul_bias(
    nodes: &mut Vec<Node>,
    scopes: &mut Vec<Vec<String>>,
    constants: &HashMap<usize, Value>,
    output: usize,
) {
    let readers = readers(nodes);
    let constant_dims = |v: Option<usize>| constants.get(&v?).map(Value::dims);
    let mut removed = Vec::new();
    for p in 0..nodes.len() {
        let node = &nodes[p];
        let (Op::MatMul, [Some(x), weight]) = (&node.op, node.inputs.as_slice()) else {
            continue;
        };
        let Some(columns) = constant_dims(*weight).and_then(|d| match d.as_slice() {
            [_, n] => Some(*n),
            _ => None,
        }) else {
            continue;
        };
        let Some(&product) = node.outputs.first() else {
            continue;
        };
        let Some(&[add]) = readers.get(&product).map(Vec::as_slice) else {
            continue;
        };
        if product == output || !matches!(nodes[add].op, Op::Binary(ops::Binary::Add)) {
            continue;
        }
        let bias = match nodes[add].inputs.as_slice() {
            [Some(a), b] if *a == product => *b,
            [b, Some(a)] if *a == product => *b,
            _ => continue,
        };
        if constant_dims(bias).is_none_or(|d| d != [columns]) {
            continue;
        }
        let (x, weight) = (*x, *weight);
        nodes[add].op = Op::MatMul;
        nodes[add].op_type = "MatMul".to_string();
        nodes[add].inputs = vec![Some(x), weight, bias];
        removed.push(p);
    }
    for p in removed.into_iter().rev() {
        nodes.remove(p);
        scopes.remove(p);
    }
}

/// The parameters of a graph: each float constant of more than one value that a node reads as
/// a weight ([`is_learned`]), named by the module path the node ran in. An exporter names an
/// initializer by its state-dict name (`layer1.0.conv1.weight`) or, for one it computed (a
/// convolution with its BatchNorm folded in), by the op (`onnx::Conv_193`); a name not under
/// the node's module path is put under it (`layer1.0.conv1.onnx::Conv_193`), so that it falls
/// under the layer that computes with it. A constant read by several nodes belongs to the first.
fn parameter_names(
    nodes: &[Node],
    scopes: &[Vec<String>],
    constants: &[Option<Value>],
    value_names: &[String],
) -> Vec<(usize, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut parameters = Vec::new();
    for (node, scope) in nodes.iter().zip(scopes) {
        let module = scope.last().map_or("", String::as_str);
        for (slot, v) in node.inputs.iter().enumerate() {
            let Some(v) = *v else { continue };
            if !is_learned(&node.op_type, slot) {
                continue;
            }
            let Some(Value::Float(f)) = &constants[v] else {
                continue;
            };
            if f.len() < 2 || !seen.insert(v) {
                continue;
            }
            let value = &value_names[v];
            let name = if module.is_empty() || crate::parameters::is_under(value, module) {
                value.clone()
            } else {
                format!("{module}.{value}")
            };
            parameters.push((v, name));
        }
    }
    parameters
}

/// Whether input `slot` of an `op_type` node can hold learned weights: not the bounds of a
/// Clip, the amounts of a Pad, an exponent, or a BatchNormalization's running statistics.
fn is_learned(op_type: &str, slot: usize) -> bool {
    !matches!(
        (op_type, slot),
        ("Clip" | "Pad" | "Pow", 1..) | ("BatchNormalization", 3 | 4)
    )
}

/// Formats `count × op` lists.
fn counted(items: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(i.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, n)| {
            if *n > 1 {
                format!("{k} (x{n})")
            } else {
                k.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl OnnxModel {
    /// Loads and checks an ONNX classifier.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_on(path, &Device::default())
    }

    /// Loads and checks an ONNX classifier, its weights on `device`.
    pub fn load_on(path: &Path, device: &Device) -> Result<Self> {
        Self::load_with(path, device, OnnxOptions::default())
    }

    /// Loads and checks an ONNX classifier, its weights on `device`, read as `options` say.
    pub fn load_with(path: &Path, device: &Device, options: OnnxOptions) -> Result<Self> {
        let device = device.clone();
        let onnx_err = |message: String| ModelError::Onnx {
            path: path.to_path_buf(),
            message,
        };
        let map_read = |e: ReadError| match e {
            ReadError::Io(source) => ModelError::Io {
                path: path.to_path_buf(),
                source,
            },
            ReadError::ExternalData { path: data, source } => ModelError::ExternalData {
                path: path.to_path_buf(),
                data,
                source,
            },
            ReadError::Format(message) => onnx_err(message),
            ReadError::NonFinite { tensor, what } => ModelError::NonFinite {
                path: path.to_path_buf(),
                tensor,
                what: what.to_string(),
            },
        };
        let model = proto::read_model(path).map_err(map_read)?;
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(13, |o| o.version);
        let graph = &model.graph;
        let mut ids = ValueIds::default();
        let mut id_of = |name: &str| ids.id(name);
        let mut external = ExternalData::new(path);
        let mut constants: HashMap<usize, Value> = HashMap::new();
        for init in &graph.initializer {
            let value = proto::initializer(init, &mut external, &device).map_err(map_read)?;
            constants.insert(id_of(&init.name), value);
        }
        // The image input: the one graph input that is not an initializer.
        let initializers: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|i| i.name.as_str()).collect();
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .collect();
        let not_image = |reason: String| ModelError::NotAnImage {
            path: path.to_path_buf(),
            reason,
        };
        let [image] = inputs.as_slice() else {
            let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(not_image(format!(
                "it has {} inputs ({}); whycam feeds one batch of images",
                names.len(),
                names.join(", ")
            )));
        };
        let tensor_type = image.type_.tensor_type();
        if tensor_type.elem_type != 1 {
            return Err(not_image(format!(
                "input {:?} has element type {} (whycam feeds float32 images)",
                image.name, tensor_type.elem_type
            )));
        }
        let dims: Vec<Option<usize>> = tensor_type
            .shape
            .dim
            .iter()
            .map(|d| (d.has_dim_value() && d.dim_value() > 0).then(|| d.dim_value() as usize))
            .collect();
        if dims.len() != 4 {
            return Err(not_image(format!(
                "input {:?} has rank {} (whycam feeds [batch, 3, height, width])",
                image.name,
                dims.len()
            )));
        }
        if let Some(c) = dims[1]
            && c != 3
        {
            return Err(not_image(format!(
                "input {:?} has {c} channels (whycam feeds RGB images, 3 channels)",
                image.name
            )));
        }
        let input = id_of(&image.name);
        let input_size = dims[2].zip(dims[3]);
        let static_batch = dims[0];
        // Loading runs the graph once on a blank batch of this size: it must be one whycam
        // could feed, not whatever a damaged file declares.
        let max = whycam_data::PreprocessConfig::MAX_SIZE as usize;
        if let Some((h, w)) = input_size
            && (h > max || w > max)
        {
            return Err(not_image(format!(
                "input {:?} is {h}x{w} px; whycam feeds images of at most {max}x{max} px",
                image.name
            )));
        }
        let (h, w) = input_size.unwrap_or((224, 224));
        if let Err(reason) = ops::element_count(&[static_batch.unwrap_or(1), 3, h, w]) {
            return Err(not_image(format!("input {:?} is {reason}", image.name)));
        }

        let mut nodes = Vec::with_capacity(graph.node.len());
        let mut unsupported: Vec<(String, String)> = Vec::new();
        let mut scopes = Vec::with_capacity(graph.node.len());
        for node in &graph.node {
            let op = match Op::parse(node, opset, &mut external, &device) {
                Ok(op) => op,
                Err(reason) => {
                    let what = match reason {
                        None => node.op_type.clone(),
                        Some(r) => format!("{} with {r}", node.op_type),
                    };
                    unsupported.push((what, node.name.clone()));
                    continue;
                }
            };
            let outputs: Vec<usize> = node.output.iter().map(|o| id_of(o)).collect();
            if let Op::Constant(value) = op {
                if let Some(&out) = outputs.first() {
                    constants.insert(out, value);
                }
                continue;
            }
            let inputs = node
                .input
                .iter()
                .map(|i| (!i.is_empty()).then(|| id_of(i)))
                .collect();
            scopes.push(names::scopes(node));
            nodes.push(Node {
                op,
                op_type: node.op_type.clone(),
                name: node.name.clone(),
                inputs,
                outputs,
            });
        }
        if !unsupported.is_empty() {
            let ops: Vec<String> = unsupported.iter().map(|(o, _)| o.clone()).collect();
            let mut listed: Vec<String> = unsupported
                .iter()
                .take(20)
                .map(|(o, n)| format!("{n} ({o})"))
                .collect();
            if unsupported.len() > 20 {
                listed.push(format!("and {} more", unsupported.len() - 20));
            }
            return Err(ModelError::OnnxUnsupported {
                path: path.to_path_buf(),
                ops: counted(&ops),
                nodes: listed.join(", "),
            });
        }
        let Some(output_name) = graph.output.first().map(|o| o.name.clone()) else {
            return Err(onnx_err("the graph has no output".to_string()));
        };
        if graph.output.len() > 1 {
            return Err(onnx_err(format!(
                "the graph has {} outputs; whycam explains a classifier with one logits output",
                graph.output.len()
            )));
        }
        let output = id_of(&output_name);
        let value_names = ids.names;
        let (mut nodes, mut scopes) = fold_constants(nodes, scopes, &mut constants, &device);
        fuse_pads_into_convs(&mut nodes, &mut scopes, &constants, output);
        fuse_erf_gelu(&mut nodes, &mut scopes, &constants, output);
        fuse_matmul_bias(&mut nodes, &mut scopes, &constants, output);
        let count = value_names.len();
        let mut constant_vec: Vec<Option<Value>> = vec![None; count];
        for (id, v) in constants {
            constant_vec[id] = Some(v);
        }
        let mut last_use = vec![0usize; count];
        for (i, node) in nodes.iter().enumerate() {
            for v in node.inputs.iter().flatten() {
                last_use[*v] = i;
            }
        }
        last_use[output] = usize::MAX;
        names::merge_repeated_calls(&mut scopes);
        let parameters = parameter_names(&nodes, &scopes, &constant_vec, &value_names);

        let mut model = OnnxModel {
            path: path.to_path_buf(),
            device: device.clone(),
            value_names,
            nodes,
            constants: constant_vec,
            input,
            output,
            input_size,
            static_batch,
            last_use,
            layer_list: LayerList::default(),
            layer_values: Vec::new(),
            layouts: Vec::new(),
            options,
            infos: Vec::new(),
            flat_names: HashMap::new(),
            default_layer: 0,
            classes: 0,
            head: None,
            parameters,
        };
        model.catalogue(&scopes, &device)?;
        Ok(model)
    }

    fn display_name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// The graph's fixed input size `(height, width)`, when it has one.
    pub fn input_size(&self) -> Option<(usize, usize)> {
        self.input_size
    }

    /// The layers with their shapes, in execution order, and the index of the default.
    pub fn layer_infos(&self) -> (&[LayerInfo], usize) {
        (&self.infos, self.default_layer)
    }

    /// Runs the graph on a blank image to learn every value's shape, then names the layers,
    /// finds the default target and the linear head.
    fn catalogue(&mut self, scopes: &[Vec<String>], device: &Device) -> Result<()> {
        let (h, w) = self.input_size.unwrap_or((224, 224));
        let batch = self.static_batch.unwrap_or(1);
        let images = Tensor::<4>::zeros([batch, 3, h, w], device);
        let mut locals = self.fresh_locals(images);
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        let keep = vec![true; self.value_names.len()];
        self.run(&mut locals, &all, &keep)?;
        let shape_of = |v: usize| -> Option<Vec<usize>> {
            match locals[v].as_ref().or(self.constants[v].as_ref()) {
                Some(Value::Float(f)) => Some(f.dims()),
                _ => None,
            }
        };
        let out = shape_of(self.output).unwrap_or_default();
        if out.len() != 2 || out[0] != batch {
            return Err(ModelError::Onnx {
                path: self.path.clone(),
                message: format!(
                    "its output {:?} has shape {out:?}; whycam explains classifiers whose \
                     output is [batch, classes] logits",
                    self.value_names[self.output]
                ),
            });
        }
        self.classes = out[1];

        // Module path -> the last float value computed in its scope.
        let mut module_output: BTreeMap<String, usize> = BTreeMap::new();
        for (node, scope) in self.nodes.iter().zip(scopes) {
            let Some(&out) = node.outputs.first() else {
                continue;
            };
            if shape_of(out).is_none() {
                continue;
            }
            for path in scope {
                module_output.insert(path.clone(), out);
            }
        }
        let mut modules_of: HashMap<usize, Vec<String>> = HashMap::new();
        for (path, &v) in &module_output {
            modules_of.entry(v).or_default().push(path.clone());
        }
        let channels_last = self.channels_last_values(&shape_of);
        let tokens = self.token_values(&shape_of, &channels_last, batch);
        let mut layer_list = LayerList::default();
        let mut layer_values = Vec::new();
        let mut layouts = Vec::new();
        let mut infos = Vec::new();
        for node in &self.nodes {
            for &out in &node.outputs {
                let Some(shape) = shape_of(out) else { continue };
                let mut modules = modules_of.get(&out).cloned().unwrap_or_default();
                modules.sort_by_key(|m| (m.len(), m.clone()));
                let mut names = modules.clone();
                if !node.name.is_empty() && !names.contains(&node.name) {
                    names.push(node.name.clone());
                }
                let value_name = &self.value_names[out];
                if !names.contains(value_name) {
                    names.push(value_name.clone());
                }
                let layout =
                    self.layout_of(&shape, channels_last.contains(&out), tokens.contains(&out));
                let Some(layout) = layout else {
                    for n in names {
                        self.flat_names.entry(n).or_insert_with(|| shape.clone());
                    }
                    continue;
                };
                let index = layer_list.push(Layer::new(names[0].clone()));
                for alias in &names[1..] {
                    layer_list.alias(alias.clone(), index);
                }
                layer_values.push(out);
                layouts.push(layout);
                infos.push(LayerInfo {
                    name: names[0].clone(),
                    aliases: names[1..].to_vec(),
                    op: node.op_type.clone(),
                    shape: layout
                        .map_shape(&shape)
                        .map_or_else(|| shape.clone(), |s| s.to_vec()),
                    layout,
                    value_shape: shape,
                });
            }
        }
        if layer_values.is_empty() {
            return Err(ModelError::NotAnImage {
                path: self.path.clone(),
                reason: "no value of the graph is a 4-D feature map or a token sequence"
                    .to_string(),
            });
        }
        // A value's map shape [N, C, h, w], whatever its layout.
        let map_of = |v: usize| -> Option<[usize; 4]> {
            let i = layer_values.iter().position(|&x| x == v)?;
            layouts[i].map_shape(&shape_of(v)?)
        };
        // The default target: the input of the classifier's spatial collapse. A node collapses
        // a [N, C, H, W] map (or a channels-last one) when what it leaves per image is no more
        // than C values (global pooling, a mean, a flatten after pooling); squeeze-excitation
        // blocks pool too, but their result multiplies an H x W map again, so the classifier's
        // collapse is the one after which no H x W map is computed any more.
        let collapse = self.nodes.iter().find_map(|node| {
            let x = (*node.inputs.first()?)?;
            let out = *node.outputs.first()?;
            let i = layer_values.iter().position(|&v| v == x)?;
            if !matches!(layouts[i], LayerLayout::Map | LayerLayout::ChannelsLast) {
                return None;
            }
            let [n, c, h, w] = map_of(x)?;
            let out_shape = shape_of(out)?;
            let per_image = out_shape.iter().product::<usize>() / n.max(1);
            if h * w <= 1 || per_image > c {
                return None;
            }
            let (after, _) = self.downstream(out);
            let respatialised = after.iter().any(|&i| {
                self.nodes[i]
                    .outputs
                    .iter()
                    .any(|&o| map_of(o).is_some_and(|d| d[2..] == [h, w]))
            });
            (!respatialised).then_some(x)
        });
        let default_value = collapse
            .or_else(|| self.attention_input(&layer_values, &layouts, &shape_of))
            .unwrap_or_else(|| {
                // The last layer that can be explained without a grid.
                let mut maps = layer_values
                    .iter()
                    .zip(&layouts)
                    .filter(|(_, l)| !matches!(l, LayerLayout::UnknownGrid { .. }));
                maps.next_back().map_or(
                    *layer_values.last().expect("at least one layer"),
                    |(&v, _)| v,
                )
            });
        self.default_layer = layer_values
            .iter()
            .position(|&v| v == default_value)
            .expect("the default is a layer");
        self.layer_list = layer_list;
        self.layer_values = layer_values;
        self.layouts = layouts;
        self.infos = infos;
        self.head = self.find_linear_head(default_value);
        Ok(())
    }

    /// How a value of `shape` is presented as a map, if it can be a layer: a 4-D map with
    /// more than one position (channels-last when the graph made it so), or a token sequence
    /// (see [`token_values`](Self::token_values)).
    fn layout_of(&self, shape: &[usize], channels_last: bool, tokens: bool) -> Option<LayerLayout> {
        match *shape {
            [_, h, w, _] if channels_last => (h * w > 1).then_some(LayerLayout::ChannelsLast),
            [_, _, h, w] => (h * w > 1).then_some(LayerLayout::Map),
            [_, length, _] if tokens => {
                Some(LayerLayout::of_tokens(length, self.options.tokens_grid))
            }
            _ => None,
        }
    }

    /// The token sequences `[batch, length, channels]` (length at least 4): a patch embedding
    /// (a channels-first map flattened to `[N, C, h·w]` and transposed to `[N, h·w, C]`, a
    /// channels-last map reshaped to `[N, h·w, C]`, or patches cut by a reshape of rank 5 or
    /// more), and every such 3-D value computed from one (a class token concatenated, norms,
    /// attention, MLPs, residual sums), through whatever intermediate shapes. A CNN's other
    /// 3-D values (GroupNorm's grouping, a squeeze-excitation's unsqueeze) are not tokens.
    fn token_values(
        &self,
        shape_of: &dyn Fn(usize) -> Option<Vec<usize>>,
        channels_last: &std::collections::HashSet<usize>,
        batch: usize,
    ) -> std::collections::HashSet<usize> {
        let mut tokens = std::collections::HashSet::new();
        // Every value computed from a token value, whatever its shape.
        let mut derived = std::collections::HashSet::new();
        for node in &self.nodes {
            let Some(&out) = node.outputs.first() else {
                continue;
            };
            let from_tokens = node.inputs.iter().flatten().any(|v| derived.contains(v));
            let first = node.inputs.first().copied().flatten();
            let first_shape = first.and_then(shape_of).unwrap_or_default();
            // A flattened channels-first map [N, C, h·w]: its producer's input is [N, C, h, w].
            let flattened_map = |v: usize| {
                let Some(producer) = self.nodes.iter().find(|n| n.outputs.contains(&v)) else {
                    return false;
                };
                let Some(input) = producer.inputs.first().copied().flatten() else {
                    return false;
                };
                let (Some(i), Some(o)) = (shape_of(input), shape_of(v)) else {
                    return false;
                };
                matches!(producer.op, Op::Reshape { .. } | Op::Flatten { .. })
                    && i.len() == 4
                    && !channels_last.contains(&input)
                    && o == [i[0], i[1], i[2] * i[3]]
            };
            let Some(o) = shape_of(out) else { continue };
            let seed = match &node.op {
                Op::Transpose { perm: Some(p) } => {
                    p.as_slice() == [0, 2, 1] && first.is_some_and(flattened_map)
                }
                Op::Reshape { .. } if o.len() == 3 => match first_shape.len() {
                    4 => {
                        first.is_some_and(|v| channels_last.contains(&v))
                            && first_shape[0] == o[0]
                            && first_shape[1] * first_shape[2] == o[1]
                            && first_shape[3] == o[2]
                    }
                    r => r >= 5,
                },
                _ => false,
            };
            if seed || from_tokens {
                for &v in &node.outputs {
                    derived.insert(v);
                }
                if matches!(*o, [n, length, _] if n == batch && length >= 4) {
                    tokens.insert(out);
                }
            }
        }
        tokens
    }

    /// The 4-D values laid out `[N, h, w, C]`: a channels-first map transposed by
    /// `[0, 2, 3, 1]`, tokens `[N, h·w, C]` (or Swin's windows, rank 5 and more) reshaped to
    /// `[N, h, w, C]`, and what element-wise ops, LayerNorm, Linear (MatMul), slices, pads
    /// and concatenations make of those keeping the channels last.
    fn channels_last_values(
        &self,
        shape_of: &dyn Fn(usize) -> Option<Vec<usize>>,
    ) -> std::collections::HashSet<usize> {
        let mut last = std::collections::HashSet::new();
        for node in &self.nodes {
            let Some(&out) = node.outputs.first() else {
                continue;
            };
            let Some(o) = shape_of(out).filter(|s| s.len() == 4) else {
                continue;
            };
            let first = node.inputs.first().copied().flatten();
            let first_shape = first.and_then(shape_of);
            let from_last = node
                .inputs
                .iter()
                .flatten()
                .filter(|v| last.contains(*v))
                .find_map(|&v| shape_of(v))
                .filter(|s| s.len() == 4);
            let is_last = match &node.op {
                Op::Transpose { perm: Some(p) } => {
                    p.as_slice() == [0, 2, 3, 1]
                        && first.is_some_and(|v| !last.contains(&v))
                        && first_shape.is_some_and(|s| s.len() == 4)
                }
                Op::Reshape { .. } => first_shape.is_some_and(|s| match s.len() {
                    3 => s == [o[0], o[1] * o[2], o[3]],
                    r => r >= 5 && s[r - 1] == o[3],
                }),
                Op::Unary(_)
                | Op::Binary(_)
                | Op::Variadic(_)
                | Op::Clip { .. }
                | Op::LayerNorm { .. }
                | Op::MatMul
                | Op::Identity
                | Op::Where
                | Op::Softmax { .. } => from_last.is_some_and(|s| s[..3] == o[..3]),
                Op::Slice { .. } | Op::Pad { .. } => from_last.is_some_and(|s| s[3] == o[3]),
                // Swin's roll (along h or w) and patch merging (2x2 neighbours along C).
                Op::Concat { .. } => from_last.is_some_and(|s| s[3] == o[3] || s[1..3] == o[1..3]),
                _ => false,
            };
            if is_last {
                last.insert(out);
            }
        }
        last
    }

    /// A transformer's default target: the token layer that feeds the last attention (the
    /// last one computed before the last Softmax, with the width of the final tokens), a
    /// LayerNorm's output when there is one, as pytorch-grad-cam's ViT tutorial targets the
    /// last block's norm1. Later token layers reach the head through the class token alone,
    /// so their patch tokens have no gradient. A token layer whose grid is unknown can be the
    /// default: explaining it then asks for `--tokens-grid`, rather than quietly explaining
    /// the patch embedding.
    fn attention_input(
        &self,
        layer_values: &[usize],
        layouts: &[LayerLayout],
        shape_of: &dyn Fn(usize) -> Option<Vec<usize>>,
    ) -> Option<usize> {
        let last_softmax = self
            .nodes
            .iter()
            .rposition(|n| matches!(n.op, Op::Softmax { .. }))?;
        let producer: HashMap<usize, usize> = self
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.outputs.iter().map(move |&o| (o, i)))
            .collect();
        let tokens: Vec<usize> = layer_values
            .iter()
            .zip(layouts)
            .filter(|(_, l)| {
                matches!(
                    l,
                    LayerLayout::Tokens { .. } | LayerLayout::UnknownGrid { .. }
                )
            })
            .map(|(&v, _)| v)
            .collect();
        let width = |v: usize| shape_of(v).and_then(|s| s.last().copied());
        let final_width = width(*tokens.last()?);
        let before: Vec<usize> = tokens
            .into_iter()
            .filter(|v| producer.get(v).is_some_and(|&i| i < last_softmax))
            .filter(|&v| width(v) == final_width)
            .collect();
        before
            .iter()
            .rev()
            .find(|v| matches!(self.nodes[producer[v]].op, Op::LayerNorm { .. }))
            .or(before.last())
            .copied()
    }

    /// The nodes reading value `v`.
    fn consumers(&self, v: usize) -> Vec<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.inputs.contains(&Some(v)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Global average pooling, reshapes, then one Gemm (or MatMul + Add) with constant weights
    /// producing the output: the head CAM needs.
    fn find_linear_head(&self, features: usize) -> Option<LinearHead> {
        let single = |v: usize| -> Option<&Node> {
            match self.consumers(v).as_slice() {
                [i] => Some(&self.nodes[*i]),
                _ => None,
            }
        };
        let pool = single(features)?;
        match &pool.op {
            Op::GlobalPool(Reduce::Mean) => {}
            Op::Reduce {
                kind: Reduce::Mean, ..
            } => {}
            _ => return None,
        }
        let mut node = single(pool.outputs[0])?;
        while matches!(
            node.op,
            Op::Flatten { .. } | Op::Reshape { .. } | Op::Squeeze { .. } | Op::Identity
        ) {
            node = single(node.outputs[0])?;
        }
        let constant = |slot: usize| -> Option<Float> {
            match self.constants[(*node.inputs.get(slot)?)?].as_ref()? {
                Value::Float(f) => Some(f.clone()),
                Value::Int(_) => None,
            }
        };
        let (weight, bias, out) = match &node.op {
            Op::Gemm {
                alpha,
                beta,
                trans_a: false,
                trans_b,
            } => {
                let b = constant(1)?.tensor::<2>();
                let weight = if *trans_b { b } else { b.transpose() }.mul_scalar(*alpha);
                let bias = match node.inputs.get(2).copied().flatten() {
                    Some(_) => Some(
                        constant(2)?
                            .reshaped(&[weight.dims()[0]])
                            .tensor::<1>()
                            .mul_scalar(*beta),
                    ),
                    None => None,
                };
                (weight, bias, node.outputs[0])
            }
            Op::MatMul => {
                let weight = constant(1)?.tensor::<2>().transpose();
                let add = single(node.outputs[0]);
                match add {
                    Some(add) if matches!(add.op, Op::Binary(ops::Binary::Add)) => {
                        let other = add
                            .inputs
                            .iter()
                            .flatten()
                            .find(|&&v| v != node.outputs[0])?;
                        let bias = match self.constants[*other].as_ref()? {
                            Value::Float(f) => f.reshaped(&[weight.dims()[0]]).tensor::<1>(),
                            Value::Int(_) => return None,
                        };
                        (weight, Some(bias), add.outputs[0])
                    }
                    _ => (weight, None, node.outputs[0]),
                }
            }
            _ => return None,
        };
        (out == self.output).then_some(LinearHead { weight, bias })
    }

    fn fresh_locals(&self, images: Tensor<4>) -> Vec<Option<Value>> {
        let mut locals = vec![None; self.value_names.len()];
        locals[self.input] = Some(Value::Float(Float::from_tensor(images)));
        locals
    }

    /// Runs `nodes` (in order), dropping each value after its last reader unless `keep` says.
    fn run(&self, locals: &mut [Option<Value>], nodes: &[usize], keep: &[bool]) -> Result<()> {
        self.run_perturbed(locals, nodes, keep, None)
    }

    /// [`run`](Self::run), adding `delta` (in the value's own layout) to value `perturb.0` as
    /// it is computed.
    fn run_perturbed(
        &self,
        locals: &mut [Option<Value>],
        nodes: &[usize],
        keep: &[bool],
        perturb: Option<(usize, &Float)>,
    ) -> Result<()> {
        let device = &self.device;
        for &i in nodes {
            let node = &self.nodes[i];
            // A value read for the last time is moved in, so the op may reuse its storage.
            let values: Vec<Option<Value>> = node
                .inputs
                .iter()
                .map(|v| {
                    v.and_then(|v| {
                        let last = self.last_use[v] == i
                            && !keep[v]
                            && node.inputs.iter().filter(|&&x| x == Some(v)).count() == 1;
                        if last && let Some(value) = locals[v].take() {
                            return Some(value);
                        }
                        locals[v].clone().or_else(|| self.constants[v].clone())
                    })
                })
                .collect();
            if let Some(missing) = node
                .inputs
                .iter()
                .zip(&values)
                .find_map(|(v, x)| if v.is_some() && x.is_none() { *v } else { None })
            {
                return Err(self.failure(
                    node,
                    format!(
                        "its input {:?} was never computed",
                        self.value_names[missing]
                    ),
                ));
            }
            let outs = node
                .op
                .eval(&mut Inputs { values, device }, node.outputs.len())
                .map_err(|m| self.failure(node, m))?;
            for (slot, value) in node.outputs.iter().zip(outs) {
                locals[*slot] = Some(match (perturb, value) {
                    (Some((v, delta)), Value::Float(f))
                        if v == *slot && f.dims() == delta.dims() =>
                    {
                        Value::Float(Float {
                            t: f.t + delta.t.clone(),
                            rank: f.rank,
                        })
                    }
                    (_, value) => value,
                });
            }
            for v in node.inputs.iter().flatten() {
                if self.last_use[*v] == i && !keep[*v] {
                    locals[*v] = None;
                }
            }
        }
        Ok(())
    }

    /// An error about the node computing value `v`.
    fn value_failure(&self, v: usize, message: String) -> ModelError {
        match self.nodes.iter().find(|n| n.outputs.contains(&v)) {
            Some(node) => self.failure(node, message),
            None => ModelError::Execution {
                model: self.display_name(),
                node: self.value_names[v].clone(),
                op: "layer".to_string(),
                message,
            },
        }
    }

    fn failure(&self, node: &Node, message: String) -> ModelError {
        ModelError::Execution {
            model: self.display_name(),
            node: if node.name.is_empty() {
                self.value_names[node.outputs[0]].clone()
            } else {
                node.name.clone()
            },
            op: node.op_type.clone(),
            message,
        }
    }

    fn logits(&self, locals: &mut [Option<Value>]) -> Result<Tensor<2>> {
        match locals[self.output].take() {
            Some(Value::Float(f)) if f.rank == 2 => Ok(f.tensor::<2>()),
            other => Err(ModelError::Execution {
                model: self.display_name(),
                node: self.value_names[self.output].clone(),
                op: "output".to_string(),
                message: format!(
                    "the output has shape {:?}, not [batch, classes]",
                    other.map(|v| v.dims())
                ),
            }),
        }
    }

    /// The nodes downstream of value `v`, in order, and the values they read from upstream.
    fn downstream(&self, v: usize) -> (Vec<usize>, Vec<usize>) {
        let mut produced = vec![false; self.value_names.len()];
        produced[v] = true;
        let mut nodes = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.inputs.iter().flatten().any(|&x| produced[x]) {
                nodes.push(i);
                for &o in &node.outputs {
                    produced[o] = true;
                }
            }
        }
        let mut side: Vec<usize> = nodes
            .iter()
            .flat_map(|&i| self.nodes[i].inputs.iter().flatten().copied())
            .filter(|&x| !produced[x] && self.constants[x].is_none())
            .collect();
        side.sort_unstable();
        side.dedup();
        (nodes, side)
    }

    /// Splits a batch into the graph's fixed batch size, when it has one.
    fn chunks(&self, n: usize) -> Result<Vec<(usize, usize)>> {
        match self.static_batch {
            Some(b) if b != n => {
                if !n.is_multiple_of(b) {
                    return Err(ModelError::Execution {
                        model: self.display_name(),
                        node: self.value_names[self.input].clone(),
                        op: "input".to_string(),
                        message: format!("the graph takes batches of {b}, not {n}"),
                    });
                }
                Ok((0..n / b).map(|i| (i * b, b)).collect())
            }
            _ => Ok(vec![(0, n)]),
        }
    }

    /// The whole graph on `images` (in chunks of a fixed batch), optionally adding a delta to
    /// one value as it is computed.
    fn run_whole(&self, images: Tensor<4>, perturb: Option<(usize, &Float)>) -> Result<Tensor<2>> {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        let keep = vec![false; self.value_names.len()];
        let mut parts = Vec::new();
        for (start, len) in self.chunks(images.dims()[0])? {
            let mut locals = self.fresh_locals(images.clone().narrow(0, start, len));
            let delta = perturb.map(|(v, d)| {
                let rows = d.t.clone().narrow(d.axis(0), start, len);
                (
                    v,
                    Float {
                        t: rows,
                        rank: d.rank,
                    },
                )
            });
            self.run_perturbed(
                &mut locals,
                &all,
                &keep,
                delta.as_ref().map(|(v, d)| (*v, d)),
            )?;
            parts.push(self.logits(&mut locals)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Tensor::cat(parts, 0)
        })
    }

    fn trace_chunk(&self, images: Tensor<4>, layers: &[usize]) -> Result<Trace> {
        let mut keep = vec![false; self.value_names.len()];
        let mut sides = Vec::with_capacity(layers.len());
        for &layer in layers {
            let v = self.layer_values[layer];
            keep[v] = true;
            let (_, side) = self.downstream(v);
            for &s in &side {
                keep[s] = true;
            }
            sides.push(side);
        }
        let batch = images.dims()[0];
        let mut locals = self.fresh_locals(images);
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.run(&mut locals, &all, &keep)?;
        let mut activations = Vec::with_capacity(layers.len());
        let mut prefixes = Vec::with_capacity(layers.len());
        for &l in layers {
            let v = self.layer_values[l];
            let Some(Value::Float(f)) = &locals[v] else {
                return Err(ModelError::TracePosition { position: l });
            };
            let layout = self.layouts[l];
            let map = layout
                .to_map(f)
                .map_err(|message| self.value_failure(v, message))?;
            activations.push(map);
            prefixes.push(layout.prefix_tokens(f));
        }
        // A token layer's leading (class) tokens are kept under the layer's own value id: the
        // resume reads them back from there to rebuild the whole sequence.
        let side_inputs = sides
            .iter()
            .zip(layers)
            .zip(prefixes)
            .map(|((side, &l), prefix)| {
                side.iter()
                    .filter_map(|&s| locals[s].clone().map(|v| (s, v)))
                    .chain(prefix.map(|p| (self.layer_values[l], Value::Float(p))))
                    .collect()
            })
            .collect();
        let logits = self.logits(&mut locals)?;
        let mut trace = Trace::new(logits, activations, layers);
        trace.side_inputs = side_inputs;
        trace.batch = batch;
        Ok(trace)
    }

    fn resume_chunk(&self, trace: &Trace, position: usize, x: Tensor<4>) -> Result<Tensor<2>> {
        let layer = trace.layer(position)?;
        let v = self.layer_values[layer];
        let (nodes, _) = self.downstream(v);
        let mut locals: Vec<Option<Value>> = vec![None; self.value_names.len()];
        for (id, value) in &trace.side_inputs[position] {
            locals[*id] = Some(value.clone());
        }
        // What the trace kept under the cut's own id is its leading (class) tokens.
        let prefix = match locals[v].take() {
            Some(Value::Float(f)) => Some(f),
            _ => None,
        };
        let value = self.layouts[layer]
            .from_map(x, prefix)
            .map_err(|message| self.value_failure(v, message))?;
        locals[v] = Some(Value::Float(value));
        let keep = vec![false; self.value_names.len()];
        self.run(&mut locals, &nodes, &keep)?;
        self.logits(&mut locals)
    }
}

/// Rows `start..start + len` of a trace's side inputs: what resuming that chunk reads (its
/// logits and activations stay whole; a resume does not read them).
fn trace_rows(trace: &Trace, start: usize, len: usize) -> Trace {
    Trace {
        logits: trace.logits.clone(),
        activations: trace.activations.clone(),
        side_inputs: trace
            .side_inputs
            .iter()
            .map(|side| {
                side.iter()
                    .map(|(id, v)| (*id, v.batch_rows(start, len, trace.batch)))
                    .collect()
            })
            .collect(),
        layers: trace.layers.clone(),
        batch: len,
    }
}

/// Traces of consecutive chunks as one.
fn join_traces(parts: Vec<Trace>) -> Trace {
    let first = &parts[0];
    let batch = parts.iter().map(|p| p.batch).sum();
    let layers = first.layers.clone();
    let count = first.activations.len();
    let side_inputs = (0..count)
        .map(|position| {
            first.side_inputs[position]
                .iter()
                .enumerate()
                .map(|(k, (id, v))| {
                    let joined = match v {
                        Value::Float(f) if f.rank > 0 && f.dims()[0] == first.batch => {
                            let axis = f.axis(0);
                            Value::Float(Float {
                                t: Tensor::cat(
                                    parts
                                        .iter()
                                        .map(|p| match &p.side_inputs[position][k].1 {
                                            Value::Float(f) => f.t.clone(),
                                            Value::Int(_) => unreachable!("same graph, same kinds"),
                                        })
                                        .collect(),
                                    axis,
                                ),
                                rank: f.rank,
                            })
                        }
                        other => other.clone(),
                    };
                    (*id, joined)
                })
                .collect()
        })
        .collect();
    let logits = Tensor::cat(parts.iter().map(|p| p.logits.clone()).collect(), 0);
    let activations = (0..count)
        .map(|i| Tensor::cat(parts.iter().map(|p| p.activations[i].clone()).collect(), 0))
        .collect();
    let mut trace = Trace::new(logits, activations, &layers);
    trace.side_inputs = side_inputs;
    trace.batch = batch;
    trace
}

impl Explainable for OnnxModel {
    fn layers(&self) -> &LayerList {
        &self.layer_list
    }

    fn default_layer(&self) -> usize {
        self.default_layer
    }

    fn num_classes(&self) -> usize {
        self.classes
    }

    fn linear_head(&self) -> Option<LinearHead> {
        self.head.clone()
    }

    fn is_folded(&self) -> bool {
        true
    }

    fn replace_parameters(
        &mut self,
        replace: &mut crate::parameters::ParameterReplacer<'_>,
    ) -> Result<()> {
        for (v, name) in &self.parameters {
            let Some(Value::Float(f)) = &self.constants[*v] else {
                continue;
            };
            let shape = f.dims();
            let values = f.to_vec();
            if let Some(new) = replace(name, &shape, &values) {
                if new.len() != values.len() {
                    return Err(ModelError::Replacement {
                        model: self.display_name(),
                        tensor: name.clone(),
                        shape,
                        got: new.len(),
                    });
                }
                self.constants[*v] = Some(Value::Float(Float::from_vec(new, &shape, &self.device)));
            }
        }
        // CAM reads the head's weights, which may have been among those replaced.
        self.head = self.find_linear_head(self.layer_values[self.default_layer]);
        Ok(())
    }

    fn find_layer(&self, name: &str, model: &str) -> Result<usize> {
        if let Some(i) = self.layer_list.find(name) {
            if let LayerLayout::UnknownGrid { length } = self.layouts[i] {
                return Err(ModelError::TokenGrid {
                    name: name.to_string(),
                    model: model.to_string(),
                    shape: self.infos[i].value_shape.clone(),
                    length,
                    grid: self.options.tokens_grid,
                });
            }
            return Ok(i);
        }
        // BatchNorm is folded into its convolution by both exporters: `bn2` names `conv2`'s
        // output (torchvision's naming: convN then bnN).
        if let Some((parent, last)) = name.rsplit_once('.').map_or(Some(("", name)), Some)
            && let Some(n) = last.strip_prefix("bn")
        {
            let conv = if parent.is_empty() {
                format!("conv{n}")
            } else {
                format!("{parent}.conv{n}")
            };
            if let Some(i) = self.layer_list.find(&conv) {
                return Ok(i);
            }
        }
        if let Some(shape) = self.flat_names.get(name) {
            return Err(ModelError::NoSpatialMap {
                name: name.to_string(),
                model: model.to_string(),
                shape: shape.clone(),
                default: self.layer_list.list()[self.default_layer].name.clone(),
            });
        }
        let mut names: Vec<(f64, String)> = self
            .layer_list
            .all_names()
            .into_iter()
            .map(|n| (strsim::normalized_damerau_levenshtein(name, &n), n))
            .collect();
        names.sort_by(|a, b| b.0.total_cmp(&a.0));
        let close: Vec<String> = names.into_iter().take(5).map(|(_, n)| n).collect();
        Err(ModelError::UnknownLayer {
            name: name.to_string(),
            model: model.to_string(),
            closest: close.join(", "),
            path: self.path.clone(),
        })
    }

    fn forward(&self, images: Tensor<4>) -> Result<Tensor<2>> {
        self.run_whole(images, None)
    }

    fn forward_perturbed(
        &self,
        images: Tensor<4>,
        layer: usize,
        delta: Tensor<4>,
    ) -> Result<Tensor<2>> {
        // A token layer's delta leaves its leading (class) tokens alone.
        let v = self.layer_values[layer];
        let delta = self.layouts[layer]
            .from_map(delta, None)
            .map_err(|message| self.value_failure(v, message))?;
        self.run_whole(images, Some((v, &delta)))
    }

    fn trace(&self, images: Tensor<4>, layers: &[usize]) -> Result<Trace> {
        let n = images.dims()[0];
        let chunks = self.chunks(n)?;
        if chunks.len() == 1 {
            return self.trace_chunk(images, layers);
        }
        let parts = chunks
            .into_iter()
            .map(|(start, len)| self.trace_chunk(images.clone().narrow(0, start, len), layers))
            .collect::<Result<Vec<_>>>()?;
        Ok(join_traces(parts))
    }

    fn resume(&self, trace: &Trace, position: usize, activations: Tensor<4>) -> Result<Tensor<2>> {
        let n = activations.dims()[0];
        let chunks = self.chunks(n)?;
        if chunks.len() == 1 {
            return self.resume_chunk(trace, position, activations);
        }
        let parts = chunks
            .into_iter()
            .map(|(start, len)| {
                self.resume_chunk(
                    &trace_rows(trace, start, len),
                    position,
                    activations.clone().narrow(0, start, len),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::cat(parts, 0))
    }
}
