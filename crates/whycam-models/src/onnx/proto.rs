//! Reading an ONNX file: the protobuf (through `onnx-ir`'s generated types, no protoc), its
//! initializers, inline or in external data files, as whycam [`Value`]s.

use super::value::{Float, Int, Value};
use burn::prelude::*;
use onnx_ir::{Message, ModelProto, TensorProto};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

// TensorProto.DataType codes.
const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const UINT16: i32 = 4;
const INT16: i32 = 5;
const INT32: i32 = 6;
const INT64: i32 = 7;
const BOOL: i32 = 9;
const FLOAT16: i32 = 10;
const DOUBLE: i32 = 11;
const UINT32: i32 = 12;
const UINT64: i32 = 13;
const BFLOAT16: i32 = 16;

/// Why a file could not be read as ONNX.
#[derive(Debug)]
pub enum ReadError {
    /// The file itself could not be read.
    Io(std::io::Error),
    /// An external data file named by the model could not be read.
    ExternalData {
        /// The data file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a protobuf `ModelProto`, or one whycam cannot use.
    Format(String),
    /// A weight holds NaN or infinity.
    NonFinite {
        /// The initializer.
        tensor: String,
        /// `NaN` or `infinity`.
        what: &'static str,
    },
}

/// Parses `path` as an ONNX `ModelProto`.
pub fn read_model(path: &Path) -> Result<ModelProto, ReadError> {
    let bytes = std::fs::read(path).map_err(ReadError::Io)?;
    let model = ModelProto::parse_from_bytes(&bytes)
        .map_err(|e| ReadError::Format(format!("not an ONNX model (protobuf: {e})")))?;
    if model.graph.is_none() || model.graph.node.is_empty() {
        return Err(ReadError::Format(
            "not an ONNX model (no graph nodes)".to_string(),
        ));
    }
    Ok(model)
}

/// Whether the file starts like an ONNX model: a protobuf whose first field is `ir_version`
/// (field 1, varint), as every exporter writes it. Cheap enough to sniff a `--weights` file.
pub fn looks_like_onnx(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 2];
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    file.read_exact(&mut head).is_ok() && head[0] == 0x08 && head[1] < 0x80 && head[1] > 0
}

/// Reads external data files once each.
pub struct ExternalData {
    dir: PathBuf,
    files: HashMap<String, Vec<u8>>,
}

impl ExternalData {
    /// External data is looked up relative to the model file's folder.
    pub fn new(model: &Path) -> Self {
        Self {
            dir: model.parent().map(Path::to_path_buf).unwrap_or_default(),
            files: HashMap::new(),
        }
    }

    fn bytes(&mut self, t: &TensorProto) -> Result<Vec<u8>, ReadError> {
        let entry = |key: &str| {
            t.external_data
                .iter()
                .find(|e| e.key == key)
                .map(|e| e.value.clone())
        };
        let location = entry("location").ok_or_else(|| {
            ReadError::Format(format!(
                "tensor {:?} is stored externally without a location",
                t.name
            ))
        })?;
        let path = self.dir.join(&location);
        if !self.files.contains_key(&location) {
            let data = std::fs::read(&path).map_err(|source| ReadError::ExternalData {
                path: path.clone(),
                source,
            })?;
            self.files.insert(location.clone(), data);
        }
        let data = &self.files[&location];
        let number = |key: &str| -> Result<Option<usize>, ReadError> {
            entry(key)
                .map(|v| {
                    v.parse::<usize>().map_err(|_| {
                        ReadError::Format(format!("tensor {:?}: bad external {key} {v:?}", t.name))
                    })
                })
                .transpose()
        };
        let offset = number("offset")?.unwrap_or(0);
        let length = number("length")?.unwrap_or(data.len().saturating_sub(offset));
        data.get(offset..offset.saturating_add(length))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                ReadError::Format(format!(
                    "tensor {:?} lies past the end of {} ({} bytes)",
                    t.name,
                    path.display(),
                    data.len()
                ))
            })
    }
}

/// A weight: a `TensorProto` as a value, whose floats must all be finite.
pub fn initializer(
    t: &TensorProto,
    external: &mut ExternalData,
    device: &Device,
) -> Result<Value, ReadError> {
    read_tensor(t, external, device, true)
}

/// A `TensorProto` (an attribute's constant) as a value.
pub fn tensor_value(
    t: &TensorProto,
    external: &mut ExternalData,
    device: &Device,
) -> Result<Value, ReadError> {
    read_tensor(t, external, device, false)
}

