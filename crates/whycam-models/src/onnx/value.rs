//! The values an ONNX graph computes: float tensors as burn tensors (so autodiff flows through
//! them), integer tensors (shapes, indices, axes) on the host.
//!
//! burn's tensors have a static rank and ONNX's a dynamic one, so a float value is held as a
//! rank-[`MAX_RANK`] tensor whose leading dimensions are 1, plus its ONNX rank. Leading ones are
//! exactly numpy's broadcasting rule, so element-wise ops need no rank bookkeeping at all.

use burn::prelude::*;

/// The highest ONNX rank the interpreter holds.
pub const MAX_RANK: usize = 6;

/// A float tensor of ONNX rank `rank` held as the last `rank` dimensions of `t`.
#[derive(Debug, Clone)]
pub struct Float {
    /// The padded tensor.
    pub t: Tensor<MAX_RANK>,
    /// The ONNX rank.
    pub rank: usize,
}

impl Float {
    /// The ONNX shape.
    pub fn dims(&self) -> Vec<usize> {
        self.t.dims()[MAX_RANK - self.rank..].to_vec()
    }

    /// Wraps a rank-`D` burn tensor.
    pub fn from_tensor<const D: usize>(t: Tensor<D>) -> Self {
        let dims = t.dims();
        Self {
            t: t.reshape(padded(&dims)),
            rank: D,
        }
    }

    /// The value as a rank-`D` burn tensor (its ONNX rank must be `D`).
    pub fn tensor<const D: usize>(&self) -> Tensor<D> {
        let dims = self.dims();
        let mut shape = [1usize; D];
        shape.copy_from_slice(&dims);
        self.t.clone().reshape(shape)
    }

    /// The same values under another ONNX shape (same number of elements).
    pub fn reshaped(&self, shape: &[usize]) -> Self {
        Self {
            t: self.t.clone().reshape(padded(shape)),
            rank: shape.len(),
        }
    }

    /// The padded axis of ONNX axis `axis` (already normalised to `0..rank`).
    pub fn axis(&self, axis: usize) -> usize {
        MAX_RANK - self.rank + axis
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims().iter().product()
    }

    /// The values on the host, row-major.
    pub fn to_vec(&self) -> Vec<f32> {
        self.t
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 data")
    }

    /// A host array as a float value.
    pub fn from_vec(data: Vec<f32>, shape: &[usize], device: &Device) -> Self {
        Self {
            t: Tensor::from_data(TensorData::new(data, padded(shape)), device),
            rank: shape.len(),
        }
    }
}

/// `shape` with leading ones up to [`MAX_RANK`].
pub fn padded(shape: &[usize]) -> [usize; MAX_RANK] {
    let mut full = [1usize; MAX_RANK];
    full[MAX_RANK - shape.len()..].copy_from_slice(shape);
    full
}

/// An integer tensor on the host (ONNX int64/int32/bool/uint8 all end up here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Int {
    /// Row-major values.
    pub data: Vec<i64>,
    /// The shape (empty for a scalar).
    pub shape: Vec<usize>,
}

impl Int {
    /// A 1-D tensor.
    pub fn vector(data: Vec<i64>) -> Self {
        let n = data.len();
        Self {
            data,
            shape: vec![n],
        }
    }
}

/// One value of the graph.
// A burn tensor handle is a few hundred bytes; values are few and short-lived, not worth boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Value {
    /// A float tensor on the burn device.
    Float(Float),
    /// An integer tensor on the host.
    Int(Int),
}

impl Value {
    /// The shape.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Value::Float(f) => f.dims(),
            Value::Int(i) => i.shape.clone(),
        }
    }

    /// The value as a float tensor (integers converted).
    pub fn float(&self, device: &Device) -> Float {
        match self {
            Value::Float(f) => f.clone(),
            Value::Int(i) => {
                Float::from_vec(i.data.iter().map(|&v| v as f32).collect(), &i.shape, device)
            }
        }
    }

    /// The single number of a one-element value (a scalar constant, `[1]` or `[1, 1]`).
    pub fn scalar(&self) -> Option<f32> {
        match self {
            Value::Float(f) if f.len() == 1 => f.to_vec().first().copied(),
            Value::Int(n) if n.data.len() == 1 => Some(n.data[0] as f32),
            _ => None,
        }
    }

    /// The value as integers (floats truncated towards zero, as ONNX's Cast does).
    pub fn int(&self) -> Int {
        match self {
            Value::Int(i) => i.clone(),
            Value::Float(f) => Int {
                data: f.to_vec().into_iter().map(|v| v as i64).collect(),
                shape: f.dims(),
            },
        }
    }

    /// The rows `image` of a batch, repeated `count` times along the batch (first) axis. Host
    /// integers (shapes, axes) are not batched and stay as they are.
    pub fn batch_row(&self, image: usize, batch: usize, count: usize) -> Value {
        match self.batch_rows(image, 1, batch) {
            Value::Float(f) if f.rank > 0 && count != 1 && self.dims()[0] == batch => {
                let axis = f.axis(0);
                Value::Float(Float {
                    t: f.t.repeat_dim(axis, count),
                    rank: f.rank,
                })
            }
            other => other,
        }
    }

    /// Rows `start..start + len` of a batched float value (one whose first axis is `batch`).
    pub fn batch_rows(&self, start: usize, len: usize, batch: usize) -> Value {
        match self {
            Value::Float(f) if f.rank > 0 && f.dims()[0] == batch => Value::Float(Float {
                t: f.t.clone().narrow(f.axis(0), start, len),
                rank: f.rank,
            }),
            other => other.clone(),
        }
    }
}
