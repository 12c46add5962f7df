//! Turning an RGB image into the network's normalised CHW `f32` input, the way
//! torchvision's evaluation transforms do on a PIL image:
//!
//! - `crop`: `Resize(floor(size / crop_fraction))` (shorter side) + `CenterCrop(size)`;
//! - `stretch`: `Resize((size, size))`;
//! - `none`: the image must already be `size`x`size`;
//!
//! then `ToTensor()` + `Normalize(mean, std)`. Resizing is PIL's antialiased bilinear
//! (a triangle filter whose support grows with the downscale factor), done by
//! `fast_image_resize`'s convolution resizer, which is designed to match it; parity is
//! checked against goldens made by `tools/reference/preprocess_golden.py`.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use fast_image_resize as fr;
use image::RgbImage;

use crate::decode::{DecodeLimits, load_rgb8};
use crate::error::{DataError, Result};

/// How an image of any size is brought to the network's square input.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    /// Resize the shorter side to `size / crop_fraction`, then take the centre square.
    #[default]
    Crop,
    /// Resize both sides to `size`, ignoring the aspect ratio.
    Stretch,
    /// Use the image as it is; it must already be `size`x`size`.
    None,
    /// Resize the shorter side to `size`, keeping the aspect ratio, without cropping: a fully
    /// convolutional network then sees (and explains) the whole photo.
    Shorter,
}

impl Preprocess {
    /// Every mode, in the order a CLI should list them.
    pub const ALL: [Preprocess; 4] = [
        Preprocess::Crop,
        Preprocess::Stretch,
        Preprocess::None,
        Preprocess::Shorter,
    ];

    /// The mode's name as accepted by [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            Preprocess::Crop => "crop",
            Preprocess::Stretch => "stretch",
            Preprocess::None => "none",
            Preprocess::Shorter => "shorter",
        }
    }
}

impl fmt::Display for Preprocess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Preprocess {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self> {
        Preprocess::ALL
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| DataError::UnknownPreprocess {
                name: s.to_string(),
            })
    }
}

/// Per-channel normalisation `x = (pixel / 255 - mean) / std`, in 0..1 units.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    /// Mean of the R, G, B channels.
    pub mean: [f32; 3],
    /// Standard deviation of the R, G, B channels.
    pub std: [f32; 3],
}

impl Normalization {
    /// torchvision's ImageNet statistics, used by ResNet, VGG, DenseNet, MobileNet, ...
    pub const IMAGENET: Normalization = Normalization {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// EfficientNet-Lite's `(pixel - 127) / 128`, written in 0..1 units.
    // Computed in f64 and rounded once, as Python's `127 / 255` put in a float32 tensor.
    pub const EFFICIENTNET_LITE: Normalization = Normalization {
        mean: [(127.0f64 / 255.0) as f32; 3],
        std: [(128.0f64 / 255.0) as f32; 3],
    };

    fn validate(&self) -> Result<()> {
        if self.mean.iter().any(|m| !m.is_finite()) {
            return Err(DataError::NormalizationMean { mean: self.mean });
        }
        if self.std.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(DataError::NormalizationStd { std: self.std });
        }
        Ok(())
    }
}

/// Everything [`prepare`] needs to know.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PreprocessConfig {
    /// Side of the square network input, in pixels.
    pub size: u32,
    /// How the image is brought to `size`x`size`.
    pub mode: Preprocess,
    /// For [`Preprocess::Crop`]: the fraction of the resized shorter side kept (0.875 for 224/256).
    pub crop_fraction: f32,
    /// Channel normalisation applied after resizing.
    pub normalization: Normalization,
}

impl PreprocessConfig {
    /// The largest accepted input size.
    pub const MAX_SIZE: u32 = 4096;

