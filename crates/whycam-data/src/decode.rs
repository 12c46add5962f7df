//! Decoding image files (or bytes downloaded from a URL) into 8-bit RGB, with EXIF
//! orientation applied and a pixel budget checked from the header before any pixel is
//! decoded.
//!
//! Files are read as [`crate::files`] reads every input: regular files only, within a size
//! limit checked before reading and enforced while reading. A JPEG that ends before its
//! end-of-image marker is an error ([`DataError::Truncated`]) unless
//! [`DecodeLimits::allow_truncated`] lets it through with a warning.
//!
//! The result matches what torchvision users get from `PIL.Image.open(p).convert("RGB")`
//! after `ImageOps.exif_transpose`: alpha is dropped (not composited), grey is
//! replicated into the three channels, 16-bit and float samples are scaled to 8 bits.

use std::io::{BufRead, BufReader, Cursor, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::Ordering;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};

use crate::error::{DataError, Result};
use crate::files::{Bounded, open_regular};
use crate::jpeg_end::{JpegEnd, find_jpeg_end};

/// Resource limits applied while decoding one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The largest accepted `width * height`, checked from the header before decoding.
    pub max_pixels: u64,
    /// The largest accepted file (or downloaded body), in bytes: checked from the file's
    /// metadata before it is read, and enforced while reading, so a file that grows
    /// meanwhile is refused too ([`DataError::FileTooLarge`]).
    pub max_file_size: u64,
    /// Decode a JPEG that ends before its end-of-image marker as far as the decoder gets
    /// (it fills in the rest) instead of refusing it with [`DataError::Truncated`]; the
    /// truncation is then reported in [`DecodedImage::warnings`]. Truncated files of other
    /// formats stay errors: their decoders stop at the missing data.
    pub allow_truncated: bool,
}

impl DecodeLimits {
    /// Default pixel budget: 200 megapixels (PIL refuses ~179 MP by default, doubles at 2x).
    pub const DEFAULT_MAX_PIXELS: u64 = 200_000_000;
    /// Default file size budget: 256 MiB, far above any photo at the default pixel budget
    /// (a 200 MP JPEG is rarely over 100 MB), and far below the memory a decode may use.
    pub const DEFAULT_MAX_FILE_SIZE: u64 = 256 * 1024 * 1024;

    /// Bytes the decoder may allocate: the decoded buffer at up to 8 bytes per pixel
    /// (16-bit RGBA) plus headroom for the decoder's own state (metadata, line buffers).
    /// Float images wider than that budget are refused by `image`'s own limit.
    fn max_alloc_bytes(&self) -> u64 {
        const HEADROOM: u64 = 64 * 1024 * 1024;
        self.max_pixels.saturating_mul(8).saturating_add(HEADROOM)
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_pixels: Self::DEFAULT_MAX_PIXELS,
            max_file_size: Self::DEFAULT_MAX_FILE_SIZE,
            allow_truncated: false,
        }
    }
}

/// An image decoded to 8-bit RGB, with the problems the limits let through.
#[derive(Debug)]
#[non_exhaustive]
pub struct DecodedImage {
    /// The pixels, EXIF orientation applied.
    pub image: RgbImage,
    /// Each problem let through, as the error it would otherwise have been: today only
    /// [`DataError::Truncated`], under [`DecodeLimits::allow_truncated`].
    pub warnings: Vec<DataError>,
}

/// Decodes the image at `path` to 8-bit RGB.
///
/// The format is detected from the content (the extension is only a fallback);
/// JPEG, PNG, WebP, BMP, TIFF and GIF (first frame) are supported. EXIF orientation is
/// applied. Never panics on malformed input: every failure is a [`DataError`] naming `path`.
/// Problems let through by `limits` are logged; [`load_image`] returns them.
pub fn load_rgb8(path: &Path, limits: &DecodeLimits) -> Result<RgbImage> {
    load_image(path, limits).map(|decoded| decoded.image)
}

