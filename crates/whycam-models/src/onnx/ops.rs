//! The ONNX operators whycam interprets: parsed once at load time (so a graph with an operator
//! whycam lacks is refused before any image), evaluated on burn tensors (float values, with
//! autodiff) or on the host (integer shape arithmetic).
//!
//! Semantics follow the ONNX operator specification (opsets 11 to 22); where an attribute
//! moved to an input between opsets, both forms are read.

use super::proto::{ExternalData, tensor_value};
use super::value::{Float, Int, MAX_RANK, Value};
use burn::prelude::*;
use burn::tensor::Slice;
use burn::tensor::activation;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions, PadMode};
use onnx_ir::{AttributeProto, NodeProto};

/// Why an operator could not be evaluated.
pub type OpResult<T> = std::result::Result<T, String>;

/// A float function of one float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    Relu,
    Sigmoid,
    Tanh,
    Erf,
    Sqrt,
    Neg,
    Exp,
    Log,
    Abs,
    Reciprocal,
    Softplus,
    Mish,
    HardSwish,
    Floor,
    Ceil,
    HardSigmoid { alpha: f32, beta: f32 },
    LeakyRelu(f32),
    Elu(f32),
    Gelu { tanh: bool },
}

/// An element-wise function of two tensors, with numpy broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
}

/// Element-wise comparisons; their booleans are 0/1 values (floats when either side is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Equal,
}

impl Compare {
    fn holds(self, a: i64, b: i64) -> bool {
        match self {
            Compare::Greater => a > b,
            Compare::GreaterOrEqual => a >= b,
            Compare::Less => a < b,
            Compare::LessOrEqual => a <= b,
            Compare::Equal => a == b,
        }
    }
}

/// Reductions over axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    Mean,
    Max,
    Min,
    Sum,
}

/// How a convolution or pooling pads its input.
#[derive(Debug, Clone, PartialEq)]
pub enum AutoPad {
    /// `pads` as given (all zero by default).
    Explicit(Vec<usize>),
    /// Output size ceil(in / stride); the odd pixel at the end (`SAME_UPPER`) or start.
    Same { upper: bool },
    /// No padding.
    Valid,
}

/// The window of a convolution or pooling.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub kernel: Option<[usize; 2]>,
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    pub pad: AutoPad,
}

/// One parsed ONNX operator.
#[derive(Debug, Clone)]
pub enum Op {
    Unary(Unary),
    Binary(Binary),
    /// Variadic `Max`/`Min`/`Sum`.
    Variadic(Binary),
    PRelu,
    Clip {
        min: Option<f32>,
        max: Option<f32>,
    },
    Conv {
        window: Window,
        groups: usize,
    },
    MaxPool {
        window: Window,
        ceil: bool,
    },
    AveragePool {
        window: Window,
        ceil: bool,
        count_include_pad: bool,
    },
    GlobalPool(Reduce),
    Reduce {
        kind: Reduce,
        axes: Option<Vec<i64>>,
        keepdims: bool,
        noop_empty: bool,
    },
    BatchNorm {
        eps: f32,
    },
    LayerNorm {
        axis: i64,
        eps: f32,
    },
    InstanceNorm {
        eps: f32,
    },
    GroupNorm {
        groups: usize,
        eps: f32,
    },
    Flatten {
        axis: i64,
    },
    Reshape {
        allowzero: bool,
    },
    Transpose {
        perm: Option<Vec<i64>>,
    },
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
    MatMul,
    Concat {
        axis: i64,
    },
    Split {
        axis: i64,
        split: Option<Vec<i64>>,
    },
    Slice {
        attrs: Option<[Vec<i64>; 3]>,
    },
    Pad {
        mode: String,
        pads: Option<Vec<i64>>,
        value: f32,
    },
    Softmax {
        axis: i64,
        legacy: bool,
    },
    Constant(Value),
    ConstantOfShape(Value),
    Expand,
    Shape {
        start: i64,
        end: Option<i64>,
    },
    Gather {
        axis: i64,
    },
    Unsqueeze {
        axes: Option<Vec<i64>>,
    },
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    Cast {
        float: bool,
    },
    Compare(Compare),
    /// The remainder: with the divisor's sign (Python's `%`), or with the dividend's
    /// (`fmod`, C's).
    Mod {
        fmod: bool,
    },
    /// Logical not of 0/1 values.
    Not,
    /// Slices of the data replaced by (or added to) updates at index tuples.
    ScatterNd {
        add: bool,
    },
    Where,
    Range,
    Identity,
}

/// Attribute lookup on a node.
struct Attrs<'a>(&'a [AttributeProto]);

impl<'a> Attrs<'a> {
    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.0.iter().find(|a| a.name == name)
    }
    fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }
    fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map_or(default, |a| a.f)
    }
    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }
    fn string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
}

fn pair(values: Option<Vec<i64>>, default: usize, what: &str) -> OpResult<[usize; 2]> {
    match values {
        None => Ok([default; 2]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| x > 0) => Ok([v[0] as usize, v[1] as usize]),
        Some(v) => Err(format!("{what} {v:?} (whycam runs 2-D windows only)")),
    }
}

fn window(a: &Attrs<'_>) -> OpResult<Window> {
    let kernel = match a.ints("kernel_shape") {
        None => None,
        some => Some(pair(some, 1, "kernel_shape")?),
    };
    let pad = match a.string("auto_pad").as_deref() {
        None | Some("NOTSET") | Some("") => match a.ints("pads") {
            None => AutoPad::Explicit(vec![0; 4]),
            Some(p) if p.len() == 4 && p.iter().all(|&x| x >= 0) => {
                AutoPad::Explicit(p.iter().map(|&x| x as usize).collect())
            }
            Some(p) => return Err(format!("pads {p:?}")),
        },
        Some("SAME_UPPER") => AutoPad::Same { upper: true },
        Some("SAME_LOWER") => AutoPad::Same { upper: false },
        Some("VALID") => AutoPad::Valid,
        Some(other) => return Err(format!("auto_pad {other:?}")),
    };
    Ok(Window {
        kernel,
        strides: pair(a.ints("strides"), 1, "strides")?,
        dilations: pair(a.ints("dilations"), 1, "dilations")?,
        pad,
    })
}

