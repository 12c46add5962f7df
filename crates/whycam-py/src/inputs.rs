//! What Python passes as `images`: paths (files, directories, URLs, as the command line takes
//! them), numpy arrays, PIL images, torch tensors, or lists of them; read under the GIL into
//! owned inputs (PIL images and tensors through numpy, without importing Pillow or torch),
//! then decoded and prepared without it exactly as the command line prepares its files.

use crate::errors::{InvalidArgument, input_error};
use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use rayon::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;
use whycam_data::{FetchLimits, RgbImage, Source};
use whycam_pipeline::batch::{Decoded, Feeding};
use whycam_pipeline::{InputError, OpenedModel, Sources};

/// How a result names its image: the path or URL as shown, or the array's place in `images`.
#[derive(Debug, Clone)]
pub enum ImageName {
    Source(String),
    Index(usize),
}

/// One input, owned, ready to decode without the GIL.
pub enum Input {
    /// A file or URL (a directory has been expanded into its files).
    Source(Source),
    /// An array, already pixels; `index` is its place in `images`.
    Array { index: usize, image: RgbImage },
    /// An encoded image file held in memory (`bytes`: PNG, JPEG...), decoded as a file is.
    Encoded { index: usize, bytes: Vec<u8> },
}

impl Input {
    pub fn name(&self) -> ImageName {
        match self {
            Input::Source(source) => ImageName::Source(source.to_string()),
            Input::Array { index, .. } | Input::Encoded { index, .. } => ImageName::Index(*index),
        }
    }

    /// Decodes and prepares the input as `whycam explain` does a file; an array skips only
    /// the decoding.
    pub fn decode(&self, opened: &OpenedModel) -> Result<Decoded, InputError> {
        match self {
            Input::Source(source) => Feeding {
                preprocess: &opened.preprocess,
                limits: &opened.limits,
                fetch: &FetchLimits::default(),
            }
            .decode(source),
            Input::Encoded { index, bytes } => {
                let name = format!("image bytes {index}");
                let image = whycam_data::decode_rgb8(bytes, &name, &opened.limits)
                    .map_err(|e| InputError::data(name.clone(), &e))?;
                pixels(name, image, opened)
            }
            Input::Array { index, image } => {
                pixels(format!("array {index}"), image.clone(), opened)
            }
        }
    }
}

/// Pixels in memory (`name` says which input in errors) prepared as a file's are.
fn pixels(name: String, image: RgbImage, opened: &OpenedModel) -> Result<Decoded, InputError> {
    let prepared = whycam_data::prepare(&image, &opened.preprocess)
        .map_err(|e| InputError::data(name.clone(), &e.with_path(name.as_ref())))?;
    Ok(Decoded {
        source: Source::File(PathBuf::from(name)),
        original: image,
        prepared,
        warnings: Vec::new(),
    })
}

/// Decodes `inputs` in parallel, in order; the first failure becomes its exception.
pub fn decode_all(inputs: &[Input], opened: &OpenedModel) -> Result<Vec<Decoded>, InputError> {
    inputs.par_iter().map(|i| i.decode(opened)).collect()
}

/// Turns `images` into inputs: a path or list of paths is searched as the command line
/// searches its arguments (a missing file fails here); an array is copied into pixels.
pub fn read_inputs(images: &Bound<'_, PyAny>) -> PyResult<Vec<Input>> {
    let mut inputs = Vec::new();
    let converted = torch_as_numpy(images)?;
    let images = converted.as_ref().unwrap_or(images);
    if images.is_instance_of::<PyList>() || images.is_instance_of::<PyTuple>() {
        for (index, item) in images.try_iter()?.enumerate() {
            read_one(&item?, index, &mut inputs)?;
        }
    } else if let Some(batch) = array_of_rank(images, 4)? {
        // An (N, H, W, 3) batch is N images.
        for index in 0..batch {
            let item = images.get_item(index)?;
            read_one(&item, index, &mut inputs)?;
        }
    } else {
        read_one(images, 0, &mut inputs)?;
    }
    if inputs.is_empty() {
        return Err(InvalidArgument::new_err(
            "no images: give a path, a list of paths, or numpy arrays HxWx3",
        ));
    }
    Ok(inputs)
}

/// The length of `object`'s first axis if it is a numpy array of `rank` dimensions.
fn array_of_rank(object: &Bound<'_, PyAny>, rank: usize) -> PyResult<Option<usize>> {
    match object.cast::<numpy::PyUntypedArray>() {
        Ok(array) if array.ndim() == rank => Ok(Some(array.shape()[0])),
        _ => Ok(None),
    }
}

fn read_one(item: &Bound<'_, PyAny>, index: usize, inputs: &mut Vec<Input>) -> PyResult<()> {
    let converted = match pil_as_numpy(item)? {
        Some(array) => Some(array),
        None => torch_as_numpy(item)?,
    };
    let item = converted.as_ref().unwrap_or(item);
    if let Ok(bytes) = item.cast::<PyBytes>() {
        inputs.push(Input::Encoded {
            index,
            bytes: bytes.as_bytes().to_vec(),
        });
        return Ok(());
    }
    if item.cast::<numpy::PyUntypedArray>().is_ok() {
        let image = array_image(item, index)?;
        inputs.push(Input::Array { index, image });
        return Ok(());
    }
    let path: PathBuf = item.extract().map_err(|_| {
        InvalidArgument::new_err(format!(
            "images[{index}]: expected a path (str or os.PathLike), the bytes of an image file, a \
             numpy array HxWx3, a PIL image or a torch tensor 3xHxW, got {}",
            item.get_type()
                .name()
                .map_or_else(|_| "?".to_string(), |n| n.to_string())
        ))
    })?;
    let found = Sources::collect(&[OsString::from(path)]);
    if let Some(error) = found.failed.first() {
        return Err(input_error(error));
    }
    inputs.extend(found.found.into_iter().map(Input::Source));
    Ok(())
}