/// Decodes an image held in memory (a download) to 8-bit RGB, exactly as [`load_rgb8`]
/// decodes a file.
///
/// `name` says where the bytes came from (a URL, or a file's path); every error names it.
pub fn decode_rgb8(bytes: &[u8], name: &str, limits: &DecodeLimits) -> Result<RgbImage> {
    decode_image(bytes, name, limits).map(|decoded| decoded.image)
}

/// [`load_rgb8`], returning the problems `limits` let through beside the image.
///
/// Only a regular file (symbolic links followed) of at most
/// [`max_file_size`](DecodeLimits::max_file_size) bytes is read: a directory, named pipe
/// or device is refused with [`DataError::NotRegularFile`] before it is opened for reading.
pub fn load_image(path: &Path, limits: &DecodeLimits) -> Result<DecodedImage> {
    without_panics(path, || {
        let (file, size) = open_regular(path, limits.max_file_size)?;
        // A second handle to walk a JPEG's structure once the decoder is done with the first.
        let rescan = file.try_clone().map_err(|e| DataError::io(path, e))?;
        let input = Input { path, size };
        let bounded = Bounded::new(file, limits.max_file_size);
        let exceeded = bounded.exceeded_flag();
        let mut reader = ImageReader::new(BufReader::new(bounded));
        // As `ImageReader::open`: the extension names the format when the content cannot.
        if let Ok(format) = ImageFormat::from_path(path) {
            reader.set_format(format);
        }
        let too_large = || DataError::FileTooLarge {
            path: path.to_path_buf(),
            size: None,
            limit: limits.max_file_size,
        };
        let (image, format) = match decode(reader, &input, limits) {
            Err(_) if exceeded.load(Ordering::Relaxed) => return Err(too_large()),
            other => other?,
        };
        let end = if format == Some(ImageFormat::Jpeg) {
            let mut rescan = Bounded::new(rescan, limits.max_file_size);
            let exceeded = rescan.exceeded_flag();
            let walked = rescan
                .seek(SeekFrom::Start(0))
                .and_then(|_| find_jpeg_end(BufReader::with_capacity(64 * 1024, rescan)));
            match walked {
                Ok(end) => end,
                Err(_) if exceeded.load(Ordering::Relaxed) => return Err(too_large()),
                Err(e) => return Err(DataError::io(path, e)),
            }
        } else {
            JpegEnd::Unknown
        };
        finish(image, format, end, &input, limits)
    })
}

/// [`decode_rgb8`], returning the problems `limits` let through beside the image.
pub fn decode_image(bytes: &[u8], name: &str, limits: &DecodeLimits) -> Result<DecodedImage> {
    let path = Path::new(name);
    without_panics(path, || {
        let size = bytes.len() as u64;
        if size > limits.max_file_size {
            return Err(DataError::FileTooLarge {
                path: path.to_path_buf(),
                size: Some(size),
                limit: limits.max_file_size,
            });
        }
        let input = Input { path, size };
        let (image, format) = decode(ImageReader::new(Cursor::new(bytes)), &input, limits)?;
        let end = match format {
            Some(ImageFormat::Jpeg) => find_jpeg_end(bytes).map_err(|e| DataError::io(path, e))?,
            _ => JpegEnd::Unknown,
        };
        finish(image, format, end, &input, limits)
    })
}

/// The input being decoded, for errors.
struct Input<'a> {
    /// Names it (a path, or a URL as a path).
    path: &'a Path,
    /// Its size in bytes.
    size: u64,
}

impl Input<'_> {
    fn truncated(&self, format: Option<ImageFormat>) -> DataError {
        DataError::Truncated {
            path: self.path.to_path_buf(),
            format: format_name(format),
            size: self.size,
        }
    }
}