impl Op {
    /// Parses a node, or says why whycam cannot run it (`Err(None)`: the operator itself is
    /// unknown; `Err(Some(reason))`: an attribute whycam does not support).
    pub fn parse(
        node: &NodeProto,
        opset: i64,
        external: &mut ExternalData,
        device: &Device,
    ) -> std::result::Result<Op, Option<String>> {
        let a = Attrs(&node.attribute);
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(None);
        }
        let unary = |u| Ok(Op::Unary(u));
        let op = match node.op_type.as_str() {
            "Relu" => unary(Unary::Relu),
            "Sigmoid" => unary(Unary::Sigmoid),
            "Tanh" => unary(Unary::Tanh),
            "Erf" => unary(Unary::Erf),
            "Sqrt" => unary(Unary::Sqrt),
            "Neg" => unary(Unary::Neg),
            "Exp" => unary(Unary::Exp),
            "Log" => unary(Unary::Log),
            "Abs" => unary(Unary::Abs),
            "Reciprocal" => unary(Unary::Reciprocal),
            "Softplus" => unary(Unary::Softplus),
            "Mish" => unary(Unary::Mish),
            "HardSwish" => unary(Unary::HardSwish),
            "Floor" => unary(Unary::Floor),
            "Ceil" => unary(Unary::Ceil),
            "HardSigmoid" => unary(Unary::HardSigmoid {
                alpha: a.float("alpha", 0.2),
                beta: a.float("beta", 0.5),
            }),
            "LeakyRelu" => unary(Unary::LeakyRelu(a.float("alpha", 0.01))),
            "Elu" => unary(Unary::Elu(a.float("alpha", 1.0))),
            "Gelu" => match a.string("approximate").as_deref() {
                None | Some("none") => unary(Unary::Gelu { tanh: false }),
                Some("tanh") => unary(Unary::Gelu { tanh: true }),
                Some(other) => Err(format!("approximate {other:?}")),
            },
            "Add" => Ok(Op::Binary(Binary::Add)),
            "Sub" => Ok(Op::Binary(Binary::Sub)),
            "Mul" => Ok(Op::Binary(Binary::Mul)),
            "Div" => Ok(Op::Binary(Binary::Div)),
            "Pow" => Ok(Op::Binary(Binary::Pow)),
            "Max" => Ok(Op::Variadic(Binary::Max)),
            "Min" => Ok(Op::Variadic(Binary::Min)),
            "Sum" => Ok(Op::Variadic(Binary::Add)),
            "PRelu" => Ok(Op::PRelu),
            "Clip" => Ok(Op::Clip {
                min: a.get("min").map(|x| x.f),
                max: a.get("max").map(|x| x.f),
            }),
            "Conv" => window(&a).map(|window| Op::Conv {
                window,
                groups: a.int("group", 1).max(1) as usize,
            }),
            "MaxPool" => {
                if a.int("storage_order", 0) != 0 {
                    Err("storage_order 1".to_string())
                } else {
                    window(&a).map(|window| Op::MaxPool {
                        window,
                        ceil: a.int("ceil_mode", 0) != 0,
                    })
                }
            }
            "AveragePool" => window(&a).map(|window| Op::AveragePool {
                window,
                ceil: a.int("ceil_mode", 0) != 0,
                count_include_pad: a.int("count_include_pad", 0) != 0,
            }),
            "GlobalAveragePool" => Ok(Op::GlobalPool(Reduce::Mean)),
            "GlobalMaxPool" => Ok(Op::GlobalPool(Reduce::Max)),
            "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceSum" => Ok(Op::Reduce {
                kind: match node.op_type.as_str() {
                    "ReduceMean" => Reduce::Mean,
                    "ReduceMax" => Reduce::Max,
                    "ReduceMin" => Reduce::Min,
                    _ => Reduce::Sum,
                },
                axes: a.ints("axes"),
                keepdims: a.int("keepdims", 1) != 0,
                noop_empty: a.int("noop_with_empty_axes", 0) != 0,
            }),
            "BatchNormalization" => {
                if a.int("training_mode", 0) != 0 {
                    Err("training_mode 1 (export the model in eval mode)".to_string())
                } else {
                    Ok(Op::BatchNorm {
                        eps: a.float("epsilon", 1e-5),
                    })
                }
            }
            "LayerNormalization" => Ok(Op::LayerNorm {
                axis: a.int("axis", -1),
                eps: a.float("epsilon", 1e-5),
            }),
            "InstanceNormalization" => Ok(Op::InstanceNorm {
                eps: a.float("epsilon", 1e-5),
            }),
            "GroupNormalization" => Ok(Op::GroupNorm {
                groups: a.int("num_groups", 1).max(1) as usize,
                eps: a.float("epsilon", 1e-5),
            }),
            "Flatten" => Ok(Op::Flatten {
                axis: a.int("axis", 1),
            }),
            "Reshape" => Ok(Op::Reshape {
                allowzero: a.int("allowzero", 0) != 0,
            }),
            "Transpose" => Ok(Op::Transpose {
                perm: a.ints("perm"),
            }),
            "Gemm" => Ok(Op::Gemm {
                alpha: a.float("alpha", 1.0),
                beta: a.float("beta", 1.0),
                trans_a: a.int("transA", 0) != 0,
                trans_b: a.int("transB", 0) != 0,
            }),
            "MatMul" => Ok(Op::MatMul),
            "Concat" => Ok(Op::Concat {
                axis: a.int("axis", 0),
            }),
            "Split" => Ok(Op::Split {
                axis: a.int("axis", 0),
                split: a.ints("split"),
            }),
            "Slice" => Ok(Op::Slice {
                attrs: match (a.ints("starts"), a.ints("ends")) {
                    (Some(starts), Some(ends)) => {
                        let axes = a
                            .ints("axes")
                            .unwrap_or_else(|| (0..starts.len() as i64).collect());
                        Some([starts, ends, axes])
                    }
                    _ => None,
                },
            }),
            "Pad" => {
                let mode = a.string("mode").unwrap_or_else(|| "constant".to_string());
                if !["constant", "reflect", "edge"].contains(&mode.as_str()) {
                    Err(format!("mode {mode:?}"))
                } else {
                    Ok(Op::Pad {
                        mode,
                        pads: a.ints("pads"),
                        value: a.float("value", 0.0),
                    })
                }
            }
            "Softmax" => Ok(Op::Softmax {
                axis: a.int("axis", if opset >= 13 { -1 } else { 1 }),
                legacy: opset < 13,
            }),
            "Constant" => constant(&a, external, device).map(Op::Constant),
            "ConstantOfShape" => Ok(Op::ConstantOfShape(match a.get("value") {
                Some(attr) if attr.t.is_some() => {
                    tensor_value(&attr.t, external, device).map_err(|e| Some(read_error(e)))?
                }
                _ => Value::Float(Float::from_vec(vec![0.0], &[1], device)),
            })),
            "Expand" => Ok(Op::Expand),
            "Shape" => Ok(Op::Shape {
                start: a.int("start", 0),
                end: a.get("end").map(|x| x.i),
            }),
            "Gather" => Ok(Op::Gather {
                axis: a.int("axis", 0),
            }),
            "Unsqueeze" => Ok(Op::Unsqueeze {
                axes: a.ints("axes"),
            }),
            "Squeeze" => Ok(Op::Squeeze {
                axes: a.ints("axes"),
            }),
            "Cast" => Ok(Op::Cast {
                float: matches!(a.int("to", 1), 1 | 10 | 11 | 16),
            }),
            "Range" => Ok(Op::Range),
            "Greater" => Ok(Op::Compare(Compare::Greater)),
            "GreaterOrEqual" => Ok(Op::Compare(Compare::GreaterOrEqual)),
            "Less" => Ok(Op::Compare(Compare::Less)),
            "LessOrEqual" => Ok(Op::Compare(Compare::LessOrEqual)),
            "Equal" => Ok(Op::Compare(Compare::Equal)),
            "Where" => Ok(Op::Where),
            "Mod" => Ok(Op::Mod {
                fmod: a.int("fmod", 0) != 0,
            }),
            "Not" => Ok(Op::Not),
            "ScatterND" => match a.string("reduction").as_deref() {
                None | Some("none") => Ok(Op::ScatterNd { add: false }),
                Some("add") => Ok(Op::ScatterNd { add: true }),
                Some(other) => Err(format!("reduction {other:?}")),
            },
            "Identity" | "Dropout" => Ok(Op::Identity),
            _ => return Err(None),
        };
        op.map_err(Some)
    }
}

fn read_error(e: super::proto::ReadError) -> String {
    match e {
        super::proto::ReadError::Io(e) => e.to_string(),
        super::proto::ReadError::ExternalData { path, source } => {
            format!("cannot read external data {}: {source}", path.display())
        }
        super::proto::ReadError::Format(m) => m,
        super::proto::ReadError::NonFinite { tensor, what } => format!("{tensor:?} holds {what}"),
    }
}

fn constant(a: &Attrs<'_>, external: &mut ExternalData, device: &Device) -> OpResult<Value> {
    if let Some(attr) = a.get("value") {
        return tensor_value(&attr.t, external, device).map_err(read_error);
    }
    if let Some(attr) = a.get("value_float") {
        return Ok(Value::Float(Float::from_vec(vec![attr.f], &[], device)));
    }
    if let Some(attr) = a.get("value_floats") {
        let n = attr.floats.len();
        return Ok(Value::Float(Float::from_vec(
            attr.floats.clone(),
            &[n],
            device,
        )));
    }
    if let Some(attr) = a.get("value_int") {
        return Ok(Value::Int(Int {
            data: vec![attr.i],
            shape: vec![],
        }));
    }
    if let Some(attr) = a.get("value_ints") {
        return Ok(Value::Int(Int::vector(attr.ints.clone())));
    }
    Err("a Constant without a value whycam reads (sparse or string)".to_string())
}

/// `axis` (negative counts from the end) as an index into `rank` dimensions.
pub fn norm_axis(axis: i64, rank: usize) -> OpResult<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} out of range for rank {rank}"))
    }
}

/// The most elements a value made from a shape in the graph may have (8 GiB of floats): a
/// hostile or broken file asking for more is refused instead of aborting on allocation.
const MAX_ELEMENTS: usize = 1 << 31;

/// The number of elements of `shape`, refused past [`MAX_ELEMENTS`] or [`MAX_RANK`] axes.
pub fn element_count(shape: &[usize]) -> OpResult<usize> {
    if shape.len() > MAX_RANK {
        return Err(format!(
            "a rank-{} tensor (whycam holds up to rank {MAX_RANK})",
            shape.len()
        ));
    }
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| format!("a tensor of shape {shape:?}, too large"))
}

/// numpy's broadcast of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> OpResult<Vec<usize>> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|i| {
            let da = if i + a.len() >= rank {
                a[i + a.len() - rank]
            } else {
                1
            };
            let db = if i + b.len() >= rank {
                b[i + b.len() - rank]
            } else {
                1
            };
            match (da, db) {
                (x, y) if x == y => Ok(x),
                (1, y) => Ok(y),
                (x, 1) => Ok(x),
                _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
            }
        })
        .collect()
}

/// The inputs of one node during evaluation: owned, so that a value read for the last time
/// can be overwritten in place (ReLU, clamps).
pub struct Inputs<'a> {
    pub values: Vec<Option<Value>>,
    pub device: &'a Device,
}

impl Inputs<'_> {
    fn get(&self, i: usize) -> OpResult<&Value> {
        self.opt(i).ok_or_else(|| format!("input {i} is missing"))
    }
    fn opt(&self, i: usize) -> Option<&Value> {
        self.values.get(i).and_then(Option::as_ref)
    }
    /// Input `i` as a float, moved out of the inputs.
    fn take_float(&mut self, i: usize) -> OpResult<Float> {
        match self.values.get_mut(i).and_then(Option::take) {
            Some(Value::Float(f)) => Ok(f),
            Some(other) => Ok(other.float(self.device)),
            None => Err(format!("input {i} is missing")),
        }
    }
    fn float(&self, i: usize) -> OpResult<Float> {
        Ok(self.get(i)?.float(self.device))
    }
    fn ints(&self, i: usize) -> OpResult<Vec<i64>> {
        Ok(self.get(i)?.int().data)
    }
    fn opt_ints(&self, i: usize) -> Option<Vec<i64>> {
        self.opt(i).map(|v| v.int().data)
    }
    fn scalar(&self, i: usize) -> Option<f32> {
        self.opt(i).and_then(Value::scalar)
    }
}

fn rank4(x: &Float, what: &str) -> OpResult<Tensor<4>> {
    if x.rank != 4 {
        return Err(format!("{what} needs a 4-D input, got {:?}", x.dims()));
    }
    Ok(x.tensor::<4>())
}

