//! Mutation tests of whycam-data's readers: the image decoder front end
//! ([`decode_image`]), IDX and CIFAR-10 datasets, CSV lists and label files. Real files
//! (the committed photos, each re-encoded in every supported format, Fashion-MNIST's own
//! files, ImageNet's class list) are mutated and read; a reader must return `Ok` or a
//! [`DataError`], never panic or allocate past its limits, and what it returns must be
//! consistent (an image within the pixel budget, a label for every sample).
//!
//! The brief runs are part of the suite; the long runs are `--ignored`:
//! `WHYCAM_FUZZ_CASES=20000 cargo test --release -p whycam-data --test fuzz_readers --
//! --ignored --nocapture`.

use image::{DynamicImage, ImageFormat};
use proptest::test_runner::TestCaseError;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use whycam_data::datasets::{Cifar10, CsvList, Dataset, Idx};
use whycam_data::{DataError, DecodeLimits, Split, decode_image, load_labels};
use whycam_testkit::mutate::{CappedAlloc, Corpus, Fuzz, Outcome, check, kind};

/// No reader here needs more than this in one allocation within the limits below: a mutated
/// size field that gets past a check aborts the test with the size.
#[global_allocator]
static ALLOC: CappedAlloc<{ 256 << 20 }> = CappedAlloc;

