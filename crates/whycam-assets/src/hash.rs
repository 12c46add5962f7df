//! sha256 of files, and the `<file>.sha256` sidecars that record them.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{AssetError, Result};

/// Read size for hashing and extraction.
pub(crate) const CHUNK: usize = 1 << 16;

/// Lowercase hex sha256 of the file at `path`.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(AssetError::io("cannot open", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(AssetError::io("cannot read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(to_hex(hasher))
}

/// Finishes `hasher` as lowercase hex.
pub(crate) fn to_hex(hasher: Sha256) -> String {
    format!("{:x}", hasher.finalize())
}

/// Fails with [`AssetError::HashMismatch`] unless `path` hashes to `expected`.
pub(crate) fn verify_file(path: &Path, expected: &str) -> Result<()> {
    let actual = sha256_file(path)?;
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(AssetError::HashMismatch {
            path: path.to_path_buf(),
            expected: expected.to_owned(),
            actual,
        })
    }
}

/// `<file>.sha256`, next to `file`.
pub(crate) fn sidecar_path(file: &Path) -> PathBuf {
    let mut name = OsString::from(file.as_os_str());
    name.push(".sha256");
    PathBuf::from(name)
}

/// Atomically writes `file`'s sidecar in `sha256sum` format, so `sha256sum -c` can read it.
pub(crate) fn write_sidecar(file: &Path, sha256: &str) -> Result<()> {
    let sidecar = sidecar_path(file);
    let dir = file.parent().unwrap_or(Path::new("."));
    let base = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(".sidecar-")
        .tempfile_in(dir)
        .map_err(AssetError::io("cannot create a temporary file in", dir))?;
    writeln!(tmp, "{sha256}  {base}").map_err(AssetError::io("cannot write", tmp.path()))?;
    tmp.persist(&sidecar)
        .map_err(|e| AssetError::io("cannot write", &sidecar)(e.error))?;
    Ok(())
}

/// The sha256 recorded in `file`'s sidecar, or `None` if there is no well-formed one.
pub(crate) fn read_sidecar(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(sidecar_path(file)).ok()?;
    let hash = text.split_whitespace().next()?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hash.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_a_known_string() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.txt");
        std::fs::write(&path, b"abc").unwrap();
        // FIPS 180-2 test vector for "abc".
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file(&path).unwrap(), abc);
        verify_file(&path, abc).unwrap();
        let err = verify_file(&path, &"0".repeat(64)).unwrap_err().to_string();
        assert!(err.contains(abc) && err.contains(&"0".repeat(64)), "{err}");
    }

    #[test]
    fn sidecar_round_trips_in_sha256sum_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.pth");
        let hash = "ab".repeat(32);
        write_sidecar(&path, &hash).unwrap();
        let text = std::fs::read_to_string(dir.path().join("w.pth.sha256")).unwrap();
        assert_eq!(text, format!("{hash}  w.pth\n"));
        assert_eq!(read_sidecar(&path), Some(hash));
        std::fs::write(sidecar_path(&path), "garbage").unwrap();
        assert_eq!(read_sidecar(&path), None);
    }
}
