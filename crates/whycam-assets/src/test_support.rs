//! Fake wheels and assets for offline tests.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::catalog::WheelAsset;
use crate::hash::sha256_file;

/// Writes a zip at `path` holding `members` (deflated, like real wheels); returns its sha256.
pub(crate) fn write_wheel(path: &Path, members: &[(&str, &[u8])]) -> String {
    let mut zip = ZipWriter::new(File::create(path).unwrap());
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    sha256_file(path).unwrap()
}

/// A test asset; strings are leaked because [`WheelAsset`] holds `&'static str`.
pub(crate) fn asset(
    name: &str,
    requirement: &str,
    wheel_sha256: &str,
    member: &str,
    file_name: &str,
) -> WheelAsset {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    WheelAsset {
        name: leak(name),
        requirement: leak(requirement),
        wheel_sha256: leak(wheel_sha256),
        member: leak(member),
        file_name: leak(file_name),
        pip_args: &["--only-binary=:all:", "--platform", "manylinux_2_17_x86_64"],
        license: "CC0-1.0",
    }
}

/// Serialises tests that write an executable and then spawn processes: a fork from
/// another test thread while the script is still open for writing would make its
/// `exec` fail with "text file busy".
pub(crate) fn process_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