/// Resolves a window's padding for an input of `size` (H, W): `[(top, bottom), (left, right)]`.
fn paddings(w: &Window, kernel: [usize; 2], size: [usize; 2]) -> [(usize, usize); 2] {
    match &w.pad {
        AutoPad::Explicit(p) => [(p[0], p[2]), (p[1], p[3])],
        AutoPad::Valid => [(0, 0); 2],
        AutoPad::Same { upper } => std::array::from_fn(|i| {
            // Saturating: an absurd window comes out as absurd padding, which
            // `check_window` refuses.
            let out = size[i].div_ceil(w.strides[i]);
            let span = (kernel[i] - 1)
                .saturating_mul(w.dilations[i])
                .saturating_add(1);
            let total = (out.saturating_sub(1).saturating_mul(w.strides[i]))
                .saturating_add(span)
                .saturating_sub(size[i]);
            let small = total / 2;
            if *upper {
                (small, total - small)
            } else {
                (total - small, small)
            }
        }),
    }
}

fn one(v: Value) -> OpResult<Vec<Value>> {
    Ok(vec![v])
}

fn float(t: Float) -> OpResult<Vec<Value>> {
    one(Value::Float(t))
}

impl Op {
    /// Evaluates the operator; `outputs` is the node's number of outputs.
    pub fn eval(&self, x: &mut Inputs<'_>, outputs: usize) -> OpResult<Vec<Value>> {
        match self {
            Op::Unary(u) => float(unary(*u, x.take_float(0)?)),
            Op::Binary(b) => binary(*b, x.get(0)?, x.get(1)?, x.device).map(|v| vec![v]),
            Op::Variadic(b) => {
                let mut acc = x.get(0)?.clone();
                for i in 1..x.values.len() {
                    acc = binary(*b, &acc, x.get(i)?, x.device)?;
                }
                one(acc)
            }
            Op::PRelu => {
                let (v, slope) = (x.float(0)?, x.float(1)?);
                broadcast(&v.dims(), &slope.dims())?;
                float(Float {
                    t: v.t.clone().clamp_min(0.0) + v.t.clamp_max(0.0) * slope.t,
                    rank: v.rank,
                })
            }
            Op::Clip { min, max } => {
                let min = x.scalar(1).or(*min).unwrap_or(f32::NEG_INFINITY);
                let max = x.scalar(2).or(*max).unwrap_or(f32::INFINITY);
                let v = x.take_float(0)?;
                float(Float {
                    t: crate::activation::clamp(v.t, min, max),
                    rank: v.rank,
                })
            }
            Op::Conv { window: w, groups } => {
                let input = x.float(0)?;
                let weight = x.float(1)?;
                let xt = rank4(&input, "Conv")?;
                let wt = rank4(&weight, "Conv weight")?;
                let [_, c, h, wd] = xt.dims();
                let [m, cg, kh, kw] = wt.dims();
                if cg * groups != c || m % groups != 0 {
                    return Err(format!(
                        "input {:?} does not fit weight {:?} with {groups} groups",
                        input.dims(),
                        weight.dims()
                    ));
                }
                let kernel = [kh, kw];
                if w.kernel.is_some_and(|k| k != kernel) {
                    return Err("kernel_shape disagrees with the weight".to_string());
                }
                let pads = paddings(w, kernel, [h, wd]);
                check_window(kernel, w, pads, xt.dims())?;
                let bias = match x.opt(2) {
                    Some(b) => {
                        let b = b.float(x.device);
                        if b.dims() != [m] {
                            return Err(format!("bias {:?} for {m} channels", b.dims()));
                        }
                        Some(b.tensor::<1>())
                    }
                    None => None,
                };
                let options = ConvOptions::new_with_padding(w.strides, pads, w.dilations, *groups);
                let bias_values = bias.clone();
                let y = crate::conv::conv2d(xt, wt, bias, options);
                float(Float::from_tensor(match bias_values {
                    // FullGrad's bias-gradient tap (a no-op outside its scope).
                    Some(b) => crate::fullgrad::tap(y, || host_f32(b)),
                    None => y,
                }))
            }
            Op::MaxPool { window: w, ceil } => {
                if outputs > 1 {
                    return Err("MaxPool's indices output is not supported".to_string());
                }
                let xt = rank4(&x.float(0)?, "MaxPool")?;
                let [_, _, h, wd] = xt.dims();
                let kernel = w.kernel.ok_or("MaxPool without kernel_shape")?;
                let pads = paddings(w, kernel, [h, wd]);
                check_window(kernel, w, pads, xt.dims())?;
                let options = MaxPoolOptions::new(kernel)
                    .with_stride(w.strides)
                    .with_padding_pairs(pads)
                    .with_dilation(w.dilations)
                    .with_ceil_mode(*ceil);
                float(Float::from_tensor(max_pool2d(xt, options)))
            }
            Op::AveragePool {
                window: w,
                ceil,
                count_include_pad,
            } => {
                let xt = rank4(&x.float(0)?, "AveragePool")?;
                let [_, _, h, wd] = xt.dims();
                let kernel = w.kernel.ok_or("AveragePool without kernel_shape")?;
                if w.dilations != [1, 1] {
                    return Err("dilated AveragePool".to_string());
                }
                let pads = paddings(w, kernel, [h, wd]);
                check_window(kernel, w, pads, xt.dims())?;
                let options = AvgPoolOptions::new(kernel)
                    .with_stride(w.strides)
                    .with_padding_pairs(pads)
                    .with_count_include_pad(*count_include_pad)
                    .with_ceil_mode(*ceil);
                float(Float::from_tensor(avg_pool2d(xt, options)))
            }
            Op::GlobalPool(kind) => {
                let v = x.float(0)?;
                if v.rank < 3 {
                    return Err(format!("global pooling of a {:?} tensor", v.dims()));
                }
                let axes: Vec<usize> = (2..v.rank).collect();
                float(reduce(*kind, &v, &axes, true))
            }
            Op::Reduce {
                kind,
                axes,
                keepdims,
                noop_empty,
            } => {
                let v = x.float(0)?;
                let axes = axes.clone().or_else(|| x.opt_ints(1)).unwrap_or_default();
                if axes.is_empty() && *noop_empty {
                    return float(v);
                }
                let axes: Vec<usize> = if axes.is_empty() {
                    (0..v.rank).collect()
                } else {
                    axes.iter()
                        .map(|&a| norm_axis(a, v.rank))
                        .collect::<OpResult<_>>()?
                };
                float(reduce(*kind, &v, &axes, *keepdims))
            }
            Op::BatchNorm { eps } => {
                let v = x.float(0)?;
                let dims = v.dims();
                if dims.len() < 2 {
                    return Err(format!("BatchNormalization of a {dims:?} tensor"));
                }
                let c = dims[1];
                let mut shape = vec![c];
                shape.extend(std::iter::repeat_n(1, dims.len() - 2));
                let param = |i: usize| -> OpResult<Tensor<MAX_RANK>> {
                    let p = x.float(i)?;
                    if p.len() != c {
                        return Err(format!(
                            "parameter {i} has {:?} values for {c} channels",
                            p.dims()
                        ));
                    }
                    Ok(p.reshaped(&shape).t)
                };
                let (scale, bias, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
                let factor = scale / (var + *eps).sqrt();
                let t = (v.t - mean.clone()) * factor.clone() + bias.clone();
                // A 2-D BatchNorm's effective bias `β - μ γ / sqrt(σ² + ε)` for FullGrad's tap
                // (a no-op outside its scope).
                let t = if v.rank == 4 {
                    crate::fullgrad::tap(t, || host_f32((bias - mean * factor).reshape([c])))
                } else {
                    t
                };
                float(Float { t, rank: v.rank })
            }
            Op::LayerNorm { axis, eps } => {
                let v = x.float(0)?;
                let axis = norm_axis(*axis, v.rank)?;
                if axis + 1 == v.rank
                    && let Some(t) = layer_norm_last(x, &v, *eps)
                {
                    return float(Float { t, rank: v.rank });
                }
                let axes: Vec<usize> = (axis..v.rank).collect();
                let normalised = standardise(&v, &axes, *eps);
                let mut t = normalised.t;
                if let Some(scale) = x.opt(1) {
                    t = t * scale.float(x.device).t;
                }
                if let Some(bias) = x.opt(2) {
                    t = t + bias.float(x.device).t;
                }
                float(Float { t, rank: v.rank })
            }
            Op::InstanceNorm { eps } => {
                let v = x.float(0)?;
                let dims = v.dims();
                if dims.len() < 3 {
                    return Err(format!("InstanceNormalization of a {dims:?} tensor"));
                }
                let axes: Vec<usize> = (2..v.rank).collect();
                let normalised = standardise(&v, &axes, *eps);
                let mut shape = vec![dims[1]];
                shape.extend(std::iter::repeat_n(1, dims.len() - 2));
                let scale = x.float(1)?.reshaped(&shape).t;
                let bias = x.float(2)?.reshaped(&shape).t;
                float(Float {
                    t: normalised.t * scale + bias,
                    rank: v.rank,
                })
            }
            Op::GroupNorm { groups, eps } => {
                let v = x.float(0)?;
                let dims = v.dims();
                if dims.len() < 3 || dims[1] % groups != 0 {
                    return Err(format!("GroupNormalization of {dims:?} in {groups} groups"));
                }
                let (n, c) = (dims[0], dims[1]);
                let rest: usize = dims[2..].iter().product();
                let grouped = v.reshaped(&[n, *groups, c / groups * rest]);
                let normalised = standardise(&grouped, &[2], *eps).reshaped(&dims);
                let mut shape = vec![c];
                shape.extend(std::iter::repeat_n(1, dims.len() - 2));
                let per_channel = |p: Float| -> OpResult<Tensor<MAX_RANK>> {
                    if p.len() == c {
                        Ok(p.reshaped(&shape).t)
                    } else if p.len() == *groups {
                        // Opset 18's per-group scale and bias.
                        let g = p
                            .reshaped(&[*groups, 1])
                            .t
                            .repeat_dim(MAX_RANK - 1, c / groups);
                        Ok(Float { t: g, rank: 2 }.reshaped(&shape).t)
                    } else {
                        Err(format!("GroupNormalization parameter {:?}", p.dims()))
                    }
                };
                let scale = per_channel(x.float(1)?)?;
                let bias = per_channel(x.float(2)?)?;
                float(Float {
                    t: normalised.t * scale + bias,
                    rank: v.rank,
                })
            }
            Op::Flatten { axis } => {
                let v = x.get(0)?;
                let dims = v.dims();
                let axis = if *axis == dims.len() as i64 {
                    dims.len()
                } else {
                    norm_axis(*axis, dims.len())?
                };
                let outer: usize = dims[..axis].iter().product();
                let inner: usize = dims[axis..].iter().product();
                one(reshape_value(v, &[outer, inner])?)
            }
            Op::Reshape { allowzero } => {
                let v = x.get(0)?;
                let dims = v.dims();
                let spec = x.ints(1)?;
                let shape = reshape_target(&dims, &spec, *allowzero)?;
                one(reshape_value(v, &shape)?)
            }
            Op::Transpose { perm } => {
                let v = x.get(0)?;
                let rank = v.dims().len();
                let perm: Vec<usize> = match perm {
                    Some(p) => p
                        .iter()
                        .map(|&a| norm_axis(a, rank))
                        .collect::<OpResult<_>>()?,
                    None => (0..rank).rev().collect(),
                };
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if sorted != (0..rank).collect::<Vec<_>>() {
                    return Err(format!("perm {perm:?} for rank {rank}"));
                }
                match v {
                    Value::Float(f) => {
                        let offset = MAX_RANK - rank;
                        let full: [usize; MAX_RANK] = std::array::from_fn(|i| {
                            if i < offset {
                                i
                            } else {
                                offset + perm[i - offset]
                            }
                        });
                        float(Float {
                            t: f.t.clone().permute(full),
                            rank,
                        })
                    }
                    Value::Int(i) => {
                        // Host integers (pad amounts, shapes): pick each axis in perm order.
                        let picks: Vec<Vec<usize>> =
                            (0..rank).map(|a| (0..i.shape[a]).collect()).collect();
                        one(Value::Int(host_pick(i, &picks, &perm)))
                    }
                }
            }
            Op::Gemm {
                alpha,
                beta,
                trans_a,
                trans_b,
            } => {
                let a = x.float(0)?;
                let b = x.float(1)?;
                if a.rank != 2 || b.rank != 2 {
                    return Err(format!("Gemm of {:?} and {:?}", a.dims(), b.dims()));
                }
                let mut at = a.tensor::<2>();
                let mut bt = b.tensor::<2>();
                if *trans_a {
                    at = at.transpose();
                }
                if *trans_b {
                    bt = bt.transpose();
                }
                if at.dims()[1] != bt.dims()[0] {
                    return Err(format!("Gemm of {:?} and {:?}", at.dims(), bt.dims()));
                }
                let mut y = at.matmul(bt);
                if *alpha != 1.0 {
                    y = y.mul_scalar(*alpha);
                }
                let mut y = Float::from_tensor(y);
                if let Some(c) = x.opt(2) {
                    let c = c.float(x.device);
                    broadcast(&y.dims(), &c.dims())?;
                    let ct = if *beta != 1.0 {
                        c.t.mul_scalar(*beta)
                    } else {
                        c.t
                    };
                    y.t = y.t + ct;
                }
                float(y)
            }
            Op::MatMul => {
                // A third input is the bias of a Linear layer, fused in by the loader.
                let bias = x.opt(2).map(|b| b.float(x.device));
                matmul(&x.float(0)?, &x.float(1)?, bias.as_ref()).and_then(float)
            }
            Op::Concat { axis } => concat(x, *axis),
            Op::Split { axis, split } => {
                let v = x.float(0)?;
                let dims = v.dims();
                let axis = norm_axis(*axis, v.rank)?;
                let sizes: Vec<usize> = match split.clone().or_else(|| x.opt_ints(1)) {
                    Some(s) => s.iter().map(|&s| s.max(0) as usize).collect(),
                    None => {
                        let each = dims[axis].div_ceil(outputs.max(1));
                        let mut left = dims[axis];
                        (0..outputs)
                            .map(|_| {
                                let s = each.min(left);
                                left -= s;
                                s
                            })
                            .collect()
                    }
                };
                if sizes.iter().sum::<usize>() != dims[axis] {
                    return Err(format!("split {sizes:?} of axis {axis} of {dims:?}"));
                }
                let mut start = 0;
                Ok(sizes
                    .iter()
                    .map(|&s| {
                        let part = v.t.clone().narrow(v.axis(axis), start, s);
                        start += s;
                        Value::Float(Float {
                            t: part,
                            rank: v.rank,
                        })
                    })
                    .collect())
            }
            Op::Slice { attrs } => {
                let v = x.get(0)?;
                let (starts, ends, axes, steps) = match attrs {
                    Some([s, e, a]) => (s.clone(), e.clone(), Some(a.clone()), None),
                    None => (x.ints(1)?, x.ints(2)?, x.opt_ints(3), x.opt_ints(4)),
                };
                slice(v, &starts, &ends, axes, steps).map(|v| vec![v])
            }
            Op::Pad { mode, pads, value } => {
                let v = x.float(0)?;
                let pads = match pads {
                    Some(p) => p.clone(),
                    None => x.ints(1)?,
                };
                let value = x.scalar(2).unwrap_or(*value);
                let rank = v.rank;
                let axes: Vec<usize> = match x.opt_ints(3) {
                    Some(a) => a
                        .iter()
                        .map(|&a| norm_axis(a, rank))
                        .collect::<OpResult<_>>()?,
                    None => (0..rank).collect(),
                };
                if pads.len() != 2 * axes.len() || pads.iter().any(|&p| p < 0) {
                    return Err(format!("pads {pads:?} for axes {axes:?}"));
                }
                let mut pairs = [(0usize, 0usize); MAX_RANK];
                for (i, &a) in axes.iter().enumerate() {
                    pairs[v.axis(a)] = (pads[i] as usize, pads[i + axes.len()] as usize);
                }
                let mode = match mode.as_str() {
                    "reflect" => PadMode::Reflect,
                    "edge" => PadMode::Edge,
                    _ => PadMode::Constant(value),
                };
                // What burn asserts (a panic) is an error here, and the padded value is
                // bounded as any value made from a shape in the graph.
                let dims = v.t.dims();
                let mut padded = [0usize; MAX_RANK];
                for (i, (&d, &(before, after))) in dims.iter().zip(&pairs).enumerate() {
                    let fits = match mode {
                        PadMode::Reflect => before < d && after < d,
                        PadMode::Edge => d > 0 || (before == 0 && after == 0),
                        PadMode::Constant(_) => true,
                    };
                    let total = d.checked_add(before).and_then(|t| t.checked_add(after));
                    let (true, Some(total)) = (fits, total) else {
                        return Err(format!(
                            "{} pads {pads:?} for a tensor of shape {:?}",
                            mode_name(mode),
                            v.dims()
                        ));
                    };
                    padded[i] = total;
                }
                element_count(&padded[MAX_RANK - rank..])?;
                float(Float {
                    t: v.t.pad(pairs, mode),
                    rank,
                })
            }
            Op::Softmax { axis, legacy } => {
                let v = x.float(0)?;
                let axis = norm_axis(*axis, v.rank)?;
                if *legacy && axis + 1 < v.rank {
                    let dims = v.dims();
                    let outer: usize = dims[..axis].iter().product();
                    let inner: usize = dims[axis..].iter().product();
                    let flat = v.reshaped(&[outer, inner]);
                    let t = activation::softmax(flat.t, MAX_RANK - 1);
                    return float(Float { t, rank: 2 }.reshaped(&dims));
                }
                float(Float {
                    t: activation::softmax(v.t.clone(), v.axis(axis)),
                    rank: v.rank,
                })
            }
            Op::Constant(c) => one(c.clone()),
            Op::ConstantOfShape(fill) => {
                let shape: Vec<usize> = x.ints(0)?.iter().map(|&d| d.max(0) as usize).collect();
                let count = element_count(&shape)?;
                one(match fill {
                    Value::Float(f) => {
                        let v = f.to_vec().first().copied().unwrap_or(0.0);
                        Value::Float(Float::from_vec(vec![v; count], &shape, x.device))
                    }
                    Value::Int(i) => Value::Int(Int {
                        data: vec![i.data.first().copied().unwrap_or(0); count],
                        shape,
                    }),
                })
            }
            Op::Expand => {
                let v = x.get(0)?;
                let target: Vec<usize> = x.ints(1)?.iter().map(|&d| d.max(0) as usize).collect();
                let shape = broadcast(&v.dims(), &target)?;
                element_count(&shape)?;
                match v {
                    Value::Float(f) => {
                        let zeros = Tensor::zeros(super::value::padded(&shape), x.device);
                        float(Float {
                            t: f.t.clone() + zeros,
                            rank: shape.len(),
                        })
                    }
                    Value::Int(i) => {
                        let count: usize = shape.iter().product();
                        let data = (0..count)
                            .map(|k| i.data[broadcast_index(i, &shape, k)])
                            .collect();
                        one(Value::Int(Int { data, shape }))
                    }
                }
            }
            Op::Shape { start, end } => {
                let dims = x.get(0)?.dims();
                let r = dims.len() as i64;
                let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                let (s, e) = (clampi(*start), clampi(end.unwrap_or(r)));
                let data = dims[s..e.max(s)].iter().map(|&d| d as i64).collect();
                one(Value::Int(Int::vector(data)))
            }
            Op::Gather { axis } => gather(x.get(0)?, &x.get(1)?.int(), *axis),
            Op::Unsqueeze { axes } => {
                let v = x.get(0)?;
                let dims = v.dims();
                let axes = axes.clone().map_or_else(|| x.ints(1), Ok)?;
                let rank = dims.len() + axes.len();
                let mut axes: Vec<usize> = axes
                    .iter()
                    .map(|&a| norm_axis(a, rank))
                    .collect::<OpResult<_>>()?;
                axes.sort_unstable();
                let mut shape = Vec::with_capacity(rank);
                let mut rest = dims.iter();
                for i in 0..rank {
                    if axes.binary_search(&i).is_ok() {
                        shape.push(1);
                    } else {
                        shape.push(*rest.next().ok_or("duplicate Unsqueeze axes")?);
                    }
                }
                one(reshape_value(v, &shape)?)
            }
            Op::Squeeze { axes } => {
                let v = x.get(0)?;
                let dims = v.dims();
                let axes = axes.clone().or_else(|| x.opt_ints(1));
                let keep: Vec<usize> = match axes {
                    Some(axes) => {
                        let axes: Vec<usize> = axes
                            .iter()
                            .map(|&a| norm_axis(a, dims.len()))
                            .collect::<OpResult<_>>()?;
                        if let Some(&a) = axes.iter().find(|&&a| dims[a] != 1) {
                            return Err(format!("Squeeze of axis {a} of {dims:?}"));
                        }
                        dims.iter()
                            .enumerate()
                            .filter(|(i, _)| !axes.contains(i))
                            .map(|(_, &d)| d)
                            .collect()
                    }
                    None => dims.iter().copied().filter(|&d| d != 1).collect(),
                };
                one(reshape_value(v, &keep)?)
            }
            Op::Cast { float: to_float } => {
                let v = x.get(0)?;
                one(if *to_float {
                    Value::Float(v.float(x.device))
                } else {
                    Value::Int(v.int())
                })
            }
            Op::Compare(c) => {
                let (a, b) = (x.get(0)?, x.get(1)?);
                let shape = broadcast(&a.dims(), &b.dims())?;
                if let (Value::Int(a), Value::Int(b)) = (a, b) {
                    let data = host_zip(a, b, &shape, |p, q| i64::from(c.holds(p, q)));
                    return one(Value::Int(Int { data, shape }));
                }
                let zeros = Tensor::<MAX_RANK>::zeros(super::value::padded(&shape), x.device);
                let ta = a.float(x.device).t + zeros.clone();
                let tb = b.float(x.device).t + zeros.clone();
                let mask = match c {
                    Compare::Greater => ta.greater(tb),
                    Compare::GreaterOrEqual => ta.greater_equal(tb),
                    Compare::Less => ta.lower(tb),
                    Compare::LessOrEqual => ta.lower_equal(tb),
                    Compare::Equal => ta.equal(tb),
                };
                float(Float {
                    t: zeros.mask_fill(mask, 1.0),
                    rank: shape.len(),
                })
            }
            Op::Mod { fmod } => {
                let (a, b) = (x.get(0)?, x.get(1)?);
                let shape = broadcast(&a.dims(), &b.dims())?;
                if let (Value::Int(a), Value::Int(b)) = (a, b) {
                    if b.data.contains(&0) {
                        return Err("integer Mod by zero".to_string());
                    }
                    let data = host_zip(
                        a,
                        b,
                        &shape,
                        |p, q| if *fmod { p % q } else { floor_mod(p, q) },
                    );
                    return one(Value::Int(Int { data, shape }));
                }
                let (fa, fb) = (a.float(x.device), b.float(x.device));
                let quotient = fa.t.clone() / fb.t.clone();
                let whole = if *fmod {
                    // Truncation towards zero: floor of |q| with q's sign.
                    quotient.clone().abs().floor() * quotient.sign()
                } else {
                    quotient.floor()
                };
                float(Float {
                    t: fa.t - fb.t * whole,
                    rank: shape.len(),
                })
            }
            Op::Not => one(match x.get(0)? {
                Value::Int(i) => Value::Int(Int {
                    data: i.data.iter().map(|&v| i64::from(v == 0)).collect(),
                    shape: i.shape.clone(),
                }),
                Value::Float(f) => Value::Float(Float {
                    t: f.t.clone().equal_elem(0.0).float(),
                    rank: f.rank,
                }),
            }),
            Op::ScatterNd { add } => scatter_nd(x.get(0)?, &x.get(1)?.int(), x.get(2)?, *add),
            Op::Where => {
                let (c, a, b) = (x.get(0)?, x.get(1)?, x.get(2)?);
                let shape = broadcast(&broadcast(&c.dims(), &a.dims())?, &b.dims())?;
                if let (Value::Int(c), Value::Int(a), Value::Int(b)) = (c, a, b) {
                    let count: usize = shape.iter().product();
                    let data = (0..count)
                        .map(|i| {
                            let pick = c.data[broadcast_index(c, &shape, i)] != 0;
                            let from = if pick { a } else { b };
                            from.data[broadcast_index(from, &shape, i)]
                        })
                        .collect();
                    return one(Value::Int(Int { data, shape }));
                }
                // Both branches are computed; the mask picks per element, and gradients flow
                // only into the picked branch (as torch.where's).
                let zeros = Tensor::<MAX_RANK>::zeros(super::value::padded(&shape), x.device);
                let mask = (c.float(x.device).t + zeros.clone()).not_equal_elem(0.0);
                let ta = a.float(x.device).t + zeros.clone();
                let tb = b.float(x.device).t + zeros;
                float(Float {
                    t: tb.mask_where(mask, ta),
                    rank: shape.len(),
                })
            }
            Op::Range => {
                let (start, limit, delta) = (x.get(0)?, x.get(1)?, x.get(2)?);
                if [start, limit, delta]
                    .iter()
                    .all(|v| matches!(v, Value::Int(_)))
                {
                    let (s, l, d) = (
                        start.int().data[0],
                        limit.int().data[0],
                        delta.int().data[0],
                    );
                    if d == 0 {
                        return Err("Range with delta 0".to_string());
                    }
                    let n = ((l as f64 - s as f64) / d as f64).ceil().max(0.0);
                    element_count(&[n.min(usize::MAX as f64) as usize])?;
                    let n = n as i64;
                    return one(Value::Int(Int::vector((0..n).map(|i| s + i * d).collect())));
                }
                let f = |v: &Value| v.float(x.device).to_vec().first().copied().unwrap_or(0.0);
                let (s, l, d) = (f(start), f(limit), f(delta));
                if d == 0.0 {
                    return Err("Range with delta 0".to_string());
                }
                let n = ((l - s) / d).ceil().max(0.0).min(usize::MAX as f32) as usize;
                element_count(&[n])?;
                let data: Vec<f32> = (0..n).map(|i| s + i as f32 * d).collect();
                float(Float::from_vec(data, &[n], x.device))
            }
            Op::Identity => one(x.get(0)?.clone()),
        }
    }
}

/// `p mod q` with the sign of `q`, as Python's `%` (`q` is not zero).
fn floor_mod(p: i64, q: i64) -> i64 {
    let r = p.wrapping_rem(q);
    if r != 0 && ((r < 0) != (q < 0)) {
        r + q
    } else {
        r
    }
}

/// The ONNX name of a padding mode, for messages.
fn mode_name(mode: PadMode) -> &'static str {
    match mode {
        PadMode::Reflect => "reflect",
        PadMode::Edge => "edge",
        PadMode::Constant(_) => "constant",
    }
}