    /// Checks every field; [`prepare`] calls this itself.
    pub fn validate(&self) -> Result<()> {
        if self.size == 0 || self.size > Self::MAX_SIZE {
            return Err(DataError::InputSize {
                size: self.size,
                max: Self::MAX_SIZE,
            });
        }
        // Below 0.1 the resized image would be absurdly large for the crop it feeds.
        if !(self.crop_fraction.is_finite() && (0.1..=1.0).contains(&self.crop_fraction)) {
            return Err(DataError::CropFraction {
                fraction: self.crop_fraction,
            });
        }
        self.normalization.validate()
    }
}

impl Default for PreprocessConfig {
    /// 224 px, centre crop at 0.875, ImageNet normalisation.
    fn default() -> Self {
        PreprocessConfig {
            size: 224,
            mode: Preprocess::Crop,
            crop_fraction: 0.875,
            normalization: Normalization::IMAGENET,
        }
    }
}

/// The rectangle of the original image, in original pixel coordinates (continuous: pixel
/// `i` spans `i..i+1`), that the network input covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropRegion {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

/// A network input and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Normalised pixels, `3 * height * width` values in CHW order (R plane, G plane, B plane).
    pub data: Vec<f32>,
    /// Width of the input (`size`, except with [`Preprocess::Shorter`]).
    pub width: u32,
    /// Height of the input.
    pub height: u32,
    /// Width and height of the original image (after EXIF orientation).
    pub original: (u32, u32),
    /// The part of the original image the input shows.
    pub region: CropRegion,
}

/// Resizes and crops `img` to the `size`x`size` RGB image the network sees.
///
/// This is [`prepare`] without the normalisation, for code that wants to show the
/// network's view of the image.
pub fn resize_to_input(img: &RgbImage, cfg: &PreprocessConfig) -> Result<(RgbImage, CropRegion)> {
    cfg.validate()?;
    let (width, height) = img.dimensions();
    if width == 0 || height == 0 {
        return Err(size_error(format!(
            "image {width}x{height} px has no pixels"
        )));
    }
    let size = cfg.size;
    let whole = CropRegion {
        x: 0.0,
        y: 0.0,
        width: width as f32,
        height: height as f32,
    };
    match cfg.mode {
        Preprocess::None => {
            if (width, height) != (size, size) {
                return Err(size_error(format!(
                    "expected {size}x{size} px for --preprocess none, got {width}x{height}"
                )));
            }
            Ok((img.clone(), whole))
        }
        Preprocess::Stretch => Ok((resize_bilinear(img, None, size, size)?, whole)),
        Preprocess::Shorter => {
            // torchvision's Resize(size): the longer side scaled and truncated.
            let scale = |long: u32, short: u32| {
                (u64::from(size) * u64::from(long) / u64::from(short)) as u32
            };
            let (w, h) = if width <= height {
                (size, scale(height, width))
            } else {
                (scale(width, height), size)
            };
            if w.max(h) > PreprocessConfig::MAX_SIZE {
                return Err(size_error(format!(
                    "image {width}x{height} px would be {w}x{h} px with its shorter side at {size} \
                     (more than {} px); crop it or use --preprocess crop",
                    PreprocessConfig::MAX_SIZE
                )));
            }
            Ok((resize_bilinear(img, None, w, h)?, whole))
        }
        Preprocess::Crop => {
            let geometry = CropGeometry::new(width, height, size, cfg.crop_fraction);
            let region = geometry.source_region(width, height);
            let out = resize_bilinear(img, Some(region), size, size)?;
            Ok((out, region.to_crop_region()))
        }
    }
}

/// Resizes, crops and normalises `img` into the network's CHW input.
pub fn prepare(img: &RgbImage, cfg: &PreprocessConfig) -> Result<Prepared> {
    let (input, region) = resize_to_input(img, cfg)?;
    Ok(Prepared {
        data: normalize_chw(&input, &cfg.normalization),
        width: input.width(),
        height: input.height(),
        original: img.dimensions(),
        region,
    })
}

