//! Dataset files that declare more than they hold (issue 16, item 1): every size an IDX
//! header declares is computed with checked arithmetic, compared with the file's length
//! and with [`datasets::MAX_DATA_BYTES`] before anything is allocated; CIFAR-10 and STL-10
//! files are sized from their metadata before they are read; a CSV's class index cannot
//! make billions of classes. Tiny hostile files, refused quickly and in little memory.

mod peak_memory;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use whycam_data::DataError;
use whycam_data::datasets::{self, Cifar10, CsvList, Dataset, Idx, PetTarget, Split, Stl10};

/// An IDX file of unsigned bytes declaring `dims`, holding `data`, gzipped when `gz`.
fn idx(dims: &[u32], data: &[u8], gz: bool) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(data);
    if !gz {
        return bytes;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes an IDX pair into `dir` as Fashion-MNIST's test split: `images`, and one label.
fn write_idx_pair(dir: &Path, images: &[u8]) {
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), images).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(&[1], &[3], false)).unwrap();
}

/// A sparse file of `size` bytes: it takes no disk, but its metadata says `size`.
fn sparse(path: &Path, size: u64) {
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
}

/// Opens the dataset `case` built in `dir` (the child side of the memory checks).
fn open_case(case: &str, dir: &Path) -> DataError {
    let result = match case {
        "idx" | "idx-gz" | "idx-gz-bomb" | "idx-overflow" | "idx-short" | "idx-gz-short" => {
            datasets::open(dir, Split::Test, PetTarget::Breed).map(|_| ())
        }
        "csv" => CsvList::open(&dir.join("list.csv")).map(|_| ()),
        "cifar" => Cifar10::open(dir, Split::Test).map(|_| ()),
        "stl" => Stl10::open(dir, Split::Test).map(|_| ()),
        other => panic!("unknown case {other}"),
    };
    result.expect_err("a hostile file must be refused")
}

/// Builds the files of `case` in `dir`; returns what its error must say.
fn build_case(case: &str, dir: &Path) -> String {
    let images = dir.join("t10k-images-idx3-ubyte");
    let name = images.display();
    match case {
        // 2^32 - 1 images of 2^32 - 1 x 1 pixels: 2^64 - 2^33 + 1 bytes, in 16 bytes.
        "idx" => {
            write_idx_pair(dir, &idx(&[u32::MAX, u32::MAX, 1], &[], false));
            format!(
                "dataset {name}: dimensions [4294967295, 4294967295, 1] declare \
                 18446744065119617025 bytes, more than the limit of 4294967296 bytes"
            )
        }
        "idx-gz" => {
            write_idx_pair(dir, &idx(&[1 << 22, 1 << 22, 1 << 22], &[], true));
            format!(
                "dataset {name}: dimensions [4194304, 4194304, 4194304] declare more than 2^64 \
                 bytes (the size overflows), more than the limit of 4294967296 bytes"
            )
        }
        // A gzip bomb: 256 MiB of zeros in some 250 KB, under a header declaring 8 GiB.
        "idx-gz-bomb" => {
            let file = std::fs::File::create(dir.join("t10k-images-idx3-ubyte.gz")).unwrap();
            let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::best());
            encoder
                .write_all(&idx(&[2, 65536, 65536], &[], false))
                .unwrap();
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..256 {
                encoder.write_all(&zeros).unwrap();
            }
            encoder.finish().unwrap();
            std::fs::write(
                dir.join("t10k-labels-idx1-ubyte"),
                idx(&[2], &[3, 4], false),
            )
            .unwrap();
            format!(
                "dataset {name}.gz: dimensions [2, 65536, 65536] declare 8589934592 bytes, more \
                 than the limit of 4294967296 bytes"
            )
        }
        "idx-overflow" => {
            write_idx_pair(dir, &idx(&[u32::MAX; 3], &[1, 2, 3], false));
            "declare more than 2^64 bytes (the size overflows)".to_string()
        }
        // Within the limit (3.75 GiB), but the file holds 5 bytes of it.
        "idx-short" => {
            write_idx_pair(dir, &idx(&[60, 16384, 4096], &[0; 5], false));
            format!(
                "dataset {name}: dimensions [60, 16384, 4096] need 4026531840 bytes of data, found 5"
            )
        }
        "idx-gz-short" => {
            write_idx_pair(dir, &idx(&[60, 16384, 4096], &[0; 5], true));
            format!(
                "dataset {name}: dimensions [60, 16384, 4096] need 4026531840 bytes of data, found 5"
            )
        }
        // One class index would make 10^15 class names.
        "csv" => {
            std::fs::write(dir.join("list.csv"), "a.png,0\nb.png,1000000000000000\n").unwrap();
            format!(
                "dataset {}: row 2: class index 1000000000000000 is beyond the limit of 100000 classes",
                dir.join("list.csv").display()
            )
        }
        // A 5 GiB batch file that takes no disk.
        "cifar" => {
            let batch = dir.join("test_batch.bin");
            sparse(&batch, 5 << 30);
            format!(
                "{}: the file is 5368709120 bytes, more than the limit of 4294967296 bytes",
                batch.display()
            )
        }
        // 100,000 images (2.6 GiB, sparse) with 3 labels: refused before either is read.
        "stl" => {
            sparse(&dir.join("test_X.bin"), 100_000 * 3 * 96 * 96);
            std::fs::write(dir.join("test_y.bin"), [1u8, 2, 3]).unwrap();
            format!(
                "dataset {}: 3 labels for 100000 images in {}",
                dir.join("test_y.bin").display(),
                dir.join("test_X.bin").display()
            )
        }
        other => panic!("unknown case {other}"),
    }
}