/// Refuses a window that does not fit its input, and padding whose padded input (which the
/// backend materialises) would be too large or overflow: a hostile `pads` or `dilations`
/// must be an error, not an allocation of exabytes.
fn check_window(
    kernel: [usize; 2],
    w: &Window,
    pads: [(usize, usize); 2],
    dims: [usize; 4],
) -> OpResult<()> {
    let [n, c, h, wd] = dims;
    let size = [h, wd];
    let mut padded = [0; 2];
    for i in 0..2 {
        let span = (kernel[i] - 1)
            .checked_mul(w.dilations[i])
            .and_then(|s| s.checked_add(1));
        let total = size[i]
            .checked_add(pads[i].0)
            .and_then(|s| s.checked_add(pads[i].1));
        let (Some(span), Some(total)) = (span, total) else {
            return Err(format!(
                "a {}x{} window with dilations {:?} and pads {pads:?}, too large",
                kernel[0], kernel[1], w.dilations
            ));
        };
        if total < span {
            return Err(format!(
                "a {}x{} input is smaller than the {}x{} window",
                size[0], size[1], kernel[0], kernel[1]
            ));
        }
        padded[i] = total;
    }
    element_count(&[n, c, padded[0], padded[1]]).map(|_| ())
}

fn unary(u: Unary, v: Float) -> Float {
    let t = v.t;
    let t = match u {
        Unary::Relu => crate::activation::relu(t),
        Unary::Sigmoid => activation::sigmoid(t),
        Unary::Tanh => t.tanh(),
        Unary::Erf => crate::activation::erf(t),
        Unary::Sqrt => t.sqrt(),
        Unary::Neg => t.neg(),
        Unary::Exp => t.exp(),
        Unary::Log => t.log(),
        Unary::Abs => t.abs(),
        Unary::Reciprocal => t.recip(),
        Unary::Softplus => activation::softplus(t, 1.0),
        Unary::Mish => activation::mish(t),
        Unary::HardSwish => activation::hard_swish(t),
        Unary::Floor => t.floor(),
        Unary::Ceil => t.ceil(),
        Unary::HardSigmoid { alpha, beta } => {
            activation::hard_sigmoid(t, f64::from(alpha), f64::from(beta))
        }
        Unary::LeakyRelu(alpha) => activation::leaky_relu(t, f64::from(alpha)),
        Unary::Elu(alpha) => {
            // x for x > 0, alpha (e^x - 1) otherwise.
            let negative = (t.clone().clamp_max(0.0).exp() - 1.0) * alpha;
            t.clamp_min(0.0) + negative
        }
        Unary::Gelu { tanh: false } => crate::activation::gelu(t),
        Unary::Gelu { tanh: true } => activation::gelu_approximate(t),
    };
    Float { t, rank: v.rank }
}