/// Refuses a truncated JPEG, or lets it through with a warning when `limits` allow it.
fn finish(
    image: RgbImage,
    format: Option<ImageFormat>,
    end: JpegEnd,
    input: &Input<'_>,
    limits: &DecodeLimits,
) -> Result<DecodedImage> {
    let mut warnings = Vec::new();
    if end == JpegEnd::Truncated {
        let error = input.truncated(format);
        if !limits.allow_truncated {
            return Err(error);
        }
        tracing::warn!(error = %error, "decoded a truncated image as allowed");
        warnings.push(error);
    }
    Ok(DecodedImage { image, warnings })
}

/// Runs `decode`, turning a panic into an error naming `path`: a decoder bug must not
/// abort a whole batch.
fn without_panics<T>(path: &Path, decode: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(decode)) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(DataError::decoding(
                path,
                format!("the decoder failed unexpectedly: {what}"),
            ))
        }
    }
}

/// Decodes what `reader` reads into RGB; returns the format it was decoded as.
fn decode<R: BufRead + Seek>(
    reader: ImageReader<R>,
    input: &Input<'_>,
    limits: &DecodeLimits,
) -> Result<(RgbImage, Option<ImageFormat>)> {
    let path = input.path;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let format = reader.format();
    if format.is_none() {
        return Err(DataError::Unsupported {
            path: path.to_path_buf(),
            message: "not a recognised image format (supported: JPEG, PNG, WebP, BMP, TIFF, GIF)"
                .to_string(),
        });
    }
    let from_image_error = |e| from_image_error(input, format, e);

    let mut image_limits = Limits::default();
    image_limits.max_alloc = Some(limits.max_alloc_bytes());
    let mut reader = reader;
    reader.limits(image_limits.clone());

    // Building the decoder reads the header only.
    let mut decoder = reader.into_decoder().map_err(from_image_error)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(path, width, height, limits)?;
    // `ImageReader::decode` does this reservation itself; `into_decoder` does not.
    let needed = decoder.total_bytes();
    image_limits.reserve(needed).map_err(|_| {
        DataError::limits(
            path,
            format!(
                "decoding image {width}x{height} px needs {needed} bytes, more than the limit of {} bytes",
                limits.max_alloc_bytes()
            ),
        )
    })?;

    // A broken EXIF block should not make an otherwise fine image unreadable.
    let orientation = decoder.orientation().unwrap_or_else(|e| {
        tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable EXIF orientation");
        Orientation::NoTransforms
    });
    let mut image = DynamicImage::from_decoder(decoder).map_err(from_image_error)?;
    image.apply_orientation(orientation);
    Ok((image.into_rgb8(), format))
}

fn check_dimensions(path: &Path, width: u32, height: u32, limits: &DecodeLimits) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(DataError::decoding(
            path,
            format!("image {width}x{height} px has no pixels"),
        ));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(DataError::limits(
            path,
            format!(
                "image {width}x{height} px = {pixels} pixels exceeds the limit of {}",
                limits.max_pixels
            ),
        ));
    }
    Ok(())
}

/// The name of an image format in messages.
fn format_name(format: Option<ImageFormat>) -> &'static str {
    match format {
        Some(ImageFormat::Jpeg) => "JPEG",
        Some(ImageFormat::Png) => "PNG",
        Some(ImageFormat::Gif) => "GIF",
        Some(ImageFormat::WebP) => "WebP",
        Some(ImageFormat::Bmp) => "BMP",
        Some(ImageFormat::Tiff) => "TIFF",
        _ => "image",
    }
}

/// Whether the decoder stopped because the data ran out, however it wraps that.
fn ran_out_of_data(error: &ImageError) -> bool {
    if let ImageError::IoError(e) = error {
        return e.kind() == std::io::ErrorKind::UnexpectedEof;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
        {
            return true;
        }
        cause = e.source();
    }
    false
}