fn read_tensor(
    t: &TensorProto,
    external: &mut ExternalData,
    device: &Device,
    finite: bool,
) -> Result<Value, ReadError> {
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| ReadError::Format(format!("tensor {:?} has a negative dimension", t.name)))?;
    let count = super::ops::element_count(&shape)
        .map_err(|e| ReadError::Format(format!("tensor {:?} is {e}", t.name)))?;
    let external_bytes;
    let raw: &[u8] = if t.data_location.value() == 1 {
        external_bytes = external.bytes(t)?;
        &external_bytes
    } else {
        &t.raw_data
    };
    let bad = |what: &str| ReadError::Format(format!("tensor {:?} ({shape:?}) has {what}", t.name));
    let from_raw = |width: usize| -> Result<Option<Vec<&[u8]>>, ReadError> {
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.len() != count * width {
            return Err(bad(&format!(
                "{} bytes of data, not {}",
                raw.len(),
                count * width
            )));
        }
        Ok(Some(raw.chunks_exact(width).collect()))
    };
    let floats: Option<Vec<f32>> = match t.data_type {
        FLOAT => Some(match from_raw(4)? {
            Some(c) => c
                .iter()
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            None => t.float_data.clone(),
        }),
        DOUBLE => Some(match from_raw(8)? {
            Some(c) => c
                .iter()
                .map(|b| f64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as f32)
                .collect(),
            None => t.double_data.iter().map(|&v| v as f32).collect(),
        }),
        FLOAT16 | BFLOAT16 => {
            let half = |bits: u16| {
                if t.data_type == FLOAT16 {
                    half::f16::from_bits(bits).to_f32()
                } else {
                    half::bf16::from_bits(bits).to_f32()
                }
            };
            Some(match from_raw(2)? {
                Some(c) => c
                    .iter()
                    .map(|b| half(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                None => t.int32_data.iter().map(|&v| half(v as u16)).collect(),
            })
        }
        _ => None,
    };
    if let Some(data) = floats {
        if data.len() != count {
            return Err(bad(&format!("{} values", data.len())));
        }
        // Checked here, while the values are on the host anyway.
        if finite && let Some(bad) = data.iter().find(|v| !v.is_finite()) {
            return Err(ReadError::NonFinite {
                tensor: t.name.clone(),
                what: if bad.is_nan() { "NaN" } else { "infinity" },
            });
        }
        return Ok(Value::Float(Float::from_vec(data, &shape, device)));
    }
    let ints: Vec<i64> = match t.data_type {
        INT64 => match from_raw(8)? {
            Some(c) => c
                .iter()
                .map(|b| i64::from_le_bytes(b[..8].try_into().expect("8 bytes")))
                .collect(),
            None => t.int64_data.clone(),
        },
        INT32 => match from_raw(4)? {
            Some(c) => c
                .iter()
                .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
            None => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
        },
        INT16 | UINT16 => match from_raw(2)? {
            Some(c) => c
                .iter()
                .map(|b| {
                    let bits = u16::from_le_bytes([b[0], b[1]]);
                    if t.data_type == INT16 {
                        i64::from(bits as i16)
                    } else {
                        i64::from(bits)
                    }
                })
                .collect(),
            None => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
        },
        INT8 | UINT8 | BOOL => match from_raw(1)? {
            Some(c) => c
                .iter()
                .map(|b| {
                    if t.data_type == INT8 {
                        i64::from(b[0] as i8)
                    } else {
                        i64::from(b[0])
                    }
                })
                .collect(),
            None => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
        },
        UINT32 | UINT64 => match from_raw(if t.data_type == UINT32 { 4 } else { 8 })? {
            Some(c) => c
                .iter()
                .map(|b| {
                    let mut eight = [0u8; 8];
                    eight[..b.len()].copy_from_slice(b);
                    u64::from_le_bytes(eight) as i64
                })
                .collect(),
            None => t.uint64_data.iter().map(|&v| v as i64).collect(),
        },
        other => {
            return Err(bad(&format!(
                "data type {other}, which whycam does not read"
            )));
        }
    };
    if ints.len() != count {
        return Err(bad(&format!("{} values", ints.len())));
    }
    Ok(Value::Int(Int { data: ints, shape }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_initializers_are_widened() {
        let mut t = TensorProto::new();
        t.name = "w".to_string();
        t.dims = vec![3];
        t.data_type = FLOAT16;
        t.raw_data = [0x3c00u16, 0xc000, 0x3555]
            .iter()
            .flat_map(|b| b.to_le_bytes())
            .collect::<Vec<u8>>()
            .into();
        let mut external = ExternalData::new(Path::new("model.onnx"));
        let Value::Float(f) = tensor_value(&t, &mut external, &Device::default()).unwrap() else {
            panic!("a float tensor");
        };
        assert_eq!(f.to_vec(), vec![1.0, -2.0, 0.333_251_95]);
        t.raw_data = vec![0u8; 5].into();
        assert!(tensor_value(&t, &mut external, &Device::default()).is_err());
    }
}