fn binary(op: Binary, a: &Value, b: &Value, device: &Device) -> OpResult<Value> {
    let shape = broadcast(&a.dims(), &b.dims())?;
    if let (Value::Int(a), Value::Int(b)) = (a, b) {
        return host_binary(op, a, b, shape).map(Value::Int);
    }
    let fa = a.float(device);
    let rank = shape.len();
    // A constant scalar exponent: x^2, x^0.5, x^3 in GELU's tanh form.
    if op == Binary::Pow && b.dims().iter().product::<usize>() == 1 {
        let e = b.float(device).to_vec()[0];
        let t = if e == 2.0 {
            fa.t.clone() * fa.t
        } else if e == 1.0 {
            fa.t
        } else if e == 0.5 {
            fa.t.sqrt()
        } else {
            fa.t.powf_scalar(e)
        };
        return Ok(Value::Float(Float { t, rank }));
    }
    let fb = b.float(device);
    let t = match op {
        Binary::Add => fa.t + fb.t,
        Binary::Sub => fa.t - fb.t,
        Binary::Mul => fa.t * fb.t,
        Binary::Div => fa.t / fb.t,
        Binary::Pow => fa.t.powf(fb.t),
        Binary::Max => fa.t.max_pair(fb.t),
        Binary::Min => fa.t.min_pair(fb.t),
    };
    Ok(Value::Float(Float { t, rank }))
}

