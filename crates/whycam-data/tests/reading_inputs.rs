//! Reading image inputs a user did not make (issue 16, "Reading inputs"): only regular
//! files are read, within a size limit checked before reading, and a JPEG that ends before
//! its end-of-image marker is reported as truncated, as PIL does, unless allowed.
//!
//! Every case writes real files and goes through the public API a front end uses.

mod peak_memory;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use whycam_data::{
    DataError, DecodeLimits, FetchLimits, Source, collect_inputs, collect_sources, decode_image,
    decode_rgb8, load_image, load_rgb8,
};

/// A 256x192 photo-like picture: gradients and deterministic noise, so a JPEG of it is
/// mostly entropy-coded data.
fn photo() -> RgbImage {
    let mut state = 0x2545_f491_u32;
    RgbImage::from_fn(256, 192, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 48) as u8;
        Rgb([
            (x as u8).wrapping_add(noise),
            (y as u8).wrapping_add(noise / 2),
            ((x + y) as u8 / 2).wrapping_add(noise),
        ])
    })
}

fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut bytes, format)
        .unwrap();
    bytes.into_inner()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `load_rgb8(path)` in a thread, failing the test instead of hanging with it.
fn load_within(path: &Path, time: Duration) -> whycam_data::Result<RgbImage> {
    let (send, receive) = mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = send.send(load_rgb8(&path, &DecodeLimits::default()));
    });
    receive
        .recv_timeout(time)
        .expect("reading the input must not block")
}

#[cfg(unix)]
fn make_fifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system entry.
    let status = unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) };
    assert_eq!(status, 0, "mkfifo {}", path.display());
}

#[cfg(unix)]
#[test]
fn a_named_pipe_given_as_an_image_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("photo.jpg");
    make_fifo(&fifo);
    let err = load_within(&fifo, Duration::from_secs(10)).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::NotRegularFile {
                kind: "named pipe (FIFO)",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: it is a named pipe (FIFO), not a regular file",
            fifo.display()
        )
    );
    // Given on a command line, it is kept as an input and refused when loaded.
    let (sources, errors) = collect_sources(&[fifo.as_os_str()]);
    assert!(errors.is_empty());
    let err = sources[0]
        .load(&DecodeLimits::default(), &FetchLimits::default())
        .unwrap_err();
    assert!(matches!(err, DataError::NotRegularFile { .. }), "{err:?}");
}

#[cfg(unix)]
#[test]
fn devices_linked_as_images_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("x.jpg");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let err = load_within(&zero, Duration::from_secs(10)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: it is a character device, not a regular file",
            zero.display()
        )
    );
    assert_eq!(err.path(), Some(zero.as_path()));

    let folder = dir.path().join("album.png");
    std::fs::create_dir(&folder).unwrap();
    let err = load_within(&folder, Duration::from_secs(10)).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::NotRegularFile {
                kind: "directory",
                ..
            }
        ),
        "{err:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_folder_walk_takes_regular_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.png", &encode(&photo(), ImageFormat::Png));
    make_fifo(&dir.path().join("pipe.jpg"));
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.jpg")).unwrap();
    let (files, errors) = collect_inputs(&[dir.path().to_path_buf()]);
    assert_eq!(files, [good]);
    assert!(errors.is_empty(), "{errors:?}");
}

/// The child side of the memory checks: runs one case, reports its error and peak memory.
#[cfg(target_os = "linux")]
fn run_reading_case(case: &str, dir: &Path) {
    let limits = DecodeLimits::default();
    let err = match case {
        "dev-zero" => load_rgb8(&dir.join("zero.jpg"), &limits).unwrap_err(),
        "sparse-8-gib" => load_rgb8(&dir.join("huge.jpg"), &limits).unwrap_err(),
        other => panic!("unknown case {other}"),
    };
    peak_memory::report(&err.to_string());
}

/// `/dev/zero` linked as a JPEG, and an 8 GiB (sparse) file starting like a JPEG, cost
/// neither time nor memory: both are refused from their metadata.
#[cfg(target_os = "linux")]
#[test]
fn endless_and_huge_files_are_refused_in_little_memory() {
    if let Some((case, dir)) = peak_memory::child_case() {
        return run_reading_case(&case, &dir);
    }
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.jpg")).unwrap();
    let huge = write(dir.path(), "huge.jpg", &encode(&photo(), ImageFormat::Jpeg));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&huge)
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    let test = "endless_and_huge_files_are_refused_in_little_memory";
    for (case, message) in [
        (
            "dev-zero",
            "it is a character device, not a regular file".to_string(),
        ),
        (
            "sparse-8-gib",
            format!(
                "{}: the file is 8589934592 bytes, more than the limit of 268435456 bytes",
                huge.display()
            ),
        ),
    ] {
        let run = peak_memory::run_child(test, case, dir.path());
        assert!(run.result.contains(&message), "{case}: {}", run.result);
        peak_memory::assert_cheap(case, &run, 64 << 20, Duration::from_secs(20));
    }
}

