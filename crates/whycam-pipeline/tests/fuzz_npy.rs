//! Mutation tests of `embed::read_features`, which reads the `.npy` features (and the
//! `samples.csv` beside them) that an earlier `whycam embed` run saved. The seeds are the
//! committed feature files and what whycam's own writer makes of them, in float32 and
//! float64, C and Fortran order. A mutated file must give `Ok` with `n × d` values and a
//! label for each of the `n` points, or a [`PipelineError`] naming the file; never a panic
//! or an allocation its header alone asks for.
//!
//! The brief runs are part of the suite; the long runs are `--ignored`:
//! `WHYCAM_FUZZ_CASES=20000 cargo test --release -p whycam-pipeline --test fuzz_npy --
//! --ignored --nocapture`.

use proptest::test_runner::TestCaseError;
use std::path::{Path, PathBuf};
use whycam_pipeline::PipelineError;
use whycam_pipeline::embed::{Points, read_features, write_features};
use whycam_testkit::mutate::{CappedAlloc, Corpus, Fuzz, Outcome, check, kind};

/// `read_features` allows 2^28 values (1 GiB of float32); nothing else here comes close.
#[global_allocator]
static ALLOC: CappedAlloc<{ 1100 << 20 }> = CappedAlloc;

/// A `.npy` of `n × d` values: `<f4` or `<f8`, C or Fortran order, as numpy writes it.
fn npy(values: &[f32], n: usize, d: usize, f64: bool, fortran: bool) -> Vec<u8> {
    let descr = if f64 { "<f8" } else { "<f4" };
    let order = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': ({n}, {d}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for k in 0..n * d {
        // Fortran order stores value (i, j) at j * n + i.
        let v = if fortran {
            values[(k % n) * d + k / n]
        } else {
            values[k]
        };
        if f64 {
            out.extend_from_slice(&f64::from(v).to_le_bytes());
        } else {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fn committed(name: &str) -> PathBuf {
    whycam_testkit::data_dir().join("embed").join(name)
}

/// The committed features, whycam's writer's copy of one, and the same values as float64
/// and in Fortran order; a `samples.csv` as the writer makes it.
fn corpus(dir: &Path) -> (Corpus, Vec<u8>) {
    let mut corpus = Corpus::new();
    for name in ["pca_tall.npy", "pca_wide.npy"] {
        corpus.add(name, std::fs::read(committed(name)).unwrap());
    }
    let wide = read_features(&committed("pca_wide.npy")).expect("a committed seed reads");
    let out = dir.join("written");
    std::fs::create_dir_all(&out).unwrap();
    write_features(&out, &wide).expect("whycam writes features");
    corpus.add(
        "written/features.npy",
        std::fs::read(out.join("features.npy")).unwrap(),
    );
    let (n, d) = (wide.len(), wide.dim);
    let head = &wide.features[..8 * d];
    corpus.add("f8.npy", npy(head, 8, d, true, false));
    corpus.add("fortran.npy", npy(head, 8, d, false, true));
    corpus.add(
        "f8-fortran.npy",
        npy(&wide.features[..3 * d], 3, d, true, true),
    );
    assert!(n >= 8);
    let samples = std::fs::read(out.join("samples.csv")).unwrap();
    (corpus, samples)
}

/// `n × d` values, a path and a label for each of the `n` points.
fn consistent(points: &Points) -> Result<(), TestCaseError> {
    let n = points.len();
    check(n > 0 && points.dim > 0, || "no points opened".into())?;
    check(points.features.len() == n * points.dim, || {
        format!("{} values for {n} x {}", points.features.len(), points.dim)
    })?;
    check(points.labels.len() == n, || {
        format!("{} labels for {n} points", points.labels.len())
    })?;
    check(
        points.labels.iter().all(|&l| l < points.classes.len()),
        || "a label past the classes".into(),
    )
}

fn outcome(result: Result<Points, PipelineError>, file: &str) -> Outcome {
    match result {
        Ok(points) => {
            consistent(&points)?;
            Ok("ok".into())
        }
        Err(e) => {
            check(e.to_string().contains(file), || {
                format!("error does not name {file}: {e}")
            })?;
            Ok(kind(&e))
        }
    }
}

/// `read_features` of a mutated `.npy` (no `samples.csv` beside it).
fn npy_reader(dir: &Path) -> impl Fn(&[u8]) -> Outcome {
    let dir = dir.join("npy");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("features.npy");
    move |bytes| {
        std::fs::write(&path, bytes).unwrap();
        outcome(read_features(&path), "features.npy")
    }
}

/// `read_features` of good features beside a mutated `samples.csv`.
fn samples_reader(dir: &Path) -> impl Fn(&[u8]) -> Outcome {
    let dir = dir.join("written");
    let (path, csv) = (dir.join("features.npy"), dir.join("samples.csv"));
    move |bytes| {
        std::fs::write(&csv, bytes).unwrap();
        outcome(read_features(&path), "")
    }
}

fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[test]
fn seeds_are_read() {
    let (_keep, dir) = tempdir();
    let (corpus, samples) = corpus(&dir);
    let read = npy_reader(&dir);
    for (name, bytes) in corpus.files() {
        assert_eq!(read(bytes).unwrap(), "ok", "{name}");
    }
    // The four re-encodings of the same rows read as the same values.
    let values = |name: &str| {
        let bytes = &corpus.files().iter().find(|(n, _)| n == name).unwrap().1;
        std::fs::write(dir.join("npy/features.npy"), bytes).unwrap();
        read_features(&dir.join("npy/features.npy"))
            .unwrap()
            .features
    };
    assert_eq!(values("f8.npy"), values("fortran.npy"));
    let written = read_features(&dir.join("written/features.npy")).unwrap();
    assert_eq!(written.paths.len(), written.len());
    assert_eq!(samples_reader(&dir)(&samples).unwrap(), "ok");
}

#[test]
fn npy_brief() {
    let (_keep, dir) = tempdir();
    let (corpus, _) = corpus(&dir);
    Fuzz::brief("npy", 2000).run(&corpus, npy_reader(&dir));
}

#[test]
fn samples_csv_brief() {
    let (_keep, dir) = tempdir();
    let (_, samples) = corpus(&dir);
    let mut seeds = Corpus::new();
    seeds.add("samples.csv", samples);
    Fuzz::brief("samples_csv", 500).run(&seeds, samples_reader(&dir));
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn npy_long() {
    let (_keep, dir) = tempdir();
    let (corpus, _) = corpus(&dir);
    Fuzz::long("npy").run(&corpus, npy_reader(&dir));
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn samples_csv_long() {
    let (_keep, dir) = tempdir();
    let (_, samples) = corpus(&dir);
    let mut seeds = Corpus::new();
    seeds.add("samples.csv", samples);
    Fuzz::long("samples_csv").run(&seeds, samples_reader(&dir));
}

/// Finding (npy long run, seed b0df2a2b8a298857): a 1.6 kB file whose version-3 preamble
/// declares a header of 1,884,429,430 bytes made npyz allocate that much before reading it
/// (refused by the test's allocator cap; up to 4 GiB for `u32::MAX`).
#[test]
fn regression_header_length_is_bounded_by_the_file() {
    let (_keep, dir) = tempdir();
    let path = dir.join("features.npy");
    for bytes in [
        &b"\x93NUMPY\x03\x00\x76\x1c\x52\x70{'descr': '<f4', }"[..],
        &b"\x93NUMPY\x02\x00\xff\xff\xff\xff{'descr': '<f4', }"[..],
    ] {
        std::fs::write(&path, bytes).unwrap();
        let Err(error) = read_features(&path) else {
            panic!("a damaged header read");
        };
        let error = error.to_string();
        assert!(
            error.contains("features.npy") && error.contains("its header declares"),
            "{error}"
        );
    }
}