fn from_image_error(
    input: &Input<'_>,
    format: Option<ImageFormat>,
    error: ImageError,
) -> DataError {
    let path = input.path;
    if ran_out_of_data(&error) {
        return input.truncated(format);
    }
    match error {
        ImageError::IoError(e) => DataError::io(path, e),
        ImageError::Limits(e) => DataError::limits(path, e.to_string()),
        ImageError::Unsupported(e) => DataError::Unsupported {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
        // Parameter errors from a decoder describe inconsistent file content.
        e @ (ImageError::Decoding(_) | ImageError::Parameter(_) | ImageError::Encoding(_)) => {
            DataError::decoding(path, e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Luma, LumaA, Rgb, Rgba};
    use std::path::PathBuf;

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    /// 16x8 image: left half red, right half blue, bottom-right quarter green.
    fn quadrant_image() -> RgbImage {
        RgbImage::from_fn(16, 8, |x, y| {
            if x < 8 {
                Rgb([220, 20, 20])
            } else if y < 4 {
                Rgb([20, 20, 220])
            } else {
                Rgb([20, 220, 20])
            }
        })
    }

    fn assert_close(a: Rgb<u8>, b: Rgb<u8>, tol: i32) {
        for c in 0..3 {
            assert!(
                (i32::from(a[c]) - i32::from(b[c])).abs() <= tol,
                "{a:?} vs {b:?}"
            );
        }
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        img.write_to(&mut buf, format).unwrap();
        buf.into_inner()
    }

    #[test]
    fn decodes_every_supported_format() {
        let dir = temp();
        let src = DynamicImage::ImageRgb8(quadrant_image());
        let cases = [
            (ImageFormat::Png, "png", 0),
            (ImageFormat::Bmp, "bmp", 0),
            (ImageFormat::Tiff, "tiff", 0),
            (ImageFormat::WebP, "webp", 0), // image's WebP encoder is lossless
            (ImageFormat::Jpeg, "jpg", 40),
            (ImageFormat::Gif, "gif", 8), // palette quantisation
        ];
        for (format, ext, tol) in cases {
            let p = write(dir.path(), &format!("q.{ext}"), &encode(&src, format));
            let img =
                load_rgb8(&p, &DecodeLimits::default()).unwrap_or_else(|e| panic!("{ext}: {e}"));
            assert_eq!(img.dimensions(), (16, 8), "{ext}");
            for (x, y) in [(2, 2), (12, 1), (12, 6)] {
                assert_close(
                    *img.get_pixel(x, y),
                    *src.as_rgb8().unwrap().get_pixel(x, y),
                    tol,
                );
            }
        }
    }

    #[test]
    fn format_comes_from_content_not_extension() {
        let dir = temp();
        let src = DynamicImage::ImageRgb8(quadrant_image());
        let p = write(
            dir.path(),
            "actually_png.jpg",
            &encode(&src, ImageFormat::Png),
        );
        let img = load_rgb8(&p, &DecodeLimits::default()).unwrap();
        assert_eq!(img, *src.as_rgb8().unwrap());
        let p = write(dir.path(), "no_extension", &encode(&src, ImageFormat::Bmp));
        assert_eq!(
            load_rgb8(&p, &DecodeLimits::default())
                .unwrap()
                .dimensions(),
            (16, 8)
        );
    }

    #[test]
    fn bytes_decode_like_files_and_errors_name_the_source() {
        let name = "http://127.0.0.1:9/q.png";
        let src = DynamicImage::ImageRgb8(quadrant_image());
        let png = encode(&src, ImageFormat::Png);
        let img = decode_rgb8(&png, name, &DecodeLimits::default()).unwrap();
        assert_eq!(img, *src.as_rgb8().unwrap());
        let jpeg = jpeg_with_orientation(src.as_rgb8().unwrap(), 6);
        let img = decode_rgb8(&jpeg, name, &DecodeLimits::default()).unwrap();
        assert_eq!(
            img.dimensions(),
            (8, 16),
            "EXIF orientation applies to bytes too"
        );

        let decode_err = |bytes: &[u8]| {
            let err = decode_rgb8(bytes, name, &DecodeLimits::default()).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            assert_eq!(err.path(), Some(Path::new(name)));
            err
        };
        let err = decode_err(b"");
        assert!(matches!(err, DataError::Unsupported { .. }), "{err:?}");
        let err = decode_err(b"<html>not an image</html>");
        assert!(matches!(err, DataError::Unsupported { .. }), "{err:?}");
        let err = decode_err(&png[..png.len() - 20]);
        assert!(
            matches!(err, DataError::Truncated { format: "PNG", .. }),
            "{err:?}"
        );
        let err = decode_err(&png_bomb_header(100_000, 100_000));
        assert!(matches!(err, DataError::Limits { .. }), "{err:?}");
    }

    #[test]
    fn first_gif_frame_is_used() {
        use image::codecs::gif::GifEncoder;
        use image::{Delay, Frame};
        let dir = temp();
        let p = dir.path().join("anim.gif");
        {
            let file = std::fs::File::create(&p).unwrap();
            let mut enc = GifEncoder::new(file);
            let red = image::RgbaImage::from_pixel(6, 4, Rgba([255, 0, 0, 255]));
            let blue = image::RgbaImage::from_pixel(6, 4, Rgba([0, 0, 255, 255]));
            for f in [red, blue] {
                enc.encode_frame(Frame::from_parts(
                    f,
                    0,
                    0,
                    Delay::from_numer_denom_ms(100, 1),
                ))
                .unwrap();
            }
        }
        let img = load_rgb8(&p, &DecodeLimits::default()).unwrap();
        assert_eq!(img.dimensions(), (6, 4));
        assert_eq!(*img.get_pixel(3, 2), Rgb([255, 0, 0]));
    }

    #[test]
    fn grey_alpha_and_deep_images_become_rgb8() {
        let dir = temp();
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(3, 2, Luma([77])));
        let grey_alpha =
            DynamicImage::ImageLumaA8(image::GrayAlphaImage::from_pixel(3, 2, LumaA([90, 10])));
        // Alpha 0 must not blacken or whiten the colour: it is dropped, as PIL's convert("RGB").
        let rgba =
            DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(3, 2, Rgba([10, 20, 30, 0])));
        let rgb16 = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(
            3,
            2,
            Rgb([65535u16, 0x8080, 0]),
        ));
        let grey16 =
            DynamicImage::ImageLuma16(image::ImageBuffer::from_pixel(3, 2, Luma([0x4040u16])));
        let rgba16 = DynamicImage::ImageRgba16(image::ImageBuffer::from_pixel(
            3,
            2,
            Rgba([0x0101u16, 0x0202, 0x0303, 0x1000]),
        ));
        let cases = [
            (grey, ImageFormat::Png, [77, 77, 77]),
            (grey_alpha, ImageFormat::Png, [90, 90, 90]),
            (rgba.clone(), ImageFormat::Png, [10, 20, 30]),
            (rgba, ImageFormat::Tiff, [10, 20, 30]),
            (rgb16, ImageFormat::Png, [255, 128, 0]),
            (grey16, ImageFormat::Png, [64, 64, 64]),
            (rgba16.clone(), ImageFormat::Png, [1, 2, 3]),
            (rgba16, ImageFormat::Tiff, [1, 2, 3]),
        ];
        for (i, (img, format, expected)) in cases.into_iter().enumerate() {
            let ext = format.extensions_str()[0];
            let p = write(dir.path(), &format!("c{i}.{ext}"), &encode(&img, format));
            let out = load_rgb8(&p, &DecodeLimits::default()).unwrap();
            assert_eq!(out.dimensions(), (3, 2));
            assert_eq!(
                *out.get_pixel(1, 1),
                Rgb(expected),
                "case {i} {:?}",
                img.color()
            );
        }
    }

    #[test]
    fn float_images_become_rgb8() {
        let dir = temp();
        let img = DynamicImage::ImageRgb32F(image::ImageBuffer::from_pixel(
            3,
            2,
            Rgb([1.0f32, 0.5, -0.25]),
        ));
        let p = write(dir.path(), "f.tiff", &encode(&img, ImageFormat::Tiff));
        let out = load_rgb8(&p, &DecodeLimits::default()).unwrap();
        assert_eq!(*out.get_pixel(0, 0), Rgb([255, 128, 0]));
    }

    /// A minimal big-endian EXIF block holding one IFD0 entry: Orientation = `value`.
    fn exif_app1(value: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\x00\x2a\x00\x00\x00\x08"); // header, IFD0 at offset 8
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // tag: Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // type: SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count
        tiff.extend_from_slice(&value.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]); // value padding
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let mut payload = b"Exif\x00\x00".to_vec();
        payload.extend_from_slice(&tiff);
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        segment.extend_from_slice(&payload);
        segment
    }

    fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
        let jpeg = encode(&DynamicImage::ImageRgb8(img.clone()), ImageFormat::Jpeg);
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&exif_app1(orientation));
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        let dir = temp();
        // 32x16: the top-left 16x16 block red, the rest green.
        let src = RgbImage::from_fn(32, 16, |x, _| {
            if x < 16 {
                Rgb([230, 20, 20])
            } else {
                Rgb([20, 230, 20])
            }
        });
        let red = Rgb([230, 20, 20]);
        let green = Rgb([20, 230, 20]);

        let p = write(dir.path(), "o1.jpg", &jpeg_with_orientation(&src, 1));
        let img = load_rgb8(&p, &DecodeLimits::default()).unwrap();
        assert_eq!(img.dimensions(), (32, 16));
        assert_close(*img.get_pixel(8, 8), red, 30);

        // Orientation 6: the stored image must be rotated 90 degrees clockwise to display,
        // so the red left half ends up on top.
        let p = write(dir.path(), "o6.jpg", &jpeg_with_orientation(&src, 6));
        let img = load_rgb8(&p, &DecodeLimits::default()).unwrap();
        assert_eq!(img.dimensions(), (16, 32));
        assert_close(*img.get_pixel(8, 8), red, 30);
        assert_close(*img.get_pixel(8, 24), green, 30);

        // Orientation 8: 90 degrees counter-clockwise, red ends up at the bottom.
        let p = write(dir.path(), "o8.jpg", &jpeg_with_orientation(&src, 8));
        let img = load_rgb8(&p, &DecodeLimits::default()).unwrap();
        assert_eq!(img.dimensions(), (16, 32));
        assert_close(*img.get_pixel(8, 24), red, 30);
        assert_close(*img.get_pixel(8, 8), green, 30);
    }

    fn expect_err(path: &Path) -> DataError {
        let err = load_rgb8(path, &DecodeLimits::default()).expect_err("must fail");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "message must name the file: {err}"
        );
        err
    }

    #[test]
    fn bad_files_are_errors_naming_the_path() {
        let dir = temp();
        let png = encode(&DynamicImage::ImageRgb8(quadrant_image()), ImageFormat::Png);

        let missing = dir.path().join("missing.png");
        assert!(matches!(expect_err(&missing), DataError::Io { .. }));

        let empty = write(dir.path(), "empty.jpg", b"");
        assert!(matches!(
            expect_err(&empty),
            DataError::Decoding { .. } | DataError::Unsupported { .. }
        ));

        let text = write(
            dir.path(),
            "notes.jpg",
            b"this is not a JPEG, just some text\n",
        );
        assert!(matches!(
            expect_err(&text),
            DataError::Decoding { .. } | DataError::Unsupported { .. }
        ));

        let unknown = write(dir.path(), "notes.txt", b"plain text");
        assert!(matches!(
            expect_err(&unknown),
            DataError::Unsupported { .. }
        ));

        let truncated = write(dir.path(), "cut.png", &png[..png.len() - 20]);
        assert!(matches!(
            expect_err(&truncated),
            DataError::Truncated { format: "PNG", .. }
        ));

        let mut corrupt = png.clone();
        let n = corrupt.len();
        corrupt[n / 2..n - 12].iter_mut().for_each(|b| *b ^= 0x5A);
        write(dir.path(), "corrupt.png", &corrupt);
        expect_err(&dir.path().join("corrupt.png"));

        let directory = dir.path().join("a_dir.png");
        std::fs::create_dir(&directory).unwrap();
        expect_err(&directory);
    }

    /// Every prefix of a valid file, in every format, must give Ok or Err, never a panic.
    #[test]
    fn truncation_at_every_length_never_panics() {
        let dir = temp();
        let src = DynamicImage::ImageRgb8(RgbImage::from_fn(9, 7, |x, y| {
            Rgb([(x * 28) as u8, (y * 36) as u8, 99])
        }));
        let p = dir.path().join("t.img");
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Gif,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
            ImageFormat::WebP,
        ] {
            let bytes = encode(&src, format);
            for len in 0..bytes.len() {
                std::fs::write(&p, &bytes[..len]).unwrap();
                if let Err(e) = load_rgb8(&p, &DecodeLimits::default()) {
                    assert!(e.to_string().contains("t.img"), "{e}");
                    assert!(
                        !e.to_string().contains("failed unexpectedly"),
                        "{format:?} at {len} bytes panicked: {e}"
                    );
                }
            }
        }
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
        out
    }

    /// A PNG whose header claims `width x height` RGB pixels but holds almost no data.
    fn png_bomb_header(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend(png_chunk(b"IHDR", &ihdr));
        out.extend(png_chunk(
            b"IDAT",
            &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        ));
        out.extend(png_chunk(b"IEND", &[]));
        out
    }

    #[test]
    fn header_over_the_pixel_limit_is_refused_before_decoding() {
        let dir = temp();
        let p = write(dir.path(), "bomb.png", &png_bomb_header(100_000, 100_000));
        let start = std::time::Instant::now();
        let err = expect_err(&p);
        assert!(matches!(err, DataError::Limits { .. }), "{err}");
        assert!(
            err.to_string().contains(
                "image 100000x100000 px = 10000000000 pixels exceeds the limit of 200000000"
            ),
            "{err}"
        );
        // Refused from the header: no 30 GB buffer was touched.
        assert!(start.elapsed().as_secs() < 5);

        // GIF's logical screen is 16-bit: 65535x65535 is still far over the limit.
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00]);
        gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]);
        gif.extend_from_slice(&[0x02, 0x02, 0x44, 0x01, 0x00, 0x3B]);
        let p = write(dir.path(), "bomb.gif", &gif);
        let err = expect_err(&p);
        assert!(matches!(err, DataError::Limits { .. }), "{err}");

        // A real, small image over a tiny limit.
        let png = encode(&DynamicImage::ImageRgb8(quadrant_image()), ImageFormat::Png);
        let p = write(dir.path(), "small.png", &png);
        let err = load_rgb8(
            &p,
            &DecodeLimits {
                max_pixels: 100,
                ..DecodeLimits::default()
            },
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("image 16x8 px = 128 pixels exceeds the limit of 100"),
            "{err}"
        );
        assert!(
            load_rgb8(
                &p,
                &DecodeLimits {
                    max_pixels: 128,
                    ..DecodeLimits::default()
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn zero_size_header_is_an_error() {
        let dir = temp();
        let p = write(dir.path(), "zero.png", &png_bomb_header(0, 10));
        expect_err(&p);
        // GIF allows a zero logical screen.
        let gif = b"GIF89a\x00\x00\x00\x00\x00\x00\x00\x3B";
        let p = write(dir.path(), "zero.gif", gif);
        expect_err(&p);
    }
}