#[test]
fn files_over_the_size_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let png = encode(&photo(), ImageFormat::Png);
    let path = write(dir.path(), "big.png", &png);
    let size = png.len() as u64;
    let limits = |max_file_size| DecodeLimits {
        max_file_size,
        ..DecodeLimits::default()
    };
    let err = load_rgb8(&path, &limits(size - 1)).unwrap_err();
    assert!(
        matches!(err, DataError::FileTooLarge { size: Some(s), limit, .. } if s == size && limit == size - 1),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the file is {size} bytes, more than the limit of {} bytes",
            path.display(),
            size - 1
        )
    );
    assert_eq!(
        load_rgb8(&path, &limits(size)).unwrap().dimensions(),
        (256, 192)
    );

    // Downloaded bytes are held to the same limit.
    let url = "http://127.0.0.1:9/big.png";
    let err = decode_rgb8(&png, url, &limits(size - 1)).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("{url}: the file is")),
        "{err}"
    );
    assert!(decode_rgb8(&png, url, &limits(size)).is_ok());
    assert_eq!(
        DecodeLimits::default().max_file_size,
        DecodeLimits::DEFAULT_MAX_FILE_SIZE
    );
    assert_eq!(DecodeLimits::DEFAULT_MAX_FILE_SIZE, 256 * 1024 * 1024);
}

#[test]
fn a_jpeg_cut_in_half_is_truncated_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = encode(&photo(), ImageFormat::Jpeg);
    let whole = write(dir.path(), "whole.jpg", &jpeg);
    let half = write(dir.path(), "half.jpg", &jpeg[..jpeg.len() / 2]);
    let strict = DecodeLimits::default();
    let lenient = DecodeLimits {
        allow_truncated: true,
        ..DecodeLimits::default()
    };

    let decoded = load_image(&whole, &strict).unwrap();
    assert!(decoded.warnings.is_empty());
    assert_eq!(decoded.image.dimensions(), (256, 192));

    let err = load_rgb8(&half, &strict).unwrap_err();
    let size = jpeg.len() / 2;
    assert!(
        matches!(err, DataError::Truncated { format: "JPEG", size: s, .. } if s == size as u64),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "cannot decode {}: image file is truncated (JPEG data ends after {size} bytes, \
             before the end of the image)",
            half.display()
        )
    );

    // Allowed, the decoder's guess for the missing half comes back with a warning.
    let decoded = load_image(&half, &lenient).unwrap();
    assert_eq!(decoded.image.dimensions(), (256, 192));
    assert_eq!(decoded.warnings.len(), 1);
    assert_eq!(decoded.warnings[0].to_string(), err.to_string());
    assert_eq!(
        load_rgb8(&half, &lenient).unwrap(),
        decoded.image,
        "load_rgb8 returns the same pixels"
    );

    // Only the two bytes of the end-of-image marker missing: still truncated.
    let no_eoi = write(dir.path(), "no_eoi.jpg", &jpeg[..jpeg.len() - 2]);
    let err = load_rgb8(&no_eoi, &strict).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err:?}");

    // The same for downloaded bytes, named by their URL.
    let url = "http://127.0.0.1:9/half.jpg";
    let err = decode_rgb8(&jpeg[..size], url, &strict).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot decode {url}: image file is truncated")),
        "{err}"
    );
    let decoded = decode_image(&jpeg[..size], url, &lenient).unwrap();
    assert_eq!(decoded.warnings.len(), 1);
    // And for a source, as the pipeline loads it.
    let err = Source::File(half.clone())
        .load(&strict, &FetchLimits::default())
        .unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err:?}");
}

#[test]
fn bytes_after_the_end_of_a_jpeg_do_not_make_it_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = encode(&photo(), ImageFormat::Jpeg);
    // Zero padding, white space, and a whole second file (a motion photo's video, say).
    for (name, trailer) in [
        ("zeros.jpg", vec![0u8; 4096]),
        ("spaces.jpg", b" \r\n\t ".to_vec()),
        ("appended.jpg", jpeg[..jpeg.len() / 3].to_vec()),
    ] {
        let mut bytes = jpeg.clone();
        bytes.extend(&trailer);
        let path = write(dir.path(), name, &bytes);
        let decoded =
            load_image(&path, &DecodeLimits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(decoded.warnings.is_empty(), "{name}");
    }
}

#[test]
fn truncated_pngs_are_reported_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let png = encode(&photo(), ImageFormat::Png);
    for (name, len) in [("half.png", png.len() / 2), ("no_end.png", png.len() - 12)] {
        let path = write(dir.path(), name, &png[..len]);
        for allow_truncated in [false, true] {
            let limits = DecodeLimits {
                allow_truncated,
                ..DecodeLimits::default()
            };
            // The PNG decoder cannot finish without the data: an error even when allowed.
            let err = load_rgb8(&path, &limits).unwrap_err();
            assert!(
                matches!(err, DataError::Truncated { format: "PNG", .. }),
                "{name}: {err:?}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "cannot decode {}: image file is truncated (PNG data ends after {len} bytes, \
                     before the end of the image)",
                    path.display()
                )
            );
        }
    }
}