const CASES: [&str; 9] = [
    "idx",
    "idx-gz",
    "idx-gz-bomb",
    "idx-overflow",
    "idx-short",
    "idx-gz-short",
    "csv",
    "cifar",
    "stl",
];

/// Each hostile file is refused with its own message, in a child that must stay under
/// 64 MiB and 20 s: before, a header of a few bytes could ask for gigabytes.
#[test]
fn declared_sizes_are_refused_before_allocating() {
    if let Some((case, dir)) = peak_memory::child_case() {
        let err = open_case(&case, &dir.join(&case));
        return peak_memory::report(&err.to_string());
    }
    let root = tempfile::tempdir().unwrap();
    for case in CASES {
        let dir = root.path().join(case);
        std::fs::create_dir(&dir).unwrap();
        let expected = build_case(case, &dir);
        let run = peak_memory::run_child(
            "declared_sizes_are_refused_before_allocating",
            case,
            root.path(),
        );
        assert!(
            run.result.contains(&expected),
            "{case}: {}\nexpected: {expected}",
            run.result
        );
        peak_memory::assert_cheap(case, &run, 64 << 20, Duration::from_secs(20));
    }
}

/// The same files in this process, for the error types.
#[test]
fn declared_sizes_are_typed_errors() {
    let root = tempfile::tempdir().unwrap();
    for case in CASES {
        let dir = root.path().join(case);
        std::fs::create_dir(&dir).unwrap();
        build_case(case, &dir);
        let err = open_case(case, &dir);
        match case {
            "idx-gz-bomb" => assert!(
                matches!(
                    err,
                    DataError::DeclaredSize {
                        declared: Some(8589934592),
                        ..
                    }
                ),
                "{err:?}"
            ),
            "idx" => assert!(
                matches!(
                    err,
                    DataError::DeclaredSize {
                        declared: Some(18446744065119617025),
                        limit: 4294967296,
                        ..
                    }
                ),
                "{err:?}"
            ),
            "idx-gz" | "idx-overflow" => assert!(
                matches!(err, DataError::DeclaredSize { declared: None, .. }),
                "{err:?}"
            ),
            "cifar" => assert!(
                matches!(
                    err,
                    DataError::FileTooLarge {
                        size: Some(5368709120),
                        ..
                    }
                ),
                "{err:?}"
            ),
            _ => assert!(matches!(err, DataError::Dataset { .. }), "{err:?}"),
        }
        assert!(err.path().is_some_and(|p| p.starts_with(&dir)), "{err:?}");
    }
}

#[test]
fn images_larger_than_the_pixel_limit_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    // One image of 20000 x 20000 pixels (400 MB, within the data limit) would become a
    // 1.2 GB RGB image: refused from the header, whatever the file holds.
    write_idx_pair(dir.path(), &idx(&[1, 20000, 20000], &[0; 3], false));
    let err = Idx::open_dir(dir.path(), Split::Test).unwrap_err();
    assert!(matches!(err, DataError::Limits { .. }), "{err:?}");
    assert!(
        err.to_string().ends_with(
            "t10k-images-idx3-ubyte: images of 20000x20000 px = 400000000 pixels exceed the \
             limit of 200000000"
        ),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_named_pipe_as_a_dataset_file_is_refused_at_once() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.csv");
    let c_path = std::ffi::CString::new(list.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system entry.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    let (send, receive) = std::sync::mpsc::channel();
    let path = list.clone();
    std::thread::spawn(move || {
        let _ = send.send(
            datasets::open(&path, Split::Train, PetTarget::Breed)
                .err()
                .map(|e| e.to_string()),
        );
    });
    let message = receive
        .recv_timeout(Duration::from_secs(10))
        .expect("must not block")
        .expect("must fail");
    assert_eq!(
        message,
        format!(
            "cannot read {}: it is a named pipe (FIFO), not a regular file",
            list.display()
        )
    );
    let err = CsvList::open(&list).unwrap_err();
    assert!(matches!(err, DataError::NotRegularFile { .. }), "{err:?}");
}

#[test]
fn valid_files_still_open() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_pair(dir.path(), &idx(&[1, 2, 3], &[1, 2, 3, 4, 5, 6], true));
    let d = Idx::open_dir(dir.path(), Split::Test).unwrap();
    assert_eq!(d.image(0).unwrap().get_pixel(2, 1).0, [6, 6, 6]);
    let csv = dir.path().join("list.csv");
    std::fs::write(&csv, "a.png,99999\n").unwrap();
    assert_eq!(CsvList::open(&csv).unwrap().classes().len(), 100_000);
}