/// Decodes the image at `path` and [`prepare`]s it; every error names `path`.
pub fn prepare_file(
    path: &Path,
    limits: &DecodeLimits,
    cfg: &PreprocessConfig,
) -> Result<Prepared> {
    cfg.validate()?;
    let img = load_rgb8(path, limits)?;
    prepare(&img, cfg).map_err(|e| e.with_path(path))
}

/// `(pixel / 255 - mean) / std` per channel, in CHW order, in the same f32 operations as
/// torchvision's `ToTensor()` + `Normalize()`, so values are bit-identical.
pub fn normalize_chw(img: &RgbImage, normalization: &Normalization) -> Vec<f32> {
    let plane = img.width() as usize * img.height() as usize;
    let mut data = vec![0.0f32; 3 * plane];
    let (r, rest) = data.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    let Normalization { mean, std } = *normalization;
    for (i, px) in img.pixels().enumerate() {
        r[i] = (f32::from(px[0]) / 255.0 - mean[0]) / std[0];
        g[i] = (f32::from(px[1]) / 255.0 - mean[1]) / std[1];
        b[i] = (f32::from(px[2]) / 255.0 - mean[2]) / std[2];
    }
    data
}

fn size_error(message: String) -> DataError {
    DataError::Size {
        path: None,
        message,
    }
}

/// torchvision's `Resize(int)` + `CenterCrop` arithmetic, in resized-image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CropGeometry {
    resized: (u32, u32),
    left: u32,
    top: u32,
    size: u32,
}

impl CropGeometry {
    fn new(width: u32, height: u32, size: u32, crop_fraction: f32) -> Self {
        // timm's `math.floor(img_size / crop_pct)`; 224 / 0.875 = 256.
        let short_target = (f64::from(size) / f64::from(crop_fraction)).floor() as u32;
        // `_compute_resized_output_size`: int(new_short * long / short), Python true division.
        let scaled_long = |long: u32, short: u32| {
            (f64::from(short_target) * f64::from(long) / f64::from(short)) as u32
        };
        let resized = if width <= height {
            (short_target, scaled_long(height, width))
        } else {
            (scaled_long(width, height), short_target)
        };
        // `center_crop`: int(round((h - size) / 2.0)), and Python rounds half to even.
        let offset = |len: u32| (f64::from(len - size) / 2.0).round_ties_even() as u32;
        CropGeometry {
            resized,
            left: offset(resized.0),
            top: offset(resized.1),
            size,
        }
    }