/// An `HxWx3` array as pixels: `uint8` as is, floats in `[0, 1]` scaled by 255 and rounded.
fn array_image(item: &Bound<'_, PyAny>, index: usize) -> PyResult<RgbImage> {
    let bad = |what: String| InvalidArgument::new_err(format!("images[{index}]: {what}"));
    let untyped = item.cast::<numpy::PyUntypedArray>()?;
    let shape = untyped.shape().to_vec();
    let [height, width, 3] = shape[..] else {
        return Err(bad(format!(
            "expected an array HxWx3 (RGB), got shape {shape:?}"
        )));
    };
    if height == 0 || width == 0 {
        return Err(bad(format!("an empty image (shape {shape:?})")));
    }
    let (Ok(h), Ok(w)) = (u32::try_from(height), u32::try_from(width)) else {
        return Err(bad(format!("too large (shape {shape:?})")));
    };
    let pixels: Vec<u8> = if let Ok(array) = item.cast::<PyArrayDyn<u8>>() {
        array.readonly().as_array().iter().copied().collect()
    } else if let Ok(array) = item.cast::<PyArrayDyn<f32>>() {
        unit_to_u8(array.readonly().as_array().iter().map(|&v| f64::from(v))).map_err(bad)?
    } else if let Ok(array) = item.cast::<PyArrayDyn<f64>>() {
        unit_to_u8(array.readonly().as_array().iter().copied()).map_err(bad)?
    } else {
        return Err(bad(format!(
            "expected dtype uint8, float32 or float64, got {}",
            untyped.dtype()
        )));
    };
    RgbImage::from_raw(w, h, pixels).ok_or_else(|| bad("pixels do not fill HxWx3".into()))
}

/// Float pixels in `[0, 1]` to bytes (`round(v * 255)`), refusing values outside the range.
fn unit_to_u8(values: impl Iterator<Item = f64>) -> Result<Vec<u8>, String> {
    values
        .map(|v| {
            if (0.0..=1.0).contains(&v) {
                Ok((v * 255.0).round() as u8)
            } else {
                Err(format!(
                    "float pixels must lie in [0, 1] (got {v}); pass uint8 for 0-255 values"
                ))
            }
        })
        .collect()
}

/// `object` as an instance of `module.class` if that module is loaded (so that neither Pillow
/// nor torch is ever imported here: an object of theirs means its module is loaded already).
fn instance_of(object: &Bound<'_, PyAny>, module: &str, class: &str) -> PyResult<bool> {
    let py = object.py();
    let modules = py.import("sys")?.getattr("modules")?;
    let Some(loaded) = modules
        .call_method1("get", (module,))
        .ok()
        .filter(|m| !m.is_none())
    else {
        return Ok(false);
    };
    let Ok(class) = loaded.getattr(class) else {
        return Ok(false);
    };
    object.is_instance(&class)
}

/// A PIL image as an `HxWx3` uint8 array (converted to RGB as Pillow converts), or `None`
/// for anything else.
fn pil_as_numpy<'py>(object: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    if !instance_of(object, "PIL.Image", "Image")? {
        return Ok(None);
    }
    let rgb = object.call_method1("convert", ("RGB",))?;
    let numpy = object.py().import("numpy")?;
    Ok(Some(numpy.call_method1("asarray", (rgb,))?))
}

/// A torch tensor `Nx3xHxW` or `3xHxW` (uint8, or floats in `[0, 1]` as torchvision's
/// `ToTensor` gives them, not normalised) as a numpy array `NxHxWx3` or `HxWx3`, or `None`
/// for anything else.
fn torch_as_numpy<'py>(object: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    if !instance_of(object, "torch", "Tensor")? {
        return Ok(None);
    }
    let shape: Vec<usize> = object.getattr("shape")?.extract()?;
    let channels = match shape.len() {
        3 => 0,
        4 => 1,
        _ => usize::MAX,
    };
    if shape.get(channels) != Some(&3) {
        return Err(InvalidArgument::new_err(format!(
            "images: expected a torch tensor Nx3xHxW or 3xHxW (RGB), got shape {shape:?}"
        )));
    }
    let mut tensor = object.call_method0("detach")?.call_method0("cpu")?;
    let floating: bool = tensor.call_method0("is_floating_point")?.extract()?;
    if floating && tensor.getattr("dtype")?.str()? != "torch.float64" {
        tensor = tensor.call_method0("float")?;
    }
    let array = tensor.call_method0("numpy")?;
    let numpy = object.py().import("numpy")?;
    let moved = numpy.call_method1("moveaxis", (array, channels, -1))?;
    Ok(Some(numpy.call_method1("ascontiguousarray", (moved,))?))
}