/// `f` of two host tensors broadcast to `shape`.
/// A float tensor's values on the host.
fn host_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

fn host_zip(a: &Int, b: &Int, shape: &[usize], f: impl Fn(i64, i64) -> i64) -> Vec<i64> {
    let count: usize = shape.iter().product();
    (0..count)
        .map(|i| {
            f(
                a.data[broadcast_index(a, shape, i)],
                b.data[broadcast_index(b, shape, i)],
            )
        })
        .collect()
}

/// The index into `v` of flat output index `flat` when `v` is broadcast to `shape`.
fn broadcast_index(v: &Int, shape: &[usize], flat: usize) -> usize {
    let mut rest = flat;
    let mut idx = 0;
    let mut stride = 1;
    let offset = shape.len() - v.shape.len();
    for axis in (0..shape.len()).rev() {
        let coord = rest % shape[axis];
        rest /= shape[axis];
        if axis >= offset {
            let d = v.shape[axis - offset];
            if d != 1 {
                idx += coord * stride;
            }
            stride *= d;
        }
    }
    idx
}

fn host_binary(op: Binary, a: &Int, b: &Int, shape: Vec<usize>) -> OpResult<Int> {
    let count: usize = shape.iter().product();
    let data = (0..count)
        .map(|i| {
            let (x, y) = (
                a.data[broadcast_index(a, &shape, i)],
                b.data[broadcast_index(b, &shape, i)],
            );
            match op {
                Binary::Add => Ok(x.wrapping_add(y)),
                Binary::Sub => Ok(x.wrapping_sub(y)),
                Binary::Mul => Ok(x.wrapping_mul(y)),
                Binary::Div if y == 0 => Err("integer division by zero".to_string()),
                Binary::Div => Ok(x / y),
                Binary::Pow => Ok(x.wrapping_pow(y.clamp(0, 63) as u32)),
                Binary::Max => Ok(x.max(y)),
                Binary::Min => Ok(x.min(y)),
            }
        })
        .collect::<OpResult<_>>()?;
    Ok(Int { data, shape })
}

/// Mean, max, min or sum over `axes` (ONNX axes, normalised); keeps or drops them.
fn reduce(kind: Reduce, v: &Float, axes: &[usize], keepdims: bool) -> Float {
    let mut t = v.t.clone();
    for &a in axes {
        let axis = v.axis(a);
        t = match kind {
            Reduce::Mean => t.mean_dim(axis),
            Reduce::Max => t.max_dim(axis),
            Reduce::Min => t.min_dim(axis),
            Reduce::Sum => t.sum_dim(axis),
        };
    }
    let kept = Float { t, rank: v.rank };
    if keepdims {
        return kept;
    }
    let dims: Vec<usize> = v
        .dims()
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect();
    kept.reshaped(&dims)
}

/// LayerNorm over the last axis in one pass ([`crate::norm`]) when `v` and its scale and bias
/// (inputs 1 and 2) are untracked.
fn layer_norm_last(x: &Inputs<'_>, v: &Float, eps: f32) -> Option<Tensor<MAX_RANK>> {
    let parameter = |i: usize| match x.opt(i) {
        None => Some(None),
        Some(p) => {
            let p = p.float(x.device);
            (!p.t.is_autodiff()).then(|| Some(p.to_vec()))
        }
    };
    let (scale, bias) = (parameter(1)?, parameter(2)?);
    crate::norm::layer_norm_last_axis(&v.t, scale.as_deref(), bias.as_deref(), eps)
}

/// `(x - mean) / sqrt(var + eps)` over `axes` (biased variance, as every normalisation).
fn standardise(v: &Float, axes: &[usize], eps: f32) -> Float {
    let mean = reduce(Reduce::Mean, v, axes, true);
    let centred = v.t.clone() - mean.t;
    let var = reduce(
        Reduce::Mean,
        &Float {
            t: centred.clone() * centred.clone(),
            rank: v.rank,
        },
        axes,
        true,
    );
    Float {
        t: centred / (var.t + eps).sqrt(),
        rank: v.rank,
    }
}

fn reshape_value(v: &Value, shape: &[usize]) -> OpResult<Value> {
    element_count(shape)?;
    Ok(reshape_inner(v, shape))
}

fn reshape_inner(v: &Value, shape: &[usize]) -> Value {
    match v {
        Value::Float(f) => Value::Float(f.reshaped(shape)),
        Value::Int(i) => Value::Int(Int {
            data: i.data.clone(),
            shape: shape.to_vec(),
        }),
    }
}

/// ONNX Reshape's target: 0 copies the input's dimension (unless `allowzero`), -1 is inferred.
pub fn reshape_target(dims: &[usize], spec: &[i64], allowzero: bool) -> OpResult<Vec<usize>> {
    let total: usize = dims.iter().product();
    let mut shape = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                shape.push(1);
            }
            0 if !allowzero => shape.push(*dims.get(i).ok_or("Reshape 0 past the input's rank")?),
            s if s >= 0 => shape.push(s as usize),
            _ => return Err(format!("Reshape to {spec:?}")),
        }
    }
    let known: usize = shape.iter().product();
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {dims:?} to {spec:?}"));
        }
        shape[i] = total / known;
    } else if known != total {
        return Err(format!("cannot reshape {dims:?} to {spec:?}"));
    }
    Ok(shape)
}

/// ONNX MatMul (numpy's `matmul`), plus `bias` (one value per output column) when given.
fn matmul(a: &Float, b: &Float, bias: Option<&Float>) -> OpResult<Float> {
    let (da, db) = (a.dims(), b.dims());
    let a2 = if a.rank == 1 {
        a.reshaped(&[1, da[0]])
    } else {
        a.clone()
    };
    let b2 = if b.rank == 1 {
        b.reshaped(&[db[0], 1])
    } else {
        b.clone()
    };
    let (ea, eb) = (a2.dims(), b2.dims());
    let (k1, k2) = (ea[ea.len() - 1], eb[eb.len() - 2]);
    if k1 != k2 {
        return Err(format!("MatMul of {da:?} and {db:?}"));
    }
    let batch = broadcast(&ea[..ea.len() - 2], &eb[..eb.len() - 2])?;
    let (m, n) = (ea[ea.len() - 2], eb[eb.len() - 1]);
    // A matrix `b` shared by every batch entry of `a` (a Linear layer over tokens or pixels,
    // as in ConvNeXt and transformers): one GEMM over all of `a`'s rows, not one per batch
    // entry. The same products and sums, so the same values.
    let shared = eb[..eb.len() - 2].iter().all(|&d| d == 1);
    let rows: usize = ea[..ea.len() - 2].iter().product::<usize>() * m;
    let mut shape = batch.clone();
    shape.push(m);
    shape.push(n);
    if let Some(bias) = bias
        && bias.len() != n
    {
        return Err(format!("a bias of {:?} for {n} columns", bias.dims()));
    }
    let fast = || {
        let product = crate::kernels::matmul_tensors(&a2.t, &b2.t, bias.map(|b| &b.t))?;
        Some(Float::from_tensor(product).reshaped(&shape).t)
    };
    let t = match shared.then(fast).flatten() {
        Some(t) => t,
        None => {
            let t = if shared && rows > m {
                let flat = a2.t.reshape([rows, k1]);
                let w = b2.t.reshape([k1, n]);
                Float::from_tensor(flat.matmul(w)).reshaped(&shape).t
            } else {
                a2.t.matmul(b2.t)
            };
            match bias {
                Some(bias) => t + bias.reshaped(&[n]).t,
                None => t,
            }
        }
    };
    let out = Float {
        t,
        rank: shape.len(),
    };
    let mut final_shape = batch;
    if a.rank > 1 {
        final_shape.push(ea[ea.len() - 2]);
    }
    if b.rank > 1 {
        final_shape.push(eb[eb.len() - 1]);
    }
    Ok(out.reshaped(&final_shape))
}