    /// The crop in source pixels. Resizing only this box gives the same pixels as
    /// resizing the whole image and cropping: each output pixel's filter window is the
    /// same, and windows are still clipped at the source image's edges.
    fn source_region(&self, width: u32, height: u32) -> SourceBox {
        let sx = f64::from(width) / f64::from(self.resized.0);
        let sy = f64::from(height) / f64::from(self.resized.1);
        let left = f64::from(self.left) * sx;
        let top = f64::from(self.top) * sy;
        // min() only absorbs rounding: left + size <= resized width exactly.
        SourceBox {
            left,
            top,
            width: (f64::from(self.size) * sx).min(f64::from(width) - left),
            height: (f64::from(self.size) * sy).min(f64::from(height) - top),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct SourceBox {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

impl SourceBox {
    fn to_crop_region(self) -> CropRegion {
        CropRegion {
            x: self.left as f32,
            y: self.top as f32,
            width: self.width as f32,
            height: self.height as f32,
        }
    }
}

/// The pixels `left..left+width` × `top..top+height` of `img` resized to `out`×`out`
/// (antialiased bilinear, as [`prepare`] resizes): torchvision's `resized_crop`.
pub(crate) fn crop_resized(
    img: &RgbImage,
    (left, top, width, height): (u32, u32, u32, u32),
    out: u32,
) -> Result<RgbImage> {
    let region = SourceBox {
        left: f64::from(left),
        top: f64::from(top),
        width: f64::from(width),
        height: f64::from(height),
    };
    resize_bilinear(img, Some(region), out, out)
}

/// PIL-style antialiased bilinear resize of `img` (or of `region` of it) to `width`x`height`.
fn resize_bilinear(
    img: &RgbImage,
    region: Option<SourceBox>,
    width: u32,
    height: u32,
) -> Result<RgbImage> {
    // Only reachable through a bug in this module: sizes are validated above.
    fn internal<E: std::error::Error + Send + Sync + 'static>(
        step: &'static str,
    ) -> impl FnOnce(E) -> DataError {
        move |e| DataError::Resize {
            step,
            source: Box::new(e),
        }
    }
    // The typed resizer for the one pixel type used: `Resizer::resize` would compile the
    // convolution for all of fast_image_resize's pixel types (a quarter of this crate's build).
    let src = fr::images::TypedImageRef::<fr::pixels::U8x3>::from_buffer(
        img.width(),
        img.height(),
        img.as_raw(),
    )
    .map_err(internal("source"))?;
    let mut buffer = vec![0u8; width as usize * height as usize * 3];
    let mut dst =
        fr::images::TypedImage::<fr::pixels::U8x3>::from_buffer(width, height, &mut buffer)
            .map_err(internal("destination"))?;
    let mut options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear))
        .use_alpha(false);
    if let Some(b) = region {
        options = options.crop(b.left, b.top, b.width, b.height);
    }
    fr::Resizer::new()
        .resize_typed(&src, &mut dst, &options)
        .map_err(internal("resize"))?;
    drop(dst);
    let len = buffer.len();
    RgbImage::from_raw(width, height, buffer).ok_or(DataError::ResizedLength { width, height, len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_keeps_the_aspect_ratio_and_the_whole_image() {
        let img = RgbImage::from_pixel(451, 300, image::Rgb([10, 20, 30]));
        let cfg = PreprocessConfig {
            mode: Preprocess::Shorter,
            ..PreprocessConfig::default()
        };
        let p = prepare(&img, &cfg).unwrap();
        // torchvision's Resize(224): 451 * 224 / 300 = 336.7, truncated.
        assert_eq!((p.width, p.height), (336, 224));
        assert_eq!(p.data.len(), 3 * 336 * 224);
        assert_eq!((p.region.width, p.region.height), (451.0, 300.0));
        let tall = RgbImage::from_pixel(20, 40_000, image::Rgb([0, 0, 0]));
        assert!(
            prepare(&tall, &cfg)
                .unwrap_err()
                .to_string()
                .contains("shorter side")
        );
    }
    use image::Rgb;
    use std::path::PathBuf;

    /// Same formula as `synthetic_pixel` in tools/reference/preprocess_golden.py.
    fn synthetic_pixel(x: i64, y: i64, w: i64, h: i64) -> [u8; 3] {
        let mut rgb = [
            (x * 255) / (w - 1),
            (y * 255) / (h - 1),
            ((x / 8 + y / 8) % 2) * 180 + 40,
        ];
        let (cx, cy, rad) = ((w * 2) / 5, h / 2, w.min(h) / 4);
        if (x - cx).pow(2) + (y - cy).pow(2) <= rad * rad {
            rgb = [250, 30, 90];
        }
        if x % 23 == 0 {
            rgb = [0, 0, 0];
        }
        if x < w / 6 && y < h / 6 {
            let v = ((x * 7919 + y * 104_729) ^ (x * y)) % 256;
            rgb = [v, 255 - v, (v * 3) % 256];
        }
        rgb.map(|c| u8::try_from(c).unwrap())
    }

    fn synthetic_image(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb(synthetic_pixel(x.into(), y.into(), w.into(), h.into()))
        })
    }

    fn golden_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/preprocess")
    }