/// Small limits, so that "within its limits" is tight.
const LIMITS: DecodeLimits = DecodeLimits {
    max_pixels: 1 << 20,
    max_file_size: 4 << 20,
    allow_truncated: false,
};

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(whycam_testkit::data_dir().join("photos224").join(name)).expect("photo")
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A JPEG with an EXIF block saying "rotate 90°" (orientation 6) after its start marker.
fn with_exif_orientation(jpeg: &[u8]) -> Vec<u8> {
    let tiff: &[u8] = &[
        b'M', b'M', 0, 42, 0, 0, 0, 8, // header, first IFD at 8
        0, 1, // one entry
        0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, // Orientation, SHORT, 1, value 6
        0, 0, 0, 0, // no next IFD
    ];
    let mut segment = b"Exif\0\0".to_vec();
    segment.extend_from_slice(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((segment.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Real photos: two as committed (PNG), one re-encoded small in every supported format.
fn image_corpus() -> Corpus {
    let mut corpus = Corpus::new();
    corpus.add("chelsea.png", photo("chelsea.png"));
    corpus.add("rocket.png", photo("rocket.png"));
    let small = image::load_from_memory(&photo("grace_hopper.png"))
        .expect("photo decodes")
        .thumbnail_exact(40, 32);
    let rgba = DynamicImage::ImageRgba8(small.to_rgba8());
    let grey = DynamicImage::ImageLuma16(small.to_luma16());
    for (name, image, format) in [
        ("small.png", &small, ImageFormat::Png),
        ("small-grey16.png", &grey, ImageFormat::Png),
        ("small.jpg", &small, ImageFormat::Jpeg),
        ("small.webp", &rgba, ImageFormat::WebP),
        ("small.bmp", &small, ImageFormat::Bmp),
        ("small.gif", &rgba, ImageFormat::Gif),
        ("small.tiff", &small, ImageFormat::Tiff),
    ] {
        corpus.add(name, encode(image, format));
    }
    let jpeg = encode(&small, ImageFormat::Jpeg);
    corpus.add("small-exif-rotated.jpg", with_exif_orientation(&jpeg));
    corpus
}

/// CRC-32 (IEEE), as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Recomputes the CRC of every whole chunk of a PNG, so that a mutated chunk reaches the
/// decoder instead of failing its checksum.
fn fix_png_crcs(data: &mut [u8]) {
    if !data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return;
    }
    let mut at = 8;
    while at + 12 <= data.len() {
        let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&e| e + 4 <= data.len()) else {
            break;
        };
        let crc = crc32(&data[at + 4..end]);
        data[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

/// The error kind, with panics the decoder's guard caught counted apart (bugs of a
/// decoder, turned into errors by design, but worth knowing about).
fn data_kind(error: &DataError) -> String {
    if error.to_string().contains("failed unexpectedly") {
        return "caught panic".into();
    }
    kind(error)
}

/// Errors must name their input.
fn names(error: &DataError, input: &str) -> Result<(), TestCaseError> {
    check(error.to_string().contains(input), || {
        format!("error does not name {input}: {error}")
    })
}

/// `decode_image` within [`LIMITS`], truncated JPEGs refused and allowed.
fn decodes_within_limits(bytes: &[u8]) -> Outcome {
    let mut outcome = String::new();
    for allow_truncated in [false, true] {
        let limits = DecodeLimits {
            allow_truncated,
            ..LIMITS
        };
        outcome = match decode_image(bytes, "fuzzed.img", &limits) {
            Ok(decoded) => {
                let (w, h) = decoded.image.dimensions();
                check(w > 0 && h > 0, || format!("decoded a {w}x{h} image"))?;
                check(u64::from(w) * u64::from(h) <= limits.max_pixels, || {
                    format!(
                        "decoded {w}x{h} px, over the limit of {}",
                        limits.max_pixels
                    )
                })?;
                check(
                    decoded.image.as_raw().len() == w as usize * h as usize * 3,
                    || "the pixel buffer does not match the size".to_string(),
                )?;
                check(allow_truncated || decoded.warnings.is_empty(), || {
                    format!("warnings without allow_truncated: {:?}", decoded.warnings)
                })?;
                "ok".into()
            }
            Err(e) => {
                names(&e, "fuzzed.img")?;
                data_kind(&e)
            }
        };
    }
    Ok(outcome)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The first `count` samples of Fashion-MNIST's test split, raw: `(images, labels)`.
fn fashion_mnist_head(count: u32) -> (Vec<u8>, Vec<u8>) {
    let dir = whycam_testkit::fashion_mnist();
    let images = gunzip(&std::fs::read(dir.join("t10k-images-idx3-ubyte.gz")).unwrap());
    let labels = gunzip(&std::fs::read(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap());
    let mut head_images = images[..16].to_vec();
    head_images[4..8].copy_from_slice(&count.to_be_bytes());
    head_images.extend_from_slice(&images[16..16 + 784 * count as usize]);
    let mut head_labels = labels[..8].to_vec();
    head_labels[4..8].copy_from_slice(&count.to_be_bytes());
    head_labels.extend_from_slice(&labels[8..8 + count as usize]);
    (head_images, head_labels)
}

/// Fashion-MNIST's first samples and their labels, raw and gzipped.
fn idx_corpus() -> (Corpus, Vec<u8>, Vec<u8>) {
    let (images, labels) = fashion_mnist_head(4);
    let mut corpus = Corpus::new();
    corpus.add("images-idx3", images.clone());
    corpus.add("images-idx3.gz", gzip(&images));
    corpus.add("labels-idx1", labels.clone());
    corpus.add("labels-idx1.gz", gzip(&labels));
    (corpus, images, labels)
}

/// A dataset's answers agree with each other for every sample.
fn consistent(d: &dyn Dataset, side: Option<(u32, u32)>) -> Result<(), TestCaseError> {
    check(!d.is_empty(), || "an empty dataset opened".into())?;
    check(!d.classes().is_empty(), || "no classes".into())?;
    for i in 0..d.len().min(2000) {
        let label = d.label(i);
        check(label < d.classes().len(), || {
            format!(
                "sample {i} has label {label} of {} classes",
                d.classes().len()
            )
        })?;
        let image = d.image(i).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(side) = side {
            check(image.dimensions() == side, || {
                format!("sample {i} is {:?}, not {side:?}", image.dimensions())
            })?;
        }
        let _ = d.describe(i);
    }
    Ok(())
}

/// `Idx::open` with the mutated file as the images, then as the labels, beside a good one.
fn idx_reader(dir: &Path, images: &[u8], labels: &[u8]) -> impl Fn(&[u8]) -> Outcome {
    let good_images = dir.join("good-images-idx3-ubyte");
    let good_labels = dir.join("good-labels-idx1-ubyte");
    std::fs::write(&good_images, images).unwrap();
    std::fs::write(&good_labels, labels).unwrap();
    let fuzzed = dir.join("fuzzed-idx-ubyte");
    move |bytes| {
        std::fs::write(&fuzzed, bytes).unwrap();
        let mut outcome = Vec::new();
        for (images, labels) in [(&fuzzed, &good_labels), (&good_images, &fuzzed)] {
            outcome.push(match Idx::open(images, labels, true) {
                Ok(d) => {
                    // Rows and columns as the images file declares them.
                    let declared = std::fs::read(images).ok().and_then(|raw| {
                        let raw = if raw.starts_with(&[0x1f, 0x8b]) {
                            let mut out = Vec::new();
                            flate2::read::GzDecoder::new(&raw[..])
                                .take(16)
                                .read_to_end(&mut out)
                                .ok()?;
                            out
                        } else {
                            raw
                        };
                        let dim =
                            |at: usize| u32::from_be_bytes(raw[at..at + 4].try_into().unwrap());
                        Some((dim(12), dim(8)))
                    });
                    consistent(&d, declared)?;
                    "ok".to_string()
                }
                Err(e) => {
                    names(&e, "fuzzed-idx-ubyte")?;
                    kind(&e)
                }
            });
        }
        Ok(outcome.join(" / "))
    }
}

/// CIFAR-10 test batches: three records of real photos, and a class list.
fn cifar_corpus() -> Corpus {
    let mut batch = Vec::new();
    for (label, name) in [(3u8, "chelsea.png"), (8, "rocket.png"), (0, "coffee.png")] {
        let small = image::load_from_memory(&photo(name))
            .unwrap()
            .thumbnail_exact(32, 32)
            .to_rgb8();
        batch.push(label);
        for c in 0..3 {
            batch.extend(small.pixels().map(|p| p[c]));
        }
    }
    let mut corpus = Corpus::new();
    corpus.add("test_batch.bin", batch);
    corpus
}

/// `Cifar10::open` of a directory whose `test_batch.bin` is the mutated file.
fn cifar_reader(dir: &Path) -> impl Fn(&[u8]) -> Outcome {
    let dir = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    move |bytes| {
        std::fs::write(dir.join("test_batch.bin"), bytes).unwrap();
        match Cifar10::open(&dir, Split::Test) {
            Ok(d) => {
                consistent(&d, Some((32, 32)))?;
                Ok("ok".into())
            }
            Err(e) => {
                names(&e, "test_batch.bin")?;
                Ok(kind(&e))
            }
        }
    }
}

/// `path,label` lists: by name, by index, quoted, with a header.
fn csv_corpus() -> Corpus {
    let mut corpus = Corpus::new();
    corpus.add(
        "names.csv",
        b"path,label\nimg/a.png,cat\nimg/b.png, dog\n\"img/c,d.png\",\"tabby cat\"\n".to_vec(),
    );
    corpus.add(
        "indices.csv",
        b"img/a.png,2\nimg/b.png,0\n\"img/c,d.png\",1\n".to_vec(),
    );
    corpus.add(
        "truth.csv",
        "path,label\r\n../photos224/chelsea.png,tabby\r\nrocket.png,\"missile, rocket\"\r\n\
         ünï.png,🐱\r\n"
            .as_bytes()
            .to_vec(),
    );
    corpus
}

/// `CsvList::open` (and `datasets::open`, which must agree) of the mutated list.
fn csv_reader(dir: &Path) -> impl Fn(&[u8]) -> Outcome {
    let list = dir.join("list.csv");
    move |bytes| {
        std::fs::write(&list, bytes).unwrap();
        let opened = CsvList::open(&list);
        let again = whycam_data::datasets::open(&list, Split::Train, Default::default());
        check(opened.is_ok() == again.is_ok(), || {
            "CsvList::open and datasets::open disagree".into()
        })?;
        match opened {
            Ok(d) => {
                check(!d.is_empty() && !d.classes().is_empty(), || {
                    "empty list opened".into()
                })?;
                for i in 0..d.len() {
                    check(d.label(i) < d.classes().len(), || {
                        format!("row {i} has label {} of {}", d.label(i), d.classes().len())
                    })?;
                }
                Ok("ok".into())
            }
            Err(e) => {
                names(&e, "list.csv")?;
                Ok(kind(&e))
            }
        }
    }
}

/// ImageNet's class list as whycam ships it, a JSON array, a short list.
fn labels_corpus() -> Corpus {
    let mut corpus = Corpus::new();
    let classes: Vec<&str> = whycam_data::imagenet_labels().to_vec();
    corpus.add(
        "imagenet_classes.txt",
        (classes.join("\n") + "\n").into_bytes(),
    );
    corpus.add(
        "labels.json",
        serde_json::to_vec(&classes[..20]).expect("json"),
    );
    corpus.add(
        "short.txt",
        "\u{feff}cat\r\ndog\r\n  tabby, tabby cat \r\n\r\n"
            .as_bytes()
            .to_vec(),
    );
    corpus
}

/// `load_labels` of the mutated file.
fn labels_reader(dir: &Path) -> impl Fn(&[u8]) -> Outcome {
    let file = dir.join("labels.txt");
    move |bytes| {
        std::fs::write(&file, bytes).unwrap();
        match load_labels(&file) {
            Ok(labels) => {
                check(!labels.is_empty(), || "no labels".into())?;
                Ok("ok".into())
            }
            Err(e) => {
                names(&e, "labels.txt")?;
                Ok(kind(&e))
            }
        }
    }
}

fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[test]
fn seeds_are_read() {
    for (name, bytes) in image_corpus().files() {
        let decoded = decode_image(bytes, name, &LIMITS).unwrap_or_else(|e| panic!("{e}"));
        assert!(decoded.warnings.is_empty(), "{name}");
        if name.contains("exif") {
            // Orientation 6 turns the 40x32 picture on its side.
            assert_eq!(decoded.image.dimensions(), (32, 40));
        }
    }
    let mut png = photo("coffee.png");
    png[20] ^= 1; // IHDR's width, CRC now wrong
    fix_png_crcs(&mut png);
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (_keep, dir) = tempdir();
    let (corpus, images, labels) = idx_corpus();
    let read = idx_reader(&dir, &images, &labels);
    for (name, bytes) in corpus.files() {
        let outcome = read(bytes).unwrap();
        let expected = if name.contains("images") {
            "ok / "
        } else {
            " / ok"
        };
        assert!(outcome.contains(expected), "{name}: {outcome}");
    }
    for (corpus, read) in [
        (
            cifar_corpus(),
            Box::new(cifar_reader(&dir)) as Box<dyn Fn(&[u8]) -> Outcome>,
        ),
        (csv_corpus(), Box::new(csv_reader(&dir))),
        (labels_corpus(), Box::new(labels_reader(&dir))),
    ] {
        for (name, bytes) in corpus.files() {
            assert_eq!(read(bytes).unwrap(), "ok", "{name}");
        }
    }
}

#[test]
fn decode_image_brief() {
    Fuzz::brief("decode_image", 2000).run_structured(
        &image_corpus(),
        0,
        &|seed, _| seed.to_vec(),
        &fix_png_crcs,
        decodes_within_limits,
    );
}

#[test]
fn idx_brief() {
    let (_keep, dir) = tempdir();
    let (corpus, images, labels) = idx_corpus();
    Fuzz::brief("idx", 2000).run(&corpus, idx_reader(&dir, &images, &labels));
}

#[test]
fn cifar10_brief() {
    let (_keep, dir) = tempdir();
    Fuzz::brief("cifar10", 1000).run(&cifar_corpus(), cifar_reader(&dir));
}

#[test]
fn csv_list_brief() {
    let (_keep, dir) = tempdir();
    Fuzz::brief("csv_list", 2000).run(&csv_corpus(), csv_reader(&dir));
}

#[test]
fn labels_brief() {
    let (_keep, dir) = tempdir();
    Fuzz::brief("labels", 1000).run(&labels_corpus(), labels_reader(&dir));
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn decode_image_long() {
    Fuzz::long("decode_image").run_structured(
        &image_corpus(),
        0,
        &|seed, _| seed.to_vec(),
        &fix_png_crcs,
        decodes_within_limits,
    );
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn idx_long() {
    let (_keep, dir) = tempdir();
    let (corpus, images, labels) = idx_corpus();
    Fuzz::long("idx").run(&corpus, idx_reader(&dir, &images, &labels));
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn cifar10_long() {
    let (_keep, dir) = tempdir();
    Fuzz::long("cifar10").run(&cifar_corpus(), cifar_reader(&dir));
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn csv_list_long() {
    let (_keep, dir) = tempdir();
    Fuzz::long("csv_list").run(&csv_corpus(), csv_reader(&dir));
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn labels_long() {
    let (_keep, dir) = tempdir();
    Fuzz::long("labels").run(&labels_corpus(), labels_reader(&dir));
}