fn concat(x: &Inputs<'_>, axis: i64) -> OpResult<Vec<Value>> {
    let values: Vec<&Value> = (0..x.values.len())
        .map(|i| x.get(i))
        .collect::<OpResult<_>>()?;
    let rank = values[0].dims().len();
    let a = norm_axis(axis, rank)?;
    let first = values[0].dims();
    for v in &values {
        let d = v.dims();
        if d.len() != rank || (0..rank).any(|i| i != a && d[i] != first[i]) {
            return Err(format!("Concat of {first:?} and {d:?} on axis {a}"));
        }
    }
    if values.iter().all(|v| matches!(v, Value::Int(_))) {
        // Row-major: per index of the axes before `a`, each input's block in turn.
        let ints: Vec<Int> = values.iter().map(|v| v.int()).collect();
        let outer: usize = first[..a].iter().product();
        let inner: usize = first[a + 1..].iter().product();
        let mut data = Vec::with_capacity(ints.iter().map(|i| i.data.len()).sum());
        for o in 0..outer {
            for i in &ints {
                let block = i.shape[a] * inner;
                data.extend_from_slice(&i.data[o * block..(o + 1) * block]);
            }
        }
        let mut shape = first.clone();
        shape[a] = ints.iter().map(|i| i.shape[a]).sum();
        return one(Value::Int(Int { data, shape }));
    }
    let floats: Vec<Float> = values.iter().map(|v| v.float(x.device)).collect();
    let axis = floats[0].axis(a);
    float(Float {
        t: Tensor::cat(floats.into_iter().map(|f| f.t).collect(), axis),
        rank,
    })
}

/// ONNX Slice's clamping of one axis: `(start, end, step)` as burn's `Slice`.
fn slice_range(start: i64, end: i64, step: i64, dim: usize) -> OpResult<(Slice, usize)> {
    if step == 0 {
        return Err("Slice with step 0".to_string());
    }
    let d = dim as i64;
    let fix = |v: i64| if v < 0 { v + d } else { v };
    let (s, e) = (fix(start), fix(end));
    if step > 0 {
        let s = s.clamp(0, d);
        let e = e.clamp(0, d).max(s);
        let len = ((e - s) + step - 1) / step;
        Ok((
            Slice::new(s as isize, Some(e as isize), step as isize),
            len as usize,
        ))
    } else {
        let s = s.clamp(-1, d - 1);
        let e = e.clamp(-1, d - 1).min(s);
        let len = ((s - e) + (-step) - 1) / (-step);
        if len == 0 {
            return Ok((Slice::new(0, Some(0), 1), 0));
        }
        // burn's negative-step slice walks the range [lo, hi) backwards from hi - 1.
        let lo = s - (len - 1) * (-step);
        Ok((
            Slice::new(lo as isize, Some(s as isize + 1), step as isize),
            len as usize,
        ))
    }
}

fn slice(
    v: &Value,
    starts: &[i64],
    ends: &[i64],
    axes: Option<Vec<i64>>,
    steps: Option<Vec<i64>>,
) -> OpResult<Value> {
    let dims = v.dims();
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("Slice starts, ends, axes and steps differ in length".to_string());
    }
    match v {
        Value::Float(f) => {
            let mut slices = vec![Slice::full(); MAX_RANK];
            let mut shape = dims.clone();
            for i in 0..starts.len() {
                let a = norm_axis(axes[i], dims.len())?;
                let (s, len) = slice_range(starts[i], ends[i], steps[i], dims[a])?;
                if len == 0 {
                    return Err("Slice to an empty tensor".to_string());
                }
                slices[f.axis(a)] = s;
                shape[a] = len;
            }
            Ok(Value::Float(Float {
                t: f.t.clone().slice(slices.as_slice()),
                rank: f.rank,
            }))
        }
        Value::Int(i) => {
            let mut picks: Vec<Vec<usize>> = dims.iter().map(|&d| (0..d).collect()).collect();
            for k in 0..starts.len() {
                let a = norm_axis(axes[k], dims.len())?;
                picks[a] = host_range(starts[k], ends[k], steps[k], dims[a])?;
            }
            let identity: Vec<usize> = (0..dims.len()).collect();
            Ok(Value::Int(host_pick(i, &picks, &identity)))
        }
    }
}

/// The indices ONNX Slice keeps of an axis of size `dim`.
fn host_range(start: i64, end: i64, step: i64, dim: usize) -> OpResult<Vec<usize>> {
    if step == 0 {
        return Err("Slice with step 0".to_string());
    }
    let d = dim as i64;
    let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let mut out = Vec::new();
    if step > 0 {
        let (mut s, e) = (fix(start).clamp(0, d), fix(end).clamp(0, d));
        while s < e {
            out.push(s as usize);
            s += step;
        }
    } else {
        let (mut s, e) = (fix(start).clamp(-1, d - 1), fix(end).clamp(-1, d - 1));
        while s > e {
            out.push(s as usize);
            s += step;
        }
    }
    Ok(out)
}

/// The host tensor made of `picks[a]` along each axis `a`, its axes then ordered by `perm`
/// (output axis `k` is input axis `perm[k]`).
fn host_pick(i: &Int, picks: &[Vec<usize>], perm: &[usize]) -> Int {
    let rank = i.shape.len();
    let mut strides = vec![1usize; rank];
    for a in (0..rank.saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * i.shape[a + 1];
    }
    let shape: Vec<usize> = perm.iter().map(|&a| picks[a].len()).collect();
    let count: usize = shape.iter().product();
    let mut data = Vec::with_capacity(count);
    let mut coord = vec![0usize; rank];
    for _ in 0..count {
        let offset: usize = perm
            .iter()
            .enumerate()
            .map(|(k, &a)| picks[a][coord[k]] * strides[a])
            .sum();
        data.push(i.data[offset]);
        for k in (0..rank).rev() {
            coord[k] += 1;
            if coord[k] < shape[k] {
                break;
            }
            coord[k] = 0;
        }
    }
    Int { data, shape }
}

fn gather(v: &Value, indices: &Int, axis: i64) -> OpResult<Vec<Value>> {
    let dims = v.dims();
    let a = norm_axis(axis, dims.len())?;
    let d = dims[a] as i64;
    let idx: Vec<i64> = indices
        .data
        .iter()
        .map(|&i| if i < 0 { i + d } else { i })
        .collect();
    if let Some(bad) = idx.iter().find(|&&i| i < 0 || i >= d) {
        return Err(format!(
            "Gather index {bad} out of range for axis of size {d}"
        ));
    }
    let mut shape = dims[..a].to_vec();
    shape.extend(&indices.shape);
    shape.extend(&dims[a + 1..]);
    element_count(&shape)?;
    match v {
        Value::Int(i) if dims.len() == 1 => one(Value::Int(Int {
            data: idx.iter().map(|&k| i.data[k as usize]).collect(),
            shape,
        })),
        Value::Int(_) => Err("Gather from an integer tensor of rank > 1".to_string()),
        Value::Float(f) => {
            let device = f.t.device();
            let index = Tensor::<1, burn::tensor::Int>::from_data(
                TensorData::new(idx.clone(), [idx.len()]),
                &device,
            );
            let picked = f.t.clone().select(f.axis(a), index);
            float(
                Float {
                    t: picked,
                    rank: f.rank,
                }
                .reshaped(&shape),
            )
        }
    }
}