    fn golden_json() -> serde_json::Value {
        let text = std::fs::read_to_string(golden_dir().join("cases.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn as_u32(v: &serde_json::Value) -> u32 {
        u32::try_from(v.as_u64().unwrap()).unwrap()
    }

    /// Goldens: `/root/venvs/ref/bin/python tools/reference/preprocess_golden.py`
    /// (PIL `Image.resize(..., BILINEAR)` + torchvision's centre-crop arithmetic,
    /// cross-checked there against torchvision's transforms).
    #[test]
    fn pil_parity() {
        let meta = golden_json();
        let size = as_u32(&meta["size"]);
        let crop_fraction = meta["crop_fraction"].as_f64().unwrap() as f32;
        let mut report = Vec::new();
        for case in meta["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let (w, h) = (as_u32(&case["input"][0]), as_u32(&case["input"][1]));
            let mode: Preprocess = case["mode"].as_str().unwrap().parse().unwrap();
            let cfg = PreprocessConfig {
                size,
                mode,
                crop_fraction,
                ..PreprocessConfig::default()
            };
            if mode == Preprocess::Crop {
                let g = CropGeometry::new(w, h, size, crop_fraction);
                let resized = (as_u32(&case["resized"][0]), as_u32(&case["resized"][1]));
                assert_eq!(g.resized, resized, "{name}: resized size");
                assert_eq!(
                    (g.left, g.top),
                    (as_u32(&case["left"]), as_u32(&case["top"])),
                    "{name}: crop offsets"
                );
            }
            let (ours, _) = resize_to_input(&synthetic_image(w, h), &cfg).unwrap();
            let pil = image::open(golden_dir().join(format!("{name}.png")))
                .unwrap()
                .into_rgb8();
            assert_eq!(ours.dimensions(), pil.dimensions(), "{name}");
            let diffs: Vec<u8> = ours
                .as_raw()
                .iter()
                .zip(pil.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .collect();
            let max = diffs.iter().copied().max().unwrap();
            let off = diffs.iter().filter(|d| **d != 0).count();
            report.push(format!(
                "{name}: max |diff| = {max}, {off} of {} values differ",
                diffs.len()
            ));
            assert!(max <= 1, "{name}: max abs difference {max} vs PIL");
            // Off-by-one rounding is expected on a few values (fast_image_resize runs the
            // vertical pass first with 16-bit coefficients); a systematic drift is not.
            assert!(
                off * 20 < diffs.len(),
                "{name}: {off} values differ from PIL"
            );
        }
        // Visible with `cargo test -p whycam-data pil_parity -- --nocapture`.
        eprintln!("{}", report.join("\n"));
    }

    #[test]
    fn normalisation_matches_torchvision_bit_for_bit() {
        let meta = golden_json();
        let golden = &meta["normalization"]["values"];
        let ramp = RgbImage::from_fn(256, 1, |x, _| Rgb([x as u8; 3]));
        let data = normalize_chw(&ramp, &Normalization::IMAGENET);
        for c in 0..3 {
            for v in 0..256 {
                let expected = golden[c][v].as_f64().unwrap() as f32;
                assert_eq!(
                    data[c * 256 + v].to_bits(),
                    expected.to_bits(),
                    "channel {c} value {v}"
                );
            }
        }
        for (key, ours) in [
            ("mean", Normalization::IMAGENET.mean),
            ("std", Normalization::IMAGENET.std),
        ] {
            let golden: Vec<f32> = meta["normalization"][key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(golden, ours, "{key}");
        }
    }

    #[test]
    fn efficientnet_lite_normalisation_is_centred_at_127() {
        let img = RgbImage::from_fn(3, 1, |x, _| Rgb([[127u8, 255, 0][x as usize]; 3]));
        let data = normalize_chw(&img, &Normalization::EFFICIENTNET_LITE);
        assert!(data[0].abs() < 1e-6);
        assert!((data[1] - 1.0).abs() < 1e-5);
        assert!((data[2] + 127.0 / 128.0).abs() < 1e-5);
    }

    #[test]
    fn output_is_chw() {
        let img = RgbImage::from_fn(2, 2, |x, y| Rgb([(x + 2 * y) as u8, 100, 200]));
        let cfg = PreprocessConfig {
            size: 2,
            mode: Preprocess::None,
            normalization: Normalization {
                mean: [0.0; 3],
                std: [1.0; 3],
            },
            ..PreprocessConfig::default()
        };
        let p = prepare(&img, &cfg).unwrap();
        let expected: Vec<f32> = [0u8, 1, 2, 3, 100, 100, 100, 100, 200, 200, 200, 200]
            .iter()
            .map(|v| f32::from(*v) / 255.0)
            .collect();
        assert_eq!(p.data, expected);
        assert_eq!(p.original, (2, 2));
    }

    #[test]
    fn crop_geometry_follows_torchvision() {
        // 224 / 0.875 = 256; 500x375 -> 341x256 (int(341.33)); (341-224)/2 = 58.5 -> 58.
        let g = CropGeometry::new(500, 375, 224, 0.875);
        assert_eq!((g.resized, g.left, g.top), ((341, 256), 58, 16));
        // Portrait: 375x500 -> 256x341.
        let g = CropGeometry::new(375, 500, 224, 0.875);
        assert_eq!((g.resized, g.left, g.top), ((256, 341), 16, 58));
        // (343-224)/2 = 59.5 rounds to the even 60.
        let g = CropGeometry::new(343, 256, 224, 0.875);
        assert_eq!((g.resized, g.left), ((343, 256), 60));
        // timm's crop_pct 0.9 at 224: floor(248.88) = 248.
        let g = CropGeometry::new(1000, 1000, 224, 0.9);
        assert_eq!((g.resized, g.left, g.top), ((248, 248), 12, 12));
    }

    #[test]
    fn crop_region_maps_back_to_the_original() {
        let img = synthetic_image(500, 375);
        let (_, region) = resize_to_input(&img, &PreprocessConfig::default()).unwrap();
        let scale = 375.0 / 256.0;
        let close = |a: f32, b: f64| (f64::from(a) - b).abs() < 1e-3;
        assert!(close(region.x, 58.0 * 500.0 / 341.0), "{region:?}");
        assert!(close(region.y, 16.0 * scale), "{region:?}");
        assert!(close(region.width, 224.0 * 500.0 / 341.0), "{region:?}");
        assert!(close(region.height, 224.0 * scale), "{region:?}");

        let cfg = PreprocessConfig {
            mode: Preprocess::Stretch,
            ..PreprocessConfig::default()
        };
        let p = prepare(&img, &cfg).unwrap();
        assert_eq!(
            p.region,
            CropRegion {
                x: 0.0,
                y: 0.0,
                width: 500.0,
                height: 375.0
            }
        );
        assert_eq!(p.data.len(), 3 * 224 * 224);
        assert_eq!(p.original, (500, 375));
    }

    #[test]
    fn resizing_the_crop_box_equals_resize_then_crop() {
        // The shortcut in `source_region` must give the pixels of the literal pipeline.
        for (w, h) in [(603, 427), (61, 97), (500, 375), (1000, 3), (300, 256)] {
            let img = synthetic_image(w, h);
            let cfg = PreprocessConfig::default();
            let g = CropGeometry::new(w, h, cfg.size, cfg.crop_fraction);
            let full = resize_bilinear(&img, None, g.resized.0, g.resized.1).unwrap();
            let literal =
                image::imageops::crop_imm(&full, g.left, g.top, g.size, g.size).to_image();
            let (ours, _) = resize_to_input(&img, &cfg).unwrap();
            assert_eq!(ours, literal, "{w}x{h}");
        }
    }

    #[test]
    fn extreme_aspect_ratios_do_not_blow_up() {
        // 100000x1 would resize to 25.6M x 256 px if resized whole; only the crop is made.
        let img = RgbImage::from_pixel(100_000, 1, Rgb([9, 8, 7]));
        let (out, region) = resize_to_input(&img, &PreprocessConfig::default()).unwrap();
        assert_eq!(out.dimensions(), (224, 224));
        assert_eq!(*out.get_pixel(100, 100), Rgb([9, 8, 7]));
        assert!(region.height <= 1.0 && region.width > 0.0);
    }

    #[test]
    fn none_mode_requires_the_exact_size() {
        let cfg = PreprocessConfig {
            mode: Preprocess::None,
            ..PreprocessConfig::default()
        };
        let err = prepare(&RgbImage::new(500, 375), &cfg).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected 224x224 px for --preprocess none, got 500x375"
        );
        let named = err.with_path(Path::new("photos/cat.jpg"));
        assert_eq!(
            named.to_string(),
            "photos/cat.jpg: expected 224x224 px for --preprocess none, got 500x375"
        );
        let img = synthetic_image(224, 224);
        let (out, _) = resize_to_input(&img, &cfg).unwrap();
        assert_eq!(out, img);
    }

    #[test]
    fn prepare_file_names_the_file_in_size_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("small.png");
        synthetic_image(20, 10).save(&p).unwrap();
        let cfg = PreprocessConfig {
            mode: Preprocess::None,
            ..PreprocessConfig::default()
        };
        let err = prepare_file(&p, &DecodeLimits::default(), &cfg).unwrap_err();
        assert!(
            err.to_string().starts_with(&p.display().to_string()),
            "{err}"
        );
        assert!(err.to_string().ends_with("got 20x10"), "{err}");
        let ok = prepare_file(&p, &DecodeLimits::default(), &PreprocessConfig::default()).unwrap();
        assert_eq!(ok.original, (20, 10));
    }

    #[test]
    fn absurd_parameters_are_refused() {
        let img = synthetic_image(8, 8);
        let bad = [
            PreprocessConfig {
                size: 0,
                ..PreprocessConfig::default()
            },
            PreprocessConfig {
                size: 4097,
                ..PreprocessConfig::default()
            },
            PreprocessConfig {
                crop_fraction: 0.0,
                ..PreprocessConfig::default()
            },
            PreprocessConfig {
                crop_fraction: 1.5,
                ..PreprocessConfig::default()
            },
            PreprocessConfig {
                crop_fraction: f32::NAN,
                ..PreprocessConfig::default()
            },
            PreprocessConfig {
                normalization: Normalization {
                    mean: [0.0; 3],
                    std: [1.0, 0.0, 1.0],
                },
                ..PreprocessConfig::default()
            },
        ];
        for cfg in bad {
            assert!(
                matches!(
                    prepare(&img, &cfg),
                    Err(DataError::InputSize { .. }
                        | DataError::CropFraction { .. }
                        | DataError::NormalizationMean { .. }
                        | DataError::NormalizationStd { .. })
                ),
                "{cfg:?}"
            );
        }
        let empty = RgbImage::new(0, 0);
        let err = prepare(&empty, &PreprocessConfig::default()).unwrap_err();
        assert!(err.to_string().contains("0x0 px"), "{err}");
        // Upscaling a 1x1 image and a crop fraction of 1 are fine.
        let cfg = PreprocessConfig {
            crop_fraction: 1.0,
            ..PreprocessConfig::default()
        };
        let one = RgbImage::from_pixel(1, 1, Rgb([1, 2, 3]));
        let (out, _) = resize_to_input(&one, &cfg).unwrap();
        assert!(out.pixels().all(|p| *p == Rgb([1, 2, 3])));
    }

    #[test]
    fn preprocess_mode_round_trips_through_strings() {
        for mode in Preprocess::ALL {
            assert_eq!(mode.to_string().parse::<Preprocess>().unwrap(), mode);
        }
        assert_eq!("CROP".parse::<Preprocess>().unwrap(), Preprocess::Crop);
        let err = "squash".parse::<Preprocess>().unwrap_err();
        assert!(err.to_string().contains("crop, stretch, none"), "{err}");
        assert_eq!(Preprocess::default(), Preprocess::Crop);
    }
}