/// ONNX ScatterND: each index tuple of `indices` (its last axis) addresses a slice of `data`,
/// which the matching slice of `updates` replaces (or, with `add`, is added to). Float data
/// stays differentiable in both `data` and `updates`: the result is `data · (1 - hit) +
/// scatter(updates)` on the flattened tensors (exact for the distinct indices ONNX requires
/// without a reduction).
fn scatter_nd(data: &Value, indices: &Int, updates: &Value, add: bool) -> OpResult<Vec<Value>> {
    let dims = data.dims();
    let k = *indices
        .shape
        .last()
        .ok_or("ScatterND with scalar indices")?;
    if k == 0 || k > dims.len() {
        return Err(format!("ScatterND index tuples of {k} into {dims:?}"));
    }
    let slice: usize = dims[k..].iter().product();
    let tuples = indices.data.len() / k;
    let mut expected = indices.shape[..indices.shape.len() - 1].to_vec();
    expected.extend(&dims[k..]);
    if updates.dims() != expected {
        return Err(format!(
            "ScatterND updates {:?} for indices {:?} into {dims:?}",
            updates.dims(),
            indices.shape
        ));
    }
    let mut positions = Vec::with_capacity(tuples * slice);
    for tuple in indices.data.chunks(k) {
        let mut offset = 0usize;
        for (axis, &i) in tuple.iter().enumerate() {
            let d = dims[axis] as i64;
            let i = if i < 0 { i + d } else { i };
            if !(0..d).contains(&i) {
                return Err(format!(
                    "ScatterND index {tuple:?} out of range for {dims:?}"
                ));
            }
            offset = offset * dims[axis] + i as usize;
        }
        positions.extend((0..slice).map(|j| offset * slice + j));
    }
    let total: usize = dims.iter().product();
    match (data, updates) {
        (Value::Int(d), Value::Int(u)) => {
            let mut out = d.data.clone();
            for (&p, &v) in positions.iter().zip(&u.data) {
                out[p] = if add { out[p].wrapping_add(v) } else { v };
            }
            one(Value::Int(Int {
                data: out,
                shape: dims,
            }))
        }
        (Value::Float(f), other) | (other, Value::Float(f)) => {
            let device = f.t.device();
            let (d, u) = match data {
                Value::Float(_) => (f.clone(), other.float(&device)),
                Value::Int(_) => (other.float(&device), f.clone()),
            };
            let flat = d.reshaped(&[total]).tensor::<1>();
            let index = Tensor::<1, burn::tensor::Int>::from_data(
                TensorData::new(
                    positions.iter().map(|&p| p as i64).collect::<Vec<_>>(),
                    [positions.len()],
                ),
                &device,
            );
            let values = u.reshaped(&[positions.len()]).tensor::<1>();
            let op = burn::tensor::IndexingUpdateOp::Add;
            let scattered =
                Tensor::<1>::zeros([total], &device).scatter(0, index.clone(), values, op);
            let result = if add {
                flat + scattered
            } else {
                let ones = Tensor::<1>::ones([positions.len()], &device);
                let hit = Tensor::<1>::zeros([total], &device).scatter(0, index, ones, op);
                flat * (hit.neg() + 1.0) + scattered
            };
            float(Float::from_tensor(result).reshaped(&dims))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_copies_zero_and_infers_minus_one() {
        assert_eq!(
            reshape_target(&[2, 3, 4], &[0, -1], false).unwrap(),
            vec![2, 12]
        );
        assert_eq!(
            reshape_target(&[2, 3, 4], &[-1, 4], false).unwrap(),
            vec![6, 4]
        );
        assert!(reshape_target(&[2, 3, 4], &[5, -1], false).is_err());
        assert!(reshape_target(&[2, 3], &[-1, -1], false).is_err());
    }

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[2, 1, 4], &[3, 1]).unwrap(), vec![2, 3, 4]);
        assert!(broadcast(&[2, 3], &[4, 3, 2]).is_err());
    }

    #[test]
    fn slices_clamp_like_onnx() {
        // [start, end) clamped into the axis; negative steps walk backwards.
        let (_, len) = slice_range(1, i64::MAX, 1, 5).unwrap();
        assert_eq!(len, 4);
        let (_, len) = slice_range(-1, i64::MIN, -1, 5).unwrap();
        assert_eq!(len, 5);
        let (_, len) = slice_range(0, 5, 2, 5).unwrap();
        assert_eq!(len, 3);
    }

    #[test]
    fn float_slice_with_negative_step_reverses() {
        let device = Device::default();
        let v = Value::Float(Float::from_vec(
            (0..5).map(|i| i as f32).collect(),
            &[5],
            &device,
        ));
        let Value::Float(out) = slice(&v, &[-1], &[i64::MIN], None, Some(vec![-2])).unwrap() else {
            panic!("a float");
        };
        assert_eq!(out.to_vec(), vec![4.0, 2.0, 0.0]);
    }

    #[test]
    fn same_padding_puts_the_odd_pixel_at_the_end() {
        let w = Window {
            kernel: Some([3, 3]),
            strides: [2, 2],
            dilations: [1, 1],
            pad: AutoPad::Same { upper: true },
        };
        // 224 / 2 = 112 outputs need (111 * 2 + 3) - 224 = 1 pixel of padding.
        assert_eq!(paddings(&w, [3, 3], [224, 224]), [(0, 1), (0, 1)]);
    }

    #[test]
    fn matmul_broadcasts_batch_dimensions() {
        let device = Device::default();
        // [2, 1, 2, 3] x [3, 2]: every row times the same matrix.
        let a = Float::from_vec((0..12).map(|i| i as f32).collect(), &[2, 1, 2, 3], &device);
        let b = Float::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2], &device);
        let y = matmul(&a, &b, None).unwrap();
        assert_eq!(y.dims(), vec![2, 1, 2, 2]);
        assert_eq!(y.to_vec(), vec![2.0, 3.0, 8.0, 9.0, 14.0, 15.0, 20.0, 21.0]);
        // A fused bias, on the fast path and on burn's (a tracked input).
        let bias = Float::from_vec(vec![0.5, -1.0], &[2], &device);
        let want = vec![2.5, 2.0, 8.5, 8.0, 14.5, 14.0, 20.5, 20.0];
        assert_eq!(matmul(&a, &b, Some(&bias)).unwrap().to_vec(), want);
        let tracked = Float {
            t: a.t.clone().autodiff().require_grad(),
            rank: a.rank,
        };
        let y = matmul(&tracked, &b, Some(&bias)).unwrap();
        assert_eq!(y.dims(), vec![2, 1, 2, 2]);
        assert_eq!(
            y.t.without_autodiff()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            want
        );
        let wrong = Float::from_vec(vec![0.5; 3], &[3], &device);
        assert!(matmul(&a, &b, Some(&wrong)).is_err());
    }

    #[test]
    fn layer_normalisation_standardises_the_last_axis() {
        let device = Device::default();
        let x = Float::from_vec(vec![1.0, 2.0, 3.0, 10.0, 20.0, 30.0], &[1, 2, 3], &device);
        let y = standardise(&x, &[2], 0.0).to_vec();
        let e = (1.5f32).sqrt();
        let want = [-e, 0.0, e, -e, 0.0, e];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{y:?}");
        }
    }

    #[test]
    fn mod_takes_the_divisor_sign_unless_fmod() {
        let device = Device::default();
        let ints = |v: Vec<i64>| Some(Value::Int(Int::vector(v)));
        let run = |fmod: bool, a, b| {
            let mut x = Inputs {
                values: vec![a, b],
                device: &device,
            };
            Op::Mod { fmod }.eval(&mut x, 1).unwrap().remove(0)
        };
        let python = run(
            false,
            ints(vec![7, -7, 7, -7, 6]),
            ints(vec![3, 3, -3, -3, 3]),
        );
        assert_eq!(python.int().data, [1, 2, -2, -1, 0]);
        let c = run(true, ints(vec![7, -7, 7, -7]), ints(vec![3, 3, -3, -3]));
        assert_eq!(c.int().data, [1, -1, 1, -1]);
        let floats = |v: Vec<f32>| Some(Value::Float(Float::from_vec(v, &[4], &device)));
        let f = run(
            false,
            floats(vec![7.5, -7.5, 7.5, -7.5]),
            floats(vec![2.0, 2.0, -2.0, -2.0]),
        );
        assert_eq!(f.float(&device).to_vec(), [1.5, 0.5, -0.5, -1.5]);
        let f = run(
            true,
            floats(vec![7.5, -7.5, 7.5, -7.5]),
            floats(vec![2.0, 2.0, -2.0, -2.0]),
        );
        assert_eq!(f.float(&device).to_vec(), [1.5, -1.5, 1.5, -1.5]);
    }

    #[test]
    fn scatter_nd_replaces_or_adds_slices() {
        let device = Device::default();
        // data [2, 3] = 0..6; row 1 replaced, then element (0, 2) added to.
        let data = Value::Float(Float::from_vec(
            (0..6).map(|v| v as f32).collect(),
            &[2, 3],
            &device,
        ));
        let rows = Int {
            data: vec![1],
            shape: vec![1, 1],
        };
        let updates = Value::Float(Float::from_vec(vec![10.0, 11.0, 12.0], &[1, 3], &device));
        let out = scatter_nd(&data, &rows, &updates, false).unwrap().remove(0);
        assert_eq!(
            out.float(&device).to_vec(),
            [0.0, 1.0, 2.0, 10.0, 11.0, 12.0]
        );
        let cell = Int {
            data: vec![0, 2],
            shape: vec![1, 2],
        };
        let one_value = Value::Float(Float::from_vec(vec![5.0], &[1], &device));
        let out = scatter_nd(&data, &cell, &one_value, true)
            .unwrap()
            .remove(0);
        assert_eq!(out.float(&device).to_vec(), [0.0, 1.0, 7.0, 3.0, 4.0, 5.0]);
        let ints = Value::Int(Int {
            data: vec![0; 4],
            shape: vec![4],
        });
        let at = Int {
            data: vec![3, 1],
            shape: vec![2, 1],
        };
        let values = Value::Int(Int::vector(vec![7, 8]));
        let out = scatter_nd(&ints, &at, &values, false).unwrap().remove(0);
        assert_eq!(out.int().data, [0, 8, 0, 7]);
        assert!(
            scatter_nd(
                &ints,
                &Int::vector(vec![4]),
                &Value::Int(Int {
                    data: vec![1],
                    shape: vec![]
                }),
                false
            )
            .is_err()
        );
    }

    #[test]
    fn transpose_moves_axes() {
        let device = Device::default();
        let x = Value::Float(Float::from_vec(
            (0..6).map(|i| i as f32).collect(),
            &[1, 2, 3],
            &device,
        ));
        let op = Op::Transpose {
            perm: Some(vec![0, 2, 1]),
        };
        let out = op
            .eval(
                &mut Inputs {
                    values: vec![Some(x)],
                    device: &device,
                },
                1,
            )
            .unwrap();
        let Value::Float(y) = &out[0] else {
            panic!("float")
        };
        assert_eq!(y.dims(), vec![1, 3, 2]);
        assert_eq!(y.to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }

    #[test]
    fn integer_pad_amounts_slice_and_transpose_on_the_host() {
        // TorchScript's F.pad export: pads [0, 1, 2, 3] viewed as [-1, 2], reversed along
        // axis 0, transposed.
        let pads = Int {
            data: vec![0, 1, 2, 3],
            shape: vec![2, 2],
        };
        let Value::Int(rev) = slice(
            &Value::Int(pads),
            &[-1],
            &[i64::MIN],
            Some(vec![0]),
            Some(vec![-1]),
        )
        .unwrap() else {
            panic!("ints");
        };
        assert_eq!(rev.data, vec![2, 3, 0, 1]);
        assert_eq!(
            host_pick(&rev, &[vec![0, 1], vec![0, 1]], &[1, 0]).data,
            vec![2, 0, 3, 1]
        );
    }
}
